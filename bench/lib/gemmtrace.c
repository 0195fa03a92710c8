/*
 * bench/lib/gemmtrace.c -> build/bench/gemmtrace.so: an LD_PRELOAD shim (not a
 * program, hence not under the bench .c wildcard) that logs every BLAS call libmlcl makes,
 * for bench/roofline (docs/perf/roofline.md).
 *
 *   GEMMTRACE=trace.txt LD_PRELOAD=build/bench/gemmtrace.so build/bench/step --only yeast ...
 *
 * It interposes the three CBLAS entry points the library calls (nm -D
 * lib/libmlcl.so.1 | grep cblas: cblas_sgemm, cblas_sgemv, cblas_dgemm) and
 * oneDNN's dnnl_sgemm (the library's GEMM engine when OpenBLAS runs a generic
 * core, src/kernels/gemm.c; logged as a row-major sgemm line, so the replay
 * treats both alike),
 * forwards each call to the real one (dlsym(RTLD_NEXT)) and, when GEMMTRACE
 * names a file, appends one line per call:
 *
 *   sgemm order ta tb M N K lda ldb ldc alpha beta tid start_ns dur_ns
 *   sgemv order ta M N lda incx incy alpha beta tid start_ns dur_ns
 *   dgemm order ta tb M N K lda ldb ldc alpha beta tid start_ns dur_ns
 *
 * order is 101 (row-major) or 102, ta/tb 0/1 (1 = transposed, 2 = conjugate
 * transposed counts as 1); tid is a small per-thread number (0 = first thread
 * that called), start_ns/dur_ns the call's CLOCK_MONOTONIC start and duration
 * inside the traced program (for reference: the replay times the shapes on its
 * own). Without GEMMTRACE it only forwards.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

static FILE *out;
static int enabled = -1;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int next_tid;
static _Thread_local int my_tid = -1;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e9 * ts.tv_sec + ts.tv_nsec;
}

/* under mu: opens the trace on the first call (line-buffered appends) */
static int trace_on(void)
{
    if (enabled < 0) {
        const char *f = getenv("GEMMTRACE");
        out = f && *f ? fopen(f, "a") : NULL;
        if (f && *f && !out) fprintf(stderr, "gemmtrace: cannot open %s\n", f);
        enabled = out != NULL;
    }
    if (enabled && my_tid < 0) my_tid = next_tid++;
    return enabled;
}

/* a process without BLAS (a shell the preload leaked into) is left alone:
 * only a call whose real function is missing fails */
static void *real(const char *name) { return dlsym(RTLD_NEXT, name); }

static void missing(const char *name)
{
    fprintf(stderr, "gemmtrace: %s not found after the shim\n", name);
    abort(); /* a benchmarking tool inside a benchmark process, never in the library */
}

static int tr(int t) { return t == CblasNoTrans ? 0 : 1; }

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint, blasint,
                         blasint, float, const float *, blasint, const float *, blasint, float, float *, blasint);
typedef void (*dgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint, blasint,
                         blasint, double, const double *, blasint, const double *, blasint, double, double *,
                         blasint);
typedef void (*sgemv_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, blasint, blasint, float, const float *, blasint,
                         const float *, blasint, float, float *, blasint);

typedef dnnl_status_t (*dnnl_sgemm_fn)(char, char, dnnl_dim_t, dnnl_dim_t, dnnl_dim_t, float, const float *,
                                       dnnl_dim_t, const float *, dnnl_dim_t, float, float *, dnnl_dim_t);
static dnnl_sgemm_fn real_dnnl_sgemm;
static sgemm_fn real_sgemm;
static dgemm_fn real_dgemm;
static sgemv_fn real_sgemv;

/* resolved once, before main and before any thread exists */
__attribute__((constructor)) static void resolve(void)
{
    real_sgemm = (sgemm_fn)real("cblas_sgemm");
    real_dgemm = (dgemm_fn)real("cblas_dgemm");
    real_sgemv = (sgemv_fn)real("cblas_sgemv");
    real_dnnl_sgemm = (dnnl_sgemm_fn)real("dnnl_sgemm");
}

