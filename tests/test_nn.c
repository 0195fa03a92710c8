/* nn: encoder layers (FD gradient checks, BatchNorm statistics, dropout,
 * parameter layout, momentum update, determinism) and the stand-alone
 * softmax / BCE / sigmoid / L2-norm kernels. */
#include "testutil.h"
#include "nn/nn_lib.h"
#include "kernels/gemm.h"
#include <math.h>
#include <stdint.h>

/* ------------------------------------------------------------------ helpers */

static void randn(uint64_t seed, float *x, size_t n, float sd)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed));
    ck_assert_ok(mlcl_rng_normal(r, x, n, sd));
    mlcl_rng_free(r);
}

/* Compares an analytic gradient with a central difference:
 * |a - fd| <= rtol * max(|a|, |fd|, floor). Returns the worst ratio. */
static double grad_err(double a, double fd, double floor)
{
    double d = fabs(a) > fabs(fd) ? fabs(a) : fabs(fd);
    if (d < floor) d = floor;
    return fabs(a - fd) / d;
}

/* L(out) = sum_ij R_ij out_ij in double, the forward replaying the dropout
 * stream from rng (so every evaluation uses the same masks). */
static double enc_loss(mlcl_encoder *e, int n, const float *x, const float *R, const uint64_t rng[2],
                       float *out)
{
    int od;
    ck_assert_ok(mlcl_encoder_out_dim(e, &od));
    ck_assert_ok(mlcl_encoder_set_rng_state(e, rng));
    ck_assert_ok(mlcl_encoder_forward(e, n, x, out));
    double s = 0.0;
    for (int k = 0; k < n * od; k++) s += (double)R[k] * out[k];
    return s;
}

/* Checks d L / d x and d L / d theta of encoder e against central
 * differences with step h; returns the worst relative error seen. */
static double fd_check_encoder(mlcl_encoder *e, int n, const float *x0, double h, double floor)
{
    int id, od;
    size_t np;
    ck_assert_ok(mlcl_encoder_in_dim(e, &id));
    ck_assert_ok(mlcl_encoder_out_dim(e, &od));
    ck_assert_ok(mlcl_encoder_param_count(e, &np));
    float *x = malloc(sizeof(float) * n * id), *out = malloc(sizeof(float) * n * od);
    float *R = malloc(sizeof(float) * n * od), *gin = malloc(sizeof(float) * n * id);
    memcpy(x, x0, sizeof(float) * n * id);
    randn(99, R, (size_t)n * od, 1.0f);
    uint64_t st[2];
    ck_assert_ok(mlcl_encoder_get_rng_state(e, st));
    enc_loss(e, n, x, R, st, out);
    ck_assert_ok(mlcl_encoder_zero_grad(e));
    ck_assert_ok(mlcl_encoder_backward(e, n, R, gin));
    float *p, *g;
    ck_assert_ok(mlcl_encoder_params_ptr(e, &p));
    ck_assert_ok(mlcl_encoder_grads_ptr(e, &g));
    double *ga = malloc(sizeof(double) * (np + 1));
    for (size_t k = 0; k < np; k++) ga[k] = g[k];
    double worst = 0.0;
    for (int k = 0; k < n * id; k++) {
        float v = x[k];
        float up = (float)(v + h), dn = (float)(v - h);
        x[k] = up;
        double lp = enc_loss(e, n, x, R, st, out);
        x[k] = dn;
        double lm = enc_loss(e, n, x, R, st, out);
        x[k] = v;
        double fd = (lp - lm) / ((double)up - (double)dn); /* the step actually taken */
        double err = grad_err(gin[k], fd, floor);
        ck_assert_msg(err < 1e-3, "dL/dx[%d]: analytic %g, central difference %g", k, gin[k], fd);
        if (err > worst) worst = err;
    }
    for (size_t k = 0; k < np; k++) {
        float v = p[k];
        float up = (float)(v + h), dn = (float)(v - h);
        p[k] = up;
        double lp = enc_loss(e, n, x, R, st, out);
        p[k] = dn;
        double lm = enc_loss(e, n, x, R, st, out);
        p[k] = v;
        double fd = (lp - lm) / ((double)up - (double)dn);
        double err = grad_err(ga[k], fd, floor);
        ck_assert_msg(err < 1e-3, "dL/dtheta[%zu]: analytic %g, central difference %g", k, ga[k], fd);
        if (err > worst) worst = err;
    }
    free(x); free(out); free(R); free(gin); free(ga);
    return worst;
}

static mlcl_encoder *make_enc(int in_dim, uint64_t seed, int max_batch)
{
    mlcl_encoder_options o;
    ck_assert_ok(mlcl_encoder_options_init(&o, MLCL_ENCODER_OPTIONS_VERSION));
    o.seed = seed;
    o.max_batch = max_batch;
    mlcl_encoder *e;
    ck_assert_ok(mlcl_encoder_create(&e, in_dim, &o));
    return e;
}

/* A deliberately plain double-precision re-implementation of the layers,
 * used as the function whose central differences the library's float
 * gradients are checked against (double FD has no float rounding noise).
 * Types: 'L' linear, 'R' relu, 'D' dropout, 'B' batchnorm, 'N' l2norm, 'S' softmax. */
typedef struct { char type; int out, bias; float p, eps; } ref_layer;

/* Dropout masks as encoder.h documents them: one uniform per element, row-major,
 * layer by layer, from the encoder's dropout stream; kept iff u >= p. */
static float *ref_masks(const mlcl_encoder *e, const ref_layer *L, int nl, int n, int in_dim)
{
    uint64_t st[2];
    ck_assert_ok(mlcl_encoder_get_rng_state(e, st));
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 0));
    ck_assert_ok(mlcl_rng_set_state(r, st));
    size_t tot = 0;
    int w = in_dim;
    for (int i = 0; i < nl; i++) { if (L[i].type == 'L') w = L[i].out; if (L[i].type == 'D') tot += (size_t)n * w; }
    float *m = malloc(sizeof(float) * (tot + 1)), *q = m;
    w = in_dim;
    for (int i = 0; i < nl; i++) {
        if (L[i].type == 'L') w = L[i].out;
        if (L[i].type != 'D') continue;
        ck_assert_ok(mlcl_rng_uniform(r, q, (size_t)n * w));
        for (int k = 0; k < n * w; k++) q[k] = q[k] >= L[i].p ? 1.0f / (1.0f - L[i].p) : 0.0f;
        q += (size_t)n * w;
    }
    mlcl_rng_free(r);
    return m;
}

static double ref_forward(const ref_layer *L, int nl, int n, int in_dim, const double *x, const double *th,
                          const double *state, const float *masks, int train, const double *R, double *yout)
{
    int w = in_dim;
    double *a = malloc(sizeof(double) * n * 64), *b = malloc(sizeof(double) * n * 64);
    memcpy(a, x, sizeof(double) * n * in_dim);
    for (int li = 0; li < nl; li++) {
        const ref_layer *l = &L[li];
        if (l->type == 'L') {
            for (int i = 0; i < n; i++)
                for (int o = 0; o < l->out; o++) {
                    double s = l->bias ? th[(size_t)l->out * w + o] : 0.0;
                    for (int k = 0; k < w; k++) s += th[(size_t)o * w + k] * a[i * w + k];
                    b[i * l->out + o] = s;
                }
            th += (size_t)l->out * w + (l->bias ? l->out : 0);
            w = l->out;
        } else if (l->type == 'R') {
            for (int k = 0; k < n * w; k++) b[k] = a[k] > 0 ? a[k] : 0;
        } else if (l->type == 'D') {
            for (int k = 0; k < n * w; k++) b[k] = train ? a[k] * masks[k] : a[k];
            if (train) masks += (size_t)n * w;
        } else if (l->type == 'B') {
            for (int j = 0; j < w; j++) {
                double mu = 0, var = 0;
                if (train) {
                    for (int i = 0; i < n; i++) mu += a[i * w + j];
                    mu /= n;
                    for (int i = 0; i < n; i++) var += (a[i * w + j] - mu) * (a[i * w + j] - mu);
                    var /= n;
                } else { mu = state[j]; var = state[w + j]; }
                for (int i = 0; i < n; i++)
                    b[i * w + j] = th[j] * (a[i * w + j] - mu) / sqrt(var + l->eps) + th[w + j];
            }
            th += 2 * w;
            state += 2 * w;
        } else if (l->type == 'N') {
            for (int i = 0; i < n; i++) {
                double s = 0;
                for (int j = 0; j < w; j++) s += a[i * w + j] * a[i * w + j];
                s = sqrt(s);
                if (s < 1e-12) s = 1e-12;
                for (int j = 0; j < w; j++) b[i * w + j] = a[i * w + j] / s;
            }
        } else { /* 'S' */
            for (int i = 0; i < n; i++) {
                double mx = a[i * w], z = 0;
                for (int j = 1; j < w; j++) if (a[i * w + j] > mx) mx = a[i * w + j];
                for (int j = 0; j < w; j++) z += exp(a[i * w + j] - mx);
                for (int j = 0; j < w; j++) b[i * w + j] = exp(a[i * w + j] - mx) / z;
            }
        }
        double *t = a; a = b; b = t;
    }
    double loss = 0;
    for (int k = 0; k < n * w; k++) loss += R[k] * a[k];
    if (yout) memcpy(yout, a, sizeof(double) * n * w);
    free(a); free(b);
    return loss;
}

