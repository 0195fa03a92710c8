/*
 * bench/loss: forward + backward time of the contrastive losses at the paper's
 * shapes, next to plain OpenBLAS SGEMM on the n x (n+K) x m product.
 *
 *   loss [--json FILE] [--quick] [--shape n,K,m,c] [--method NAME] [--reps N] [--no-sgemm] [--no-settle]
 *
 * --shape / --method (MulSupCon, RLD, "RLD s=0.5", CLD) select one workload,
 * --reps N times exactly N calls after the warm-up, --no-sgemm skips the
 * plain SGEMM, --no-settle makes the warm-up one call (the first warm-up
 * otherwise runs until 0.3 s after the start, SETTLE_S below); with all three
 * bench/roofline traces exactly the loss's own GEMMs of two calls.
 *
 * For each (n, K, m, c) and each method (MulSupCon, RLD with the default
 * sigma 0.01, RLD with sigma 0.5, CLD): random L2-normalised q and k, labels
 * drawn from a Zipf-like label popularity (mean 4 labels per row for c >= 14,
 * ~1.1 for c = 6), a full queue, softmax distributions, W c x 256; median of
 * several reps of mlcl_loss_compute() with every gradient requested.
 * "GEMM GF/s" counts the flops of the big GEMMs the loss performs (2 n N m for
 * the logits and again for grad_q; for LD with the dense G path also 2 n N c for
 * D D^T and 2 n N c + 4 n n c for grad_d) divided by the whole call's time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mlcl.h"
#include "kernels/gemm.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static uint64_t rs = 0x853c49e6748fea9bull;
static double unif(void)
{
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rs >> 11) * (1.0 / 9007199254740992.0);
}
static double gauss(void)
{
    double u = unif() + 1e-300, v = unif();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static void unit_rows(float *x, int rows, int m)
{
    for (int i = 0; i < rows; i++) {
        double s = 0;
        for (int j = 0; j < m; j++) { x[(size_t)i * m + j] = (float)gauss(); s += (double)x[(size_t)i * m + j] * x[(size_t)i * m + j]; }
        float inv = (float)(1.0 / sqrt(s));
        for (int j = 0; j < m; j++) x[(size_t)i * m + j] *= inv;
    }
}

static void softmax_rows(float *x, int rows, int c)
{
    for (int i = 0; i < rows; i++) {
        double s = 0;
        for (int j = 0; j < c; j++) { x[(size_t)i * c + j] = (float)exp(gauss()); s += x[(size_t)i * c + j]; }
        for (int j = 0; j < c; j++) x[(size_t)i * c + j] = (float)(x[(size_t)i * c + j] / s);
    }
}

/* Labels: a Zipf(1) label popularity; rows get 1 + extra labels so that the
 * mean is `mean` labels per row. */
