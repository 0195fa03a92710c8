/* The sparse first layer against the dense one: the time of one training
 * step of the default MLP backbone (Linear(d,256)-ReLU-Dropout-Linear(256,512)
 * -ReLU-Dropout-Linear(512,256)-ReLU-Dropout, forward + backward without
 * input gradient) on a batch of generated rows, dense (mlcl_encoder_forward)
 * vs CSR (mlcl_encoder_forward_csr), over densities; reports the crossover.
 *
 *   sparse [--d D] [--batch B] [--reps N] [--json FILE]
 *   sparse --memory DIR [--rows N] [--d D] [--nnz K]
 *       writes DIR/sparse100k.svm (N rows x D features, K non-zeros per row,
 *       50 labels), reads it with mlcl_dataset_load_libsvm_sparse and trains
 *       20 steps of the sparse MLP on it; run under /usr/bin/time -v for the
 *       peak RSS (the dense set would need N x D x 4 bytes, printed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if ((x) != MLCL_OK) {                                                                      \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, mlcl_last_error());         \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static mlcl_encoder *backbone(int d, int batch, int full)
{
    mlcl_mlp_spec sp = MLCL_MLP_SPEC_INIT;
    sp.in_dim = d;
    if (!full) { /* the first layer alone: Linear(d, 256) */
        sp.n_hidden = 0;
        sp.out_dim = 256;
    }
    mlcl_encoder_options eo = MLCL_ENCODER_OPTIONS_INIT;
    eo.max_batch = batch;
    eo.seed = 1;
    mlcl_encoder *e = NULL;
    CHECK(mlcl_encoder_create_mlp(&e, &sp, &eo));
    return e;
}

/* median seconds of one forward + backward */
static double time_step(mlcl_encoder *e, int B, int sparse, const float *x, const int64_t *ptr, const int *col,
                        const float *val, float *out, const float *g, int reps)
{
    double *t = malloc(sizeof(double) * reps);
    for (int r = -2; r < reps; r++) {
        double t0 = now();
        CHECK(mlcl_encoder_zero_grad(e));
        if (sparse) CHECK(mlcl_encoder_forward_csr(e, B, ptr, col, val, out));
        else CHECK(mlcl_encoder_forward(e, B, x, out));
        CHECK(mlcl_encoder_backward(e, B, g, NULL));
        if (r >= 0) t[r] = now() - t0;
    }
    qsort(t, reps, sizeof *t, cmp);
    double m = t[reps / 2];
    free(t);
    return m;
}

