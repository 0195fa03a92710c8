/* The oneDNN convolutional engine (src/nn/convnet.c) and the ResNet encoder:
 * finite-difference gradient checks of every op, plain-loop forward
 * references, BatchNorm2d statistics, clone / momentum update / copy, the
 * per-batch-size plan cache and bad arguments.
 *
 * Gradient checks: central differences in double of L = sum(w .* y) with a
 * random w. oneDNN computes in float, so the loss carries ~1e-7 relative
 * rounding; linear ops (conv, average pooling, max pooling away from ties,
 * BN in eval mode) use a large step, where the difference quotient is exact
 * up to that rounding; BN in training mode and whole networks use a small
 * step. The error measure is |fd - an| / max(|an|, |fd|, 1e-2 max|an|)
 * (the floor keeps near-zero entries from dividing by nothing). */
#include <math.h>
#include "testutil.h"
#include "nn/convnet.h"

static double urand(mlcl__pcg *r) { return 2.0 * mlcl__pcg_uniform(r) - 1.0; }
static void fill(mlcl__pcg *r, float *p, size_t n, double s)
{
    for (size_t i = 0; i < n; i++) p[i] = (float)(s * urand(r));
}

typedef struct tnet {
    mlcl__convnet *net;
    size_t nin, nout, np, ns;
    int n, training;
    float *x, *params, *state, *w, *y, *grads, *dx;
} tnet;

static void tnet_setup(tnet *t, mlcl__convnet *net, int n, int training, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    t->net = net;
    t->n = n;
    t->training = training;
    mlcl__convnet_dims(net, &t->nin, &t->nout);
    t->np = mlcl__convnet_param_count(net);
    t->ns = mlcl__convnet_state_count(net);
    t->x = calloc((size_t)n * t->nin, sizeof(float));
    t->dx = calloc((size_t)n * t->nin, sizeof(float));
    t->y = calloc((size_t)n * t->nout, sizeof(float));
    t->w = calloc((size_t)n * t->nout, sizeof(float));
    t->params = calloc(t->np + 1, sizeof(float));
    t->grads = calloc(t->np + 1, sizeof(float));
    t->state = calloc(t->ns + 1, sizeof(float));
    mlcl__pcg r;
    mlcl__pcg_seed(&r, seed, 7);
    mlcl__convnet_init(net, t->params, t->state, &r);
    fill(&r, t->x, (size_t)n * t->nin, 1.0);
    fill(&r, t->w, (size_t)n * t->nout, 1.0);
}

static void tnet_free(tnet *t)
{
    mlcl__convnet_free(t->net);
    free(t->x); free(t->dx); free(t->y); free(t->w); free(t->params); free(t->grads); free(t->state);
}

static double tnet_loss(tnet *t)
{
    /* running statistics do not change a training forward's output; keep them anyway */
    float *st = malloc((t->ns + 1) * sizeof(float));
    memcpy(st, t->state, t->ns * sizeof(float));
    ck_assert_ok(mlcl__convnet_forward(t->net, "test", t->n, t->training, t->params, st, t->x, t->y));
    free(st);
    double L = 0;
    for (size_t i = 0; i < (size_t)t->n * t->nout; i++) L += (double)t->w[i] * t->y[i];
    return L;
}

/* analytic gradients into t->grads (zeroed first) and t->dx */
static void tnet_grad(tnet *t)
{
    tnet_loss(t);
    memset(t->grads, 0, t->np * sizeof(float));
    ck_assert_ok(mlcl__convnet_backward(t->net, "test", t->n, t->params, t->grads, t->w, t->dx));
}

/* Checks the coordinates idx[0..m) (all when idx NULL) of buffer v (input or
 * params) against central differences with step h; returns the worst error.
 * When h < 0, the step is |h| and a coordinate that disagrees is retried
 * with |h|/5 and |h|/25 (the best counts): in a network with ReLUs after
 * training-mode BatchNorm every unit moves when any coordinate moves, and a
 * unit within h of its kink spoils the difference quotient at that step only. */
static double fd_check(tnet *t, float *v, const float *an, size_t len, const size_t *idx, size_t m, double h)
{
    int retry = h < 0;
    h = fabs(h);
    size_t cnt = idx ? m : len;
    double amax = 0;
    for (size_t k = 0; k < cnt; k++) {
        double a = fabs(an[idx ? idx[k] : k]);
        if (a > amax) amax = a;
    }
    double worst = 0;
    for (size_t k = 0; k < cnt; k++) {
        size_t i = idx ? idx[k] : k;
        double best = INFINITY;
        for (int r = 0; r < (retry ? 3 : 1) && best > 1e-3; r++) {
            double hs = h / (r == 0 ? 1 : r == 1 ? 5 : 25);
            float v0 = v[i];
            v[i] = (float)(v0 + hs);
            double hp = (double)v[i] - v0;
            double lp = tnet_loss(t);
            v[i] = (float)(v0 - hs);
            double hm = v0 - (double)v[i];
            double lm = tnet_loss(t);
            v[i] = v0;
            double fd = (lp - lm) / (hp + hm);
            double den = fmax(fmax(fabs(an[i]), fabs(fd)), 1e-2 * amax);
            double e = den > 0 ? fabs(fd - an[i]) / den : 0;
            if (e < best) best = e;
        }
        if (best > worst) worst = best;
    }
    return worst;
}

