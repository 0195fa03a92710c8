/* oneDNN graph engine for convolutional networks (see convnet.h). */
#include <string.h>
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include "convnet.h"
#include "kernels/gemm.h"

enum { OP_CONV, OP_BN, OP_POOL, OP_ADD };
static const char *const op_names[] = { "convolution", "batch normalization", "pooling", "residual add" };

typedef struct cn_op {
    int type, in, in2, out;
    int oc, kh, kw, sh, sw, ph, pw, dh, dw, groups; /* conv; pool: kh..pw */
    int pool, relu, zero_init;
    float eps, momentum;
    size_t poff, np, soff, ns;
} cn_op;

typedef struct cn_tensor { int c, h, w, producer, nuse; } cn_tensor;

/* handles set at each call */
enum { B_X, B_Y, B_DY, B_DX, B_PARAM, B_GRAD, B_SLOT };
typedef struct cn_bind { dnnl_memory_t mem; int kind; size_t off; } cn_bind;

enum { ST_PRIM, ST_BN_GLOBAL, ST_BN_RUN, ST_BN_GRAD };
#define MAX_ARGS 12
typedef struct cn_step {
    int kind, op, skip_nodx, nargs;
    int solo; /* run on one thread (see op_solo) */
    dnnl_primitive_t prim;
    dnnl_exec_arg_t args[MAX_ARGS];
} cn_step;

typedef struct cn_opplan {
    dnnl_primitive_desc_t pd[2]; /* forward pds (BN: [0] eval, [1] train); build-time only */
    dnnl_memory_t src, wei, uwei, ugrad, ws[2], mean, var, scale, shift, dscale, dshift;
    float *bnbuf;                /* BN: mean, var, dscale, dshift (4c) */
} cn_opplan;

/* step lists: forward eval/train, backward eval/train */
enum { FW0, FW1, BW0, BW1, NLISTS };

typedef struct cn_plan {
    int n;
    dnnl_memory_desc_t *tmd;
    dnnl_memory_t *tmem, *tdiff;
    cn_opplan *op;
    cn_step *st[NLISTS];
    int nst[NLISTS], cap_st;
    dnnl_primitive_t *prims;
    int nprims, cap_prims;
    cn_bind *binds;
    int nbinds, cap_binds;
    void **bufs;
    int nbufs, cap_bufs;
    size_t *slot;   /* slot sizes (bytes) */
    void **slotbuf;
    int nslots, cap_slots;
    dnnl_memory_t ux, uy, udy; /* edge memories (NCHW) */
    float *dx_scratch;         /* input gradient when the caller passes none */
} cn_plan;

struct mlcl__convnet {
    int nt, cap_t, nops, cap_ops;
    cn_tensor *t;
    cn_op *ops;
    size_t np, ns;
    int threads;
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    int (*omp_get)(void);
    void (*omp_set)(int);
    cn_plan *plans[2]; /* [0] most recent */
    int last_n, last_train, nbuilt;
};

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
    net->threads = threads > 0 ? threads : mlcl__threads_current();
    int rc = mlcl__alloc_array((void **)&net->t, 16, sizeof *net->t, "convnet tensors");
    if (rc < 0) { mlcl__free(net); return rc; }
    net->cap_t = 16;
    net->t[0] = (cn_tensor){ c, h, w, -1, 0 };
    net->nt = 1;
    dnnl_status_t s = dnnl_engine_create(&net->eng, dnnl_cpu, 0);
    if (s == dnnl_success) {
        s = dnnl_stream_create(&net->strm, net->eng, dnnl_stream_default_flags);
        if (s != dnnl_success) { dnnl_engine_destroy(net->eng); net->eng = NULL; }
    }
    if (s != dnnl_success) {
        mlcl__free(net->t);
        mlcl__free(net);
        return mlcl__err(MLCL_EBACKEND, "%s: oneDNN CPU engine/stream creation failed: %s", fn, dnnl_status2str(s));
    }
    /* libdnnl here uses GNU OpenMP: set its thread count around our calls only */
    net->omp_get = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    net->omp_set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (!net->omp_get || !net->omp_set) net->omp_get = NULL, net->omp_set = NULL;
    *out = net;
    return MLCL_OK;
}

static void plan_free(cn_plan *pl);