static int bench_speed(int d, int B, int reps, const char *json)
{
    static const double dens[] = { 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3 };
    const int nd = (int)(sizeof dens / sizeof *dens);
    mlcl_encoder *e = backbone(d, B, 1), *e1 = backbone(d, B, 0);
    int od = 512; /* >= both out widths */
    float *x = malloc(sizeof(float) * B * d), *out = malloc(sizeof(float) * B * od), *g = malloc(sizeof(float) * B * od);
    int64_t *ptr = malloc(sizeof(int64_t) * (B + 1));
    int *col = malloc(sizeof(int) * B * d);
    float *val = malloc(sizeof(float) * B * d);
    uint64_t s = 42;
    for (int k = 0; k < B * od; k++) g[k] = (float)(lcg(&s) % 2001) / 1000.0f - 1.0f;
    FILE *jf = json ? fopen(json, "w") : NULL;
    if (jf) fprintf(jf, "{\"d\": %d, \"batch\": %d, \"reps\": %d, \"rows\": [", d, B, reps);
    printf("d=%d batch=%d MLP %d-256-512-256, forward+backward (no input gradient), median of %d\n", d, B, d, reps);
    printf("%8s %10s | %-27s | %-27s\n", "", "", "first layer Linear(d,256)", "whole MLP step");
    printf("%8s %10s | %8s %8s %8s | %8s %8s %8s\n", "density", "nnz/row", "dense ms", "sparse", "speedup",
           "dense ms", "sparse", "speedup");
    double cross = -1, prev_sp = 0, prev_d = 0, cross1 = -1, prev1 = 0;
    for (int k = 0; k < nd; k++) {
        uint64_t thr = (uint64_t)(dens[k] * 2147483648.0);
        int64_t q = 0;
        memset(x, 0, sizeof(float) * B * d);
        ptr[0] = 0;
        for (int i = 0; i < B; i++) {
            for (int j = 0; j < d; j++)
                if (lcg(&s) < thr) {
                    float v = (float)(1 + lcg(&s) % 1000) / 1000.0f;
                    col[q] = j; val[q] = v; x[(size_t)i * d + j] = v; q++;
                }
            ptr[i + 1] = q;
        }
        double t1d = time_step(e1, B, 0, x, ptr, col, val, out, g, reps);
        double t1s = time_step(e1, B, 1, x, ptr, col, val, out, g, reps);
        double td = time_step(e, B, 0, x, ptr, col, val, out, g, reps);
        double ts = time_step(e, B, 1, x, ptr, col, val, out, g, reps);
        double sp = td / ts, sp1 = t1d / t1s;
        printf("%8.3f %10.1f | %8.3f %8.3f %8.2f | %8.3f %8.3f %8.2f\n", dens[k], (double)q / B, 1e3 * t1d, 1e3 * t1s,
               sp1, 1e3 * td, 1e3 * ts, sp);
        if (jf) fprintf(jf, "%s{\"density\": %g, \"nnz_per_row\": %.1f, \"layer_dense_ms\": %.4f, \"layer_sparse_ms\": %.4f, "
                        "\"step_dense_ms\": %.4f, \"step_sparse_ms\": %.4f}",
                        k ? ", " : "", dens[k], (double)q / B, 1e3 * t1d, 1e3 * t1s, 1e3 * td, 1e3 * ts);
        if (cross1 < 0 && k > 0 && prev1 >= 1 && sp1 < 1)
            cross1 = prev_d + (dens[k] - prev_d) * (prev1 - 1) / (prev1 - sp1);
        prev1 = sp1;
        if (cross < 0 && k > 0 && prev_sp >= 1 && sp < 1) /* linear interpolation of the speed-up */
            cross = prev_d + (dens[k] - prev_d) * (prev_sp - 1) / (prev_sp - sp);
        prev_sp = sp;
        prev_d = dens[k];
    }
    if (cross1 > 0) printf("first layer: crossover (sparse no longer faster) at density ~ %.3f\n", cross1);
    else printf("first layer: no crossover in the range measured\n");
    if (cross > 0) printf("whole step: crossover at density ~ %.3f\n", cross);
    else printf("whole step: no crossover in the range measured\n");
    if (jf) {
        fprintf(jf, "], \"crossover_layer\": %g, \"crossover_step\": %g}\n", cross1, cross);
        fclose(jf);
    }
    free(x); free(out); free(g); free(ptr); free(col); free(val);
    mlcl_encoder_free(e);
    mlcl_encoder_free(e1);
    return 0;
}