/* plain double-precision conv (PyTorch semantics, OIHW grouped weights) */
static void ref_conv(int n, int c, int h, int w, const float *x, int oc, int kh, int kw, int sh, int sw, int ph,
                     int pw, int dh, int dw, int g, const float *wt, int oh, int ow, double *y)
{
    int icg = c / g, ocg = oc / g;
    for (int b = 0; b < n; b++)
        for (int o = 0; o < oc; o++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    double s = 0;
                    int gi = o / ocg;
                    for (int ci = 0; ci < icg; ci++)
                        for (int u = 0; u < kh; u++)
                            for (int v = 0; v < kw; v++) {
                                int yy = i * sh - ph + u * dh, xx = j * sw - pw + v * dw;
                                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                                s += (double)wt[(((size_t)o * icg + ci) * kh + u) * kw + v] *
                                     x[(((size_t)b * c + gi * icg + ci) * h + yy) * w + xx];
                            }
                    y[(((size_t)b * oc + o) * oh + i) * ow + j] = s;
                }
}

START_TEST(conv_forward_and_gradients)
{
    /* stride 2, padding, dilation 2, groups 2 */
    mlcl__convnet *net;
    int out;
    ck_assert_ok(mlcl__convnet_create(&net, 4, 9, 8, 0));
    ck_assert_ok(mlcl__convnet_conv(net, 0, 6, 3, 2, 2, 1, 2, 1, 2, 2, 2, &out));
    tnet t;
    tnet_setup(&t, net, 2, 1, 11);
    ck_assert_uint_eq(t.np, 6 * 2 * 3 * 2);
    int oh = (9 + 4 - 2 * 2 - 1) / 2 + 1, ow = (8 + 2 - 2 * 1 - 1) / 1 + 1;
    ck_assert_uint_eq(t.nout, (size_t)6 * oh * ow);
    tnet_loss(&t);
    double *ref = malloc(2 * t.nout * sizeof(double));
    ref_conv(2, 4, 9, 8, t.x, 6, 3, 2, 2, 1, 2, 1, 2, 2, 2, t.params, oh, ow, ref);
    for (size_t i = 0; i < 2 * t.nout; i++) ck_assert_double_eq_tol(t.y[i], ref[i], 1e-5);
    free(ref);
    tnet_grad(&t);
    double e1 = fd_check(&t, t.x, t.dx, 2 * t.nin, NULL, 0, 0.25);
    double e2 = fd_check(&t, t.params, t.grads, t.np, NULL, 0, 0.25);
    ck_assert_msg(e1 < 1e-3 && e2 < 1e-3, "conv gradient errors %g (input) %g (weights)", e1, e2);
    /* parameter gradients accumulate; the input gradient is overwritten */
    float *g1 = malloc(t.np * sizeof(float));
    memcpy(g1, t.grads, t.np * sizeof(float));
    ck_assert_ok(mlcl__convnet_backward(t.net, "test", 2, t.params, t.grads, t.w, t.dx));
    for (size_t i = 0; i < t.np; i++) ck_assert_float_eq_tol(t.grads[i], 2 * g1[i], 1e-5f * (1 + fabsf(g1[i])));
    free(g1);
    tnet_free(&t);
}
END_TEST

/* BN input: each channel a random affine image of the same spread, so the
 * batch statistics are well conditioned */
static void bn_case(int relu, int training, double *err)
{
    mlcl__convnet *net;
    int out;
    ck_assert_ok(mlcl__convnet_create(&net, 3, 4, 5, 0));
    ck_assert_ok(mlcl__convnet_bn(net, 0, 1e-5f, 0.1f, relu, 0, &out));
    tnet t;
    tnet_setup(&t, net, 2, training, 21 + (uint64_t)relu);
    mlcl__pcg r;
    mlcl__pcg_seed(&r, 5, 5);
    fill(&r, t.params, t.np, 1.0);
    for (int c = 0; c < 3; c++) { t.state[c] = (float)(0.3 * c - 0.2); t.state[3 + c] = 0.5f + c; }
    if (relu) {
        /* keep pre-activations away from the kink: redraw inputs until every
         * output is either clearly positive or clearly cut */
        for (int tries = 0; tries < 1000; tries++) {
            fill(&r, t.x, 2 * t.nin, 1.0);
            /* probe the pre-activation with the same BN without ReLU */
            mlcl__convnet *probe;
            ck_assert_ok(mlcl__convnet_create(&probe, 3, 4, 5, 0));
            ck_assert_ok(mlcl__convnet_bn(probe, 0, 1e-5f, 0.1f, 0, 0, &out));
            float st[12], y[120];
            memcpy(st, t.state, t.ns * sizeof(float));
            ck_assert_ok(mlcl__convnet_forward(probe, "test", 2, training, t.params, st, t.x, y));
            mlcl__convnet_free(probe);
            int ok = 1;
            for (int i = 0; i < 120; i++) ok &= fabsf(y[i]) > 0.1f;
            if (ok) break;
        }
    }
    tnet_grad(&t);
    /* eval mode is linear between kinks: a large step unless ReLU */
    double h = (training || relu) ? 1e-2 : 0.25;
    err[0] = fd_check(&t, t.x, t.dx, 2 * t.nin, NULL, 0, h);
    err[1] = fd_check(&t, t.params, t.grads, t.np, NULL, 0, h);
    tnet_free(&t);
}

START_TEST(batchnorm_gradients)
{
    for (int relu = 0; relu < 2; relu++)
        for (int tr = 0; tr < 2; tr++) {
            double e[2];
            bn_case(relu, tr, e);
            /* training mode: the O(h^2) term of BN (curvature ~ 1/var) with h = 1e-2 */
            double tol = tr ? 2e-3 : 1e-3;
            ck_assert_msg(e[0] < tol && e[1] < tol, "BN relu %d training %d: errors %g (input) %g (gamma/beta)",
                          relu, tr, e[0], e[1]);
        }
}
END_TEST

