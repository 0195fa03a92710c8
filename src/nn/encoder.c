/* Sequential encoders, the container (encoder_impl.h): Linear, ReLU,
 * Dropout, BatchNorm1d, L2 norm, Softmax and ResNet layers; parameters,
 * gradients and BatchNorm state each live in one contiguous buffer (layout in
 * encoder.h). Forward/backward: encoder_pass.c; builders: models.c. */
#include <string.h>
#include "encoder_impl.h"
#include "kernels/vec.h"

/* The per-element loops below (ReLU, dropout, BatchNorm, bias sums, momentum
 * update) are written to vectorise; -O2 (GCC 12) leaves them scalar. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")
#endif

const char *const mlcl__enc_layer_names[7] = { "Linear", "ReLU", "Dropout", "BatchNorm1d", "L2Norm", "Softmax", "ResNet" };

int mlcl_encoder_options_init(mlcl_encoder_options *opts, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_encoder_options_init", opts, version, MLCL_ENCODER_OPTIONS_VERSION, mlcl_encoder_options, MLCL_ENCODER_OPTIONS_INIT);
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

int mlcl__enc_alloc_f(float **p, size_t rows, size_t cols, const char *what)
{
    size_t cnt;
    if (mlcl__mul_size(rows, cols, &cnt))
        return mlcl__err(MLCL_EOVERFLOW, "mlcl_encoder_forward: %s size overflows", what);
    if (cnt == 0) cnt = 1;
    return mlcl__alloc_array((void **)p, cnt, sizeof(float), what);
}

/* Sizes every row-dependent buffer for max(n, max_batch) rows; allocates only
 * when n is larger than anything seen (or layers were added). */
int mlcl__enc_ensure_rows(mlcl_encoder *e, int n)
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
    if ((rc = mlcl__enc_alloc_f(&e->gb[0], r, gw, "encoder gradient buffer")) < 0) goto fail;
    if ((rc = mlcl__enc_alloc_f(&e->gb[1], r, gw, "encoder gradient buffer")) < 0) goto fail;
    if ((rc = mlcl__alloc_array((void **)&e->acc, 2 * (size_t)e->max_w + 1, sizeof(double), "encoder accumulators")) < 0) goto fail;
    for (int i = 0; i < e->nl; i++) {
        nn_layer *l = &e->L[i];
        if ((rc = mlcl__enc_alloc_f(&l->y, r, (size_t)l->out, "layer output cache")) < 0) goto fail;
        if (l->type == L_DROPOUT || l->type == L_BN)
            rc = mlcl__enc_alloc_f(&l->aux, r, (size_t)l->out, "layer cache");
        else if (l->type == L_L2NORM)
            rc = mlcl__enc_alloc_f(&l->aux, r, 1, "layer norms");
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
int mlcl__enc_push_layer(mlcl_encoder *e, const char *fn, int type, int out, size_t np, size_t ns, nn_layer **lp)
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
    MLCL_TRY(mlcl__enc_push_layer(e, fn, L_LINEAR, out_dim, nw + (bias ? (size_t)out_dim : 0), 0, &l));
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
    return mlcl__enc_push_layer(e, "mlcl_encoder_add_relu", L_RELU, e->out_dim, 0, 0, &l);
}