/* Library forward/backward vs the double reference: outputs agree, and the
 * float gradients match double central differences of the reference
 * (relative error < 1e-3, floor 1e-3 of the largest component). */
static void ref_check(mlcl_encoder *e, const ref_layer *L, int nl, int n, const float *xf)
{
    int id, od, train;
    size_t np, ns;
    ck_assert_ok(mlcl_encoder_in_dim(e, &id));
    ck_assert_ok(mlcl_encoder_out_dim(e, &od));
    ck_assert_ok(mlcl_encoder_param_count(e, &np));
    ck_assert_ok(mlcl_encoder_state_count(e, &ns));
    ck_assert_ok(mlcl_encoder_get_training(e, &train));
    float *masks = ref_masks(e, L, nl, n, id);
    float *Rf = malloc(sizeof(float) * n * od), *y = malloc(sizeof(float) * n * od);
    float *gin = malloc(sizeof(float) * n * id), *pf = malloc(sizeof(float) * (np + 1));
    float *sf = malloc(sizeof(float) * (ns + 1)), *g;
    randn(99, Rf, (size_t)n * od, 1.0f);
    ck_assert_ok(mlcl_encoder_get_state(e, sf, ns)); /* before the forward moves it */
    ck_assert_ok(mlcl_encoder_get_params(e, pf, np));
    ck_assert_ok(mlcl_encoder_forward(e, n, xf, y));
    ck_assert_ok(mlcl_encoder_zero_grad(e));
    ck_assert_ok(mlcl_encoder_backward(e, n, Rf, gin));
    ck_assert_ok(mlcl_encoder_grads_ptr(e, &g));
    double *x = malloc(sizeof(double) * n * id), *th = malloc(sizeof(double) * (np + 1));
    double *st = malloc(sizeof(double) * (ns + 1)), *R = calloc((size_t)n * od, sizeof(double));
    double *yr = malloc(sizeof(double) * n * 64);
    for (int k = 0; k < n * id; k++) x[k] = xf[k];
    for (size_t k = 0; k < np; k++) th[k] = pf[k];
    for (size_t k = 0; k < ns; k++) st[k] = sf[k];
    for (int k = 0; k < n * od; k++) R[k] = Rf[k];
    ref_forward(L, nl, n, id, x, th, st, masks, train, R, yr);
    for (int k = 0; k < n * od; k++)
        ck_assert_msg(fabs(y[k] - yr[k]) <= 1e-5 * (1 + fabs(yr[k])), "forward[%d]: %g vs reference %g", k, y[k], yr[k]);
    const double h = 1e-6;
    double gmax = 0;
    for (int k = 0; k < n * id; k++) if (fabs(gin[k]) > gmax) gmax = fabs(gin[k]);
    for (size_t k = 0; k < np; k++) if (fabs(g[k]) > gmax) gmax = fabs(g[k]);
    ck_assert(gmax > 0);
    for (int k = 0; k < n * id; k++) {
        double v = x[k];
        x[k] = v + h; double lp = ref_forward(L, nl, n, id, x, th, st, masks, train, R, NULL);
        x[k] = v - h; double lm = ref_forward(L, nl, n, id, x, th, st, masks, train, R, NULL);
        x[k] = v;
        double fd = (lp - lm) / (2 * h);
        ck_assert_msg(grad_err(gin[k], fd, 1e-3 * gmax) < 1e-3, "dL/dx[%d]: library %g, central difference %g", k, gin[k], fd);
    }
    for (size_t k = 0; k < np; k++) {
        double v = th[k];
        th[k] = v + h; double lp = ref_forward(L, nl, n, id, x, th, st, masks, train, R, NULL);
        th[k] = v - h; double lm = ref_forward(L, nl, n, id, x, th, st, masks, train, R, NULL);
        th[k] = v;
        double fd = (lp - lm) / (2 * h);
        ck_assert_msg(grad_err(g[k], fd, 1e-3 * gmax) < 1e-3, "dL/dtheta[%zu]: library %g, central difference %g", k, g[k], fd);
    }
    free(masks); free(Rf); free(y); free(gin); free(pf); free(sf);
    free(x); free(th); free(st); free(R); free(yr);
}

/* ------------------------------------------------------------------ FD checks */

START_TEST(fd_linear)
{
    mlcl_encoder *e = make_enc(5, 1, 8);
    ck_assert_ok(mlcl_encoder_add_linear(e, 4, 1));
    ck_assert_ok(mlcl_encoder_add_linear(e, 3, 0));
    float x[6 * 5];
    randn(2, x, 30, 1.0f);
    /* float central differences on the library itself: the network is
     * linear in every argument, so a large step has no truncation error */
    double w = fd_check_encoder(e, 6, x, 0.05, 1e-2);
    ck_assert(w < 1e-3);
    const ref_layer L[] = { { 'L', 4, 1, 0, 0 }, { 'L', 3, 0, 0, 0 } };
    ref_check(e, L, 2, 6, x);
    mlcl_encoder_free(e);
}
END_TEST

START_TEST(fd_relu)
{
    mlcl_encoder *e = make_enc(4, 3, 8);
    ck_assert_ok(mlcl_encoder_add_linear(e, 6, 1));
    ck_assert_ok(mlcl_encoder_add_relu(e));
    ck_assert_ok(mlcl_encoder_add_linear(e, 3, 1));
    float x[5 * 4];
    randn(4, x, 20, 1.0f);
    const ref_layer L[] = { { 'L', 6, 1, 0, 0 }, { 'R', 0, 0, 0, 0 }, { 'L', 3, 1, 0, 0 } };
    ref_check(e, L, 3, 5, x);
    /* ReLU alone, exact values: gradient 1 above 0, 0 at and below */
    mlcl_encoder *r = make_enc(4, 3, 8);
    ck_assert_ok(mlcl_encoder_add_relu(r));
    for (int k = 0; k < 20; k++) x[k] = (k % 3 == 0 ? -1.0f : 1.0f) * (0.1f + 0.05f * k);
    x[7] = 0.0f;
    float out[20], g[20], gi[20];
    for (int k = 0; k < 20; k++) g[k] = 1.0f + k;
    ck_assert_ok(mlcl_encoder_forward(r, 5, x, out));
    ck_assert_ok(mlcl_encoder_backward(r, 5, g, gi));
    for (int k = 0; k < 20; k++) {
        ck_assert_float_eq(out[k], x[k] > 0 ? x[k] : 0.0f);
        ck_assert_float_eq(gi[k], x[k] > 0 ? g[k] : 0.0f);
    }
    mlcl_encoder_free(e);
    mlcl_encoder_free(r);
}
END_TEST

START_TEST(fd_dropout)
{
    mlcl_encoder *e = make_enc(6, 5, 8);
    ck_assert_ok(mlcl_encoder_add_linear(e, 7, 1));
    ck_assert_ok(mlcl_encoder_add_dropout(e, 0.4f));
    ck_assert_ok(mlcl_encoder_add_linear(e, 3, 1));
    float x[4 * 6];
    randn(6, x, 24, 1.0f);
    /* float FD on the library, the mask replayed from the saved generator state */
    fd_check_encoder(e, 4, x, 0.05, 1e-2);
    /* and against the reference with the mask encoder.h documents */
    const ref_layer L[] = { { 'L', 7, 1, 0, 0 }, { 'D', 0, 0, 0.4f, 0 }, { 'L', 3, 1, 0, 0 } };
    ref_check(e, L, 3, 4, x);
    mlcl_encoder_free(e);
}
END_TEST