START_TEST(batchnorm_statistics)
{
    int n = 3, C = 2, H = 3, W = 2, out;
    mlcl__convnet *net;
    ck_assert_ok(mlcl__convnet_create(&net, C, H, W, 0));
    ck_assert_ok(mlcl__convnet_bn(net, 0, 1e-3f, 0.25f, 0, 0, &out));
    float x[36], y[36], params[4] = { 1.5f, -0.5f, 0.25f, 2.0f }, state[4] = { 0.1f, -0.2f, 2.0f, 0.5f };
    mlcl__pcg r;
    mlcl__pcg_seed(&r, 3, 3);
    fill(&r, x, 36, 2.0);
    float st0[4];
    memcpy(st0, state, sizeof st0);
    ck_assert_ok(mlcl__convnet_forward(net, "test", n, 1, params, state, x, y));
    for (int c = 0; c < C; c++) {
        double m = 0, v = 0, N = n * H * W;
        for (int b = 0; b < n; b++)
            for (int k = 0; k < H * W; k++) m += x[(b * C + c) * H * W + k];
        m /= N;
        for (int b = 0; b < n; b++)
            for (int k = 0; k < H * W; k++) { double d = x[(b * C + c) * H * W + k] - m; v += d * d; }
        double vb = v / N, vu = v / (N - 1);
        ck_assert_double_eq_tol(state[c], 0.75 * st0[c] + 0.25 * m, 1e-6);
        ck_assert_double_eq_tol(state[C + c], 0.75 * st0[C + c] + 0.25 * vu, 1e-5);
        for (int b = 0; b < n; b++)
            for (int k = 0; k < H * W; k++) {
                int i = (b * C + c) * H * W + k;
                double want = params[c] * (x[i] - m) / sqrt(vb + 1e-3) + params[C + c];
                ck_assert_double_eq_tol(y[i], want, 1e-5);
            }
    }
    /* eval mode: the running statistics, unchanged */
    float st1[4];
    memcpy(st1, state, sizeof st1);
    ck_assert_ok(mlcl__convnet_forward(net, "test", n, 0, params, state, x, y));
    ck_assert_mem_eq(st1, state, sizeof st1);
    for (int b = 0; b < n; b++)
        for (int c = 0; c < C; c++)
            for (int k = 0; k < H * W; k++) {
                int i = (b * C + c) * H * W + k;
                double want = params[c] * (x[i] - state[c]) / sqrt(state[C + c] + 1e-3) + params[C + c];
                ck_assert_double_eq_tol(y[i], want, 1e-5);
            }
    /* one value per channel cannot be normalised in training mode */
    mlcl__convnet_free(net);
    ck_assert_ok(mlcl__convnet_create(&net, 2, 1, 1, 0));
    ck_assert_ok(mlcl__convnet_bn(net, 0, 1e-5f, 0.1f, 0, 0, &out));
    ck_assert_status_msg(mlcl__convnet_forward(net, "fwd", 1, 1, params, state, x, y), MLCL_EINVAL, "more than 1 value");
    ck_assert_ok(mlcl__convnet_forward(net, "fwd", 1, 0, params, state, x, y));
    ck_assert_status_msg(mlcl__convnet_backward(net, "bwd", 2, params, state, y, x), MLCL_ESTATE, "differs");
    mlcl__convnet_free(net);
}
END_TEST

/* distinct values spaced 1/len apart, shuffled: no max-pool ties within h */
static void distinct_fill(uint64_t seed, float *x, size_t len)
{
    int *perm = malloc(len * sizeof(int));
    mlcl__pcg r;
    mlcl__pcg_seed(&r, seed, 1);
    mlcl__pcg_permutation(&r, perm, (int)len);
    for (size_t i = 0; i < len; i++) x[i] = (float)(2.0 * perm[i] / (double)len - 1.0);
    free(perm);
}

static void ref_pool(int n, int c, int h, int w, const float *x, int kind, int k, int s, int p, int oh, int ow, double *y)
{
    for (int b = 0; b < n * c; b++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                double acc = kind == MLCL__POOL_MAX ? -INFINITY : 0;
                int cnt = 0;
                for (int u = 0; u < k; u++)
                    for (int v = 0; v < k; v++) {
                        int yy = i * s - p + u, xx = j * s - p + v;
                        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                        double val = x[((size_t)b * h + yy) * w + xx];
                        if (kind == MLCL__POOL_MAX) acc = fmax(acc, val);
                        else acc += val;
                        cnt++;
                    }
                if (kind == MLCL__POOL_AVG_INCL) acc /= k * k;
                if (kind == MLCL__POOL_AVG_EXCL) acc /= cnt;
                y[((size_t)b * oh + i) * ow + j] = acc;
            }
}

