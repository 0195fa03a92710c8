/* The enum-keyed run-time settings of the MoCo pair (mlcl_moco_set_param,
 * _get_param, _param_bounds): bounds refused naming the parameter, values
 * read back, and each setting's effect on a step equal to creating the pair
 * with that option. */
#include "testutil.h"
#include <float.h>
#include <math.h>
#include <string.h>

enum { D = 10, C = 5, N = 8 };

/* the options in t->o, pointing at t's widths, loss and optimiser */
static void opts_init(test_moco *t)
{
    mlcl_moco_options *o = test_moco_init(t);
    o->in_dim = D; o->n_labels = C; o->n_hidden = 2; t->hidden[0] = 16; t->hidden[1] = 12;
    o->proj_dim = 6; o->queue_size = 16; o->max_batch = N; o->seed = 11;
    t->optim.lr = 1e-2f;
    o->optim = &t->optim;
    o->loss = &t->loss;
}
#define LOSS(o) ((mlcl_loss_options *)(o).loss)
#define OPTIM(o) ((mlcl_optim_options *)(o).optim)

static mlcl_moco *mk(const mlcl_moco_options *o)
{
    mlcl_moco *m = NULL;
    ck_assert_ok(mlcl_moco_create(&m, o));
    return m;
}

/* the same three batches for every pair */
static void batch(int s, float *x0, float *x1, uint64_t *y)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 100 + (uint64_t)s));
    ck_assert_ok(mlcl_rng_normal(r, x0, N * D, 1.0f));
    ck_assert_ok(mlcl_rng_normal(r, x1, N * D, 1.0f));
    for (int i = 0; i < N; i++) y[i] = (1u << (i % C)) | (1u << ((i * 3 + s) % C));
    mlcl_rng_free(r);
}

static void run(mlcl_moco *m, int steps, mlcl_loss_parts *last)
{
    float x0[N * D], x1[N * D];
    uint64_t y[N];
    for (int s = 0; s < steps; s++) {
        batch(s, x0, x1, y);
        ck_assert_ok(mlcl_moco_step(m, N, x0, x1, y, last));
    }
}

static void params_of(mlcl_moco *m, mlcl_moco_part part, float *out, size_t cap, size_t *n)
{
    mlcl_encoder *e;
    ck_assert_ok(mlcl_moco_encoder(m, part, &e));
    ck_assert_ok(mlcl_encoder_param_count(e, n));
    ck_assert(*n <= cap);
    ck_assert_ok(mlcl_encoder_get_params(e, out, *n));
}

static int same_params(mlcl_moco *a, mlcl_moco *b, mlcl_moco_part part)
{
    static float pa[4096], pb[4096];
    size_t na, nb;
    params_of(a, part, pa, 4096, &na);
    params_of(b, part, pb, 4096, &nb);
    return na == nb && memcmp(pa, pb, na * sizeof(float)) == 0;
}

START_TEST(bounds_are_refused_and_named)
{
    static const struct { mlcl_moco_param p; const char *name; double lo, hi, below, above; } T[] = {
        { MLCL_MOCO_PARAM_MOMENTUM, "MLCL_MOCO_PARAM_MOMENTUM (momentum)", 0, 1, -0.01, 1.01 },
        { MLCL_MOCO_PARAM_TAU, "MLCL_MOCO_PARAM_TAU (tau)", FLT_MIN, FLT_MAX, 0, INFINITY },
        { MLCL_MOCO_PARAM_LR, "MLCL_MOCO_PARAM_LR (lr)", 0, FLT_MAX, -1e-9, 1e39 },
        { MLCL_MOCO_PARAM_ALPHA, "MLCL_MOCO_PARAM_ALPHA (alpha)", 0, FLT_MAX, -1, 1e39 },
        { MLCL_MOCO_PARAM_BETA, "MLCL_MOCO_PARAM_BETA (beta)", 0, FLT_MAX, -1, 1e39 },
        { MLCL_MOCO_PARAM_SIGMA, "MLCL_MOCO_PARAM_SIGMA (sigma)", FLT_MIN, FLT_MAX, -0.5, 1e39 },
    };
    test_moco to;
    opts_init(&to);
    mlcl_moco_options o = to.o;
    mlcl_moco *m = mk(&o);
    for (size_t i = 0; i < sizeof T / sizeof *T; i++) {
        double lo, hi, before, after;
        ck_assert_ok(mlcl_moco_param_bounds(T[i].p, &lo, &hi));
        ck_assert(lo == T[i].lo && hi == T[i].hi);
        ck_assert_ok(mlcl_moco_get_param(m, T[i].p, &before));
        ck_assert_status_msg(mlcl_moco_set_param(m, T[i].p, T[i].below), MLCL_EINVAL, T[i].name);
        ck_assert_status_msg(mlcl_moco_set_param(m, T[i].p, T[i].above), MLCL_EINVAL, T[i].name);
        ck_assert_status_msg(mlcl_moco_set_param(m, T[i].p, NAN), MLCL_EINVAL, T[i].name);
        ck_assert_ok(mlcl_moco_get_param(m, T[i].p, &after));
        ck_assert(before == after); /* refused: the old value stays */
        /* the bounds themselves are accepted */
        ck_assert_ok(mlcl_moco_set_param(m, T[i].p, lo));
        ck_assert_ok(mlcl_moco_get_param(m, T[i].p, &after));
        ck_assert(after == (double)(float)lo);
        ck_assert_ok(mlcl_moco_set_param(m, T[i].p, hi));
        ck_assert_ok(mlcl_moco_get_param(m, T[i].p, &after));
        ck_assert(after == (double)(float)hi);
    }
    mlcl_moco_free(m);
}
END_TEST