START_TEST(fd_batchnorm)
{
    mlcl_encoder *e = make_enc(5, 7, 8);
    ck_assert_ok(mlcl_encoder_add_linear(e, 4, 1));
    ck_assert_ok(mlcl_encoder_add_batchnorm(e, 1e-5f, 0.1f));
    /* non-trivial gamma and beta so their gradients and dx are generic */
    float *p;
    ck_assert_ok(mlcl_encoder_params_ptr(e, &p));
    for (int j = 0; j < 4; j++) { p[24 + j] = 0.5f + 0.3f * j; p[28 + j] = 0.1f * j - 0.2f; }
    float x[10 * 5];
    randn(8, x, 50, 1.0f);
    const ref_layer L[] = { { 'L', 4, 1, 0, 0 }, { 'B', 0, 0, 0, 1e-5f } };
    ref_check(e, L, 2, 6, x);
    /* BN directly on the input (dx of BN alone), train and eval */
    mlcl_encoder *b = make_enc(3, 7, 8);
    ck_assert_ok(mlcl_encoder_add_batchnorm(b, 1e-3f, 0.1f));
    ck_assert_ok(mlcl_encoder_params_ptr(b, &p));
    p[0] = 1.5f; p[1] = -0.7f; p[2] = 0.9f; p[3] = 0.3f; p[4] = 0.0f; p[5] = -1.0f;
    const ref_layer B[] = { { 'B', 0, 0, 0, 1e-3f } };
    ref_check(b, B, 1, 10, x);
    ref_check(b, B, 1, 2, x); /* smallest batch */
    ck_assert_ok(mlcl_encoder_set_training(b, 0));
    ref_check(b, B, 1, 10, x);
    mlcl_encoder_free(e);
    mlcl_encoder_free(b);
}
END_TEST

START_TEST(fd_softmax_l2norm_layers)
{
    mlcl_encoder *e = make_enc(4, 9, 8);
    ck_assert_ok(mlcl_encoder_add_linear(e, 5, 1));
    ck_assert_ok(mlcl_encoder_add_softmax(e));
    float x[3 * 4];
    randn(10, x, 12, 1.0f);
    const ref_layer S[] = { { 'L', 5, 1, 0, 0 }, { 'S', 0, 0, 0, 0 } };
    ref_check(e, S, 2, 3, x);
    mlcl_encoder *l = make_enc(4, 9, 8);
    ck_assert_ok(mlcl_encoder_add_linear(l, 5, 1));
    ck_assert_ok(mlcl_encoder_add_l2norm(l));
    const ref_layer N[] = { { 'L', 5, 1, 0, 0 }, { 'N', 0, 0, 0, 0 } };
    ref_check(l, N, 2, 3, x);
    mlcl_encoder_free(e);
    mlcl_encoder_free(l);
}
END_TEST

START_TEST(fd_mlp_bn_dropout)
{
    /* the projection head's shape, small: (Linear-BN-ReLU-Dropout) x 2 - Linear - L2 */
    mlcl_mlp_spec s;
    ck_assert_ok(mlcl_mlp_spec_init(&s, MLCL_MLP_SPEC_VERSION));
    s.in_dim = 5; s.n_hidden = 2; s.hidden[0] = 6; s.hidden[1] = 4;
    s.dropout = 0.25f; s.batchnorm = 1; s.out_dim = 3; s.out_act = MLCL_MLP_OUT_L2NORM;
    mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
    o.seed = 11;
    mlcl_encoder *e;
    ck_assert_ok(mlcl_encoder_create_mlp(&e, &s, &o));
    int nl;
    ck_assert_ok(mlcl_encoder_num_layers(e, &nl));
    ck_assert_int_eq(nl, 10);
    const ref_layer L[] = { { 'L', 6, 1, 0, 0 }, { 'B', 0, 0, 0, 1e-5f }, { 'R', 0, 0, 0, 0 }, { 'D', 0, 0, 0.25f, 0 },
                            { 'L', 4, 1, 0, 0 }, { 'B', 0, 0, 0, 1e-5f }, { 'R', 0, 0, 0, 0 }, { 'D', 0, 0, 0.25f, 0 },
                            { 'L', 3, 1, 0, 0 }, { 'N', 0, 0, 0, 0 } };
    float x[6 * 5];
    randn(12, x, 30, 1.0f);
    for (int rep = 0; rep < 3; rep++) ref_check(e, L, 10, 6, x); /* a new mask each time */
    ck_assert_ok(mlcl_encoder_set_training(e, 0));
    ref_check(e, L, 10, 6, x);
    /* the default backbone shape (no BN) with a softmax head, dropout 0 */
    mlcl_encoder *b;
    s.dropout = 0.0f; s.batchnorm = 0; s.out_act = MLCL_MLP_OUT_SOFTMAX;
    ck_assert_ok(mlcl_encoder_create_mlp(&b, &s, &o));
    ck_assert_ok(mlcl_encoder_num_layers(b, &nl));
    ck_assert_int_eq(nl, 6);
    const ref_layer M[] = { { 'L', 6, 1, 0, 0 }, { 'R', 0, 0, 0, 0 }, { 'L', 4, 1, 0, 0 }, { 'R', 0, 0, 0, 0 },
                            { 'L', 3, 1, 0, 0 }, { 'S', 0, 0, 0, 0 } };
    ref_check(b, M, 6, 6, x);
    mlcl_encoder_free(e);
    mlcl_encoder_free(b);
}
END_TEST

/* ------------------------------------------------------------------ layers */

START_TEST(linear_matches_plain_loops)
{
    mlcl_encoder *e = make_enc(7, 21, 4);
    ck_assert_ok(mlcl_encoder_add_linear(e, 5, 1));
    float x[3 * 7], out[3 * 5], *p;
    randn(22, x, 21, 1.0f);
    ck_assert_ok(mlcl_encoder_forward(e, 3, x, out));
    ck_assert_ok(mlcl_encoder_params_ptr(e, &p));
    for (int i = 0; i < 3; i++)
        for (int o = 0; o < 5; o++) {
            double s = p[35 + o];
            for (int k = 0; k < 7; k++) s += (double)x[i * 7 + k] * p[o * 7 + k];
            ck_assert_double_eq_tol(out[i * 5 + o], s, 1e-5);
        }
    /* gradients accumulate across backward calls; zero_grad clears */
    float g[15], *gr;
    for (int k = 0; k < 15; k++) g[k] = 0.1f * k - 0.5f;
    ck_assert_ok(mlcl_encoder_zero_grad(e));
    ck_assert_ok(mlcl_encoder_backward(e, 3, g, NULL));
    ck_assert_ok(mlcl_encoder_grads_ptr(e, &gr));
    float first = gr[8];
    double expect = 0;
    for (int i = 0; i < 3; i++) expect += (double)g[i * 5 + 1] * x[i * 7 + 1]; /* dW(1,1) */
    ck_assert_double_eq_tol(first, expect, 1e-5);
    ck_assert_ok(mlcl_encoder_backward(e, 3, g, NULL));
    ck_assert_double_eq_tol(gr[8], 2 * expect, 1e-5);
    ck_assert_double_eq_tol(gr[35 + 2], 2 * (g[2] + g[7] + g[12]), 1e-5);
    ck_assert_ok(mlcl_encoder_zero_grad(e));
    for (int k = 0; k < 40; k++) ck_assert_float_eq(gr[k], 0.0f);
    mlcl_encoder_free(e);
}
END_TEST

START_TEST(init_like_pytorch)
{
    mlcl_encoder *e = make_enc(100, 31, 4);
    ck_assert_ok(mlcl_encoder_add_linear(e, 300, 1));
    float *p;
    size_t np;
    ck_assert_ok(mlcl_encoder_params_ptr(e, &p));
    ck_assert_ok(mlcl_encoder_param_count(e, &np));
    ck_assert_uint_eq(np, 30000 + 300);
    /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)): bound 0.1, variance 0.01/3 */
    double s = 0, s2 = 0, mx = 0;
    for (size_t k = 0; k < 30000; k++) { s += p[k]; s2 += (double)p[k] * p[k]; if (fabs(p[k]) > mx) mx = fabs(p[k]); }
    ck_assert(mx <= 0.1 && mx > 0.099);
    ck_assert_double_eq_tol(s / 30000, 0.0, 0.002);
    ck_assert_double_eq_tol(s2 / 30000, 0.01 / 3, 0.0002);
    for (size_t k = 30000; k < np; k++) ck_assert(fabs(p[k]) <= 0.1);
    mlcl_encoder_free(e);
}
END_TEST

