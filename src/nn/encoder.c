/* Sequential encoders: Linear, ReLU, Dropout, BatchNorm1d, L2 norm, Softmax
 * with forward/backward over row-major batches. Parameters, gradients and
 * BatchNorm state each live in one contiguous buffer (layout in nn.h). */
#include <string.h>
#include "nn_internal.h"
#include "kernels/vec.h"
#include "kernels/par.h"
#include "kernels/gemm.h"
#include "kernels/pcgfill.h"
#include "kernels/spmm.h"
#include "mlcl/nn.h"
#include "convnet.h"
#include "dist/comm_internal.h"

/* The per-element loops below (ReLU, dropout, BatchNorm, bias sums, momentum
 * update) are written to vectorise; -O2 (GCC 12) leaves them scalar. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")
#endif

enum { L_LINEAR, L_RELU, L_DROPOUT, L_BN, L_L2NORM, L_SOFTMAX, L_CONVNET };
static const char *const layer_names[] = { "Linear", "ReLU", "Dropout", "BatchNorm1d", "L2Norm", "Softmax", "ResNet" };

/* Two independent PCG streams from one seed: initialisation and dropout, so
 * masks do not depend on how many weights were drawn. */
#define STREAM_INIT 0x696e6974ULL
#define STREAM_DROP 0x64726f70ULL

typedef struct nn_layer {
    int type, in, out, bias;
    float p, eps, momentum;
    size_t poff, np, soff, ns;
    float *y;     /* rows x out: the layer's output of the last forward */
    float *aux;   /* Dropout: mask (rows x out); BN: xhat (rows x out); L2: norms (rows) */
    float *invstd; /* BN: 1/sqrt(var+eps) used by the last forward (out) */
    int fwd_train; /* mode of the last forward */
    mlcl__convnet *cn; /* L_CONVNET: the oneDNN network (convnet.h) */
    mlcl_resnet_spec rs; /* L_CONVNET: the spec it was built from (mlcl__encoder_layer_info) */
} nn_layer;

struct mlcl_encoder {
    int in_dim, out_dim, max_w;
    int nl, cap_l;
    nn_layer *L;
    float *params, *grads, *state;
    size_t np, ns;
    int max_batch;  /* requested workspace rows */
    int cap_n;      /* rows the row buffers hold now; 0 = to allocate */
    float *xin;     /* cap_xin x in_dim: copy of the last dense input */
    int cap_xin;    /* rows xin holds (allocated by the first dense forward) */
    /* the last sparse input (mlcl_encoder_forward_csr): CSR copy, layer 0 reads it */
    int last_sparse;
    int64_t *sp_ptr;
    int *sp_col;
    float *sp_val;
    size_t cap_sp_rows, cap_sp_nnz;
    float *gb[2];   /* cap_n x max_w: ping-pong gradient buffers */
    double *acc;    /* 2 x max_w + 1 column accumulators */
    int training;
    int par;        /* mlcl__encoder_set_par */
    int threads;    /* mlcl_encoder_set_threads; 0: the enclosing/library count */
    int last_n;     /* n of the last forward, 0 when backward is not valid */
    mlcl__pcg init_rng, drop_rng;
    /* data-parallel (mlcl_encoder_set_comm): BatchNorm1d over all ranks' rows;
     * dropout draws skip the rows of the other ranks (mlcl__encoder_set_rows) */
    int has_comm;
    mlcl_comm comm;
    long long row_off, row_total; /* this rank's first row and the global rows; total 0 = off */
};

int mlcl_encoder_options_init(mlcl_encoder_options *opts, unsigned int version)
{
    MLCL_CHECK_NULL("mlcl_encoder_options_init", opts);
    if (version != MLCL_ENCODER_OPTIONS_VERSION)
        return mlcl__err(MLCL_EVERSION, "mlcl_encoder_options_init: version %u is not %u",
                         version, (unsigned)MLCL_ENCODER_OPTIONS_VERSION);
    mlcl_encoder_options d = MLCL_ENCODER_OPTIONS_INIT;
    memcpy(opts, &d, sizeof d);
    return MLCL_OK;
}

int mlcl_mlp_spec_init(mlcl_mlp_spec *spec, unsigned int version)
{
    MLCL_CHECK_NULL("mlcl_mlp_spec_init", spec);
    if (version != MLCL_MLP_SPEC_VERSION)
        return mlcl__err(MLCL_EVERSION, "mlcl_mlp_spec_init: version %u is not %u", version,
                         (unsigned)MLCL_MLP_SPEC_VERSION);
    mlcl_mlp_spec d = MLCL_MLP_SPEC_INIT;
    memcpy(spec, &d, sizeof d);
    return MLCL_OK;
}

/* ------------------------------------------------------------------ buffers */

static void free_rows(mlcl_encoder *e)
{
    for (int i = 0; i < e->nl; i++) {
        mlcl__free(e->L[i].y); e->L[i].y = NULL;
        mlcl__free(e->L[i].aux); e->L[i].aux = NULL;
    }
    mlcl__free(e->xin); e->xin = NULL;
    e->cap_xin = 0;
    mlcl__free(e->sp_ptr); mlcl__free(e->sp_col); mlcl__free(e->sp_val);
    e->sp_ptr = NULL; e->sp_col = NULL; e->sp_val = NULL;
    e->cap_sp_rows = e->cap_sp_nnz = 0;
    e->last_sparse = 0;
    mlcl__free(e->gb[0]); mlcl__free(e->gb[1]); e->gb[0] = e->gb[1] = NULL;
    mlcl__free(e->acc); e->acc = NULL;
    e->cap_n = 0;
    e->last_n = 0;
}

static int alloc_f(float **p, size_t rows, size_t cols, const char *what)
{
    size_t cnt;
    if (mlcl__mul_size(rows, cols, &cnt))
        return mlcl__err(MLCL_EOVERFLOW, "mlcl_encoder_forward: %s size overflows", what);
    if (cnt == 0) cnt = 1;
    return mlcl__alloc_array((void **)p, cnt, sizeof(float), what);
}

/* Sizes every row-dependent buffer for max(n, max_batch) rows; allocates only
 * when n is larger than anything seen (or layers were added). */
static int ensure_rows(mlcl_encoder *e, int n)
{
    if (e->cap_n >= n) return MLCL_OK;
    int rows = n > e->max_batch ? n : e->max_batch;
    free_rows(e);
    size_t r = (size_t)rows;
    int rc;
    /* the gradient buffers hold the gradients of layer outputs only (the
     * input gradient goes to the caller's grad_in): a wide (sparse) input
     * does not make them wide; the input cache is sized by the dense forward */
    size_t gw = 1;
    for (int i = 0; i < e->nl; i++)
        if ((size_t)e->L[i].out > gw) gw = (size_t)e->L[i].out;
    if ((rc = alloc_f(&e->gb[0], r, gw, "encoder gradient buffer")) < 0) goto fail;
    if ((rc = alloc_f(&e->gb[1], r, gw, "encoder gradient buffer")) < 0) goto fail;
    if ((rc = mlcl__alloc_array((void **)&e->acc, 2 * (size_t)e->max_w + 1, sizeof(double), "encoder accumulators")) < 0) goto fail;
    for (int i = 0; i < e->nl; i++) {
        nn_layer *l = &e->L[i];
        if ((rc = alloc_f(&l->y, r, (size_t)l->out, "layer output cache")) < 0) goto fail;
        if (l->type == L_DROPOUT || l->type == L_BN)
            rc = alloc_f(&l->aux, r, (size_t)l->out, "layer cache");
        else if (l->type == L_L2NORM)
            rc = alloc_f(&l->aux, r, 1, "layer norms");
        if (rc < 0) goto fail;
    }
    e->cap_n = rows;
    return MLCL_OK;
fail:
    free_rows(e);
    return rc;
}

