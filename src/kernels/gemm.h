/* The only gateway to OpenBLAS: row-major GEMM/GEMV wrappers. Internal. */
#ifndef MLCL_KERNELS_GEMM_H
#define MLCL_KERNELS_GEMM_H
#include "core/internal.h"

/* C[M x N] = alpha * op(A) * op(B) + beta * C, row-major.
 * ta/tb: 0 = as stored, 1 = transposed. lda/ldb/ldc are row strides. */
MLCL_INTERNAL void mlcl__sgemm(int ta, int tb, int M, int N, int K, float alpha,
                               const float *A, int lda, const float *B, int ldb,
                               float beta, float *C, int ldc);
/* y[M] = alpha * op(A) x + beta * y, A row-major M x N (as stored). */
MLCL_INTERNAL void mlcl__sgemv(int ta, int M, int N, float alpha, const float *A, int lda,
                               const float *x, float beta, float *y);
/* Double-precision GEMM, for reference paths and tests. */
MLCL_INTERNAL void mlcl__dgemm(int ta, int tb, int M, int N, int K, double alpha,
                               const double *A, int lda, const double *B, int ldb,
                               double beta, double *C, int ldc);
/* OpenBLAS's thread count is process-wide. The MoCo step runs two independent
 * branches on two threads of its own; while they run, every GEMM must stay in
 * its calling thread. mlcl__blas_single_begin() sets OpenBLAS to one thread and
 * returns the previous count for mlcl__blas_single_end(). Call both from the
 * thread that owns the step, with no GEMM of this process running meanwhile
 * outside the step's threads. The result of a GEMM does not depend on the
 * count (OpenBLAS splits M/N, never K). */
MLCL_INTERNAL int mlcl__blas_single_begin(void);
/* Threads the loss and the MoCo step use for their own fork-join work:
 * MLCL_NUM_THREADS from the environment (default 2; set 1 when other busy
 * processes share the CPUs: a fork-join loses badly then, docs/performance.md),
 * at most the online CPUs.
 * Read once per handle at create time; results are deterministic for a given
 * value (docs/performance.md explains the default). */
MLCL_INTERNAL int mlcl__threads_wanted(void);
MLCL_INTERNAL void mlcl__blas_single_end(int prev);
#endif
