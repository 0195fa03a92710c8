/* Losses: float implementation vs a deliberately plain double reference written
 * straight from MATH.md, and analytic gradients vs central differences of that
 * reference, for every method and every option; bad arguments. */
#include "testutil.h"
#include <math.h>
#include <stdint.h>

/* ------------------------------------------------------------------ random */
typedef struct { uint64_t s; } trng;
static uint64_t rnext(trng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double runif(trng *r) { return (rnext(r) >> 11) * (1.0 / 9007199254740992.0); }
static int rint_(trng *r, int lo, int hi) { return lo + (int)(rnext(r) % (uint64_t)(hi - lo + 1)); }
static double rnorm(trng *r)
{
    double u = runif(r) + 1e-12, v = runif(r);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* ------------------------------------------------------------------ problem */
typedef struct {
    int n, F, m, c, h;
    float *q, *k, *d, *kq, *dq, *W;
    uint8_t *y, *yq; /* dense 0/1 */
    uint64_t *yp, *yqp;
} prob;

static void unit_rows(float *x, int rows, int m, trng *r)
{
    for (int i = 0; i < rows; i++) {
        double s = 0;
        for (int j = 0; j < m; j++) { x[i * m + j] = (float)rnorm(r); s += (double)x[i * m + j] * x[i * m + j]; }
        s = sqrt(s);
        for (int j = 0; j < m; j++) x[i * m + j] = (float)(x[i * m + j] / s);
    }
}

static void softmax_rows(float *x, int rows, int c, trng *r)
{
    for (int i = 0; i < rows; i++) {
        double z[4200], s = 0;
        for (int j = 0; j < c; j++) { z[j] = exp(1.5 * rnorm(r)); s += z[j]; }
        for (int j = 0; j < c; j++) x[i * c + j] = (float)(z[j] / s);
    }
}

/* label styles: 0 dense-ish, 1 sparse (mostly one label), 2 with empty rows */
static void rand_labels(uint8_t *y, int rows, int c, int style, trng *r)
{
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < c; j++) y[i * c + j] = 0;
        if (style == 2 && runif(r) < 0.3) continue; /* no label: no positive under ANY */
        int nl = style == 1 ? (runif(r) < 0.8 ? 1 : 2) : rint_(r, 1, c < 4 ? c : 4);
        /* few distinct labels so that positives exist */
        int range = c < 6 ? c : 6;
        for (int t = 0; t < nl; t++) {
            int j = rint_(r, 0, range - 1);
            if (c > 64 && runif(r) < 0.5) j = c - 1 - j; /* exercise the high words */
            y[i * c + j] = 1;
        }
    }
}

static void prob_init(prob *P, int n, int F, int m, int c, int h, int style, trng *r)
{
    memset(P, 0, sizeof *P);
    P->n = n; P->F = F; P->m = m; P->c = c; P->h = h;
    size_t w = mlcl_label_words(c);
    P->q = malloc(sizeof(float) * n * m);
    P->k = malloc(sizeof(float) * n * m);
    P->d = malloc(sizeof(float) * n * c);
    P->kq = malloc(sizeof(float) * (F + 1) * m);
    P->dq = malloc(sizeof(float) * (F + 1) * c);
    P->W = malloc(sizeof(float) * c * h);
    P->y = malloc((size_t)n * c);
    P->yq = malloc((size_t)(F + 1) * c);
    P->yp = malloc(sizeof(uint64_t) * n * w);
    P->yqp = malloc(sizeof(uint64_t) * (F + 1) * w);
    unit_rows(P->q, n, m, r);
    unit_rows(P->k, n, m, r);
    unit_rows(P->kq, F, m, r);
    softmax_rows(P->d, n, c, r);
    softmax_rows(P->dq, F, c, r);
    for (int j = 0; j < c * h; j++) P->W[j] = (float)(0.3 * rnorm(r));
    rand_labels(P->y, n, c, style, r);
    rand_labels(P->yq, F, c, style, r);
    ck_assert_ok(mlcl_labels_pack(P->yp, P->y, n, c));
    if (F > 0) ck_assert_ok(mlcl_labels_pack(P->yqp, P->yq, F, c));
}

static void prob_free(prob *P)
{
    free(P->q); free(P->k); free(P->d); free(P->kq); free(P->dq); free(P->W);
    free(P->y); free(P->yq); free(P->yp); free(P->yqp);
}

/* ------------------------------------------------------------------ plain reference */
typedef struct { double total, con, G, H, wreg; int used; } rparts;

/* Inputs: q (for l), qw (for the G weights w: = q when weight_grad is on, else the
 * unperturbed q), d (for G and H), dw (the d_p^j of the contrastive term: = d when
 * dweight_grad is on, else the unperturbed d). */
