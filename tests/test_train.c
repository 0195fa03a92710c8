/* The MoCo pair, the trainer and checkpoints. */
#include "testutil.h"
#include "queue_get.h"
#include <math.h>
#include <unistd.h>

static mlcl_dataset *load_yeast(int train)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/yeast-%s.arff.gz", test_data_dir(), train ? "train" : "test");
    mlcl_dataset *ds = NULL;
    int rc = mlcl_dataset_load_arff(&ds, path, 0, 0);
    ck_assert_msg(rc == 0, "cannot load %s: %s", path, mlcl_last_error());
    return ds;
}

/* a small synthetic multi-label set: c labels, features a noisy code of the labels */
static mlcl_dataset *synthetic(int n, int d, int c, uint64_t seed)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed));
    float *x = malloc(sizeof(float) * n * d), *u = malloc(sizeof(float) * n * c);
    uint8_t *y = malloc((size_t)n * c);
    ck_assert_ok(mlcl_rng_normal(r, x, (size_t)n * d, 0.3f));
    ck_assert_ok(mlcl_rng_uniform(r, u, (size_t)n * c));
    for (int i = 0; i < n; i++) {
        int any = 0;
        for (int j = 0; j < c; j++) { y[i * c + j] = u[i * c + j] < 0.3f; any |= y[i * c + j]; }
        if (!any) y[i * c + (i % c)] = 1;
        for (int j = 0; j < c; j++)
            if (y[i * c + j]) x[(size_t)i * d + (j % d)] += 1.0f;
    }
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, n, d, c, x, y));
    free(x); free(u); free(y);
    mlcl_rng_free(r);
    return ds;
}

static void small_opts(mlcl_train_options *o, int method)
{
    ck_assert_ok(mlcl_train_options_init(o, MLCL_TRAIN_OPTIONS_VERSION));
    o->method = method;
    o->batch = 32;
    o->seed = 11;
    test_moco_of(o)->o.queue_size = 64;
    test_moco_of(o)->hidden[0] = 32; test_moco_of(o)->hidden[1] = 48; test_moco_of(o)->hidden[2] = 32;
    test_moco_of(o)->o.proj_dim = 16;
    o->pretrain_epochs = 3;
    o->finetune_epochs = 3;
    o->pretrain_T_0 = 2;
    o->finetune_T_0 = 2;
    o->pretrain_lr = 1e-3f;
}

static void params_of(mlcl_trainer *t, int which, float **out, size_t *n)
{
    mlcl_moco *m;
    mlcl_encoder *e;
    ck_assert_ok(mlcl_trainer_moco(t, &m));
    ck_assert_ok(mlcl_moco_encoder(m, which, &e));
    ck_assert_ok(mlcl_encoder_param_count(e, n));
    *out = malloc(sizeof(float) * *n);
    ck_assert_ok(mlcl_encoder_get_params(e, *out, *n));
}

