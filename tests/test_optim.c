/* optim: SGD / Adam / AdamW against PyTorch 1.13 numbers and a plain
 * double-precision second implementation; parameter groups; state round
 * trips; non-finite gradients; learning-rate schedules against PyTorch. */
#include "testutil.h"
#include <math.h>

static const float P0[5] = { 0.5f, -1.0f, 2.0f, 0.0f, -0.3f };
static void grads_at(int t, float g[5])
{
    g[0] = (float)(0.1 * (t + 1)); g[1] = -0.2f; g[2] = (float)(0.3 / (t + 1)); g[3] = 1.0f; g[4] = (float)(-0.05 * t);
}

/* Parameters after steps 1..4 from P0 with the gradients of grads_at(),
 * produced by /usr/bin/python3 with torch 1.13.0a0 (float32), script:
 *   p = torch.nn.Parameter(torch.tensor(P0)); o = <optimiser>([p])
 *   for t in range(4): p.grad = torch.tensor(grads(t)); o.step(); print(p) */
static const float TORCH_SGD[4][5] = { /* SGD(lr=.1) */
    {4.900000095e-01f, -9.800000191e-01f, 1.970000029e+00f, -1.000000015e-01f, -3.000000119e-01f},
    {4.699999988e-01f, -9.600000381e-01f, 1.955000043e+00f, -2.000000030e-01f, -2.950000167e-01f},
    {4.399999976e-01f, -9.400000572e-01f, 1.945000052e+00f, -3.000000119e-01f, -2.850000262e-01f},
    {4.000000060e-01f, -9.200000763e-01f, 1.937500000e+00f, -4.000000060e-01f, -2.700000107e-01f} };
static const float TORCH_SGD_MOM[4][5] = { /* SGD(lr=.1, momentum=.9, dampening=.1, weight_decay=.01) */
    {4.894999862e-01f, -9.789999723e-01f, 1.968000054e+00f, -1.000000015e-01f, -2.997000217e-01f},
    {4.616094232e-01f, -9.412188530e-01f, 1.923928857e+00f, -2.799099982e-01f, -2.946603000e-01f},
    {4.090924859e-01f, -8.883687854e-01f, 1.873533249e+00f, -5.315770507e-01f, -2.808593512e-01f},
    {3.254590631e-01f, -8.220041990e-01f, 1.819741011e+00f, -8.475989699e-01f, -2.546857297e-01f} };
static const float TORCH_SGD_NESTEROV[4][5] = { /* SGD(lr=.05, momentum=.8, nesterov=True, weight_decay=.1) */
    {4.864999950e-01f, -9.729999900e-01f, 1.955000043e+00f, -8.999999613e-02f, -2.973000109e-01f},
    {4.593214989e-01f, -9.366430044e-01f, 1.907904983e+00f, -2.111900002e-01f, -2.891643047e-01f},
    {4.163908064e-01f, -8.930196166e-01f, 1.857877851e+00f, -3.566012979e-01f, -2.742424607e-01f},
    {3.561360240e-01f, -8.438302875e-01f, 1.806016803e+00f, -5.205656886e-01f, -2.514934540e-01f} };
static const float TORCH_ADAM_WD[4][5] = { /* Adam(lr=.01, weight_decay=.1) */
    {4.900000095e-01f, -9.900000095e-01f, 1.990000010e+00f, -9.999999776e-03f, -2.900000215e-01f},
    {4.801687002e-01f, -9.800009131e-01f, 1.980245829e+00f, -1.999973692e-02f, -2.806651890e-01f},
    {4.703945816e-01f, -9.700032473e-01f, 1.970665693e+00f, -2.999903634e-02f, -2.713597119e-01f},
    {4.606137872e-01f, -9.600076675e-01f, 1.961218357e+00f, -3.999772668e-02f, -2.619771659e-01f} };
static const float TORCH_ADAM_BETAS[4][5] = { /* Adam(lr=.01, betas=(.8, .99), eps=1e-3) */
    {4.900990129e-01f, -9.900497794e-01f, 1.990033269e+00f, -9.990010411e-03f, -3.000000119e-01f},
    {4.803372622e-01f, -9.800995588e-01f, 1.980922461e+00f, -1.998002082e-02f, -2.923779786e-01f},
    {4.704700708e-01f, -9.701493382e-01f, 1.972580314e+00f, -2.997003123e-02f, -2.836592495e-01f},
    {4.604157209e-01f, -9.601991177e-01f, 1.964925051e+00f, -3.996004164e-02f, -2.743211389e-01f} };