static double ref_loss(const mlcl_loss_options *o, const prob *P, const double *q, const double *qw,
                       const double *d, const double *dw, const double *W, rparts *out)
{
    int n = P->n, F = P->F, m = P->m, c = P->c, N = n + F;
    double con = 0, G = 0, H = 0;
    int used = 0;
    long nlab = 0;
    double *l = malloc(sizeof(double) * N), *lw = malloc(sizeof(double) * N);
    for (int i = 0; i < n; i++) {
        const uint8_t *yi = P->y + i * c;
        for (int j = 0; j < c; j++) nlab += yi[j];
        /* logits and log-probabilities (Eq. 10), for q and for qw */
        for (int pass = 0; pass < 2; pass++) {
            const double *qq = pass ? qw : q;
            double *out_l = pass ? lw : l;
            double mx = -1e300;
            for (int a = 0; a < N; a++) {
                double s = 0;
                for (int t = 0; t < m; t++) {
                    double kv = a < n ? P->k[a * m + t] : P->kq[(a - n) * m + t];
                    s += qq[i * m + t] * kv;
                }
                out_l[a] = s / o->tau;
                if (out_l[a] > mx) mx = out_l[a];
            }
            double se = 0;
            for (int a = 0; a < N; a++) se += exp(out_l[a] - mx);
            double lse = mx + log(se);
            for (int a = 0; a < N; a++) out_l[a] -= lse;
        }
        /* positive set P(i) */
        int npos = 0;
        int *pos = malloc(sizeof(int) * N);
        for (int a = 0; a < N; a++) {
            const uint8_t *ya = a < n ? P->y + a * c : P->yq + (a - n) * c;
            int any = 0, all = 1;
            for (int j = 0; j < c; j++) {
                if (yi[j] && ya[j]) any = 1;
                if (yi[j] != ya[j]) all = 0;
            }
            pos[a] = o->mask == MLCL_MASK_ALL ? all : any;
            npos += pos[a];
        }
        if (o->method == MLCL_LOSS_SUPCON) {
            if (npos > 0) {
                double s = 0;
                for (int a = 0; a < N; a++) if (pos[a]) s += l[a];
                con += -s / npos;
                used++;
            }
            free(pos);
            continue;
        }
        if (o->method == MLCL_LOSS_MULSUPCON) {
            int has = 0;
            for (int j = 0; j < c; j++) {
                if (!yi[j]) continue;
                has = 1;
                int cj = 0;
                double s = 0;
                for (int a = 0; a < N; a++) {
                    const uint8_t *ya = a < n ? P->y + a * c : P->yq + (a - n) * c;
                    if (ya[j]) { cj++; s += l[a]; }
                }
                con += -s / cj;
            }
            used += has;
            free(pos);
            continue;
        }
        /* LD: item 7 contrastive term */
        for (int j = 0; j < c; j++) {
            if (!yi[j]) continue;
            int cj = 0;
            double s = 0;
            for (int a = 0; a < N; a++) {
                const uint8_t *ya = a < n ? P->y + a * c : P->yq + (a - n) * c;
                if (!ya[j]) continue;
                cj++;
                double dpj = a < n ? dw[a * c + j] : P->dq[(a - n) * c + j];
                s += dpj * l[a];
            }
            con += o->con_norm == MLCL_CON_NORM_PER_LABEL ? -s / cj : -s;
        }
        if (npos > 0) used++;
        for (int a = 0; a < N; a++) {
            if (!pos[a]) continue;
            const uint8_t *ya = a < n ? P->y + a * c : P->yq + (a - n) * c;
            double dist = 0, hd = 0, w;
            int ny = 0;
            for (int j = 0; j < c; j++) ny += ya[j];
            for (int j = 0; j < c; j++) {
                double dp = a < n ? d[a * c + j] : P->dq[(a - n) * c + j];
                dist += (d[i * c + j] - dp) * (d[i * c + j] - dp);
                double t = ya[j] ? (o->h_target == MLCL_H_TARGET_RAW ? 1.0 : 1.0 / ny) : 0.0;
                hd += (t - dp) * (t - dp);
            }
            if (o->variant == MLCL_LD_RLD) {
                double qk = 0;
                for (int t = 0; t < m; t++) {
                    double kv = a < n ? P->k[a * m + t] : P->kq[(a - n) * m + t];
                    qk += (qw[i * m + t] - kv) * (qw[i * m + t] - kv);
                }
                w = exp(-qk / (2.0 * (double)o->sigma * o->sigma));
            } else {
                w = o->cld_weight == MLCL_CLD_WEIGHT_LOGPROB ? lw[a] : exp(lw[a]);
            }
            G += w * dist;
            H += hd;
        }
        free(pos);
    }
    free(l);
    free(lw);
    double s;
    if (o->method == MLCL_LOSS_MULSUPCON)
        s = o->reduction == MLCL_REDUCE_SUM ? 1.0 : (nlab > 0 ? 1.0 / nlab : 0.0);
    else
        s = o->reduction == MLCL_REDUCE_SUM ? 1.0 : 1.0 / n;
    double wreg = 0;
    if (o->method == MLCL_LOSS_LD && o->beta != 0) {
        for (int j = 0; j < c * P->h; j++) wreg += W[j] * W[j];
        wreg *= o->beta * (o->reduction == MLCL_REDUCE_SUM ? n : 1);
    }
    rparts rp = { s * con + s * G + o->alpha * s * H + wreg, s * con, s * G, s * H, wreg, used };
    if (o->method != MLCL_LOSS_LD) rp.total = s * con, rp.G = rp.H = 0, rp.wreg = 0;
    if (out) *out = rp;
    return rp.total;
}

static double *to_d(const float *x, size_t len)
{
    double *r = malloc(sizeof(double) * (len ? len : 1));
    for (size_t i = 0; i < len; i++) r[i] = x[i];
    return r;
}

static int close_rel(double a, double b, double rel, double floor_)
{
    double s = fabs(b) > floor_ ? fabs(b) : floor_;
    return fabs(a - b) <= rel * s;
}

/* Checks the float gradients g of one array against central differences of the
 * reference. which: 0 = q, 1 = d, 2 = W. Checks at most `limit` coordinates
 * (chosen at random), all when the array is small. */