int mlcl_encoder_create(mlcl_encoder **out, int in_dim, const mlcl_encoder_options *opts)
{
    static const char fn[] = "mlcl_encoder_create";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_POS(fn, in_dim);
    mlcl_encoder_options d = MLCL_ENCODER_OPTIONS_INIT;
    if (opts) MLCL_CHECK_VERSION(fn, opts, MLCL_ENCODER_OPTIONS_VERSION);
    else opts = &d;
    if (opts->max_batch <= 0)
        return mlcl__err(MLCL_EINVAL, "%s: opts->max_batch must be > 0 (got %d)", fn, opts->max_batch);
    mlcl_encoder *e = mlcl__calloc(1, sizeof *e);
    if (!e) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    e->in_dim = e->out_dim = e->max_w = in_dim;
    e->max_batch = opts->max_batch;
    e->training = 1;
    mlcl__pcg_seed(&e->init_rng, opts->seed, STREAM_INIT);
    mlcl__pcg_seed(&e->drop_rng, opts->seed, STREAM_DROP);
    *out = e;
    return MLCL_OK;
}

void mlcl_encoder_free(mlcl_encoder *e)
{
    if (!e) return;
    free_rows(e);
    for (int i = 0; i < e->nl; i++) {
        mlcl__free(e->L[i].invstd);
        mlcl__convnet_free(e->L[i].cn);
    }
    mlcl__free(e->L);
    mlcl__free(e->params);
    mlcl__free(e->grads);
    mlcl__free(e->state);
    mlcl__free(e);
}

/* Grows a float buffer from `old` to `new_n` floats, keeping the contents. */
static int grow_copy(float **buf, size_t old, size_t new_n, const char *what)
{
    if (new_n == old) return MLCL_OK;
    float *nb;
    MLCL_TRY(mlcl__alloc_array((void **)&nb, new_n, sizeof(float), what));
    if (old) memcpy(nb, *buf, old * sizeof(float));
    mlcl__free(*buf);
    *buf = nb;
    return MLCL_OK;
}

/* Appends a layer taking the current output width; np/ns floats of params/state. */
static int push_layer(mlcl_encoder *e, const char *fn, int type, int out, size_t np, size_t ns, nn_layer **lp)
{
    if (!e) return mlcl__err(MLCL_EINVAL, "%s: e is NULL", fn);
    if (e->nl == e->cap_l) {
        int cap = e->cap_l ? 2 * e->cap_l : 8;
        nn_layer *nlst;
        MLCL_TRY(mlcl__alloc_array((void **)&nlst, (size_t)cap, sizeof *nlst, "encoder layers"));
        if (e->nl) memcpy(nlst, e->L, (size_t)e->nl * sizeof *nlst);
        mlcl__free(e->L);
        e->L = nlst;
        e->cap_l = cap;
    }
    /* parameter, gradient and state buffers are re-allocated (values kept) */
    float *p = e->params, *g = e->grads, *s = e->state;
    if (np) {
        float *np_ = NULL, *ng = NULL;
        if (mlcl__alloc_array((void **)&np_, e->np + np, sizeof(float), "encoder parameters") < 0 ||
            mlcl__alloc_array((void **)&ng, e->np + np, sizeof(float), "encoder gradients") < 0) {
            mlcl__free(np_);
            return MLCL_ENOMEM;
        }
        if (e->np) { memcpy(np_, p, e->np * sizeof(float)); memcpy(ng, g, e->np * sizeof(float)); }
        p = np_; g = ng;
    }
    if (ns) {
        float *tmp = e->state;
        if (grow_copy(&tmp, e->ns, e->ns + ns, "encoder state") < 0) {
            if (np) { mlcl__free(p); mlcl__free(g); }
            return MLCL_ENOMEM;
        }
        s = tmp;
    }
    float *invstd = NULL;
    if (type == L_BN && mlcl__alloc_array((void **)&invstd, (size_t)out, sizeof(float), "batchnorm cache") < 0) {
        if (np) { mlcl__free(p); mlcl__free(g); }
        if (ns) { e->state = s; } /* grown copy holds the old values; keep it */
        return MLCL_ENOMEM;
    }
    if (np) { mlcl__free(e->params); mlcl__free(e->grads); e->params = p; e->grads = g; }
    e->state = s;
    free_rows(e); /* row buffers are re-sized at the next forward */
    nn_layer *l = &e->L[e->nl];
    memset(l, 0, sizeof *l);
    l->type = type;
    l->in = e->out_dim;
    l->out = out;
    l->poff = e->np; l->np = np;
    l->soff = e->ns; l->ns = ns;
    l->invstd = invstd;
    e->np += np;
    e->ns += ns;
    e->nl++;
    e->out_dim = out;
    if (out > e->max_w) e->max_w = out;
    *lp = l;
    return MLCL_OK;
}

int mlcl_encoder_add_linear(mlcl_encoder *e, int out_dim, int bias)
{
    static const char fn[] = "mlcl_encoder_add_linear";
    MLCL_CHECK_NULL(fn, e);
    MLCL_CHECK_POS(fn, out_dim);
    if (bias != 0 && bias != 1) return mlcl__err(MLCL_EINVAL, "%s: bias must be 0 or 1 (got %d)", fn, bias);
    size_t nw;
    if (mlcl__mul_size((size_t)out_dim, (size_t)e->out_dim, &nw) || nw > (size_t)INT32_MAX)
        return mlcl__err(MLCL_EOVERFLOW, "%s: weight %d x %d is too large", fn, out_dim, e->out_dim);
    nn_layer *l;
    MLCL_TRY(push_layer(e, fn, L_LINEAR, out_dim, nw + (bias ? (size_t)out_dim : 0), 0, &l));
    l->bias = bias;
    /* nn.Linear's reset_parameters: kaiming_uniform(a=sqrt(5)) gives
     * bound = sqrt(6/((1+5) fan_in)) = 1/sqrt(fan_in), the bias the same. */
    float bound = 1.0f / sqrtf((float)l->in);
    float *w = e->params + l->poff;
    for (size_t k = 0; k < l->np; k++)
        w[k] = bound * (2.0f * mlcl__pcg_uniform(&e->init_rng) - 1.0f);
    return MLCL_OK;
}

int mlcl_encoder_add_relu(mlcl_encoder *e)
{
    nn_layer *l;
    MLCL_CHECK_NULL("mlcl_encoder_add_relu", e);
    return push_layer(e, "mlcl_encoder_add_relu", L_RELU, e->out_dim, 0, 0, &l);
}