START_TEST(pooling_forward_and_gradients)
{
    for (int kind = MLCL__POOL_MAX; kind <= MLCL__POOL_AVG_EXCL + 1; kind++) {
        mlcl__convnet *net;
        int out, H = 7, W = 6;
        ck_assert_ok(mlcl__convnet_create(&net, 2, H, W, 0));
        if (kind <= MLCL__POOL_AVG_EXCL) ck_assert_ok(mlcl__convnet_pool(net, 0, kind, 3, 3, 2, 2, 1, 1, &out));
        else ck_assert_ok(mlcl__convnet_gap(net, 0, &out));
        tnet t;
        tnet_setup(&t, net, 2, 1, 31);
        distinct_fill(9 + (uint64_t)kind, t.x, 2 * t.nin);
        tnet_loss(&t);
        int oh = kind <= MLCL__POOL_AVG_EXCL ? (H + 2 - 3) / 2 + 1 : 1, ow = kind <= MLCL__POOL_AVG_EXCL ? (W + 2 - 3) / 2 + 1 : 1;
        ck_assert_uint_eq(t.nout, (size_t)2 * oh * ow);
        double *ref = malloc(2 * t.nout * sizeof(double));
        if (kind <= MLCL__POOL_AVG_EXCL) ref_pool(2, 2, H, W, t.x, kind, 3, 2, 1, oh, ow, ref);
        else
            for (int b = 0; b < 4; b++) {
                double s = 0;
                for (int k = 0; k < H * W; k++) s += t.x[b * H * W + k];
                ref[b] = s / (H * W);
            }
        for (size_t i = 0; i < 2 * t.nout; i++) ck_assert_double_eq_tol(t.y[i], ref[i], 1e-6);
        free(ref);
        tnet_grad(&t);
        /* values are 2/84 apart: h = 5e-3 never reorders a max window;
         * average pooling is linear: a large step */
        double e = fd_check(&t, t.x, t.dx, 2 * t.nin, NULL, 0, kind == MLCL__POOL_MAX ? 5e-3 : 0.25);
        ck_assert_msg(e < 1e-3, "pool kind %d: gradient error %g", kind, e);
        tnet_free(&t);
    }
}
END_TEST

static size_t *sample(uint64_t seed, size_t len, size_t m)
{
    size_t *idx = malloc(m * sizeof(size_t));
    mlcl__pcg r;
    mlcl__pcg_seed(&r, seed, 2);
    for (size_t i = 0; i < m; i++) idx[i] = mlcl__pcg_bounded(&r, (uint32_t)len);
    return idx;
}

START_TEST(residual_block_gradients)
{
  for (int rl = 0; rl < 2; rl++) {
    /* a basic block with a downsample: conv3x3 s2 - BN - ReLU - conv3x3 - BN,
     * plus conv1x1 s2 - BN, added, ReLU; and an identity block after it */
    mlcl__convnet *net;
    int m, sc, x;
    ck_assert_ok(mlcl__convnet_create(&net, 3, 6, 6, 0));
    ck_assert_ok(mlcl__convnet_conv(net, 0, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, &m));
    ck_assert_ok(mlcl__convnet_bn(net, m, 1e-5f, 0.1f, rl, 0, &m));
    ck_assert_ok(mlcl__convnet_conv(net, m, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, &m));
    ck_assert_ok(mlcl__convnet_bn(net, m, 1e-5f, 0.1f, 0, 0, &m));
    ck_assert_ok(mlcl__convnet_conv(net, 0, 4, 1, 1, 2, 2, 0, 0, 1, 1, 1, &sc));
    ck_assert_ok(mlcl__convnet_bn(net, sc, 1e-5f, 0.1f, 0, 0, &sc));
    ck_assert_ok(mlcl__convnet_add(net, m, sc, rl, &x));
    ck_assert_ok(mlcl__convnet_conv(net, x, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, &m));
    ck_assert_ok(mlcl__convnet_bn(net, m, 1e-5f, 0.1f, 0, 0, &m));
    ck_assert_ok(mlcl__convnet_add(net, m, x, rl, &x));
    tnet t;
    tnet_setup(&t, net, 3, 1, 41);
    tnet_grad(&t);
    /* without ReLU: smooth, one step of 1e-2, float rounding ~1e-3;
     * with ReLUs: retried steps down to 4e-4 to dodge kinks, where the
     * float32 rounding of the loss (~1e-6 over 2 h) is ~1e-3 absolute
     * against gradients of order 0.1: a 3e-2 tolerance; a wiring mistake
     * gives errors of order 1 */
    size_t *ix = sample(50 + (uint64_t)rl, 3 * t.nin, 80), *ip = sample(60 + (uint64_t)rl, t.np, 120);
    double e1 = fd_check(&t, t.x, t.dx, 3 * t.nin, ix, 80, rl ? -1e-2 : 1e-2);
    double e2 = fd_check(&t, t.params, t.grads, t.np, ip, 120, rl ? -1e-2 : 1e-2);
    free(ix);
    free(ip);
    double tol = rl ? 3e-2 : 5e-3;
    ck_assert_msg(e1 < tol && e2 < tol, "block (relu %d) gradient errors %g (input) %g (params)", rl, e1, e2);
    tnet_free(&t);
  }
}
END_TEST

static mlcl_encoder *make_resnet_z(int depth, int stem, int c, int hw, int bw, uint64_t seed, int zero_init)
{
    mlcl_resnet_spec s = MLCL_RESNET_SPEC_INIT;
    s.zero_init_residual = zero_init;
    s.depth = depth; s.stem = stem; s.in_channels = c; s.height = s.width = hw; s.base_width = bw;
    mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
    o.seed = seed;
    o.max_batch = 4;
    mlcl_encoder *e;
    ck_assert_ok(mlcl_encoder_create_resnet(&e, &s, &o));
    return e;
}
static mlcl_encoder *make_resnet(int depth, int stem, int c, int hw, int bw, uint64_t seed)
{
    return make_resnet_z(depth, stem, c, hw, bw, seed, 0);
}

/* Deep, narrow nets at init on tiny images are badly conditioned (BN over 3
 * values in stage 4, gradients of order 50): start from zero_init_residual
 * and give every zero parameter (the blocks' last gammas, all betas) a small
 * random value, so the residual branches are damped but all active and the
 * BN outputs are shifted off the ReLU kinks. */