static void fd_check(const mlcl_loss_options *o, const prob *P, int which, const float *g, int limit,
                     trng *r, const char *tag)
{
    size_t len = which == 0 ? (size_t)P->n * P->m : which == 1 ? (size_t)P->n * P->c : (size_t)P->c * P->h;
    double *q = to_d(P->q, (size_t)P->n * P->m), *q0 = to_d(P->q, (size_t)P->n * P->m);
    double *d = to_d(P->d, (size_t)P->n * P->c), *d0 = to_d(P->d, (size_t)P->n * P->c);
    double *W = to_d(P->W, (size_t)P->c * P->h);
    double *x = which == 0 ? q : which == 1 ? d : W;
    const double *qw = o->weight_grad ? q : q0;
    const double *dw = o->dweight_grad ? d : d0;
    const double eps = 1e-5;
    size_t ncheck = len < (size_t)limit ? len : (size_t)limit;
    double *fd = malloc(sizeof(double) * ncheck);
    size_t *idx = malloc(sizeof(size_t) * ncheck);
    double gmax = 0;
    for (size_t t = 0; t < ncheck; t++) {
        size_t i = len <= (size_t)limit ? t : (size_t)(rnext(r) % len);
        idx[t] = i;
        double x0 = x[i];
        x[i] = x0 + eps;
        double lp = ref_loss(o, P, q, qw, d, dw, W, NULL);
        x[i] = x0 - eps;
        double lm = ref_loss(o, P, q, qw, d, dw, W, NULL);
        x[i] = x0;
        fd[t] = (lp - lm) / (2 * eps);
        if (fabs(fd[t]) > gmax) gmax = fabs(fd[t]);
        if (fabs(g[i]) > gmax) gmax = fabs(g[i]);
    }
    /* relative error 1e-3, measured against max(|fd|, 1% of the largest entry, 1e-6) */
    double floor_ = 1e-2 * gmax > 1e-6 ? 1e-2 * gmax : 1e-6;
    for (size_t t = 0; t < ncheck; t++)
        ck_assert_msg(close_rel(g[idx[t]], fd[t], 1e-3, floor_),
                      "%s: grad %s[%zu] analytic %.8g vs central difference %.8g (floor %.3g; method %d variant %d mask %d "
                      "red %d cldw %d wg %d dwg %d norm %d ht %d; n %d F %d m %d c %d)",
                      tag, which == 0 ? "q" : which == 1 ? "d" : "W", idx[t], (double)g[idx[t]], fd[t], floor_,
                      o->method, o->variant, o->mask, o->reduction, o->cld_weight, o->weight_grad,
                      o->dweight_grad, o->con_norm, o->h_target, P->n, P->F, P->m, P->c);
    free(fd); free(idx); free(q); free(q0); free(d); free(d0); free(W);
}

/* Runs the float loss and checks value, parts and gradients against the reference. */
static void check_problem(const mlcl_loss_options *o, const prob *P, int fd_limit, trng *r, const char *tag)
{
    mlcl_loss *L;
    ck_assert_ok(mlcl_loss_create(&L, P->n + 2, P->F + 3, P->m, P->c, o));
    float *gq = calloc((size_t)P->n * P->m, sizeof(float));
    float *gd = calloc((size_t)P->n * P->c, sizeof(float));
    float *gW = calloc((size_t)P->c * P->h, sizeof(float));
    mlcl_loss_parts parts = MLCL_LOSS_PARTS_INIT;
    int ld = o->method == MLCL_LOSS_LD;
    ck_assert_ok(mlcl_loss_compute(L, &parts, gq, gd, gW, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = P->n, .q = P->q, .k = P->k, .y = P->yp, .d = ld ? P->d : NULL, .F = P->F, .kq = P->kq, .yq = P->yqp, .dq = ld ? P->dq : NULL, .W = ld ? P->W : NULL, .h = P->h }));
    double *q = to_d(P->q, (size_t)P->n * P->m), *d = to_d(P->d, (size_t)P->n * P->c);
    double *W = to_d(P->W, (size_t)P->c * P->h);
    rparts rp;
    ref_loss(o, P, q, q, d, d, W, &rp);
    double sc = fabs(rp.con) + fabs(rp.G) + fabs(o->alpha * rp.H) + fabs(rp.wreg) + 1e-6;
    ck_assert_msg(fabs(parts.total - rp.total) <= 1e-4 * sc, "%s: total %.9g vs reference %.9g", tag, parts.total, rp.total);
    ck_assert_msg(fabs(parts.con - rp.con) <= 1e-4 * (fabs(rp.con) + 1e-6), "%s: con %.9g vs %.9g", tag, parts.con, rp.con);
    ck_assert_msg(fabs(parts.G - rp.G) <= 1e-4 * (fabs(rp.G) + 1e-4 * sc), "%s: G %.9g vs %.9g", tag, parts.G, rp.G);
    ck_assert_msg(fabs(parts.H - rp.H) <= 1e-4 * (fabs(rp.H) + 1e-6), "%s: H %.9g vs %.9g", tag, parts.H, rp.H);
    ck_assert_msg(fabs(parts.wreg - rp.wreg) <= 1e-5 * (fabs(rp.wreg) + 1e-6), "%s: wreg %.9g vs %.9g", tag, parts.wreg, rp.wreg);
    ck_assert_int_eq(parts.n_anchors_used, rp.used);
    fd_check(o, P, 0, gq, fd_limit, r, tag);
    if (ld) {
        fd_check(o, P, 1, gd, fd_limit, r, tag);
        fd_check(o, P, 2, gW, fd_limit / 2, r, tag);
    } else {
        for (int j = 0; j < P->n * P->c; j++) ck_assert(gd[j] == 0.0f); /* untouched */
        for (int j = 0; j < P->c * P->h; j++) ck_assert(gW[j] == 0.0f);
    }
    free(q); free(d); free(W); free(gq); free(gd); free(gW);
    mlcl_loss_free(L);
}

static const int cs[] = { 3, 5, 9, 17, 64, 65, 70 };

static void random_case(mlcl_loss_options *o, int seed, int style, int F_override)
{
    trng r = { 0x1234567ull + (uint64_t)seed * 7919u };
    int n = rint_(&r, 3, 7), F = F_override >= 0 ? F_override : rint_(&r, 0, 9), m = rint_(&r, 4, 6);
    int c = cs[rint_(&r, 0, (int)(sizeof cs / sizeof cs[0]) - 1)], h = rint_(&r, 2, 4);
    prob P;
    prob_init(&P, n, F, m, c, h, style, &r);
    char tag[64];
    snprintf(tag, sizeof tag, "seed %d style %d", seed, style);
    check_problem(o, &P, 90, &r, tag);
    prob_free(&P);
}

