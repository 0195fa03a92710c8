/* resnet: mlcl_encoder_create_resnet checked against a deliberately plain
 * second implementation written only from models.h's documentation (naive
 * 7-loop convolutions in double, BatchNorm with batch statistics / running
 * statistics, max-pool, global average pool, residual adds, basic and
 * bottleneck blocks, both stems), weights read from the public parameter and
 * state buffers in the documented torchvision order. Also: parameter/state
 * counts against torchvision's, initialisation, running-statistics updates,
 * the backward pass (directional derivatives of the double-precision
 * reference), layers appended after the network, mlcl_encoder_clone, and bad
 * arguments. Public API only. */
#include "testutil.h"
#include <limits.h>
#include <math.h>
#include <stdint.h>

/* ------------------------------------------------------- layout (models.h) */

/* One parameter segment of the documented order: a convolution weight
 * (O x C x k x k, no bias) or a BatchNorm (gamma C, beta C; state
 * running_mean C, running_var C). */
typedef struct {
    int is_conv;
    int O, C, k;       /* conv: out, in, kernel; bn: C = channels */
    int last_bn;       /* bn: the last BN of a block's main branch */
    int downsample;    /* belongs to a downsample branch */
    size_t off, soff;  /* offsets in params / state */
} seg;

typedef struct {
    seg s[256];
    int n;
    size_t np, ns;
} layout;

static void add_conv(layout *L, int O, int C, int k, int ds)
{
    ck_assert_int_lt(L->n, 256);
    seg *g = &L->s[L->n++];
    memset(g, 0, sizeof *g);
    g->is_conv = 1; g->O = O; g->C = C; g->k = k; g->downsample = ds;
    g->off = L->np; g->soff = L->ns;
    L->np += (size_t)O * C * k * k;
}

static void add_bn(layout *L, int C, int last, int ds)
{
    ck_assert_int_lt(L->n, 256);
    seg *g = &L->s[L->n++];
    memset(g, 0, sizeof *g);
    g->C = C; g->last_bn = last; g->downsample = ds;
    g->off = L->np; g->soff = L->ns;
    L->np += 2 * (size_t)C;
    L->ns += 2 * (size_t)C;
}

static const int BLOCKS18[4] = { 2, 2, 2, 2 }, BLOCKS34[4] = { 3, 4, 6, 3 };

static const int *stage_blocks(int depth) { return depth == 18 ? BLOCKS18 : BLOCKS34; }

/* torchvision's resnetNN() without fc, as models.h describes it. */
static void build_layout(layout *L, const mlcl_resnet_spec *sp)
{
    memset(L, 0, sizeof *L);
    int b = sp->base_width, bott = sp->depth == 50;
    int k = sp->stem == MLCL_RESNET_STEM_IMAGENET ? 7 : 3;
    add_conv(L, b, sp->in_channels, k, 0);
    add_bn(L, b, 0, 0);
    int inpl = b;
    const int *nb = stage_blocks(sp->depth);
    for (int s = 0; s < 4; s++) {
        int planes = b << s;
        for (int j = 0; j < nb[s]; j++) {
            int stride = (s > 0 && j == 0) ? 2 : 1;
            if (!bott) {
                add_conv(L, planes, inpl, 3, 0); add_bn(L, planes, 0, 0);
                add_conv(L, planes, planes, 3, 0); add_bn(L, planes, 1, 0);
                if (stride != 1 || inpl != planes) { add_conv(L, planes, inpl, 1, 1); add_bn(L, planes, 0, 1); }
                inpl = planes;
            } else {
                add_conv(L, planes, inpl, 1, 0); add_bn(L, planes, 0, 0);
                add_conv(L, planes, planes, 3, 0); add_bn(L, planes, 0, 0);
                add_conv(L, 4 * planes, planes, 1, 0); add_bn(L, 4 * planes, 1, 0);
                if (stride != 1 || inpl != 4 * planes) { add_conv(L, 4 * planes, inpl, 1, 1); add_bn(L, 4 * planes, 0, 1); }
                inpl = 4 * planes;
            }
        }
    }
}

/* ------------------------------------------------ the plain reference */

typedef struct { int n, c, h, w; double *d; } tensor;

static tensor tnew(int n, int c, int h, int w)
{
    tensor t = { n, c, h, w, calloc((size_t)n * c * h * w, sizeof(double)) };
    ck_assert_ptr_nonnull(t.d);
    return t;
}

#define AT(t, i, ch, y, x) ((t).d[(((size_t)(i) * (t).c + (ch)) * (t).h + (y)) * (t).w + (x)])

/* y[i,o,oy,ox] = sum_c sum_ky sum_kx w[o,c,ky,kx] x[i,c,oy*s-p+ky,ox*s-p+kx] */
static tensor conv(const tensor *x, const double *w, int O, int k, int s, int p)
{
    int Ho = (x->h + 2 * p - k) / s + 1, Wo = (x->w + 2 * p - k) / s + 1;
    tensor y = tnew(x->n, O, Ho, Wo);
    for (int i = 0; i < x->n; i++)
        for (int o = 0; o < O; o++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double acc = 0.0;
                    for (int c = 0; c < x->c; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * s - p + ky, ix = ox * s - p + kx;
                                if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w) continue;
                                acc += w[(((size_t)o * x->c + c) * k + ky) * k + kx] * AT(*x, i, c, iy, ix);
                            }
                    AT(y, i, o, oy, ox) = acc;
                }
    return y;
}

/* PyTorch BatchNorm2d: training uses the batch mean and biased variance and
 * updates running_x = (1 - m) running_x + m batch_x (unbiased variance);
 * evaluation uses the running statistics. */
static void bn(tensor *x, const double *gamma, const double *beta, double *rmean, double *rvar,
               int training, double eps, double mom)
{
    size_t cnt = (size_t)x->n * x->h * x->w;
    for (int c = 0; c < x->c; c++) {
        double mean, var;
        if (training) {
            double s = 0.0, q = 0.0;
            for (int i = 0; i < x->n; i++)
                for (int y = 0; y < x->h; y++)
                    for (int z = 0; z < x->w; z++) s += AT(*x, i, c, y, z);
            mean = s / cnt;
            for (int i = 0; i < x->n; i++)
                for (int y = 0; y < x->h; y++)
                    for (int z = 0; z < x->w; z++) q += (AT(*x, i, c, y, z) - mean) * (AT(*x, i, c, y, z) - mean);
            var = q / cnt;
            rmean[c] = (1.0 - mom) * rmean[c] + mom * mean;
            rvar[c] = (1.0 - mom) * rvar[c] + mom * var * cnt / (cnt - 1.0);
        } else {
            mean = rmean[c];
            var = rvar[c];
        }
        double inv = 1.0 / sqrt(var + eps);
        for (int i = 0; i < x->n; i++)
            for (int y = 0; y < x->h; y++)
                for (int z = 0; z < x->w; z++)
                    AT(*x, i, c, y, z) = gamma[c] * (AT(*x, i, c, y, z) - mean) * inv + beta[c];
    }
}

