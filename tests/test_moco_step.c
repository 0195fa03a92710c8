/* The MoCo step's rollback (moco.c): a step that fails after the key side
 * moved (the momentum update copies the key parameters as it reads them)
 * leaves the pair as it was, bit for bit: the next step of the pair equals
 * that of a twin that never saw the failed one. Checked with the branches
 * one after the other (n = 8) and side by side on two threads (n = 128). */
#include "testutil.h"
#include <math.h>
#include <string.h>

enum { D = 10, C = 5 };

static mlcl_moco *mk(int n)
{
    static test_moco t;
    mlcl_moco_options *o = test_moco_init(&t);
    o->in_dim = D; o->n_labels = C; o->n_hidden = 2; t.hidden[0] = 16; t.hidden[1] = 12;
    o->proj_dim = 6; o->queue_size = 2 * n; o->max_batch = n; o->seed = 5;
    o->dropout = 0.2f; o->proj_dropout = 0.1f;
    o->optim = &t.optim;
    o->loss = &t.loss;
    mlcl_moco *m = NULL;
    ck_assert_ok(mlcl_moco_create(&m, o));
    return m;
}

static void batch(int s, int n, float *x0, float *x1, uint64_t *y)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 40 + (uint64_t)s));
    ck_assert_ok(mlcl_rng_normal(r, x0, (size_t)n * D, 1.0f));
    ck_assert_ok(mlcl_rng_normal(r, x1, (size_t)n * D, 1.0f));
    for (int i = 0; i < n; i++) y[i] = (1u << (i % C)) | (1u << ((i * 3 + s) % C));
    mlcl_rng_free(r);
}

/* every parameter and BatchNorm statistic of the five networks, and the queue */
static void snapshot(mlcl_moco *m, float **out, size_t *len)
{
    size_t tot = 0;
    float *buf = NULL;
    for (int pass = 0; pass < 2; pass++) {
        size_t off = 0;
        for (int i = 0; i < 5; i++) {
            mlcl_encoder *e;
            size_t np, ns;
            ck_assert_ok(mlcl_moco_encoder(m, (mlcl_moco_part)i, &e));
            ck_assert_ok(mlcl_encoder_param_count(e, &np));
            ck_assert_ok(mlcl_encoder_state_count(e, &ns));
            if (pass) {
                ck_assert_ok(mlcl_encoder_get_params(e, buf + off, np));
                if (ns) ck_assert_ok(mlcl_encoder_get_state(e, buf + off + np, ns));
            }
            off += np + ns;
        }
        mlcl_queue *q;
        const float *f;
        int K, fm;
        ck_assert_ok(mlcl_moco_queue(m, &q));
        ck_assert_ok(mlcl_queue_capacity(q, &K));
        ck_assert_ok(mlcl_queue_feat_dim(q, &fm));
        ck_assert_ok(mlcl_queue_features(q, &f));
        if (pass) memcpy(buf + off, f, sizeof(float) * (size_t)K * fm);
        off += (size_t)K * fm;
        if (!pass) {
            tot = off;
            buf = malloc(sizeof(float) * tot);
            ck_assert_ptr_nonnull(buf);
        }
    }
    *out = buf;
    *len = tot;
}

static void rollback_case(int n, int threads)
{
    ck_assert_ok(mlcl_set_num_threads_forced(threads));
    mlcl_moco *a = mk(n), *b = mk(n);
    float *x0 = malloc(sizeof(float) * n * D), *x1 = malloc(sizeof(float) * n * D), *big = malloc(sizeof(float) * n * D);
    uint64_t *y = malloc(sizeof(uint64_t) * n);
    mlcl_loss_parts pa = MLCL_LOSS_PARTS_INIT, pb = MLCL_LOSS_PARTS_INIT;
    for (int s = 0; s < 2; s++) {
        batch(s, n, x0, x1, y);
        ck_assert_ok(mlcl_moco_step(a, n, x0, x1, y, &pa));
        ck_assert_ok(mlcl_moco_step(b, n, x0, x1, y, &pb));
    }
    float *before, *after;
    size_t len, len2;
    snapshot(a, &before, &len);
    /* a finite key view whose activations overflow: the query branch
     * succeeds, the key branch fails after the momentum update */
    batch(2, n, x0, x1, y);
    for (int i = 0; i < n * D; i++) big[i] = x1[i] > 0 ? 3e38f : -3e38f;
    ck_assert_int_eq(mlcl_moco_step(a, n, x0, big, y, NULL), MLCL_ENUMERIC);
    snapshot(a, &after, &len2);
    ck_assert_uint_eq(len, len2);
    ck_assert_msg(!memcmp(before, after, sizeof(float) * len), "the failed step changed the pair");
    long long steps;
    ck_assert_ok(mlcl_moco_steps(a, &steps));
    ck_assert_int_eq(steps, 2);
    /* the next step (dropout draws, BatchNorm statistics, queue, key
     * parameters and optimiser included) is the twin's, bit for bit */
    ck_assert_ok(mlcl_moco_step(a, n, x0, x1, y, &pa));
    ck_assert_ok(mlcl_moco_step(b, n, x0, x1, y, &pb));
    ck_assert(pa.total == pb.total && pa.con == pb.con && pa.H == pb.H && pa.G == pb.G);
    free(after);
    snapshot(a, &after, &len2);
    float *tb;
    snapshot(b, &tb, &len2);
    ck_assert_msg(!memcmp(tb, after, sizeof(float) * len), "the pair differs from its twin after the failed step");
    free(before); free(after); free(tb);
    free(x0); free(x1); free(big); free(y);
    mlcl_moco_free(a);
    mlcl_moco_free(b);
    ck_assert_ok(mlcl_set_num_threads(1));
}

START_TEST(rollback_sequential) { rollback_case(8, 1); }
END_TEST
START_TEST(rollback_parallel) { rollback_case(128, 2); }
END_TEST

int main(void)
{
    Suite *s = suite_create("moco_step");
    TCase *tc = tcase_create("rollback");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rollback_sequential);
    tcase_add_test(tc, rollback_parallel);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
