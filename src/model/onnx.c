/* ONNX export of the inference graph (mlcl_model_export_onnx), written with
 * protobuf-c on ONNX's own onnx.proto (src/model/onnx/onnx.proto, compiled by
 * protoc-c at build time into $(BUILD)/gen/onnx/onnx.pb-c.[ch]).
 *
 * Every message is allocated from one arena freed at the end; the weights are
 * initializers named as the PyTorch state_dict() keys (model_internal.h), so
 * that an ONNX file and a safetensors file of the same model name their
 * tensors alike. IR version 7 with opset 13 (ONNX 1.8 and later). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"
#include "core/outfile.h"
#include "onnx/onnx.pb-c.h"

#define ONNX_IR_VERSION 7
#define ONNX_OPSET 13

static const char FN[] = "mlcl_model_export_onnx";

/* ------------------------------------------------------------------ arena */

typedef struct arena {
    void **p;
    size_t n, cap;
    int fail;
} arena;

static void *az(arena *a, size_t size)
{
    if (a->fail) return NULL;
    if (a->n == a->cap) {
        size_t nc = a->cap ? 2 * a->cap : 256;
        void **np = mlcl__malloc(nc * sizeof *np);
        if (!np) { a->fail = 1; return NULL; }
        if (a->n) memcpy(np, a->p, a->n * sizeof *np);
        mlcl__free(a->p);
        a->p = np;
        a->cap = nc;
    }
    void *x = mlcl__calloc(1, size ? size : 1);
    if (!x) { a->fail = 1; return NULL; }
    a->p[a->n++] = x;
    return x;
}

static void arena_free(arena *a)
{
    for (size_t i = 0; i < a->n; i++) mlcl__free(a->p[i]);
    mlcl__free(a->p);
}

static char *astr(arena *a, const char *fmt, ...) MLCL_PRINTF(2, 3);
static char *astr(arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0) { a->fail = 1; return NULL; }
    char *s = az(a, (size_t)k + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)k + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ------------------------------------------------------------------ graph builder */

typedef struct gb {
    arena a;
    Onnx__NodeProto **node;
    size_t nn, ncap;
    Onnx__TensorProto **init;
    size_t ni, icap;
    int uid;
} gb;

static int grow(gb *g, void ***arr, size_t n, size_t *cap)
{
    if (n < *cap) return 0;
    size_t nc = *cap ? 2 * *cap : 64;
    void **na = az(&g->a, nc * sizeof *na);
    if (!na) return -1;
    if (n) memcpy(na, *arr, n * sizeof *na);
    *arr = na;
    *cap = nc;
    return 0;
}

/* A fresh value name. */
static char *val(gb *g, const char *hint)
{
    return astr(&g->a, "%s_%d", hint, g->uid++);
}

typedef struct attr {
    const char *name;
    int kind;             /* 0 int, 1 ints, 2 float, 3 string */
    int64_t i;
    const int64_t *ints;
    int nints;
    float f;
    const char *s;
} attr;

static attr A_INT(const char *n, int64_t v) { attr x = { n, 0, v, NULL, 0, 0.0f, NULL }; return x; }
static attr A_INTS(const char *n, const int64_t *v, int k) { attr x = { n, 1, 0, v, k, 0.0f, NULL }; return x; }
static attr A_FLOAT(const char *n, float v) { attr x = { n, 2, 0, NULL, 0, v, NULL }; return x; }
static attr A_STR(const char *n, const char *v) { attr x = { n, 3, 0, NULL, 0, 0.0f, v }; return x; }

