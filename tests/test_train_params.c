/* Enum-keyed run-time settings of the trainer: bounds, round trips, their
 * effect on training, checkpoints, and the progress callback. */
#include "testutil.h"
#include <math.h>
#include <unistd.h>

enum { N = 64, D = 6, C = 3 };
static float X[N * D];
static uint8_t Y[N * C];

static mlcl_dataset *mk_data(void)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 9));
    ck_assert_ok(mlcl_rng_normal(r, X, (size_t)N * D, 0.5f));
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) {
            Y[i * C + j] = (uint8_t)((i >> j) & 1);
            if (Y[i * C + j]) X[i * D + j] += 1.0f;
        }
    mlcl_rng_free(r);
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, N, D, C, X, Y));
    return ds;
}

static mlcl_trainer *mk_trainer(mlcl_dataset *ds)
{
    mlcl_train_options o;
    ck_assert_ok(mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION));
    o.batch = 16; o.seed = 3;
    test_moco_of(&o)->o.n_hidden = 1; test_moco_of(&o)->hidden[0] = 12; test_moco_of(&o)->o.proj_dim = 6; test_moco_of(&o)->o.queue_size = 16;
    o.pretrain_epochs = 2; o.finetune_epochs = 2; o.pretrain_T_0 = 1; o.finetune_T_0 = 1;
    o.pretrain_lr = 1e-2f; o.finetune_lr = 1e-2f;
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    return t;
}

static void params(mlcl_trainer *t, int which, float *out, size_t cap)
{
    mlcl_moco *m;
    mlcl_encoder *e;
    size_t n;
    ck_assert_ok(mlcl_trainer_moco(t, &m));
    ck_assert_ok(mlcl_moco_encoder(m, which, &e));
    ck_assert_ok(mlcl_encoder_param_count(e, &n));
    ck_assert_uint_le(n, cap);
    ck_assert_ok(mlcl_encoder_get_params(e, out, n));
}

START_TEST(bounds_and_round_trips)
{
    mlcl_dataset *ds = mk_data();
    mlcl_trainer *t = mk_trainer(ds);
    double v;
    ck_assert_ok(mlcl_trainer_get_param(t, MLCL_TRAIN_PARAM_PRETRAIN_LR, &v));
    ck_assert(v == (double)1e-2f);
    ck_assert_ok(mlcl_trainer_get_param(t, MLCL_TRAIN_PARAM_MOMENTUM, &v));
    ck_assert(v == (double)0.999f);
    ck_assert_ok(mlcl_trainer_get_param(t, MLCL_TRAIN_PARAM_FINETUNE_MASK_P, &v));
    ck_assert(v == (double)0.4f);
    for (int p = MLCL_TRAIN_PARAM_PRETRAIN_LR; p <= MLCL_TRAIN_PARAM_BETA; p++) {
        double lo, hi;
        ck_assert_ok(mlcl_train_param_bounds((mlcl_train_param)p, &lo, &hi));
        ck_assert(lo <= hi && isfinite(lo) && isfinite(hi));
        double mid = lo + (hi - lo) * 0.25;
        ck_assert_ok(mlcl_trainer_set_param(t, (mlcl_train_param)p, mid));
        ck_assert_ok(mlcl_trainer_get_param(t, (mlcl_train_param)p, &v));
        ck_assert_msg(v == (double)(float)mid, "param %d: %g != %g", p, v, mid);
        ck_assert_ok(mlcl_trainer_set_param(t, (mlcl_train_param)p, hi));
        ck_assert_ok(mlcl_trainer_set_param(t, (mlcl_train_param)p, lo));
        ck_assert_int_eq(mlcl_trainer_set_param(t, (mlcl_train_param)p, hi * 2 + 1), MLCL_EINVAL);
        ck_assert_int_eq(mlcl_trainer_set_param(t, (mlcl_train_param)p, lo - 1), MLCL_EINVAL);
        ck_assert_ok(mlcl_trainer_get_param(t, (mlcl_train_param)p, &v));
        ck_assert(v == (double)(float)lo); /* unchanged by the refused values */
    }
    /* the loss's own options follow */
    ck_assert_ok(mlcl_trainer_set_param(t, MLCL_TRAIN_PARAM_TAU, 0.25));
    mlcl_moco *m;
    mlcl_loss *L;
    mlcl_loss_options lo;
    ck_assert_ok(mlcl_trainer_moco(t, &m));
    ck_assert_ok(mlcl_moco_loss(m, &L));
    ck_assert_ok(mlcl_loss_get_options(L, &lo));
    ck_assert_float_eq(lo.tau, 0.25f);
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
}
END_TEST