static void damp_blocks(mlcl_encoder *e, uint64_t seed)
{
    float *p;
    size_t np;
    mlcl__pcg r;
    mlcl__pcg_seed(&r, seed, 9);
    ck_assert_ok(mlcl_encoder_params_ptr(e, &p));
    mlcl_encoder_param_count(e, &np);
    for (size_t i = 0; i < np; i++)
        if (p[i] == 0.0f) p[i] = (float)(0.2 * urand(&r));
}

/* FD through the public encoder API on a sample of inputs and parameters */
typedef struct enc_case { mlcl_encoder *e; int n, din, dout; float *x, *w, *y, *dx; } enc_case;
static double enc_loss(enc_case *c)
{
    size_t ns;
    mlcl_encoder_state_count(c->e, &ns);
    float *st = malloc((ns + 1) * sizeof(float));
    ck_assert_ok(mlcl_encoder_get_state(c->e, st, ns));
    ck_assert_ok(mlcl_encoder_forward(c->e, c->n, c->x, c->y));
    ck_assert_ok(mlcl_encoder_set_state(c->e, st, ns));
    free(st);
    double L = 0;
    for (size_t i = 0; i < (size_t)c->n * c->dout; i++) L += (double)c->w[i] * c->y[i];
    return L;
}

/* tolerance: as the ReLU block in residual_block_gradients, deeper */
static void enc_fd(mlcl_encoder *e, int n, uint64_t seed, double h, double tol)
{
    enc_case c = { .e = e, .n = n };
    mlcl_encoder_in_dim(e, &c.din);
    mlcl_encoder_out_dim(e, &c.dout);
    c.x = malloc((size_t)n * c.din * sizeof(float));
    c.dx = malloc((size_t)n * c.din * sizeof(float));
    c.w = malloc((size_t)n * c.dout * sizeof(float));
    c.y = malloc((size_t)n * c.dout * sizeof(float));
    mlcl__pcg r;
    mlcl__pcg_seed(&r, seed, 3);
    fill(&r, c.x, (size_t)n * c.din, 1.0);
    fill(&r, c.w, (size_t)n * c.dout, 1.0);
    float *p, *g;
    size_t np;
    mlcl_encoder_param_count(e, &np);
    ck_assert_ok(mlcl_encoder_params_ptr(e, &p));
    ck_assert_ok(mlcl_encoder_grads_ptr(e, &g));
    /* non-trivial BN affine parameters */
    enc_loss(&c);
    ck_assert_ok(mlcl_encoder_zero_grad(e));
    ck_assert_ok(mlcl_encoder_forward(e, n, c.x, c.y));
    ck_assert_ok(mlcl_encoder_backward(e, n, c.w, c.dx));
    /* per coordinate, on a sample, with the retried steps of fd_check();
     * a wiring mistake spoils most coordinates, while a ReLU kink met at
     * every step, or the float32 rounding of a deep narrow net at init,
     * spoils a few: the median and the 90th percentile are checked */
    size_t m[2] = { 30, 40 }, dims[2] = { (size_t)n * c.din, np };
    double q[2][2];
    for (int pass = 0; pass < 2; pass++) {
        size_t *id = sample(seed + 1 + (uint64_t)pass, dims[pass], m[pass]);
        float *v = pass ? p : c.x;
        const float *an = pass ? g : c.dx;
        double amax = 0, *errs = malloc(m[pass] * sizeof(double));
        for (size_t k = 0; k < m[pass]; k++) amax = fmax(amax, fabs(an[id[k]]));
        for (size_t k = 0; k < m[pass]; k++) {
            size_t i = id[k];
            double err = INFINITY;
            for (int r = 0; r < 3 && err > 1e-3; r++) {
                double hs = h / (r == 0 ? 1 : r == 1 ? 5 : 25);
                float v0 = v[i];
                v[i] = (float)(v0 + hs);
                double hp = (double)v[i] - v0;
                double lp = enc_loss(&c);
                v[i] = (float)(v0 - hs);
                double hm = v0 - (double)v[i];
                double lm = enc_loss(&c);
                v[i] = v0;
                double fd = (lp - lm) / (hp + hm);
                double den = fmax(fmax(fabs(an[i]), fabs(fd)), 1e-2 * amax);
                err = fmin(err, fabs(fd - an[i]) / den);
            }
            errs[k] = err;
        }
        /* insertion sort: m is small */
        for (size_t a = 1; a < m[pass]; a++)
            for (size_t b = a; b > 0 && errs[b - 1] > errs[b]; b--) { double t = errs[b]; errs[b] = errs[b - 1]; errs[b - 1] = t; }
        q[pass][0] = errs[m[pass] / 2];
        q[pass][1] = errs[(m[pass] * 9) / 10];
        free(errs);
        free(id);
    }
    ck_assert_msg(q[0][0] < tol / 5 && q[0][1] < tol && q[1][0] < tol / 5 && q[1][1] < tol,
                  "ResNet gradient errors: input median %g p90 %g, params median %g p90 %g", q[0][0], q[0][1],
                  q[1][0], q[1][1]);
    free(c.x); free(c.dx); free(c.w); free(c.y);
}

START_TEST(resnet18_small_gradients)
{
    mlcl_encoder *e = make_resnet(18, MLCL_RESNET_STEM_SMALL, 3, 8, 4, 1);
    int d;
    ck_assert_ok(mlcl_encoder_out_dim(e, &d));
    ck_assert_int_eq(d, 32);
    enc_fd(e, 3, 100, 1e-2, 2e-2);
    mlcl_encoder_free(e);
}
END_TEST