/* *margin tracks the smallest |input| seen (the distance to the kink). */
static void relu(tensor *x, double *margin)
{
    size_t m = (size_t)x->n * x->c * x->h * x->w;
    for (size_t k = 0; k < m; k++) {
        if (fabs(x->d[k]) < *margin) *margin = fabs(x->d[k]);
        if (x->d[k] < 0) x->d[k] = 0;
    }
}

/* MaxPool2d(3, stride 2, padding 1): padded cells never win. *margin tracks
 * the smallest gap between a window's largest and second largest value. */
static tensor maxpool(const tensor *x, double *margin)
{
    int Ho = (x->h + 2 - 3) / 2 + 1, Wo = (x->w + 2 - 3) / 2 + 1;
    tensor y = tnew(x->n, x->c, Ho, Wo);
    for (int i = 0; i < x->n; i++)
        for (int c = 0; c < x->c; c++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double m = -INFINITY, m2 = -INFINITY;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
                            if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w) continue;
                            double v = AT(*x, i, c, iy, ix);
                            if (v > m) { m2 = m; m = v; } else if (v > m2) m2 = v;
                        }
                    AT(y, i, c, oy, ox) = m;
                    if (m > 0 && m - m2 < *margin) *margin = m - m2; /* ties at 0 carry no gradient */
                }
    return y;
}

typedef struct {
    const layout *L;
    const double *P; /* parameters (double copy) */
    double *S;       /* state, updated in training */
    int next;        /* next segment */
    int training;
    double eps, mom;
    double margin;   /* smallest distance of a ReLU input to 0 / max-pool gap */
} refnet;

static const seg *next_seg(refnet *r, int want_conv)
{
    ck_assert_int_lt(r->next, r->L->n);
    const seg *g = &r->L->s[r->next++];
    ck_assert_int_eq(g->is_conv, want_conv);
    return g;
}

static tensor conv_seg(refnet *r, const tensor *x, int s, int p)
{
    const seg *g = next_seg(r, 1);
    ck_assert_int_eq(g->C, x->c);
    return conv(x, r->P + g->off, g->O, g->k, s, p);
}

static void bn_seg(refnet *r, tensor *x)
{
    const seg *g = next_seg(r, 0);
    ck_assert_int_eq(g->C, x->c);
    bn(x, r->P + g->off, r->P + g->off + g->C, r->S + g->soff, r->S + g->soff + g->C,
       r->training, r->eps, r->mom);
}

static void add_into(tensor *y, const tensor *x)
{
    size_t m = (size_t)y->n * y->c * y->h * y->w;
    ck_assert(y->c == x->c && y->h == x->h && y->w == x->w);
    for (size_t k = 0; k < m; k++) y->d[k] += x->d[k];
}

/* One block; consumes x. The downsample branch's parameters come after the
 * main branch's (torchvision's registration order). */
static tensor block(refnet *r, tensor x, int planes, int stride, int bott)
{
    tensor y;
    if (!bott) {
        tensor a = conv_seg(r, &x, stride, 1); bn_seg(r, &a); relu(&a, &r->margin);
        y = conv_seg(r, &a, 1, 1); bn_seg(r, &y);
        free(a.d);
    } else {
        tensor a = conv_seg(r, &x, 1, 0); bn_seg(r, &a); relu(&a, &r->margin);
        tensor b = conv_seg(r, &a, stride, 1); bn_seg(r, &b); relu(&b, &r->margin);
        y = conv_seg(r, &b, 1, 0); bn_seg(r, &y);
        free(a.d); free(b.d);
    }
    int outc = bott ? 4 * planes : planes;
    if (stride != 1 || x.c != outc) {
        tensor d = conv_seg(r, &x, stride, 0); bn_seg(r, &d);
        add_into(&y, &d);
        free(d.d);
    } else {
        add_into(&y, &x);
    }
    relu(&y, &r->margin);
    free(x.d);
    return y;
}

/* The whole network on n images (rows CHW, float x or double xd); out:
 * n x out_dim. Returns the kink margin (see relu(), maxpool()). */
static double ref_forward_d(const mlcl_resnet_spec *sp, const layout *L, const double *P, double *S,
                            int training, int n, const float *x, const double *xd, double *out)
{
    refnet r = { L, P, S, 0, training, sp->bn_eps, sp->bn_momentum, INFINITY };
    tensor t = tnew(n, sp->in_channels, sp->height, sp->width);
    for (size_t k = 0; k < (size_t)n * sp->in_channels * sp->height * sp->width; k++) t.d[k] = x ? x[k] : xd[k];
    tensor y;
    if (sp->stem == MLCL_RESNET_STEM_IMAGENET) {
        y = conv_seg(&r, &t, 2, 3); bn_seg(&r, &y); relu(&y, &r.margin);
        tensor m = maxpool(&y, &r.margin);
        free(y.d);
        y = m;
    } else {
        y = conv_seg(&r, &t, 1, 1); bn_seg(&r, &y); relu(&y, &r.margin);
    }
    free(t.d);
    const int *nb = stage_blocks(sp->depth);
    for (int s = 0; s < 4; s++)
        for (int j = 0; j < nb[s]; j++)
            y = block(&r, y, sp->base_width << s, (s > 0 && j == 0) ? 2 : 1, sp->depth == 50);
    ck_assert_int_eq(r.next, L->n); /* every parameter used, in order */
    for (int i = 0; i < n; i++)
        for (int c = 0; c < y.c; c++) {
            double s = 0.0;
            for (int a = 0; a < y.h; a++)
                for (int b = 0; b < y.w; b++) s += AT(y, i, c, a, b);
            out[(size_t)i * y.c + c] = s / (y.h * y.w);
        }
    free(y.d);
    return r.margin;
}

static double ref_forward(const mlcl_resnet_spec *sp, const layout *L, const double *P, double *S,
                          int training, int n, const float *x, double *out)
{
    return ref_forward_d(sp, L, P, S, training, n, x, NULL, out);
}

/* ------------------------------------------------------------ helpers */

