/* The only gateway to the GEMM libraries: row-major GEMM/GEMV wrappers (internal), and
 * mlcl_set_num_threads (core.h), the one place OpenBLAS's process-wide thread
 * count is set (to 1: the library parallelises itself). The result of a GEMM
 * does not depend on that count (OpenBLAS splits M/N, never K; checked bit
 * for bit at the step's shapes), so the library's results do not either. */
#ifndef MLCL_KERNELS_GEMM_H
#define MLCL_KERNELS_GEMM_H
#include "core/internal.h"

/* The engine of mlcl__sgemm (gemm.c): OpenBLAS, or oneDNN's dnnl_sgemm when
 * OpenBLAS runs a generic core (a CPU model it does not know) on a CPU with
 * AVX2 + FMA or AVX-512. Chosen once per process. */
enum { MLCL__GEMM_OPENBLAS = 1, MLCL__GEMM_ONEDNN = 2 };
MLCL_INTERNAL int mlcl__gemm_engine(void);
/* Tests: run every later mlcl__sgemm on this engine (0: the automatic choice
 * again). Not for concurrent use. */
MLCL_INTERNAL void mlcl__gemm_engine_force(int engine);

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