int mlcl_encoder_add_dropout(mlcl_encoder *e, float p)
{
    static const char fn[] = "mlcl_encoder_add_dropout";
    MLCL_CHECK_NULL(fn, e);
    if (!(p >= 0.0f && p < 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: p must be in [0, 1) (got %g)", fn, (double)p);
    nn_layer *l;
    MLCL_TRY(push_layer(e, fn, L_DROPOUT, e->out_dim, 0, 0, &l));
    l->p = p;
    return MLCL_OK;
}

int mlcl_encoder_add_batchnorm(mlcl_encoder *e, float eps, float momentum)
{
    static const char fn[] = "mlcl_encoder_add_batchnorm";
    MLCL_CHECK_NULL(fn, e);
    if (!(eps > 0.0f) || !isfinite(eps))
        return mlcl__err(MLCL_EINVAL, "%s: eps must be > 0 (got %g)", fn, (double)eps);
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: momentum must be in [0, 1] (got %g)", fn, (double)momentum);
    int w = e->out_dim;
    nn_layer *l;
    MLCL_TRY(push_layer(e, fn, L_BN, w, 2 * (size_t)w, 2 * (size_t)w, &l));
    l->eps = eps;
    l->momentum = momentum;
    float *gb = e->params + l->poff, *st = e->state + l->soff;
    for (int j = 0; j < w; j++) { gb[j] = 1.0f; gb[w + j] = 0.0f; st[j] = 0.0f; st[w + j] = 1.0f; }
    return MLCL_OK;
}

int mlcl_encoder_add_l2norm(mlcl_encoder *e)
{
    nn_layer *l;
    MLCL_CHECK_NULL("mlcl_encoder_add_l2norm", e);
    return push_layer(e, "mlcl_encoder_add_l2norm", L_L2NORM, e->out_dim, 0, 0, &l);
}

int mlcl_encoder_add_softmax(mlcl_encoder *e)
{
    nn_layer *l;
    MLCL_CHECK_NULL("mlcl_encoder_add_softmax", e);
    return push_layer(e, "mlcl_encoder_add_softmax", L_SOFTMAX, e->out_dim, 0, 0, &l);
}

int mlcl_encoder_create_mlp(mlcl_encoder **out, const mlcl_mlp_spec *spec, const mlcl_encoder_options *opts)
{
    static const char fn[] = "mlcl_encoder_create_mlp";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, spec);
    MLCL_CHECK_VERSION(fn, spec, MLCL_MLP_SPEC_VERSION);
    if (spec->in_dim <= 0) return mlcl__err(MLCL_EINVAL, "%s: spec->in_dim must be > 0 (got %d)", fn, spec->in_dim);
    if (spec->n_hidden < 0 || spec->n_hidden > MLCL_MLP_MAX_HIDDEN)
        return mlcl__err(MLCL_EINVAL, "%s: spec->n_hidden must be in [0, %d] (got %d)", fn, MLCL_MLP_MAX_HIDDEN, spec->n_hidden);
    for (int i = 0; i < spec->n_hidden; i++)
        if (spec->hidden[i] <= 0)
            return mlcl__err(MLCL_EINVAL, "%s: spec->hidden[%d] must be > 0 (got %d)", fn, i, spec->hidden[i]);
    if (!(spec->dropout >= 0.0f && spec->dropout < 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: spec->dropout must be in [0, 1) (got %g)", fn, (double)spec->dropout);
    if (spec->batchnorm != 0 && spec->batchnorm != 1)
        return mlcl__err(MLCL_EINVAL, "%s: spec->batchnorm must be 0 or 1 (got %d)", fn, spec->batchnorm);
    if (spec->out_dim < 0) return mlcl__err(MLCL_EINVAL, "%s: spec->out_dim must be >= 0 (got %d)", fn, spec->out_dim);
    if (spec->out_act < MLCL_MLP_OUT_NONE || spec->out_act > MLCL_MLP_OUT_SOFTMAX)
        return mlcl__err(MLCL_EINVAL, "%s: spec->out_act %d is not an mlcl_mlp_out", fn, spec->out_act);
    mlcl_encoder *e;
    MLCL_TRY(mlcl_encoder_create(&e, spec->in_dim, opts));
    int rc = MLCL_OK;
    for (int i = 0; i < spec->n_hidden && rc == MLCL_OK; i++) {
        rc = mlcl_encoder_add_linear(e, spec->hidden[i], 1);
        if (rc == MLCL_OK && spec->batchnorm) rc = mlcl_encoder_add_batchnorm(e, 1e-5f, 0.1f);
        if (rc == MLCL_OK) rc = mlcl_encoder_add_relu(e);
        if (rc == MLCL_OK && spec->dropout > 0.0f) rc = mlcl_encoder_add_dropout(e, spec->dropout);
    }
    if (rc == MLCL_OK && spec->out_dim > 0) rc = mlcl_encoder_add_linear(e, spec->out_dim, 1);
    if (rc == MLCL_OK && spec->out_act == MLCL_MLP_OUT_L2NORM) rc = mlcl_encoder_add_l2norm(e);
    if (rc == MLCL_OK && spec->out_act == MLCL_MLP_OUT_SOFTMAX) rc = mlcl_encoder_add_softmax(e);
    if (rc < 0) { mlcl_encoder_free(e); return rc; }
    *out = e;
    return MLCL_OK;
}

/* ------------------------------------------------------------------ forward */

/* element loops on restrict locals so they vectorise (struct members alias) */
static void relu_fwd(size_t cnt, const float *restrict x, float *restrict y)
{
    for (size_t k = 0; k < cnt; k++) y[k] = x[k] > 0.0f ? x[k] : 0.0f;
}
static void relu_bwd(size_t cnt, const float *restrict y, const float *restrict g, float *restrict gx)
{
    for (size_t k = 0; k < cnt; k++) {
        float gk = g[k]; /* loaded unconditionally: a select, not a branch */
        gx[k] = y[k] > 0.0f ? gk : 0.0f;
    }
}
static void mul_vec(size_t cnt, const float *restrict a, const float *restrict b, float *restrict out)
{
    for (size_t k = 0; k < cnt; k++) out[k] = a[k] * b[k];
}

static int bn_forward(mlcl_encoder *e, nn_layer *l, int n, const float *x)
{
    static const char fn[] = "mlcl_encoder_forward";
    int w = l->out;
    const float *gamma = e->params + l->poff, *beta = gamma + w;
    float *rm = e->state + l->soff, *rv = rm + w;
    float *xhat = l->aux, *y = l->y, *invstd = l->invstd;
    double *mean = e->acc, *var = e->acc + w;
    if (e->training) {
        double nt = n; /* rows over all ranks */
        for (int j = 0; j < w; j++) mean[j] = var[j] = 0.0;
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * w;
            for (int j = 0; j < w; j++) mean[j] += xi[j];
        }
        if (e->has_comm) {
            /* synchronised: the column sums and the row count in one call, then
             * the squared deviations from the global mean */
            mean[w] = n; /* mean[w] is var[0]: sent together */
            MLCL_TRY(mlcl__comm_sum_f64(&e->comm, mean, (size_t)w + 1, fn, "BatchNorm1d sums"));
            nt = mean[w];
        }
        for (int j = 0; j < w; j++) mean[j] /= nt;
        for (int j = 0; j < w; j++) var[j] = 0.0;
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * w;
            for (int j = 0; j < w; j++) { double d = xi[j] - mean[j]; var[j] += d * d; }
        }
        if (e->has_comm) MLCL_TRY(mlcl__comm_sum_f64(&e->comm, var, (size_t)w, fn, "BatchNorm1d squared deviations"));
        if (nt < 2) return mlcl__err(MLCL_EINVAL, "%s: BatchNorm1d needs at least 2 rows over all ranks", fn);
        /* biased variance normalises; the unbiased one feeds running_var */
        float m = l->momentum;
        for (int j = 0; j < w; j++) {
            double vb = var[j] / nt;
            invstd[j] = (float)(1.0 / sqrt(vb + (double)l->eps));
            rm[j] = (1.0f - m) * rm[j] + m * (float)mean[j];
            rv[j] = (1.0f - m) * rv[j] + m * (float)(var[j] / (nt - 1));
        }
    } else {
        for (int j = 0; j < w; j++) {
            mean[j] = rm[j];
            invstd[j] = (float)(1.0 / sqrt((double)rv[j] + (double)l->eps));
        }
    }
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * w;
        float *hi = xhat + (size_t)i * w, *yi = y + (size_t)i * w;
        for (int j = 0; j < w; j++) {
            hi[j] = (float)(xi[j] - mean[j]) * invstd[j];
            yi[j] = gamma[j] * hi[j] + beta[j];
        }
    }
    return MLCL_OK;
}

/* Moves r forward by delta draws in O(log delta): s -> a^d s + c (a^{d-1} + ... + 1),
 * by squaring the affine map (Brown, "Random number generation with arbitrary strides"). */
static void pcg_advance(mlcl__pcg *r, uint64_t delta)
{
    uint64_t am = 1, ap = 0, cm = PCGFILL_MULT, cp = r->inc;
    while (delta) {
        if (delta & 1u) {
            am *= cm;
            ap = ap * cm + cp;
        }
        cp = (cm + 1) * cp;
        cm *= cm;
        delta >>= 1;
    }
    r->state = am * r->state + ap;
}

