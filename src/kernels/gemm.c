#include <cblas.h>
#include "gemm.h"

void mlcl__sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* op(A) op(B) is empty: C = beta C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void mlcl__sgemv(int ta, int M, int N, float alpha, const float *A, int lda, const float *x,
                 float beta, float *y)
{
    if (M <= 0 || N <= 0) return;
    cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1, beta, y, 1);
}

void mlcl__dgemm(int ta, int tb, int M, int N, int K, double alpha, const double *A, int lda,
                 const double *B, int ldb, double beta, double *C, int ldc)
{
    if (M <= 0 || N <= 0 || K <= 0) return;
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* The library-wide default count. OpenBLAS's count is process-wide (no
 * per-thread setting in OpenBLAS 0.3): this, the caller's explicit act, is
 * the only place the library changes it, to 1: the library parallelises
 * itself (par.c) and its GEMMs run single-threaded inside its own threads;
 * OpenBLAS's spinning workers on top of them cost 20-30 % per MoCo step
 * (docs/abi.md "Thread counts"). */
static int set_threads(int n, int forced, const char *fn)
{
    MLCL_TRY(mlcl__threads_check(fn, n, forced, &n));
    mlcl__threads_set_default(n);
    openblas_set_num_threads(1);
    return MLCL_OK;
}

int mlcl_set_num_threads(int n) { return set_threads(n, 0, "mlcl_set_num_threads"); }

int mlcl_set_num_threads_forced(int n) { return set_threads(n, 1, "mlcl_set_num_threads_forced"); }

int mlcl_get_num_threads(int *n)
{
    MLCL_CHECK_NULL("mlcl_get_num_threads", n);
    *n = mlcl__threads_default();
    return MLCL_OK;
}