START_TEST(moco_step_updates_and_enqueues)
{
    static const mlcl_loss_options dl = MLCL_LOSS_OPTIONS_INIT; /* the loss of o (NULL: defaults) */
    mlcl_moco_options o;
    ck_assert_ok(mlcl_moco_options_init(&o, MLCL_MOCO_OPTIONS_VERSION));
    o.in_dim = 10; o.n_labels = 5; o.queue_size = 12; o.max_batch = 8;
    static const int w[] = { 16, 16, 16 };
    static mlcl_optim_options opt = MLCL_MOCO_OPTIM_INIT;
    o.n_hidden = 3; o.hidden = w; o.proj_dim = 8;
    opt.lr = 1e-2f;
    o.optim = &opt;
    mlcl_moco *mc;
    ck_assert_ok(mlcl_moco_create(&mc, &o));
    mlcl_queue *q;
    ck_assert_ok(mlcl_moco_queue(mc, &q));
    float x0[80], x1[80];
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 5));
    uint8_t y01[40];
    uint64_t y[8];
    for (int i = 0; i < 40; i++) y01[i] = (uint8_t)((i * 7 + i / 5) % 3 == 0);
    for (int i = 0; i < 8; i++) y01[i * 5 + (i % 5)] = 1;
    ck_assert_ok(mlcl_labels_pack(y, y01, 8, 5));
    mlcl_encoder *eq, *ek;
    ck_assert_ok(mlcl_moco_encoder(mc, 0, &eq));
    ck_assert_ok(mlcl_moco_encoder(mc, 3, &ek));
    size_t np;
    ck_assert_ok(mlcl_encoder_param_count(eq, &np));
    float *pq = malloc(np * sizeof(float)), *pk = malloc(np * sizeof(float));
    ck_assert_ok(mlcl_encoder_get_params(eq, pq, np));
    ck_assert_ok(mlcl_encoder_get_params(ek, pk, np));
    ck_assert_mem_eq(pq, pk, np * sizeof(float)); /* key side starts as a copy */
    for (int s = 0; s < 3; s++) {
        ck_assert_ok(mlcl_rng_normal(r, x0, 80, 1.0f));
        ck_assert_ok(mlcl_rng_normal(r, x1, 80, 1.0f));
        mlcl_loss_parts parts = MLCL_LOSS_PARTS_INIT;
        ck_assert_ok(mlcl_moco_step(mc, 8, x0, x1, y, &parts));
        ck_assert(isfinite(parts.total) && parts.total > 0);
        ck_assert(parts.con > 0);
        ck_assert(parts.H > 0);
        ck_assert_double_eq_tol(parts.total, parts.con + parts.G + dl.alpha * parts.H + parts.wreg, 1e-4 * parts.total);
    }
    ck_assert_int_eq(tq_size(q), 12); /* 24 rows through a queue of 12 */
    long long steps;
    ck_assert_ok(mlcl_moco_steps(mc, &steps));
    ck_assert_int_eq(steps, 3);
    /* the key side moved by (1-m) towards the query side: k = m k + (1-m) q each step */
    float *pq2 = malloc(np * sizeof(float)), *pk2 = malloc(np * sizeof(float));
    ck_assert_ok(mlcl_encoder_get_params(eq, pq2, np));
    ck_assert_ok(mlcl_encoder_get_params(ek, pk2, np));
    double dq = 0, dk = 0;
    for (size_t i = 0; i < np; i++) { dq += fabs(pq2[i] - pq[i]); dk += fabs(pk2[i] - pk[i]); }
    ck_assert(dq > 0);
    ck_assert(dk > 0 && dk < 0.01 * dq);

    /* a NaN input fails the step and changes nothing */
    const float *qf = tq_features(q);
    float *qcopy = malloc(sizeof(float) * 12 * 8);
    memcpy(qcopy, qf, sizeof(float) * 12 * 8);
    x0[3] = NAN;
    int rc = mlcl_moco_step(mc, 8, x0, x1, y, NULL);
    ck_assert_int_lt(rc, 0);
    float *pq3 = malloc(np * sizeof(float)), *pk3 = malloc(np * sizeof(float));
    ck_assert_ok(mlcl_encoder_get_params(eq, pq3, np));
    ck_assert_ok(mlcl_encoder_get_params(ek, pk3, np));
    ck_assert_mem_eq(pq3, pq2, np * sizeof(float));
    ck_assert_mem_eq(pk3, pk2, np * sizeof(float));
    ck_assert_mem_eq(qcopy, tq_features(q), sizeof(float) * 12 * 8);
    ck_assert_status_msg(mlcl_moco_step(mc, 1, x0, x1, y, NULL), MLCL_EINVAL, "n must be");
    ck_assert_status_msg(mlcl_moco_step(mc, 9, x0, x1, y, NULL), MLCL_EINVAL, "max_batch");
    ck_assert_status_msg(mlcl_moco_step(mc, 8, NULL, x1, y, NULL), MLCL_EINVAL, "x0");
    free(pq); free(pk); free(pq2); free(pk2); free(pq3); free(pk3); free(qcopy);
    mlcl_rng_free(r);
    mlcl_moco_free(mc);
    mlcl_moco_free(NULL);
}
END_TEST