/* Appends node `op`(inputs) -> out; returns out (NULL when out of memory). */
static const char *node(gb *g, const char *op, const char *out, int nin, const char *const *in, int nattr, const attr *at)
{
    arena *a = &g->a;
    Onnx__NodeProto *n = az(a, sizeof *n);
    char **ins = az(a, (size_t)(nin ? nin : 1) * sizeof *ins), **outs = az(a, sizeof *outs);
    Onnx__AttributeProto **ats = az(a, (size_t)(nattr ? nattr : 1) * sizeof *ats);
    if (!n || !ins || !outs || !ats || !out || grow(g, (void ***)&g->node, g->nn, &g->ncap)) { a->fail = 1; return NULL; }
    Onnx__NodeProto tn = ONNX__NODE_PROTO__INIT;
    *n = tn;
    for (int i = 0; i < nin; i++) ins[i] = astr(a, "%s", in[i] ? in[i] : "");
    outs[0] = (char *)out;
    n->n_input = (size_t)nin;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    n->op_type = astr(a, "%s", op);
    n->name = astr(a, "%s_%zu", op, g->nn);
    for (int i = 0; i < nattr; i++) {
        Onnx__AttributeProto *p = az(a, sizeof *p);
        if (!p) return NULL;
        Onnx__AttributeProto tp = ONNX__ATTRIBUTE_PROTO__INIT;
        *p = tp;
        p->name = astr(a, "%s", at[i].name);
        p->has_type = 1;
        switch (at[i].kind) {
        case 0:
            p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
            p->has_i = 1;
            p->i = at[i].i;
            break;
        case 1:
            p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
            p->n_ints = (size_t)at[i].nints;
            p->ints = az(a, (size_t)at[i].nints * sizeof(int64_t));
            if (p->ints) memcpy(p->ints, at[i].ints, (size_t)at[i].nints * sizeof(int64_t));
            break;
        case 2:
            p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
            p->has_f = 1;
            p->f = at[i].f;
            break;
        default:
            p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
            p->has_s = 1;
            p->s.data = (uint8_t *)astr(a, "%s", at[i].s);
            p->s.len = strlen(at[i].s);
            break;
        }
        ats[i] = p;
    }
    n->n_attribute = (size_t)nattr;
    n->attribute = ats;
    if (a->fail) return NULL;
    g->node[g->nn++] = n;
    return out;
}

static const char *node1(gb *g, const char *op, const char *hint, const char *x)
{
    return node(g, op, val(g, hint), 1, &x, 0, NULL);
}

static Onnx__TensorProto *tensor(gb *g, const char *name, int dtype, int ndim, const int64_t *dims)
{
    arena *a = &g->a;
    Onnx__TensorProto *t = az(a, sizeof *t);
    if (!t || grow(g, (void ***)&g->init, g->ni, &g->icap)) { a->fail = 1; return NULL; }
    Onnx__TensorProto tt = ONNX__TENSOR_PROTO__INIT;
    *t = tt;
    t->name = astr(a, "%s", name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)ndim;
    t->dims = az(a, (size_t)(ndim ? ndim : 1) * sizeof(int64_t));
    if (t->dims && ndim) memcpy(t->dims, dims, (size_t)ndim * sizeof(int64_t));
    if (a->fail) return NULL;
    g->init[g->ni++] = t;
    return t;
}

/* A float32 initializer holding n values (raw little-endian bytes). */
static const char *init_f32(gb *g, const char *name, int ndim, const int64_t *dims, const float *x, size_t n)
{
    Onnx__TensorProto *t = tensor(g, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, dims);
    unsigned char *b = az(&g->a, 4 * n);
    if (!t || !b) return NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, &x[i], 4);
        for (int k = 0; k < 4; k++) b[4 * i + k] = (unsigned char)(v >> (8 * k));
    }
    t->has_raw_data = 1;
    t->raw_data.data = b;
    t->raw_data.len = 4 * n;
    return t->name;
}

static const char *init_i64(gb *g, const char *hint, int n, const int64_t *v)
{
    int64_t dims[1] = { n };
    Onnx__TensorProto *t = tensor(g, val(g, hint), ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, dims);
    if (!t) return NULL;
    t->n_int64_data = (size_t)n;
    t->int64_data = az(&g->a, (size_t)n * sizeof(int64_t));
    if (!t->int64_data) return NULL;
    memcpy(t->int64_data, v, (size_t)n * sizeof(int64_t));
    return t->name;
}

/* ------------------------------------------------------------------ layers */

typedef struct tmap {
    const mlcl__model_tensor *t;
    int n;
} tmap;

/* The model tensor called `name`, added as an initializer on first use. */
static const char *weight(gb *g, const tmap *tm, const char *name)
{
    for (int i = 0; i < tm->n; i++) {
        const mlcl__model_tensor *t = &tm->t[i];
        if (strcmp(t->name, name)) continue;
        for (size_t k = 0; k < g->ni; k++)
            if (!strcmp(g->init[k]->name, name)) return g->init[k]->name;
        size_t n = 1;
        for (int k = 0; k < t->ndim; k++) n *= (size_t)t->shape[k];
        return init_f32(g, name, t->ndim, t->shape, t->data, n);
    }
    g->a.fail = 2; /* an internal naming mismatch */
    return NULL;
}