/* Every LD option combination (2^8 = 256), each on a random shape. */
START_TEST(ld_all_options)
{
    int b = _i;
    mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
    o.method = MLCL_LOSS_LD;
    o.variant = b & 1 ? MLCL_LD_RLD : MLCL_LD_CLD;
    o.mask = b & 2 ? MLCL_MASK_ALL : MLCL_MASK_ANY;
    o.reduction = b & 4 ? MLCL_REDUCE_SUM : MLCL_REDUCE_MEAN;
    o.cld_weight = b & 8 ? MLCL_CLD_WEIGHT_LOGPROB : MLCL_CLD_WEIGHT_PROB;
    o.weight_grad = (b >> 4) & 1;
    o.dweight_grad = (b >> 5) & 1;
    o.con_norm = b & 64 ? MLCL_CON_NORM_PER_LABEL : MLCL_CON_NORM_NONE;
    o.h_target = b & 128 ? MLCL_H_TARGET_RAW : MLCL_H_TARGET_NORMALISED;
    o.sigma = 0.5f; /* RBF weights not underflowed */
    o.alpha = 0.3f;
    o.beta = 0.7f;
    random_case(&o, b, b % 3, b % 11 == 0 ? 0 : -1);
}
END_TEST

START_TEST(supcon_and_mulsupcon)
{
    int b = _i;
    mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
    o.method = b & 1 ? MLCL_LOSS_MULSUPCON : MLCL_LOSS_SUPCON;
    o.mask = b & 2 ? MLCL_MASK_ALL : MLCL_MASK_ANY;
    o.reduction = b & 4 ? MLCL_REDUCE_SUM : MLCL_REDUCE_MEAN;
    o.tau = b & 8 ? 0.5f : 0.1f;
    random_case(&o, 1000 + b, b % 3, b % 5 == 0 ? 0 : -1);
}
END_TEST

/* The defaults (sigma = 0.01: RBF weights underflow, G == 0 for RLD) and
 * beta = 0 without W. */
START_TEST(defaults_and_beta0)
{
    trng r = { 99 };
    prob P;
    prob_init(&P, 6, 8, 5, 17, 3, 0, &r);
    mlcl_loss_options o;
    ck_assert_ok(mlcl_loss_options_init(&o, MLCL_LOSS_OPTIONS_VERSION));
    check_problem(&o, &P, 60, &r, "defaults cld");
    o.variant = MLCL_LD_RLD;
    check_problem(&o, &P, 60, &r, "defaults rld");
    mlcl_loss *L;
    ck_assert_ok(mlcl_loss_create(&L, 6, 8, 5, 17, &o));
    mlcl_loss_parts parts = MLCL_LOSS_PARTS_INIT;
    ck_assert_ok(mlcl_loss_compute(L, &parts, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 6, .q = P.q, .k = P.k, .y = P.yp, .d = P.d, .F = 8, .kq = P.kq, .yq = P.yqp, .dq = P.dq, .W = P.W, .h = 3 }));
    ck_assert(parts.G == 0.0); /* exp(-||q-k||^2 / 2e-4) underflows for random unit vectors */
    ck_assert(parts.H > 0.0);
    o.beta = 0;
    ck_assert_ok(mlcl_loss_set_options(L, &o));
    ck_assert_ok(mlcl_loss_compute(L, &parts, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 6, .q = P.q, .k = P.k, .y = P.yp, .d = P.d, .F = 8, .kq = P.kq, .yq = P.yqp, .dq = P.dq }));
    ck_assert(parts.wreg == 0.0);
    check_problem(&o, &P, 60, &r, "beta 0");
    mlcl_loss_free(L);
    prob_free(&P);
}
END_TEST

/* RLD with a small sigma where only a few pairs have non-zero weights: the
 * sparse path (no D D^T GEMM) must give the same values and gradients. */
START_TEST(rld_sparse_weights)
{
    for (int wg = 0; wg < 2; wg++) {
        trng r = { 4242 + (uint64_t)wg };
        prob P;
        prob_init(&P, 6, 7, 6, 9, 3, 0, &r);
        /* key 1 very close to query 0 (and sample 1 shares sample 0's labels), the
         * other keys opposite their queries: few pairs have a non-zero RBF weight */
        for (int i = 0; i < P.n; i++)
            for (int j = 0; j < P.m; j++)
                P.k[i * P.m + j] = i == 1 ? P.q[j] + (float)(0.01 * rnorm(&r)) : -P.q[i * P.m + j];
        memcpy(P.y + P.c, P.y, (size_t)P.c);
        ck_assert_ok(mlcl_labels_pack(P.yp, P.y, P.n, P.c));
        for (int i = 0; i < P.F; i++)
            for (int j = 0; j < P.m; j++) P.kq[i * P.m + j] = -P.q[(i % P.n) * P.m + j];
        mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
        o.variant = MLCL_LD_RLD;
        o.sigma = 0.05f;
        o.weight_grad = wg;
        rparts rp;
        double *q = to_d(P.q, (size_t)P.n * P.m), *d = to_d(P.d, (size_t)P.n * P.c), *W = to_d(P.W, (size_t)P.c * P.h);
        ref_loss(&o, &P, q, q, d, d, W, &rp);
        ck_assert_msg(rp.G > 1e-3, "test set-up: G %g should be non-zero", rp.G);
        check_problem(&o, &P, 200, &r, "rld sparse");
        free(q); free(d); free(W);
        prob_free(&P);
    }
}
END_TEST

/* A case big enough for the threaded row pass (n x N >= 32768), c > 64. */
START_TEST(large_threaded)
{
    trng r = { 77 };
    for (int method = 0; method < 3; method++) {
        prob P;
        prob_init(&P, 48, 700, 8, 70, 4, 1, &r);
        mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
        o.method = method;
        o.sigma = 0.7f;
        o.variant = MLCL_LD_RLD;
        o.weight_grad = 1;
        o.dweight_grad = 1;
        check_problem(&o, &P, 25, &r, "large");
        o.variant = MLCL_LD_CLD;
        check_problem(&o, &P, 25, &r, "large cld");
        prob_free(&P);
    }
}
END_TEST

/* The row pass and its GEMMs split the anchors over the threads: per thread
 * count the results repeat bit for bit, and one and two threads agree (the
 * GEMMs and the per-thread column sums may round differently). Labels with
 * empty rows, high label words, every method, dense and lazy G paths. */