START_TEST(moco_bad_options)
{
    mlcl_moco_options o = MLCL_MOCO_OPTIONS_INIT;
    mlcl_moco *mc = NULL;
    ck_assert_status_msg(mlcl_moco_create(&mc, &o), MLCL_EINVAL, "in_dim");
    o.in_dim = 4;
    ck_assert_status_msg(mlcl_moco_create(&mc, &o), MLCL_EINVAL, "n_labels");
    o.n_labels = 3;
    o.dropout = 1.5f;
    ck_assert_status_msg(mlcl_moco_create(&mc, &o), MLCL_EINVAL, "dropout");
    o.dropout = 0.2f;
    o.version = 99;
    ck_assert_status_msg(mlcl_moco_create(&mc, &o), MLCL_EVERSION, "version");
    ck_assert_ptr_null(mc);
}
END_TEST

START_TEST(trainer_deterministic_and_learns)
{
    mlcl_dataset *tr = synthetic(200, 12, 6, 1), *te = synthetic(100, 12, 6, 2);
    mlcl_metrics p1 = MLCL_METRICS_INIT, t1 = MLCL_METRICS_INIT, p2 = MLCL_METRICS_INIT, t2 = MLCL_METRICS_INIT;
    for (int rep = 0; rep < 2; rep++) {
        mlcl_train_options o;
        small_opts(&o, MLCL_METHOD_CLD);
        o.finetune_epochs = 20;
        o.finetune_lr = 3e-3f;
        mlcl_trainer *t;
        ck_assert_ok(mlcl_trainer_create(&t, &o, tr));
        ck_assert_ok(mlcl_trainer_run(t));
        int phase, epoch;
        ck_assert_ok(mlcl_trainer_position(t, &phase, &epoch));
        ck_assert_int_eq(phase, 3);
        ck_assert_ok(mlcl_trainer_evaluate(t, te, rep ? &p2 : &p1, rep ? &t2 : &t1));
        mlcl_trainer_free(t);
    }
    ck_assert_double_eq(p1.mAP, p2.mAP);
    ck_assert_double_eq(t1.HA, t2.HA);
    ck_assert_double_eq(p1.maF1, p2.maF1);
    /* labels are a linear code of the features: far above chance (~0.3 prevalence) */
    ck_assert_msg(p1.mAP > 0.6, "mAP %f", p1.mAP);
    ck_assert(p1.HA >= t1.HA - 1e-12); /* the sweep includes t = 0.5 */
    mlcl_dataset_free(tr);
    mlcl_dataset_free(te);
}
END_TEST

static int stop_at;
static int stopper(const mlcl_progress *p, void *ctx)
{
    (void)ctx;
    return (p->phase == 1 && p->epoch == 1 && p->step == stop_at) ? 1 : 0;
}

