/*
 * bench/roofline: replays a BLAS trace written by build/bench/gemmtrace.so
 * (bench/lib/gemmtrace.c) in isolation: the same GEMMs (shapes, transposes,
 * leading dimensions, alpha, beta, order of calls), back to back, on buffers
 * allocated once per distinct call and kept warm, timed as whole passes over
 * the trace. The time per step is the practical limit of that workload's
 * GEMMs on this machine (docs/perf/roofline.md).
 *
 *   roofline --trace FILE [--steps S] [--label NAME] [--json FILE] [--min-time SECONDS] [--min-reps N] [--no-dnnl]
 *
 * S = how many steps (or loss calls) the trace holds; times are per step.
 * Engines, each timed the same way (one warm pass, then passes until
 * --min-time (default 0.25 s) and at least --min-reps (default 5), median):
 *   openblas_1t / openblas_2t: cblas_sgemm/sgemv with openblas_set_num_threads(1 / 2);
 *   dnnl_sgemm_1t / _2t:       oneDNN's dnnl_sgemm (row-major), OpenMP at 1 / 2 threads;
 *   matmul_1t / _2t:           oneDNN's matmul primitive (brgemm on AVX-512 where it applies),
 *                              one primitive per distinct call created before the timing,
 *                              alpha as output scale, beta as a sum post-op.
 * Reported: openblas_floor_ms = min(openblas_1t, openblas_2t) (the library's BLAS as
 * loaded) and best_ms = the fastest engine, the GEMM floor of bench/compare.py.
 * Each oneDNN result is checked once against OpenBLAS's (max error relative to
 * max |C|; reported as max_rel_err) so a layout mistake cannot pass as a timing.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

typedef struct {
    int kind; /* 0 sgemm, 1 sgemv */
    int order, ta, tb, M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C;
    size_t na, nb, nc;
    dnnl_primitive_t prim[2];
    dnnl_memory_t mem[2][3];
} op;

static op *ops;
static int nops, capops;
static int *seq; /* trace order: indices into ops */
static int nseq, capseq, ndgemm;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, "roofline: out of memory\n"); exit(1); }
    return p;
}

/* elements spanned by a rows x cols row-major matrix with row stride ld */
static size_t span(int rows, int cols, int ld) { return rows <= 0 || cols <= 0 ? 0 : (size_t)(rows - 1) * ld + cols; }

static void fill(float *x, size_t n, unsigned *s)
{
    for (size_t i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        x[i] = ((int)(*s >> 9) - (1 << 22)) * (1.0f / (1 << 22)) * 0.05f;
    }
}

/* a col-major call is the row-major one with A and B swapped: C^T = op(B)^T op(A)^T */
static void rowmajor(const op *o, int *ta, int *tb, int *M, int *N, const float **A, int *lda, const float **B,
                     int *ldb)
{
    if (o->order == CblasRowMajor) {
        *ta = o->ta; *tb = o->tb; *M = o->M; *N = o->N; *A = o->A; *lda = o->lda; *B = o->B; *ldb = o->ldb;
    } else {
        *ta = o->tb; *tb = o->ta; *M = o->N; *N = o->M; *A = o->B; *lda = o->ldb; *B = o->A; *ldb = o->lda;
    }
}

static int find_or_add(const op *o)
{
    for (int i = 0; i < nops; i++) {
        const op *p = &ops[i];
        if (p->kind == o->kind && p->order == o->order && p->ta == o->ta && p->tb == o->tb && p->M == o->M &&
            p->N == o->N && p->K == o->K && p->lda == o->lda && p->ldb == o->ldb && p->ldc == o->ldc &&
            p->alpha == o->alpha && p->beta == o->beta)
            return i;
    }
    if (nops == capops) {
        capops = capops ? 2 * capops : 64;
        ops = realloc(ops, sizeof(op) * capops);
        if (!ops) { fprintf(stderr, "roofline: out of memory\n"); exit(1); }
    }
    ops[nops] = *o;
    return nops++;
}