static void run_threads(const mlcl_loss_options *o, const prob *P, int threads, float *gq, float *gd, float *gW,
                        mlcl_loss_parts *parts)
{
    mlcl_loss *L;
    ck_assert_ok(mlcl_loss_create(&L, P->n, P->F, P->m, P->c, o));
    ck_assert_ok(mlcl_loss_set_threads(L, threads));
    memset(gq, 0, sizeof(float) * P->n * P->m);
    memset(gd, 0, sizeof(float) * P->n * P->c);
    memset(gW, 0, sizeof(float) * P->c * P->h);
    int ld = o->method == MLCL_LOSS_LD;
    ck_assert_ok(mlcl_loss_compute(L, parts, gq, ld ? gd : NULL, ld ? gW : NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = P->n, .q = P->q, .k = P->k, .y = P->yp, .d = ld ? P->d : NULL, .F = P->F, .kq = P->kq, .yq = P->yqp, .dq = ld ? P->dq : NULL, .W = ld ? P->W : NULL, .h = P->h }));
    mlcl_loss_free(L);
}

static int close_f(const float *a, const float *b, size_t count)
{
    double mx = 0;
    for (size_t j = 0; j < count; j++) mx = fmax(mx, fabs(a[j]));
    for (size_t j = 0; j < count; j++)
        if (fabs((double)a[j] - b[j]) > 1e-5 * mx + 1e-9) return 0;
    return 1;
}

START_TEST(threads_split_rows)
{
    trng r = { 4242 };
    prob P;
    prob_init(&P, 96, 600, 16, 70, 4, 2, &r); /* 96 x 696 pairs: two threads engage */
    size_t nq = (size_t)P.n * P.m, nd = (size_t)P.n * P.c, nw = (size_t)P.c * P.h;
    float *g[3][3];
    for (int v = 0; v < 3; v++) {
        g[v][0] = malloc(sizeof(float) * nq);
        g[v][1] = malloc(sizeof(float) * nd);
        g[v][2] = malloc(sizeof(float) * nw);
    }
    for (int variant = 0; variant < 6; variant++) {
        mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
        o.method = variant == 0 ? MLCL_LOSS_MULSUPCON : variant == 1 ? MLCL_LOSS_SUPCON : MLCL_LOSS_LD;
        o.variant = variant >= 4 ? MLCL_LD_RLD : MLCL_LD_CLD;
        o.sigma = variant == 5 ? 0.01f : 0.7f; /* 0.01: the RBF weights underflow (lazy G path) */
        o.mask = variant == 3 ? MLCL_MASK_ALL : MLCL_MASK_ANY;
        o.weight_grad = o.dweight_grad = variant >= 3;
        o.alpha = 0.3f;
        o.beta = 0.7f;
        mlcl_loss_parts p1 = MLCL_LOSS_PARTS_INIT, p2 = MLCL_LOSS_PARTS_INIT, p2b = MLCL_LOSS_PARTS_INIT;
        run_threads(&o, &P, 1, g[0][0], g[0][1], g[0][2], &p1);
        run_threads(&o, &P, 2, g[1][0], g[1][1], g[1][2], &p2);
        run_threads(&o, &P, 2, g[2][0], g[2][1], g[2][2], &p2b);
        ck_assert_msg(p2.total == p2b.total && !memcmp(g[1][0], g[2][0], sizeof(float) * nq) &&
                          !memcmp(g[1][1], g[2][1], sizeof(float) * nd) && !memcmp(g[1][2], g[2][2], sizeof(float) * nw),
                      "variant %d: two threads do not repeat bit for bit", variant);
        ck_assert_msg(fabs(p1.total - p2.total) <= 1e-6 * fabs(p1.total), "variant %d: total %.9g (1 thread) vs %.9g",
                      variant, p1.total, p2.total);
        ck_assert_int_eq(p1.n_anchors_used, p2.n_anchors_used);
        ck_assert_msg((p1.n_anchors_used > 0 && p1.n_anchors_used < P.n) || variant == 3 || variant == 5,
                      "variant %d: %d anchors used", variant, p1.n_anchors_used);
        ck_assert_msg(close_f(g[0][0], g[1][0], nq), "variant %d: grad_q differs between 1 and 2 threads", variant);
        ck_assert_msg(close_f(g[0][1], g[1][1], nd), "variant %d: grad_d differs between 1 and 2 threads", variant);
        ck_assert_msg(close_f(g[0][2], g[1][2], nw), "variant %d: grad_W differs between 1 and 2 threads", variant);
    }
    for (int v = 0; v < 3; v++) free(g[v][0]), free(g[v][1]), free(g[v][2]);
    prob_free(&P);
}
END_TEST

/* Hand-worked: n = 2, no queue, m = 2, tau = 1. q_0 = k_0 = (1,0), q_1 = k_1 = (0,1).
 * s = [[1,0],[0,1]]; l_{i,i} = 1 - log(e + 1), l_{i,j!=i} = -log(e + 1).
 * Labels {0} and {0,1}: ANY -> both positive to both; ALL -> only self. */