/* lr 0 and weight decay 0 freeze the query side; momentum 1 the key side */
START_TEST(settings_act_on_training)
{
    mlcl_dataset *ds = mk_data();
    mlcl_trainer *t = mk_trainer(ds);
    static float q0[4096], q1[4096], k0[4096], k1[4096];
    params(t, 0, q0, 4096);
    params(t, 3, k0, 4096);
    ck_assert_ok(mlcl_trainer_set_param(t, MLCL_TRAIN_PARAM_PRETRAIN_LR, 0.0));
    ck_assert_ok(mlcl_trainer_set_param(t, MLCL_TRAIN_PARAM_PRETRAIN_WEIGHT_DECAY, 0.0));
    ck_assert_ok(mlcl_trainer_set_param(t, MLCL_TRAIN_PARAM_MOMENTUM, 1.0));
    int done;
    ck_assert_ok(mlcl_trainer_run_epochs(t, 1, &done));
    params(t, 0, q1, 4096);
    params(t, 3, k1, 4096);
    ck_assert_mem_eq(q0, q1, sizeof q0);
    ck_assert_mem_eq(k0, k1, sizeof k0);
    /* and with a rate again, they move */
    ck_assert_ok(mlcl_trainer_set_param(t, MLCL_TRAIN_PARAM_PRETRAIN_LR, 1e-2));
    ck_assert_ok(mlcl_trainer_run_epochs(t, 1, &done));
    params(t, 0, q1, 4096);
    ck_assert(memcmp(q0, q1, sizeof q0) != 0);
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
}
END_TEST

/* setting a value equal to the current one changes nothing, bit for bit */
START_TEST(same_value_is_bit_identical)
{
    mlcl_dataset *ds = mk_data();
    mlcl_trainer *a = mk_trainer(ds), *b = mk_trainer(ds);
    for (int p = MLCL_TRAIN_PARAM_PRETRAIN_LR; p <= MLCL_TRAIN_PARAM_BETA; p++) {
        double v;
        ck_assert_ok(mlcl_trainer_get_param(b, (mlcl_train_param)p, &v));
        ck_assert_ok(mlcl_trainer_set_param(b, (mlcl_train_param)p, v));
    }
    ck_assert_ok(mlcl_trainer_run(a));
    ck_assert_ok(mlcl_trainer_run(b));
    float sa[N * C], sb[N * C];
    ck_assert_ok(mlcl_trainer_predict(a, N, X, sa));
    ck_assert_ok(mlcl_trainer_predict(b, N, X, sb));
    ck_assert_mem_eq(sa, sb, sizeof sa);
    mlcl_trainer_free(a);
    mlcl_trainer_free(b);
    mlcl_dataset_free(ds);
}
END_TEST

/* a changed setting is part of the run: a trainer without it is refused */
START_TEST(checkpoint_records_settings)
{
    mlcl_dataset *ds = mk_data();
    mlcl_trainer *a = mk_trainer(ds), *b = mk_trainer(ds);
    ck_assert_ok(mlcl_trainer_set_param(a, MLCL_TRAIN_PARAM_TAU, 0.5));
    ck_assert_ok(mlcl_trainer_set_param(a, MLCL_TRAIN_PARAM_FINETUNE_LR, 2e-3));
    int done;
    ck_assert_ok(mlcl_trainer_run_epochs(a, 1, &done));
    char path[128];
    snprintf(path, sizeof path, "/tmp/mlcl_params_%d.ckpt", (int)getpid());
    ck_assert_ok(mlcl_trainer_save(a, path));
    ck_assert_status_msg(mlcl_trainer_load(b, path), MLCL_EINVAL, "loss.tau");
    ck_assert_ok(mlcl_trainer_set_param(b, MLCL_TRAIN_PARAM_TAU, 0.5));
    ck_assert_status_msg(mlcl_trainer_load(b, path), MLCL_EINVAL, "finetune.lr");
    ck_assert_ok(mlcl_trainer_set_param(b, MLCL_TRAIN_PARAM_FINETUNE_LR, 2e-3));
    ck_assert_ok(mlcl_trainer_load(b, path));
    remove(path);
    ck_assert_ok(mlcl_trainer_run(a));
    ck_assert_ok(mlcl_trainer_run(b));
    float sa[N * C], sb[N * C];
    ck_assert_ok(mlcl_trainer_predict(a, N, X, sa));
    ck_assert_ok(mlcl_trainer_predict(b, N, X, sb));
    ck_assert_mem_eq(sa, sb, sizeof sa);
    mlcl_trainer_free(a);
    mlcl_trainer_free(b);
    mlcl_dataset_free(ds);
}
END_TEST