void mlcl__convnet_free(mlcl__convnet *net)
{
    if (!net) return;
    plan_free(net->plans[0]);
    plan_free(net->plans[1]);
    if (net->strm) dnnl_stream_destroy(net->strm);
    if (net->eng) dnnl_engine_destroy(net->eng);
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

/* ------------------------------------------------------------------ plans */

typedef struct bctx {
    mlcl__convnet *net;
    cn_plan *pl;
    const char *fn;
    dnnl_primitive_attr_t attr, attr_sum, attr_relu;
    dnnl_primitive_desc_t *pds; /* every pd made, destroyed at the end of the build */
    int npds, cap_pds;
    int sp_slot, diff_slot, dw_slot;
    int cur_op;
    int solo; /* steps added now run on one thread */
} bctx;

static int dnn_fail(bctx *b, const char *what, dnnl_status_t s)
{
    if (b->cur_op >= 0)
        return mlcl__err(MLCL_EBACKEND, "%s: oneDNN %s (op %d, %s) failed: %s", b->fn, what, b->cur_op,
                         op_names[b->net->ops[b->cur_op].type], dnnl_status2str(s));
    return mlcl__err(MLCL_EBACKEND, "%s: oneDNN %s failed: %s", b->fn, what, dnnl_status2str(s));
}
#define DN(call, what) do { dnnl_status_t s_ = (call); if (s_ != dnnl_success) return dnn_fail(b, what, s_); } while (0)

static int cap_fail(bctx *b) { return mlcl__err(MLCL_EBACKEND, "%s: convnet plan capacity exceeded (internal)", b->fn); }

static void plan_free(cn_plan *pl)
{
    if (!pl) return;
    for (int i = 0; i < pl->nprims; i++) dnnl_primitive_destroy(pl->prims[i]);
    for (int i = 0; i < pl->nbinds; i++) dnnl_memory_destroy(pl->binds[i].mem);
    for (int i = 0; i < pl->nbufs; i++) mlcl__free(pl->bufs[i]);
    if (pl->slotbuf)
        for (int i = 0; i < pl->nslots; i++) mlcl__free(pl->slotbuf[i]);
    for (int i = 0; i < NLISTS; i++) mlcl__free(pl->st[i]);
    mlcl__free(pl->tmd); mlcl__free(pl->tmem); mlcl__free(pl->tdiff); mlcl__free(pl->op);
    mlcl__free(pl->prims); mlcl__free(pl->binds); mlcl__free(pl->bufs);
    mlcl__free(pl->slot); mlcl__free(pl->slotbuf);
    mlcl__free(pl);
}

static int new_slot(bctx *b, size_t bytes)
{
    cn_plan *pl = b->pl;
    if (pl->nslots == pl->cap_slots) return -1;
    pl->slot[pl->nslots] = bytes;
    return pl->nslots++;
}

static void grow_slot(bctx *b, int s, size_t bytes)
{
    if (b->pl->slot[s] < bytes) b->pl->slot[s] = bytes;
}

/* A memory of md bound at call time (kind, off) or to slot `off` (B_SLOT) or
 * to an owned buffer (kind = -1: allocated now). */
static int mk_mem(bctx *b, const dnnl_memory_desc_t *md, int kind, size_t off, dnnl_memory_t *m)
{
    cn_plan *pl = b->pl;
    if (pl->nbinds == pl->cap_binds) return cap_fail(b);
    void *h = DNNL_MEMORY_NONE;
    if (kind < 0) {
        if (pl->nbufs == pl->cap_bufs) return cap_fail(b);
        size_t sz = dnnl_memory_desc_get_size(md);
        MLCL_TRY(mlcl__alloc_array(&h, sz ? sz : 1, 1, "convnet buffer"));
        pl->bufs[pl->nbufs++] = h;
    }
    DN(dnnl_memory_create(m, md, b->net->eng, h), "memory creation");
    pl->binds[pl->nbinds++] = (cn_bind){ *m, kind < 0 ? -1 : kind, off };
    return MLCL_OK;
}

/* a memory in a (possibly shared) slot, the slot grown to fit md */
static int slot_mem(bctx *b, const dnnl_memory_desc_t *md, int slot, dnnl_memory_t *m)
{
    grow_slot(b, slot, dnnl_memory_desc_get_size(md));
    return mk_mem(b, md, B_SLOT, (size_t)slot, m);
}

static int keep_pd(bctx *b, dnnl_primitive_desc_t pd)
{
    if (b->npds == b->cap_pds) { dnnl_primitive_desc_destroy(pd); return cap_fail(b); }
    b->pds[b->npds++] = pd;
    return MLCL_OK;
}

/* Creates the pd of op_desc (kept until the build ends). */
static int mk_pd(bctx *b, const void *desc, dnnl_primitive_attr_t attr, dnnl_primitive_desc_t hint,
                 const char *what, dnnl_primitive_desc_t *pd)
{
    DN(dnnl_primitive_desc_create(pd, desc, attr, b->net->eng, hint), what);
    return keep_pd(b, *pd);
}

/* The primitive of pd and its scratchpad memory (NULL when none). */
static int mk_prim(bctx *b, dnnl_primitive_desc_t pd, const char *what, dnnl_primitive_t *p, dnnl_memory_t *sp)
{
    cn_plan *pl = b->pl;
    if (pl->nprims == pl->cap_prims) return cap_fail(b);
    DN(dnnl_primitive_create(p, pd), what);
    pl->prims[pl->nprims++] = *p;
    *sp = NULL;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd) > 0) MLCL_TRY(slot_mem(b, smd, b->sp_slot, sp));
    return MLCL_OK;
}

static int add_step(bctx *b, int list, int kind, int skip, dnnl_primitive_t p, dnnl_memory_t sp, int nargs,
                    const dnnl_exec_arg_t *args)
{
    cn_plan *pl = b->pl;
    if (pl->nst[list] == pl->cap_st || nargs + 1 > MAX_ARGS) return cap_fail(b);
    cn_step *s = &pl->st[list][pl->nst[list]++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->op = b->cur_op;
    s->skip_nodx = skip;
    s->solo = b->solo;
    s->prim = p;
    s->nargs = nargs;
    if (nargs) memcpy(s->args, args, (size_t)nargs * sizeof *args);
    if (sp) s->args[s->nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, sp };
    return MLCL_OK;
}

/* A reorder src -> dst (accumulating when sum) as a step of `list`. */
static int add_reorder(bctx *b, int list, int skip, dnnl_memory_t src, const dnnl_memory_desc_t *smd,
                       dnnl_memory_t dst, const dnnl_memory_desc_t *dmd, int sum)
{
    dnnl_primitive_desc_t pd;
    DN(dnnl_reorder_primitive_desc_create(&pd, smd, b->net->eng, dmd, b->net->eng, sum ? b->attr_sum : b->attr),
       sum ? "accumulating reorder" : "reorder");
    MLCL_TRY(keep_pd(b, pd));
    dnnl_primitive_t p;
    dnnl_memory_t sp;
    MLCL_TRY(mk_prim(b, pd, "reorder primitive", &p, &sp));
    dnnl_exec_arg_t a[2] = { { DNNL_ARG_FROM, src }, { DNNL_ARG_TO, dst } };
    return add_step(b, list, ST_PRIM, skip, p, sp, 2, a);
}

static void md_nchw(dnnl_memory_desc_t *md, int n, const cn_tensor *t, dnnl_format_tag_t tag)
{
    dnnl_dims_t d = { n, t->c, t->h, t->w };
    dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, tag);
}

static int md_vec(bctx *b, dnnl_memory_desc_t *md, int c)
{
    dnnl_dims_t d = { c };
    DN(dnnl_memory_desc_init_by_tag(md, 1, d, dnnl_f32, dnnl_x), "memory descriptor");
    return MLCL_OK;
}