static int has_dropout(const mlcl_encoder *e)
{
    for (int i = 0; i < e->nl; i++)
        if (e->L[i].type == L_DROPOUT && e->L[i].p > 0.0f) return 1;
    return 0;
}

void mlcl__encoder_set_rows(mlcl_encoder *e, long long off, long long total)
{
    e->row_off = off;
    e->row_total = total;
}

int mlcl_encoder_set_comm(mlcl_encoder *e, const mlcl_comm *comm)
{
    static const char fn[] = "mlcl_encoder_set_comm";
    MLCL_CHECK_NULL_AS(fn, e, "encoder");
    if (!comm) {
        e->has_comm = 0;
        e->row_off = e->row_total = 0;
        return MLCL_OK;
    }
    MLCL_TRY(mlcl__comm_check(comm, fn));
    e->comm = *comm;
    e->has_comm = 1;
    return MLCL_OK;
}

static int forward_from(mlcl_encoder *e, int n, int first, const float *cur, float *out);

/* The public entry points run in the encoder's thread scope (core/internal.h). */
#define ENC_SCOPED(e, call) do { int tok_ = mlcl__threads_enter((e) ? (e)->threads : 0); \
    int rc_ = (call); mlcl__threads_leave(tok_); return rc_; } while (0)

static int encoder_forward(mlcl_encoder *e, int n, const float *x, float *out);
int mlcl_encoder_forward(mlcl_encoder *e, int n, const float *x, float *out) { ENC_SCOPED(e, encoder_forward(e, n, x, out)); }

int mlcl_encoder_set_threads(mlcl_encoder *e, int n)
{
    MLCL_CHECK_NULL("mlcl_encoder_set_threads", e);
    return mlcl__threads_check_handle("mlcl_encoder_set_threads", n, &e->threads);
}

int mlcl_encoder_get_threads(const mlcl_encoder *e, int *n)
{
    MLCL_CHECK_NULL("mlcl_encoder_get_threads", e);
    MLCL_CHECK_NULL("mlcl_encoder_get_threads", n);
    *n = e->threads;
    return MLCL_OK;
}

static int encoder_forward(mlcl_encoder *e, int n, const float *x, float *out)
{
    static const char fn[] = "mlcl_encoder_forward";
    MLCL_CHECK_NULL(fn, e);
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_NULL(fn, x);
    MLCL_CHECK_NULL(fn, out);
    e->last_n = 0;
    if (e->row_total > 0 && e->training && has_dropout(e) && (e->row_off < 0 || e->row_off + n > e->row_total))
        return mlcl__err(MLCL_ESTATE, "%s: n = %d rows from row %lld do not fit in the %lld rows of the global batch",
                         fn, n, e->row_off, e->row_total);
    size_t tot;
    if (mlcl__mul_size((size_t)n, (size_t)e->max_w, &tot))
        return mlcl__err(MLCL_EOVERFLOW, "%s: n = %d rows overflow", fn, n);
    if (e->training && n == 1 && !e->has_comm)
        for (int i = 0; i < e->nl; i++)
            if (e->L[i].type == L_BN)
                return mlcl__err(MLCL_EINVAL, "%s: BatchNorm1d (layer %d) needs n > 1 in training mode (got n = 1)", fn, i);
    size_t nin = (size_t)n * (size_t)e->in_dim;
    if (!mlcl__vec_all_finite(x, nin))
    for (size_t k = 0; k < nin; k++)
        if (!isfinite(x[k]))
            return mlcl__err(MLCL_ENUMERIC, "%s: x[%zu] (row %zu, column %zu) is not finite", fn, k,
                             k / (size_t)e->in_dim, k % (size_t)e->in_dim);
    MLCL_TRY(ensure_rows(e, n));
    if (e->cap_xin < n) {
        mlcl__free(e->xin);
        e->xin = NULL;
        e->cap_xin = 0;
        MLCL_TRY(alloc_f(&e->xin, (size_t)e->cap_n, (size_t)e->in_dim, "encoder input cache"));
        e->cap_xin = e->cap_n;
    }
    memcpy(e->xin, x, nin * sizeof(float));
    e->last_sparse = 0;
    return forward_from(e, n, 0, e->xin, out);
}

/* Layers first .. nl-1 on cur (the output of layer first-1 or the input). */
static int forward_from(mlcl_encoder *e, int n, int first, const float *cur, float *out)
{
    static const char fn[] = "mlcl_encoder_forward";
    for (int li = first; li < e->nl; li++) {
        nn_layer *l = &e->L[li];
        size_t cnt = (size_t)n * (size_t)l->out;
        float *y = l->y;
        l->fwd_train = e->training;
        switch (l->type) {
        case L_LINEAR: {
            const float *W = e->params + l->poff;
            if (l->bias) {
                const float *b = W + (size_t)l->out * l->in;
                for (int i = 0; i < n; i++) memcpy(y + (size_t)i * l->out, b, (size_t)l->out * sizeof(float));
            }
            /* y = x W^T (+ b): W stays out x in, the GEMM reads it transposed */
            mlcl__sgemm(0, 1, n, l->out, l->in, 1.0f, cur, l->in, W, l->in, l->bias ? 1.0f : 0.0f, y, l->out);
            break;
        }
        case L_RELU:
            relu_fwd(cnt, cur, y);
            break;
        case L_DROPOUT:
            if (e->training && l->p > 0.0f) {
                /* one uniform per element from the dropout stream, kept iff
                 * u >= p (nn.h); drawn in bulk, compared on integers */
                float scale = 1.0f / (1.0f - l->p), *mask = l->aux;
                uint32_t thr = mlcl__pcg_threshold(l->p), u[PCGFILL_CHUNK];
                /* data-parallel: this rank's rows are rows row_off.. of the global
                 * batch, whose masks are drawn in row order: skip the others */
                if (e->row_total > 0) pcg_advance(&e->drop_rng, (uint64_t)e->row_off * (uint64_t)l->out);
                for (size_t k0 = 0; k0 < cnt; k0 += PCGFILL_CHUNK) {
                    size_t m = cnt - k0 < PCGFILL_CHUNK ? cnt - k0 : PCGFILL_CHUNK;
                    mlcl__pcg_fill(&e->drop_rng, u, m);
                    float *mk = mask + k0, *yk = y + k0;
                    const float *xk = cur + k0;
                    for (size_t j = 0; j < m; j++) {
                        mk[j] = (u[j] >> 8) >= thr ? scale : 0.0f;
                        yk[j] = xk[j] * mk[j];
                    }
                }
                if (e->row_total > 0)
                    pcg_advance(&e->drop_rng, (uint64_t)(e->row_total - e->row_off - n) * (uint64_t)l->out);
            } else {
                l->fwd_train = 0;
                memcpy(y, cur, cnt * sizeof(float));
            }
            break;
        case L_BN:
            MLCL_TRY(bn_forward(e, l, n, cur));
            break;
        case L_L2NORM:
            mlcl__l2norm_rows(n, l->out, cur, y, l->aux);
            break;
        case L_SOFTMAX:
            mlcl__softmax_rows(n, l->out, cur, y);
            break;
        case L_CONVNET:
            MLCL_TRY(mlcl__convnet_forward(l->cn, fn, n, e->training, e->params + l->poff, e->state + l->soff, cur, y));
            break;
        }
        cur = y;
    }
    memcpy(out, cur, (size_t)n * (size_t)e->out_dim * sizeof(float));
    e->last_n = n;
    return MLCL_OK;
}

static int encoder_forward_csr(mlcl_encoder *e, int n, const int64_t *row_ptr, const int *cols, const float *vals,
                               float *out);