START_TEST(batchnorm_running_stats)
{
    mlcl_encoder *e = make_enc(2, 1, 8);
    ck_assert_ok(mlcl_encoder_add_batchnorm(e, 1e-5f, 0.1f));
    size_t ns;
    ck_assert_ok(mlcl_encoder_state_count(e, &ns));
    ck_assert_uint_eq(ns, 4);
    float st[4];
    ck_assert_ok(mlcl_encoder_get_state(e, st, 4));
    ck_assert_float_eq(st[0], 0.0f); ck_assert_float_eq(st[1], 0.0f);
    ck_assert_float_eq(st[2], 1.0f); ck_assert_float_eq(st[3], 1.0f);
    /* column 0: 1,2,3,6 (mean 3, biased var 3.5, unbiased 14/3);
     * column 1: -1,-1,1,1 (mean 0, biased var 1, unbiased 4/3) */
    const float x[8] = { 1, -1, 2, -1, 3, 1, 6, 1 };
    float out[8];
    ck_assert_ok(mlcl_encoder_forward(e, 4, x, out));
    for (int i = 0; i < 4; i++) {
        ck_assert_double_eq_tol(out[2 * i], (x[2 * i] - 3.0) / sqrt(3.5 + 1e-5), 1e-6);
        ck_assert_double_eq_tol(out[2 * i + 1], x[2 * i + 1] / sqrt(1.0 + 1e-5), 1e-6);
    }
    ck_assert_ok(mlcl_encoder_get_state(e, st, 4));
    ck_assert_double_eq_tol(st[0], 0.1 * 3.0, 1e-7);
    ck_assert_double_eq_tol(st[1], 0.0, 1e-7);
    ck_assert_double_eq_tol(st[2], 0.9 + 0.1 * 14.0 / 3.0, 1e-6);
    ck_assert_double_eq_tol(st[3], 0.9 + 0.1 * 4.0 / 3.0, 1e-6);
    /* a second batch: running = 0.9 running + 0.1 batch */
    ck_assert_ok(mlcl_encoder_forward(e, 4, x, out));
    double rm0 = 0.9 * 0.3 + 0.3, rv0 = 0.9 * (0.9 + 0.1 * 14.0 / 3.0) + 0.1 * 14.0 / 3.0;
    ck_assert_ok(mlcl_encoder_get_state(e, st, 4));
    ck_assert_double_eq_tol(st[0], rm0, 1e-6);
    ck_assert_double_eq_tol(st[2], rv0, 1e-6);
    /* eval: running statistics, no update; n = 1 allowed */
    float *p;
    ck_assert_ok(mlcl_encoder_params_ptr(e, &p));
    p[0] = 2.0f; p[2] = 0.5f; /* gamma0, beta0 */
    ck_assert_ok(mlcl_encoder_set_training(e, 0));
    ck_assert_ok(mlcl_encoder_forward(e, 1, x + 6, out));
    ck_assert_double_eq_tol(out[0], 2.0 * (6.0 - rm0) / sqrt(rv0 + 1e-5) + 0.5, 1e-5);
    float st2[4];
    ck_assert_ok(mlcl_encoder_get_state(e, st2, 4));
    ck_assert_mem_eq(st, st2, sizeof st);
    /* n = 1 in training fails like PyTorch */
    ck_assert_ok(mlcl_encoder_set_training(e, 1));
    ck_assert_status_msg(mlcl_encoder_forward(e, 1, x, out), MLCL_EINVAL, "n > 1");
    /* state set round trip and validation */
    float ns4[4] = { 1, 2, 3, 4 };
    ck_assert_ok(mlcl_encoder_set_state(e, ns4, 4));
    ck_assert_ok(mlcl_encoder_get_state(e, st, 4));
    ck_assert_mem_eq(st, ns4, sizeof st);
    ns4[3] = -1.0f;
    ck_assert_status_msg(mlcl_encoder_set_state(e, ns4, 4), MLCL_EINVAL, "running_var");
    ns4[3] = NAN;
    ck_assert_status_msg(mlcl_encoder_set_state(e, ns4, 4), MLCL_ENUMERIC, "src[3]");
    ck_assert_status_msg(mlcl_encoder_set_state(e, ns4, 3), MLCL_EINVAL, "4");
    mlcl_encoder_free(e);
}
END_TEST

START_TEST(dropout_scaling_and_rate)
{
    enum { N = 256, W = 1000 };
    mlcl_encoder *e = make_enc(W, 41, N);
    ck_assert_ok(mlcl_encoder_add_dropout(e, 0.3f));
    float *x = malloc(sizeof(float) * N * W), *y = malloc(sizeof(float) * N * W);
    for (int k = 0; k < N * W; k++) x[k] = 1.0f + (float)(k % 7);
    ck_assert_ok(mlcl_encoder_forward(e, N, x, y));
    long zeros = 0;
    for (int k = 0; k < N * W; k++) {
        if (y[k] == 0.0f) zeros++;
        else ck_assert_float_eq_tol(y[k], x[k] / 0.7f, 1e-6f * y[k]);
    }
    /* binomial sd of the rate: sqrt(.21/256000) = 9e-4 */
    ck_assert_double_eq_tol((double)zeros / (N * W), 0.3, 0.005);
    /* backward applies the same mask */
    float *g = malloc(sizeof(float) * N * W);
    ck_assert_ok(mlcl_encoder_backward(e, N, x, g));
    for (int k = 0; k < N * W; k++) ck_assert_float_eq(g[k], y[k]);
    /* eval mode: identity */
    ck_assert_ok(mlcl_encoder_set_training(e, 0));
    ck_assert_ok(mlcl_encoder_forward(e, N, x, y));
    ck_assert_mem_eq(x, y, sizeof(float) * N * W);
    ck_assert_ok(mlcl_encoder_backward(e, N, x, g));
    ck_assert_mem_eq(x, g, sizeof(float) * N * W);
    /* p = 0: identity in training too */
    mlcl_encoder *z = make_enc(W, 41, N);
    ck_assert_ok(mlcl_encoder_add_dropout(z, 0.0f));
    ck_assert_ok(mlcl_encoder_forward(z, N, x, y));
    ck_assert_mem_eq(x, y, sizeof(float) * N * W);
    free(x); free(y); free(g);
    mlcl_encoder_free(e);
    mlcl_encoder_free(z);
}
END_TEST

START_TEST(determinism_by_seed)
{
    mlcl_mlp_spec s = MLCL_MLP_SPEC_INIT;
    s.in_dim = 12;
    s.hidden[0] = 16; s.hidden[1] = 24; s.hidden[2] = 8;
    mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
    o.seed = 2024;
    mlcl_encoder *a, *b, *c;
    ck_assert_ok(mlcl_encoder_create_mlp(&a, &s, &o));
    ck_assert_ok(mlcl_encoder_create_mlp(&b, &s, &o));
    o.seed = 2025;
    ck_assert_ok(mlcl_encoder_create_mlp(&c, &s, &o));
    size_t np;
    ck_assert_ok(mlcl_encoder_param_count(a, &np));
    ck_assert_uint_eq(np, 12 * 16 + 16 + 16 * 24 + 24 + 24 * 8 + 8);
    float *pa, *pb, *pc;
    ck_assert_ok(mlcl_encoder_params_ptr(a, &pa));
    ck_assert_ok(mlcl_encoder_params_ptr(b, &pb));
    ck_assert_ok(mlcl_encoder_params_ptr(c, &pc));
    ck_assert_mem_eq(pa, pb, np * sizeof(float));
    ck_assert(memcmp(pa, pc, np * sizeof(float)) != 0);
    float x[10 * 12], ya[10 * 8], yb[10 * 8], yc[10 * 8];
    randn(5, x, 120, 1.0f);
    ck_assert_ok(mlcl_encoder_copy_params(c, a));
    for (int it = 0; it < 3; it++) {
        ck_assert_ok(mlcl_encoder_forward(a, 10, x, ya));
        ck_assert_ok(mlcl_encoder_forward(b, 10, x, yb));
        ck_assert_ok(mlcl_encoder_forward(c, 10, x, yc));
        ck_assert_mem_eq(ya, yb, sizeof ya);          /* same seed: same masks */
        ck_assert(memcmp(ya, yc, sizeof ya) != 0);    /* same weights, other masks */
    }
    /* rng state replays a mask exactly */
    uint64_t st[2];
    ck_assert_ok(mlcl_encoder_get_rng_state(a, st));
    ck_assert_ok(mlcl_encoder_forward(a, 10, x, ya));
    ck_assert_ok(mlcl_encoder_forward(a, 10, x, yb));
    ck_assert(memcmp(ya, yb, sizeof ya) != 0);
    ck_assert_ok(mlcl_encoder_set_rng_state(a, st));
    ck_assert_ok(mlcl_encoder_forward(a, 10, x, yb));
    ck_assert_mem_eq(ya, yb, sizeof ya);
    st[1] = 4;
    ck_assert_status_msg(mlcl_encoder_set_rng_state(a, st), MLCL_EINVAL, "odd");
    mlcl_encoder_free(a);
    mlcl_encoder_free(b);
    mlcl_encoder_free(c);
}
END_TEST