/* ---- forward of one op: creates its pds, memories and forward steps */
static int build_fwd(bctx *b, int k)
{
    mlcl__convnet *net = b->net;
    cn_plan *pl = b->pl;
    const cn_op *op = &net->ops[k];
    cn_opplan *o = &pl->op[k];
    const cn_tensor *ti = &net->t[op->in], *to = &net->t[op->out];
    int n = pl->n, in = op->in, out = op->out;
    dnnl_memory_desc_t any_out;
    md_nchw(&any_out, n, to, dnnl_format_tag_any);
    switch (op->type) {
    case OP_CONV: {
        dnnl_memory_desc_t src_any, wei_any, wuser;
        md_nchw(&src_any, n, ti, dnnl_format_tag_any);
        int g = op->groups;
        if (g > 1) {
            dnnl_dims_t wd = { g, op->oc / g, ti->c / g, op->kh, op->kw };
            DN(dnnl_memory_desc_init_by_tag(&wei_any, 5, wd, dnnl_f32, dnnl_format_tag_any), "memory descriptor");
            DN(dnnl_memory_desc_init_by_tag(&wuser, 5, wd, dnnl_f32, dnnl_goihw), "memory descriptor");
        } else {
            dnnl_dims_t wd = { op->oc, ti->c, op->kh, op->kw };
            DN(dnnl_memory_desc_init_by_tag(&wei_any, 4, wd, dnnl_f32, dnnl_format_tag_any), "memory descriptor");
            DN(dnnl_memory_desc_init_by_tag(&wuser, 4, wd, dnnl_f32, dnnl_oihw), "memory descriptor");
        }
        dnnl_dims_t str = { op->sh, op->sw }, dil = { op->dh - 1, op->dw - 1 }, pad = { op->ph, op->pw };
        dnnl_convolution_desc_t cd;
        DN(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &src_any,
                                                      &wei_any, NULL, &any_out, str, dil, pad, pad),
           "convolution forward descriptor");
        MLCL_TRY(mk_pd(b, &cd, b->attr, NULL, "convolution forward", &o->pd[1]));
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_weights_md, 0);
        pl->tmd[out] = *dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_dst_md, 0);
        MLCL_TRY(mk_mem(b, &pl->tmd[out], -1, 0, &pl->tmem[out]));
        MLCL_TRY(mk_mem(b, &wuser, B_PARAM, op->poff, &o->uwei));
        MLCL_TRY(mk_mem(b, &wuser, B_GRAD, op->poff, &o->ugrad));
        for (int m = FW0; m <= FW1; m++) {
            if (!dnnl_memory_desc_equal(smd, &pl->tmd[in])) {
                if (m == FW0) MLCL_TRY(mk_mem(b, smd, -1, 0, &o->src));
                MLCL_TRY(add_reorder(b, m, 0, pl->tmem[in], &pl->tmd[in], o->src, smd, 0));
            } else o->src = pl->tmem[in];
            if (!dnnl_memory_desc_equal(wmd, &wuser)) {
                if (m == FW0) MLCL_TRY(mk_mem(b, wmd, -1, 0, &o->wei));
                MLCL_TRY(add_reorder(b, m, 0, o->uwei, &wuser, o->wei, wmd, 0));
            } else o->wei = o->uwei;
        }
        dnnl_primitive_t p;
        dnnl_memory_t sp;
        MLCL_TRY(mk_prim(b, o->pd[1], "convolution forward primitive", &p, &sp));
        dnnl_exec_arg_t a[3] = { { DNNL_ARG_SRC, o->src }, { DNNL_ARG_WEIGHTS, o->wei }, { DNNL_ARG_DST, pl->tmem[out] } };
        MLCL_TRY(add_step(b, FW0, ST_PRIM, 0, p, sp, 3, a));
        MLCL_TRY(add_step(b, FW1, ST_PRIM, 0, p, sp, 3, a));
        return MLCL_OK;
    }
    case OP_BN: {
        int c = ti->c;
        pl->tmd[out] = pl->tmd[in];
        MLCL_TRY(mk_mem(b, &pl->tmd[out], -1, 0, &pl->tmem[out]));
        dnnl_memory_desc_t vmd;
        MLCL_TRY(md_vec(b, &vmd, c));
        if (pl->nbufs == pl->cap_bufs) return cap_fail(b);
        MLCL_TRY(mlcl__alloc_array((void **)&o->bnbuf, 4 * (size_t)c, sizeof(float), "batchnorm statistics"));
        pl->bufs[pl->nbufs++] = o->bnbuf;
        dnnl_memory_t *vm[4] = { &o->mean, &o->var, &o->dscale, &o->dshift };
        for (int i = 0; i < 4; i++) {
            if (pl->nbinds == pl->cap_binds) return cap_fail(b);
            DN(dnnl_memory_create(vm[i], &vmd, net->eng, o->bnbuf + (size_t)i * c), "memory creation");
            pl->binds[pl->nbinds++] = (cn_bind){ *vm[i], -1, 0 };
        }
        MLCL_TRY(mk_mem(b, &vmd, B_PARAM, op->poff, &o->scale));
        MLCL_TRY(mk_mem(b, &vmd, B_PARAM, op->poff + (size_t)c, &o->shift));
        for (int m = 0; m < 2; m++) {
            unsigned fl = dnnl_use_scale | dnnl_use_shift | (op->relu ? dnnl_fuse_norm_relu : 0) |
                          (m == 0 ? dnnl_use_global_stats : 0);
            dnnl_batch_normalization_desc_t bd;
            DN(dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_training, &pl->tmd[in], op->eps, fl),
               "batch normalization forward descriptor");
            MLCL_TRY(mk_pd(b, &bd, b->attr, NULL, "batch normalization forward", &o->pd[m]));
            o->ws[m] = NULL;
            if (op->relu) {
                const dnnl_memory_desc_t *wsmd = dnnl_primitive_desc_query_md(o->pd[m], dnnl_query_workspace_md, 0);
                if (wsmd && dnnl_memory_desc_get_size(wsmd) > 0) MLCL_TRY(mk_mem(b, wsmd, -1, 0, &o->ws[m]));
            }
            dnnl_primitive_t p;
            dnnl_memory_t sp;
            MLCL_TRY(mk_prim(b, o->pd[m], "batch normalization forward primitive", &p, &sp));
            dnnl_exec_arg_t a[7] = { { DNNL_ARG_SRC, pl->tmem[in] }, { DNNL_ARG_DST, pl->tmem[out] },
                                     { DNNL_ARG_MEAN, o->mean }, { DNNL_ARG_VARIANCE, o->var },
                                     { DNNL_ARG_SCALE, o->scale }, { DNNL_ARG_SHIFT, o->shift },
                                     { DNNL_ARG_WORKSPACE, o->ws[m] } };
            if (m == 0) MLCL_TRY(add_step(b, FW0, ST_BN_GLOBAL, 0, NULL, NULL, 0, NULL));
            MLCL_TRY(add_step(b, m == 0 ? FW0 : FW1, ST_PRIM, 0, p, sp, o->ws[m] ? 7 : 6, a));
            if (m == 1) MLCL_TRY(add_step(b, FW1, ST_BN_RUN, 0, NULL, NULL, 0, NULL));
        }
        return MLCL_OK;
    }
    case OP_POOL: {
        static const dnnl_alg_kind_t alg[3] = { dnnl_pooling_max, dnnl_pooling_avg_include_padding,
                                                dnnl_pooling_avg_exclude_padding };
        dnnl_dims_t str = { op->sh, op->sw }, ker = { op->kh, op->kw }, pad = { op->ph, op->pw };
        /* right padding so that the output size is PyTorch's floor rule */
        dnnl_dims_t padr = { (long)(to->h - 1) * op->sh + op->kh - ti->h - op->ph,
                             (long)(to->w - 1) * op->sw + op->kw - ti->w - op->pw };
        dnnl_pooling_desc_t pdsc;
        DN(dnnl_pooling_forward_desc_init(&pdsc, dnnl_forward_training, alg[op->pool], &pl->tmd[in], &any_out, str,
                                          ker, pad, padr),
           "pooling forward descriptor");
        MLCL_TRY(mk_pd(b, &pdsc, b->attr, NULL, "pooling forward", &o->pd[1]));
        pl->tmd[out] = *dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_dst_md, 0);
        MLCL_TRY(mk_mem(b, &pl->tmd[out], -1, 0, &pl->tmem[out]));
        o->ws[1] = NULL;
        const dnnl_memory_desc_t *wsmd = dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_workspace_md, 0);
        if (wsmd && dnnl_memory_desc_get_size(wsmd) > 0) MLCL_TRY(mk_mem(b, wsmd, -1, 0, &o->ws[1]));
        dnnl_primitive_t p;
        dnnl_memory_t sp;
        MLCL_TRY(mk_prim(b, o->pd[1], "pooling forward primitive", &p, &sp));
        dnnl_exec_arg_t a[3] = { { DNNL_ARG_SRC, pl->tmem[in] }, { DNNL_ARG_DST, pl->tmem[out] },
                                 { DNNL_ARG_WORKSPACE, o->ws[1] } };
        MLCL_TRY(add_step(b, FW0, ST_PRIM, 0, p, sp, o->ws[1] ? 3 : 2, a));
        MLCL_TRY(add_step(b, FW1, ST_PRIM, 0, p, sp, o->ws[1] ? 3 : 2, a));
        return MLCL_OK;
    }
    case OP_ADD: {
        pl->tmd[out] = pl->tmd[in];
        MLCL_TRY(mk_mem(b, &pl->tmd[out], -1, 0, &pl->tmem[out]));
        dnnl_binary_desc_t bd;
        DN(dnnl_binary_desc_init(&bd, dnnl_binary_add, &pl->tmd[in], &pl->tmd[op->in2], &pl->tmd[out]),
           "binary add descriptor");
        MLCL_TRY(mk_pd(b, &bd, op->relu ? b->attr_relu : b->attr, NULL, "binary add", &o->pd[1]));
        dnnl_primitive_t p;
        dnnl_memory_t sp;
        MLCL_TRY(mk_prim(b, o->pd[1], "binary add primitive", &p, &sp));
        dnnl_exec_arg_t a[3] = { { DNNL_ARG_SRC_0, pl->tmem[in] }, { DNNL_ARG_SRC_1, pl->tmem[op->in2] },
                                 { DNNL_ARG_DST, pl->tmem[out] } };
        MLCL_TRY(add_step(b, FW0, ST_PRIM, 0, p, sp, 3, a));
        MLCL_TRY(add_step(b, FW1, ST_PRIM, 0, p, sp, 3, a));
        return MLCL_OK;
    }
    }
    return MLCL_OK;
}