START_TEST(checkpoint_resume_is_bit_identical)
{
    char path[] = "/tmp/mlcl_test_ckpt_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    mlcl_dataset *tr = load_yeast(1);
    int methods[2] = { MLCL_METHOD_CLD, MLCL_METHOD_MULSUPCON };
    for (int mi = 0; mi < 2; mi++) {
        mlcl_train_options o;
        small_opts(&o, methods[mi]);
        o.batch = 128;
        test_moco_of(&o)->o.queue_size = 256;
        o.pretrain_epochs = 2;
        o.finetune_epochs = 2;
        /* uninterrupted */
        mlcl_trainer *a;
        ck_assert_ok(mlcl_trainer_create(&a, &o, tr));
        ck_assert_ok(mlcl_trainer_run(a));
        /* interrupted at an epoch boundary (after 1 epoch), saved, resumed by a new trainer */
        mlcl_trainer *b, *c;
        int done;
        ck_assert_ok(mlcl_trainer_create(&b, &o, tr));
        ck_assert_ok(mlcl_trainer_run_epochs(b, 1, &done));
        ck_assert_int_eq(done, 0);
        ck_assert_ok(mlcl_trainer_save(b, path));
        ck_assert_ok(mlcl_trainer_create(&c, &o, tr));
        ck_assert_ok(mlcl_trainer_load(c, path));
        ck_assert_ok(mlcl_trainer_run(c));
        /* interrupted in the middle of an epoch by the callback */
        mlcl_trainer *d, *e;
        ck_assert_ok(mlcl_trainer_create(&d, &o, tr));
        stop_at = 15;
        ck_assert_ok(mlcl_trainer_set_callback(d, stopper, NULL));
        ck_assert_status_msg(mlcl_trainer_run(d), MLCL_EINTERRUPTED, "callback");
        ck_assert_ok(mlcl_trainer_save(d, path));
        ck_assert_ok(mlcl_trainer_create(&e, &o, tr));
        ck_assert_ok(mlcl_trainer_load(e, path));
        ck_assert_ok(mlcl_trainer_run(e));
        for (int which = 0; which < 5; which++) {
            float *pa, *pc, *pe;
            size_t n;
            params_of(a, which, &pa, &n);
            params_of(c, which, &pc, &n);
            params_of(e, which, &pe, &n);
            ck_assert_msg(memcmp(pa, pc, n * sizeof(float)) == 0, "net %d differs after epoch-boundary resume", which);
            ck_assert_msg(memcmp(pa, pe, n * sizeof(float)) == 0, "net %d differs after mid-epoch resume", which);
            free(pa); free(pc); free(pe);
        }
        mlcl_trainer_free(a); mlcl_trainer_free(b); mlcl_trainer_free(c); mlcl_trainer_free(d); mlcl_trainer_free(e);
    }
    unlink(path);
    mlcl_dataset_free(tr);
}
END_TEST

START_TEST(bad_checkpoints_are_refused_and_change_nothing)
{
    char path[] = "/tmp/mlcl_test_bad_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    mlcl_dataset *tr = synthetic(100, 8, 4, 3);
    mlcl_train_options o;
    small_opts(&o, MLCL_METHOD_CLD);
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, tr));
    int done;
    ck_assert_ok(mlcl_trainer_run_epochs(t, 1, &done));
    ck_assert_ok(mlcl_trainer_save(t, path));
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len);
    ck_assert_int_eq(fread(buf, 1, (size_t)len, f), len);
    fclose(f);
    float *before, *after;
    size_t n;
    params_of(t, 0, &before, &n);
    char bad[64];
    snprintf(bad, sizeof bad, "%s.bad", path);
    /* truncated, at several lengths */
    long cuts[] = { 0, 10, 39, 40, len / 2, len - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        f = fopen(bad, "wb");
        fwrite(buf, 1, (size_t)cuts[i], f);
        fclose(f);
        mlcl_clear_error();
        int rc = mlcl_trainer_load(t, bad);
        ck_assert_msg(rc == MLCL_EFORMAT || rc == MLCL_ECHECKSUM, "cut %ld: rc %d %s", cuts[i], rc, mlcl_last_error());
        ck_assert(strstr(mlcl_last_error(), bad) != NULL);
    }
    /* one flipped byte anywhere: header or payload */
    long flips[] = { 3, 9, 20, 33, 45, len / 2, len - 2 };
    for (size_t i = 0; i < sizeof flips / sizeof *flips; i++) {
        buf[flips[i]] ^= 0x40;
        f = fopen(bad, "wb");
        fwrite(buf, 1, (size_t)len, f);
        fclose(f);
        buf[flips[i]] ^= 0x40;
        mlcl_clear_error();
        int rc = mlcl_trainer_load(t, bad);
        ck_assert_msg(rc == MLCL_EFORMAT || rc == MLCL_ECHECKSUM, "flip %ld: rc %d %s", flips[i], rc, mlcl_last_error());
    }
    ck_assert_status_msg(mlcl_trainer_load(t, "/nonexistent/ckpt"), MLCL_EIO, "/nonexistent/ckpt");
    /* a checkpoint of another shape */
    mlcl_train_options o2;
    small_opts(&o2, MLCL_METHOD_CLD);
    o2.batch = 16;
    mlcl_trainer *t2;
    ck_assert_ok(mlcl_trainer_create(&t2, &o2, tr));
    ck_assert_status_msg(mlcl_trainer_load(t2, path), MLCL_EINVAL, "batch");
    mlcl_trainer_free(t2);
    params_of(t, 0, &after, &n);
    ck_assert_mem_eq(before, after, n * sizeof(float));
    /* saving to an unwritable place fails cleanly and keeps the old file */
    ck_assert_status_msg(mlcl_trainer_save(t, "/nonexistent/dir/ckpt"), MLCL_EIO, "/nonexistent/dir/ckpt");
    ck_assert_ok(mlcl_trainer_load(t, path));
    free(before); free(after); free(buf);
    unlink(bad);
    unlink(path);
    mlcl_trainer_free(t);
    mlcl_dataset_free(tr);
}
END_TEST

