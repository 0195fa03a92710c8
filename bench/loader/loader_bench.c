/* Streaming-loader benchmark (issue 16, item 3).
 *
 *   loader_bench MANIFEST.csv MODE BATCH THREADS STEPS [VIEWS]
 *
 * MODE "decode": only the loader, STEPS batches (0 = one epoch): images/s
 *   of the loader and per thread (images / busy seconds of the threads).
 * MODE "trainer": mlcl_trainer_create_stream() with a ResNet-50 backbone (224 x 224,
 *   torchvision stem), CLD pretraining from the loader, stopped by the progress
 *   callback after STEPS steps: the fraction of pretraining time spent waiting.
 * MODE "resnet50": each step takes a batch of SimCLR views at 224 x 224 and
 *   runs a MoCo-style ResNet-50 step on it (query forward + backward on view 1,
 *   key forward on view 2, torchvision stem); reports the fraction of the step
 *   time spent in mlcl_loader_next() waiting for data (the first batch, which
 *   no loader can hide, reported apart).
 * Build: cc -O2 -Iinclude bench/loader/loader_bench.c -Llib -lmlcl -Wl,-rpath,$PWD/lib -o build/loader_bench */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mlcl.h"

static int stop_after(const mlcl_progress *p, void *ctx)
{
    int *left = ctx;
    printf("  trainer step %lld: loss %.4f\n", p->step, p->loss);
    fflush(stdout);
    return --*left <= 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define CK(x) do { int rc_ = (x); if (rc_) { fprintf(stderr, "%s: %s\n", #x, mlcl_last_error()); return 1; } } while (0)

int main(int argc, char **argv)
{
    if (argc < 6) { fprintf(stderr, "usage: loader_bench MANIFEST MODE BATCH THREADS STEPS [VIEWS]\n"); return 2; }
    const char *man = argv[1], *mode = argv[2];
    int batch = atoi(argv[3]), threads = atoi(argv[4]), steps = atoi(argv[5]);
    int views = argc > 6 ? atoi(argv[6]) : 2;
    mlcl_image_list *list;
    CK(mlcl_image_list_load_csv(&list, man, NULL));
    int n, c;
    CK(mlcl_image_list_size(list, &n, &c));
    mlcl_loader_options o;
    CK(mlcl_loader_options_init(&o, MLCL_LOADER_OPTIONS_VERSION));
    o.batch = batch;
    o.threads = threads;
    o.seed = 1;
    o.views = views;
    o.resize = 256; /* Resize(256) + CenterCrop(224), then the SimCLR views at 224 */
    mlcl_loader *L;
    double t0 = now_s();
    CK(mlcl_loader_create(&L, list, &o));
    long long nb;
    CK(mlcl_loader_batches_per_epoch(L, &nb));
    if (steps <= 0) steps = (int)nb;
    mlcl_loader_batch b = MLCL_LOADER_BATCH_INIT;
    if (!strcmp(mode, "decode")) {
        for (int s = 0; s < steps; s++) CK(mlcl_loader_next(L, &b));
        double wall = now_s() - t0;
        mlcl_loader_stats st = MLCL_LOADER_STATS_INIT;
        CK(mlcl_loader_stats_get(L, &st));
        printf("decode: %d images listed, %lld batches of %d, %d threads, views %d: %lld images in %.2f s = %.1f images/s; "
               "per thread %.1f images/s (busy %.2f s); ring %.1f MB\n",
               n, st.batches, batch, st.threads, views, st.images, wall, st.images / wall,
               st.images / st.busy_seconds, st.busy_seconds, st.ring_bytes / 1e6);
    } else if (!strcmp(mode, "trainer")) {
        mlcl_resnet_spec spec;
        CK(mlcl_resnet_spec_init(&spec, MLCL_RESNET_SPEC_VERSION));
        spec.depth = 50;
        spec.stem = MLCL_RESNET_STEM_IMAGENET;
        spec.height = spec.width = 224;
        mlcl_encoder_options eo;
        CK(mlcl_encoder_options_init(&eo, MLCL_ENCODER_OPTIONS_VERSION));
        mlcl_encoder *bb;
        CK(mlcl_encoder_create_resnet(&bb, &spec, &eo));
        mlcl_loader_options fo = o;
        fo.views = 1;
        mlcl_loader *F;
        CK(mlcl_loader_create(&F, list, &fo));
        mlcl_train_options to;
        CK(mlcl_train_options_init(&to, MLCL_TRAIN_OPTIONS_VERSION));
        to.batch = batch;
        to.seed = 1;
        static mlcl_moco_options mo = MLCL_MOCO_OPTIONS_INIT;
        mo.queue_size = 4 * batch;
        to.moco = &mo;
        to.pretrain_epochs = 1;
        to.finetune_epochs = 1;
        mlcl_trainer *t;
        CK(mlcl_trainer_create_stream(&t, &to, L, F, bb));
        mlcl_encoder_free(bb);
        int left = steps;
        CK(mlcl_trainer_set_callback(t, stop_after, &left));
        mlcl_loader_stats s0 = MLCL_LOADER_STATS_INIT, s1 = MLCL_LOADER_STATS_INIT;
        CK(mlcl_loader_stats_get(L, &s0));
        int rc = mlcl_trainer_run(t);
        if (rc != MLCL_EINTERRUPTED) { fprintf(stderr, "run: %s\n", mlcl_last_error()); return 1; }
        CK(mlcl_loader_stats_get(L, &s1));
        double pre, fin;
        CK(mlcl_trainer_timing(t, &pre, &fin));
        printf("trainer (CLD pretraining, ResNet-50 224x224 backbone), batch %d, %d loader threads: %d steps in %.2f s "
               "(%.2f s/step); waiting for data %.3f s = %.2f %% of pretraining time; loader %.1f images/s per thread\n",
               batch, s1.threads, steps, pre, pre / steps, s1.wait_seconds - s0.wait_seconds,
               100.0 * (s1.wait_seconds - s0.wait_seconds) / pre, s1.images / s1.busy_seconds);
        mlcl_trainer_free(t);
        mlcl_loader_free(F);
    } else {
        mlcl_resnet_spec spec;
        CK(mlcl_resnet_spec_init(&spec, MLCL_RESNET_SPEC_VERSION));
        spec.depth = 50;
        spec.stem = MLCL_RESNET_STEM_IMAGENET;
        spec.height = spec.width = 224;
        mlcl_encoder_options eo;
        CK(mlcl_encoder_options_init(&eo, MLCL_ENCODER_OPTIONS_VERSION));
        mlcl_encoder *q, *k;
        CK(mlcl_encoder_create_resnet(&q, &spec, &eo));
        CK(mlcl_encoder_clone(&k, q));
        int od;
        CK(mlcl_encoder_out_dim(q, &od));
        float *hq = malloc(sizeof(float) * (size_t)batch * od), *hk = malloc(sizeof(float) * (size_t)batch * od);
        float *g = malloc(sizeof(float) * (size_t)batch * od);
        CK(mlcl_encoder_set_training(q, 1));
        CK(mlcl_encoder_set_training(k, 1));
        double wait_first = 0, step_total = 0, wait_total = 0;
        for (int s = 0; s < steps; s++) {
            double ts = now_s();
            mlcl_loader_stats st0 = MLCL_LOADER_STATS_INIT, st1 = MLCL_LOADER_STATS_INIT;
            CK(mlcl_loader_stats_get(L, &st0));
            CK(mlcl_loader_next(L, &b));
            CK(mlcl_loader_stats_get(L, &st1));
            double w = st1.wait_seconds - st0.wait_seconds;
            CK(mlcl_encoder_zero_grad(q));
            CK(mlcl_encoder_forward(q, b.n, b.x, hq));
            CK(mlcl_encoder_forward(k, b.n, b.x2 ? b.x2 : b.x, hk));
            for (size_t i = 0; i < (size_t)b.n * od; i++) g[i] = (hq[i] - hk[i]) / (float)b.n; /* d/dq of 0.5||q - k||^2 / n */
            CK(mlcl_encoder_backward(q, b.n, g, NULL));
            CK(mlcl_encoder_momentum_update(k, q, 0.999f));
            double dt = now_s() - ts;
            if (s == 0) wait_first = w;
            else { step_total += dt; wait_total += w; }
            printf("step %d: %.2f s, waited %.3f s for data\n", s, dt, w);
            fflush(stdout);
        }
        mlcl_loader_stats st = MLCL_LOADER_STATS_INIT;
        CK(mlcl_loader_stats_get(L, &st));
        printf("resnet50 224x224, batch %d, %d loader threads, views %d: first batch waited %.2f s; steps 1..%d: "
               "%.2f s/step, waiting for data %.3f s = %.2f %% of step time; loader %.1f images/s per thread\n",
               batch, st.threads, views, wait_first, steps - 1, step_total / (steps - 1), wait_total,
               100.0 * wait_total / step_total, st.images / st.busy_seconds);
        mlcl_encoder_free(q);
        mlcl_encoder_free(k);
        free(hq); free(hk); free(g);
    }
    mlcl_loader_free(L);
    mlcl_image_list_free(list);
    return 0;
}