/* ---- backward: diff buffers, shared by both modes */

enum { W_OVER, W_ACC, W_ALIAS };

typedef struct dplan {
    int *group;     /* tensor -> diff group (-1: none yet) */
    int *gslot;     /* group -> slot */
    int *gpend;     /* group -> members whose producer is not processed yet */
    int *freeslot;  /* free-list of slots */
    int nfree, ngroups;
    unsigned char *wmode; /* op -> 2 write modes (W_*) */
} dplan;

static int grab_slot(bctx *b, dplan *d, size_t need)
{
    int best = -1;
    for (int i = 0; i < d->nfree; i++) {
        size_t sz = b->pl->slot[d->freeslot[i]];
        if (best < 0) { best = i; continue; }
        size_t bs = b->pl->slot[d->freeslot[best]];
        /* smallest that fits, else the largest */
        if ((sz >= need && (bs < need || sz < bs)) || (bs < need && sz > bs)) best = i;
    }
    if (best >= 0) {
        int s = d->freeslot[best];
        d->freeslot[best] = d->freeslot[--d->nfree];
        grow_slot(b, s, need);
        return s;
    }
    return new_slot(b, need);
}

/* Assigns the diff of every tensor (> 0) to a slot, reusing slots whose
 * tensors' gradients are dead, and decides for each op input whether its
 * backward overwrites, accumulates into or aliases (residual add) the diff. */
static int plan_diffs(bctx *b, dplan *d)
{
    mlcl__convnet *net = b->net;
    cn_plan *pl = b->pl;
    int last = net->nt - 1;
    for (int t = 0; t < net->nt; t++) d->group[t] = -1;
    /* the output's diff is written from dy first */
    int g0 = d->ngroups++;
    d->group[last] = g0;
    d->gpend[g0] = 1;
    if ((d->gslot[g0] = grab_slot(b, d, dnnl_memory_desc_get_size(&pl->tmd[last]))) < 0) return cap_fail(b);
    for (int k = net->nops - 1; k >= 0; k--) {
        const cn_op *op = &net->ops[k];
        int ins[2] = { op->in, op->type == OP_ADD ? op->in2 : -1 };
        int alias_a = 0;
        for (int j = 0; j < 2; j++) {
            int u = ins[j];
            if (u < 0) continue;
            unsigned char mode;
            if (u == 0) {
                /* the input gradient: the caller's buffer */
                mode = d->group[0] == -2 ? W_ACC : W_OVER;
                d->group[0] = -2;
            } else if (d->group[u] >= 0) {
                mode = W_ACC;
            } else {
                int alias = 0;
                if (op->type == OP_ADD && dnnl_memory_desc_equal(&pl->tmd[u], &pl->tmd[op->out]) && !(j == 1 && u == ins[0])) {
                    if (j == 0) alias = alias_a = net->t[u].nuse == 1;
                    else if (net->t[u].nuse == 1) alias = 1;
                    else if (alias_a) {
                        /* u's other consumers accumulate into the shared buffer:
                         * they must run (backward order) after a's producer */
                        alias = 1;
                        for (int c = 0; c < k; c++) {
                            const cn_op *q = &net->ops[c];
                            if ((q->in == u || (q->type == OP_ADD && q->in2 == u)) && c > net->t[ins[0]].producer) alias = 0;
                        }
                    } else alias = 1;
                }
                if (alias) {
                    mode = W_ALIAS;
                    d->group[u] = d->group[op->out];
                    d->gpend[d->group[u]]++;
                } else {
                    mode = W_OVER;
                    int g = d->ngroups++;
                    d->group[u] = g;
                    d->gpend[g] = 1;
                    if ((d->gslot[g] = grab_slot(b, d, dnnl_memory_desc_get_size(&pl->tmd[u]))) < 0) return cap_fail(b);
                }
            }
            d->wmode[2 * k + j] = mode;
        }
        /* op k was the producer of out: its gradient is consumed */
        int g = d->group[op->out];
        if (--d->gpend[g] == 0) d->freeslot[d->nfree++] = d->gslot[g];
    }
    return MLCL_OK;
}

/* The memory op k's backward writes the diff of its input j into (md `want`),
 * plus a reorder (-sum) into the tensor's diff when it cannot write there
 * directly; finish with diff_out_after(). */