static void randn(uint64_t seed, float *x, size_t n, float sd)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed));
    ck_assert_ok(mlcl_rng_normal(r, x, n, sd));
    mlcl_rng_free(r);
}

static mlcl_resnet_spec mkspec(int depth, int stem, int c, int h, int w, int base)
{
    mlcl_resnet_spec sp;
    ck_assert_ok(mlcl_resnet_spec_init(&sp, MLCL_RESNET_SPEC_VERSION));
    sp.depth = depth; sp.stem = stem; sp.in_channels = c; sp.height = h; sp.width = w;
    sp.base_width = base;
    return sp;
}

static mlcl_encoder *mkresnet(const mlcl_resnet_spec *sp, int max_batch, uint64_t seed)
{
    mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
    o.max_batch = max_batch;
    o.seed = seed;
    mlcl_encoder *e = NULL;
    ck_assert_ok(mlcl_encoder_create_resnet(&e, sp, &o));
    ck_assert_ptr_nonnull(e);
    return e;
}

/* Gives every BatchNorm non-trivial gamma/beta and running statistics (so a
 * swapped gamma/beta or mean/var cannot pass), in the library and in the
 * returned double copies P (params) and S (state). */
static void randomize_bn(mlcl_encoder *e, const layout *L, uint64_t seed, double **P, double **S)
{
    size_t np, ns;
    ck_assert_ok(mlcl_encoder_param_count(e, &np));
    ck_assert_ok(mlcl_encoder_state_count(e, &ns));
    ck_assert_uint_eq(np, L->np);
    ck_assert_uint_eq(ns, L->ns);
    float *p = malloc(sizeof(float) * np), *s = malloc(sizeof(float) * ns);
    ck_assert_ok(mlcl_encoder_get_params(e, p, np));
    ck_assert_ok(mlcl_encoder_get_state(e, s, ns));
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed));
    for (int k = 0; k < L->n; k++) {
        const seg *g = &L->s[k];
        if (g->is_conv) continue;
        float *gam = p + g->off, *bet = gam + g->C, *rm = s + g->soff, *rv = rm + g->C;
        ck_assert_ok(mlcl_rng_uniform(r, gam, g->C));
        ck_assert_ok(mlcl_rng_uniform(r, bet, g->C));
        ck_assert_ok(mlcl_rng_normal(r, rm, g->C, 0.2f));
        ck_assert_ok(mlcl_rng_uniform(r, rv, g->C));
        for (int c = 0; c < g->C; c++) {
            gam[c] = 0.5f + gam[c];          /* [0.5, 1.5) */
            bet[c] = 0.4f * bet[c] - 0.2f;   /* [-0.2, 0.2) */
            rv[c] = 0.5f + 1.5f * rv[c];     /* [0.5, 2) */
        }
    }
    mlcl_rng_free(r);
    ck_assert_ok(mlcl_encoder_set_params(e, p, np));
    ck_assert_ok(mlcl_encoder_set_state(e, s, ns));
    *P = malloc(sizeof(double) * np);
    *S = malloc(sizeof(double) * ns);
    for (size_t k = 0; k < np; k++) (*P)[k] = p[k];
    for (size_t k = 0; k < ns; k++) (*S)[k] = s[k];
    free(p); free(s);
}

/* max |a - r| / max(max |r|, 1e-6) */
static double rel_err_f(const float *a, const double *r, size_t n)
{
    double e = 0.0, m = 1e-6;
    for (size_t k = 0; k < n; k++) {
        if (fabs(a[k] - r[k]) > e) e = fabs(a[k] - r[k]);
        if (fabs(r[k]) > m) m = fabs(r[k]);
    }
    return e / m;
}

/* The whole forward, training then evaluation, and the running statistics
 * after the training step, against the reference. */
static void check_forward(mlcl_resnet_spec sp, int n, uint64_t seed, double tol)
{
    layout L;
    build_layout(&L, &sp);
    mlcl_encoder *e = mkresnet(&sp, n, seed);
    int id, od;
    ck_assert_ok(mlcl_encoder_in_dim(e, &id));
    ck_assert_ok(mlcl_encoder_out_dim(e, &od));
    ck_assert_int_eq(id, sp.in_channels * sp.height * sp.width);
    ck_assert_int_eq(od, (sp.depth == 50 ? 32 : 8) * sp.base_width);
    double *P, *S;
    randomize_bn(e, &L, seed + 1, &P, &S);
    float *x = malloc(sizeof(float) * n * id), *out = malloc(sizeof(float) * n * od);
    double *ref = malloc(sizeof(double) * n * od);
    randn(seed + 2, x, (size_t)n * id, 1.0f);

    int tr;
    ck_assert_ok(mlcl_encoder_get_training(e, &tr));
    ck_assert_int_eq(tr, 1); /* encoders start in training mode */
    ck_assert_ok(mlcl_encoder_forward(e, n, x, out));
    ref_forward(&sp, &L, P, S, 1, n, x, ref);
    double err = rel_err_f(out, ref, (size_t)n * od);
    ck_assert_msg(err < tol, "ResNet-%d stem %d %dx%dx%d n=%d training: max rel err %g",
                  sp.depth, sp.stem, sp.in_channels, sp.height, sp.width, n, err);

    /* running statistics after one training forward, PyTorch's update */
    float *st = malloc(sizeof(float) * L.ns);
    ck_assert_ok(mlcl_encoder_get_state(e, st, L.ns));
    double serr = 0.0;
    for (size_t k = 0; k < L.ns; k++) {
        double d = fabs(st[k] - S[k]) / (fabs(S[k]) + 1e-2);
        if (d > serr) serr = d;
    }
    ck_assert_msg(serr < 1e-3, "ResNet-%d running statistics: max rel err %g", sp.depth, serr);

    /* evaluation: running statistics, and they stay put */
    ck_assert_ok(mlcl_encoder_set_training(e, 0));
    randn(seed + 3, x, (size_t)n * id, 1.0f);
    ck_assert_ok(mlcl_encoder_forward(e, n, x, out));
    for (size_t k = 0; k < L.ns; k++) S[k] = st[k]; /* the library's (checked) values */
    ref_forward(&sp, &L, P, S, 0, n, x, ref);
    err = rel_err_f(out, ref, (size_t)n * od);
    ck_assert_msg(err < tol, "ResNet-%d stem %d n=%d eval: max rel err %g", sp.depth, sp.stem, n, err);
    float *st2 = malloc(sizeof(float) * L.ns);
    ck_assert_ok(mlcl_encoder_get_state(e, st2, L.ns));
    ck_assert_msg(memcmp(st, st2, sizeof(float) * L.ns) == 0, "eval forward changed the state");
    /* one image in evaluation mode is fine (no batch statistics) */
    ck_assert_ok(mlcl_encoder_forward(e, 1, x, out));
    ref_forward(&sp, &L, P, S, 0, 1, x, ref);
    err = rel_err_f(out, ref, (size_t)od);
    ck_assert_msg(err < tol, "eval n=1: max rel err %g", err);

    free(st); free(st2); free(x); free(out); free(ref); free(P); free(S);
    mlcl_encoder_free(e);
}