START_TEST(hand_worked)
{
    float q[4] = { 1, 0, 0, 1 };
    uint8_t y01[4] = { 1, 0, 1, 1 };
    uint64_t y[2];
    ck_assert_ok(mlcl_labels_pack(y, y01, 2, 2));
    mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
    o.method = MLCL_LOSS_SUPCON;
    o.tau = 1.0f;
    mlcl_loss *L;
    ck_assert_ok(mlcl_loss_create(&L, 2, 0, 2, 2, &o));
    mlcl_loss_parts p = MLCL_LOSS_PARTS_INIT;
    double lse = log(exp(1.0) + 1.0), lself = 1 - lse, loth = -lse;
    ck_assert_ok(mlcl_loss_compute(L, &p, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 2, .q = q, .k = q, .y = y }));
    ck_assert_double_eq_tol(p.total, -(lself + loth) / 2, 1e-6); /* each anchor: mean over both */
    ck_assert_int_eq(p.n_anchors_used, 2);
    o.mask = MLCL_MASK_ALL;
    ck_assert_ok(mlcl_loss_set_options(L, &o));
    ck_assert_ok(mlcl_loss_compute(L, &p, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 2, .q = q, .k = q, .y = y }));
    ck_assert_double_eq_tol(p.total, -lself, 1e-6);
    /* MulSupCon: label 0 has |P^0| = 2 (both), label 1 has |P^1| = 1 (sample 1).
     * L_0 = -(l00 + l01)/2; L_1 = -(l10 + l11)/2 - l11; L = (L_0 + L_1) / 3 */
    o.method = MLCL_LOSS_MULSUPCON;
    ck_assert_ok(mlcl_loss_set_options(L, &o));
    ck_assert_ok(mlcl_loss_compute(L, &p, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 2, .q = q, .k = q, .y = y }));
    ck_assert_double_eq_tol(p.total, (-(lself + loth) / 2 - (loth + lself) / 2 - lself) / 3, 1e-6);
    /* LD, CLD, d_0 = (1, 0), d_1 = (.5, .5), alpha 1, beta 0, SUM:
     * con: anchor 0 label 0: -(d_0^0 l00 + d_1^0 l01) = -(l_s + .5 l_o);
     *      anchor 1 label 0: -(1 l10 + .5 l11), label 1: -(.5 l11).
     * ANY: G_0 = p01 ||d0-d1||^2 = p_o * .5, G_1 = p_o * .5; H_i = sum_p ||yhat_p - d_p||^2 = 0 + 0. */
    float d[4] = { 1, 0, 0.5f, 0.5f };
    o.method = MLCL_LOSS_LD;
    o.mask = MLCL_MASK_ANY;
    o.alpha = 1;
    o.beta = 0;
    o.reduction = MLCL_REDUCE_SUM;
    ck_assert_ok(mlcl_loss_set_options(L, &o));
    ck_assert_ok(mlcl_loss_compute(L, &p, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 2, .q = q, .k = q, .y = y, .d = d }));
    double po = exp(loth);
    ck_assert_double_eq_tol(p.con, -(lself + 0.5 * loth) - (loth + 0.5 * lself) - 0.5 * lself, 1e-6);
    ck_assert_double_eq_tol(p.G, 2 * po * 0.5, 1e-6);
    ck_assert_double_eq_tol(p.H, 0.0, 1e-6);
    /* raw target: H_i = ||(1,1) - (.5,.5)||^2 = .5 from candidate 1, for both anchors */
    o.h_target = MLCL_H_TARGET_RAW;
    ck_assert_ok(mlcl_loss_set_options(L, &o));
    ck_assert_ok(mlcl_loss_compute(L, &p, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 2, .q = q, .k = q, .y = y, .d = d }));
    ck_assert_double_eq_tol(p.H, 1.0, 1e-6);
    mlcl_loss_free(L);
}
END_TEST

/* Gradients accumulate: two calls give twice the gradient; an anchor without a
 * positive contributes nothing to the SupCon gradient. */
START_TEST(accumulate_and_skip)
{
    trng r = { 5 };
    prob P;
    prob_init(&P, 5, 6, 4, 9, 2, 0, &r);
    mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
    o.dweight_grad = 1;
    mlcl_loss *L;
    ck_assert_ok(mlcl_loss_create(&L, 5, 6, 4, 9, &o));
    float g1[20] = { 0 }, g2[20] = { 0 }, d1[45] = { 0 }, d2[45] = { 0 }, w1[18] = { 0 }, w2[18] = { 0 };
    ck_assert_ok(mlcl_loss_compute(L, NULL, g1, d1, w1, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 5, .q = P.q, .k = P.k, .y = P.yp, .d = P.d, .F = 6, .kq = P.kq, .yq = P.yqp, .dq = P.dq, .W = P.W, .h = 2 }));
    ck_assert_ok(mlcl_loss_compute(L, NULL, g2, d2, w2, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 5, .q = P.q, .k = P.k, .y = P.yp, .d = P.d, .F = 6, .kq = P.kq, .yq = P.yqp, .dq = P.dq, .W = P.W, .h = 2 }));
    ck_assert_ok(mlcl_loss_compute(L, NULL, g2, d2, w2, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 5, .q = P.q, .k = P.k, .y = P.yp, .d = P.d, .F = 6, .kq = P.kq, .yq = P.yqp, .dq = P.dq, .W = P.W, .h = 2 }));
    for (int j = 0; j < 20; j++) ck_assert_float_eq_tol(g2[j], 2 * g1[j], 1e-5f * (1 + fabsf(g1[j])));
    for (int j = 0; j < 45; j++) ck_assert_float_eq_tol(d2[j], 2 * d1[j], 1e-5f * (1 + fabsf(d1[j])));
    for (int j = 0; j < 18; j++) ck_assert_float_eq_tol(w2[j], 2 * w1[j], 1e-6f * (1 + fabsf(w1[j])));
    /* SupCon ANY: anchor 0 without labels */
    memset(P.yp, 0, sizeof(uint64_t));
    o.method = MLCL_LOSS_SUPCON;
    ck_assert_ok(mlcl_loss_set_options(L, &o));
    float g[20] = { 0 };
    mlcl_loss_parts parts = MLCL_LOSS_PARTS_INIT;
    ck_assert_ok(mlcl_loss_compute(L, &parts, g, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 5, .q = P.q, .k = P.k, .y = P.yp, .F = 6, .kq = P.kq, .yq = P.yqp }));
    ck_assert_int_eq(parts.n_anchors_used, 4);
    for (int j = 0; j < 4; j++) ck_assert(g[j] == 0.0f);
    mlcl_loss_free(L);
    prob_free(&P);
}
END_TEST