static int diff_target(bctx *b, const dplan *d, int k, int j, const dnnl_memory_desc_t *want, dnnl_memory_t *m, int *post)
{
    cn_plan *pl = b->pl;
    const cn_op *op = &b->net->ops[k];
    int u = j ? op->in2 : op->in;
    int mode = d->wmode[2 * k + j];
    *post = 0;
    if (mode == W_OVER && dnnl_memory_desc_equal(want, &pl->tmd[u])) { *m = pl->tdiff[u]; return MLCL_OK; }
    *post = 1;
    return slot_mem(b, want, b->diff_slot, m);
}

static int diff_post(bctx *b, const dplan *d, int list, int skip, int k, int j, dnnl_memory_t m,
                     const dnnl_memory_desc_t *md)
{
    cn_plan *pl = b->pl;
    const cn_op *op = &b->net->ops[k];
    int u = j ? op->in2 : op->in;
    return add_reorder(b, list, skip, m, md, pl->tdiff[u], &pl->tmd[u], d->wmode[2 * k + j] == W_ACC);
}

static int build_bwd(bctx *b, const dplan *d, int k)
{
    mlcl__convnet *net = b->net;
    cn_plan *pl = b->pl;
    const cn_op *op = &net->ops[k];
    cn_opplan *o = &pl->op[k];
    const cn_tensor *ti = &net->t[op->in];
    int in = op->in, out = op->out;
    int skipd = in == 0; /* the input gradient is skipped when not wanted */
    dnnl_primitive_t p;
    dnnl_memory_t sp, tgt;
    int post;
    switch (op->type) {
    case OP_CONV: {
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *fwmd = dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_weights_md, 0);
        dnnl_memory_desc_t wany = *fwmd, sany;
        int g = op->groups, nd = g > 1 ? 5 : 4;
        dnnl_dims_t wd;
        if (g > 1) { wd[0] = g; wd[1] = op->oc / g; wd[2] = ti->c / g; wd[3] = op->kh; wd[4] = op->kw; }
        else { wd[0] = op->oc; wd[1] = ti->c; wd[2] = op->kh; wd[3] = op->kw; }
        DN(dnnl_memory_desc_init_by_tag(&wany, nd, wd, dnnl_f32, dnnl_format_tag_any), "memory descriptor");
        md_nchw(&sany, pl->n, ti, dnnl_format_tag_any);
        dnnl_dims_t str = { op->sh, op->sw }, dil = { op->dh - 1, op->dw - 1 }, pad = { op->ph, op->pw };
        dnnl_memory_desc_t uw;
        DN(dnnl_memory_desc_init_by_tag(&uw, nd, wd, dnnl_f32, g > 1 ? dnnl_goihw : dnnl_oihw), "memory descriptor");
        /* weight gradient: dw (chosen format) then accumulated into OIHW grads */
        dnnl_convolution_desc_t cw;
        DN(dnnl_dilated_convolution_backward_weights_desc_init(&cw, dnnl_convolution_direct, smd, &wany, NULL,
                                                               &pl->tmd[out], str, dil, pad, pad),
           "convolution backward-weights descriptor");
        dnnl_primitive_desc_t pdw;
        MLCL_TRY(mk_pd(b, &cw, b->attr, o->pd[1], "convolution backward weights", &pdw));
        const dnnl_memory_desc_t *dwmd = dnnl_primitive_desc_query_md(pdw, dnnl_query_diff_weights_md, 0);
        const dnnl_memory_desc_t *wsrc = dnnl_primitive_desc_query_md(pdw, dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *wdd = dnnl_primitive_desc_query_md(pdw, dnnl_query_diff_dst_md, 0);
        if (!dnnl_memory_desc_equal(wsrc, smd) || !dnnl_memory_desc_equal(wdd, &pl->tmd[out]))
            return mlcl__err(MLCL_EBACKEND, "%s: oneDNN convolution backward weights (op %d) changed a format", b->fn, k);
        dnnl_memory_t dw;
        MLCL_TRY(slot_mem(b, dwmd, b->dw_slot, &dw));
        MLCL_TRY(mk_prim(b, pdw, "convolution backward-weights primitive", &p, &sp));
        dnnl_exec_arg_t aw[3] = { { DNNL_ARG_SRC, o->src }, { DNNL_ARG_DIFF_DST, pl->tdiff[out] },
                                  { DNNL_ARG_DIFF_WEIGHTS, dw } };
        /* input gradient */
        dnnl_convolution_desc_t cdd;
        DN(dnnl_dilated_convolution_backward_data_desc_init(&cdd, dnnl_convolution_direct, &sany, &wany, &pl->tmd[out],
                                                            str, dil, pad, pad),
           "convolution backward-data descriptor");
        dnnl_primitive_desc_t pdd;
        MLCL_TRY(mk_pd(b, &cdd, b->attr, o->pd[1], "convolution backward data", &pdd));
        const dnnl_memory_desc_t *dsmd = dnnl_primitive_desc_query_md(pdd, dnnl_query_diff_src_md, 0);
        const dnnl_memory_desc_t *bwmd = dnnl_primitive_desc_query_md(pdd, dnnl_query_weights_md, 0);
        const dnnl_memory_desc_t *ddmd = dnnl_primitive_desc_query_md(pdd, dnnl_query_diff_dst_md, 0);
        if (!dnnl_memory_desc_equal(ddmd, &pl->tmd[out]))
            return mlcl__err(MLCL_EBACKEND, "%s: oneDNN convolution backward data (op %d) changed a format", b->fn, k);
        dnnl_memory_t bw = o->wei;
        int wre = !dnnl_memory_desc_equal(bwmd, fwmd);
        if (wre) MLCL_TRY(mk_mem(b, bwmd, -1, 0, &bw));
        MLCL_TRY(diff_target(b, d, k, 0, dsmd, &tgt, &post));
        dnnl_primitive_t pd_;
        dnnl_memory_t spd;
        MLCL_TRY(mk_prim(b, pdd, "convolution backward-data primitive", &pd_, &spd));
        dnnl_exec_arg_t ad[3] = { { DNNL_ARG_DIFF_DST, pl->tdiff[out] }, { DNNL_ARG_WEIGHTS, bw },
                                  { DNNL_ARG_DIFF_SRC, tgt } };
        for (int m = BW0; m <= BW1; m++) {
            MLCL_TRY(add_step(b, m, ST_PRIM, 0, p, sp, 3, aw));
            MLCL_TRY(add_reorder(b, m, 0, dw, dwmd, o->ugrad, &uw, 1));
            if (wre) MLCL_TRY(add_reorder(b, m, skipd, o->uwei, &uw, bw, bwmd, 0));
            MLCL_TRY(add_step(b, m, ST_PRIM, skipd, pd_, spd, 3, ad));
            if (post) MLCL_TRY(diff_post(b, d, m, skipd, k, 0, tgt, dsmd));
        }
        return MLCL_OK;
    }
    case OP_BN: {
        for (int m = 0; m < 2; m++) {
            unsigned fl = dnnl_use_scale | dnnl_use_shift | (op->relu ? dnnl_fuse_norm_relu : 0) |
                          (m == 0 ? dnnl_use_global_stats : 0);
            dnnl_batch_normalization_desc_t bd;
            DN(dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &pl->tmd[out], &pl->tmd[in], op->eps, fl),
               "batch normalization backward descriptor");
            dnnl_primitive_desc_t pdb;
            MLCL_TRY(mk_pd(b, &bd, b->attr, o->pd[m], "batch normalization backward", &pdb));
            MLCL_TRY(mk_prim(b, pdb, "batch normalization backward primitive", &p, &sp));
            MLCL_TRY(diff_target(b, d, k, 0, &pl->tmd[in], &tgt, &post));
            dnnl_exec_arg_t a[10] = { { DNNL_ARG_SRC, pl->tmem[in] }, { DNNL_ARG_MEAN, o->mean },
                                      { DNNL_ARG_VARIANCE, o->var }, { DNNL_ARG_DIFF_DST, pl->tdiff[out] },
                                      { DNNL_ARG_SCALE, o->scale }, { DNNL_ARG_SHIFT, o->shift },
                                      { DNNL_ARG_DIFF_SRC, tgt }, { DNNL_ARG_DIFF_SCALE, o->dscale },
                                      { DNNL_ARG_DIFF_SHIFT, o->dshift }, { DNNL_ARG_WORKSPACE, o->ws[m] } };
            int list = m == 0 ? BW0 : BW1;
            MLCL_TRY(add_step(b, list, ST_PRIM, 0, p, sp, o->ws[m] ? 10 : 9, a));
            MLCL_TRY(add_step(b, list, ST_BN_GRAD, 0, NULL, NULL, 0, NULL));
            if (post) MLCL_TRY(diff_post(b, d, list, 0, k, 0, tgt, &pl->tmd[in]));
        }
        return MLCL_OK;
    }
    case OP_POOL: {
        static const dnnl_alg_kind_t alg[3] = { dnnl_pooling_max, dnnl_pooling_avg_include_padding,
                                                dnnl_pooling_avg_exclude_padding };
        const cn_tensor *to = &net->t[out];
        dnnl_dims_t str = { op->sh, op->sw }, ker = { op->kh, op->kw }, pad = { op->ph, op->pw };
        dnnl_dims_t padr = { (long)(to->h - 1) * op->sh + op->kh - ti->h - op->ph,
                             (long)(to->w - 1) * op->sw + op->kw - ti->w - op->pw };
        dnnl_pooling_desc_t pdsc;
        DN(dnnl_pooling_backward_desc_init(&pdsc, alg[op->pool], &pl->tmd[in], &pl->tmd[out], str, ker, pad, padr),
           "pooling backward descriptor");
        dnnl_primitive_desc_t pdb;
        MLCL_TRY(mk_pd(b, &pdsc, b->attr, o->pd[1], "pooling backward", &pdb));
        MLCL_TRY(mk_prim(b, pdb, "pooling backward primitive", &p, &sp));
        MLCL_TRY(diff_target(b, d, k, 0, &pl->tmd[in], &tgt, &post));
        dnnl_exec_arg_t a[3] = { { DNNL_ARG_DIFF_DST, pl->tdiff[out] }, { DNNL_ARG_DIFF_SRC, tgt },
                                 { DNNL_ARG_WORKSPACE, o->ws[1] } };
        for (int m = BW0; m <= BW1; m++) {
            MLCL_TRY(add_step(b, m, ST_PRIM, 0, p, sp, o->ws[1] ? 3 : 2, a));
            if (post) MLCL_TRY(diff_post(b, d, m, 0, k, 0, tgt, &pl->tmd[in]));
        }
        return MLCL_OK;
    }
    case OP_ADD: {
        if (op->relu) {
            dnnl_eltwise_desc_t ef, eb;
            DN(dnnl_eltwise_forward_desc_init(&ef, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd,
                                              &pl->tmd[out], 0.0f, 0.0f),
               "eltwise forward descriptor");
            dnnl_primitive_desc_t pdf, pdb;
            MLCL_TRY(mk_pd(b, &ef, b->attr, NULL, "eltwise forward", &pdf));
            DN(dnnl_eltwise_backward_desc_init(&eb, dnnl_eltwise_relu_use_dst_for_bwd, &pl->tmd[out], &pl->tmd[out],
                                               0.0f, 0.0f),
               "eltwise backward descriptor");
            MLCL_TRY(mk_pd(b, &eb, b->attr, pdf, "eltwise backward", &pdb));
            MLCL_TRY(mk_prim(b, pdb, "eltwise backward primitive", &p, &sp));
            /* in place on the output gradient */
            dnnl_exec_arg_t a[3] = { { DNNL_ARG_DST, pl->tmem[out] }, { DNNL_ARG_DIFF_DST, pl->tdiff[out] },
                                     { DNNL_ARG_DIFF_SRC, pl->tdiff[out] } };
            for (int m = BW0; m <= BW1; m++) MLCL_TRY(add_step(b, m, ST_PRIM, 0, p, sp, 3, a));
        }
        for (int j = 0; j < 2; j++) {
            int mode = d->wmode[2 * k + j];
            if (mode == W_ALIAS) continue;
            int u = j ? op->in2 : op->in;
            for (int m = BW0; m <= BW1; m++)
                MLCL_TRY(add_reorder(b, m, 0, pl->tdiff[out], &pl->tmd[out], pl->tdiff[u], &pl->tmd[u], mode == W_ACC));
        }
        return MLCL_OK;
    }
    }
    return MLCL_OK;
}

