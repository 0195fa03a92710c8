/* The trainer owns what it keeps: the training set (dense or CSR) may be
 * freed right after mlcl_trainer_create, and training, prediction,
 * evaluation and checkpoints go on bit-identically (run under ASan by
 * make check-asan-c). And one standardisation rule: the trainer's is
 * mlcl_dataset_standardize_stats's. */
#include "testutil.h"
#include <float.h>
#include <math.h>
#include <unistd.h>

enum { N = 96, D = 8, C = 4 };

static void make_arrays(float *x, uint8_t *y, uint64_t seed)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed));
    float u[N * C];
    ck_assert_ok(mlcl_rng_normal(r, x, (size_t)N * D, 0.3f));
    ck_assert_ok(mlcl_rng_uniform(r, u, (size_t)N * C));
    for (int i = 0; i < N; i++) {
        int any = 0;
        for (int j = 0; j < C; j++) { y[i * C + j] = u[i * C + j] < 0.3f; any |= y[i * C + j]; }
        if (!any) y[i * C + (i % C)] = 1;
        for (int j = 0; j < C; j++)
            if (y[i * C + j]) x[(size_t)i * D + j] += 1.0f;
    }
    mlcl_rng_free(r);
}

static void small_opts(mlcl_train_options *o)
{
    ck_assert_ok(mlcl_train_options_init(o, MLCL_TRAIN_OPTIONS_VERSION));
    o->method = MLCL_METHOD_CLD;
    o->batch = 32;
    o->seed = 5;
    test_moco_of(o)->o.queue_size = 64;
    test_moco_of(o)->hidden[0] = 16; test_moco_of(o)->hidden[1] = 24; test_moco_of(o)->hidden[2] = 16;
    test_moco_of(o)->o.proj_dim = 8;
    o->pretrain_epochs = 2;
    o->finetune_epochs = 2;
    o->pretrain_T_0 = 2;
    o->finetune_T_0 = 2;
    o->pretrain_lr = 1e-3f;
}

START_TEST(dense_set_freed_after_create)
{
    static float x[N * D];
    static uint8_t y[N * C];
    make_arrays(x, y, 3);
    mlcl_dataset *gone, *kept, *test;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&gone, N, D, C, x, y));
    ck_assert_ok(mlcl_dataset_create_from_arrays(&kept, N, D, C, x, y));
    ck_assert_ok(mlcl_dataset_create_from_arrays(&test, N, D, C, x, y));
    mlcl_train_options o;
    small_opts(&o);
    mlcl_trainer *a, *b;
    ck_assert_ok(mlcl_trainer_create(&a, &o, gone));
    ck_assert_ok(mlcl_trainer_create(&b, &o, kept));
    /* overwrite, then free: nothing of the set may be read afterwards */
    float *gx = (float *)mlcl_dataset_features(gone);
    uint8_t *gy = (uint8_t *)mlcl_dataset_labels(gone);
    memset(gx, 0x7f, sizeof(float) * N * D);
    memset(gy, 0x55, (size_t)N * C);
    mlcl_dataset_free(gone);
    int done = 0;
    ck_assert_ok(mlcl_trainer_run_epochs(a, 3, &done));
    ck_assert_ok(mlcl_trainer_run_epochs(b, 3, &done));
    char path[128];
    snprintf(path, sizeof path, "/tmp/mlcl_owned_%d.ckpt", (int)getpid());
    ck_assert_ok(mlcl_trainer_save(a, path));
    ck_assert_ok(mlcl_trainer_load(a, path)); /* the data CRC of create still matches */
    remove(path);
    ck_assert_ok(mlcl_trainer_run(a));
    ck_assert_ok(mlcl_trainer_run(b));
    float sa[N * C], sb[N * C];
    ck_assert_ok(mlcl_trainer_predict(a, N, x, sa));
    ck_assert_ok(mlcl_trainer_predict(b, N, x, sb));
    ck_assert_mem_eq(sa, sb, sizeof sa);
    mlcl_metrics ma = MLCL_METRICS_INIT, mb = MLCL_METRICS_INIT;
    ck_assert_ok(mlcl_trainer_evaluate(a, test, &ma, NULL));
    ck_assert_ok(mlcl_trainer_evaluate(b, test, &mb, NULL));
    ck_assert(ma.mAP == mb.mAP && ma.HA == mb.HA);
    ck_assert(ma.mAP > 0.3);
    mlcl_trainer_free(a);
    mlcl_trainer_free(b);
    mlcl_dataset_free(kept);
    mlcl_dataset_free(test);
}
END_TEST