START_TEST(options_init_and_set)
{
    mlcl_loss_options a = MLCL_LOSS_OPTIONS_INIT, b;
    memset(&b, 0xAB, sizeof b);
    ck_assert_ok(mlcl_loss_options_init(&b, MLCL_LOSS_OPTIONS_VERSION));
    ck_assert_mem_eq(&a, &b, sizeof a);
    ck_assert_int_eq(a.method, MLCL_LOSS_LD);
    ck_assert_int_eq(a.variant, MLCL_LD_CLD);
    ck_assert_int_eq(a.mask, MLCL_MASK_ANY);
    ck_assert_float_eq(a.alpha, 0.1f);
    ck_assert_float_eq(a.beta, 1.0f);
    ck_assert_float_eq(a.tau, 0.1f);
    ck_assert_float_eq(a.sigma, 0.01f);
    ck_assert_int_eq(a.weight_grad, 0);
    ck_assert_int_eq(a.dweight_grad, 0);
    ck_assert_status_msg(mlcl_loss_options_init(&b, 99), MLCL_EVERSION, "version");
    ck_assert_status_msg(mlcl_loss_options_init(NULL, 1), MLCL_EINVAL, "opts");
    mlcl_loss *L;
    ck_assert_ok(mlcl_loss_create(&L, 4, 8, 3, 5, NULL));
    ck_assert_ok(mlcl_loss_get_options(L, &b));
    ck_assert_mem_eq(&a, &b, sizeof a);
    int mn, mq, m, c;
    ck_assert_ok(mlcl_loss_get_dims(L, &mn, &mq, &m, &c));
    ck_assert(mn == 4 && mq == 8 && m == 3 && c == 5);
    size_t ws = 0;
    ck_assert_ok(mlcl_loss_workspace_size(L, &ws));
    ck_assert(ws > 0);
    mlcl_loss_options bad = a;
    bad.tau = 0;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "tau");
    bad = a; bad.sigma = -1;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "sigma");
    bad = a; bad.alpha = NAN;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "alpha");
    bad = a; bad.beta = -0.5f;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "beta");
    bad = a; bad.method = 7;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "method");
    bad = a; bad.variant = 2;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "variant");
    bad = a; bad.mask = -1;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "mask");
    bad = a; bad.reduction = 3;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "reduction");
    bad = a; bad.cld_weight = 2;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "cld_weight");
    bad = a; bad.weight_grad = 2;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "weight_grad");
    bad = a; bad.dweight_grad = -1;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "dweight_grad");
    bad = a; bad.con_norm = 2;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "con_norm");
    bad = a; bad.h_target = 5;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EINVAL, "h_target");
    bad = a; bad.version = 3;
    ck_assert_status_msg(mlcl_loss_set_options(L, &bad), MLCL_EVERSION, "version");
    ck_assert_ok(mlcl_loss_get_options(L, &b)); /* unchanged after the failures */
    ck_assert_mem_eq(&a, &b, sizeof a);
    mlcl_loss_free(L);
    mlcl_loss_free(NULL);
}
END_TEST

START_TEST(bad_arguments)
{
    trng r = { 11 };
    prob P;
    prob_init(&P, 4, 5, 3, 6, 2, 0, &r);
    mlcl_loss *L = NULL;
    ck_assert_status_msg(mlcl_loss_create(NULL, 4, 5, 3, 6, NULL), MLCL_EINVAL, "out");
    ck_assert_status_msg(mlcl_loss_create(&L, 0, 5, 3, 6, NULL), MLCL_EINVAL, "max_n");
    ck_assert_status_msg(mlcl_loss_create(&L, 4, -1, 3, 6, NULL), MLCL_EINVAL, "max_queue");
    ck_assert_status_msg(mlcl_loss_create(&L, 4, 5, 0, 6, NULL), MLCL_EINVAL, "m");
    ck_assert_status_msg(mlcl_loss_create(&L, 4, 5, 3, -2, NULL), MLCL_EINVAL, "c");
    ck_assert_status_msg(mlcl_loss_create(&L, 1 << 30, 1 << 30, 3, 6, NULL), MLCL_EOVERFLOW, "overflow");
    ck_assert(L == NULL);
    ck_assert_ok(mlcl_loss_create(&L, 4, 5, 3, 6, NULL));
    float g[12] = { 0 };
#define CALL(n_, F_, q_, k_, y_, d_, kq_, yq_, dq_, W_, h_) \
    mlcl_loss_compute(L, NULL, g, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = n_, .q = q_, .k = k_, .y = y_, .d = d_, .F = F_, .kq = kq_, .yq = yq_, .dq = dq_, .W = W_, .h = h_ })
    ck_assert_ok(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2));
    ck_assert_status_msg(mlcl_loss_compute(NULL, NULL, g, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 4, .q = P.q, .k = P.k, .y = P.yp, .d = P.d, .F = 5, .kq = P.kq, .yq = P.yqp, .dq = P.dq, .W = P.W, .h = 2 }), MLCL_EINVAL, "L");
    ck_assert_status_msg(CALL(0, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_EINVAL, "n = 0");
    ck_assert_status_msg(CALL(5, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_EINVAL, "max_n = 4");
    ck_assert_status_msg(CALL(4, 6, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_EINVAL, "max_queue = 5");
    ck_assert_status_msg(CALL(4, -1, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_EINVAL, "F = -1");
    ck_assert_status_msg(CALL(4, 5, NULL, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_EINVAL, "q is NULL");
    ck_assert_status_msg(CALL(4, 5, P.q, NULL, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_EINVAL, "k is NULL");
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, NULL, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_EINVAL, "y is NULL");
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, NULL, P.kq, P.yqp, P.dq, P.W, 2), MLCL_EINVAL, "d is NULL");
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, P.d, NULL, P.yqp, P.dq, P.W, 2), MLCL_EINVAL, "kq is NULL");
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, NULL, P.dq, P.W, 2), MLCL_EINVAL, "yq is NULL");
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, NULL, P.W, 2), MLCL_EINVAL, "dq is NULL");
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, NULL, 2), MLCL_EINVAL, "W is NULL");
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 0), MLCL_EINVAL, "h");
    /* F = 0: queue pointers may be NULL */
    ck_assert_ok(CALL(4, 0, P.q, P.k, P.yp, P.d, NULL, NULL, NULL, P.W, 2));
    /* non-finite inputs name the array, and leave the gradient untouched */
    float gsave[12];
    memcpy(gsave, g, sizeof g);
    P.q[3] = NAN;
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_ENUMERIC, "q holds NaN");
    ck_assert_mem_eq(g, gsave, sizeof g);
    P.q[3] = 0.5f;
    P.k[0] = INFINITY;
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_ENUMERIC, "k holds");
    P.k[0] = 0.5f;
    P.kq[14] = NAN;
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_ENUMERIC, "kq holds");
    P.kq[14] = 0.5f;
    P.d[7] = NAN;
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_ENUMERIC, "d holds");
    P.d[7] = 0.1f;
    P.dq[29] = -INFINITY;
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_ENUMERIC, "dq holds");
    P.dq[29] = 0.1f;
    P.W[11] = NAN;
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_ENUMERIC, "W holds");
    P.W[11] = 0.1f;
    /* label bits above c */
    P.yp[1] |= UINT64_C(1) << 40;
    ck_assert_status_msg(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2), MLCL_EINVAL, "y has bits");
    P.yp[1] &= ~(UINT64_C(1) << 40);
    ck_assert_ok(CALL(4, 5, P.q, P.k, P.yp, P.d, P.kq, P.yqp, P.dq, P.W, 2));