/* mlcl__encoder_set_split: the forward on two threads by rows gives the same
 * outputs, dropout masks (seen through backward) and stream position as one
 * thread on all rows, for odd n, repeated calls and data-parallel rows, in
 * training and evaluation mode. */
START_TEST(split_forward_same_bits)
{
    mlcl__gemm_engine_force(MLCL__GEMM_ONEDNN);
    if (mlcl__gemm_engine() != MLCL__GEMM_ONEDNN) { mlcl__gemm_engine_force(0); return; } /* no libgomp */
    mlcl_mlp_spec s = MLCL_MLP_SPEC_INIT;
    s.in_dim = 103; /* Yeast's backbone */
    s.dropout = 0.3f;
    s.out_dim = 24;
    s.out_act = MLCL_MLP_OUT_L2NORM;
    mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
    o.seed = 77;
    const int nmax = 201;
    float *x = malloc(sizeof(float) * nmax * 103), *ya = malloc(sizeof(float) * nmax * 24), *yb = malloc(sizeof(float) * nmax * 24);
    float *g = malloc(sizeof(float) * nmax * 24), *gxa = malloc(sizeof(float) * nmax * 103), *gxb = malloc(sizeof(float) * nmax * 103);
    randn(9, x, (size_t)nmax * 103, 1.0f);
    randn(10, g, (size_t)nmax * 24, 1.0f);
    const int ns[3] = { 201, 32, 21 }; /* (21: not split, dnnl_sgemm rounds below 16 rows differently) */
    for (int dp = 0; dp < 2; dp++) {
        mlcl_encoder *a, *b;
        ck_assert_ok(mlcl_encoder_create_mlp(&a, &s, &o));
        ck_assert_ok(mlcl_encoder_clone(&b, a));
        ck_assert_ok(mlcl_encoder_set_threads(a, 1));
        ck_assert_ok(mlcl_encoder_set_threads(b, 2));
        mlcl__encoder_set_split(b, 1);
        for (int it = 0; it < 3; it++) {
            int n = ns[it];
            if (dp) { /* rows 5 .. 5+n-1 of a global batch of n + 9 */
                mlcl__encoder_set_rows(a, 5, n + 9);
                mlcl__encoder_set_rows(b, 5, n + 9);
            }
            ck_assert_ok(mlcl_encoder_forward(a, n, x, ya));
            ck_assert_ok(mlcl_encoder_forward(b, n, x, yb));
            ck_assert_mem_eq(ya, yb, sizeof(float) * n * 24);
            ck_assert_ok(mlcl_encoder_zero_grad(a));
            ck_assert_ok(mlcl_encoder_zero_grad(b));
            ck_assert_ok(mlcl_encoder_backward(a, n, g, gxa));
            ck_assert_ok(mlcl_encoder_backward(b, n, g, gxb));
            ck_assert_mem_eq(gxa, gxb, sizeof(float) * n * 103);
            float *ga, *gb;
            size_t np;
            ck_assert_ok(mlcl_encoder_grads_ptr(a, &ga));
            ck_assert_ok(mlcl_encoder_grads_ptr(b, &gb));
            ck_assert_ok(mlcl_encoder_param_count(a, &np));
            ck_assert_mem_eq(ga, gb, np * sizeof(float));
            uint64_t sa[2], sb[2];
            ck_assert_ok(mlcl_encoder_get_rng_state(a, sa));
            ck_assert_ok(mlcl_encoder_get_rng_state(b, sb));
            ck_assert_mem_eq(sa, sb, sizeof sa);
        }
        /* evaluation mode (no dropout) too */
        ck_assert_ok(mlcl_encoder_set_training(a, 0));
        ck_assert_ok(mlcl_encoder_set_training(b, 0));
        ck_assert_ok(mlcl_encoder_forward(a, 201, x, ya));
        ck_assert_ok(mlcl_encoder_forward(b, 201, x, yb));
        ck_assert_mem_eq(ya, yb, sizeof(float) * 201 * 24);
        mlcl_encoder_free(a);
        mlcl_encoder_free(b);
    }
    mlcl__gemm_engine_force(0);
    free(x); free(ya); free(yb); free(g); free(gxa); free(gxb);
}
END_TEST

START_TEST(param_layout)
{
    /* Linear(3->2, bias) | BN(2) | ReLU | Linear(2->1, no bias):
     * W1 at 0..5, b1 at 6..7, gamma 8..9, beta 10..11, W2 12..13 */
    mlcl_encoder *e = make_enc(3, 1, 4);
    ck_assert_ok(mlcl_encoder_add_linear(e, 2, 1));
    ck_assert_ok(mlcl_encoder_add_batchnorm(e, 1e-5f, 0.1f));
    ck_assert_ok(mlcl_encoder_add_relu(e));
    ck_assert_ok(mlcl_encoder_add_linear(e, 1, 0));
    size_t np;
    ck_assert_ok(mlcl_encoder_param_count(e, &np));
    ck_assert_uint_eq(np, 14);
    float p[14];
    ck_assert_ok(mlcl_encoder_get_params(e, p, 14));
    ck_assert_float_eq(p[8], 1.0f); ck_assert_float_eq(p[9], 1.0f);   /* gamma */
    ck_assert_float_eq(p[10], 0.0f); ck_assert_float_eq(p[11], 0.0f); /* beta */
    memset(p, 0, sizeof p);
    p[5] = 2.5f;   /* W1(1, 2) */
    p[7] = 0.5f;   /* b1(1) */
    p[9] = 3.0f;   /* gamma(1) */
    p[10] = 0.25f; /* beta(0) */
    p[11] = 1.0f;  /* beta(1) */
    p[12] = 10.0f; p[13] = 100.0f;
    ck_assert_ok(mlcl_encoder_set_params(e, p, 14));
    float q[14];
    ck_assert_ok(mlcl_encoder_get_params(e, q, 14));
    ck_assert_mem_eq(p, q, sizeof p);
    ck_assert_ok(mlcl_encoder_set_training(e, 0)); /* running stats 0/1: BN is gamma x / sqrt(1+eps) + beta */
    const float x[3] = { 1.0f, 2.0f, 3.0f };
    float out;
    ck_assert_ok(mlcl_encoder_forward(e, 1, x, &out));
    double h1 = 3.0 * (2.5 * 3.0 + 0.5) / sqrt(1.0 + 1e-5) + 1.0;
    ck_assert_double_eq_tol(out, 10.0 * 0.25 + 100.0 * h1, 1e-3);
    /* size mismatch names both sizes; NaN refused with nothing changed */
    ck_assert_status_msg(mlcl_encoder_set_params(e, p, 13), MLCL_EINVAL, "n = 13");
    ck_assert_status_msg(mlcl_encoder_set_params(e, p, 13), MLCL_EINVAL, "count 14");
    ck_assert_status_msg(mlcl_encoder_get_params(e, q, 15), MLCL_EINVAL, "15");
    p[3] = NAN;
    ck_assert_status_msg(mlcl_encoder_set_params(e, p, 14), MLCL_ENUMERIC, "src[3]");
    ck_assert_ok(mlcl_encoder_get_params(e, q, 14));
    ck_assert_float_eq(q[3], 0.0f);
    mlcl_encoder_free(e);
}
END_TEST

