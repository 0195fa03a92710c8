/* One full pretraining step (mlcl_moco_step: momentum update, both encoders,
 * CLD loss against a full queue, backward, AdamW, enqueue), timed at the
 * shapes of bench/torch/bench_step.py, with the same label-density rule.
 *   step [--reps N] [--min-time S] [--warmup N] [--method cld|rld|mulsupcon] [--json FILE] [--only NAME]
 *        [--n N] [--K K] [--c C] [--d D] [--width W]
 * --reps N timed steps per shape, or more until they add up to --min-time S
 * seconds (at most 2000): a window of a few tens of milliseconds (12 Yeast
 * steps) is easily spoilt by a burst of the host's other work, a longer one
 * keeps its median. bench/torch/bench_step.py takes the same option.
 * Any of --n/--K/--c/--d/--width runs one shape, "custom", instead of the four
 * (the others from Yeast: n 128, K 256, c 14, d 103, width 256). Width W means
 * the backbone d-W-2W-W (the default 256-512-256 at W = 256), so the projection
 * head is W-W-BN-ReLU-256 and the LD head W-c; the embedding m stays 256.
 * Used by bench/scaling.py; its JSON rows then also carry "width".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <mlcl.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* one uniform label, then every other with probability (L-1)/(c-1); L = 1.1 for c <= 6, else 4 */
static void gen_labels(mlcl_rng *r, uint8_t *y, int rows, int c)
{
    double L = c <= 6 ? 1.1 : 4.0, p = (L - 1) / (c - 1);
    float *u = malloc(sizeof(float) * c);
    uint32_t k;
    for (int i = 0; i < rows; i++) {
        mlcl_rng_uniform(r, u, c);
        mlcl_rng_u32(r, &k, 1);
        int first = (int)(k % (uint32_t)c);
        for (int j = 0; j < c; j++) y[(size_t)i * c + j] = (j == first) || (u[j] < p);
    }
    free(u);
}

/* OpenBLAS (loaded with the program: the library links it) starts its
 * thread servers at load, and they poll with sched_yield for about 0.1 s
 * (OpenBLAS's THREAD_TIMEOUT) before they sleep, taking a core from the
 * library's second thread meanwhile. A Python process passes that window
 * while it imports torch; this program would time its first workload inside
 * it. So the first warm-up runs until SETTLE_S after the start. */
#define SETTLE_S 0.3
#define MAX_REPS 2000