dnnl_status_t dnnl_sgemm(char ta, char tb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K, float alpha, const float *A,
                         dnnl_dim_t lda, const float *B, dnnl_dim_t ldb, float beta, float *C, dnnl_dim_t ldc)
{
    dnnl_sgemm_fn f = real_dnnl_sgemm;
    if (!f) missing("dnnl_sgemm");
    double t0 = now_ns();
    dnnl_status_t st = f(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    double t1 = now_ns();
    pthread_mutex_lock(&mu);
    if (st == dnnl_success && trace_on())
        fprintf(out, "sgemm 101 %d %d %d %d %d %d %d %d %.9g %.9g %d %.0f %.0f\n", ta == 'T' || ta == 't',
                tb == 'T' || tb == 't', (int)M, (int)N, (int)K, (int)lda, (int)ldb, (int)ldc, alpha, beta, my_tid,
                t0, t1 - t0);
    pthread_mutex_unlock(&mu);
    return st;
}

void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER o, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint M, OPENBLAS_CONST blasint N,
                 OPENBLAS_CONST blasint K, OPENBLAS_CONST float alpha, OPENBLAS_CONST float *A,
                 OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *B, OPENBLAS_CONST blasint ldb,
                 OPENBLAS_CONST float beta, float *C, OPENBLAS_CONST blasint ldc)
{
    sgemm_fn f = real_sgemm;
    if (!f) missing("cblas_sgemm");
    double t0 = now_ns();
    f(o, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    double t1 = now_ns();
    pthread_mutex_lock(&mu);
    if (trace_on())
        fprintf(out, "sgemm %d %d %d %d %d %d %d %d %d %.9g %.9g %d %.0f %.0f\n", (int)o, tr(ta), tr(tb), (int)M,
                (int)N, (int)K, (int)lda, (int)ldb, (int)ldc, alpha, beta, my_tid, t0, t1 - t0);
    pthread_mutex_unlock(&mu);
}

void cblas_dgemm(OPENBLAS_CONST enum CBLAS_ORDER o, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint M, OPENBLAS_CONST blasint N,
                 OPENBLAS_CONST blasint K, OPENBLAS_CONST double alpha, OPENBLAS_CONST double *A,
                 OPENBLAS_CONST blasint lda, OPENBLAS_CONST double *B, OPENBLAS_CONST blasint ldb,
                 OPENBLAS_CONST double beta, double *C, OPENBLAS_CONST blasint ldc)
{
    dgemm_fn f = real_dgemm;
    if (!f) missing("cblas_dgemm");
    double t0 = now_ns();
    f(o, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    double t1 = now_ns();
    pthread_mutex_lock(&mu);
    if (trace_on())
        fprintf(out, "dgemm %d %d %d %d %d %d %d %d %d %.17g %.17g %d %.0f %.0f\n", (int)o, tr(ta), tr(tb), (int)M,
                (int)N, (int)K, (int)lda, (int)ldb, (int)ldc, alpha, beta, my_tid, t0, t1 - t0);
    pthread_mutex_unlock(&mu);
}

void cblas_sgemv(OPENBLAS_CONST enum CBLAS_ORDER o, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                 OPENBLAS_CONST blasint M, OPENBLAS_CONST blasint N, OPENBLAS_CONST float alpha,
                 OPENBLAS_CONST float *A, OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *x,
                 OPENBLAS_CONST blasint incx, OPENBLAS_CONST float beta, float *y, OPENBLAS_CONST blasint incy)
{
    sgemv_fn f = real_sgemv;
    if (!f) missing("cblas_sgemv");
    double t0 = now_ns();
    f(o, ta, M, N, alpha, A, lda, x, incx, beta, y, incy);
    double t1 = now_ns();
    pthread_mutex_lock(&mu);
    if (trace_on())
        fprintf(out, "sgemv %d %d %d %d %d %d %d %.9g %.9g %d %.0f %.0f\n", (int)o, tr(ta), (int)M, (int)N, (int)lda,
                (int)incx, (int)incy, alpha, beta, my_tid, t0, t1 - t0);
    pthread_mutex_unlock(&mu);
}