static const float TORCH_ADAMW[4][5] = { /* AdamW(lr=.01, weight_decay=.1) */
    {4.895000160e-01f, -9.890000224e-01f, 1.988000035e+00f, -9.999999776e-03f, -2.997000217e-01f},
    {4.793587029e-01f, -9.780110717e-01f, 1.976690292e+00f, -1.999000087e-02f, -2.919589579e-01f},
    {4.692993462e-01f, -9.670330882e-01f, 1.965982080e+00f, -2.997001074e-02f, -2.833812833e-01f},
    {4.592259526e-01f, -9.560660720e-01f, 1.955803633e+00f, -3.994004056e-02f, -2.743829489e-01f} };

static mlcl_optim_options opts_of(int type, float lr, float mom, float damp, int nest, float b1, float b2,
                                  float eps, float wd)
{
    mlcl_optim_options o;
    ck_assert_ok(mlcl_optim_options_init(&o, MLCL_OPTIM_OPTIONS_VERSION));
    o.type = type; o.lr = lr; o.momentum = mom; o.dampening = damp; o.nesterov = nest;
    o.beta1 = b1; o.beta2 = b2; o.eps = eps; o.weight_decay = wd;
    return o;
}

static void against_torch(mlcl_optim_options o, const float expect[4][5])
{
    float p[5], g[5];
    memcpy(p, P0, sizeof p);
    mlcl_optim *opt;
    ck_assert_ok(mlcl_optim_create(&opt, &o));
    ck_assert_ok(mlcl_optim_add_group(opt, p, g, 5, o.lr, o.weight_decay, NULL));
    for (int t = 0; t < 4; t++) {
        grads_at(t, g);
        ck_assert_ok(mlcl_optim_step(opt));
        for (int k = 0; k < 5; k++)
            ck_assert_msg(fabs(p[k] - expect[t][k]) <= 2e-6 * (1 + fabs(expect[t][k])),
                          "type %d step %d p[%d] = %.9g, torch %.9g", o.type, t + 1, k, p[k], expect[t][k]);
    }
    int64_t st;
    ck_assert_ok(mlcl_optim_get_step(opt, 0, &st));
    ck_assert_int_eq(st, 4);
    mlcl_optim_free(opt);
}

START_TEST(torch_numbers)
{
    against_torch(opts_of(MLCL_OPTIM_SGD, 0.1f, 0, 0, 0, .9f, .999f, 1e-8f, 0), TORCH_SGD);
    against_torch(opts_of(MLCL_OPTIM_SGD, 0.1f, 0.9f, 0.1f, 0, .9f, .999f, 1e-8f, 0.01f), TORCH_SGD_MOM);
    against_torch(opts_of(MLCL_OPTIM_SGD, 0.05f, 0.8f, 0, 1, .9f, .999f, 1e-8f, 0.1f), TORCH_SGD_NESTEROV);
    against_torch(opts_of(MLCL_OPTIM_ADAM, 0.01f, 0, 0, 0, .9f, .999f, 1e-8f, 0.1f), TORCH_ADAM_WD);
    against_torch(opts_of(MLCL_OPTIM_ADAM, 0.01f, 0, 0, 0, .8f, .99f, 1e-3f, 0), TORCH_ADAM_BETAS);
    against_torch(opts_of(MLCL_OPTIM_ADAMW, 0.01f, 0, 0, 0, .9f, .999f, 1e-8f, 0.1f), TORCH_ADAMW);
}
END_TEST

/* A plain double-precision second implementation of PyTorch 1.13's rules. */
typedef struct { double p[64], m[64], v[64]; int t; } ref_state;
static void ref_step(const mlcl_optim_options *o, double lr, double wd, ref_state *s, const float *g, int n)
{
    s->t++;
    for (int k = 0; k < n; k++) {
        double d = g[k];
        if (o->type == MLCL_OPTIM_SGD) {
            d += wd * s->p[k];
            if (o->momentum != 0) {
                s->m[k] = s->t == 1 ? d : o->momentum * s->m[k] + (1 - (double)o->dampening) * d;
                d = o->nesterov ? d + o->momentum * s->m[k] : s->m[k];
            }
            s->p[k] -= lr * d;
        } else {
            if (o->type == MLCL_OPTIM_ADAMW) s->p[k] *= 1 - lr * wd;
            else d += wd * s->p[k];
            s->m[k] = o->beta1 * s->m[k] + (1 - (double)o->beta1) * d;
            s->v[k] = o->beta2 * s->v[k] + (1 - (double)o->beta2) * d * d;
            double mh = s->m[k] / (1 - pow(o->beta1, s->t)), vh = s->v[k] / (1 - pow(o->beta2, s->t));
            s->p[k] -= lr * mh / (sqrt(vh) + o->eps);
        }
    }
}