START_TEST(resnet50_imagenet_gradients)
{
    /* 32 px: 16 after the stem conv, 8 after the max-pool, 1 x 1 in stage 4
     * (BN over n = 3 values: n = 2 would make its output +-1 whatever the input) */
    mlcl_encoder *e = make_resnet_z(50, MLCL_RESNET_STEM_IMAGENET, 2, 32, 2, 2, 1);
    damp_blocks(e, 2);
    int d;
    ck_assert_ok(mlcl_encoder_out_dim(e, &d));
    ck_assert_int_eq(d, 64);
    enc_fd(e, 3, 200, 1e-2, 1e-1); /* 50 float32 layers to the input: looser */
    mlcl_encoder_free(e);
}
END_TEST

START_TEST(resnet_layout_counts)
{
    /* torchvision resnetNN() parameter counts without fc */
    static const struct { int depth; size_t np; int out; } want[] = {
        { 18, 11176512, 512 }, { 34, 21284672, 512 }, { 50, 23508032, 2048 } };
    for (int i = 0; i < 3; i++) {
        mlcl_resnet_spec s = MLCL_RESNET_SPEC_INIT;
        s.depth = want[i].depth;
        s.stem = MLCL_RESNET_STEM_IMAGENET;
        s.height = s.width = 64;
        mlcl_encoder *e;
        ck_assert_ok(mlcl_encoder_create_resnet(&e, &s, NULL));
        size_t np, ns;
        int d, nl, in;
        ck_assert_ok(mlcl_encoder_param_count(e, &np));
        ck_assert_ok(mlcl_encoder_state_count(e, &ns));
        ck_assert_ok(mlcl_encoder_out_dim(e, &d));
        ck_assert_ok(mlcl_encoder_in_dim(e, &in));
        ck_assert_ok(mlcl_encoder_num_layers(e, &nl));
        ck_assert_uint_eq(np, want[i].np);
        ck_assert_int_eq(d, want[i].out);
        ck_assert_int_eq(in, 3 * 64 * 64);
        ck_assert_int_eq(nl, 1);
        /* layout: conv1.weight (64x3x7x7) Kaiming fan_out, then bn1 gamma = 1, beta = 0 */
        float *p, *st = malloc(ns * sizeof(float));
        ck_assert_ok(mlcl_encoder_params_ptr(e, &p));
        double ss = 0;
        for (int k = 0; k < 64 * 3 * 49; k++) ss += (double)p[k] * p[k];
        double sd = sqrt(ss / (64 * 3 * 49));
        ck_assert_double_eq_tol(sd, sqrt(2.0 / (64 * 49)), 0.1 * sqrt(2.0 / (64 * 49)));
        for (int k = 0; k < 64; k++) {
            ck_assert_float_eq(p[64 * 3 * 49 + k], 1.0f);
            ck_assert_float_eq(p[64 * 3 * 49 + 64 + k], 0.0f);
        }
        ck_assert_ok(mlcl_encoder_get_state(e, st, ns));
        ck_assert_float_eq(st[0], 0.0f);
        ck_assert_float_eq(st[64], 1.0f);
        /* BN state = 2 floats per BN channel = the BN parameter count */
        free(st);
        mlcl_encoder_free(e);
    }
    /* zero_init_residual: layer1.0.bn2.weight (after conv1, bn1, layer1.0.conv1, bn1, conv2) is 0 */
    mlcl_resnet_spec s = MLCL_RESNET_SPEC_INIT;
    s.zero_init_residual = 1;
    s.base_width = 8;
    mlcl_encoder *e;
    ck_assert_ok(mlcl_encoder_create_resnet(&e, &s, NULL));
    float *p;
    ck_assert_ok(mlcl_encoder_params_ptr(e, &p));
    size_t off = 8 * 3 * 9 + 16 + 8 * 8 * 9 + 16 + 8 * 8 * 9;
    for (int k = 0; k < 8; k++) {
        ck_assert_float_eq(p[off + k], 0.0f);
        ck_assert_float_eq(p[off - 8 * 8 * 9 - 16 + k], 1.0f); /* layer1.0.bn1.weight */
    }
    mlcl_encoder_free(e);
}
END_TEST

START_TEST(plan_cache_and_eval)
{
    mlcl_encoder *e = make_resnet(18, MLCL_RESNET_STEM_SMALL, 1, 8, 2, 3);
    int din, dout;
    mlcl_encoder_in_dim(e, &din);
    mlcl_encoder_out_dim(e, &dout);
    float *x = malloc(6 * (size_t)din * sizeof(float)), *y = malloc(6 * (size_t)dout * sizeof(float)),
          *y2 = malloc(6 * (size_t)dout * sizeof(float));
    mlcl__pcg r;
    mlcl__pcg_seed(&r, 4, 4);
    fill(&r, x, 6 * (size_t)din, 1.0);
    /* a few training steps move the running statistics */
    for (int i = 0; i < 3; i++) ck_assert_ok(mlcl_encoder_forward(e, 3, x, y));
    ck_assert_ok(mlcl_encoder_set_training(e, 0));
    /* eval rows do not depend on the batch: n = 3, 2, 5 give the same rows */
    ck_assert_ok(mlcl_encoder_forward(e, 3, x, y));
    ck_assert_ok(mlcl_encoder_forward(e, 2, x, y2));
    for (int i = 0; i < 2 * dout; i++) ck_assert_float_eq_tol(y[i], y2[i], 1e-5f);
    ck_assert_ok(mlcl_encoder_forward(e, 5, x, y2));
    for (int i = 0; i < 3 * dout; i++) ck_assert_float_eq_tol(y[i], y2[i], 1e-5f);
    ck_assert_ok(mlcl_encoder_forward(e, 3, x, y2));
    ck_assert_mem_eq(y, y2, 3 * (size_t)dout * sizeof(float));
    /* backward after an eval forward */
    ck_assert_ok(mlcl_encoder_backward(e, 3, y, x + 3 * (size_t)din));
    ck_assert_status_msg(mlcl_encoder_backward(e, 2, y, NULL), MLCL_ESTATE, "differs");
    /* training with one image of 8x8 still has 64 values per channel in the
     * first BN but the last stage is 1x1: n = 1 fails */
    ck_assert_ok(mlcl_encoder_set_training(e, 1));
    ck_assert_status_msg(mlcl_encoder_forward(e, 1, x, y), MLCL_EINVAL, "BatchNorm2d");
    free(x); free(y); free(y2);
    mlcl_encoder_free(e);
}
END_TEST