/* ------------------------------------------------------------- forward */
/* Every configuration keeps n x (final map) >= 8 values per channel in the
 * last BatchNorms: with 2-4 values, training-mode normalisation amplifies
 * float round-off (and x -> (x - mean) / std is nearly discontinuous), so
 * neither a 1e-4 forward tolerance nor a finite difference would mean much. */

START_TEST(forward_resnet18_small)
{
    check_forward(mkspec(18, MLCL_RESNET_STEM_SMALL, 3, 16, 16, 8), 2, 11, 1e-4);
}
END_TEST

START_TEST(forward_resnet34_small)
{
    check_forward(mkspec(34, MLCL_RESNET_STEM_SMALL, 2, 12, 10, 4), 3, 21, 1e-4);
}
END_TEST

START_TEST(forward_resnet50_imagenet)
{
    check_forward(mkspec(50, MLCL_RESNET_STEM_IMAGENET, 3, 64, 64, 4), 2, 31, 1e-4);
}
END_TEST

START_TEST(forward_resnet18_imagenet_odd_sizes)
{
    /* odd, non-square sizes exercise the paddings and floor divisions */
    check_forward(mkspec(18, MLCL_RESNET_STEM_IMAGENET, 1, 45, 37, 4), 3, 41, 1e-4);
}
END_TEST

START_TEST(forward_resnet50_small)
{
    check_forward(mkspec(50, MLCL_RESNET_STEM_SMALL, 3, 16, 16, 2), 2, 51, 1e-4);
}
END_TEST

/* ------------------------------------------------------------ backward */

/* L(x, theta) = sum R * out from the double reference in training mode. */
static double ref_loss(const mlcl_resnet_spec *sp, const layout *L, const double *P, const double *S0,
                       int n, const double *x, const double *R, int od)
{
    double *S = malloc(sizeof(double) * (L->ns + 1)), *o = malloc(sizeof(double) * n * od);
    memcpy(S, S0, sizeof(double) * L->ns);
    ref_forward_d(sp, L, P, S, 1, n, NULL, x, o);
    double s = 0.0;
    for (int k = 0; k < n * od; k++) s += R[k] * o[k];
    free(S); free(o);
    return s;
}

/* Directional derivatives of the double reference along random directions
 * (inputs only, parameters only, both) against the library's analytic
 * gradients: <grad_in, v_x> + <grads, v_p>; with per_segment, also along
 * each parameter tensor's gradient separately. Also: gradients accumulate. */