static void against_ref(mlcl_optim_options o, uint64_t seed)
{
    enum { N = 37, STEPS = 12 };
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed));
    float p[N], g[N];
    ref_state s;
    memset(&s, 0, sizeof s);
    ck_assert_ok(mlcl_rng_normal(r, p, N, 1.0f));
    for (int k = 0; k < N; k++) s.p[k] = p[k];
    mlcl_optim *opt;
    ck_assert_ok(mlcl_optim_create(&opt, &o));
    ck_assert_ok(mlcl_optim_add_group(opt, p, g, N, o.lr, o.weight_decay, NULL));
    for (int t = 0; t < STEPS; t++) {
        ck_assert_ok(mlcl_rng_normal(r, g, N, 0.5f));
        if (t == 3) g[5] = 0.0f; /* a zero gradient */
        double lr = o.lr * (t < 6 ? 1.0 : 0.5);
        if (t == 6) ck_assert_ok(mlcl_optim_set_lr(opt, 0, (float)lr)); /* a scheduler's change */
        ref_step(&o, (float)lr, o.weight_decay, &s, g, N);
        ck_assert_ok(mlcl_optim_step(opt));
        for (int k = 0; k < N; k++)
            ck_assert_msg(fabs(p[k] - s.p[k]) <= 2e-5 * (1 + fabs(s.p[k])), "type %d step %d p[%d] = %.9g, reference %.9g",
                          o.type, t + 1, k, p[k], s.p[k]);
    }
    mlcl_optim_free(opt);
    mlcl_rng_free(r);
}

START_TEST(plain_reference)
{
    against_ref(opts_of(MLCL_OPTIM_SGD, 0.05f, 0, 0, 0, .9f, .999f, 1e-8f, 0), 1);
    against_ref(opts_of(MLCL_OPTIM_SGD, 0.05f, 0.9f, 0, 0, .9f, .999f, 1e-8f, 1e-3f), 2);
    against_ref(opts_of(MLCL_OPTIM_SGD, 0.05f, 0.5f, 0.3f, 0, .9f, .999f, 1e-8f, 0), 3);
    against_ref(opts_of(MLCL_OPTIM_SGD, 0.05f, 0.9f, 0, 1, .9f, .999f, 1e-8f, 1e-2f), 4);
    against_ref(opts_of(MLCL_OPTIM_ADAM, 4e-4f, 0, 0, 0, .9f, .999f, 1e-8f, 1e-5f), 5);
    against_ref(opts_of(MLCL_OPTIM_ADAM, 1e-2f, 0, 0, 0, .5f, .9f, 1e-6f, 0.0f), 6);
    against_ref(opts_of(MLCL_OPTIM_ADAMW, 4e-5f, 0, 0, 0, .9f, .999f, 1e-8f, 1e-4f), 7);
    against_ref(opts_of(MLCL_OPTIM_ADAMW, 1e-2f, 0, 0, 0, .9f, .99f, 1e-8f, 0.5f), 8);
}
END_TEST

START_TEST(groups_and_lr)
{
    /* two groups with their own lr/wd == two separate optimisers */
    mlcl_optim_options o = opts_of(MLCL_OPTIM_ADAMW, 1e-3f, 0, 0, 0, .9f, .999f, 1e-8f, 0);
    float a[4] = { 1, 2, 3, 4 }, b[3] = { -1, 0.5f, 2 }, ga[4] = { .1f, -.2f, .3f, 0 }, gb[3] = { 1, -1, .5f };
    float a2[4], b2[3];
    memcpy(a2, a, sizeof a); memcpy(b2, b, sizeof b);
    mlcl_optim *o1, *oa, *ob;
    int id0, id1, ng;
    ck_assert_ok(mlcl_optim_create(&o1, &o));
    ck_assert_ok(mlcl_optim_add_group(o1, a, ga, 4, 0.01f, 0.1f, &id0));
    ck_assert_ok(mlcl_optim_add_group(o1, b, gb, 3, 0.002f, 0.0f, &id1));
    ck_assert_int_eq(id0, 0);
    ck_assert_int_eq(id1, 1);
    ck_assert_ok(mlcl_optim_num_groups(o1, &ng));
    ck_assert_int_eq(ng, 2);
    ck_assert_ok(mlcl_optim_create(&oa, &o));
    ck_assert_ok(mlcl_optim_add_group(oa, a2, ga, 4, 0.01f, 0.1f, NULL));
    ck_assert_ok(mlcl_optim_create(&ob, &o));
    ck_assert_ok(mlcl_optim_add_group(ob, b2, gb, 3, 0.002f, 0.0f, NULL));
    for (int t = 0; t < 3; t++) {
        ck_assert_ok(mlcl_optim_step(o1));
        ck_assert_ok(mlcl_optim_step(oa));
        ck_assert_ok(mlcl_optim_step(ob));
    }
    ck_assert_mem_eq(a, a2, sizeof a);
    ck_assert_mem_eq(b, b2, sizeof b);
    float lr;
    ck_assert_ok(mlcl_optim_get_lr(o1, 1, &lr));
    ck_assert_float_eq(lr, 0.002f);
    ck_assert_ok(mlcl_optim_set_lr(o1, -1, 0.5f));
    ck_assert_ok(mlcl_optim_get_lr(o1, 0, &lr));
    ck_assert_float_eq(lr, 0.5f);
    ck_assert_ok(mlcl_optim_get_lr(o1, 1, &lr));
    ck_assert_float_eq(lr, 0.5f);
    ck_assert_ok(mlcl_optim_set_lr(o1, 1, 0.25f));
    ck_assert_ok(mlcl_optim_get_lr(o1, 0, &lr));
    ck_assert_float_eq(lr, 0.5f);
    /* lr 0 with AdamW: no change at all (decay is lr * wd) */
    ck_assert_ok(mlcl_optim_set_lr(o1, -1, 0.0f));
    memcpy(a2, a, sizeof a);
    ck_assert_ok(mlcl_optim_step(o1));
    ck_assert_mem_eq(a, a2, sizeof a);
    ck_assert_status_msg(mlcl_optim_set_lr(o1, 2, 0.1f), MLCL_EINVAL, "group 2");
    ck_assert_status_msg(mlcl_optim_get_lr(o1, -1, &lr), MLCL_EINVAL, "group -1");
    ck_assert_status_msg(mlcl_optim_set_lr(o1, 0, -1.0f), MLCL_EINVAL, "lr");
    ck_assert_status_msg(mlcl_optim_set_lr(o1, 0, INFINITY), MLCL_EINVAL, "lr");
    mlcl_optim_free(o1); mlcl_optim_free(oa); mlcl_optim_free(ob);
}
END_TEST