int mlcl_encoder_forward_csr(mlcl_encoder *e, int n, const int64_t *row_ptr, const int *cols, const float *vals,
                             float *out)
{
    ENC_SCOPED(e, encoder_forward_csr(e, n, row_ptr, cols, vals, out));
}

static int encoder_forward_csr(mlcl_encoder *e, int n, const int64_t *row_ptr, const int *cols, const float *vals,
                               float *out)
{
    static const char fn[] = "mlcl_encoder_forward_csr";
    MLCL_CHECK_NULL(fn, e);
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_NULL(fn, row_ptr);
    MLCL_CHECK_NULL(fn, out);
    e->last_n = 0;
    if (e->nl == 0 || e->L[0].type != L_LINEAR)
        return mlcl__err(MLCL_EINVAL, "%s: a sparse input needs a Linear first layer (the encoder's first layer is %s)", fn,
                         e->nl ? layer_names[e->L[0].type] : "absent");
    if (e->row_total > 0 && e->training && has_dropout(e) && (e->row_off < 0 || e->row_off + n > e->row_total))
        return mlcl__err(MLCL_ESTATE, "%s: n = %d rows from row %lld do not fit in the %lld rows of the global batch",
                         fn, n, e->row_off, e->row_total);
    if (e->training && n == 1 && !e->has_comm)
        for (int i = 0; i < e->nl; i++)
            if (e->L[i].type == L_BN)
                return mlcl__err(MLCL_EINVAL, "%s: BatchNorm1d (layer %d) needs n > 1 in training mode (got n = 1)", fn, i);
    /* the CSR is checked (it indexes the weights) and copied (backward reads it) */
    int64_t base = row_ptr[0];
    if (base < 0) return mlcl__err(MLCL_EINVAL, "%s: row_ptr[0] = %lld is negative", fn, (long long)base);
    for (int i = 0; i < n; i++) {
        if (row_ptr[i + 1] < row_ptr[i])
            return mlcl__err(MLCL_EINVAL, "%s: row_ptr[%d] = %lld < row_ptr[%d] = %lld", fn, i + 1,
                             (long long)row_ptr[i + 1], i, (long long)row_ptr[i]);
        if (row_ptr[i + 1] - row_ptr[i] > e->in_dim)
            return mlcl__err(MLCL_EINVAL, "%s: row %d holds %lld entries, more than in_dim = %d", fn, i,
                             (long long)(row_ptr[i + 1] - row_ptr[i]), e->in_dim);
    }
    size_t nnz = (size_t)(row_ptr[n] - base);
    if (nnz) {
        MLCL_CHECK_NULL(fn, cols);
        MLCL_CHECK_NULL(fn, vals);
    }
    for (int i = 0; i < n; i++)
        for (int64_t q = row_ptr[i]; q < row_ptr[i + 1]; q++) {
            if (cols[q] < 0 || cols[q] >= e->in_dim)
                return mlcl__err(MLCL_EINVAL, "%s: cols[%lld] = %d (row %d) is out of range [0, %d)", fn, (long long)q,
                                 cols[q], i, e->in_dim);
            if (q > row_ptr[i] && cols[q] <= cols[q - 1])
                return mlcl__err(MLCL_EINVAL, "%s: row %d: columns must increase strictly (cols[%lld] = %d after %d)",
                                 fn, i, (long long)q, cols[q], cols[q - 1]);
            if (!isfinite(vals[q]))
                return mlcl__err(MLCL_ENUMERIC, "%s: vals[%lld] (row %d, column %d) is not finite", fn, (long long)q, i,
                                 cols[q]);
        }
    MLCL_TRY(ensure_rows(e, n));
    if (e->cap_sp_rows < (size_t)n + 1) {
        mlcl__free(e->sp_ptr);
        e->sp_ptr = NULL;
        e->cap_sp_rows = 0;
        MLCL_TRY(mlcl__alloc_array((void **)&e->sp_ptr, (size_t)e->cap_n + 1, sizeof *e->sp_ptr, "sparse input cache"));
        e->cap_sp_rows = (size_t)e->cap_n + 1;
    }
    if (e->cap_sp_nnz < nnz || !e->sp_col) {
        size_t cap = nnz > 2 * e->cap_sp_nnz ? nnz : 2 * e->cap_sp_nnz; /* amortised growth */
        if (cap == 0) cap = 1;
        mlcl__free(e->sp_col); mlcl__free(e->sp_val);
        e->sp_col = NULL; e->sp_val = NULL;
        e->cap_sp_nnz = 0;
        MLCL_TRY(mlcl__alloc_array((void **)&e->sp_col, cap, sizeof *e->sp_col, "sparse input cache"));
        MLCL_TRY(mlcl__alloc_array((void **)&e->sp_val, cap, sizeof *e->sp_val, "sparse input cache"));
        e->cap_sp_nnz = cap;
    }
    for (int i = 0; i <= n; i++) e->sp_ptr[i] = row_ptr[i] - base;
    if (nnz) {
        memcpy(e->sp_col, cols + base, nnz * sizeof *e->sp_col);
        memcpy(e->sp_val, vals + base, nnz * sizeof *e->sp_val);
    }
    nn_layer *l = &e->L[0];
    const float *W = e->params + l->poff;
    l->fwd_train = e->training;
    mlcl__spmm_fwd(n, l->in, l->out, e->sp_ptr, e->sp_col, e->sp_val, W, l->bias ? W + (size_t)l->out * l->in : NULL,
                   l->y);
    e->last_sparse = 1;
    return forward_from(e, n, 1, l->y, out);
}

/* Layer 0 after a sparse forward: dW over the columns present, db; no dx. */
static void sparse_linear_bwd(mlcl_encoder *e, nn_layer *l, int n, const float *g)
{
    float *gW = e->grads + l->poff;
    mlcl__spmm_bwd_w(n, l->in, l->out, e->sp_ptr, e->sp_col, e->sp_val, g, gW,
                     l->bias ? gW + (size_t)l->out * l->in : NULL);
}

/* ------------------------------------------------------------------ backward */

static int bn_backward(mlcl_encoder *e, nn_layer *l, int n, const float *g, float *gx)
{
    int w = l->out;
    const float *gamma = e->params + l->poff, *xhat = l->aux, *invstd = l->invstd;
    float *dgamma = e->grads + l->poff, *dbeta = dgamma + w;
    double *sg = e->acc, *sgx = e->acc + w;
    for (int j = 0; j < w; j++) sg[j] = sgx[j] = 0.0;
    for (int i = 0; i < n; i++) {
        const float *gi = g + (size_t)i * w, *hi = xhat + (size_t)i * w;
        for (int j = 0; j < w; j++) { sg[j] += gi[j]; sgx[j] += (double)gi[j] * hi[j]; }
    }
    for (int j = 0; j < w; j++) { dgamma[j] += (float)sgx[j]; dbeta[j] += (float)sg[j]; }
    if (!gx) return MLCL_OK;
    if (l->fwd_train) {
        /* dx = gamma invstd / n (n g - sum g - xhat sum(g xhat)); synchronised:
         * the sums and n over all ranks (the parameter gradients above stay local) */
        double nt = n;
        if (e->has_comm) {
            sg[2 * w] = n; /* acc holds 2 max_w + 1 doubles */
            MLCL_TRY(mlcl__comm_sum_f64(&e->comm, sg, 2 * (size_t)w + 1, "mlcl_encoder_backward", "BatchNorm1d gradient sums"));
            nt = sg[2 * w];
        }
        for (int i = 0; i < n; i++) {
            const float *gi = g + (size_t)i * w, *hi = xhat + (size_t)i * w;
            float *o = gx + (size_t)i * w;
            for (int j = 0; j < w; j++)
                o[j] = (float)((double)gamma[j] * invstd[j] / nt *
                               (nt * gi[j] - sg[j] - (double)hi[j] * sgx[j]));
        }
    } else {
        for (int i = 0; i < n; i++) {
            const float *gi = g + (size_t)i * w;
            float *o = gx + (size_t)i * w;
            for (int j = 0; j < w; j++) o[j] = gi[j] * gamma[j] * invstd[j];
        }
    }
    return MLCL_OK;
}

