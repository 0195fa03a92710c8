/* Convolutional network graphs (see convnet.h): structure, builders, the
 * ResNet topology, initialisation and the per-batch-size plan cache. The
 * oneDNN primitives behind a plan live in src/kernels/dnn_*.c. */
#include <string.h>
#include "convnet.h"
#include "kernels/gemm.h"

typedef mlcl__cg_op cn_op;
typedef mlcl__cg_tensor cn_tensor;
enum { OP_CONV = MLCL__CG_CONV, OP_BN = MLCL__CG_BN, OP_POOL = MLCL__CG_POOL, OP_ADD = MLCL__CG_ADD };

struct mlcl__convnet {
    int nt, cap_t, nops, cap_ops;
    cn_tensor *t;
    cn_op *ops;
    size_t np, ns;
    int threads;
    mlcl__dnn *dnn;
    mlcl__dnn_plan *plans[2]; /* [0] most recent */
    int last_n, last_train, nbuilt, nbwd;
};

static mlcl__cg_graph graph_of(const mlcl__convnet *net)
{
    return (mlcl__cg_graph){ net->nt, net->nops, net->t, net->ops };
}

/* ------------------------------------------------------------------ structure */

int mlcl__convnet_create(mlcl__convnet **out, int c, int h, int w, int threads)
{
    static const char fn[] = "mlcl__convnet_create";
    *out = NULL;
    if (c <= 0 || h <= 0 || w <= 0)
        return mlcl__err(MLCL_EINVAL, "%s: input %d x %d x %d must be positive", fn, c, h, w);
    size_t cnt;
    if (mlcl__mul_size((size_t)c * (size_t)h, (size_t)w, &cnt) || cnt > (size_t)INT32_MAX)
        return mlcl__err(MLCL_EOVERFLOW, "%s: input %d x %d x %d is too large", fn, c, h, w);
    mlcl__convnet *net = mlcl__calloc(1, sizeof *net);
    if (!net) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    net->threads = threads > 0 ? threads : mlcl__convnet_threads_default();
    int rc = mlcl__alloc_array((void **)&net->t, 16, sizeof *net->t, "convnet tensors");
    if (rc < 0) { mlcl__free(net); return rc; }
    net->cap_t = 16;
    net->t[0] = (cn_tensor){ c, h, w, -1, 0 };
    net->nt = 1;
    rc = mlcl__dnn_create(&net->dnn, net->threads, fn);
    if (rc < 0) {
        mlcl__free(net->t);
        mlcl__free(net);
        return rc;
    }
    *out = net;
    return MLCL_OK;
}

void mlcl__convnet_free(mlcl__convnet *net)
{
    if (!net) return;
    mlcl__dnn_plan_free(net->plans[0]);
    mlcl__dnn_plan_free(net->plans[1]);
    mlcl__dnn_free(net->dnn);
    mlcl__free(net->t);
    mlcl__free(net->ops);
    mlcl__free(net);
}

int mlcl__convnet_clone(mlcl__convnet **out, const mlcl__convnet *src)
{
    const cn_tensor *t0 = &src->t[0];
    MLCL_TRY(mlcl__convnet_create(out, t0->c, t0->h, t0->w, src->threads));
    mlcl__convnet *net = *out;
    int rc = MLCL_OK;
    if (src->nt > net->cap_t) {
        mlcl__free(net->t);
        net->t = NULL;
        rc = mlcl__alloc_array((void **)&net->t, (size_t)src->cap_t, sizeof *net->t, "convnet tensors");
        net->cap_t = src->cap_t;
    }
    if (rc == MLCL_OK && src->nops) {
        rc = mlcl__alloc_array((void **)&net->ops, (size_t)src->cap_ops, sizeof *net->ops, "convnet ops");
        net->cap_ops = src->cap_ops;
    }
    if (rc < 0) { mlcl__convnet_free(net); *out = NULL; return rc; }
    memcpy(net->t, src->t, (size_t)src->nt * sizeof *net->t);
    if (src->nops) memcpy(net->ops, src->ops, (size_t)src->nops * sizeof *net->ops);
    net->nt = src->nt;
    net->nops = src->nops;
    net->np = src->np;
    net->ns = src->ns;
    return MLCL_OK;
}