START_TEST(values_read_back)
{
    test_moco to;
    opts_init(&to);
    mlcl_moco_options o = to.o;
    o.momentum = 0.99f; LOSS(o)->tau = 0.2f; LOSS(o)->alpha = 0.3f; LOSS(o)->beta = 0.4f; LOSS(o)->sigma = 0.5f;
    mlcl_moco *m = mk(&o);
    double v;
    ck_assert_ok(mlcl_moco_get_param(m, MLCL_MOCO_PARAM_MOMENTUM, &v)); ck_assert(v == (double)0.99f);
    ck_assert_ok(mlcl_moco_get_param(m, MLCL_MOCO_PARAM_TAU, &v)); ck_assert(v == (double)0.2f);
    ck_assert_ok(mlcl_moco_get_param(m, MLCL_MOCO_PARAM_ALPHA, &v)); ck_assert(v == (double)0.3f);
    ck_assert_ok(mlcl_moco_get_param(m, MLCL_MOCO_PARAM_BETA, &v)); ck_assert(v == (double)0.4f);
    ck_assert_ok(mlcl_moco_get_param(m, MLCL_MOCO_PARAM_SIGMA, &v)); ck_assert(v == (double)0.5f);
    ck_assert_ok(mlcl_moco_get_param(m, MLCL_MOCO_PARAM_LR, &v)); ck_assert(v == (double)1e-2f);
    ck_assert_ok(mlcl_moco_set_param(m, MLCL_MOCO_PARAM_LR, 3e-4));
    ck_assert_ok(mlcl_moco_get_param(m, MLCL_MOCO_PARAM_LR, &v)); ck_assert(v == (double)3e-4f);
    /* every optimiser group got it */
    mlcl_optim *op;
    int ng;
    ck_assert_ok(mlcl_moco_optim(m, &op));
    ck_assert_ok(mlcl_optim_num_groups(op, &ng));
    ck_assert_int_eq(ng, 3);
    for (int g = 0; g < ng; g++) {
        float lr;
        ck_assert_ok(mlcl_optim_get_lr(op, g, &lr));
        ck_assert(lr == 3e-4f);
    }
    /* the loss handle sees the new tau */
    ck_assert_ok(mlcl_moco_set_param(m, MLCL_MOCO_PARAM_TAU, 0.07));
    ck_assert_ok(mlcl_moco_get_param(m, MLCL_MOCO_PARAM_TAU, &v)); ck_assert(v == (double)0.07f);
    mlcl_moco_free(m);
}
END_TEST

/* Setting a parameter on a pair created with the default equals creating it
 * with that value (bit for bit), and differs from not setting it. */