void mlcl__encoder_set_par(mlcl_encoder *e, int on) { e->par = on; }

/* dW += g^T x of a Linear layer, as a task for mlcl__par2 */
typedef struct dw_task { int out, in, n; const float *g, *x; float *gW; } dw_task;
static void dw_run(void *arg)
{
    dw_task *t = arg;
    mlcl__sgemm(1, 0, t->out, t->in, t->n, 1.0f, t->g, t->out, t->x, t->in, 1.0f, t->gW, t->in);
}
/* dx = g W */
typedef struct dx_task { int out, in, n; const float *g, *W; float *gx; } dx_task;
static void dx_run(void *arg)
{
    dx_task *t = arg;
    mlcl__sgemm(0, 0, t->n, t->in, t->out, 1.0f, t->g, t->out, t->W, t->in, 0.0f, t->gx, t->in);
}
/* below this many multiply-adds per GEMM a thread start costs more than it saves */
#define PAR_MIN_MACS 2000000

static int encoder_backward(mlcl_encoder *e, int n, const float *grad_out, float *grad_in);
int mlcl_encoder_backward(mlcl_encoder *e, int n, const float *grad_out, float *grad_in)
{
    ENC_SCOPED(e, encoder_backward(e, n, grad_out, grad_in));
}

static int encoder_backward(mlcl_encoder *e, int n, const float *grad_out, float *grad_in)
{
    static const char fn[] = "mlcl_encoder_backward";
    MLCL_CHECK_NULL(fn, e);
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_NULL(fn, grad_out);
    if (e->last_n == 0)
        return mlcl__err(MLCL_ESTATE, "%s: no forward pass to back-propagate (call mlcl_encoder_forward first)", fn);
    if (n != e->last_n)
        return mlcl__err(MLCL_ESTATE, "%s: n = %d differs from the last forward's n = %d", fn, n, e->last_n);
    size_t nout = (size_t)n * (size_t)e->out_dim;
    if (!mlcl__vec_all_finite(grad_out, nout))
    for (size_t k = 0; k < nout; k++)
        if (!isfinite(grad_out[k]))
            return mlcl__err(MLCL_ENUMERIC, "%s: grad_out[%zu] is not finite", fn, k);
    if (e->nl == 0) {
        if (grad_in) memcpy(grad_in, grad_out, nout * sizeof(float));
        return MLCL_OK;
    }
    if (e->last_sparse && grad_in)
        return mlcl__err(MLCL_EINVAL, "%s: the last forward had a sparse input (mlcl_encoder_forward_csr): "
                         "no input gradient; pass grad_in = NULL", fn);
    const float *g = grad_out;
    for (int li = e->nl - 1; li >= 0; li--) {
        nn_layer *l = &e->L[li];
        const float *xin = li > 0 ? e->L[li - 1].y : e->xin;
        float *gx = li > 0 ? (g == e->gb[0] ? e->gb[1] : e->gb[0]) : grad_in;
        size_t cnt = (size_t)n * (size_t)l->out;
        if (li == 0 && e->last_sparse) { /* checked above: a Linear layer, no grad_in */
            sparse_linear_bwd(e, l, n, g);
            break;
        }
        switch (l->type) {
        case L_LINEAR: {
            const float *W = e->params + l->poff;
            float *gW = e->grads + l->poff;
            /* dW += g^T x;  db += column sums of g;  dx = g W */
            dw_task tw = { l->out, l->in, n, g, xin, gW };
            dx_task tx = { l->out, l->in, n, g, W, gx };
            int par = e->par && gx && (double)n * l->in * l->out >= PAR_MIN_MACS;
            if (par) mlcl__par2(dw_run, &tw, dx_run, &tx);
            else dw_run(&tw);
            if (l->bias) {
                float *gbias = gW + (size_t)l->out * l->in;
                double *s = e->acc;
                for (int j = 0; j < l->out; j++) s[j] = 0.0;
                for (int i = 0; i < n; i++) {
                    const float *gi = g + (size_t)i * l->out;
                    for (int j = 0; j < l->out; j++) s[j] += gi[j];
                }
                for (int j = 0; j < l->out; j++) gbias[j] += (float)s[j];
            }
            if (gx && !par) dx_run(&tx);
            break;
        }
        case L_RELU:
            if (gx) relu_bwd(cnt, l->y, g, gx);
            break;
        case L_DROPOUT:
            if (gx) {
                if (l->fwd_train) mul_vec(cnt, g, l->aux, gx);
                else memcpy(gx, g, cnt * sizeof(float));
            }
            break;
        case L_BN:
            MLCL_TRY(bn_backward(e, l, n, g, gx));
            break;
        case L_L2NORM:
            if (gx) mlcl__l2norm_rows_bwd(n, l->out, l->y, l->aux, g, gx, 0);
            break;
        case L_SOFTMAX:
            if (gx) mlcl__softmax_rows_bwd(n, l->out, l->y, g, gx, 0);
            break;
        case L_CONVNET:
            MLCL_TRY(mlcl__convnet_backward(l->cn, fn, n, e->params + l->poff, e->grads + l->poff, g, gx));
            break;
        }
        if (!gx) break; /* only reached at layer 0 without grad_in */
        g = gx;
    }
    return MLCL_OK;
}

/* ------------------------------------------------------------------ accessors */

int mlcl_encoder_zero_grad(mlcl_encoder *e)
{
    MLCL_CHECK_NULL("mlcl_encoder_zero_grad", e);
    if (e->np) memset(e->grads, 0, e->np * sizeof(float));
    return MLCL_OK;
}

int mlcl_encoder_set_training(mlcl_encoder *e, int training)
{
    MLCL_CHECK_NULL("mlcl_encoder_set_training", e);
    if (training != 0 && training != 1)
        return mlcl__err(MLCL_EINVAL, "mlcl_encoder_set_training: training must be 0 or 1 (got %d)", training);
    e->training = training;
    return MLCL_OK;
}

int mlcl_encoder_get_training(const mlcl_encoder *e, int *training)
{
    MLCL_CHECK_NULL("mlcl_encoder_get_training", e);
    MLCL_CHECK_NULL("mlcl_encoder_get_training", training);
    *training = e->training;
    return MLCL_OK;
}

int mlcl_encoder_in_dim(const mlcl_encoder *e, int *dim)
{
    MLCL_CHECK_NULL("mlcl_encoder_in_dim", e);
    MLCL_CHECK_NULL("mlcl_encoder_in_dim", dim);
    *dim = e->in_dim;
    return MLCL_OK;
}

int mlcl_encoder_out_dim(const mlcl_encoder *e, int *dim)
{
    MLCL_CHECK_NULL("mlcl_encoder_out_dim", e);
    MLCL_CHECK_NULL("mlcl_encoder_out_dim", dim);
    *dim = e->out_dim;
    return MLCL_OK;
}

int mlcl_encoder_num_layers(const mlcl_encoder *e, int *n)
{
    MLCL_CHECK_NULL("mlcl_encoder_num_layers", e);
    MLCL_CHECK_NULL("mlcl_encoder_num_layers", n);
    *n = e->nl;
    return MLCL_OK;
}

int mlcl_encoder_param_count(const mlcl_encoder *e, size_t *n)
{
    MLCL_CHECK_NULL("mlcl_encoder_param_count", e);
    MLCL_CHECK_NULL("mlcl_encoder_param_count", n);
    *n = e->np;
    return MLCL_OK;
}