static void check_backward(mlcl_resnet_spec sp, int n, uint64_t seed, int per_segment)
{
    layout L;
    build_layout(&L, &sp);
    mlcl_encoder *e = mkresnet(&sp, n, seed);
    int id, od;
    ck_assert_ok(mlcl_encoder_in_dim(e, &id));
    ck_assert_ok(mlcl_encoder_out_dim(e, &od));
    double *P, *S;
    randomize_bn(e, &L, seed + 1, &P, &S);
    size_t np = L.np, nx = (size_t)n * id;
    float *x = malloc(sizeof(float) * nx), *out = malloc(sizeof(float) * n * od);
    float *Rf = malloc(sizeof(float) * n * od), *gin = malloc(sizeof(float) * nx);
    float *g = malloc(sizeof(float) * np), *g2 = malloc(sizeof(float) * np);
    double *R = malloc(sizeof(double) * n * od);
    /* Inputs whose ReLU inputs all stay >= 1e-5 from 0 (and max-pool
     * windows without near-ties) in the reference: a float32 forward may
     * otherwise put a unit on the other side of a kink, which changes its
     * gradient by O(1) (a legitimate difference, seen with PyTorch too). */
    double margin = 0.0;
    double *o = malloc(sizeof(double) * n * od), *S1 = malloc(sizeof(double) * L.ns);
    for (uint64_t t = 0; t < 20 && margin < 1e-5; t++) {
        randn(seed + 100 + t, x, nx, 1.0f);
        memcpy(S1, S, sizeof(double) * L.ns);
        margin = ref_forward(&sp, &L, P, S1, 1, n, x, o);
    }
    ck_assert_msg(margin >= 1e-5, "no input with a kink margin >= 1e-5 in 20 tries (%g)", margin);
    free(o); free(S1);
    randn(seed + 3, Rf, (size_t)n * od, 1.0f);
    for (int k = 0; k < n * od; k++) R[k] = Rf[k];
    ck_assert_ok(mlcl_encoder_zero_grad(e));
    ck_assert_ok(mlcl_encoder_forward(e, n, x, out));
    ck_assert_ok(mlcl_encoder_backward(e, n, Rf, gin));
    float *gb;
    ck_assert_ok(mlcl_encoder_grads_ptr(e, &gb));
    memcpy(g, gb, sizeof(float) * np);

    /* directions, in double: steps of ~1e-8 of each value's scale move no
     * ReLU input by more than the 1e-5 margin, so the central difference
     * sees a smooth function (error O(h^2) + double round-off ~1e-8) */
    float *vxf = malloc(sizeof(float) * nx), *vp = malloc(sizeof(float) * np);
    double *xp = malloc(sizeof(double) * nx), *xm = malloc(sizeof(double) * nx);
    randn(seed + 4, vxf, nx, 1.0f);
    randn(seed + 5, vp, np, 1.0f);
    double *Pp = malloc(sizeof(double) * np), *Pm = malloc(sizeof(double) * np);
    double gxmax = 1e-30, gpmax = 1e-30;
    for (size_t k = 0; k < nx; k++) gxmax = fmax(gxmax, fabs(gin[k]));
    for (size_t k = 0; k < np; k++) gpmax = fmax(gpmax, fabs(g[k]) / (fabs(P[k]) + 1e-2));
    /* directions 0-2: random over the inputs, the parameters, both;
     * 3: along the analytic gradient itself (no cancellation) */
    for (int dir = 0; dir < 4; dir++) {
        int use_x = dir != 1, use_p = dir != 0;
        double h = 1e-8, hp = 1e-8, dan = 0.0, mag = 0.0;
        for (size_t k = 0; k < nx; k++) {
            double v = use_x ? (dir == 3 ? gin[k] / gxmax : vxf[k]) : 0.0;
            xp[k] = x[k] + h * v;
            xm[k] = x[k] - h * v;
            double t = gin[k] * v * h;
            dan += t;
            mag += fabs(t);
        }
        for (size_t k = 0; k < np; k++) {
            double sc = fabs(P[k]) + 1e-2; /* relative to the parameter's scale */
            double v = use_p ? (dir == 3 ? g[k] * sc / gpmax : vp[k]) * sc : 0.0;
            Pp[k] = P[k] + hp * v;
            Pm[k] = P[k] - hp * v;
            dan += g[k] * v * hp;
            mag += fabs(g[k] * v * hp);
        }
        double lp = ref_loss(&sp, &L, Pp, S, n, xp, R, od);
        double lm = ref_loss(&sp, &L, Pm, S, n, xm, R, od);
        double fd = (lp - lm) / 2.0; /* the step sizes are folded into dan */
        /* random directions cancel (|fd| << sum |terms|): the bound is at
         * least 2e-6 of sum |terms| (float32 gradients agree with PyTorch's
         * float64 ones to ~2e-6) */
        double err = fabs(fd - dan) / fmax(fabs(fd), 1e-3 * mag);
        ck_assert_msg(err < 2e-3, "ResNet-%d direction %d: analytic %.9g, central difference %.9g (rel %g, sum|terms| %g)",
                      sp.depth, dir, dan, fd, err, mag);
    }
    /* per_segment: along each parameter tensor's own gradient, so an error
     * confined to one tensor cannot hide among the others */
    for (int sgi = 0; per_segment && sgi < L.n; sgi++) {
        const seg *sg = &L.s[sgi];
        size_t a = sg->off, b = a + (sg->is_conv ? (size_t)sg->O * sg->C * sg->k * sg->k : 2 * (size_t)sg->C);
        double gm = 1e-30, dan = 0.0;
        for (size_t k = a; k < b; k++) gm = fmax(gm, fabs(g[k]) * (fabs(P[k]) + 1e-2));
        memcpy(Pp, P, sizeof(double) * np);
        memcpy(Pm, P, sizeof(double) * np);
        for (size_t k = 0; k < nx; k++) xp[k] = x[k];
        for (size_t k = a; k < b; k++) {
            double sc = fabs(P[k]) + 1e-2, v = g[k] * sc * sc / gm;
            Pp[k] += 1e-7 * v;
            Pm[k] -= 1e-7 * v;
            dan += g[k] * v * 1e-7;
        }
        double fd = (ref_loss(&sp, &L, Pp, S, n, xp, R, od) - ref_loss(&sp, &L, Pm, S, n, xp, R, od)) / 2.0;
        double err = fabs(fd - dan) / fmax(fabs(fd), 1e-300);
        ck_assert_msg(err < 2e-4 || (fabs(dan) < 1e-14 && fabs(fd) < 1e-14),
                      "ResNet-%d parameter segment %d (%s %d): analytic %.9g, central difference %.9g (rel %g)",
                      sp.depth, sgi, sg->is_conv ? "conv" : "bn", sg->C, dan, fd, err);
    }
    /* a second backward accumulates the same gradients again */
    ck_assert_ok(mlcl_encoder_backward(e, n, Rf, gin));
    ck_assert_ok(mlcl_encoder_grads_ptr(e, &gb));
    memcpy(g2, gb, sizeof(float) * np);
    double worst = 0.0, gm = 1e-12;
    for (size_t k = 0; k < np; k++) {
        worst = fmax(worst, fabs(g2[k] - 2.0 * g[k]));
        gm = fmax(gm, fabs(g[k]));
    }
    ck_assert_msg(worst / gm < 1e-5, "second backward does not accumulate (%g)", worst / gm);
    ck_assert_ok(mlcl_encoder_zero_grad(e));
    ck_assert_ok(mlcl_encoder_grads_ptr(e, &gb));
    for (size_t k = 0; k < np; k++) ck_assert(gb[k] == 0.0f);

    free(x); free(out); free(Rf); free(gin); free(g); free(g2); free(R); free(vxf); free(vp);
    free(Pp); free(Pm); free(xp); free(xm); free(P); free(S);
    mlcl_encoder_free(e);
}

START_TEST(backward_resnet18_small)
{
    check_backward(mkspec(18, MLCL_RESNET_STEM_SMALL, 2, 12, 12, 4), 4, 61, 1);
}
END_TEST

START_TEST(backward_resnet50_imagenet)
{
    check_backward(mkspec(50, MLCL_RESNET_STEM_IMAGENET, 3, 48, 48, 2), 2, 71, 0);
}
END_TEST

/* --------------------------------------------------- counts and init */

/* torchvision: resnet18/34/50 total minus fc (512*1000+1000, 2048*1000+1000). */
START_TEST(counts_match_torchvision)
{
    struct { int depth; size_t params; int out; } T[] = {
        { 18, 11689512u - 513000u, 512 }, { 34, 21797672u - 513000u, 512 }, { 50, 25557032u - 2049000u, 2048 } };
    for (int t = 0; t < 3; t++) {
        mlcl_resnet_spec sp = mkspec(T[t].depth, MLCL_RESNET_STEM_IMAGENET, 3, 32, 32, 64);
        layout L;
        build_layout(&L, &sp);
        ck_assert_uint_eq(L.np, T[t].params); /* the formula itself */
        if (T[t].depth == 34) continue; /* the library's ResNet-34 count: forward_resnet34_small */
        mlcl_encoder *e = mkresnet(&sp, 2, 1);
        size_t np, ns;
        int od, id;
        ck_assert_ok(mlcl_encoder_param_count(e, &np));
        ck_assert_ok(mlcl_encoder_state_count(e, &ns));
        ck_assert_ok(mlcl_encoder_out_dim(e, &od));
        ck_assert_ok(mlcl_encoder_in_dim(e, &id));
        ck_assert_uint_eq(np, T[t].params);
        ck_assert_uint_eq(ns, L.ns);
        ck_assert_int_eq(od, T[t].out);
        ck_assert_int_eq(id, 3 * 32 * 32);
        mlcl_encoder_free(e);
        if (T[t].depth != 18) continue;
        /* the small stem differs only in conv1: 3x3 instead of 7x7 */
        sp.stem = MLCL_RESNET_STEM_SMALL;
        e = mkresnet(&sp, 2, 1);
        ck_assert_ok(mlcl_encoder_param_count(e, &np));
        ck_assert_uint_eq(np, T[t].params - 64u * 3u * (49u - 9u));
        mlcl_encoder_free(e);
    }
    /* state: 2 floats per BN channel; ResNet-18: 2 * (64 + 4*64 + 5*128 + 5*256 + 5*512) */
    mlcl_resnet_spec sp = mkspec(18, MLCL_RESNET_STEM_SMALL, 3, 32, 32, 64);
    layout L;
    build_layout(&L, &sp);
    ck_assert_uint_eq(L.ns, 2u * (64 + 4 * 64 + 5 * 128 + 5 * 256 + 5 * 512));
}
END_TEST