static const char *bn(gb *g, const tmap *tm, const char *pre, const char *x, float eps, float momentum)
{
    char nm[4][600];
    static const char *const parts[4] = { "weight", "bias", "running_mean", "running_var" };
    const char *in[5] = { x };
    for (int k = 0; k < 4; k++) {
        snprintf(nm[k], sizeof nm[k], "%s.%s", pre, parts[k]);
        in[k + 1] = weight(g, tm, nm[k]);
    }
    /* ONNX's momentum weighs the running value, PyTorch's the batch value */
    attr at[2] = { A_FLOAT("epsilon", eps), A_FLOAT("momentum", 1.0f - momentum) };
    return node(g, "BatchNormalization", val(g, "bn"), 5, in, 2, at);
}

static const char *conv(gb *g, const tmap *tm, const char *pre, const char *x, int k, int stride)
{
    char nm[600];
    snprintf(nm, sizeof nm, "%s.weight", pre);
    const char *in[2] = { x, weight(g, tm, nm) };
    int64_t ks[2] = { k, k }, st[2] = { stride, stride }, pad[4] = { k / 2, k / 2, k / 2, k / 2 };
    attr at[3] = { A_INTS("kernel_shape", ks, 2), A_INTS("strides", st, 2), A_INTS("pads", pad, 4) };
    return node(g, "Conv", val(g, "conv"), 2, in, 3, at);
}

/* torchvision's ResNet forward without fc (the order of resnet_walk() in model.c) */
static const char *resnet(gb *g, const tmap *tm, const mlcl_resnet_spec *s, const char *pre, const char *x)
{
    static const int blocks18[4] = { 2, 2, 2, 2 }, blocks34[4] = { 3, 4, 6, 3 };
    const int *nb = s->depth == 18 ? blocks18 : blocks34;
    int bottleneck = s->depth == 50, bw = s->base_width;
    float eps = s->bn_eps, mom = s->bn_momentum;
    char p[512], q[512];
    snprintf(p, sizeof p, "%sconv1", pre);
    if (s->stem == MLCL_RESNET_STEM_IMAGENET) x = conv(g, tm, p, x, 7, 2);
    else x = conv(g, tm, p, x, 3, 1);
    snprintf(p, sizeof p, "%sbn1", pre);
    x = node1(g, "Relu", "relu", bn(g, tm, p, x, eps, mom));
    if (s->stem == MLCL_RESNET_STEM_IMAGENET) {
        int64_t ks[2] = { 3, 3 }, st[2] = { 2, 2 }, pad[4] = { 1, 1, 1, 1 };
        attr at[3] = { A_INTS("kernel_shape", ks, 2), A_INTS("strides", st, 2), A_INTS("pads", pad, 4) };
        x = node(g, "MaxPool", val(g, "maxpool"), 1, &x, 3, at);
    }
    int inplanes = bw;
    for (int stg = 0; stg < 4; stg++) {
        int planes = bw << stg;
        for (int b = 0; b < nb[stg]; b++) {
            int stride = (stg > 0 && b == 0) ? 2 : 1, outp = bottleneck ? 4 * planes : planes;
            char bp[400];
            snprintf(bp, sizeof bp, "%slayer%d.%d.", pre, stg + 1, b);
            const char *y;
#define CB(conv_name, bn_name, k, st)                                   \
    (snprintf(p, sizeof p, "%s" conv_name, bp), snprintf(q, sizeof q, "%s" bn_name, bp), \
     bn(g, tm, q, conv(g, tm, p, y, k, st), eps, mom))
            y = x;
            if (!bottleneck) {
                y = node1(g, "Relu", "relu", CB("conv1", "bn1", 3, stride));
                y = CB("conv2", "bn2", 3, 1);
            } else {
                y = node1(g, "Relu", "relu", CB("conv1", "bn1", 1, 1));
                y = node1(g, "Relu", "relu", CB("conv2", "bn2", 3, stride));
                y = CB("conv3", "bn3", 1, 1);
            }
            const char *idt = x;
            if (stride != 1 || inplanes != outp) {
                const char *save = y;
                y = x;
                idt = CB("downsample.0", "downsample.1", 1, stride);
                y = save;
            }
#undef CB
            const char *in[2] = { y, idt };
            x = node1(g, "Relu", "relu", node(g, "Add", val(g, "add"), 2, in, 0, NULL));
            inplanes = outp;
        }
    }
    x = node1(g, "GlobalAveragePool", "gap", x);
    attr fa = A_INT("axis", 1);
    return node(g, "Flatten", val(g, "flatten"), 1, &x, 1, &fa);
}