int mlcl_encoder_params(mlcl_encoder *e, float **p)
{
    MLCL_CHECK_NULL("mlcl_encoder_params", e);
    MLCL_CHECK_NULL("mlcl_encoder_params", p);
    *p = e->np ? e->params : NULL;
    return MLCL_OK;
}

int mlcl_encoder_grads(mlcl_encoder *e, float **g)
{
    MLCL_CHECK_NULL("mlcl_encoder_grads", e);
    MLCL_CHECK_NULL("mlcl_encoder_grads", g);
    *g = e->np ? e->grads : NULL;
    return MLCL_OK;
}

static int check_count(const char *fn, const char *what, size_t n, size_t have)
{
    if (n != have)
        return mlcl__err(MLCL_EINVAL, "%s: n = %zu does not match the encoder's %s count %zu", fn, n, what, have);
    return MLCL_OK;
}

int mlcl_encoder_get_params(const mlcl_encoder *e, float *dst, size_t n)
{
    static const char fn[] = "mlcl_encoder_get_params";
    MLCL_CHECK_NULL(fn, e);
    MLCL_TRY(check_count(fn, "parameter", n, e->np));
    if (n == 0) return MLCL_OK;
    MLCL_CHECK_NULL(fn, dst);
    memcpy(dst, e->params, n * sizeof(float));
    return MLCL_OK;
}

int mlcl_encoder_set_params(mlcl_encoder *e, const float *src, size_t n)
{
    static const char fn[] = "mlcl_encoder_set_params";
    MLCL_CHECK_NULL(fn, e);
    MLCL_TRY(check_count(fn, "parameter", n, e->np));
    if (n == 0) return MLCL_OK;
    MLCL_CHECK_NULL(fn, src);
    for (size_t k = 0; k < n; k++)
        if (!isfinite(src[k])) return mlcl__err(MLCL_ENUMERIC, "%s: src[%zu] is not finite", fn, k);
    memcpy(e->params, src, n * sizeof(float));
    return MLCL_OK;
}

int mlcl_encoder_state_count(const mlcl_encoder *e, size_t *n)
{
    MLCL_CHECK_NULL("mlcl_encoder_state_count", e);
    MLCL_CHECK_NULL("mlcl_encoder_state_count", n);
    *n = e->ns;
    return MLCL_OK;
}

int mlcl_encoder_get_state(const mlcl_encoder *e, float *dst, size_t n)
{
    static const char fn[] = "mlcl_encoder_get_state";
    MLCL_CHECK_NULL(fn, e);
    MLCL_TRY(check_count(fn, "state", n, e->ns));
    if (n == 0) return MLCL_OK;
    MLCL_CHECK_NULL(fn, dst);
    memcpy(dst, e->state, n * sizeof(float));
    return MLCL_OK;
}

int mlcl_encoder_set_state(mlcl_encoder *e, const float *src, size_t n)
{
    static const char fn[] = "mlcl_encoder_set_state";
    MLCL_CHECK_NULL(fn, e);
    MLCL_TRY(check_count(fn, "state", n, e->ns));
    if (n == 0) return MLCL_OK;
    MLCL_CHECK_NULL(fn, src);
    for (size_t k = 0; k < n; k++)
        if (!isfinite(src[k])) return mlcl__err(MLCL_ENUMERIC, "%s: src[%zu] is not finite", fn, k);
    for (int i = 0; i < e->nl; i++) {
        const nn_layer *l = &e->L[i];
        if (l->type == L_CONVNET) {
            long bad = mlcl__convnet_bad_state(l->cn, src + l->soff);
            if (bad >= 0)
                return mlcl__err(MLCL_EINVAL, "%s: a running_var of layer %d (ResNet) is negative (src[%zu])", fn, i,
                                 l->soff + (size_t)bad);
            continue;
        }
        if (l->type != L_BN) continue;
        for (int j = 0; j < l->out; j++)
            if (src[l->soff + (size_t)l->out + (size_t)j] < 0.0f)
                return mlcl__err(MLCL_EINVAL, "%s: running_var of layer %d, column %d is negative (src[%zu])", fn,
                                 i, j, l->soff + (size_t)l->out + (size_t)j);
    }
    memcpy(e->state, src, n * sizeof(float));
    return MLCL_OK;
}

static int same_shape(const char *fn, const mlcl_encoder *a, const mlcl_encoder *b)
{
    if (a->in_dim != b->in_dim)
        return mlcl__err(MLCL_EINVAL, "%s: input widths differ (%d vs %d)", fn, a->in_dim, b->in_dim);
    if (a->nl != b->nl)
        return mlcl__err(MLCL_EINVAL, "%s: layer counts differ (%d vs %d)", fn, a->nl, b->nl);
    for (int i = 0; i < a->nl; i++) {
        const nn_layer *x = &a->L[i], *y = &b->L[i];
        if (x->type != y->type || x->out != y->out || x->bias != y->bias)
            return mlcl__err(MLCL_EINVAL, "%s: layer %d differs (%s(%d%s) vs %s(%d%s))", fn, i,
                             layer_names[x->type], x->out, x->bias ? ", bias" : "",
                             layer_names[y->type], y->out, y->bias ? ", bias" : "");
        if (x->type == L_CONVNET && !mlcl__convnet_same(x->cn, y->cn))
            return mlcl__err(MLCL_EINVAL, "%s: layer %d differs (ResNet architectures differ)", fn, i);
    }
    return MLCL_OK;
}

int mlcl_encoder_copy_params(mlcl_encoder *dst, const mlcl_encoder *src)
{
    static const char fn[] = "mlcl_encoder_copy_params";
    MLCL_CHECK_NULL(fn, dst);
    MLCL_CHECK_NULL(fn, src);
    MLCL_TRY(same_shape(fn, dst, src));
    if (dst != src && dst->np) memcpy(dst->params, src->params, dst->np * sizeof(float));
    return MLCL_OK;
}

