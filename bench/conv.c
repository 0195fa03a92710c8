/* ResNet forward + backward throughput (mlcl_encoder_create_resnet), the
 * shapes and iteration of bench/torch/conv.py:
 *   resnet18-small-56       ResNet-18, small stem, 3x56x56, batch 64
 *   resnet50-imagenet-224   ResNet-50, ImageNet stem, 3x224x224, batch 8
 * base width 64, training mode. One iteration = zero_grad, forward, backward
 * of sum(out * g) for a fixed random g (no input gradient, no optimiser).
 * first_step_s: the first iteration, which builds the oneDNN primitives.
 *   conv [--reps N] [--warmup N] [--only NAME] [--json FILE]
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

static double median(double *t, int n)
{
    qsort(t, n, sizeof *t, cmp);
    return t[n / 2];
}

#define DIE(what) do { fprintf(stderr, "conv: %s: %s\n", what, mlcl_last_error()); return 1; } while (0)

int main(int argc, char **argv)
{
    int reps = 5, warmup = 1;
    const char *json = NULL, *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else { fprintf(stderr, "usage: conv [--reps N] [--warmup N] [--only NAME] [--json FILE]\n"); return 2; }
    }
    if (reps < 1 || warmup < 0) { fprintf(stderr, "conv: --reps >= 1, --warmup >= 0\n"); return 2; }
    struct { const char *name; int depth, stem, hw, batch; } cfg[] = {
        { "resnet18-small-56", 18, MLCL_RESNET_STEM_SMALL, 56, 64 },
        { "resnet50-imagenet-224", 50, MLCL_RESNET_STEM_IMAGENET, 224, 8 } };
    FILE *jf = json ? fopen(json, "w") : NULL;
    if (json && !jf) { perror(json); return 1; }
    if (jf) fprintf(jf, "{\"bench\": \"resnet_fwd_bwd\", \"impl\": \"libmlcl\", \"reps\": %d, \"warmup\": %d, \"results\": [",
                    reps, warmup);
    int first_row = 1;
    printf("%-24s %5s %9s %8s %7s %7s %8s\n", "config", "batch", "median s", "min s", "fwd s", "bwd s", "img/s");
    for (size_t ci = 0; ci < sizeof cfg / sizeof *cfg; ci++) {
        if (only && strcmp(only, cfg[ci].name)) continue;
        int n = cfg[ci].batch;
        mlcl_resnet_spec sp = MLCL_RESNET_SPEC_INIT;
        sp.depth = cfg[ci].depth; sp.stem = cfg[ci].stem;
        sp.in_channels = 3; sp.height = sp.width = cfg[ci].hw; sp.base_width = 64;
        mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
        o.max_batch = n; o.seed = 0;
        double tc = now();
        mlcl_encoder *e;
        if (mlcl_encoder_create_resnet(&e, &sp, &o) != MLCL_OK) DIE("create");
        tc = now() - tc;
        int id, od;
        mlcl_encoder_in_dim(e, &id);
        mlcl_encoder_out_dim(e, &od);
        float *x = malloc(sizeof(float) * n * id), *out = malloc(sizeof(float) * n * od);
        float *g = malloc(sizeof(float) * n * od);
        double *tt = malloc(sizeof(double) * reps), *tf = malloc(sizeof(double) * reps);
        double *tb = malloc(sizeof(double) * reps);
        if (!x || !out || !g || !tt || !tf || !tb) { fprintf(stderr, "conv: out of memory\n"); return 1; }
        mlcl_rng *r;
        mlcl_rng_create(&r, 0);
        mlcl_rng_normal(r, x, (size_t)n * id, 1.0f);
        mlcl_rng_normal(r, g, (size_t)n * od, 1.0f);
        double first = 0; /* the first forward + backward: builds the oneDNN primitives */
        for (int it = 0; it < warmup + reps; it++) {
            double t0 = now();
            if (mlcl_encoder_zero_grad(e) != MLCL_OK) DIE("zero_grad");
            if (mlcl_encoder_forward(e, n, x, out) != MLCL_OK) DIE("forward");
            double t1 = now();
            if (mlcl_encoder_backward(e, n, g, NULL) != MLCL_OK) DIE("backward");
            double t2 = now();
            if (it == 0) first = t2 - t0;
            if (it >= warmup) { tt[it - warmup] = t2 - t0; tf[it - warmup] = t1 - t0; tb[it - warmup] = t2 - t1; }
        }
        double med = median(tt, reps), mf = median(tf, reps), mb = median(tb, reps);
        printf("%-24s %5d %9.3f %8.3f %7.3f %7.3f %8.1f   (create %.2f s, first step %.2f s)\n", cfg[ci].name, n, med,
               tt[0], mf, mb, n / med, tc, first);
        fflush(stdout);
        if (jf) {
            fprintf(jf, "%s{\"config\": \"%s\", \"depth\": %d, \"stem\": \"%s\", \"hw\": %d, \"batch\": %d, "
                        "\"median_s\": %.6g, \"min_s\": %.6g, \"fwd_median_s\": %.6g, \"bwd_median_s\": %.6g, "
                        "\"images_per_s\": %.6g, \"create_s\": %.6g, \"first_step_s\": %.6g}",
                    first_row ? "" : ", ", cfg[ci].name, cfg[ci].depth,
                    cfg[ci].stem == MLCL_RESNET_STEM_SMALL ? "small" : "imagenet", cfg[ci].hw, n, med, tt[0], mf, mb,
                    n / med, tc, first);
            first_row = 0;
        }
        free(x); free(out); free(g); free(tt); free(tf); free(tb);
        mlcl_rng_free(r);
        mlcl_encoder_free(e);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (jf) { fprintf(jf, "], \"peak_rss_kb\": %ld}\n", ru.ru_maxrss); fclose(jf); }
    return 0;
}
