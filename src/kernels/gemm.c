#include <cblas.h>
#include <stdlib.h>
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

int mlcl__blas_single_begin(void)
{
    int prev = openblas_get_num_threads();
    if (prev > 1) openblas_set_num_threads(1);
    return prev;
}

void mlcl__blas_single_end(int prev)
{
    if (prev > 1) openblas_set_num_threads(prev);
}

int mlcl__threads_wanted(void)
{
    const char *env = getenv("MLCL_NUM_THREADS");
    /* the CPUs this process may run on (affinity mask, as mlcl_set_num_threads) */
    long cpus = mlcl__cpus_available();
    /* default: both cores (the fork-join is two-way); MLCL_NUM_THREADS=1 on a
     * machine shared with other busy processes (docs/performance.md) */
    long want = env && *env ? strtol(env, NULL, 10) : 2;
    if (want < 1) want = 1;
    return (int)(want < cpus ? want : cpus);
}