START_TEST(state_round_trip)
{
    static const int types[3] = { MLCL_OPTIM_SGD, MLCL_OPTIM_ADAM, MLCL_OPTIM_ADAMW };
    for (int ti = 0; ti < 3; ti++) {
        mlcl_optim_options o = opts_of(types[ti], 0.01f, 0.9f, 0, 0, .9f, .999f, 1e-8f, 0.01f);
        float p[6] = { 1, -1, 2, -2, 0.5f, 0 }, q[6], g[6] = { .3f, -.1f, .2f, .5f, -.4f, .05f };
        float p2[4] = { 3, 2, 1, 0 }, q2[4], g2[4] = { -.2f, .1f, .3f, .7f };
        mlcl_optim *A, *B;
        ck_assert_ok(mlcl_optim_create(&A, &o));
        ck_assert_ok(mlcl_optim_add_group(A, p, g, 6, 0.01f, 0.01f, NULL));
        ck_assert_ok(mlcl_optim_add_group(A, p2, g2, 4, 0.02f, 0.0f, NULL));
        for (int t = 0; t < 3; t++) ck_assert_ok(mlcl_optim_step(A));
        size_t ns;
        ck_assert_ok(mlcl_optim_state_count(A, &ns));
        ck_assert_uint_eq(ns, (types[ti] == MLCL_OPTIM_SGD ? 1u : 2u) * 10u);
        float *st = malloc(ns * sizeof(float));
        ck_assert_ok(mlcl_optim_get_state(A, st, ns));
        /* layout: group 0 first moments first; Adam's exp_avg after one step is (1-b1) g */
        ck_assert_ok(mlcl_optim_create(&B, &o));
        memcpy(q, p, sizeof p); memcpy(q2, p2, sizeof p2);
        ck_assert_ok(mlcl_optim_add_group(B, q, g, 6, 0.01f, 0.01f, NULL));
        ck_assert_ok(mlcl_optim_add_group(B, q2, g2, 4, 0.02f, 0.0f, NULL));
        ck_assert_ok(mlcl_optim_set_state(B, st, ns));
        ck_assert_ok(mlcl_optim_set_step(B, -1, 3));
        for (int t = 0; t < 2; t++) { ck_assert_ok(mlcl_optim_step(A)); ck_assert_ok(mlcl_optim_step(B)); }
        ck_assert_mem_eq(p, q, sizeof p);
        ck_assert_mem_eq(p2, q2, sizeof p2);
        /* zero_state == a fresh optimiser */
        mlcl_optim *C;
        ck_assert_ok(mlcl_optim_zero_state(B));
        int64_t step;
        ck_assert_ok(mlcl_optim_get_step(B, 1, &step));
        ck_assert_int_eq(step, 0);
        ck_assert_ok(mlcl_optim_create(&C, &o));
        float r[6];
        memcpy(r, q, sizeof q);
        ck_assert_ok(mlcl_optim_add_group(C, r, g, 6, 0.01f, 0.01f, NULL));
        float r2[4];
        memcpy(r2, q2, sizeof q2);
        ck_assert_ok(mlcl_optim_add_group(C, r2, g2, 4, 0.02f, 0.0f, NULL));
        ck_assert_ok(mlcl_optim_step(B));
        ck_assert_ok(mlcl_optim_step(C));
        ck_assert_mem_eq(q, r, sizeof q);
        /* bad sizes and values */
        ck_assert_status_msg(mlcl_optim_set_state(B, st, ns - 1), MLCL_EINVAL, "state count");
        st[0] = NAN;
        ck_assert_status_msg(mlcl_optim_set_state(B, st, ns), MLCL_ENUMERIC, "src[0]");
        if (types[ti] != MLCL_OPTIM_SGD) {
            st[0] = 0.0f; st[6] = -1.0f; /* group 0's exp_avg_sq */
            ck_assert_status_msg(mlcl_optim_set_state(B, st, ns), MLCL_EINVAL, "exp_avg_sq of group 0");
        }
        ck_assert_status_msg(mlcl_optim_set_step(B, 0, -1), MLCL_EINVAL, "step");
        ck_assert_status_msg(mlcl_optim_get_step(B, 5, &step), MLCL_EINVAL, "group 5");
        free(st);
        mlcl_optim_free(A); mlcl_optim_free(B); mlcl_optim_free(C);
    }
    /* SGD without momentum keeps no state */
    mlcl_optim_options o = opts_of(MLCL_OPTIM_SGD, 0.1f, 0, 0, 0, .9f, .999f, 1e-8f, 0);
    mlcl_optim *S;
    float p[2] = { 1, 2 }, g[2] = { 1, 1 };
    size_t ns;
    ck_assert_ok(mlcl_optim_create(&S, &o));
    ck_assert_ok(mlcl_optim_add_group(S, p, g, 2, 0.1f, 0, NULL));
    ck_assert_ok(mlcl_optim_state_count(S, &ns));
    ck_assert_uint_eq(ns, 0);
    ck_assert_ok(mlcl_optim_get_state(S, NULL, 0));
    mlcl_optim_free(S);
}
END_TEST