START_TEST(sparse_set_freed_after_create)
{
    static float x[N * D];
    static uint8_t y[N * C];
    make_arrays(x, y, 4);
    /* CSR of x with the small entries dropped */
    static int64_t ptr[N + 1];
    static int col[N * D];
    static float val[N * D];
    int64_t k = 0;
    for (int i = 0; i < N; i++) {
        ptr[i] = k;
        for (int j = 0; j < D; j++)
            if (fabsf(x[(size_t)i * D + j]) > 0.2f) { col[k] = j; val[k] = x[(size_t)i * D + j]; k++; }
    }
    ptr[N] = k;
    mlcl_dataset *gone, *kept;
    ck_assert_ok(mlcl_dataset_create_csr(&gone, N, D, C, ptr, col, val, y));
    ck_assert_ok(mlcl_dataset_create_csr(&kept, N, D, C, ptr, col, val, y));
    mlcl_train_options o;
    small_opts(&o);
    o.standardize = 0;
    mlcl_trainer *a, *b;
    ck_assert_ok(mlcl_trainer_create(&a, &o, gone));
    ck_assert_ok(mlcl_trainer_create(&b, &o, kept));
    mlcl_dataset_free(gone);
    ck_assert_ok(mlcl_trainer_run(a));
    ck_assert_ok(mlcl_trainer_run(b));
    float sa[N * C], sb[N * C];
    ck_assert_ok(mlcl_trainer_predict_csr(a, N, ptr, col, val, sa));
    ck_assert_ok(mlcl_trainer_predict_csr(b, N, ptr, col, val, sb));
    ck_assert_mem_eq(sa, sb, sizeof sa);
    mlcl_trainer_free(a);
    mlcl_trainer_free(b);
    mlcl_dataset_free(kept);
}
END_TEST

/* A feature whose standard deviation is positive in double but 0 as a float
 * (three rows of 0 for one of the smallest denormal): the dataset rule gives
 * it std 1; a second rule with "std > 0 in double" divided by a float 0 and
 * refused the set (MLCL_ENUMERIC). The trainer standardising must equal
 * standardize = 0 on the set standardised by mlcl_dataset_standardize_*. */
START_TEST(one_standardisation_rule)
{
    static float x[N * D], xs[N * D];
    static uint8_t y[N * C];
    make_arrays(x, y, 6);
    for (int i = 0; i < N; i++) x[(size_t)i * D + D - 1] = i % 4 == 3 ? FLT_TRUE_MIN : 0.0f;
    mlcl_dataset *raw, *pre;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&raw, N, D, C, x, y));
    ck_assert_ok(mlcl_dataset_create_from_arrays(&pre, N, D, C, x, y));
    float mean[D], std[D];
    ck_assert_ok(mlcl_dataset_standardize_stats(mean, std, raw));
    ck_assert(std[D - 1] == 1.0f);
    ck_assert_ok(mlcl_dataset_standardize_apply(pre, mean, std));
    memcpy(xs, mlcl_dataset_features(pre), sizeof xs);
    mlcl_train_options o;
    small_opts(&o);
    mlcl_trainer *a, *b;
    ck_assert_ok(mlcl_trainer_create(&a, &o, raw));
    o.standardize = 0;
    ck_assert_ok(mlcl_trainer_create(&b, &o, pre));
    ck_assert_ok(mlcl_trainer_run(a));
    ck_assert_ok(mlcl_trainer_run(b));
    float sa[N * C], sb[N * C];
    ck_assert_ok(mlcl_trainer_predict(a, N, x, sa));
    ck_assert_ok(mlcl_trainer_predict(b, N, xs, sb));
    ck_assert_mem_eq(sa, sb, sizeof sa);
    mlcl_trainer_free(a);
    mlcl_trainer_free(b);
    mlcl_dataset_free(raw);
    mlcl_dataset_free(pre);
}
END_TEST

START_TEST(validation_set_freed_after_set)
{
    static float x[N * D];
    static uint8_t y[N * C];
    make_arrays(x, y, 8);
    mlcl_dataset *train, *vgone, *vkept;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&train, N, D, C, x, y));
    ck_assert_ok(mlcl_dataset_create_from_arrays(&vgone, N / 2, D, C, x + (N / 2) * D, y + (N / 2) * C));
    ck_assert_ok(mlcl_dataset_create_from_arrays(&vkept, N / 2, D, C, x + (N / 2) * D, y + (N / 2) * C));
    mlcl_train_options o;
    small_opts(&o);
    mlcl_validation_options vo = MLCL_VALIDATION_OPTIONS_INIT;
    vo.select_metric = MLCL_METRIC_MAP;
    mlcl_trainer *a, *b;
    ck_assert_ok(mlcl_trainer_create(&a, &o, train));
    ck_assert_ok(mlcl_trainer_create(&b, &o, train));
    ck_assert_ok(mlcl_trainer_set_validation(a, vgone, &vo));
    ck_assert_ok(mlcl_trainer_set_validation(b, vkept, &vo));
    memset((void *)mlcl_dataset_labels(vgone), 0x55, (size_t)(N / 2) * C);
    mlcl_dataset_free(vgone);
    ck_assert_ok(mlcl_trainer_run(a));
    ck_assert_ok(mlcl_trainer_run(b));
    int ea, eb;
    double va, vb;
    ck_assert_ok(mlcl_trainer_selection(a, &ea, &va, NULL, NULL));
    ck_assert_ok(mlcl_trainer_selection(b, &eb, &vb, NULL, NULL));
    ck_assert_int_eq(ea, eb);
    ck_assert(va == vb && va > 0);
    float ta[C], tb[C];
    ck_assert_ok(mlcl_trainer_thresholds(a, C, ta, NULL));
    ck_assert_ok(mlcl_trainer_thresholds(b, C, tb, NULL));
    ck_assert_mem_eq(ta, tb, sizeof ta);
    mlcl_trainer_free(a);
    mlcl_trainer_free(b);
    mlcl_dataset_free(vkept);
    mlcl_dataset_free(train);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_owned");
    TCase *tc = tcase_create("owned");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, dense_set_freed_after_create);
    tcase_add_test(tc, sparse_set_freed_after_create);
    tcase_add_test(tc, one_standardisation_rule);
    tcase_add_test(tc, validation_set_freed_after_set);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