START_TEST(momentum_update_and_copy)
{
    mlcl_mlp_spec s = MLCL_MLP_SPEC_INIT;
    s.in_dim = 6; s.n_hidden = 1; s.hidden[0] = 8; s.batchnorm = 1; s.out_dim = 4;
    mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
    mlcl_encoder *q, *k;
    o.seed = 1;
    ck_assert_ok(mlcl_encoder_create_mlp(&q, &s, &o));
    o.seed = 2;
    ck_assert_ok(mlcl_encoder_create_mlp(&k, &s, &o));
    size_t np;
    ck_assert_ok(mlcl_encoder_param_count(q, &np));
    float *pq, *pk;
    ck_assert_ok(mlcl_encoder_params_ptr(q, &pq));
    ck_assert_ok(mlcl_encoder_params_ptr(k, &pk));
    float *k0 = malloc(np * sizeof(float));
    memcpy(k0, pk, np * sizeof(float));
    float st0[16], st1[16];
    float x[5 * 6], y[5 * 4];
    randn(3, x, 30, 1.0f);
    ck_assert_ok(mlcl_encoder_forward(k, 5, x, y)); /* moves k's running stats */
    ck_assert_ok(mlcl_encoder_get_state(k, st0, 16));
    ck_assert_ok(mlcl_encoder_momentum_update(k, q, 0.999f));
    for (size_t i = 0; i < np; i++) {
        double expect = 0.999 * (double)k0[i] + 0.001 * (double)pq[i];
        ck_assert_double_eq_tol(pk[i], expect, 1e-6);
    }
    ck_assert_ok(mlcl_encoder_get_state(k, st1, 16));
    ck_assert_mem_eq(st0, st1, sizeof st0); /* buffers untouched */
    ck_assert_ok(mlcl_encoder_momentum_update(k, q, 0.0f));
    ck_assert_mem_eq(pk, pq, np * sizeof(float));
    ck_assert_ok(mlcl_encoder_momentum_update(k, q, 1.0f));
    ck_assert_mem_eq(pk, pq, np * sizeof(float));
    memcpy(pk, k0, np * sizeof(float));
    ck_assert_ok(mlcl_encoder_copy_params(k, q));
    ck_assert_mem_eq(pk, pq, np * sizeof(float));
    ck_assert_status_msg(mlcl_encoder_momentum_update(k, q, 1.5f), MLCL_EINVAL, "m must be");
    ck_assert_status_msg(mlcl_encoder_momentum_update(k, q, NAN), MLCL_EINVAL, "m must be");
    /* shape checks */
    mlcl_encoder *other;
    s.batchnorm = 0;
    ck_assert_ok(mlcl_encoder_create_mlp(&other, &s, &o));
    ck_assert_status_msg(mlcl_encoder_copy_params(other, q), MLCL_EINVAL, "layer count");
    mlcl_encoder_free(other);
    s.batchnorm = 1; s.out_dim = 5;
    ck_assert_ok(mlcl_encoder_create_mlp(&other, &s, &o));
    ck_assert_status_msg(mlcl_encoder_momentum_update(other, q, 0.9f), MLCL_EINVAL, "layer 4 differs");
    mlcl_encoder_free(other);
    s.in_dim = 7;
    ck_assert_ok(mlcl_encoder_create_mlp(&other, &s, &o));
    ck_assert_status_msg(mlcl_encoder_copy_params(other, q), MLCL_EINVAL, "input widths");
    mlcl_encoder_free(other);
    free(k0);
    mlcl_encoder_free(q);
    mlcl_encoder_free(k);
}
END_TEST

START_TEST(mlp_specs)
{
    mlcl_mlp_spec a = MLCL_MLP_SPEC_INIT, b;
    ck_assert_ok(mlcl_mlp_spec_init(&b, MLCL_MLP_SPEC_VERSION));
    ck_assert_mem_eq(&a, &b, sizeof a);
    mlcl_encoder_options oa = MLCL_ENCODER_OPTIONS_INIT, ob;
    ck_assert_ok(mlcl_encoder_options_init(&ob, MLCL_ENCODER_OPTIONS_VERSION));
    ck_assert_mem_eq(&oa, &ob, sizeof oa);
    /* MATH.md's backbone for Yeast (103 features) */
    a.in_dim = 103;
    mlcl_encoder *e;
    ck_assert_ok(mlcl_encoder_create_mlp(&e, &a, NULL));
    int nl, od, id;
    size_t np, ns;
    ck_assert_ok(mlcl_encoder_num_layers(e, &nl));
    ck_assert_ok(mlcl_encoder_out_dim(e, &od));
    ck_assert_ok(mlcl_encoder_in_dim(e, &id));
    ck_assert_ok(mlcl_encoder_param_count(e, &np));
    ck_assert_ok(mlcl_encoder_state_count(e, &ns));
    ck_assert_int_eq(nl, 9);
    ck_assert_int_eq(od, 256);
    ck_assert_int_eq(id, 103);
    ck_assert_uint_eq(np, 103 * 256 + 256 + 256 * 512 + 512 + 512 * 256 + 256);
    ck_assert_uint_eq(ns, 0);
    mlcl_encoder_free(e);
    /* projection head: output rows have unit norm */
    mlcl_mlp_spec p = MLCL_MLP_SPEC_INIT;
    p.in_dim = 256; p.n_hidden = 1; p.hidden[0] = 256; p.dropout = 0.1f; p.batchnorm = 1;
    p.out_dim = 256; p.out_act = MLCL_MLP_OUT_L2NORM;
    ck_assert_ok(mlcl_encoder_create_mlp(&e, &p, NULL));
    ck_assert_ok(mlcl_encoder_num_layers(e, &nl));
    ck_assert_int_eq(nl, 6);
    ck_assert_ok(mlcl_encoder_state_count(e, &ns));
    ck_assert_uint_eq(ns, 512);
    float *x = malloc(sizeof(float) * 8 * 256), *y = malloc(sizeof(float) * 8 * 256);
    randn(1, x, 8 * 256, 1.0f);
    ck_assert_ok(mlcl_encoder_forward(e, 8, x, y));
    for (int i = 0; i < 8; i++) {
        double s = 0;
        for (int j = 0; j < 256; j++) s += (double)y[i * 256 + j] * y[i * 256 + j];
        ck_assert_double_eq_tol(s, 1.0, 1e-5);
    }
    mlcl_encoder_free(e);
    /* LD head: rows of the softmax sum to 1 */
    mlcl_mlp_spec d = MLCL_MLP_SPEC_INIT;
    d.in_dim = 256; d.n_hidden = 0; d.out_dim = 14; d.out_act = MLCL_MLP_OUT_SOFTMAX;
    ck_assert_ok(mlcl_encoder_create_mlp(&e, &d, NULL));
    ck_assert_ok(mlcl_encoder_forward(e, 8, x, y));
    for (int i = 0; i < 8; i++) {
        double s = 0;
        for (int j = 0; j < 14; j++) { s += y[i * 14 + j]; ck_assert(y[i * 14 + j] > 0); }
        ck_assert_double_eq_tol(s, 1.0, 1e-6);
    }
    mlcl_encoder_free(e);
    free(x); free(y);
}
END_TEST

START_TEST(batch_larger_than_max_batch)
{
    /* max_batch 2, then n = 9: buffers grow; eval results row-independent */
    mlcl_mlp_spec s = MLCL_MLP_SPEC_INIT;
    s.in_dim = 5; s.hidden[0] = 7; s.hidden[1] = 6; s.hidden[2] = 3; s.batchnorm = 1;
    mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
    o.max_batch = 2;
    mlcl_encoder *e;
    ck_assert_ok(mlcl_encoder_create_mlp(&e, &s, &o));
    ck_assert_ok(mlcl_encoder_set_training(e, 0));
    float x[9 * 5], y[9 * 3], y1[3];
    randn(17, x, 45, 1.0f);
    ck_assert_ok(mlcl_encoder_forward(e, 9, x, y));
    for (int i = 0; i < 9; i++) {
        ck_assert_ok(mlcl_encoder_forward(e, 1, x + 5 * i, y1));
        for (int j = 0; j < 3; j++) ck_assert_float_eq_tol(y1[j], y[3 * i + j], 1e-6f);
    }
    mlcl_encoder_free(e);
}
END_TEST

/* Counting allocator: forward/backward must not allocate in steady state. */
static long n_allocs;
static void *count_alloc(size_t size, void *ctx)
{
    (void)ctx;
    n_allocs++;
    void *p = NULL;
    if (posix_memalign(&p, 64, size ? size : 1)) return NULL;
    return p;
}
static void count_free(void *p, void *ctx) { (void)ctx; free(p); }

START_TEST(no_allocation_in_steady_state)
{
    mlcl_allocator a = { MLCL_ALLOCATOR_VERSION, count_alloc, count_free, NULL };
    ck_assert_ok(mlcl_set_allocator(&a));
    mlcl_mlp_spec s = MLCL_MLP_SPEC_INIT;
    s.in_dim = 20; s.batchnorm = 1; s.out_dim = 8; s.out_act = MLCL_MLP_OUT_L2NORM;
    mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
    o.max_batch = 16;
    mlcl_encoder *e;
    ck_assert_ok(mlcl_encoder_create_mlp(&e, &s, &o));
    float *x = malloc(sizeof(float) * 32 * 20), *y = malloc(sizeof(float) * 32 * 8), *gi = malloc(sizeof(float) * 32 * 20);
    randn(3, x, 32 * 20, 1.0f);
    ck_assert_ok(mlcl_encoder_forward(e, 16, x, y));
    ck_assert_ok(mlcl_encoder_backward(e, 16, y, gi));
    long before = n_allocs;
    for (int it = 0; it < 3; it++) {
        ck_assert_ok(mlcl_encoder_forward(e, 16, x, y));
        ck_assert_ok(mlcl_encoder_backward(e, 16, y, gi));
        ck_assert_ok(mlcl_encoder_forward(e, 10, x, y));
        ck_assert_ok(mlcl_encoder_backward(e, 10, y, NULL));
    }
    ck_assert_int_eq(n_allocs, before);
    ck_assert_ok(mlcl_encoder_forward(e, 32, x, y)); /* grows once */
    ck_assert_int_gt(n_allocs, before);
    before = n_allocs;
    ck_assert_ok(mlcl_encoder_forward(e, 32, x, y));
    ck_assert_ok(mlcl_encoder_forward(e, 16, x, y));
    ck_assert_int_eq(n_allocs, before);
    mlcl_encoder_free(e);
    ck_assert_ok(mlcl_set_allocator(NULL));
    free(x); free(y); free(gi);
}
END_TEST