static int halve_lr(const mlcl_progress *p, void *ctx)
{
    mlcl_trainer *t = ctx;
    if (p->version != MLCL_PROGRESS_VERSION) return 1; /* the report says which version it is */
    if (p->phase == 2 && p->end_of_epoch) {
        double v;
        if (mlcl_trainer_get_param(t, MLCL_TRAIN_PARAM_FINETUNE_LR, &v) != MLCL_OK) return 1;
        if (mlcl_trainer_set_param(t, MLCL_TRAIN_PARAM_FINETUNE_LR, v / 2) != MLCL_OK) return 1;
    }
    return 0;
}

START_TEST(set_from_the_callback)
{
    mlcl_dataset *ds = mk_data();
    mlcl_trainer *t = mk_trainer(ds);
    ck_assert_ok(mlcl_trainer_set_callback(t, halve_lr, t));
    ck_assert_ok(mlcl_trainer_run(t));
    double v;
    ck_assert_ok(mlcl_trainer_get_param(t, MLCL_TRAIN_PARAM_FINETUNE_LR, &v));
    ck_assert(v == (double)(1e-2f / 4));
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
}
END_TEST

/* one source for every setting: a MoCo option that disagrees with the
 * trainer's is refused, naming both */
START_TEST(conflicting_options_are_refused)
{
    mlcl_dataset *ds = mk_data();
    mlcl_train_options o;
    mlcl_trainer *t = NULL;
    ck_assert_ok(mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION));
    o.batch = 16;
    o.method = MLCL_METHOD_MULSUPCON;
    mlcl_moco_options mo = MLCL_MOCO_OPTIONS_INIT;
    mlcl_loss_options lo = MLCL_LOSS_OPTIONS_INIT; /* LD / CLD: not MulSupCon */
    mo.loss = &lo;
    o.moco = &mo;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, ds), MLCL_EINVAL, "opts->method");
    ck_assert_msg(strstr(mlcl_last_error(), "opts->moco->loss"), "%s", mlcl_last_error());
    ck_assert_ptr_null(t);
    ck_assert_ok(mlcl_train_method_loss(&lo, o.method)); /* the method's loss, then any tau */
    lo.tau = 0.3f;
    mo.n_hidden = 1;
    static const int w[] = { 8 };
    mo.hidden = w;
    mo.proj_dim = 4;
    mo.queue_size = 16;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    double v;
    ck_assert_ok(mlcl_trainer_get_param(t, MLCL_TRAIN_PARAM_TAU, &v));
    ck_assert(v == (double)0.3f);
    mlcl_trainer_free(t);
    t = NULL;
    mlcl_optim_options opt = MLCL_MOCO_OPTIM_INIT;
    mo.optim = &opt;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, ds), MLCL_EINVAL, "opts->moco->optim");
    ck_assert_msg(strstr(mlcl_last_error(), "pretrain_lr"), "%s", mlcl_last_error());
    mo.optim = NULL;
    mo.in_dim = D + 1;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, ds), MLCL_EINVAL, "opts->moco->in_dim");
    mo.in_dim = D; /* agrees: accepted */
    mo.n_labels = C + 2;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, ds), MLCL_EINVAL, "opts->moco->n_labels");
    mo.n_labels = 0;
    mo.max_batch = 32;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, ds), MLCL_EINVAL, "opts->batch");
    mo.max_batch = 0;
    mo.seed = 9;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, ds), MLCL_EINVAL, "opts->seed");
    mo.seed = 0;
    mo.hidden = NULL;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, ds), MLCL_EINVAL, "opts->hidden is NULL");
    ck_assert_ptr_null(t);
    mo.n_hidden = 0; /* NULL and 0: the default widths */
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    mlcl_trainer_free(t);
    /* the STEP schedule's step size and gamma are options now */
    t = NULL;
    o.moco = NULL;
    o.pretrain_gamma = 0;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, ds), MLCL_EINVAL, "pretrain_gamma");
    o.pretrain_gamma = 0.5f;
    o.finetune_step_size = 0;
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, ds), MLCL_EINVAL, "finetune_step_size");
    mlcl_dataset_free(ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_params");
    TCase *tc = tcase_create("params");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bounds_and_round_trips);
    tcase_add_test(tc, settings_act_on_training);
    tcase_add_test(tc, same_value_is_bit_identical);
    tcase_add_test(tc, checkpoint_records_settings);
    tcase_add_test(tc, set_from_the_callback);
    tcase_add_test(tc, conflicting_options_are_refused);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