/* Ops run on one thread (their primitives are made and executed with
 * omp_set_num_threads(1); oneDNN then runs them inline, no parallel region):
 * - BatchNorm: oneDNN's JIT batch normalisation synchronises its threads with
 *   spinning barriers (several per call on large tensors, where it splits the
 *   batch between threads). On a machine where a core is busy with another
 *   process, a descheduled thread stalls the other for a time slice per
 *   barrier (measured under load: 56x56 BN 100x slower on 2 threads than on
 *   1). Its thread count is fixed when the primitive descriptor is made. BN is
 *   a few per cent of a ResNet step.
 * - small ops (tiny images, as in the tests): waking a second thread costs
 *   more than it saves, and far more when the cores are shared. */
#define SOLO_FLOPS 2e6
#define SOLO_ELEMS 65536.0
static int op_solo(const mlcl__convnet *net, int n, int k)
{
    if (!net->omp_set || net->threads == 1) return 0;
    const cn_op *op = &net->ops[k];
    const cn_tensor *ti = &net->t[op->in], *to = &net->t[op->out];
    double out = (double)n * to->c * to->h * to->w, in = (double)n * ti->c * ti->h * ti->w;
    switch (op->type) {
    case OP_BN: return 1;
    case OP_CONV: return 2.0 * out * (ti->c / op->groups) * op->kh * op->kw < SOLO_FLOPS;
    default: return (in > out ? in : out) < SOLO_ELEMS;
    }
}
static void solo_set(bctx *b, int solo)
{
    if (solo != b->solo) b->net->omp_set(solo ? 1 : b->net->threads);
    b->solo = solo;
}

