#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <oneapi/dnnl/dnnl.h>
#include "gemm.h"

/* Single-precision GEMMs run on oneDNN's dnnl_sgemm (libdnnl, already the
 * convolution engine), on one OpenMP thread: the library parallelises
 * itself (par.c). oneDNN picks its JIT kernel from the CPU's instruction sets
 * (AVX-512, else AVX2, ...), so a CPU model it does not know by name still
 * gets the widest kernel. OpenBLAS 0.3.21 (Debian 12) picks its kernels by
 * CPU model and falls back to the SSE3 "Prescott" kernels on models newer
 * than it knows (e.g. family 6 model 207, the Xeons of the project's
 * machine): the Yeast step's 24 GEMMs took 14.9 ms there against 3.0 ms
 * with dnnl_sgemm (one thread, docs/performance.md). Results are
 * deterministic for a machine: one thread, so no split of K, and the kernel
 * is a function of the CPU's instruction sets (ONEDNN_MAX_CPU_ISA can lower
 * it). OpenBLAS remains the fallback when libgomp's thread-count functions
 * cannot be found, and serves sgemv and dgemm. */
static int (*omp_get)(void);
static void (*omp_set)(int);
static pthread_once_t omp_once = PTHREAD_ONCE_INIT;
static void omp_find(void)
{
    /* libgomp is libdnnl's dependency (not ours): found among the loaded objects */
    int (*g)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    void (*s)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (g && s) { omp_get = g; omp_set = s; }
}

void mlcl__sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* op(A) op(B) is empty: C = beta C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    pthread_once(&omp_once, omp_find);
    if (omp_get) {
        /* one OpenMP thread for this call: the nthreads-var ICV is the calling
         * thread's own (see dnn_ops.c), restored before returning */
        int prev = omp_get();
        if (prev != 1) omp_set(1);
        dnnl_status_t s = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        if (prev != 1) omp_set(prev);
        if (s == dnnl_success) return;
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