/* ------------------------------------------------------------------ value infos, metadata */

static Onnx__ValueInfoProto *vinfo(gb *g, const char *name, int ndim, const int64_t *dims)
{
    arena *a = &g->a;
    Onnx__ValueInfoProto *v = az(a, sizeof *v);
    Onnx__TypeProto *tp = az(a, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = az(a, sizeof *tt);
    Onnx__TensorShapeProto *sh = az(a, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dd = az(a, (size_t)ndim * sizeof *dd);
    if (!v || !tp || !tt || !sh || !dd) return NULL;
    Onnx__ValueInfoProto v0 = ONNX__VALUE_INFO_PROTO__INIT;
    Onnx__TypeProto tp0 = ONNX__TYPE_PROTO__INIT;
    Onnx__TypeProto__Tensor tt0 = ONNX__TYPE_PROTO__TENSOR__INIT;
    Onnx__TensorShapeProto sh0 = ONNX__TENSOR_SHAPE_PROTO__INIT;
    *v = v0; *tp = tp0; *tt = tt0; *sh = sh0;
    for (int k = 0; k < ndim; k++) {
        Onnx__TensorShapeProto__Dimension *d = az(a, sizeof *d);
        if (!d) return NULL;
        Onnx__TensorShapeProto__Dimension d0 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        *d = d0;
        if (dims[k] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = astr(a, "N");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[k];
        }
        dd[k] = d;
    }
    sh->n_dim = (size_t)ndim;
    sh->dim = dd;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->name = astr(a, "%s", name);
    v->type = tp;
    return a->fail ? NULL : v;
}

static Onnx__StringStringEntryProto *prop(gb *g, const char *k, const char *v)
{
    Onnx__StringStringEntryProto *e = az(&g->a, sizeof *e);
    if (!e) return NULL;
    Onnx__StringStringEntryProto e0 = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    *e = e0;
    e->key = astr(&g->a, "%s", k);
    e->value = astr(&g->a, "%s", v);
    return e;
}

/* label names and thresholds as JSON arrays (jansson), provenance entries */
static int metadata(gb *g, const mlcl_model *m, Onnx__ModelProto *mp)
{
    size_t n = 3 + (size_t)m->nprov;
    Onnx__StringStringEntryProto **pp = az(&g->a, n * sizeof *pp);
    json_t *names = json_array(), *thr = json_array();
    int e = !pp || !names || !thr;
    for (int j = 0; j < m->c && !e; j++)
        e = json_array_append_new(names, json_string(m->labels[j])) || json_array_append_new(thr, json_real(m->thr[j]));
    char *sn = e ? NULL : json_dumps(names, JSON_COMPACT | JSON_ENSURE_ASCII);
    char *st = e ? NULL : json_dumps(thr, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(names);
    json_decref(thr);
    if (sn && st && pp) {
        size_t k = 0;
        pp[k++] = prop(g, "mlcl.label_names", sn);
        pp[k++] = prop(g, "mlcl.thresholds", st);
        pp[k++] = prop(g, "mlcl.architecture", m->arch ? m->arch : "");
        for (int i = 0; i < m->nprov; i++) {
            char key[300];
            snprintf(key, sizeof key, "mlcl.provenance.%s", m->prov_key[i]);
            pp[k++] = prop(g, key, m->prov_val[i]);
        }
        mp->n_metadata_props = k;
        mp->metadata_props = pp;
    } else {
        e = 1;
    }
    free(sn);
    free(st);
    return e || g->a.fail ? -1 : 0;
}

/* ------------------------------------------------------------------ the graph */

static int build(gb *g, const mlcl_model *m, const tmap *tm, Onnx__GraphProto *gp)
{
    const char *x = "input";
    int64_t in_dims[4];
    int in_nd;
    if (m->img) {
        in_nd = 4;
        in_dims[0] = -1; in_dims[1] = m->ic; in_dims[2] = m->ih; in_dims[3] = m->iw;
        if (m->oh != m->ih || m->ow != m->iw) {
            /* sizes = [N, C, oh, ow]: N from the input's shape */
            int64_t st[1] = { 0 }, en[1] = { 1 }, rest[3] = { m->ic, m->oh, m->ow };
            const char *shp = node1(g, "Shape", "shape", x);
            const char *sl_in[3] = { shp, init_i64(g, "starts", 1, st), init_i64(g, "ends", 1, en) };
            const char *nn = node(g, "Slice", val(g, "n"), 3, sl_in, 0, NULL);
            const char *cat_in[2] = { nn, init_i64(g, "chw", 3, rest) };
            attr ax = A_INT("axis", 0);
            const char *sizes = node(g, "Concat", val(g, "sizes"), 2, cat_in, 1, &ax);
            const char *rs_in[4] = { x, "", "", sizes };
            attr at[3] = { A_STR("mode", "linear"), A_STR("coordinate_transformation_mode", "half_pixel"),
                           A_STR("nearest_mode", "floor") };
            x = node(g, "Resize", val(g, "resized"), 4, rs_in, 3, at);
        }
    } else {
        in_nd = 2;
        in_dims[0] = -1; in_dims[1] = m->d;
        if (m->standardize) {
            const char *a[2] = { x, weight(g, tm, "scaler.mean") };
            x = node(g, "Sub", val(g, "centred"), 2, a, 0, NULL);
            const char *b[2] = { x, weight(g, tm, "scaler.std") };
            x = node(g, "Div", val(g, "standardized"), 2, b, 0, NULL);
        }
    }
    int resnet_only = m->nl == 1 && m->L[0].kind == MLCL__ML_RESNET;
    int nd = in_nd; /* rank of x */
    char nm[300];
    for (int i = 0; i < m->nl; i++) {
        const mlcl__mlayer *l = &m->L[i];
        switch (l->kind) {
        case MLCL__ML_RESNET: {
            if (nd != 4) {
                int64_t shp[4] = { -1, l->resnet.in_channels, l->resnet.height, l->resnet.width };
                const char *in[2] = { x, init_i64(g, "chw_shape", 4, shp) };
                x = node(g, "Reshape", val(g, "images"), 2, in, 0, NULL);
            }
            snprintf(nm, sizeof nm, resnet_only ? "backbone." : "backbone.%d.", i);
            x = resnet(g, tm, &l->resnet, nm, x);
            nd = 2;
            break;
        }
        case MLCL__ML_LINEAR: {
            char wn[300], bnm[300];
            snprintf(wn, sizeof wn, "backbone.%d.weight", i);
            snprintf(bnm, sizeof bnm, "backbone.%d.bias", i);
            const char *in[3] = { x, weight(g, tm, wn), l->bias ? weight(g, tm, bnm) : NULL };
            attr tb = A_INT("transB", 1);
            x = node(g, "Gemm", val(g, "linear"), l->bias ? 3 : 2, in, 1, &tb);
            break;
        }
        case MLCL__ML_RELU: x = node1(g, "Relu", "relu", x); break;
        case MLCL__ML_DROPOUT: break; /* identity at inference */
        case MLCL__ML_BN1D:
            snprintf(nm, sizeof nm, "backbone.%d", i);
            x = bn(g, tm, nm, x, l->eps, l->momentum);
            break;
        case MLCL__ML_L2NORM: {
            /* x / max(||x||, 1e-12), as mlcl_l2norm_forward() */
            int64_t ax[1] = { 1 };
            attr at[2] = { A_INTS("axes", ax, 1), A_INT("keepdims", 1) };
            const char *norm = node(g, "ReduceL2", val(g, "norm"), 1, &x, 2, at);
            float tiny = 1e-12f;
            const char *mx_in[2] = { norm, init_f32(g, val(g, "tiny"), 0, NULL, &tiny, 1) };
            const char *den = node(g, "Max", val(g, "denominator"), 2, mx_in, 0, NULL);
            const char *dv[2] = { x, den };
            x = node(g, "Div", val(g, "l2norm"), 2, dv, 0, NULL);
            break;
        }
        case MLCL__ML_SOFTMAX: {
            attr ax = A_INT("axis", 1);
            x = node(g, "Softmax", val(g, "softmax"), 1, &x, 1, &ax);
            break;
        }
        }
    }
    const char *emb = node(g, "Identity", "embedding", 1, &x, 0, NULL);
    const char *hin[3] = { emb, weight(g, tm, "head.weight"), weight(g, tm, "head.bias") };
    attr tb = A_INT("transB", 1);
    const char *logits = node(g, "Gemm", "logits", 3, hin, 1, &tb);
    node(g, "Sigmoid", "scores", 1, &logits, 0, NULL);
    attr ax = A_INT("axis", 1);
    node(g, "Softmax", "distributions", 1, &logits, 1, &ax);
    if (g->a.fail) return -1;

    arena *a = &g->a;
    int64_t od_c[2] = { -1, m->c }, od_h[2] = { -1, m->h };
    Onnx__ValueInfoProto **gin = az(a, sizeof *gin), **gout = az(a, 3 * sizeof *gout);
    if (!gin || !gout) return -1;
    gin[0] = vinfo(g, "input", in_nd, in_dims);
    gout[0] = vinfo(g, "scores", 2, od_c);
    gout[1] = vinfo(g, "embedding", 2, od_h);
    gout[2] = vinfo(g, "distributions", 2, od_c);
    gp->name = astr(a, "mlcl_model");
    gp->doc_string = astr(a, "%s", m->arch ? m->arch : "");
    gp->n_node = g->nn;
    gp->node = g->node;
    gp->n_initializer = g->ni;
    gp->initializer = g->init;
    gp->n_input = 1;
    gp->input = gin;
    gp->n_output = 3;
    gp->output = gout;
    return a->fail ? -1 : 0;
}

int mlcl_model_export_onnx(const mlcl_model *m, const char *path)
{
    MLCL_CHECK_NULL_AS(FN, m, "model");
    MLCL_CHECK_NULL(FN, path);
    if (!path[0]) return mlcl__err(MLCL_EINVAL, "%s: path is empty", FN);
    if (m->img && m->standardize) /* a loader-trained model (mlcl_trainer_create_stream) */
        return mlcl__err(MLCL_EINVAL, "%s: an image model with input normalisation cannot be exported to ONNX yet", FN);
    tmap tm = { NULL, 0 };
    MLCL_TRY(mlcl__model_tensors(m, (mlcl__model_tensor **)&tm.t, &tm.n));
    gb g;
    memset(&g, 0, sizeof g);
    Onnx__GraphProto *gp = az(&g.a, sizeof *gp);
    Onnx__ModelProto *mp = az(&g.a, sizeof *mp);
    Onnx__OperatorSetIdProto *os = az(&g.a, sizeof *os);
    Onnx__OperatorSetIdProto **osl = az(&g.a, sizeof *osl);
    int rc = MLCL_OK;
    if (!gp || !mp || !os || !osl) rc = mlcl__err(MLCL_ENOMEM, "%s: %s: out of memory", FN, path);
    if (rc == MLCL_OK) {
        Onnx__GraphProto g0 = ONNX__GRAPH_PROTO__INIT;
        Onnx__ModelProto m0 = ONNX__MODEL_PROTO__INIT;
        Onnx__OperatorSetIdProto o0 = ONNX__OPERATOR_SET_ID_PROTO__INIT;
        *gp = g0; *mp = m0; *os = o0;
        os->domain = astr(&g.a, "%s", "");
        os->has_version = 1;
        os->version = ONNX_OPSET;
        osl[0] = os;
        mp->has_ir_version = 1;
        mp->ir_version = ONNX_IR_VERSION;
        mp->n_opset_import = 1;
        mp->opset_import = osl;
        mp->producer_name = astr(&g.a, "libmlcl");
        mp->producer_version = astr(&g.a, "%s", mlcl_version_string());
        mp->doc_string = astr(&g.a, "libmlcl model: %s", m->arch ? m->arch : "");
        mp->graph = gp;
        if (build(&g, m, &tm, gp) || metadata(&g, m, mp))
            rc = g.a.fail == 2 ? mlcl__err(MLCL_EINVAL, "%s: the model's tensors do not match its layers", FN)
                               : mlcl__err(MLCL_ENOMEM, "%s: %s: out of memory", FN, path);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (rc == MLCL_OK) {
        len = onnx__model_proto__get_packed_size(mp);
        if (len >= ((size_t)1 << 31))
            rc = mlcl__err(MLCL_EOVERFLOW, "%s: %s: the model needs %zu bytes, protobuf's limit is 2 GB", FN, path, len);
        else if (!(buf = mlcl__malloc(len ? len : 1)))
            rc = mlcl__err(MLCL_ENOMEM, "%s: %s: out of memory for %zu bytes", FN, path, len);
        else if (onnx__model_proto__pack(mp, buf) != len)
            rc = mlcl__err(MLCL_EINVAL, "%s: %s: protobuf packing gave an unexpected size", FN, path);
    }
    if (rc == MLCL_OK) {
        mlcl__outfile o;
        rc = mlcl__outfile_open(&o, path, "onnx");
        if (rc == MLCL_OK) {
            mlcl__outfile_write(&o, buf, len);
            rc = mlcl__outfile_commit(&o);
        }
    }
    mlcl__free(buf);
    arena_free(&g.a);
    mlcl__free((void *)tm.t);
    return rc;
}