static int bench_memory(const char *dir, int n, int d, int k)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sparse100k.svm", dir);
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); return 1; }
    uint64_t s = 7;
    int *cols = malloc(sizeof(int) * k);
    fprintf(f, "%d %d %d\n", n, d, 50);
    for (int i = 0; i < n; i++) {
        /* k distinct columns: k strata of the width, one column in each */
        for (int j = 0; j < k; j++) cols[j] = (int)((long long)d * j / k + (long long)(lcg(&s) % (uint64_t)(d / k)));
        fprintf(f, "%d,%d", (int)(lcg(&s) % 50), (int)(lcg(&s) % 50));
        for (int j = 0; j < k; j++) fprintf(f, " %d:%.3f", cols[j], (double)(1 + lcg(&s) % 1000) / 1000.0);
        fputc('\n', f);
    }
    free(cols);
    if (fclose(f)) { perror(path); return 1; }
    double t0 = now();
    mlcl_dataset *ds = NULL;
    CHECK(mlcl_dataset_load_libsvm_sparse(&ds, path, 0, 0, MLCL_LIBSVM_INDEX_AUTO));
    double t1 = now();
    int nn, dd, c;
    int64_t nnz;
    const int64_t *ptr;
    const int *col;
    const float *val;
    CHECK(mlcl_dataset_dims(ds, &nn, &dd, &c));
    CHECK(mlcl_dataset_csr(ds, &ptr, &col, &val, &nnz));
    printf("read %s: %d rows x %d features, %lld non-zeros (%.3f %%) in %.2f s\n", path, nn, dd, (long long)nnz,
           100.0 * nnz / ((double)nn * dd), t1 - t0);
    printf("CSR features: %.1f MB; dense features would need %.1f MB\n",
           (nnz * 8.0 + (nn + 1) * 8.0) / 1048576.0, (double)nn * dd * 4.0 / 1048576.0);
    /* 20 steps of a Linear(d,64)-ReLU-Linear(64,c) on 256-row CSR batches */
    mlcl_mlp_spec sp = MLCL_MLP_SPEC_INIT;
    sp.in_dim = dd;
    sp.n_hidden = 1;
    sp.hidden[0] = 64;
    sp.dropout = 0;
    sp.out_dim = c;
    mlcl_encoder *e = NULL;
    CHECK(mlcl_encoder_create_mlp(&e, &sp, NULL));
    mlcl_optim_options oo = MLCL_OPTIM_OPTIONS_INIT;
    oo.type = MLCL_OPTIM_SGD;
    mlcl_optim *o = NULL;
    float *p, *gr;
    size_t np;
    CHECK(mlcl_optim_create(&o, &oo));
    CHECK(mlcl_encoder_params_ptr(e, &p));
    CHECK(mlcl_encoder_grads_ptr(e, &gr));
    CHECK(mlcl_encoder_param_count(e, &np));
    CHECK(mlcl_optim_add_group(o, p, gr, np, 0.1f, 0.0f, NULL));
    const int B = 256;
    const uint8_t *y = mlcl_dataset_labels(ds);
    float *out = malloc(sizeof(float) * B * c), *tgt = malloc(sizeof(float) * B * c), *g = malloc(sizeof(float) * B * c);
    double t2 = now();
    float loss = 0;
    for (int st = 0; st < 20; st++) {
        int r0 = (st * B) % (nn - B);
        for (int q = 0; q < B * c; q++) tgt[q] = y[(size_t)r0 * c + q];
        CHECK(mlcl_encoder_zero_grad(e));
        CHECK(mlcl_encoder_forward_csr(e, B, ptr + r0, col, val, out));
        memset(g, 0, sizeof(float) * B * c);
        CHECK(mlcl_bce_with_logits(&loss, g, out, tgt, B, c));
        CHECK(mlcl_encoder_backward(e, B, g, NULL));
        CHECK(mlcl_optim_step(o));
    }
    printf("20 steps of Linear(%d,64)-ReLU-Linear(64,%d), batch %d, from CSR: %.1f ms/step, last loss %.4f; "
           "parameters %.1f MB\n", dd, c, B, 1e3 * (now() - t2) / 20, loss, np * 4.0 / 1048576.0);
    free(out); free(tgt); free(g);
    mlcl_optim_free(o);
    mlcl_encoder_free(e);
    mlcl_dataset_free(ds);
    return 0;
}

int main(int argc, char **argv)
{
    int d = 5000, B = 256, reps = 15, rows = 100000, nnz = 50;
    const char *json = NULL, *mem = NULL;
    int dset = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--d") && i + 1 < argc) { d = atoi(argv[++i]); dset = 1; }
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--memory") && i + 1 < argc) mem = argv[++i];
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc) rows = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--nnz") && i + 1 < argc) nnz = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--d D] [--batch B] [--reps N] [--json FILE] | --memory DIR [--rows N] [--d D] [--nnz K]\n", argv[0]);
            return 2;
        }
    }
    if (d <= 0 || B <= 1 || reps <= 0 || rows <= B || nnz <= 0) { fprintf(stderr, "bad sizes\n"); return 2; }
    if (mem) return bench_memory(mem, rows, dset ? d : 100000, nnz);
    return bench_speed(d, B, reps, json);
}