START_TEST(clone_copy_momentum)
{
    mlcl_encoder *a = make_resnet(18, MLCL_RESNET_STEM_SMALL, 2, 8, 2, 5);
    ck_assert_ok(mlcl_encoder_add_linear(a, 5, 1));
    int din, dout;
    mlcl_encoder_in_dim(a, &din);
    mlcl_encoder_out_dim(a, &dout);
    ck_assert_int_eq(dout, 5);
    int n = 3;
    float *x = malloc((size_t)n * din * sizeof(float)), *ya = malloc((size_t)n * dout * sizeof(float)),
          *yb = malloc((size_t)n * dout * sizeof(float)), *g = malloc((size_t)n * dout * sizeof(float));
    mlcl__pcg r;
    mlcl__pcg_seed(&r, 6, 6);
    fill(&r, x, (size_t)n * din, 1.0);
    fill(&r, g, (size_t)n * dout, 1.0);
    ck_assert_ok(mlcl_encoder_forward(a, n, x, ya));
    ck_assert_ok(mlcl_encoder_backward(a, n, g, NULL));
    mlcl_encoder *b;
    ck_assert_ok(mlcl_encoder_clone(&b, a));
    size_t np, ns;
    mlcl_encoder_param_count(a, &np);
    mlcl_encoder_state_count(a, &ns);
    float *pa, *pb, *ga, *gb;
    mlcl_encoder_params_ptr(a, &pa); mlcl_encoder_params_ptr(b, &pb);
    mlcl_encoder_grads_ptr(a, &ga); mlcl_encoder_grads_ptr(b, &gb);
    ck_assert_ptr_ne(pa, pb);
    ck_assert_mem_eq(pa, pb, np * sizeof(float));
    ck_assert_mem_eq(ga, gb, np * sizeof(float));
    float *sa = malloc(ns * sizeof(float)), *sb = malloc(ns * sizeof(float));
    mlcl_encoder_get_state(a, sa, ns);
    mlcl_encoder_get_state(b, sb, ns);
    ck_assert_mem_eq(sa, sb, ns * sizeof(float));
    /* identical outputs (same state, same mode) */
    ck_assert_ok(mlcl_encoder_forward(a, n, x, ya));
    ck_assert_ok(mlcl_encoder_forward(b, n, x, yb));
    ck_assert_mem_eq(ya, yb, (size_t)n * dout * sizeof(float));
    /* independent: changing the clone leaves the original alone */
    for (size_t i = 0; i < np; i++) pb[i] *= 0.5f;
    ck_assert_ok(mlcl_encoder_set_training(b, 0));
    ck_assert_ok(mlcl_encoder_forward(a, n, x, yb));
    mlcl_encoder_get_state(a, sa, ns);
    ck_assert_ok(mlcl_encoder_forward(b, n, x, yb));
    ck_assert_ok(mlcl_encoder_set_training(b, 1));
    /* momentum update and copy */
    float *keep = malloc(np * sizeof(float));
    memcpy(keep, pb, np * sizeof(float));
    ck_assert_ok(mlcl_encoder_momentum_update(b, a, 0.75f));
    for (size_t i = 0; i < np; i++) ck_assert_float_eq_tol(pb[i], 0.75f * keep[i] + 0.25f * pa[i], 1e-6f);
    ck_assert_ok(mlcl_encoder_copy_params(b, a));
    ck_assert_mem_eq(pa, pb, np * sizeof(float));
    ck_assert_ok(mlcl_encoder_forward(a, n, x, ya));
    ck_assert_ok(mlcl_encoder_set_state(b, sa, ns));
    ck_assert_ok(mlcl_encoder_forward(b, n, x, yb));
    ck_assert_mem_eq(ya, yb, (size_t)n * dout * sizeof(float));
    /* a different architecture is refused, naming the layer */
    mlcl_encoder *c = make_resnet(18, MLCL_RESNET_STEM_SMALL, 2, 8, 4, 5);
    mlcl_encoder *d34 = make_resnet(34, MLCL_RESNET_STEM_SMALL, 2, 8, 2, 5);
    ck_assert_ok(mlcl_encoder_add_linear(d34, 5, 1));
    ck_assert_status_msg(mlcl_encoder_copy_params(c, a), MLCL_EINVAL, "layer");
    ck_assert_status_msg(mlcl_encoder_momentum_update(d34, a, 0.5f), MLCL_EINVAL, "ResNet");
    /* negative running variance */
    sa[ns - 1] = -1.0f;
    ck_assert_status_msg(mlcl_encoder_set_state(a, sa, ns), MLCL_EINVAL, "running_var");
    /* cloning an MLP works too */
    mlcl_mlp_spec ms = MLCL_MLP_SPEC_INIT;
    ms.in_dim = 4;
    ms.batchnorm = 1;
    mlcl_encoder *m1, *m2;
    ck_assert_ok(mlcl_encoder_create_mlp(&m1, &ms, NULL));
    ck_assert_ok(mlcl_encoder_clone(&m2, m1));
    float xm[8] = { 1, 2, 3, 4, -1, 0, 2, 1 }, y1[512], y2[512];
    ck_assert_ok(mlcl_encoder_forward(m1, 2, xm, y1));
    ck_assert_ok(mlcl_encoder_forward(m2, 2, xm, y2));
    ck_assert_mem_eq(y1, y2, 2 * 256 * sizeof(float));
    mlcl_encoder_free(m2);
    ck_assert_status_msg(mlcl_encoder_clone(NULL, m1), MLCL_EINVAL, "out");
    ck_assert_status_msg(mlcl_encoder_clone(&m2, NULL), MLCL_EINVAL, "src");
    ck_assert_ptr_null(m2);
    mlcl_encoder_free(m1);
    mlcl_encoder_free(c);
    mlcl_encoder_free(d34);
    mlcl_encoder_free(a);
    mlcl_encoder_free(b);
    free(x); free(ya); free(yb); free(g); free(sa); free(sb); free(keep);
}
END_TEST