static void load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); exit(1); }
    char line[512], kind[16];
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        op o;
        memset(&o, 0, sizeof o);
        if (sscanf(line, "%15s", kind) != 1) continue;
        if (!strcmp(kind, "dgemm")) { ndgemm++; continue; }
        if (!strcmp(kind, "sgemm")) {
            if (sscanf(line, "%*s %d %d %d %d %d %d %d %d %d %f %f", &o.order, &o.ta, &o.tb, &o.M, &o.N, &o.K, &o.lda,
                       &o.ldb, &o.ldc, &o.alpha, &o.beta) != 11)
                goto bad;
        } else if (!strcmp(kind, "sgemv")) {
            /* y = alpha op(A) x + beta y as a GEMM with one column: x is op-K x 1 with row
             * stride incx, y op-M x 1 with stride incy (A is M x N as stored, row-major) */
            int M, N, lda, incx, incy;
            if (sscanf(line, "%*s %d %d %d %d %d %d %d %f %f", &o.order, &o.ta, &M, &N, &lda, &incx, &incy, &o.alpha,
                       &o.beta) != 9 || incx < 1 || incy < 1)
                goto bad;
            if (o.order != CblasRowMajor) { /* col-major M x N = row-major N x M transposed */
                int t = M; M = N; N = t; o.ta = !o.ta; o.order = CblasRowMajor;
            }
            o.kind = 1;
            o.M = o.ta ? N : M; o.K = o.ta ? M : N; o.N = 1;
            o.lda = lda; o.ldb = incx; o.ldc = incy; o.tb = 0;
        } else {
            goto bad;
        }
        if (o.M <= 0 || o.N <= 0 || o.K <= 0) continue;
        if (nseq == capseq) {
            capseq = capseq ? 2 * capseq : 256;
            seq = realloc(seq, sizeof(int) * capseq);
            if (!seq) { fprintf(stderr, "roofline: out of memory\n"); exit(1); }
        }
        seq[nseq++] = find_or_add(&o);
        continue;
    bad:
        fprintf(stderr, "roofline: %s:%d: cannot parse: %s", path, ln, line);
        exit(1);
    }
    fclose(f);
}

static void alloc_buffers(void)
{
    unsigned s = 12345;
    for (int i = 0; i < nops; i++) {
        op *o = &ops[i];
        int ta, tb, M, N, lda, ldb;
        const float *A, *B;
        rowmajor(o, &ta, &tb, &M, &N, &A, &lda, &B, &ldb);
        int K = o->K;
        /* sizes in the row-major view: op(A) M x K, op(B) K x N, C M x N */
        size_t na = ta ? span(K, M, lda) : span(M, K, lda), nb = tb ? span(N, K, ldb) : span(K, N, ldb);
        size_t nc = span(M, N, o->ldc);
        if (o->kind == 1) { /* sgemv: B is a strided vector, C too */
            nb = span(K, 1, ldb);
            nc = span(M, 1, o->ldc);
        }
        float *a = xmalloc(sizeof(float) * na), *b = xmalloc(sizeof(float) * nb), *c = xmalloc(sizeof(float) * nc);
        fill(a, na, &s); fill(b, nb, &s); fill(c, nc, &s);
        if (o->order == CblasRowMajor) { o->A = a; o->B = b; o->na = na; o->nb = nb; }
        else { o->A = b; o->B = a; o->na = nb; o->nb = na; }
        o->C = c; o->nc = nc;
    }
}

static void run_openblas(const op *o)
{
    if (o->kind == 1)
        cblas_sgemv(CblasRowMajor, o->ta ? CblasTrans : CblasNoTrans, o->ta ? o->K : o->M, o->ta ? o->M : o->K,
                    o->alpha, o->A, o->lda, o->B, o->ldb, o->beta, o->C, o->ldc);
    else
        cblas_sgemm(o->order, o->ta ? CblasTrans : CblasNoTrans, o->tb ? CblasTrans : CblasNoTrans, o->M, o->N, o->K,
                    o->alpha, o->A, o->lda, o->B, o->ldb, o->beta, o->C, o->ldc);
}

static void run_dnnl_sgemm(const op *o)
{
    int ta, tb, M, N, lda, ldb;
    const float *A, *B;
    rowmajor(o, &ta, &tb, &M, &N, &A, &lda, &B, &ldb);
    if (dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, o->K, o->alpha, A, lda, B, ldb, o->beta, o->C, o->ldc) !=
        dnnl_success) {
        fprintf(stderr, "roofline: dnnl_sgemm failed (%d x %d x %d)\n", M, N, o->K);
        exit(1);
    }
}

static dnnl_engine_t eng;
static dnnl_stream_t strm;