/* Kaiming-normal (fan_out) convolutions, BN gamma 1 / beta 0 (gamma 0 on the
 * last BN of each block with zero_init_residual), running mean 0 / var 1;
 * the seed decides the weights. */
START_TEST(init_like_torchvision)
{
    for (int zir = 0; zir < 2; zir++) {
        mlcl_resnet_spec sp = mkspec(zir ? 50 : 18, MLCL_RESNET_STEM_SMALL, 3, 8, 8, 16);
        sp.zero_init_residual = zir;
        layout L;
        build_layout(&L, &sp);
        mlcl_encoder *e = mkresnet(&sp, 2, 5);
        float *p = malloc(sizeof(float) * L.np), *s = malloc(sizeof(float) * L.ns);
        ck_assert_ok(mlcl_encoder_get_params(e, p, L.np));
        ck_assert_ok(mlcl_encoder_get_state(e, s, L.ns));
        int nzero = 0;
        for (int k = 0; k < L.n; k++) {
            const seg *g = &L.s[k];
            if (g->is_conv) {
                size_t m = (size_t)g->O * g->C * g->k * g->k;
                double sd = sqrt(2.0 / ((double)g->O * g->k * g->k)), s1 = 0.0, s2 = 0.0;
                for (size_t j = 0; j < m; j++) { s1 += p[g->off + j]; s2 += (double)p[g->off + j] * p[g->off + j]; }
                double mean = s1 / m, sdev = sqrt(s2 / m - mean * mean);
                /* the sample sd of m normals is within ~5/sqrt(2m) of sd (relative) */
                double tol = 5.0 / sqrt(2.0 * m);
                ck_assert_msg(fabs(sdev / sd - 1.0) < tol, "conv seg %d (%dx%dx%dx%d): sd %g, expected %g",
                              k, g->O, g->C, g->k, g->k, sdev, sd);
                ck_assert_msg(fabs(mean) < 5.0 * sd / sqrt((double)m), "conv seg %d: mean %g", k, mean);
            } else {
                float want = (zir && g->last_bn) ? 0.0f : 1.0f;
                nzero += want == 0.0f;
                for (int c = 0; c < g->C; c++) {
                    ck_assert_msg(p[g->off + c] == want, "bn seg %d gamma[%d] = %g, expected %g", k, c, p[g->off + c], want);
                    ck_assert(p[g->off + g->C + c] == 0.0f);
                    ck_assert(s[g->soff + c] == 0.0f);
                    ck_assert(s[g->soff + g->C + c] == 1.0f);
                }
            }
        }
        ck_assert_int_eq(nzero, zir ? 16 : 0); /* ResNet-50: 16 blocks */
        /* the seed decides the weights: same seed, same bytes; another seed differs */
        mlcl_encoder *e2 = mkresnet(&sp, 4, 5), *e3 = mkresnet(&sp, 2, 6);
        float *p2 = malloc(sizeof(float) * L.np);
        ck_assert_ok(mlcl_encoder_get_params(e2, p2, L.np));
        ck_assert(memcmp(p, p2, sizeof(float) * L.np) == 0);
        ck_assert_ok(mlcl_encoder_get_params(e3, p2, L.np));
        ck_assert(memcmp(p, p2, sizeof(float) * L.np) != 0);
        free(p); free(p2); free(s);
        mlcl_encoder_free(e); mlcl_encoder_free(e2); mlcl_encoder_free(e3);
    }
}
END_TEST

/* ------------------------------------- appended layers, batch growth */

START_TEST(linear_after_resnet_and_batch_growth)
{
    mlcl_resnet_spec sp = mkspec(18, MLCL_RESNET_STEM_SMALL, 3, 8, 8, 4);
    layout L;
    build_layout(&L, &sp);
    mlcl_encoder *e = mkresnet(&sp, 2, 81); /* max_batch 2, then n = 5 */
    double *P, *S;
    randomize_bn(e, &L, 82, &P, &S);
    ck_assert_ok(mlcl_encoder_add_linear(e, 5, 1));
    int od, nl;
    size_t np;
    ck_assert_ok(mlcl_encoder_out_dim(e, &od));
    ck_assert_int_eq(od, 5);
    ck_assert_ok(mlcl_encoder_num_layers(e, &nl));
    ck_assert_int_ge(nl, 2);
    ck_assert_ok(mlcl_encoder_param_count(e, &np));
    ck_assert_uint_eq(np, L.np + 5 * 32 + 5);
    float *p = malloc(sizeof(float) * np);
    ck_assert_ok(mlcl_encoder_get_params(e, p, np));
    for (size_t k = 0; k < L.np; k++) ck_assert(p[k] == (float)P[k]); /* the network's part unchanged */
    const int n = 5, id = 3 * 8 * 8;
    float x[5 * 3 * 8 * 8], out[5 * 5];
    double feat[5 * 32], ref[5 * 5];
    randn(83, x, (size_t)n * id, 1.0f);
    ck_assert_ok(mlcl_encoder_forward(e, n, x, out));
    ref_forward(&sp, &L, P, S, 1, n, x, feat);
    const float *W = p + L.np, *b = W + 5 * 32;
    for (int i = 0; i < n; i++)
        for (int o = 0; o < 5; o++) {
            double s = b[o];
            for (int j = 0; j < 32; j++) s += (double)W[o * 32 + j] * feat[i * 32 + j];
            ref[i * 5 + o] = s;
        }
    double err = rel_err_f(out, ref, (size_t)n * 5);
    ck_assert_msg(err < 1e-4, "resnet + linear, n above max_batch: rel err %g", err);
    /* and back to a smaller batch */
    ck_assert_ok(mlcl_encoder_forward(e, 2, x, out));
    free(p); free(P); free(S);
    mlcl_encoder_free(e);
}
END_TEST

/* --------------------------------------------------------------- clone */