START_TEST(trainer_bad_arguments)
{
    mlcl_dataset *tr = synthetic(50, 6, 3, 4);
    mlcl_train_options o;
    small_opts(&o, MLCL_METHOD_CLD);
    mlcl_trainer *t = NULL;
    ck_assert_status_msg(mlcl_trainer_create(&t, NULL, tr), MLCL_EINVAL, "opts");
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, NULL), MLCL_EINVAL, "train");
    o.method = 42;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, tr), MLCL_EINVAL, "method");
    o.method = MLCL_METHOD_RLD;
    o.batch = 1;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, tr), MLCL_EINVAL, "batch");
    o.batch = 16;
    o.pretrain_mask_p = 1.0f;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, tr), MLCL_EINVAL, "pretrain_mask_p");
    o.pretrain_mask_p = 0.5f;
    o.finetune_lr = -1;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, tr), MLCL_EINVAL, "finetune_lr");
    ck_assert_ptr_null(t);
    o.finetune_lr = 1e-3f;
    ck_assert_ok(mlcl_trainer_create(&t, &o, tr));
    mlcl_dataset *other = synthetic(20, 7, 3, 5);
    mlcl_metrics m = MLCL_METRICS_INIT;
    ck_assert_status_msg(mlcl_trainer_evaluate(t, other, &m, NULL), MLCL_EINVAL, "features");
    float x[6] = { 0, 1, 2, NAN, 4, 5 }, s[3];
    ck_assert_status_msg(mlcl_trainer_predict(t, 1, x, s), MLCL_ENUMERIC, "NaN");
    ck_assert_status_msg(mlcl_trainer_predict(t, 0, x, s), MLCL_EINVAL, "n must be");
    ck_assert_status_msg(mlcl_trainer_run_epochs(t, -1, NULL), MLCL_EINVAL, "epochs");
    mlcl_trainer_free(t);
    mlcl_trainer_free(NULL);
    mlcl_dataset_free(other);
    mlcl_dataset_free(tr);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, moco_step_updates_and_enqueues);
    tcase_add_test(tc, moco_bad_options);
    tcase_add_test(tc, trainer_deterministic_and_learns);
    tcase_add_test(tc, checkpoint_resume_is_bit_identical);
    tcase_add_test(tc, bad_checkpoints_are_refused_and_change_nothing);
    tcase_add_test(tc, trainer_bad_arguments);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