#define DN(call)                                                                                              \
    do {                                                                                                      \
        dnnl_status_t st_ = (call);                                                                           \
        if (st_ != dnnl_success) { fprintf(stderr, "roofline: %s: oneDNN status %d\n", #call, (int)st_); exit(1); } \
    } while (0)

static char impls[2048];

/* the matmul primitive for op o at thread slot t (created with that many threads in force) */
static void make_matmul(op *o, int t)
{
    int ta, tb, M, N, lda, ldb;
    const float *A, *B;
    rowmajor(o, &ta, &tb, &M, &N, &A, &lda, &B, &ldb);
    dnnl_dims_t da = { M, o->K }, db = { o->K, N }, dc = { M, N };
    dnnl_dims_t sa = { ta ? 1 : lda, ta ? lda : 1 }, sb = { tb ? 1 : ldb, tb ? ldb : 1 }, sc = { o->ldc, 1 };
    dnnl_memory_desc_t ma, mb, mcd;
    DN(dnnl_memory_desc_init_by_strides(&ma, 2, da, dnnl_f32, sa));
    DN(dnnl_memory_desc_init_by_strides(&mb, 2, db, dnnl_f32, sb));
    DN(dnnl_memory_desc_init_by_strides(&mcd, 2, dc, dnnl_f32, sc));
    dnnl_matmul_desc_t md;
    DN(dnnl_matmul_desc_init(&md, &ma, &mb, NULL, &mcd));
    dnnl_primitive_attr_t attr;
    DN(dnnl_primitive_attr_create(&attr));
    if (o->alpha != 1.0f) DN(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &o->alpha));
    if (o->beta != 0.0f) {
        dnnl_post_ops_t po;
        DN(dnnl_post_ops_create(&po));
        DN(dnnl_post_ops_append_sum(po, o->beta));
        DN(dnnl_primitive_attr_set_post_ops(attr, po));
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd;
    DN(dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL));
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    if (impl && !strstr(impls, impl) && strlen(impls) + strlen(impl) + 3 < sizeof impls) {
        if (*impls) strcat(impls, ", ");
        strcat(impls, impl);
    }
    DN(dnnl_primitive_create(&o->prim[t], pd));
    DN(dnnl_memory_create(&o->mem[t][0], &ma, eng, (void *)A));
    DN(dnnl_memory_create(&o->mem[t][1], &mb, eng, (void *)B));
    DN(dnnl_memory_create(&o->mem[t][2], &mcd, eng, o->C));
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
}

static int mm_slot;
static void run_matmul(const op *o)
{
    dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, o->mem[mm_slot][0] }, { DNNL_ARG_WEIGHTS, o->mem[mm_slot][1] },
                                { DNNL_ARG_DST, o->mem[mm_slot][2] } };
    DN(dnnl_primitive_execute(o->prim[mm_slot], strm, 3, args));
}

static void (*omp_set)(int);

static void set_threads(int engine_kind, int t)
{
    openblas_set_num_threads(engine_kind == 0 ? t : 1);
    if (omp_set) omp_set(engine_kind == 0 ? 1 : t);
}

/* one warm pass, then passes until min_time (at least min_reps, at most 400); median and min per pass */
static int min_reps = 5;
static void time_engine(void (*run)(const op *), double min_time, double *med, double *mn)
{
    static double t[400];
    for (int i = 0; i < nseq; i++) run(&ops[seq[i]]);
    if (run == run_matmul) DN(dnnl_stream_wait(strm));
    int reps = 0;
    double t0 = now();
    while (reps < 400 && (reps < min_reps || now() - t0 < min_time)) {
        double a = now();
        for (int i = 0; i < nseq; i++) run(&ops[seq[i]]);
        if (run == run_matmul) DN(dnnl_stream_wait(strm));
        t[reps++] = now() - a;
    }
    qsort(t, reps, sizeof(double), cmpd);
    *med = t[reps / 2];
    *mn = t[0];
}

/* oneDNN's result for every distinct call against OpenBLAS's, from the same C */
static double check(void (*run)(const op *))
{
    double worst = 0;
    for (int i = 0; i < nops; i++) {
        op *o = &ops[i];
        float *c0 = xmalloc(sizeof(float) * o->nc), *ref = xmalloc(sizeof(float) * o->nc);
        memcpy(c0, o->C, sizeof(float) * o->nc);
        run_openblas(o);
        memcpy(ref, o->C, sizeof(float) * o->nc);
        memcpy(o->C, c0, sizeof(float) * o->nc);
        run(o);
        if (run == run_matmul) DN(dnnl_stream_wait(strm));
        double mx = 0, err = 0;
        for (size_t j = 0; j < o->nc; j++) {
            if (fabs(ref[j]) > mx) mx = fabs(ref[j]);
            if (fabs(ref[j] - o->C[j]) > err) err = fabs(ref[j] - o->C[j]);
        }
        if (mx > 0 && err / mx > worst) worst = err / mx;
        memcpy(o->C, c0, sizeof(float) * o->nc);
        free(c0);
        free(ref);
    }
    return worst;
}