START_TEST(clone_is_an_independent_copy)
{
    mlcl_resnet_spec sp = mkspec(18, MLCL_RESNET_STEM_SMALL, 3, 8, 8, 4);
    mlcl_encoder *e = mkresnet(&sp, 3, 91);
    ck_assert_ok(mlcl_encoder_add_linear(e, 6, 1));
    ck_assert_ok(mlcl_encoder_add_dropout(e, 0.3f));
    const int n = 3, id = 3 * 8 * 8;
    float x[3 * 3 * 8 * 8], g[3 * 6], o1[3 * 6], o2[3 * 6], gi1[3 * 3 * 8 * 8], gi2[3 * 3 * 8 * 8];
    randn(92, x, (size_t)n * id, 1.0f);
    randn(93, g, (size_t)n * 6, 1.0f);
    ck_assert_ok(mlcl_encoder_forward(e, n, x, o1)); /* moves state, dropout stream; leaves grads */
    ck_assert_ok(mlcl_encoder_backward(e, n, g, gi1));
    mlcl_encoder *c = NULL;
    ck_assert_ok(mlcl_encoder_clone(&c, e));
    ck_assert_ptr_nonnull(c);
    size_t np, np2, ns, ns2;
    ck_assert_ok(mlcl_encoder_param_count(e, &np));
    ck_assert_ok(mlcl_encoder_param_count(c, &np2));
    ck_assert_ok(mlcl_encoder_state_count(e, &ns));
    ck_assert_ok(mlcl_encoder_state_count(c, &ns2));
    ck_assert_uint_eq(np, np2);
    ck_assert_uint_eq(ns, ns2);
    int a, b;
    ck_assert_ok(mlcl_encoder_num_layers(e, &a)); ck_assert_ok(mlcl_encoder_num_layers(c, &b)); ck_assert_int_eq(a, b);
    ck_assert_ok(mlcl_encoder_in_dim(c, &b)); ck_assert_int_eq(b, id);
    ck_assert_ok(mlcl_encoder_out_dim(c, &b)); ck_assert_int_eq(b, 6);
    float *pe, *pc, *ge, *gc;
    ck_assert_ok(mlcl_encoder_params_ptr(e, &pe)); ck_assert_ok(mlcl_encoder_params_ptr(c, &pc));
    ck_assert_ok(mlcl_encoder_grads_ptr(e, &ge)); ck_assert_ok(mlcl_encoder_grads_ptr(c, &gc));
    ck_assert(pe != pc && ge != gc);
    ck_assert(memcmp(pe, pc, sizeof(float) * np) == 0);
    ck_assert(memcmp(ge, gc, sizeof(float) * np) == 0);
    float *se = malloc(sizeof(float) * ns), *sc = malloc(sizeof(float) * ns);
    ck_assert_ok(mlcl_encoder_get_state(e, se, ns)); ck_assert_ok(mlcl_encoder_get_state(c, sc, ns));
    ck_assert(memcmp(se, sc, sizeof(float) * ns) == 0);
    uint64_t re[2], rc[2];
    ck_assert_ok(mlcl_encoder_get_rng_state(e, re)); ck_assert_ok(mlcl_encoder_get_rng_state(c, rc));
    ck_assert(re[0] == rc[0] && re[1] == rc[1]);
    ck_assert_ok(mlcl_encoder_get_training(c, &b)); ck_assert_int_eq(b, 1);
    /* the same next training step (same dropout masks) on both */
    ck_assert_ok(mlcl_encoder_forward(e, n, x, o1));
    ck_assert_ok(mlcl_encoder_forward(c, n, x, o2));
    double d = 0.0, m = 1e-6;
    for (int k = 0; k < n * 6; k++) { d = fmax(d, fabs(o1[k] - o2[k])); m = fmax(m, fabs(o1[k])); }
    ck_assert_msg(d / m < 1e-6, "clone forward differs: %g", d / m);
    ck_assert_ok(mlcl_encoder_backward(e, n, g, gi1));
    ck_assert_ok(mlcl_encoder_backward(c, n, g, gi2));
    d = 0.0; m = 1e-12;
    for (int k = 0; k < n * id; k++) { d = fmax(d, fabs(gi1[k] - gi2[k])); m = fmax(m, fabs(gi1[k])); }
    ck_assert_msg(d / m < 1e-5, "clone backward differs: %g", d / m);
    /* independence: changing or freeing the original leaves the clone alone */
    ck_assert_ok(mlcl_encoder_set_training(e, 0));
    ck_assert_ok(mlcl_encoder_get_training(c, &b)); ck_assert_int_eq(b, 1);
    float *keep = malloc(sizeof(float) * np);
    memcpy(keep, pc, sizeof(float) * np);
    for (size_t k = 0; k < np; k++) pe[k] *= 2.0f;
    ck_assert(memcmp(keep, pc, sizeof(float) * np) == 0);
    /* eval-mode clone keeps the mode */
    mlcl_encoder *c2 = NULL;
    ck_assert_ok(mlcl_encoder_clone(&c2, e));
    ck_assert_ok(mlcl_encoder_get_training(c2, &b)); ck_assert_int_eq(b, 0);
    mlcl_encoder_free(e);
    ck_assert_ok(mlcl_encoder_forward(c, n, x, o2));
    ck_assert_ok(mlcl_encoder_forward(c2, n, x, o2));
    ck_assert_ok(mlcl_encoder_params_ptr(c, &pc));
    ck_assert(memcmp(keep, pc, sizeof(float) * np) == 0);
    free(keep); free(se); free(sc);
    mlcl_encoder_free(c);
    mlcl_encoder_free(c2);

    /* an MLP clones too */
    mlcl_mlp_spec ms = MLCL_MLP_SPEC_INIT;
    ms.in_dim = 7; ms.n_hidden = 1; ms.hidden[0] = 9; ms.batchnorm = 1; ms.out_dim = 4;
    mlcl_encoder *m1 = NULL, *m2 = NULL;
    ck_assert_ok(mlcl_encoder_create_mlp(&m1, &ms, NULL));
    ck_assert_ok(mlcl_encoder_clone(&m2, m1));
    float y1[3 * 4], y2[3 * 4];
    ck_assert_ok(mlcl_encoder_forward(m1, 3, x, y1));
    ck_assert_ok(mlcl_encoder_forward(m2, 3, x, y2));
    ck_assert(memcmp(y1, y2, sizeof y1) == 0);
    mlcl_encoder_free(m1);
    mlcl_encoder_free(m2);
}
END_TEST

/* ----------------------------------------------------- bad arguments */