int main(int argc, char **argv)
{
    const double settle_until = now() + SETTLE_S;
    int reps = 20, warmup = 3;
    double min_time = 0; /* --min-time: more reps until the timed steps add up to this (at most MAX_REPS) */
    const char *json = NULL, *only = NULL, *method = "cld";
    int custom = 0, cn = 128, cK = 256, cc = 14, cd = 103, cw = 256;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc) min_time = atof(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--method") && i + 1 < argc) method = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) { cn = atoi(argv[++i]); custom = 1; }
        else if (!strcmp(argv[i], "--K") && i + 1 < argc) { cK = atoi(argv[++i]); custom = 1; }
        else if (!strcmp(argv[i], "--c") && i + 1 < argc) { cc = atoi(argv[++i]); custom = 1; }
        else if (!strcmp(argv[i], "--d") && i + 1 < argc) { cd = atoi(argv[++i]); custom = 1; }
        else if (!strcmp(argv[i], "--width") && i + 1 < argc) { cw = atoi(argv[++i]); custom = 1; }
        else {
            fprintf(stderr, "usage: step [--reps N] [--min-time S] [--warmup N] [--method cld|rld|mulsupcon] [--only NAME] [--json FILE]\n"
                            "            [--n N] [--K K] [--c C] [--d D] [--width W]   (one custom shape)\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS || warmup < 0 || !(min_time >= 0 && min_time <= 60)) {
        fprintf(stderr, "step: need 1 <= --reps <= %d, --warmup >= 0, 0 <= --min-time <= 60\n", MAX_REPS);
        return 2;
    }
    if (custom && (cn < 2 || cK < 1 || cc < 2 || cd < 1 || cw < 1)) {
        fprintf(stderr, "step: need --n >= 2, --K >= 1, --c >= 2, --d >= 1, --width >= 1 (got %d %d %d %d %d)\n", cn, cK,
                cc, cd, cw);
        return 2;
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
    struct { const char *name; int d, c, n, K, w; } cfg[] = {
        { "yeast", 103, 14, 128, 256, 256 }, { "scene", 294, 6, 256, 1024, 256 },
        { "delicious-like", 500, 983, 128, 4096, 256 }, { "mediamill-like", 120, 101, 512, 8192, 256 } };
    size_t ncfg = sizeof cfg / sizeof *cfg;
    if (custom) {
        cfg[0].name = "custom";
        cfg[0].d = cd; cfg[0].c = cc; cfg[0].n = cn; cfg[0].K = cK; cfg[0].w = cw;
        ncfg = 1;
        only = NULL;
    }
    FILE *jf = json ? fopen(json, "w") : NULL;
    if (jf) fprintf(jf, "{\"method\": \"%s\", \"results\": [", method);
    int first = 1;
    printf("%-16s %6s %5s %5s %6s %12s\n", "config", "d_in", "c", "n", "K", "median s/step");
    for (size_t ci = 0; ci < ncfg; ci++) {
        if (only && strcmp(only, cfg[ci].name)) continue;
        int d = cfg[ci].d, c = cfg[ci].c, n = cfg[ci].n, K = cfg[ci].K, w = cfg[ci].w;
        mlcl_moco_options o = MLCL_MOCO_OPTIONS_INIT;
        o.in_dim = d; o.n_labels = c; o.queue_size = K; o.max_batch = n; o.seed = 0;
        const int widths[3] = { w, 2 * w, w };
        if (w != 256) { o.hidden = widths; o.n_hidden = 3; }
        mlcl_loss_options lo = MLCL_LOSS_OPTIONS_INIT;
        if (!strcmp(method, "rld")) lo.variant = MLCL_LD_RLD;
        else if (!strcmp(method, "mulsupcon")) lo.method = MLCL_LOSS_MULSUPCON;
        o.loss = &lo;
        mlcl_moco *mc;
        if (mlcl_moco_create(&mc, &o) != MLCL_OK) { fprintf(stderr, "%s\n", mlcl_last_error()); return 1; }
        mlcl_rng *r;
        mlcl_rng_create(&r, 0);
        size_t words = mlcl_label_words(c);
        float *x = malloc(sizeof(float) * n * d), *x0 = malloc(sizeof(float) * n * d), *x1 = malloc(sizeof(float) * n * d);
        size_t rows = (size_t)(n > K ? n : K); /* label buffers hold the queue's rows, then the batch's */
        uint8_t *y01 = malloc(rows * c);
        uint64_t *y = malloc(sizeof(uint64_t) * words * rows);
        float *qk = malloc(sizeof(float) * K * 256), *qd = malloc(sizeof(float) * K * c);
        if (!x || !x0 || !x1 || !y01 || !y || !qk || !qd) { fprintf(stderr, "step: out of memory\n"); return 1; }
        mlcl_rng_normal(r, x, (size_t)n * d, 1.0f);
        /* a full queue: unit keys, labels by the density rule, softmax distributions */
        mlcl_rng_normal(r, qk, (size_t)K * 256, 1.0f);
        mlcl_l2norm_forward(qk, NULL, qk, K, 256);
        mlcl_rng_normal(r, qd, (size_t)K * c, 1.0f);
        mlcl_softmax_forward(qd, qd, K, c);
        gen_labels(r, y01, K, c);
        mlcl_labels_pack(y, y01, K, c);
        mlcl_queue *q;
        mlcl_moco_queue(mc, &q);
        mlcl_queue_enqueue(q, K, qk, y, qd);
        gen_labels(r, y01, n, c);
        mlcl_labels_pack(y, y01, n, c);
        double *t = malloc(sizeof(double) * MAX_REPS), timed = 0;
        int nr = reps;
        for (int it = 0; it < warmup + nr; it++) {
            mlcl_augment_mask(x0, x, n, d, 0.5f, r);
            mlcl_augment_mask(x1, x, n, d, 0.5f, r);
            double t0 = now();
            mlcl_loss_parts parts = MLCL_LOSS_PARTS_INIT;
            int rc = mlcl_moco_step(mc, n, x0, x1, y, &parts);
            double dt = now() - t0;
            if (rc != MLCL_OK) { fprintf(stderr, "step: %s\n", mlcl_last_error()); return 1; }
            if (it >= warmup) {
                t[it - warmup] = dt;
                timed += dt;
                if (it == warmup + nr - 1 && timed < min_time && nr < MAX_REPS) nr++; /* the window goes on */
            } else if (it == warmup - 1 && now() < settle_until) it--; /* the warm-up goes on */
        }
        qsort(t, nr, sizeof *t, cmp);
        double med = t[nr / 2];
        printf("%-16s %6d %5d %5d %6d %12.5f\n", cfg[ci].name, d, c, n, K, med);
        if (jf) {
            fprintf(jf, "%s{\"config\": \"%s\", \"d_in\": %d, \"c\": %d, \"n\": %d, \"K\": %d, \"median_s\": %.6g, \"min_s\": %.6g",
                    first ? "" : ", ", cfg[ci].name, d, c, n, K, med, t[0]);
            fprintf(jf, ", \"reps\": %d", nr);
            if (custom) fprintf(jf, ", \"width\": %d", w);
            fputc('}', jf);
            first = 0;
        }
        free(t); free(x); free(x0); free(x1); free(y01); free(y); free(qk); free(qd);
        mlcl_rng_free(r);
        mlcl_moco_free(mc);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (jf) { fprintf(jf, "], \"peak_rss_kb\": %ld}\n", ru.ru_maxrss); fclose(jf); }
    return 0;
}