static void labels(uint64_t *y, int rows, int c, double mean)
{
    size_t w = mlcl_label_words(c);
    double *cdf = malloc(sizeof(double) * c), s = 0;
    for (int j = 0; j < c; j++) { s += 1.0 / (j + 1); cdf[j] = s; }
    memset(y, 0, sizeof(uint64_t) * rows * w);
    for (int i = 0; i < rows; i++) {
        /* mean >= 2: uniform on 1 .. 2 mean - 1; below: 1 plus one more with probability mean - 1 */
        int want = mean >= 2 ? 1 + (int)(unif() * (2 * mean - 1)) : 1 + (unif() < mean - 1);
        if (want > c) want = c;
        int have = 0, guard = 0;
        while (have < want && guard++ < 1000) {
            double u = unif() * s;
            int lo = 0, hi = c - 1;
            while (lo < hi) { int mid = (lo + hi) / 2; if (cdf[mid] < u) lo = mid + 1; else hi = mid; }
            uint64_t bit = UINT64_C(1) << (lo & 63);
            if (!(y[(size_t)i * w + lo / 64] & bit)) { y[(size_t)i * w + lo / 64] |= bit; have++; }
        }
    }
    free(cdf);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct { int n, K, m, c; } shape;

/* OpenBLAS (loaded with the program: the library links it) starts its
 * thread servers at load, and they poll with sched_yield for about 0.1 s
 * (OpenBLAS's THREAD_TIMEOUT) before they sleep, taking a core from the
 * library's second thread meanwhile. A Python process passes that window
 * while it imports torch; this program would time its first workload inside
 * it. So the first warm-up runs until SETTLE_S after the start. */
#define SETTLE_S 0.3
static double settle_until;

int main(int argc, char **argv)
{
    settle_until = now() + SETTLE_S;
    const char *json = NULL;
    int quick = 0, fixed_reps = 0, no_sgemm = 0, only_shape = 0, no_settle = 0;
    shape only = { 0, 0, 0, 0 };
    const char *only_method = NULL;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--json") && a + 1 < argc) json = argv[++a];
        else if (!strcmp(argv[a], "--quick")) quick = 1;
        else if (!strcmp(argv[a], "--shape") && a + 1 < argc &&
                 sscanf(argv[a + 1], "%d,%d,%d,%d", &only.n, &only.K, &only.m, &only.c) == 4) { only_shape = 1; a++; }
        else if (!strcmp(argv[a], "--method") && a + 1 < argc) only_method = argv[++a];
        else if (!strcmp(argv[a], "--reps") && a + 1 < argc && (fixed_reps = atoi(argv[a + 1])) > 0 && fixed_reps <= 64) a++;
        else if (!strcmp(argv[a], "--no-sgemm")) no_sgemm = 1;
        else if (!strcmp(argv[a], "--no-settle")) no_settle = 1; /* one warm-up call (GEMM tracing) */
        else {
            fprintf(stderr, "usage: %s [--json FILE] [--quick] [--shape n,K,m,c] [--method NAME] [--reps 1..64] [--no-sgemm] [--no-settle]\n", argv[0]);
            return 2;
        }
    }
    /* MLCL_NUM_THREADS (bench/compare.py's "1 thr" column), else the library's
     * default; set always, as mlcl-train does (OpenBLAS single-threaded, docs/abi.md) */
    const char *env_threads = getenv("MLCL_NUM_THREADS");
    int nthreads = env_threads ? atoi(env_threads) : 0;
    if (nthreads <= 0) mlcl_get_num_threads(&nthreads);
    if (mlcl_set_num_threads(nthreads) != MLCL_OK) {
        fprintf(stderr, "MLCL_NUM_THREADS: %s\n", mlcl_last_error());
        return 2;
    }
    const shape shapes[] = { { 128, 256, 256, 14 }, { 256, 1024, 256, 6 }, { 128, 4096, 256, 983 }, { 512, 8192, 256, 101 } };
    const char *names[] = { "MulSupCon", "RLD", "RLD s=0.5", "CLD" };
    const int hdim = 256;
    FILE *jf = NULL;
    if (json) {
        jf = fopen(json, "w");
        if (!jf) { perror(json); return 1; }
        fprintf(jf, "{\"bench\": \"loss\", \"results\": [\n");
    }
    int first = 1;
    printf("%-22s %-10s %9s %9s %9s %10s %10s  %s\n", "(n,K,m,c)", "method", "median ms", "min ms", "reps",
           "GEMM GF/s", "SGEMM GF/s", "loss");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        shape S = shapes[si];
        if (only_shape && (S.n != only.n || S.K != only.K || S.m != only.m || S.c != only.c)) continue;
        int n = S.n, K = S.K, m = S.m, c = S.c, N = n + K;
        size_t w = mlcl_label_words(c);
        float *q = malloc(sizeof(float) * n * m), *k = malloc(sizeof(float) * n * m);
        float *kq = malloc(sizeof(float) * (size_t)K * m), *d = malloc(sizeof(float) * n * c);
        float *dq = malloc(sizeof(float) * (size_t)K * c), *W = malloc(sizeof(float) * c * hdim);
        uint64_t *y = malloc(sizeof(uint64_t) * n * w), *yq = malloc(sizeof(uint64_t) * K * w);
        float *gq = calloc((size_t)n * m, sizeof(float)), *gd = calloc((size_t)n * c, sizeof(float));
        float *gW = calloc((size_t)c * hdim, sizeof(float));
        unit_rows(q, n, m);
        unit_rows(k, n, m);
        unit_rows(kq, K, m);
        softmax_rows(d, n, c);
        softmax_rows(dq, K, c);
        for (int j = 0; j < c * hdim; j++) W[j] = (float)(0.05 * gauss());
        double mean = c >= 14 ? 4.0 : 1.1;
        labels(y, n, c, mean);
        labels(yq, K, c, mean);
        mlcl_queue_options qo = MLCL_QUEUE_OPTIONS_INIT;
        qo.capacity = K; qo.feat_dim = m; qo.n_labels = c;
        mlcl_queue *Q;
        if (mlcl_queue_create(&Q, &qo) || mlcl_queue_enqueue(Q, K, kq, yq, dq)) {
            fprintf(stderr, "queue: %s\n", mlcl_last_error());
            return 1;
        }

        /* plain SGEMM on the same n x N x m product, same run */
        float *C = malloc(sizeof(float) * (size_t)n * N), *B = malloc(sizeof(float) * (size_t)N * m);
        unit_rows(B, N, m);
        double gbest = 0, gt[64] = { 0 };
        int greps = 0;
        double t0 = now();
        if (!no_sgemm) mlcl__sgemm(0, 1, n, N, m, 1.0f, q, m, B, m, 0.0f, C, N); /* warm-up */
        while (!no_sgemm && greps < 64 && (greps < 5 || now() - t0 < (quick ? 0.1 : 0.4))) {
            double a = now();
            mlcl__sgemm(0, 1, n, N, m, 1.0f, q, m, B, m, 0.0f, C, N);
            gt[greps++] = now() - a;
        }
        qsort(gt, greps, sizeof(double), cmpd);
        gbest = no_sgemm ? 0 : 2.0 * n * N * m / gt[greps / 2] * 1e-9;
        free(C);
        free(B);

        for (int meth = 0; meth < 4; meth++) {
            if (only_method && strcmp(only_method, names[meth])) continue;
            mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
            o.method = meth == 0 ? MLCL_LOSS_MULSUPCON : MLCL_LOSS_LD;
            o.variant = meth == 1 || meth == 2 ? MLCL_LD_RLD : MLCL_LD_CLD;
            if (meth == 2) o.sigma = 0.5f;
            mlcl_loss *L;
            if (mlcl_loss_create(&L, n, K, m, c, &o)) { fprintf(stderr, "loss: %s\n", mlcl_last_error()); return 1; }
            mlcl_loss_parts parts = MLCL_LOSS_PARTS_INIT;
            double times[64];
            int reps = 0;
            int ld = o.method == MLCL_LOSS_LD;
            /* warm-up: one call, and at least until SETTLE_S after the start
             * (settle_until, above main) */
            do if (mlcl_loss_compute(L, &parts, gq, ld ? gd : NULL, ld ? gW : NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = n, .q = q, .k = k, .y = y, .d = d, .queue = Q, .W = W, .h = hdim })) {
                fprintf(stderr, "compute: %s\n", mlcl_last_error());
                return 1;
            } while (!no_settle && now() < settle_until);
            t0 = now();
            while (fixed_reps ? reps < fixed_reps : reps < 64 && (reps < 3 || now() - t0 < (quick ? 0.25 : 1.2))) {
                double a = now();
                mlcl_loss_compute(L, &parts, gq, ld ? gd : NULL, ld ? gW : NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = n, .q = q, .k = k, .y = y, .d = d, .queue = Q, .W = W, .h = hdim });
                times[reps++] = now() - a;
            }
            qsort(times, reps, sizeof(double), cmpd);
            double med = times[reps / 2];
            double flops = 2.0 * 2.0 * n * N * m;
            /* the dense G path (CLD always; RLD unless the RBF weights underflow) */
            if (ld && (o.variant == MLCL_LD_CLD || meth == 2)) flops += 2.0 * 2.0 * n * N * c + 4.0 * n * n * c;
            char sh[32];
            snprintf(sh, sizeof sh, "(%d,%d,%d,%d)", n, K, m, c);
            printf("%-22s %-10s %9.2f %9.2f %9d %10.1f %10.1f  %.4g\n", sh, names[meth], med * 1e3, times[0] * 1e3,
                   reps, flops / med * 1e-9, gbest, parts.total);
            fflush(stdout);
            if (jf) {
                fprintf(jf, "%s  {\"n\": %d, \"K\": %d, \"m\": %d, \"c\": %d, \"method\": \"%s\", \"median_ms\": %.4f, "
                            "\"min_ms\": %.4f, \"reps\": %d, \"gemm_gflops\": %.2f, \"sgemm_gflops\": %.2f, \"loss\": %.6g}",
                        first ? "" : ",\n", n, K, m, c, names[meth], med * 1e3, times[0] * 1e3, reps,
                        flops / med * 1e-9, gbest, parts.total);
                first = 0;
            }
            mlcl_loss_free(L);
        }
        mlcl_queue_free(Q);
        free(q); free(k); free(kq); free(d); free(dq); free(W); free(y); free(yq); free(gq); free(gd); free(gW);
    }
    if (jf) {
        fprintf(jf, "\n]}\n");
        fclose(jf);
    }
    return 0;
}
