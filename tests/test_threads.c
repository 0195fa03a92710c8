/* Concurrency: independent handles used from several threads at once give
 * results bit-identical to serial runs (loss computations, whole small
 * trainers), and error messages stay per thread. */
#include "testutil.h"
#include <math.h>
#include <pthread.h>

enum { NT = 4, LN = 16, LF = 32, LM = 16, LCL = 5, LH = 8, REPS = 40 };

typedef struct {
    int id;
    double loss[REPS];
    float grad_q[LN * LM], grad_d[LN * LCL], grad_W[LCL * LH];
    int rc;
} loss_job;

static void *loss_worker(void *arg)
{
    loss_job *j = arg;
    mlcl_rng *r;
    j->rc = mlcl_rng_create(&r, 100 + (uint64_t)j->id);
    if (j->rc) return NULL;
    mlcl_loss *L;
    mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
    o.variant = j->id % 2 ? MLCL_LD_RLD : MLCL_LD_CLD;
    o.sigma = 0.5f;
    if ((j->rc = mlcl_loss_create(&L, LN, LF, LM, LCL, &o))) { mlcl_rng_free(r); return NULL; }
    float q[LN * LM], k[LN * LM], kq[LF * LM], d[LN * LCL], dq[LF * LCL], W[LCL * LH];
    uint8_t y8[(LN + LF) * LCL];
    uint64_t y[LN], yq[LF];
    memset(j->grad_q, 0, sizeof j->grad_q);
    memset(j->grad_d, 0, sizeof j->grad_d);
    memset(j->grad_W, 0, sizeof j->grad_W);
    for (int rep = 0; rep < REPS && !j->rc; rep++) {
        float u[(LN + LF) * LCL];
        mlcl_rng_normal(r, q, LN * LM, 1.0f);
        mlcl_rng_normal(r, k, LN * LM, 1.0f);
        mlcl_rng_normal(r, kq, LF * LM, 1.0f);
        mlcl_l2norm_forward(q, NULL, q, LN, LM);
        mlcl_l2norm_forward(k, NULL, k, LN, LM);
        mlcl_l2norm_forward(kq, NULL, kq, LF, LM);
        mlcl_rng_normal(r, d, LN * LCL, 1.0f);
        mlcl_rng_normal(r, dq, LF * LCL, 1.0f);
        mlcl_softmax_forward(d, d, LN, LCL);
        mlcl_softmax_forward(dq, dq, LF, LCL);
        mlcl_rng_normal(r, W, LCL * LH, 0.1f);
        mlcl_rng_uniform(r, u, (LN + LF) * LCL);
        for (int i = 0; i < (LN + LF) * LCL; i++) y8[i] = u[i] < 0.4f;
        mlcl_labels_pack(y, y8, LN, LCL);
        mlcl_labels_pack(yq, y8 + LN * LCL, LF, LCL);
        mlcl_loss_parts p = MLCL_LOSS_PARTS_INIT;
        j->rc = mlcl_loss_compute(L, &p, j->grad_q, j->grad_d, j->grad_W, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = LN, .q = q, .k = k, .y = y, .d = d, .F = LF, .kq = kq, .yq = yq, .dq = dq, .W = W, .h = LH });
        j->loss[rep] = p.total;
    }
    mlcl_loss_free(L);
    mlcl_rng_free(r);
    return NULL;
}

START_TEST(loss_threads_equal_serial)
{
    ck_assert_ok(mlcl_set_num_threads(1));
    static loss_job serial[NT], par[NT];
    for (int i = 0; i < NT; i++) { serial[i].id = par[i].id = i; loss_worker(&serial[i]); ck_assert_ok(serial[i].rc); }
    pthread_t th[NT];
    for (int i = 0; i < NT; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, loss_worker, &par[i]), 0);
    for (int i = 0; i < NT; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NT; i++) {
        ck_assert_msg(par[i].rc == 0, "thread %d: %d", i, par[i].rc);
        ck_assert_mem_eq(par[i].loss, serial[i].loss, sizeof serial[i].loss);
        ck_assert_mem_eq(par[i].grad_q, serial[i].grad_q, sizeof serial[i].grad_q);
        ck_assert_mem_eq(par[i].grad_d, serial[i].grad_d, sizeof serial[i].grad_d);
        ck_assert_mem_eq(par[i].grad_W, serial[i].grad_W, sizeof serial[i].grad_W);
        ck_assert(isfinite(serial[i].loss[REPS - 1]));
    }
}
END_TEST