START_TEST(non_finite_gradient)
{
    mlcl_optim_options o = opts_of(MLCL_OPTIM_ADAM, 0.01f, 0, 0, 0, .9f, .999f, 1e-8f, 0);
    float a[3] = { 1, 2, 3 }, ga[3] = { .1f, .1f, .1f }, b[5] = { 0, 1, 2, 3, 4 }, gb[5] = { 1, 1, 1, 1, 1 };
    mlcl_optim *opt;
    ck_assert_ok(mlcl_optim_create(&opt, &o));
    ck_assert_ok(mlcl_optim_add_group(opt, a, ga, 3, 0.01f, 0, NULL));
    ck_assert_ok(mlcl_optim_add_group(opt, b, gb, 5, 0.01f, 0, NULL));
    ck_assert_ok(mlcl_optim_step(opt));
    float a0[3], b0[5], st0[16], st1[16];
    memcpy(a0, a, sizeof a); memcpy(b0, b, sizeof b);
    ck_assert_ok(mlcl_optim_get_state(opt, st0, 16));
    gb[3] = NAN;
    ck_assert_status_msg(mlcl_optim_step(opt), MLCL_ENUMERIC, "group 1, index 3");
    gb[3] = -INFINITY;
    ck_assert_status_msg(mlcl_optim_step(opt), MLCL_ENUMERIC, "group 1, index 3");
    ck_assert_mem_eq(a, a0, sizeof a); /* group 0 comes first but is untouched too */
    ck_assert_mem_eq(b, b0, sizeof b);
    ck_assert_ok(mlcl_optim_get_state(opt, st1, 16));
    ck_assert_mem_eq(st0, st1, sizeof st0);
    int64_t step;
    ck_assert_ok(mlcl_optim_get_step(opt, 0, &step));
    ck_assert_int_eq(step, 1);
    mlcl_optim_free(opt);
}
END_TEST