START_TEST(resnet_bad_arguments)
{
    mlcl_encoder *e = (mlcl_encoder *)&e;
    mlcl_resnet_spec s;
#define BADSPEC(field, val, needle)                                                   \
    do {                                                                              \
        ck_assert_ok(mlcl_resnet_spec_init(&s, MLCL_RESNET_SPEC_VERSION));            \
        s.field = val;                                                                \
        ck_assert_status_msg(mlcl_encoder_create_resnet(&e, &s, NULL), MLCL_EINVAL, needle); \
        ck_assert_ptr_null(e);                                                        \
    } while (0)
    BADSPEC(depth, 101, "spec->depth");
    BADSPEC(stem, 2, "spec->stem");
    BADSPEC(in_channels, 0, "spec->in_channels");
    BADSPEC(height, -1, "spec->height");
    BADSPEC(width, 0, "spec->width");
    BADSPEC(base_width, 0, "spec->base_width");
    BADSPEC(bn_eps, 0.0f, "spec->bn_eps");
    BADSPEC(bn_eps, NAN, "spec->bn_eps");
    BADSPEC(bn_momentum, 1.5f, "spec->bn_momentum");
    BADSPEC(zero_init_residual, 2, "spec->zero_init_residual");
    BADSPEC(height, 1 << 20, "too large");
#undef BADSPEC
    ck_assert_ok(mlcl_resnet_spec_init(&s, MLCL_RESNET_SPEC_VERSION));
    s.version = 99;
    ck_assert_status_msg(mlcl_encoder_create_resnet(&e, &s, NULL), MLCL_EVERSION, "version");
    ck_assert_status_msg(mlcl_resnet_spec_init(&s, 2), MLCL_EVERSION, "version");
    ck_assert_status_msg(mlcl_resnet_spec_init(NULL, MLCL_RESNET_SPEC_VERSION), MLCL_EINVAL, "spec");
    ck_assert_status_msg(mlcl_encoder_create_resnet(&e, NULL, NULL), MLCL_EINVAL, "spec");
    ck_assert_status_msg(mlcl_encoder_create_resnet(NULL, &s, NULL), MLCL_EINVAL, "out");
    ck_assert_ok(mlcl_resnet_spec_init(&s, MLCL_RESNET_SPEC_VERSION));
    mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
    o.max_batch = 0;
    ck_assert_status_msg(mlcl_encoder_create_resnet(&e, &s, &o), MLCL_EINVAL, "max_batch");
    mlcl_resnet_spec d = MLCL_RESNET_SPEC_INIT;
    ck_assert_mem_eq(&d, &s, sizeof s);
    /* internal builders */
    mlcl__convnet *net;
    int out;
    ck_assert_ok(mlcl__convnet_create(&net, 4, 5, 5, 1));
    ck_assert_status_msg(mlcl__convnet_conv(net, 0, 6, 3, 3, 1, 1, 1, 1, 1, 1, 4, &out), MLCL_EINVAL, "groups");
    ck_assert_status_msg(mlcl__convnet_conv(net, 3, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, &out), MLCL_EINVAL, "does not exist");
    ck_assert_status_msg(mlcl__convnet_conv(net, 0, 6, 9, 9, 1, 1, 0, 0, 1, 1, 1, &out), MLCL_EINVAL, "empty");
    ck_assert_ok(mlcl__convnet_pool(net, 0, MLCL__POOL_MAX, 2, 2, 2, 2, 0, 0, &out));
    ck_assert_status_msg(mlcl__convnet_add(net, 0, out, 0, &out), MLCL_EINVAL, "shapes differ");
    mlcl__convnet_free(net);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv");
    TCase *t = tcase_create("ops");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, conv_forward_and_gradients);
    tcase_add_test(t, batchnorm_gradients);
    tcase_add_test(t, batchnorm_statistics);
    tcase_add_test(t, pooling_forward_and_gradients);
    tcase_add_test(t, residual_block_gradients);
    suite_add_tcase(s, t);
    TCase *r = tcase_create("resnet");
    tcase_set_timeout(r, 120);
    tcase_add_test(r, resnet18_small_gradients);
    tcase_add_test(r, resnet50_imagenet_gradients);
    tcase_add_test(r, resnet_layout_counts);
    tcase_add_test(r, plan_cache_and_eval);
    tcase_add_test(r, clone_copy_momentum);
    tcase_add_test(r, resnet_bad_arguments);
    suite_add_tcase(s, r);
    return run_suite(s);
}