int mlcl__convnet_same(const mlcl__convnet *a, const mlcl__convnet *b)
{
    if (a->nt != b->nt || a->nops != b->nops || a->np != b->np || a->ns != b->ns) return 0;
    for (int i = 0; i < a->nt; i++)
        if (a->t[i].c != b->t[i].c || a->t[i].h != b->t[i].h || a->t[i].w != b->t[i].w) return 0;
    for (int i = 0; i < a->nops; i++) {
        cn_op x = a->ops[i], y = b->ops[i];
        /* momentum/eps do not change the parameter layout but do the maths */
        if (memcmp(&x, &y, sizeof x) != 0) return 0;
    }
    return 1;
}

/* Appends an op with a new output tensor (c, h, w) and np/ns floats. */
static int push_op(mlcl__convnet *net, const char *fn, cn_op *op, int c, int h, int w, size_t np, size_t ns, int *out)
{
    if (net->plans[0] || net->plans[1])
        return mlcl__err(MLCL_ESTATE, "%s: the net has run already; no op can be added", fn);
    size_t cnt;
    if (c <= 0 || h <= 0 || w <= 0)
        return mlcl__err(MLCL_EINVAL, "%s: output %d x %d x %d is empty", fn, c, h, w);
    if (mlcl__mul_size((size_t)c * (size_t)h, (size_t)w, &cnt) || cnt > (size_t)INT32_MAX)
        return mlcl__err(MLCL_EOVERFLOW, "%s: output %d x %d x %d is too large", fn, c, h, w);
    if (net->nt == net->cap_t) {
        cn_tensor *nt;
        MLCL_TRY(mlcl__alloc_array((void **)&nt, 2 * (size_t)net->cap_t, sizeof *nt, "convnet tensors"));
        memcpy(nt, net->t, (size_t)net->nt * sizeof *nt);
        mlcl__free(net->t);
        net->t = nt;
        net->cap_t *= 2;
    }
    if (net->nops == net->cap_ops) {
        int cap = net->cap_ops ? 2 * net->cap_ops : 16;
        cn_op *no;
        MLCL_TRY(mlcl__alloc_array((void **)&no, (size_t)cap, sizeof *no, "convnet ops"));
        if (net->nops) memcpy(no, net->ops, (size_t)net->nops * sizeof *no);
        mlcl__free(net->ops);
        net->ops = no;
        net->cap_ops = cap;
    }
    op->out = net->nt;
    op->poff = net->np; op->np = np;
    op->soff = net->ns; op->ns = ns;
    net->t[net->nt] = (cn_tensor){ c, h, w, net->nops, 0 };
    net->t[op->in].nuse++;
    if (op->type == OP_ADD) net->t[op->in2].nuse++;
    net->ops[net->nops++] = *op;
    net->np += np;
    net->ns += ns;
    *out = net->nt++;
    return MLCL_OK;
}

static int check_in(const mlcl__convnet *net, const char *fn, const char *name, int in)
{
    if (in < 0 || in >= net->nt)
        return mlcl__err(MLCL_EINVAL, "%s: %s tensor %d does not exist (0..%d)", fn, name, in, net->nt - 1);
    return MLCL_OK;
}

/* output size of a window op, PyTorch's floor rule; <= 0 when empty */
static int win_out(int in, int k, int s, int p, int d)
{
    long span = (long)d * (k - 1) + 1, num = (long)in + 2L * p - span;
    return num < 0 ? 0 : (int)(num / s + 1);
}

int mlcl__convnet_conv(mlcl__convnet *net, int in, int oc, int kh, int kw, int sh, int sw, int ph, int pw,
                       int dh, int dw, int groups, int *out)
{
    static const char fn[] = "mlcl__convnet_conv";
    MLCL_TRY(check_in(net, fn, "input", in));
    const cn_tensor *x = &net->t[in];
    if (oc <= 0 || kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0 || groups <= 0 || ph < 0 || pw < 0)
        return mlcl__err(MLCL_EINVAL, "%s: bad geometry (oc %d, kernel %dx%d, stride %dx%d, pad %dx%d, dilation %dx%d, groups %d)",
                         fn, oc, kh, kw, sh, sw, ph, pw, dh, dw, groups);
    if (x->c % groups || oc % groups)
        return mlcl__err(MLCL_EINVAL, "%s: groups %d must divide the channels (in %d, out %d)", fn, groups, x->c, oc);
    cn_op op = { .type = OP_CONV, .in = in, .oc = oc, .kh = kh, .kw = kw, .sh = sh, .sw = sw, .ph = ph, .pw = pw,
                 .dh = dh, .dw = dw, .groups = groups };
    size_t nw = (size_t)oc * (size_t)(x->c / groups) * (size_t)kh * (size_t)kw;
    return push_op(net, fn, &op, oc, win_out(x->h, kh, sh, ph, dh), win_out(x->w, kw, sw, pw, dw), nw, 0, out);
}

