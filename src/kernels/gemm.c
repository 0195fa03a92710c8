#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <strings.h>
#include <oneapi/dnnl/dnnl.h>
#include "gemm.h"
#include "sigguard.h"

/* Which library runs the single-precision GEMMs (the engine).
 *
 * OpenBLAS, as the library's design asks, wherever it runs kernels made for
 * the CPU. Debian 12's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels once,
 * at load, from the CPU *model*, and on models newer than it knows (e.g. the
 * Xeons of family 6 model 207) falls back to its generic SSE3 "Prescott"
 * kernels: 20-33 GFLOP/s on one core where the CPU's AVX-512 kernels reach
 * 130-170 (docs/performance.md, "OpenBLAS on CPUs it does not know"). A
 * library cannot change that choice from inside the process (OpenBLAS reads
 * OPENBLAS_CORETYPE only when it loads), so when OpenBLAS reports such a
 * generic core while the CPU has AVX2 + FMA or AVX-512, the GEMMs run on
 * oneDNN's dnnl_sgemm instead (libdnnl, already the convolution engine),
 * which picks its JIT kernels from the CPU's instruction sets. The choice is
 * made once per process and is the same for every call, so results are
 * deterministic per machine (and per OPENBLAS_CORETYPE, which a user can set
 * to give OpenBLAS its proper kernels back). dnnl_sgemm runs on one OpenMP
 * thread (the calling thread's nthreads-var ICV is set to 1 for the call and
 * restored): the library parallelises itself (par.c), and a GEMM on one
 * thread has a result that does not depend on the library's thread count.
 * sgemv and dgemm stay on OpenBLAS. */
static int (*omp_get)(void);
static void (*omp_set)(int);
static int engine_auto = MLCL__GEMM_OPENBLAS, engine_forced; /* 0: auto */
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static int generic_openblas_core(const char *name)
{
    static const char *const generic[] = { "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                                           "Katmai", "Coppermine", "Northwood", "Banias", "Barcelona",
                                           "Opteron", "Opteron_SSE3", NULL };
    for (int i = 0; name && generic[i]; i++)
        if (!strcasecmp(name, generic[i])) return 1;
    return 0;
}

static int cpu_has_avx2(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static void engine_find(void)
{
    /* libgomp is libdnnl's dependency (not ours): found among the loaded objects */
    int (*g)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    void (*s)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (g && s) { omp_get = g; omp_set = s; }
    if (omp_get && cpu_has_avx2() && generic_openblas_core(openblas_get_corename()))
        engine_auto = MLCL__GEMM_ONEDNN;
}

int mlcl__gemm_engine(void)
{
    pthread_once(&engine_once, engine_find);
    if (engine_forced == MLCL__GEMM_ONEDNN && !omp_get) return MLCL__GEMM_OPENBLAS;
    return engine_forced ? engine_forced : engine_auto;
}

void mlcl__gemm_engine_force(int engine) { engine_forced = engine; }

void mlcl__sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* op(A) op(B) is empty: C = beta C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    if (mlcl__gemm_engine() == MLCL__GEMM_ONEDNN) {
        int prev = omp_get();
        if (prev != 1) omp_set(1);
        mlcl__sig_guard sg; /* dnnl_sgemm's kernels move rsp onto the heap: no signal frame there (sigguard.c) */
        mlcl__sig_hold(&sg);
        dnnl_status_t s = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        mlcl__sig_release(&sg);
        if (prev != 1) omp_set(prev);
        if (s == dnnl_success) return;
        /* dnnl_sgemm refuses only arguments no GEMM accepts (the callers' are
         * valid): OpenBLAS then does the product, so a result is always there */
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