enum { TN = 48, TD = 6, TC = 4, TT = 3 };
typedef struct {
    int id;
    const mlcl_dataset *ds;
    float scores[TN * TC], dists[TN * TC];
    int rc;
    char msg[256];
} train_job;

static void *train_worker(void *arg)
{
    train_job *j = arg;
    mlcl_train_options o;
    mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION);
    o.method = j->id == 0 ? MLCL_METHOD_CLD : (j->id == 1 ? MLCL_METHOD_RLD : MLCL_METHOD_MULSUPCON);
    o.batch = 16; o.seed = 7 + (uint64_t)j->id;
    test_moco_of(&o)->o.n_hidden = 2; test_moco_of(&o)->hidden[0] = 24; test_moco_of(&o)->hidden[1] = 16; test_moco_of(&o)->o.proj_dim = 8;
    test_moco_of(&o)->o.queue_size = 32; test_moco_of(&o)->o.max_batch = 16;
    o.pretrain_epochs = 15; o.finetune_epochs = 5; o.pretrain_T_0 = 2; o.finetune_T_0 = 2;
    o.pretrain_lr = 1e-3f;
    mlcl_trainer *t = NULL;
    j->rc = mlcl_trainer_create(&t, &o, j->ds);
    if (!j->rc) j->rc = mlcl_trainer_run(t);
    if (!j->rc) j->rc = mlcl_trainer_predict(t, TN, mlcl_dataset_features(j->ds), j->scores);
    if (!j->rc) j->rc = mlcl_trainer_distributions(t, TN, mlcl_dataset_features(j->ds), j->dists);
    /* a per-thread error message */
    char want[64];
    snprintf(want, sizeof want, "got %d", -100 - j->id);
    mlcl_set_num_threads(-100 - j->id);
    snprintf(j->msg, sizeof j->msg, "%s|%s", want, mlcl_last_error());
    mlcl_trainer_free(t);
    return NULL;
}

START_TEST(trainers_threads_equal_serial)
{
    ck_assert_ok(mlcl_set_num_threads(1));
    float x[TN * TD];
    uint8_t y[TN * TC];
    for (int i = 0; i < TN; i++) {
        for (int j = 0; j < TC; j++) y[i * TC + j] = (uint8_t)(((i * 5 + j * 3) % 7) < 3);
        y[i * TC + i % TC] = 1;
        for (int f = 0; f < TD; f++) x[i * TD + f] = (float)((i * 11 + f * 5) % 9) / 9.0f + (y[i * TC + f % TC] ? 0.5f : 0.0f);
    }
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, TN, TD, TC, x, y));
    static train_job serial[TT], par[TT];
    for (int i = 0; i < TT; i++) {
        serial[i].id = par[i].id = i; serial[i].ds = par[i].ds = ds;
        train_worker(&serial[i]);
        ck_assert_msg(serial[i].rc == 0, "serial %d: %s", i, mlcl_last_error());
    }
    pthread_t th[TT];
    for (int i = 0; i < TT; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, train_worker, &par[i]), 0);
    for (int i = 0; i < TT; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < TT; i++) {
        ck_assert_msg(par[i].rc == 0, "thread %d: %d", i, par[i].rc);
        ck_assert_mem_eq(par[i].scores, serial[i].scores, sizeof serial[i].scores);
        ck_assert_mem_eq(par[i].dists, serial[i].dists, sizeof serial[i].dists);
        char *bar = strchr(par[i].msg, '|');
        ck_assert_ptr_nonnull(bar);
        *bar = '\0';
        ck_assert_msg(strstr(bar + 1, par[i].msg) != NULL, "thread %d saw message '%s'", i, bar + 1);
    }
    /* the methods differ, so the three runs must differ from each other */
    ck_assert(memcmp(serial[0].scores, serial[1].scores, sizeof serial[0].scores) != 0);
    mlcl_dataset_free(ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("concurrent");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, loss_threads_equal_serial);
    tcase_add_test(tc, trainers_threads_equal_serial);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