int mlcl__convnet_bn(mlcl__convnet *net, int in, float eps, float momentum, int relu, int zero_init, int *out)
{
    static const char fn[] = "mlcl__convnet_bn";
    MLCL_TRY(check_in(net, fn, "input", in));
    if (!(eps > 0.0f) || !isfinite(eps) || !(momentum >= 0.0f && momentum <= 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: eps %g / momentum %g out of range", fn, (double)eps, (double)momentum);
    const cn_tensor *x = &net->t[in];
    cn_op op = { .type = OP_BN, .in = in, .relu = relu != 0, .zero_init = zero_init != 0, .eps = eps, .momentum = momentum };
    return push_op(net, fn, &op, x->c, x->h, x->w, 2 * (size_t)x->c, 2 * (size_t)x->c, out);
}

int mlcl__convnet_pool(mlcl__convnet *net, int in, int kind, int kh, int kw, int sh, int sw, int ph, int pw, int *out)
{
    static const char fn[] = "mlcl__convnet_pool";
    MLCL_TRY(check_in(net, fn, "input", in));
    if (kind < MLCL__POOL_MAX || kind > MLCL__POOL_AVG_EXCL || kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 ||
        ph < 0 || pw < 0 || 2 * ph > kh || 2 * pw > kw)
        return mlcl__err(MLCL_EINVAL, "%s: bad pooling (kind %d, kernel %dx%d, stride %dx%d, pad %dx%d)", fn, kind,
                         kh, kw, sh, sw, ph, pw);
    const cn_tensor *x = &net->t[in];
    cn_op op = { .type = OP_POOL, .in = in, .pool = kind, .kh = kh, .kw = kw, .sh = sh, .sw = sw, .ph = ph, .pw = pw };
    return push_op(net, fn, &op, x->c, win_out(x->h, kh, sh, ph, 1), win_out(x->w, kw, sw, pw, 1), 0, 0, out);
}

int mlcl__convnet_gap(mlcl__convnet *net, int in, int *out)
{
    MLCL_TRY(check_in(net, "mlcl__convnet_gap", "input", in));
    const cn_tensor *x = &net->t[in];
    cn_op op = { .type = OP_POOL, .in = in, .pool = MLCL__POOL_AVG_EXCL, .kh = x->h, .kw = x->w, .sh = 1, .sw = 1 };
    return push_op(net, "mlcl__convnet_gap", &op, x->c, 1, 1, 0, 0, out);
}

int mlcl__convnet_add(mlcl__convnet *net, int a, int b, int relu, int *out)
{
    static const char fn[] = "mlcl__convnet_add";
    MLCL_TRY(check_in(net, fn, "first", a));
    MLCL_TRY(check_in(net, fn, "second", b));
    const cn_tensor *x = &net->t[a], *y = &net->t[b];
    if (x->c != y->c || x->h != y->h || x->w != y->w)
        return mlcl__err(MLCL_EINVAL, "%s: shapes differ (%d x %d x %d vs %d x %d x %d)", fn, x->c, x->h, x->w,
                         y->c, y->h, y->w);
    cn_op op = { .type = OP_ADD, .in = a, .in2 = b, .relu = relu != 0 };
    return push_op(net, fn, &op, x->c, x->h, x->w, 0, 0, out);
}

int mlcl__convnet_create_resnet(mlcl__convnet **out, const mlcl_resnet_spec *s, int threads)
{
    static const int blocks18[4] = { 2, 2, 2, 2 }, blocks34[4] = { 3, 4, 6, 3 };
    const int *nb = s->depth == 18 ? blocks18 : blocks34;
    int bottleneck = s->depth == 50;
    float eps = s->bn_eps, mom = s->bn_momentum;
    mlcl__convnet *net;
    MLCL_TRY(mlcl__convnet_create(&net, s->in_channels, s->height, s->width, threads));
    int rc, x, t, bw = s->base_width, zi = s->zero_init_residual != 0;
    if (s->stem == MLCL_RESNET_STEM_IMAGENET) {
        rc = mlcl__convnet_conv(net, 0, bw, 7, 7, 2, 2, 3, 3, 1, 1, 1, &t);
        if (rc == MLCL_OK) rc = mlcl__convnet_bn(net, t, eps, mom, 1, 0, &t);
        if (rc == MLCL_OK) rc = mlcl__convnet_pool(net, t, MLCL__POOL_MAX, 3, 3, 2, 2, 1, 1, &x);
    } else {
        rc = mlcl__convnet_conv(net, 0, bw, 3, 3, 1, 1, 1, 1, 1, 1, 1, &t);
        if (rc == MLCL_OK) rc = mlcl__convnet_bn(net, t, eps, mom, 1, 0, &x);
    }
    int inplanes = bw;
    for (int st = 0; st < 4 && rc == MLCL_OK; st++) {
        int planes = bw << st;
        for (int b = 0; b < nb[st] && rc == MLCL_OK; b++) {
            int stride = (st > 0 && b == 0) ? 2 : 1, outp, m, sc = x;
#define STEP(call) do { if (rc == MLCL_OK) rc = (call); } while (0)
            if (!bottleneck) {
                outp = planes;
                STEP(mlcl__convnet_conv(net, x, planes, 3, 3, stride, stride, 1, 1, 1, 1, 1, &m));
                STEP(mlcl__convnet_bn(net, m, eps, mom, 1, 0, &m));
                STEP(mlcl__convnet_conv(net, m, planes, 3, 3, 1, 1, 1, 1, 1, 1, 1, &m));
                STEP(mlcl__convnet_bn(net, m, eps, mom, 0, zi, &m));
            } else {
                outp = 4 * planes;
                STEP(mlcl__convnet_conv(net, x, planes, 1, 1, 1, 1, 0, 0, 1, 1, 1, &m));
                STEP(mlcl__convnet_bn(net, m, eps, mom, 1, 0, &m));
                STEP(mlcl__convnet_conv(net, m, planes, 3, 3, stride, stride, 1, 1, 1, 1, 1, &m));
                STEP(mlcl__convnet_bn(net, m, eps, mom, 1, 0, &m));
                STEP(mlcl__convnet_conv(net, m, outp, 1, 1, 1, 1, 0, 0, 1, 1, 1, &m));
                STEP(mlcl__convnet_bn(net, m, eps, mom, 0, zi, &m));
            }
            if (stride != 1 || inplanes != outp) {
                STEP(mlcl__convnet_conv(net, x, outp, 1, 1, stride, stride, 0, 0, 1, 1, 1, &sc));
                STEP(mlcl__convnet_bn(net, sc, eps, mom, 0, 0, &sc));
            }
            STEP(mlcl__convnet_add(net, m, sc, 1, &x));
#undef STEP
            inplanes = outp;
        }
    }
    if (rc == MLCL_OK) rc = mlcl__convnet_gap(net, x, &t);
    if (rc < 0) { mlcl__convnet_free(net); return rc; }
    *out = net;
    return MLCL_OK;
}

void mlcl__convnet_dims(const mlcl__convnet *net, size_t *in_dim, size_t *out_dim)
{
    const cn_tensor *a = &net->t[0], *b = &net->t[net->nt - 1];
    *in_dim = (size_t)a->c * a->h * a->w;
    *out_dim = (size_t)b->c * b->h * b->w;
}

size_t mlcl__convnet_param_count(const mlcl__convnet *net) { return net->np; }
size_t mlcl__convnet_state_count(const mlcl__convnet *net) { return net->ns; }
int mlcl__convnet_plans_built(const mlcl__convnet *net) { return net->nbuilt; }
int mlcl__convnet_bwd_built(const mlcl__convnet *net) { return net->nbwd; }

void mlcl__convnet_init(const mlcl__convnet *net, float *params, float *state, mlcl__pcg *rng)
{
    for (int k = 0; k < net->nops; k++) {
        const cn_op *op = &net->ops[k];
        if (op->type == OP_CONV) {
            /* kaiming_normal_(mode="fan_out", nonlinearity="relu") */
            float sd = (float)sqrt(2.0 / ((double)op->oc * op->kh * op->kw));
            for (size_t i = 0; i < op->np; i++) params[op->poff + i] = sd * mlcl__pcg_normal(rng);
        } else if (op->type == OP_BN) {
            size_t c = op->np / 2;
            for (size_t i = 0; i < c; i++) {
                params[op->poff + i] = op->zero_init ? 0.0f : 1.0f;
                params[op->poff + c + i] = 0.0f;
                state[op->soff + i] = 0.0f;
                state[op->soff + c + i] = 1.0f;
            }
        }
    }
}

long mlcl__convnet_bad_state(const mlcl__convnet *net, const float *state)
{
    for (int k = 0; k < net->nops; k++) {
        const cn_op *op = &net->ops[k];
        if (op->type != OP_BN) continue;
        size_t c = op->ns / 2;
        for (size_t i = 0; i < c; i++)
            if (state[op->soff + c + i] < 0.0f) return (long)(op->soff + c + i);
    }
    return -1;
}


/* ------------------------------------------------------------------ threads */

/* The count in force for the calling thread: the encoder's own
 * (mlcl_encoder_set_threads), else the enclosing handle's, else the library
 * default (core/internal.h); mlcl__convnet_forward follows it. */
int mlcl__convnet_threads_default(void) { return mlcl__threads_current(); }

int mlcl__convnet_threads(const mlcl__convnet *net) { return net->threads; }

void mlcl__convnet_set_threads(mlcl__convnet *net, int threads)
{
    if (threads <= 0) threads = mlcl__convnet_threads_default();
    if (threads == net->threads) return;
    net->threads = threads;
    mlcl__dnn_set_threads(net->dnn, threads);
    /* plans are made for one thread count (op_solo, BN's descriptors) */
    mlcl__dnn_plan_free(net->plans[0]);
    mlcl__dnn_plan_free(net->plans[1]);
    net->plans[0] = net->plans[1] = NULL;
    net->last_n = 0;
}

/* ------------------------------------------------------------------ execution */


int mlcl__convnet_forward(mlcl__convnet *net, const char *fn, int n, int training, const float *params, float *state,
                          const float *x, float *y)
{
    net->last_n = 0;
    if (n <= 0) return mlcl__err(MLCL_EINVAL, "%s: n must be > 0 (got %d)", fn, n);
    if (net->nops == 0) return mlcl__err(MLCL_EINVAL, "%s: the convolutional net has no op", fn);
    if (training)
        for (int k = 0; k < net->nops; k++) {
            const cn_op *op = &net->ops[k];
            const cn_tensor *t = &net->t[op->in];
            if (op->type == OP_BN && (long)n * t->h * t->w < 2)
                return mlcl__err(MLCL_EINVAL,
                                 "%s: BatchNorm2d (op %d) needs more than 1 value per channel in training mode "
                                 "(n = %d, %d x %d)", fn, k, n, t->h, t->w);
        }
    int rc = MLCL_OK;
    mlcl__cg_graph g = graph_of(net);
    mlcl__dnn_plan *pl;
    /* the two most recent batch sizes are cached, most recent first */
    if (net->plans[0] && mlcl__dnn_plan_n(net->plans[0]) == n) pl = net->plans[0];
    else if (net->plans[1] && mlcl__dnn_plan_n(net->plans[1]) == n) {
        pl = net->plans[1];
        net->plans[1] = net->plans[0];
        net->plans[0] = pl;
    } else {
        mlcl__dnn_plan *np;
        rc = mlcl__dnn_plan_build(net->dnn, &g, fn, n, &np);
        if (rc < 0) return rc;
        net->nbuilt++;
        mlcl__dnn_plan_free(net->plans[1]);
        net->plans[1] = net->plans[0];
        net->plans[0] = pl = np;
    }
    rc = mlcl__dnn_forward(net->dnn, &g, pl, fn, training, params, state, x, y);
    if (rc < 0) return rc;
    net->last_n = n;
    net->last_train = training != 0;
    return MLCL_OK;
}

int mlcl__convnet_backward(mlcl__convnet *net, const char *fn, int n, const float *params, float *grads,
                           const float *dy, float *dx)
{
    if (net->last_n == 0)
        return mlcl__err(MLCL_ESTATE, "%s: no forward pass to back-propagate", fn);
    if (n != net->last_n)
        return mlcl__err(MLCL_ESTATE, "%s: n = %d differs from the last forward's n = %d", fn, n, net->last_n);
    mlcl__cg_graph g = graph_of(net);
    int built = mlcl__dnn_plan_bwd_built(net->plans[0]);
    int rc = mlcl__dnn_backward(net->dnn, &g, net->plans[0], fn, net->last_train, params, grads, dy, dx);
    net->nbwd += !built && mlcl__dnn_plan_bwd_built(net->plans[0]);
    return rc;
}