static void check_effect(mlcl_moco_param p, double value, void (*set_opt)(mlcl_moco_options *, double),
                         mlcl_moco_part part)
{
    test_moco to, to2;
    opts_init(&to); opts_init(&to2);
    mlcl_moco_options o = to.o, o2 = to2.o;
    set_opt(&o2, value);
    mlcl_moco *a = mk(&o), *b = mk(&o2), *ref = mk(&o);
    mlcl_loss_parts pa = MLCL_LOSS_PARTS_INIT, pb = MLCL_LOSS_PARTS_INIT, pr = MLCL_LOSS_PARTS_INIT;
    run(a, 1, &pa); run(b, 1, &pb); run(ref, 1, &pr);
    ck_assert_ok(mlcl_moco_set_param(a, p, value)); /* from the second step on */
    ck_assert_ok(mlcl_moco_set_param(b, p, value)); /* (b already has it: same value) */
    run(a, 3, &pa);
    /* a: default for one step, then value; compare with ref (never set) and
     * with a pair that got the value by set_param before its first step */
    mlcl_moco *c = mk(&o);
    ck_assert_ok(mlcl_moco_set_param(c, p, value));
    mlcl_loss_parts pc = MLCL_LOSS_PARTS_INIT;
    run(c, 1, &pc); /* the same batches as b: 0, then 0, 1, 2 */
    run(c, 3, &pc);
    run(b, 3, &pb);
    run(ref, 3, &pr);
    ck_assert_msg(pc.total == pb.total, "set_param before the first step %a != created with it %a", pc.total, pb.total);
    ck_assert(same_params(c, b, part));
    ck_assert_msg(pa.total != pr.total, "the setting had no effect on the loss");
    ck_assert(!same_params(a, ref, part));
    mlcl_moco_free(a); mlcl_moco_free(b); mlcl_moco_free(c); mlcl_moco_free(ref);
}

static void o_tau(mlcl_moco_options *o, double v) { LOSS(*o)->tau = (float)v; }
static void o_alpha(mlcl_moco_options *o, double v) { LOSS(*o)->alpha = (float)v; }
static void o_beta(mlcl_moco_options *o, double v) { LOSS(*o)->beta = (float)v; }
static void o_momentum(mlcl_moco_options *o, double v) { o->momentum = (float)v; }
static void o_lr(mlcl_moco_options *o, double v) { OPTIM(*o)->lr = (float)v; }

START_TEST(tau_in_a_step) { check_effect(MLCL_MOCO_PARAM_TAU, 0.5, o_tau, MLCL_MOCO_QUERY_BACKBONE); }
END_TEST
START_TEST(alpha_in_a_step) { check_effect(MLCL_MOCO_PARAM_ALPHA, 2.0, o_alpha, MLCL_MOCO_LD_HEAD); }
END_TEST
START_TEST(beta_in_a_step) { check_effect(MLCL_MOCO_PARAM_BETA, 0.0, o_beta, MLCL_MOCO_LD_HEAD); }
END_TEST
START_TEST(momentum_in_a_step) { check_effect(MLCL_MOCO_PARAM_MOMENTUM, 0.5, o_momentum, MLCL_MOCO_KEY_BACKBONE); }
END_TEST
START_TEST(lr_in_a_step) { check_effect(MLCL_MOCO_PARAM_LR, 0.1, o_lr, MLCL_MOCO_QUERY_BACKBONE); }
END_TEST

START_TEST(lr_zero_freezes_the_query_side)
{
    test_moco to;
    opts_init(&to);
    mlcl_moco_options o = to.o;
    mlcl_moco *m = mk(&o);
    run(m, 1, NULL);
    ck_assert_ok(mlcl_moco_set_param(m, MLCL_MOCO_PARAM_LR, 0));
    static float before[4096], after[4096];
    size_t n1, n2;
    params_of(m, MLCL_MOCO_QUERY_BACKBONE, before, 4096, &n1);
    run(m, 2, NULL);
    params_of(m, MLCL_MOCO_QUERY_BACKBONE, after, 4096, &n2);
    ck_assert(n1 == n2 && memcmp(before, after, n1 * sizeof(float)) == 0);
    mlcl_moco_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("moco_param");
    TCase *tc = tcase_create("param");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bounds_are_refused_and_named);
    tcase_add_test(tc, values_read_back);
    tcase_add_test(tc, tau_in_a_step);
    tcase_add_test(tc, alpha_in_a_step);
    tcase_add_test(tc, beta_in_a_step);
    tcase_add_test(tc, momentum_in_a_step);
    tcase_add_test(tc, lr_in_a_step);
    tcase_add_test(tc, lr_zero_freezes_the_query_side);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