int mlcl_encoder_momentum_update(mlcl_encoder *key, const mlcl_encoder *query, float m)
{
    static const char fn[] = "mlcl_encoder_momentum_update";
    MLCL_CHECK_NULL(fn, key);
    MLCL_CHECK_NULL(fn, query);
    if (!(m >= 0.0f && m <= 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: m must be in [0, 1] (got %g)", fn, (double)m);
    MLCL_TRY(same_shape(fn, key, query));
    /* theta_k = m theta_k + (1 - m) theta_q, the factors rounded to float as
     * PyTorch does with its Python-double scalars */
    float a = m, b = (float)(1.0 - (double)m);
    float *pk = key->params;
    const float *pq = query->params;
    for (size_t k = 0; k < key->np; k++) pk[k] = pk[k] * a + pq[k] * b;
    return MLCL_OK;
}

int mlcl_encoder_get_rng_state(const mlcl_encoder *e, uint64_t state[2])
{
    MLCL_CHECK_NULL("mlcl_encoder_get_rng_state", e);
    MLCL_CHECK_NULL("mlcl_encoder_get_rng_state", state);
    state[0] = e->drop_rng.state;
    state[1] = e->drop_rng.inc;
    return MLCL_OK;
}

int mlcl_encoder_set_rng_state(mlcl_encoder *e, const uint64_t state[2])
{
    MLCL_CHECK_NULL("mlcl_encoder_set_rng_state", e);
    MLCL_CHECK_NULL("mlcl_encoder_set_rng_state", state);
    if ((state[1] & 1u) == 0)
        return mlcl__err(MLCL_EINVAL, "mlcl_encoder_set_rng_state: the increment state[1] must be odd");
    e->drop_rng.state = state[0];
    e->drop_rng.inc = state[1];
    return MLCL_OK;
}

/* ------------------------------------------------------------------ residual networks, clone */

int mlcl_resnet_spec_init(mlcl_resnet_spec *spec, unsigned int version)
{
    MLCL_CHECK_NULL("mlcl_resnet_spec_init", spec);
    if (version != MLCL_RESNET_SPEC_VERSION)
        return mlcl__err(MLCL_EVERSION, "mlcl_resnet_spec_init: version %u is not %u", version,
                         (unsigned)MLCL_RESNET_SPEC_VERSION);
    mlcl_resnet_spec d = MLCL_RESNET_SPEC_INIT;
    memcpy(spec, &d, sizeof d);
    return MLCL_OK;
}

int mlcl_encoder_create_resnet(mlcl_encoder **out, const mlcl_resnet_spec *spec, const mlcl_encoder_options *opts)
{
    static const char fn[] = "mlcl_encoder_create_resnet";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, spec);
    MLCL_CHECK_VERSION(fn, spec, MLCL_RESNET_SPEC_VERSION);
    if (spec->depth != 18 && spec->depth != 34 && spec->depth != 50)
        return mlcl__err(MLCL_EINVAL, "%s: spec->depth must be 18, 34 or 50 (got %d)", fn, spec->depth);
    if (spec->stem != MLCL_RESNET_STEM_IMAGENET && spec->stem != MLCL_RESNET_STEM_SMALL)
        return mlcl__err(MLCL_EINVAL, "%s: spec->stem %d is not an mlcl_resnet_stem", fn, spec->stem);
    if (spec->in_channels <= 0)
        return mlcl__err(MLCL_EINVAL, "%s: spec->in_channels must be > 0 (got %d)", fn, spec->in_channels);
    if (spec->height <= 0) return mlcl__err(MLCL_EINVAL, "%s: spec->height must be > 0 (got %d)", fn, spec->height);
    if (spec->width <= 0) return mlcl__err(MLCL_EINVAL, "%s: spec->width must be > 0 (got %d)", fn, spec->width);
    if (spec->base_width <= 0 || spec->base_width > 4096)
        return mlcl__err(MLCL_EINVAL, "%s: spec->base_width must be in [1, 4096] (got %d)", fn, spec->base_width);
    if (!(spec->bn_eps > 0.0f) || !isfinite(spec->bn_eps))
        return mlcl__err(MLCL_EINVAL, "%s: spec->bn_eps must be > 0 (got %g)", fn, (double)spec->bn_eps);
    if (!(spec->bn_momentum >= 0.0f && spec->bn_momentum <= 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: spec->bn_momentum must be in [0, 1] (got %g)", fn, (double)spec->bn_momentum);
    if (spec->zero_init_residual != 0 && spec->zero_init_residual != 1)
        return mlcl__err(MLCL_EINVAL, "%s: spec->zero_init_residual must be 0 or 1 (got %d)", fn,
                         spec->zero_init_residual);
    /* the widest activation: max(in_channels, base_width) channels at full size */
    size_t px, ch = (size_t)(spec->in_channels > spec->base_width ? spec->in_channels : spec->base_width);
    if (mlcl__mul_size((size_t)spec->height, (size_t)spec->width, &px) || mlcl__mul_size(px, ch, &px) ||
        px > (size_t)INT32_MAX)
        return mlcl__err(MLCL_EINVAL, "%s: spec->height x spec->width (%d x %d) is too large for %zu channels", fn,
                         spec->height, spec->width, ch);
    mlcl__convnet *cn;
    MLCL_TRY(mlcl__convnet_create_resnet(&cn, spec, 0));
    size_t in_dim, out_dim;
    mlcl__convnet_dims(cn, &in_dim, &out_dim);
    mlcl_encoder *e;
    int rc = mlcl_encoder_create(&e, (int)in_dim, opts);
    if (rc < 0) { mlcl__convnet_free(cn); return rc; }
    nn_layer *l;
    rc = push_layer(e, fn, L_CONVNET, (int)out_dim, mlcl__convnet_param_count(cn), mlcl__convnet_state_count(cn), &l);
    if (rc < 0) { mlcl__convnet_free(cn); mlcl_encoder_free(e); return rc; }
    l->cn = cn;
    l->rs = *spec;
    mlcl__convnet_init(cn, e->params + l->poff, e->state + l->soff, &e->init_rng);
    *out = e;
    return MLCL_OK;
}

int mlcl_encoder_clone(mlcl_encoder **out, const mlcl_encoder *src)
{
    static const char fn[] = "mlcl_encoder_clone";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, src);
    mlcl_encoder *e = mlcl__calloc(1, sizeof *e);
    if (!e) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    *e = *src;
    /* nothing shared: buffers are copied, row caches re-made at the next forward */
    e->L = NULL;
    e->nl = e->cap_l = 0;
    e->params = e->grads = e->state = NULL;
    e->xin = NULL;
    e->cap_xin = 0;
    e->sp_ptr = NULL; e->sp_col = NULL; e->sp_val = NULL;
    e->cap_sp_rows = e->cap_sp_nnz = 0;
    e->last_sparse = 0;
    e->gb[0] = e->gb[1] = NULL;
    e->acc = NULL;
    e->cap_n = 0;
    e->last_n = 0;
    int rc = MLCL_OK;
    if (src->np && (rc = mlcl__alloc_array((void **)&e->params, src->np, sizeof(float), "encoder parameters")) == MLCL_OK &&
        (rc = mlcl__alloc_array((void **)&e->grads, src->np, sizeof(float), "encoder gradients")) == MLCL_OK) {
        memcpy(e->params, src->params, src->np * sizeof(float));
        memcpy(e->grads, src->grads, src->np * sizeof(float));
    }
    if (rc == MLCL_OK && src->ns &&
        (rc = mlcl__alloc_array((void **)&e->state, src->ns, sizeof(float), "encoder state")) == MLCL_OK)
        memcpy(e->state, src->state, src->ns * sizeof(float));
    if (rc == MLCL_OK && src->cap_l &&
        (rc = mlcl__alloc_array((void **)&e->L, (size_t)src->cap_l, sizeof *e->L, "encoder layers")) == MLCL_OK)
        e->cap_l = src->cap_l;
    for (int i = 0; i < src->nl && rc == MLCL_OK; i++) {
        nn_layer *l = &e->L[i];
        *l = src->L[i];
        l->y = l->aux = l->invstd = NULL;
        l->cn = NULL;
        e->nl = i + 1; /* from here mlcl_encoder_free() cleans this layer up */
        if (src->L[i].invstd &&
            (rc = mlcl__alloc_array((void **)&l->invstd, (size_t)l->out, sizeof(float), "batchnorm cache")) == MLCL_OK)
            memcpy(l->invstd, src->L[i].invstd, (size_t)l->out * sizeof(float));
        if (rc == MLCL_OK && src->L[i].cn) rc = mlcl__convnet_clone(&l->cn, src->L[i].cn);
    }
    if (rc < 0) {
        mlcl_encoder_free(e);
        return rc;
    }
    *out = e;
    return MLCL_OK;
}

int mlcl__encoder_layer_info(const mlcl_encoder *e, int i, mlcl__layer_info *out)
{
    static const int kinds[] = { MLCL__LAYER_LINEAR, MLCL__LAYER_RELU, MLCL__LAYER_DROPOUT, MLCL__LAYER_BN1D,
                                 MLCL__LAYER_L2NORM, MLCL__LAYER_SOFTMAX, MLCL__LAYER_RESNET };
    if (!e || !out || i < 0 || i >= e->nl) return mlcl__err(MLCL_EINVAL, "mlcl__encoder_layer_info: no layer %d", i);
    const nn_layer *l = &e->L[i];
    memset(out, 0, sizeof *out);
    out->kind = kinds[l->type];
    out->in = l->in;
    out->out = l->out;
    out->bias = l->bias;
    out->p = l->p;
    out->eps = l->eps;
    out->momentum = l->momentum;
    out->np = l->np;
    out->ns = l->ns;
    if (l->type == L_CONVNET) out->resnet = l->rs;
    return MLCL_OK;
}