#undef CALL
    mlcl_loss_free(L);
    prob_free(&P);
}
END_TEST

/* The queue convenience: reads the queue in place, checks its dims. */
START_TEST(compute_with_queue)
{
    trng r = { 21 };
    prob P;
    prob_init(&P, 5, 6, 4, 9, 2, 0, &r);
    mlcl_queue_options qo = MLCL_QUEUE_OPTIONS_INIT;
    qo.capacity = 6; qo.feat_dim = 4; qo.n_labels = 9;
    mlcl_queue *Q;
    ck_assert_ok(mlcl_queue_create(&Q, &qo));
    ck_assert_ok(mlcl_queue_enqueue(Q, 6, P.kq, P.yqp, P.dq));
    mlcl_loss *L;
    mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
    o.weight_grad = 1;
    ck_assert_ok(mlcl_loss_create(&L, 5, 6, 4, 9, &o));
    mlcl_loss_parts a = MLCL_LOSS_PARTS_INIT, b = MLCL_LOSS_PARTS_INIT;
    float ga[20] = { 0 }, gb[20] = { 0 };
    ck_assert_ok(mlcl_loss_compute(L, &a, ga, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 5, .q = P.q, .k = P.k, .y = P.yp, .d = P.d, .F = 6, .kq = P.kq, .yq = P.yqp, .dq = P.dq, .W = P.W, .h = 2 }));
    ck_assert_ok(mlcl_loss_compute(L, &b, gb, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 5, .q = P.q, .k = P.k, .y = P.yp, .d = P.d, .queue = Q, .W = P.W, .h = 2 }));
    ck_assert(a.total == b.total);
    ck_assert_mem_eq(ga, gb, sizeof ga);
    mlcl_queue *Q2;
    qo.feat_dim = 128;
    ck_assert_ok(mlcl_queue_create(&Q2, &qo));
    mlcl_loss *L2;
    ck_assert_ok(mlcl_loss_create(&L2, 5, 6, 256, 9, &o));
    ck_assert_status_msg(mlcl_loss_compute(L2, &b, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 5, .q = P.q, .k = P.k, .y = P.yp, .d = P.d, .queue = Q2, .W = P.W, .h = 2 }),
                         MLCL_EINVAL, "feature width 128 != 256");
    mlcl_queue_free(Q2);
    qo.feat_dim = 4; qo.n_labels = 8;
    ck_assert_ok(mlcl_queue_create(&Q2, &qo));
    ck_assert_status_msg(mlcl_loss_compute(L, &b, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 5, .q = P.q, .k = P.k, .y = P.yp, .d = P.d, .queue = Q2, .W = P.W, .h = 2 }),
                         MLCL_EINVAL, "label count 8 != 9");
    mlcl_queue_free(Q2);
    qo.n_labels = 9; qo.capacity = 10;
    ck_assert_ok(mlcl_queue_create(&Q2, &qo));
    float kk[40];
    uint64_t yy[10] = { 0 };
    for (int i = 0; i < 40; i++) kk[i] = 0.5f;
    ck_assert_ok(mlcl_queue_enqueue(Q2, 10, kk, yy, NULL));
    ck_assert_status_msg(mlcl_loss_compute(L, &b, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = 5, .q = P.q, .k = P.k, .y = P.yp, .d = P.d, .queue = Q2, .W = P.W, .h = 2 }),
                         MLCL_EINVAL, "max_queue");
    ck_assert_status_msg(mlcl_loss_compute(L, &b, NULL, NULL, NULL, NULL), MLCL_EINVAL, "in is NULL");
    mlcl_queue_free(Q2);
    mlcl_queue_free(Q);
    mlcl_loss_free(L);
    mlcl_loss_free(L2);
    prob_free(&P);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("values_and_gradients");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, ld_all_options, 0, 256);
    tcase_add_loop_test(tc, supcon_and_mulsupcon, 0, 32);
    tcase_add_test(tc, defaults_and_beta0);
    tcase_add_test(tc, rld_sparse_weights);
    tcase_add_test(tc, large_threaded);
    tcase_add_test(tc, threads_split_rows);
    tcase_add_test(tc, hand_worked);
    tcase_add_test(tc, accumulate_and_skip);
    suite_add_tcase(s, tc);
    TCase *tb = tcase_create("api");
    tcase_add_test(tb, options_init_and_set);
    tcase_add_test(tb, bad_arguments);
    tcase_add_test(tb, compute_with_queue);
    suite_add_tcase(s, tb);
    return s;
}

int main(void) { return run_suite(suite()); }