START_TEST(encoder_bad_arguments)
{
    mlcl_encoder *e = NULL;
    mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
    ck_assert_status_msg(mlcl_encoder_create(NULL, 3, NULL), MLCL_EINVAL, "out");
    ck_assert_status_msg(mlcl_encoder_create(&e, 0, NULL), MLCL_EINVAL, "in_dim");
    o.version = 99;
    ck_assert_status_msg(mlcl_encoder_create(&e, 3, &o), MLCL_EVERSION, "version");
    ck_assert_status_msg(mlcl_encoder_options_init(&o, 2), MLCL_EVERSION, "version");
    o.version = MLCL_ENCODER_OPTIONS_VERSION;
    o.max_batch = 0;
    ck_assert_status_msg(mlcl_encoder_create(&e, 3, &o), MLCL_EINVAL, "max_batch");
    ck_assert_ok(mlcl_encoder_create(&e, 3, NULL));
    ck_assert_status_msg(mlcl_encoder_add_linear(NULL, 3, 1), MLCL_EINVAL, "e is NULL");
    ck_assert_status_msg(mlcl_encoder_add_linear(e, 0, 1), MLCL_EINVAL, "out_dim");
    ck_assert_status_msg(mlcl_encoder_add_linear(e, 2, 2), MLCL_EINVAL, "bias");
    ck_assert_status_msg(mlcl_encoder_add_dropout(e, -0.1f), MLCL_EINVAL, "[0, 1)");
    ck_assert_status_msg(mlcl_encoder_add_dropout(e, 1.0f), MLCL_EINVAL, "[0, 1)");
    ck_assert_status_msg(mlcl_encoder_add_dropout(e, NAN), MLCL_EINVAL, "[0, 1)");
    ck_assert_status_msg(mlcl_encoder_add_batchnorm(e, 0.0f, 0.1f), MLCL_EINVAL, "eps");
    ck_assert_status_msg(mlcl_encoder_add_batchnorm(e, 1e-5f, 1.5f), MLCL_EINVAL, "momentum");
    ck_assert_status_msg(mlcl_encoder_add_relu(NULL), MLCL_EINVAL, "e");
    int nl;
    ck_assert_ok(mlcl_encoder_num_layers(e, &nl));
    ck_assert_int_eq(nl, 0); /* failed adds add nothing */
    ck_assert_ok(mlcl_encoder_add_linear(e, 2, 1));
    float x[6] = { 1, 2, 3, 4, 5, 6 }, y[4], g[4] = { 1, 1, 1, 1 };
    ck_assert_status_msg(mlcl_encoder_backward(e, 2, g, NULL), MLCL_ESTATE, "no forward");
    ck_assert_status_msg(mlcl_encoder_forward(e, 0, x, y), MLCL_EINVAL, "n must be > 0");
    ck_assert_status_msg(mlcl_encoder_forward(e, 2, NULL, y), MLCL_EINVAL, "x is NULL");
    ck_assert_status_msg(mlcl_encoder_forward(e, 2, x, NULL), MLCL_EINVAL, "out is NULL");
    x[4] = INFINITY;
    ck_assert_status_msg(mlcl_encoder_forward(e, 2, x, y), MLCL_ENUMERIC, "x[4] (row 1, column 1)");
    x[4] = 5;
    ck_assert_ok(mlcl_encoder_forward(e, 2, x, y));
    ck_assert_status_msg(mlcl_encoder_backward(e, 1, g, NULL), MLCL_ESTATE, "n = 1 differs");
    g[2] = NAN;
    ck_assert_status_msg(mlcl_encoder_backward(e, 2, g, NULL), MLCL_ENUMERIC, "grad_out[2]");
    ck_assert_status_msg(mlcl_encoder_backward(e, 2, NULL, NULL), MLCL_EINVAL, "grad_out");
    ck_assert_status_msg(mlcl_encoder_set_training(e, 2), MLCL_EINVAL, "training");
    float *p;
    size_t n;
    ck_assert_status_msg(mlcl_encoder_params_ptr(NULL, &p), MLCL_EINVAL, "e");
    ck_assert_status_msg(mlcl_encoder_params_ptr(e, NULL), MLCL_EINVAL, "p");
    ck_assert_status_msg(mlcl_encoder_param_count(e, NULL), MLCL_EINVAL, "n");
    ck_assert_status_msg(mlcl_encoder_set_params(e, NULL, 8), MLCL_EINVAL, "src");
    ck_assert_status_msg(mlcl_encoder_get_state(e, NULL, 1), MLCL_EINVAL, "state count 0");
    ck_assert_ok(mlcl_encoder_state_count(e, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_status_msg(mlcl_encoder_copy_params(e, NULL), MLCL_EINVAL, "src");
    ck_assert_status_msg(mlcl_encoder_get_rng_state(e, NULL), MLCL_EINVAL, "state");
    /* adding a layer after a forward invalidates the cache */
    ck_assert_ok(mlcl_encoder_forward(e, 2, x, y));
    ck_assert_ok(mlcl_encoder_add_relu(e));
    g[2] = 1;
    ck_assert_status_msg(mlcl_encoder_backward(e, 2, g, NULL), MLCL_ESTATE, "no forward");
    mlcl_encoder_free(e);
    mlcl_encoder_free(NULL);
    /* spec validation */
    mlcl_mlp_spec s = MLCL_MLP_SPEC_INIT;
    ck_assert_status_msg(mlcl_encoder_create_mlp(&e, &s, NULL), MLCL_EINVAL, "in_dim");
    s.in_dim = 4;
    s.n_hidden = 9;
    ck_assert_status_msg(mlcl_encoder_create_mlp(&e, &s, NULL), MLCL_EINVAL, "n_hidden");
    s.n_hidden = 2; s.hidden[1] = 0;
    ck_assert_status_msg(mlcl_encoder_create_mlp(&e, &s, NULL), MLCL_EINVAL, "hidden[1]");
    s.hidden[1] = 3; s.dropout = 1.0f;
    ck_assert_status_msg(mlcl_encoder_create_mlp(&e, &s, NULL), MLCL_EINVAL, "dropout");
    s.dropout = 0.1f; s.out_act = 7;
    ck_assert_status_msg(mlcl_encoder_create_mlp(&e, &s, NULL), MLCL_EINVAL, "out_act");
    s.out_act = 0; s.version = 0;
    ck_assert_status_msg(mlcl_encoder_create_mlp(&e, &s, NULL), MLCL_EVERSION, "version");
    ck_assert_status_msg(mlcl_encoder_create_mlp(&e, NULL, NULL), MLCL_EINVAL, "spec");
    ck_assert_status_msg(mlcl_mlp_spec_init(&s, 5), MLCL_EVERSION, "version");
}
END_TEST

/* ------------------------------------------------------------------ stand-alone kernels */

START_TEST(softmax_standalone)
{
    enum { N = 3, C = 5 };
    float l[N * C], p[N * C], R[N * C], g[N * C];
    randn(51, l, N * C, 2.0f);
    randn(52, R, N * C, 1.0f);
    ck_assert_ok(mlcl_softmax_forward(p, l, N, C));
    for (int i = 0; i < N; i++) {
        double z = 0;
        for (int j = 0; j < C; j++) z += exp((double)l[i * C + j]);
        for (int j = 0; j < C; j++) ck_assert_double_eq_tol(p[i * C + j], exp((double)l[i * C + j]) / z, 1e-7);
    }
    /* accumulate: start from 1 */
    for (int k = 0; k < N * C; k++) g[k] = 1.0f;
    ck_assert_ok(mlcl_softmax_backward(g, p, R, N, C));
    const double h = 1e-2;
    for (int k = 0; k < N * C; k++) {
        float v = l[k], q[N * C];
        double lp = 0, lm = 0;
        l[k] = (float)(v + h);
        ck_assert_ok(mlcl_softmax_forward(q, l, N, C));
        for (int t = 0; t < N * C; t++) lp += (double)R[t] * q[t];
        l[k] = (float)(v - h);
        ck_assert_ok(mlcl_softmax_forward(q, l, N, C));
        for (int t = 0; t < N * C; t++) lm += (double)R[t] * q[t];
        l[k] = v;
        ck_assert_msg(grad_err(g[k] - 1.0, (lp - lm) / (2 * h), 1e-2) < 1e-3, "softmax grad %d", k);
    }
    /* stable for huge logits; in place */
    float big[3] = { 1000.0f, 1000.0f, -1000.0f };
    ck_assert_ok(mlcl_softmax_forward(big, big, 1, 3));
    ck_assert_float_eq_tol(big[0], 0.5f, 1e-7f);
    ck_assert_float_eq(big[2], 0.0f);
    ck_assert_status_msg(mlcl_softmax_forward(p, l, 0, 3), MLCL_EINVAL, "n must be");
    ck_assert_status_msg(mlcl_softmax_forward(p, l, 1, 0), MLCL_EINVAL, "c must be");
    ck_assert_status_msg(mlcl_softmax_forward(p, NULL, 1, 3), MLCL_EINVAL, "logits");
    l[1] = NAN;
    ck_assert_status_msg(mlcl_softmax_forward(p, l, 1, 3), MLCL_ENUMERIC, "logits");
    ck_assert_status_msg(mlcl_softmax_backward(g, p, NULL, 1, 3), MLCL_EINVAL, "grad_prob");
}
END_TEST

START_TEST(bce_standalone)
{
    enum { N = 4, C = 3 };
    float x[N * C], t[N * C], g[N * C], loss;
    randn(61, x, N * C, 3.0f);
    for (int k = 0; k < N * C; k++) t[k] = (k % 3 == 0) ? 1.0f : (k % 3 == 1 ? 0.0f : 0.3f);
    memset(g, 0, sizeof g);
    ck_assert_ok(mlcl_bce_with_logits(&loss, g, x, t, N, C));
    /* plain formula: -(t log s + (1-t) log(1-s)), mean */
    double ref = 0;
    for (int k = 0; k < N * C; k++) {
        double s = 1.0 / (1.0 + exp(-(double)x[k]));
        ref += -(t[k] * log(s) + (1 - t[k]) * log(1 - s));
    }
    ck_assert_double_eq_tol(loss, ref / (N * C), 1e-6);
    const double h = 1e-2;
    for (int k = 0; k < N * C; k++) {
        float v = x[k], lp, lm;
        x[k] = (float)(v + h);
        ck_assert_ok(mlcl_bce_with_logits(&lp, NULL, x, t, N, C));
        x[k] = (float)(v - h);
        ck_assert_ok(mlcl_bce_with_logits(&lm, NULL, x, t, N, C));
        x[k] = v;
        /* the loss is returned as float: compare the slope with a loose floor */
        ck_assert_msg(grad_err(g[k], ((double)lp - lm) / (2 * h), 2e-2) < 1e-3, "bce grad %d: %g vs %g", k,
                      g[k], ((double)lp - lm) / (2 * h));
    }
    /* stable at extreme logits: log1p(exp(-|x|)) */
    float xe[2] = { 200.0f, -200.0f }, te[2] = { 0.0f, 0.0f };
    ck_assert_ok(mlcl_bce_with_logits(&loss, NULL, xe, te, 1, 2));
    ck_assert_double_eq_tol(loss, 100.0, 1e-4);
    ck_assert_status_msg(mlcl_bce_with_logits(NULL, NULL, xe, te, 1, 2), MLCL_EINVAL, "loss");
    te[1] = 1.5f;
    ck_assert_status_msg(mlcl_bce_with_logits(&loss, NULL, xe, te, 1, 2), MLCL_EINVAL, "targets[1]");
    te[1] = 0.0f; xe[0] = NAN;
    ck_assert_status_msg(mlcl_bce_with_logits(&loss, NULL, xe, te, 1, 2), MLCL_ENUMERIC, "logits[0]");
    ck_assert_status_msg(mlcl_bce_with_logits(&loss, NULL, xe, te, 0, 2), MLCL_EINVAL, "n must be");
}
END_TEST

START_TEST(sigmoid_standalone)
{
    float x[6] = { 0.0f, 1.0f, -1.0f, 30.0f, -100.0f, -3.5f }, y[6];
    ck_assert_ok(mlcl_sigmoid(y, x, 6));
    for (int k = 0; k < 6; k++) ck_assert_double_eq_tol(y[k], 1.0 / (1.0 + exp(-(double)x[k])), 1e-7);
    ck_assert(y[4] > 0.0f); /* no underflow to a wrong 0/0 */
    ck_assert_ok(mlcl_sigmoid(x, x, 6));
    ck_assert_mem_eq(x, y, sizeof y);
    ck_assert_ok(mlcl_sigmoid(NULL, NULL, 0));
    ck_assert_status_msg(mlcl_sigmoid(y, NULL, 2), MLCL_EINVAL, "x");
}
END_TEST

START_TEST(l2norm_standalone)
{
    enum { N = 3, M = 4 };
    float x[N * M], y[N * M], nr[N], R[N * M], g[N * M];
    randn(71, x, N * M, 1.0f);
    randn(72, R, N * M, 1.0f);
    ck_assert_ok(mlcl_l2norm_forward(y, nr, x, N, M));
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < M; j++) s += (double)x[i * M + j] * x[i * M + j];
        ck_assert_double_eq_tol(nr[i], sqrt(s), 1e-6);
        for (int j = 0; j < M; j++) ck_assert_double_eq_tol(y[i * M + j], x[i * M + j] / sqrt(s), 1e-6);
    }
    memset(g, 0, sizeof g);
    ck_assert_ok(mlcl_l2norm_backward(g, y, nr, R, N, M));
    const double h = 1e-2;
    for (int k = 0; k < N * M; k++) {
        float v = x[k], q[N * M];
        double lp = 0, lm = 0;
        x[k] = (float)(v + h);
        ck_assert_ok(mlcl_l2norm_forward(q, NULL, x, N, M));
        for (int t = 0; t < N * M; t++) lp += (double)R[t] * q[t];
        x[k] = (float)(v - h);
        ck_assert_ok(mlcl_l2norm_forward(q, NULL, x, N, M));
        for (int t = 0; t < N * M; t++) lm += (double)R[t] * q[t];
        x[k] = v;
        ck_assert_msg(grad_err(g[k], (lp - lm) / (2 * h), 1e-2) < 1e-3, "l2norm grad %d", k);
    }
    /* a zero row stays zero (eps 1e-12, as F.normalize) */
    float z[2] = { 0, 0 }, zo[2], zn;
    ck_assert_ok(mlcl_l2norm_forward(zo, &zn, z, 1, 2));
    ck_assert_float_eq(zo[0], 0.0f);
    ck_assert_float_eq(zn, 0.0f);
    ck_assert_status_msg(mlcl_l2norm_forward(zo, NULL, z, 1, 0), MLCL_EINVAL, "m must be");
    ck_assert_status_msg(mlcl_l2norm_backward(zo, zo, NULL, z, 1, 2), MLCL_EINVAL, "norms");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nn");
    TCase *fd = tcase_create("gradients");
    tcase_set_timeout(fd, 60);
    tcase_add_test(fd, fd_linear);
    tcase_add_test(fd, fd_relu);
    tcase_add_test(fd, fd_dropout);
    tcase_add_test(fd, fd_batchnorm);
    tcase_add_test(fd, fd_softmax_l2norm_layers);
    tcase_add_test(fd, fd_mlp_bn_dropout);
    suite_add_tcase(s, fd);
    TCase *l = tcase_create("layers");
    tcase_set_timeout(l, 60);
    tcase_add_test(l, linear_matches_plain_loops);
    tcase_add_test(l, init_like_pytorch);
    tcase_add_test(l, batchnorm_running_stats);
    tcase_add_test(l, dropout_scaling_and_rate);
    tcase_add_test(l, determinism_by_seed);
    tcase_add_test(l, split_forward_same_bits);
    tcase_add_test(l, param_layout);
    tcase_add_test(l, momentum_update_and_copy);
    tcase_add_test(l, mlp_specs);
    tcase_add_test(l, batch_larger_than_max_batch);
    tcase_add_test(l, no_allocation_in_steady_state);
    tcase_add_test(l, encoder_bad_arguments);
    suite_add_tcase(s, l);
    TCase *k = tcase_create("kernels");
    tcase_add_test(k, softmax_standalone);
    tcase_add_test(k, bce_standalone);
    tcase_add_test(k, sigmoid_standalone);
    tcase_add_test(k, l2norm_standalone);
    suite_add_tcase(s, k);
    return run_suite(s);
}