int mlcl_encoder_add_dropout(mlcl_encoder *e, float p)
{
    static const char fn[] = "mlcl_encoder_add_dropout";
    MLCL_CHECK_NULL(fn, e);
    if (!(p >= 0.0f && p < 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: p must be in [0, 1) (got %g)", fn, (double)p);
    nn_layer *l;
    MLCL_TRY(mlcl__enc_push_layer(e, fn, L_DROPOUT, e->out_dim, 0, 0, &l));
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
    MLCL_TRY(mlcl__enc_push_layer(e, fn, L_BN, w, 2 * (size_t)w, 2 * (size_t)w, &l));
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
    return mlcl__enc_push_layer(e, "mlcl_encoder_add_l2norm", L_L2NORM, e->out_dim, 0, 0, &l);
}

int mlcl_encoder_add_softmax(mlcl_encoder *e)
{
    nn_layer *l;
    MLCL_CHECK_NULL("mlcl_encoder_add_softmax", e);
    return mlcl__enc_push_layer(e, "mlcl_encoder_add_softmax", L_SOFTMAX, e->out_dim, 0, 0, &l);
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

int mlcl_encoder_params_ptr(mlcl_encoder *e, float **p)
{
    MLCL_CHECK_NULL("mlcl_encoder_params_ptr", e);
    MLCL_CHECK_NULL("mlcl_encoder_params_ptr", p);
    *p = e->np ? e->params : NULL;
    return MLCL_OK;
}

int mlcl_encoder_grads_ptr(mlcl_encoder *e, float **g)
{
    MLCL_CHECK_NULL("mlcl_encoder_grads_ptr", e);
    MLCL_CHECK_NULL("mlcl_encoder_grads_ptr", g);
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
                             mlcl__enc_layer_names[x->type], x->out, x->bias ? ", bias" : "",
                             mlcl__enc_layer_names[y->type], y->out, y->bias ? ", bias" : "");
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

MLCL_VEC_CLONES static void momentum_loop(size_t n, float a, float b, float *restrict pk, const float *restrict pq)
{
    for (size_t k = 0; k < n; k++) pk[k] = pk[k] * a + pq[k] * b;
}
/* (GCC would split the copy out into a memcpy: a second pass, which this
 * loop is here to avoid) */
MLCL_VEC_CLONES __attribute__((optimize("no-tree-loop-distribute-patterns"))) static void momentum_loop_keep(size_t n, float a, float b, float *restrict pk,
                                               const float *restrict pq, float *restrict old)
{
    for (size_t k = 0; k < n; k++) {
        float v = pk[k];
        old[k] = v;
        pk[k] = v * a + pq[k] * b;
    }
}

static int momentum_update(mlcl_encoder *key, const mlcl_encoder *query, float m, float *old);
int mlcl_encoder_momentum_update(mlcl_encoder *key, const mlcl_encoder *query, float m)
{
    return momentum_update(key, query, m, NULL);
}
int mlcl__encoder_momentum_update_keep(mlcl_encoder *key, const mlcl_encoder *query, float m, float *old)
{
    return momentum_update(key, query, m, old);
}

/* Parameters lo .. hi-1 only (old: their old values, old[0] for parameter
 * lo): the update in shares, for threads. The caller has checked the shapes
 * and m (mlcl__encoder_momentum_update_keep on the same pair). */
void mlcl__encoder_momentum_range(mlcl_encoder *key, const mlcl_encoder *query, float m, float *old, size_t lo,
                                  size_t hi)
{
    if (hi > key->np) hi = key->np;
    if (lo >= hi) return;
    float a = m, b = (float)(1.0 - (double)m);
    momentum_loop_keep(hi - lo, a, b, key->params + lo, query->params + lo, old);
}

static int momentum_update(mlcl_encoder *key, const mlcl_encoder *query, float m, float *old)
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
    if (old) momentum_loop_keep(key->np, a, b, key->params, query->params, old);
    else momentum_loop(key->np, a, b, key->params, query->params);
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

void mlcl__encoder_set_threads(mlcl_encoder *e, int threads)
{
    e->threads = threads > 0 ? threads : 0; /* the scope of the public calls (mlcl_encoder_set_threads) */
    for (int i = 0; i < e->nl; i++)
        if (e->L[i].cn) {
            mlcl__convnet_set_threads(e->L[i].cn, threads);
            e->last_n = 0;
        }
}

/* ------------------------------------------------------------------ clone, layer description */

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


int mlcl_encoder_set_threads(mlcl_encoder *e, int n)
{
    MLCL_CHECK_NULL("mlcl_encoder_set_threads", e);
    int v;
    MLCL_TRY(mlcl__threads_check_handle("mlcl_encoder_set_threads", n, &v));
    mlcl__encoder_set_threads(e, v);
    return MLCL_OK;
}

int mlcl_encoder_get_threads(const mlcl_encoder *e, int *n)
{
    MLCL_CHECK_NULL("mlcl_encoder_get_threads", e);
    MLCL_CHECK_NULL("mlcl_encoder_get_threads", n);
    *n = e->threads;
    return MLCL_OK;
}
