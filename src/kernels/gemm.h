/* The gateway to the GEMM libraries: row-major GEMM/GEMV wrappers
 * (internal), and mlcl_set_num_threads (core.h), the one place OpenBLAS's
 * process-wide thread count is set (to 1: the library parallelises itself).
 * Single-precision GEMMs run on oneDNN's dnnl_sgemm on one OpenMP thread
 * (gemm.c: OpenBLAS 0.3.21 falls back to SSE3 kernels on CPU models it does
 * not know); sgemv and dgemm on OpenBLAS. A GEMM runs on one thread, so its
 * result does not depend on the library's thread count. */
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
#endif