static int plan_build(mlcl__convnet *net, const char *fn, int n, cn_plan **out)
{
    *out = NULL;
    cn_plan *pl = mlcl__calloc(1, sizeof *pl);
    if (!pl) return mlcl__err(MLCL_ENOMEM, "%s: out of memory (convnet plan)", fn);
    pl->n = n;
    int nt = net->nt, nops = net->nops;
    bctx bc = { .net = net, .pl = pl, .fn = fn, .cur_op = -1 }, *b = &bc;
    dplan d = { 0 };
    int rc, need_dx = 0;
    pl->cap_st = 8 * nops + 8;
    pl->cap_prims = 16 * nops + 8;
    pl->cap_binds = 24 * nops + 8;
    pl->cap_bufs = 8 * nops + 8;
    pl->cap_slots = nt + 8;
    b->cap_pds = 16 * nops + 8;
#define AL(p, cnt, what) if ((rc = mlcl__alloc_array((void **)&(p), (size_t)(cnt), sizeof *(p), what)) < 0) goto done
    AL(pl->tmd, nt, "convnet plan");
    AL(pl->tmem, nt, "convnet plan");
    AL(pl->tdiff, nt, "convnet plan");
    AL(pl->op, nops, "convnet plan");
    for (int i = 0; i < NLISTS; i++) AL(pl->st[i], pl->cap_st, "convnet plan");
    AL(pl->prims, pl->cap_prims, "convnet plan");
    AL(pl->binds, pl->cap_binds, "convnet plan");
    AL(pl->bufs, pl->cap_bufs, "convnet plan");
    AL(pl->slot, pl->cap_slots, "convnet plan");
    AL(b->pds, b->cap_pds, "convnet plan");
    AL(d.group, nt, "convnet plan");
    AL(d.gslot, nt + 1, "convnet plan");
    AL(d.gpend, nt + 1, "convnet plan");
    AL(d.freeslot, pl->cap_slots, "convnet plan");
    AL(d.wmode, 2 * (size_t)nops, "convnet plan");
#undef AL
#define DNG(call, what) do { dnnl_status_t s_ = (call); if (s_ != dnnl_success) { rc = dnn_fail(b, what, s_); goto done; } } while (0)
#define TRY(call) do { if ((rc = (call)) < 0) goto done; } while (0)
    DNG(dnnl_primitive_attr_create(&b->attr), "attribute creation");
    DNG(dnnl_primitive_attr_set_scratchpad_mode(b->attr, dnnl_scratchpad_mode_user), "attribute");
    DNG(dnnl_primitive_attr_clone(&b->attr_sum, b->attr), "attribute creation");
    DNG(dnnl_primitive_attr_clone(&b->attr_relu, b->attr), "attribute creation");
    {
        dnnl_post_ops_t po;
        DNG(dnnl_post_ops_create(&po), "post-ops creation");
        dnnl_status_t s = dnnl_post_ops_append_sum(po, 1.0f);
        if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(b->attr_sum, po);
        dnnl_post_ops_destroy(po);
        DNG(s, "sum post-op");
        DNG(dnnl_post_ops_create(&po), "post-ops creation");
        s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(b->attr_relu, po);
        dnnl_post_ops_destroy(po);
        DNG(s, "ReLU post-op");
    }
    b->sp_slot = new_slot(b, 0);
    b->diff_slot = new_slot(b, 0);
    b->dw_slot = new_slot(b, 0);
    /* edges: tensor 0 is the caller's NCHW input */
    md_nchw(&pl->tmd[0], n, &net->t[0], dnnl_nchw);
    TRY(mk_mem(b, &pl->tmd[0], B_X, 0, &pl->tmem[0]));
    TRY(mk_mem(b, &pl->tmd[0], B_DX, 0, &pl->tdiff[0]));
    for (int k = 0; k < nops; k++) {
        b->cur_op = k;
        solo_set(b, op_solo(net, n, k));
        rc = build_fwd(b, k);
        solo_set(b, 0);
        if (rc < 0) goto done;
        if (net->ops[k].in == 0 && net->ops[k].type != OP_CONV) need_dx = 1;
    }
    b->cur_op = -1;
    int last = nt - 1;
    dnnl_memory_desc_t ymd;
    md_nchw(&ymd, n, &net->t[last], dnnl_nchw);
    TRY(mk_mem(b, &ymd, B_Y, 0, &pl->uy));
    TRY(mk_mem(b, &ymd, B_DY, 0, &pl->udy));
    /* the output edge: one thread when small */
    int solo_y = net->omp_set && net->threads > 1 &&
                 (double)n * net->t[last].c * net->t[last].h * net->t[last].w < SOLO_ELEMS;
    solo_set(b, solo_y);
    TRY(add_reorder(b, FW0, 0, pl->tmem[last], &pl->tmd[last], pl->uy, &ymd, 0));
    TRY(add_reorder(b, FW1, 0, pl->tmem[last], &pl->tmd[last], pl->uy, &ymd, 0));
    solo_set(b, 0);
    /* backward */
    TRY(plan_diffs(b, &d));
    for (int t = 1; t < nt; t++) TRY(mk_mem(b, &pl->tmd[t], B_SLOT, (size_t)d.gslot[d.group[t]], &pl->tdiff[t]));
    solo_set(b, solo_y);
    TRY(add_reorder(b, BW0, 0, pl->udy, &ymd, pl->tdiff[last], &pl->tmd[last], 0));
    TRY(add_reorder(b, BW1, 0, pl->udy, &ymd, pl->tdiff[last], &pl->tmd[last], 0));
    solo_set(b, 0);
    for (int k = nops - 1; k >= 0; k--) {
        b->cur_op = k;
        solo_set(b, op_solo(net, n, k));
        rc = build_bwd(b, &d, k);
        solo_set(b, 0);
        if (rc < 0) goto done;
    }
    b->cur_op = -1;
    /* buffers */
    if (need_dx) {
        size_t cnt = (size_t)n * net->t[0].c * net->t[0].h * net->t[0].w;
        if (pl->nbufs == pl->cap_bufs) { rc = cap_fail(b); goto done; }
        TRY(mlcl__alloc_array((void **)&pl->dx_scratch, cnt, sizeof(float), "convnet input gradient"));
        pl->bufs[pl->nbufs++] = pl->dx_scratch;
    }
    TRY(mlcl__alloc_array((void **)&pl->slotbuf, (size_t)pl->cap_slots, sizeof(void *), "convnet plan"));
    for (int s = 0; s < pl->nslots; s++)
        TRY(mlcl__alloc_array(&pl->slotbuf[s], pl->slot[s] ? pl->slot[s] : 1, 1, "convnet buffer"));
    for (int i = 0; i < pl->nbinds; i++)
        if (pl->binds[i].kind == B_SLOT)
            DNG(dnnl_memory_set_data_handle(pl->binds[i].mem, pl->slotbuf[pl->binds[i].off]), "memory handle");
    rc = MLCL_OK;
#undef DNG
#undef TRY
done:
    solo_set(b, 0);
    if (b->pds)
        for (int i = 0; i < b->npds; i++) dnnl_primitive_desc_destroy(b->pds[i]);
    if (b->attr) dnnl_primitive_attr_destroy(b->attr);
    if (b->attr_sum) dnnl_primitive_attr_destroy(b->attr_sum);
    if (b->attr_relu) dnnl_primitive_attr_destroy(b->attr_relu);
    mlcl__free(b->pds);
    mlcl__free(d.group); mlcl__free(d.gslot); mlcl__free(d.gpend); mlcl__free(d.freeslot); mlcl__free(d.wmode);
    if (rc < 0) {
        plan_free(pl);
        return rc;
    }
    *out = pl;
    return MLCL_OK;
}
#undef DN

