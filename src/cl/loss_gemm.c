/*
 * The loss's GEMMs (loss_rows.c): oneDNN's dnnl_sgemm, on the calling thread.
 *
 * Why not mlcl__sgemm (OpenBLAS): OpenBLAS 0.3.21 (Debian 12) picks its
 * kernels from the CPU model and falls back to its SSE3 "Prescott" kernels on
 * models it does not know (this machine, an Emerald Rapids Xeon, model 207:
 * 12-30 GFLOP/s on the loss's shapes), while oneDNN's JIT GEMM picks its
 * kernels from the CPUID feature bits (AVX-512 / AVX2 / SSE4.1): 60-115
 * GFLOP/s on one core here. The loss's GEMMs are 60-75 % of its time.
 *
 * Determinism: one call of dnnl_sgemm runs on one thread (the OpenMP
 * nthreads-var ICV of the calling thread is set to 1 for the call and restored,
 * as kernels/dnn_ops.c does), so its result depends only on its arguments and
 * on the kernel oneDNN chooses for this CPU's instruction set: results are
 * bit-identical per machine (per ISA) and thread count, not across ISAs.
 * DNNL_MAX_CPU_ISA (oneDNN's environment variable) caps that choice.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <dnnl.h>
#include "kernels/gemm.h"
#include "cl/loss_impl.h"

static int (*omp_get)(void);
static void (*omp_set)(int);
static pthread_once_t omp_once = PTHREAD_ONCE_INIT;

static void omp_find(void)
{
    omp_get = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    omp_set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (!omp_get || !omp_set) omp_get = NULL, omp_set = NULL;
}

void mlcl__loss_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                      int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta C, as mlcl__sgemm does */
        mlcl__sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    pthread_once(&omp_once, omp_find);
    int prev = omp_get ? omp_get() : 1;
    if (prev != 1) omp_set(1);
    dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (prev != 1) omp_set(prev);
    /* dnnl_sgemm fails only on arguments that are invalid for any GEMM (the
     * callers' are not): then OpenBLAS does the product, so a result is always there */
    if (st != dnnl_success) mlcl__sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