START_TEST(optim_bad_arguments)
{
    mlcl_optim_options a = MLCL_OPTIM_OPTIONS_INIT, b;
    ck_assert_ok(mlcl_optim_options_init(&b, MLCL_OPTIM_OPTIONS_VERSION));
    ck_assert_mem_eq(&a, &b, sizeof a);
    ck_assert_status_msg(mlcl_optim_options_init(&b, 0), MLCL_EVERSION, "version");
    ck_assert_status_msg(mlcl_optim_options_init(NULL, MLCL_OPTIM_OPTIONS_VERSION), MLCL_EINVAL, "opts");
    mlcl_optim *o;
    ck_assert_status_msg(mlcl_optim_create(NULL, &a), MLCL_EINVAL, "out");
    ck_assert_status_msg(mlcl_optim_create(&o, NULL), MLCL_EINVAL, "opts");
    b = a; b.version = 7;
    ck_assert_status_msg(mlcl_optim_create(&o, &b), MLCL_EVERSION, "version 7");
    b = a; b.type = 3;
    ck_assert_status_msg(mlcl_optim_create(&o, &b), MLCL_EINVAL, "type");
    b = a; b.lr = -1;
    ck_assert_status_msg(mlcl_optim_create(&o, &b), MLCL_EINVAL, "lr");
    b = a; b.lr = NAN;
    ck_assert_status_msg(mlcl_optim_create(&o, &b), MLCL_EINVAL, "lr");
    b = a; b.beta1 = 1.0f;
    ck_assert_status_msg(mlcl_optim_create(&o, &b), MLCL_EINVAL, "beta1");
    b = a; b.beta2 = -0.1f;
    ck_assert_status_msg(mlcl_optim_create(&o, &b), MLCL_EINVAL, "beta2");
    b = a; b.eps = -1e-8f;
    ck_assert_status_msg(mlcl_optim_create(&o, &b), MLCL_EINVAL, "eps");
    b = a; b.weight_decay = -1e-4f;
    ck_assert_status_msg(mlcl_optim_create(&o, &b), MLCL_EINVAL, "weight_decay");
    b = a; b.type = MLCL_OPTIM_SGD; b.nesterov = 1;
    ck_assert_status_msg(mlcl_optim_create(&o, &b), MLCL_EINVAL, "nesterov");
    b.momentum = 0.9f; b.dampening = 0.1f;
    ck_assert_status_msg(mlcl_optim_create(&o, &b), MLCL_EINVAL, "dampening");
    b = a; b.momentum = -0.5f;
    ck_assert_status_msg(mlcl_optim_create(&o, &b), MLCL_EINVAL, "momentum");
    ck_assert_ok(mlcl_optim_create(&o, &a));
    float p[2] = { 0 }, g[2] = { 0 };
    ck_assert_status_msg(mlcl_optim_add_group(NULL, p, g, 2, .1f, 0, NULL), MLCL_EINVAL, "o");
    ck_assert_status_msg(mlcl_optim_add_group(o, NULL, g, 2, .1f, 0, NULL), MLCL_EINVAL, "params");
    ck_assert_status_msg(mlcl_optim_add_group(o, p, NULL, 2, .1f, 0, NULL), MLCL_EINVAL, "grads");
    ck_assert_status_msg(mlcl_optim_add_group(o, p, g, 0, .1f, 0, NULL), MLCL_EINVAL, "n must be");
    ck_assert_status_msg(mlcl_optim_add_group(o, p, g, 2, -.1f, 0, NULL), MLCL_EINVAL, "lr");
    ck_assert_status_msg(mlcl_optim_add_group(o, p, g, 2, .1f, NAN, NULL), MLCL_EINVAL, "weight_decay");
    ck_assert_ok(mlcl_optim_step(o)); /* no group: nothing to do */
    ck_assert_status_msg(mlcl_optim_step(NULL), MLCL_EINVAL, "o");
    ck_assert_status_msg(mlcl_optim_get_state(o, NULL, 3), MLCL_EINVAL, "n = 3");
    mlcl_optim_free(o);
    mlcl_optim_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------ schedules */

/* {epoch, lr} from torch 1.13 (/usr/bin/python3): an SGD optimiser with the
 * base rate, the scheduler stepped with sched.step(epoch), then
 * o.param_groups[0]['lr'] printed with %.9e. */
typedef struct { double epoch, lr; } sched_pt;
static const sched_pt SGDR_50_2[] = { /* CosineAnnealingWarmRestarts(T_0=50, T_mult=2, eta_min=1e-5), lr 4e-5 */
    {0, 4.000000000e-05}, {1, 3.997040093e-05}, {25, 2.500000000e-05}, {49, 1.002959907e-05},
    {49.5, 1.000740159e-05}, {50, 4.000000000e-05}, {51, 3.999259841e-05}, {100, 2.500000000e-05},
    {149, 1.000740159e-05}, {149.99, 1.000000074e-05}, {150, 4.000000000e-05}, {151, 3.999814949e-05},
    {349.5, 1.000046264e-05}, {350, 4.000000000e-05}, {351, 3.999953736e-05}, {749, 1.000046264e-05},
    {750, 4.000000000e-05}, {1000.25, 3.332130508e-05} };
static const sched_pt SGDR_25_2[] = { /* CosineAnnealingWarmRestarts(T_0=25, T_mult=2, eta_min=1e-4), lr 4e-4 */
    {0, 4.000000000e-04}, {10, 2.963525492e-04}, {24, 1.011827948e-04}, {24.5, 1.002959907e-04},
    {25, 4.000000000e-04}, {26, 3.997040093e-04}, {74, 1.002959907e-04}, {75, 4.000000000e-04},
    {76, 3.999259841e-04}, {99, 3.593452941e-04}, {174, 1.000740159e-04}, {175, 4.000000000e-04},
    {176.4, 3.999637307e-04} };
static const sched_pt SGDR_10_1[] = { /* (T_0=10, T_mult=1, eta_min=0), lr 0.1 */
    {0, 1.000000000e-01}, {5, 5.000000000e-02}, {9.5, 6.155829702e-04}, {10, 1.000000000e-01},
    {13, 7.938926261e-02}, {20, 1.000000000e-01}, {27.5, 1.464466094e-02} };
static const sched_pt SGDR_10_3[] = { /* (T_0=10, T_mult=3, eta_min=0.01), lr 0.1 */
    {0, 1.000000000e-01}, {9, 1.220245677e-02}, {10, 1.000000000e-01}, {39, 1.024651471e-02},
    {40, 1.000000000e-01}, {41, 9.997258722e-02}, {130, 1.000000000e-01}, {131, 9.999695386e-02} };
static const sched_pt STEP_30[] = { /* StepLR(step_size=30, gamma=0.1), lr 0.1 */
    {0, 1.000000000e-01}, {29, 1.000000000e-01}, {30, 1.000000000e-02}, {59.5, 1.000000000e-02},
    {60, 1.000000000e-03}, {95, 1.000000000e-04} };
static const sched_pt COS_100[] = { /* CosineAnnealingLR(T_max=100, eta_min=0.001), lr 0.1 */
    {0, 1.000000000e-01}, {1, 9.997557474e-02}, {50, 5.050000000e-02}, {99, 1.024425262e-03},
    {100, 1.000000000e-03} };

static void check_sched(const mlcl_sched_options *o, const sched_pt *pts, int n)
{
    for (int i = 0; i < n; i++) {
        float lr;
        ck_assert_ok(mlcl_sched_lr(o, pts[i].epoch, &lr));
        ck_assert_msg(fabs(lr - pts[i].lr) <= 1e-6 * pts[i].lr, "type %d epoch %g: %.9g, torch %.9g", o->type,
                      pts[i].epoch, lr, pts[i].lr);
    }
}

/* PyTorch's step(epoch) branch of CosineAnnealingWarmRestarts, literally. */
static double ref_sgdr(double base, int T0, int Tm, double emin, double epoch)
{
    double tcur, ti = T0;
    if (epoch >= T0) {
        if (Tm == 1) tcur = fmod(epoch, T0);
        else {
            int n = (int)(log(epoch / T0 * (Tm - 1) + 1) / log((double)Tm));
            tcur = epoch - T0 * (pow(Tm, n) - 1) / (Tm - 1);
            ti = T0 * pow(Tm, n);
        }
    } else tcur = epoch;
    return emin + (base - emin) * (1 + cos(M_PI * tcur / ti)) / 2;
}

START_TEST(schedules)
{
    mlcl_sched_options a = MLCL_SCHED_OPTIONS_INIT, o;
    ck_assert_ok(mlcl_sched_options_init(&o, MLCL_SCHED_OPTIONS_VERSION));
    ck_assert_mem_eq(&a, &o, sizeof a);
    o.type = MLCL_SCHED_COSINE_WARM_RESTARTS; o.base_lr = 4e-5f; o.T_0 = 50; o.T_mult = 2; o.eta_min = 1e-5f;
    check_sched(&o, SGDR_50_2, (int)(sizeof SGDR_50_2 / sizeof *SGDR_50_2));
    /* the literal PyTorch formula at every 0.25 epoch over the 400 pretraining epochs */
    for (double ep = 0; ep < 400; ep += 0.25) {
        float lr;
        ck_assert_ok(mlcl_sched_lr(&o, ep, &lr));
        double r = ref_sgdr((float)4e-5, 50, 2, (float)1e-5, ep);
        ck_assert_msg(fabs(lr - r) <= 1e-6 * r, "epoch %g: %.9g vs %.9g", ep, lr, r);
    }
    o.base_lr = 4e-4f; o.T_0 = 25; o.eta_min = 1e-4f;
    check_sched(&o, SGDR_25_2, (int)(sizeof SGDR_25_2 / sizeof *SGDR_25_2));
    o.base_lr = 0.1f; o.T_0 = 10; o.T_mult = 1; o.eta_min = 0;
    check_sched(&o, SGDR_10_1, (int)(sizeof SGDR_10_1 / sizeof *SGDR_10_1));
    o.T_mult = 3; o.eta_min = 0.01f;
    check_sched(&o, SGDR_10_3, (int)(sizeof SGDR_10_3 / sizeof *SGDR_10_3));
    mlcl_sched_options s = a;
    s.type = MLCL_SCHED_STEP; s.base_lr = 0.1f; s.step_size = 30; s.gamma = 0.1f;
    check_sched(&s, STEP_30, (int)(sizeof STEP_30 / sizeof *STEP_30));
    mlcl_sched_options c = a;
    c.type = MLCL_SCHED_COSINE; c.base_lr = 0.1f; c.T_max = 100; c.eta_min = 0.001f;
    check_sched(&c, COS_100, (int)(sizeof COS_100 / sizeof *COS_100));
    float lr;
    ck_assert_ok(mlcl_sched_lr(&a, 123.4, &lr));
    ck_assert_float_eq(lr, a.base_lr);
    /* bad arguments */
    ck_assert_status_msg(mlcl_sched_lr(&a, -1.0, &lr), MLCL_EINVAL, "epoch");
    ck_assert_status_msg(mlcl_sched_lr(&a, NAN, &lr), MLCL_EINVAL, "epoch");
    ck_assert_status_msg(mlcl_sched_lr(NULL, 1.0, &lr), MLCL_EINVAL, "opts");
    ck_assert_status_msg(mlcl_sched_lr(&a, 1.0, NULL), MLCL_EINVAL, "lr");
    o.T_mult = 0;
    ck_assert_status_msg(mlcl_sched_lr(&o, 1.0, &lr), MLCL_EINVAL, "T_mult");
    o.T_mult = 2; o.T_0 = 0;
    ck_assert_status_msg(mlcl_sched_lr(&o, 1.0, &lr), MLCL_EINVAL, "T_0");
    s.step_size = 0;
    ck_assert_status_msg(mlcl_sched_lr(&s, 1.0, &lr), MLCL_EINVAL, "step_size");
    c.T_max = -3;
    ck_assert_status_msg(mlcl_sched_lr(&c, 1.0, &lr), MLCL_EINVAL, "T_max");
    c.T_max = 3; c.eta_min = -1;
    ck_assert_status_msg(mlcl_sched_lr(&c, 1.0, &lr), MLCL_EINVAL, "eta_min");
    a.type = 9;
    ck_assert_status_msg(mlcl_sched_lr(&a, 1.0, &lr), MLCL_EINVAL, "type");
    a.type = 0; a.version = 3;
    ck_assert_status_msg(mlcl_sched_lr(&a, 1.0, &lr), MLCL_EVERSION, "version");
    ck_assert_status_msg(mlcl_sched_options_init(&a, 2), MLCL_EVERSION, "version");
}
END_TEST

/* An encoder + AdamW loop: the loss of a small regression falls. */
START_TEST(encoder_with_optimiser)
{
    mlcl_mlp_spec s = MLCL_MLP_SPEC_INIT;
    s.in_dim = 4; s.n_hidden = 1; s.hidden[0] = 16; s.dropout = 0; s.out_dim = 1;
    mlcl_encoder *e;
    ck_assert_ok(mlcl_encoder_create_mlp(&e, &s, NULL));
    float *p, *g;
    size_t np;
    ck_assert_ok(mlcl_encoder_params_ptr(e, &p));
    ck_assert_ok(mlcl_encoder_grads_ptr(e, &g));
    ck_assert_ok(mlcl_encoder_param_count(e, &np));
    mlcl_optim_options oo = MLCL_OPTIM_OPTIONS_INIT;
    oo.type = MLCL_OPTIM_ADAMW; oo.lr = 1e-2f;
    mlcl_optim *o;
    ck_assert_ok(mlcl_optim_create(&o, &oo));
    ck_assert_ok(mlcl_optim_add_group(o, p, g, np, oo.lr, 1e-4f, NULL));
    float x[32 * 4], y[32], out[32], go[32];
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 3));
    ck_assert_ok(mlcl_rng_normal(r, x, 128, 1.0f));
    for (int i = 0; i < 32; i++) y[i] = x[4 * i] - 2 * x[4 * i + 1] + x[4 * i + 2] * x[4 * i + 3];
    double first = 0, last = 0;
    for (int it = 0; it < 300; it++) {
        ck_assert_ok(mlcl_encoder_forward(e, 32, x, out));
        double l = 0;
        for (int i = 0; i < 32; i++) { l += (out[i] - y[i]) * (out[i] - y[i]) / 32; go[i] = 2 * (out[i] - y[i]) / 32; }
        if (it == 0) first = l;
        last = l;
        ck_assert_ok(mlcl_encoder_zero_grad(e));
        ck_assert_ok(mlcl_encoder_backward(e, 32, go, NULL));
        ck_assert_ok(mlcl_optim_step(o));
    }
    ck_assert_msg(last < 0.05 * first, "loss %g -> %g", first, last);
    mlcl_rng_free(r);
    mlcl_optim_free(o);
    mlcl_encoder_free(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *t = tcase_create("optim");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, torch_numbers);
    tcase_add_test(t, plain_reference);
    tcase_add_test(t, groups_and_lr);
    tcase_add_test(t, state_round_trip);
    tcase_add_test(t, non_finite_gradient);
    tcase_add_test(t, optim_bad_arguments);
    tcase_add_test(t, schedules);
    tcase_add_test(t, encoder_with_optimiser);
    suite_add_tcase(s, t);
    return run_suite(s);
}