START_TEST(bad_arguments)
{
    mlcl_resnet_spec sp;
    ck_assert_status_msg(mlcl_resnet_spec_init(NULL, MLCL_RESNET_SPEC_VERSION), MLCL_EINVAL, "spec");
    ck_assert_status_msg(mlcl_resnet_spec_init(&sp, MLCL_RESNET_SPEC_VERSION + 1), MLCL_EVERSION, "version");
    static const mlcl_resnet_spec def = MLCL_RESNET_SPEC_INIT;
    ck_assert_ok(mlcl_resnet_spec_init(&sp, MLCL_RESNET_SPEC_VERSION));
    ck_assert(memcmp(&sp, &def, sizeof sp) == 0);
    ck_assert_int_eq(sp.depth, 18);
    ck_assert_int_eq(sp.stem, MLCL_RESNET_STEM_SMALL);
    ck_assert_int_eq(sp.base_width, 64);
    ck_assert_float_eq(sp.bn_eps, 1e-5f);
    ck_assert_float_eq(sp.bn_momentum, 0.1f);

    mlcl_encoder *e = (mlcl_encoder *)&sp; /* must be set to NULL on failure */
    ck_assert_status_msg(mlcl_encoder_create_resnet(NULL, &def, NULL), MLCL_EINVAL, "out");
    ck_assert_status_msg(mlcl_encoder_create_resnet(&e, NULL, NULL), MLCL_EINVAL, "spec");
    ck_assert_ptr_null(e);
#define BADSPEC(field, value, needle)                                                     \
    do {                                                                                  \
        mlcl_resnet_spec s_ = def;                                                        \
        s_.field = value;                                                                 \
        e = NULL;                                                                         \
        ck_assert_status_msg(mlcl_encoder_create_resnet(&e, &s_, NULL), MLCL_EINVAL, needle); \
        ck_assert_ptr_null(e);                                                            \
    } while (0)
    BADSPEC(depth, 19, "depth");
    BADSPEC(depth, 101, "depth");
    BADSPEC(depth, 0, "depth");
    BADSPEC(stem, 2, "stem");
    BADSPEC(stem, -1, "stem");
    BADSPEC(in_channels, 0, "in_channels");
    BADSPEC(in_channels, -3, "in_channels");
    BADSPEC(height, 0, "height");
    BADSPEC(width, -1, "width");
    BADSPEC(base_width, 0, "base_width");
    BADSPEC(bn_eps, 0.0f, "bn_eps");
    BADSPEC(bn_eps, NAN, "bn_eps");
    BADSPEC(bn_eps, INFINITY, "bn_eps");
    BADSPEC(bn_momentum, 1.5f, "bn_momentum");
    BADSPEC(bn_momentum, -0.1f, "bn_momentum");
    BADSPEC(bn_momentum, NAN, "bn_momentum");
    BADSPEC(zero_init_residual, 2, "zero_init_residual");
#undef BADSPEC
    {
        mlcl_resnet_spec s = def;
        s.version = MLCL_RESNET_SPEC_VERSION + 7;
        ck_assert_status_msg(mlcl_encoder_create_resnet(&e, &s, NULL), MLCL_EVERSION, "version");
        mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
        o.max_batch = 0;
        ck_assert_status_msg(mlcl_encoder_create_resnet(&e, &def, &o), MLCL_EINVAL, "max_batch");
        o = (mlcl_encoder_options)MLCL_ENCODER_OPTIONS_INIT;
        o.version = 99;
        ck_assert_status_msg(mlcl_encoder_create_resnet(&e, &def, &o), MLCL_EVERSION, "version");
        /* in_dim = channels x height x width must fit an int */
        s = def;
        s.height = 65536; s.width = 65536;
        mlcl_clear_error();
        int rc = mlcl_encoder_create_resnet(&e, &s, NULL);
        ck_assert_msg(rc == MLCL_EINVAL || rc == MLCL_EOVERFLOW, "huge image: %d (%s)", rc, mlcl_last_error());
        ck_assert_ptr_null(e);
    }
    ck_assert_status_msg(mlcl_encoder_clone(NULL, (mlcl_encoder *)&sp), MLCL_EINVAL, "out");
    e = (mlcl_encoder *)&sp;
    ck_assert_status_msg(mlcl_encoder_clone(&e, NULL), MLCL_EINVAL, "src");
    ck_assert_ptr_null(e);

    /* training forward with a single image is fine spatially but a 1x1
     * final map with n = 1 has one value per channel: refused (as PyTorch) */
    mlcl_resnet_spec s1 = mkspec(18, MLCL_RESNET_STEM_IMAGENET, 1, 8, 8, 2);
    mlcl_encoder *r = mkresnet(&s1, 2, 1);
    float x[2 * 64] = { 0 }, out[2 * 16];
    for (int k = 0; k < 128; k++) x[k] = (float)((k * 7) % 13) - 6.0f;
    ck_assert_status_msg(mlcl_encoder_forward(r, 1, x, out), MLCL_EINVAL, "n");
    ck_assert_ok(mlcl_encoder_forward(r, 2, x, out));
    ck_assert_ok(mlcl_encoder_set_training(r, 0));
    ck_assert_ok(mlcl_encoder_forward(r, 1, x, out));
    x[5] = NAN;
    ck_assert_status_msg(mlcl_encoder_forward(r, 1, x, out), MLCL_ENUMERIC, "x");
    mlcl_encoder_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resnet");
    TCase *f = tcase_create("forward");
    tcase_set_timeout(f, 120);
    tcase_add_test(f, forward_resnet18_small);
    tcase_add_test(f, forward_resnet34_small);
    tcase_add_test(f, forward_resnet50_imagenet);
    tcase_add_test(f, forward_resnet18_imagenet_odd_sizes);
    tcase_add_test(f, forward_resnet50_small);
    suite_add_tcase(s, f);
    TCase *b = tcase_create("backward");
    tcase_set_timeout(b, 120);
    tcase_add_test(b, backward_resnet18_small);
    tcase_add_test(b, backward_resnet50_imagenet);
    suite_add_tcase(s, b);
    TCase *o = tcase_create("other");
    tcase_set_timeout(o, 120);
    tcase_add_test(o, counts_match_torchvision);
    tcase_add_test(o, init_like_torchvision);
    tcase_add_test(o, linear_after_resnet_and_batch_growth);
    tcase_add_test(o, clone_is_an_independent_copy);
    tcase_add_test(o, bad_arguments);
    suite_add_tcase(s, o);
    return run_suite(s);
}