/* ------------------------------------------------------------------ execution */

typedef struct run_ctx {
    const float *params, *x, *dy;
    float *state, *grads, *y, *dx;
} run_ctx;

static int bind_all(mlcl__convnet *net, const char *fn, cn_plan *pl, const run_ctx *r, int bwd)
{
    for (int i = 0; i < pl->nbinds; i++) {
        const cn_bind *bd = &pl->binds[i];
        void *h;
        switch (bd->kind) {
        case B_X: h = (void *)r->x; break;
        case B_Y: if (bwd) continue; h = r->y; break;
        case B_DY: if (!bwd) continue; h = (void *)r->dy; break;
        case B_DX: if (!bwd) continue; h = r->dx ? r->dx : pl->dx_scratch; break;
        case B_PARAM: h = (void *)(r->params + bd->off); break;
        case B_GRAD: if (!bwd) continue; h = r->grads + bd->off; break;
        default: continue;
        }
        if (!h) continue;
        dnnl_status_t s = dnnl_memory_set_data_handle(bd->mem, h);
        if (s != dnnl_success)
            return mlcl__err(MLCL_EBACKEND, "%s: oneDNN memory handle failed: %s", fn, dnnl_status2str(s));
    }
    (void)net;
    return MLCL_OK;
}

static int run_list(mlcl__convnet *net, const char *fn, cn_plan *pl, int list, const run_ctx *r)
{
    const cn_step *st = pl->st[list];
    int solo = 0; /* steps with solo set run on one OpenMP thread (set at plan build only when omp_set exists) */
    for (int i = 0; i < pl->nst[list]; i++) {
        const cn_step *s = &st[i];
        if (s->skip_nodx && !r->dx) continue;
        if (s->kind == ST_PRIM) {
            if (s->solo != solo) {
                net->omp_set(s->solo ? 1 : net->threads);
                solo = s->solo;
            }
            dnnl_status_t e = dnnl_primitive_execute(s->prim, net->strm, s->nargs, s->args);
            if (e != dnnl_success && solo) net->omp_set(net->threads);
            if (e != dnnl_success)
                return mlcl__err(MLCL_EBACKEND, "%s: oneDNN execution of op %d (%s) failed: %s", fn, s->op,
                                 s->op >= 0 ? op_names[net->ops[s->op].type] : "edge reorder", dnnl_status2str(e));
            continue;
        }
        dnnl_stream_wait(net->strm);
        const cn_op *op = &net->ops[s->op];
        const cn_opplan *o = &pl->op[s->op];
        size_t c = op->np / 2;
        float *mean = o->bnbuf, *var = mean + c, *ds = var + c, *dsh = ds + c;
        if (s->kind == ST_BN_GLOBAL) {
            memcpy(mean, r->state + op->soff, c * sizeof(float));
            memcpy(var, r->state + op->soff + c, c * sizeof(float));
        } else if (s->kind == ST_BN_RUN) {
            const cn_tensor *t = &net->t[op->in];
            double cnt = (double)pl->n * t->h * t->w, unb = cnt / (cnt - 1.0);
            float m = op->momentum, *rm = r->state + op->soff, *rv = rm + c;
            for (size_t j = 0; j < c; j++) {
                rm[j] = (1.0f - m) * rm[j] + m * mean[j];
                rv[j] = (1.0f - m) * rv[j] + m * (float)(var[j] * unb);
            }
        } else if (s->kind == ST_BN_GRAD) {
            float *gg = r->grads + op->poff, *gb = gg + c;
            for (size_t j = 0; j < c; j++) { gg[j] += ds[j]; gb[j] += dsh[j]; }
        }
    }
    if (solo) net->omp_set(net->threads);
    dnnl_status_t e = dnnl_stream_wait(net->strm);
    if (e != dnnl_success) return mlcl__err(MLCL_EBACKEND, "%s: oneDNN stream wait failed: %s", fn, dnnl_status2str(e));
    return MLCL_OK;
}

static int thr_enter(mlcl__convnet *net)
{
    if (!net->omp_get) return 0;
    int prev = net->omp_get();
    if (prev != net->threads) net->omp_set(net->threads);
    return prev;
}
static void thr_leave(mlcl__convnet *net, int prev)
{
    if (net->omp_get && prev != net->threads) net->omp_set(prev);
}

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
    int prev = thr_enter(net), rc = MLCL_OK;
    cn_plan *pl;
    /* the two most recent batch sizes are cached, most recent first */
    if (net->plans[0] && net->plans[0]->n == n) pl = net->plans[0];
    else if (net->plans[1] && net->plans[1]->n == n) {
        pl = net->plans[1];
        net->plans[1] = net->plans[0];
        net->plans[0] = pl;
    } else {
        cn_plan *np;
        rc = plan_build(net, fn, n, &np);
        if (rc < 0) { thr_leave(net, prev); return rc; }
        net->nbuilt++;
        plan_free(net->plans[1]);
        net->plans[1] = net->plans[0];
        net->plans[0] = pl = np;
    }
    run_ctx r = { .params = params, .x = x, .state = state, .y = y };
    rc = bind_all(net, fn, pl, &r, 0);
    if (rc == MLCL_OK) rc = run_list(net, fn, pl, training ? FW1 : FW0, &r);
    thr_leave(net, prev);
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
    cn_plan *pl = net->plans[0];
    int prev = thr_enter(net);
    run_ctx r = { .params = params, .grads = grads, .dy = dy, .dx = dx };
    int rc = bind_all(net, fn, pl, &r, 1);
    if (rc == MLCL_OK) rc = run_list(net, fn, pl, net->last_train ? BW1 : BW0, &r);
    thr_leave(net, prev);
    return rc;
}