int main(int argc, char **argv)
{
    const char *trace = NULL, *json = NULL, *label = "trace";
    double steps = 1, min_time = 0.25;
    int use_dnnl = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--trace") && i + 1 < argc) trace = argv[++i];
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atof(argv[++i]);
        else if (!strcmp(argv[i], "--label") && i + 1 < argc) label = argv[++i];
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc) min_time = atof(argv[++i]);
        else if (!strcmp(argv[i], "--min-reps") && i + 1 < argc && (min_reps = atoi(argv[i + 1])) >= 1 && min_reps <= 400) i++;
        else if (!strcmp(argv[i], "--no-dnnl")) use_dnnl = 0;
        else {
            fprintf(stderr, "usage: roofline --trace FILE [--steps S] [--label NAME] [--json FILE] [--min-time S] [--min-reps 1..400] [--no-dnnl]\n");
            return 2;
        }
    }
    if (!trace || steps <= 0) { fprintf(stderr, "roofline: --trace FILE required, --steps > 0\n"); return 2; }
    load(trace);
    if (nseq == 0) { fprintf(stderr, "roofline: %s holds no sgemm/sgemv call\n", trace); return 1; }
    alloc_buffers();
    double flop = 0;
    for (int i = 0; i < nseq; i++) flop += 2.0 * ops[seq[i]].M * ops[seq[i]].N * ops[seq[i]].K;
    omp_set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");

    static const char *names[6] = { "openblas_1t", "openblas_2t", "dnnl_sgemm_1t", "dnnl_sgemm_2t", "matmul_1t", "matmul_2t" };
    double med[6], mn[6], err[6] = { 0 };
    int have[6] = { 1, 1, use_dnnl, use_dnnl, use_dnnl, use_dnnl };
    if (use_dnnl) {
        DN(dnnl_engine_create(&eng, dnnl_cpu, 0));
        DN(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
        /* matmul kernels are chosen for the thread count in force at creation */
        for (int t = 0; t < 2; t++) {
            set_threads(1, t + 1);
            for (int i = 0; i < nops; i++) make_matmul(&ops[i], t);
        }
    }
    for (int e = 0; e < 6; e++) {
        if (!have[e]) continue;
        int threads = 1 + (e & 1);
        set_threads(e / 2 == 0 ? 0 : 1, threads);
        void (*run)(const op *) = e / 2 == 0 ? run_openblas : e / 2 == 1 ? run_dnnl_sgemm : run_matmul;
        mm_slot = e & 1;
        if (e >= 2) err[e] = check(run);
        time_engine(run, min_time, &med[e], &mn[e]);
    }
    set_threads(0, 1);
    double floor_ms = 1e3 * (med[0] < med[1] ? med[0] : med[1]) / steps, best_ms = floor_ms;
    int best = med[0] < med[1] ? 0 : 1;
    for (int e = 2; e < 6; e++)
        if (have[e] && 1e3 * med[e] / steps < best_ms) { best_ms = 1e3 * med[e] / steps; best = e; }
    printf("%s: %d calls per step (%d distinct), %.3f GFLOP per step%s; OpenBLAS core %s\n", label,
           (int)(nseq / steps + 0.5), nops, flop / steps * 1e-9, ndgemm ? " (dgemm calls ignored)" : "",
           openblas_get_corename());
    for (int e = 0; e < 6; e++)
        if (have[e])
            printf("  %-14s %9.3f ms/step (min %9.3f)  %7.1f GFLOP/s%s\n", names[e], 1e3 * med[e] / steps,
                   1e3 * mn[e] / steps, flop / med[e] * 1e-9, e >= 2 && err[e] > 1e-4 ? "  RESULT DIFFERS" : "");
    printf("  OpenBLAS floor %9.3f ms/step (min of openblas_1t, openblas_2t)\n", floor_ms);
    printf("  fastest        %9.3f ms/step (%s)\n", best_ms, names[best]);
    if (use_dnnl) printf("  matmul impls: %s\n", impls);
    if (json) {
        FILE *jf = fopen(json, "w");
        if (!jf) { perror(json); return 1; }
        fprintf(jf, "{\"label\": \"%s\", \"steps\": %g, \"calls_per_step\": %g, \"distinct_calls\": %d, "
                    "\"gflop_per_step\": %.6g, \"dgemm_calls\": %d, \"openblas_core\": \"%s\", \"openblas_floor_ms\": %.6g, \"best_ms\": %.6g, \"best_engine\": \"%s\", "
                    "\"engines\": {",
                label, steps, nseq / steps, nops, flop / steps * 1e-9, ndgemm, openblas_get_corename(), floor_ms,
                best_ms, names[best]);
        int first = 1;
        for (int e = 0; e < 6; e++)
            if (have[e]) {
                fprintf(jf, "%s\"%s\": {\"ms\": %.6g, \"min_ms\": %.6g, \"gflops\": %.4g, \"max_rel_err\": %.3g}",
                        first ? "" : ", ", names[e], 1e3 * med[e] / steps, 1e3 * mn[e] / steps, flop / med[e] * 1e-9,
                        err[e]);
                first = 0;
            }
        fprintf(jf, "}, \"matmul_impls\": \"%s\"}\n", impls);
        fclose(jf);
    }
    for (int e = 2; e < 6; e++)
        if (have[e] && err[e] > 1e-4) {
            fprintf(stderr, "roofline: %s differs from OpenBLAS (max rel err %.3g)\n", names[e], err[e]);
            return 1;
        }
    return 0;
}
