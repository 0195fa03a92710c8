/* The trained model: validation, templates, inference, accessors, tensor
 * names. Layout in model_internal.h; files in model_io.c. */
#include <stdio.h>
#include <string.h>
#include "model_internal.h"
#include "mlcl/image.h"
#include "mlcl/ops.h"
#include "nn/nn_lib.h"

static const char FN_INFER[] = "mlcl_model_infer";

int mlcl__model_alloc(mlcl_model **out, const char *fn)
{
    *out = mlcl__calloc(1, sizeof **out);
    if (!*out) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    return MLCL_OK;
}

static void free_strings(char **s, int n)
{
    if (!s) return;
    for (int i = 0; i < n; i++) mlcl__free(s[i]);
    mlcl__free(s);
}

void mlcl_model_free(mlcl_model *m)
{
    if (!m) return;
    mlcl_encoder_free(m->t_backbone);
    mlcl_encoder_free(m->t_head);
    mlcl__free(m->mean);
    mlcl__free(m->std);
    mlcl__free(m->L);
    mlcl__free(m->bparams);
    mlcl__free(m->bstate);
    mlcl__free(m->head);
    mlcl__free(m->thr);
    free_strings(m->labels, m->c);
    free_strings(m->prov_key, m->nprov);
    free_strings(m->prov_val, m->nprov);
    mlcl__free(m->arch);
    mlcl__free(m);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = mlcl__malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

/* ------------------------------------------------------------------ ResNet structure */

typedef void (*tensor_cb)(void *ctx, const char *name, int ndim, const int64_t *shape, int is_state);

static void emit_conv(tensor_cb cb, void *ctx, const char *pre, const char *name, int oc, int ic, int k)
{
    char nm[320];
    int64_t sh[4] = { oc, ic, k, k };
    snprintf(nm, sizeof nm, "%s%s.weight", pre, name);
    cb(ctx, nm, 4, sh, 0);
}

static void emit_bn(tensor_cb cb, void *ctx, const char *pre, const char *name, int ch)
{
    static const char *const parts[4] = { "weight", "bias", "running_mean", "running_var" };
    char nm[320];
    int64_t sh[1] = { ch };
    for (int i = 0; i < 4; i++) {
        snprintf(nm, sizeof nm, "%s%s.%s", pre, name, parts[i]);
        cb(ctx, nm, 1, sh, i >= 2);
    }
}

/* torchvision's state_dict() order (num_batches_tracked left out), under prefix pre */
static void resnet_walk(const mlcl_resnet_spec *s, const char *pre, tensor_cb cb, void *ctx)
{
    static const int blocks18[4] = { 2, 2, 2, 2 }, blocks34[4] = { 3, 4, 6, 3 };
    const int *nb = s->depth == 18 ? blocks18 : blocks34;
    int bottleneck = s->depth == 50, bw = s->base_width;
    emit_conv(cb, ctx, pre, "conv1", bw, s->in_channels, s->stem == MLCL_RESNET_STEM_IMAGENET ? 7 : 3);
    emit_bn(cb, ctx, pre, "bn1", bw);
    int inplanes = bw;
    char bp[128];
    for (int st = 0; st < 4; st++) {
        int planes = bw << st;
        for (int b = 0; b < nb[st]; b++) {
            int stride = (st > 0 && b == 0) ? 2 : 1, outp = bottleneck ? 4 * planes : planes;
            snprintf(bp, sizeof bp, "%slayer%d.%d.", pre, st + 1, b);
            if (!bottleneck) {
                emit_conv(cb, ctx, bp, "conv1", planes, inplanes, 3);
                emit_bn(cb, ctx, bp, "bn1", planes);
                emit_conv(cb, ctx, bp, "conv2", planes, planes, 3);
                emit_bn(cb, ctx, bp, "bn2", planes);
            } else {
                emit_conv(cb, ctx, bp, "conv1", planes, inplanes, 1);
                emit_bn(cb, ctx, bp, "bn1", planes);
                emit_conv(cb, ctx, bp, "conv2", planes, planes, 3);
                emit_bn(cb, ctx, bp, "bn2", planes);
                emit_conv(cb, ctx, bp, "conv3", outp, planes, 1);
                emit_bn(cb, ctx, bp, "bn3", outp);
            }
            if (stride != 1 || inplanes != outp) {
                emit_conv(cb, ctx, bp, "downsample.0", outp, inplanes, 1);
                emit_bn(cb, ctx, bp, "downsample.1", outp);
            }
            inplanes = outp;
        }
    }
}

typedef struct count_ctx { size_t np, ns; } count_ctx;
static void count_cb(void *ctx, const char *name, int ndim, const int64_t *shape, int is_state)
{
    (void)name;
    count_ctx *c = ctx;
    size_t k = 1;
    for (int i = 0; i < ndim; i++) k *= (size_t)shape[i];
    if (is_state) c->ns += k; else c->np += k;
}

int mlcl__mlayer_counts(const mlcl__mlayer *l, size_t *np, size_t *ns, int *out_w, const char *fn)
{
    *np = *ns = 0;
    if (l->in <= 0 || l->in > MLCL__MODEL_MAX_DIM * 16 || l->out <= 0 || l->out > MLCL__MODEL_MAX_DIM)
        return mlcl__err(MLCL_EFORMAT, "%s: layer widths %d -> %d out of range", fn, l->in, l->out);
    switch (l->kind) {
    case MLCL__ML_LINEAR:
        if (l->bias != 0 && l->bias != 1) return mlcl__err(MLCL_EFORMAT, "%s: Linear bias flag %d", fn, l->bias);
        if (l->in > MLCL__MODEL_MAX_DIM) return mlcl__err(MLCL_EFORMAT, "%s: Linear input width %d out of range", fn, l->in);
        *np = (size_t)l->out * (size_t)l->in + (l->bias ? (size_t)l->out : 0);
        break;
    case MLCL__ML_DROPOUT:
        if (!(l->p >= 0.0f && l->p < 1.0f)) return mlcl__err(MLCL_EFORMAT, "%s: Dropout p %g outside [0, 1)", fn, (double)l->p);
        /* fall through */
    case MLCL__ML_RELU:
    case MLCL__ML_L2NORM:
    case MLCL__ML_SOFTMAX:
        if (l->out != l->in) return mlcl__err(MLCL_EFORMAT, "%s: a shape-preserving layer maps %d to %d", fn, l->in, l->out);
        break;
    case MLCL__ML_BN1D:
        if (l->out != l->in) return mlcl__err(MLCL_EFORMAT, "%s: BatchNorm1d maps %d to %d", fn, l->in, l->out);
        if (!(l->eps > 0.0f) || !isfinite(l->eps) || !(l->momentum >= 0.0f && l->momentum <= 1.0f))
            return mlcl__err(MLCL_EFORMAT, "%s: BatchNorm1d eps %g / momentum %g out of range", fn, (double)l->eps,
                             (double)l->momentum);
        *np = 2 * (size_t)l->in;
        *ns = 2 * (size_t)l->in;
        break;
    case MLCL__ML_RESNET: {
        const mlcl_resnet_spec *s = &l->resnet;
        if ((s->depth != 18 && s->depth != 34 && s->depth != 50) ||
            (s->stem != MLCL_RESNET_STEM_IMAGENET && s->stem != MLCL_RESNET_STEM_SMALL) || s->in_channels <= 0 ||
            s->in_channels > 4096 || s->height <= 0 || s->height > MLCL__MODEL_MAX_IMAGE || s->width <= 0 ||
            s->width > MLCL__MODEL_MAX_IMAGE || s->base_width <= 0 || s->base_width > 4096 || !(s->bn_eps > 0.0f) ||
            !isfinite(s->bn_eps) || !(s->bn_momentum >= 0.0f && s->bn_momentum <= 1.0f) ||
            (s->zero_init_residual != 0 && s->zero_init_residual != 1))
            return mlcl__err(MLCL_EFORMAT, "%s: ResNet spec out of range (depth %d, stem %d, %d x %d x %d, width %d)", fn,
                             s->depth, s->stem, s->in_channels, s->height, s->width, s->base_width);
        if ((size_t)l->in != (size_t)s->in_channels * s->height * s->width)
            return mlcl__err(MLCL_EFORMAT, "%s: ResNet input width %d is not %d x %d x %d", fn, l->in, s->in_channels,
                             s->height, s->width);
        int ow = (s->depth == 50 ? 32 : 8) * s->base_width;
        if (l->out != ow) return mlcl__err(MLCL_EFORMAT, "%s: ResNet output width %d, its spec gives %d", fn, l->out, ow);
        count_ctx c = { 0, 0 };
        resnet_walk(s, "", count_cb, &c);
        *np = c.np;
        *ns = c.ns;
        break;
    }
    default:
        return mlcl__err(MLCL_EFORMAT, "%s: unknown layer kind %d", fn, l->kind);
    }
    if (out_w) *out_w = l->out;
    return MLCL_OK;
}

/* ------------------------------------------------------------------ finish */

static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) MLCL_PRINTF(4, 5);
static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return -1;
    if ((size_t)k >= sizeof tmp) k = (int)sizeof tmp - 1;
    if (*len + (size_t)k + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 256) + (size_t)k;
        char *nb = mlcl__malloc(nc);
        if (!nb) return -1;
        if (*len) memcpy(nb, *buf, *len);
        mlcl__free(*buf);
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, tmp, (size_t)k + 1);
    *len += (size_t)k;
    return 0;
}

static int make_arch_text(mlcl_model *m, const char *fn)
{
    char *b = NULL;
    size_t len = 0, cap = 0;
    int e = append(&b, &len, &cap, "backbone:");
    for (int i = 0; i < m->nl && !e; i++) {
        const mlcl__mlayer *l = &m->L[i];
        switch (l->kind) {
        case MLCL__ML_LINEAR: e = append(&b, &len, &cap, " Linear(%d,%d%s)", l->in, l->out, l->bias ? "" : ",bias=False"); break;
        case MLCL__ML_RELU: e = append(&b, &len, &cap, " ReLU"); break;
        case MLCL__ML_DROPOUT: e = append(&b, &len, &cap, " Dropout(%g)", (double)l->p); break;
        case MLCL__ML_BN1D: e = append(&b, &len, &cap, " BatchNorm1d(%d)", l->in); break;
        case MLCL__ML_L2NORM: e = append(&b, &len, &cap, " L2Norm"); break;
        case MLCL__ML_SOFTMAX: e = append(&b, &len, &cap, " Softmax"); break;
        case MLCL__ML_RESNET:
            e = append(&b, &len, &cap, " ResNet-%d(%s stem, %dx%dx%d, width %d, out %d)", l->resnet.depth,
                       l->resnet.stem == MLCL_RESNET_STEM_SMALL ? "small" : "imagenet", l->resnet.in_channels,
                       l->resnet.height, l->resnet.width, l->resnet.base_width, l->out);
            break;
        }
    }
    if (!e) e = append(&b, &len, &cap, "; head: Linear(%d,%d)", m->h, m->c);
    if (e) { mlcl__free(b); return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); }
    mlcl__free(m->arch);
    m->arch = b;
    return MLCL_OK;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= MLCL__MODEL_MAX_NAME && !strchr(s, '\n') && !strchr(s, '\r');
}

int mlcl__model_copy_backbone(mlcl_model *m, const mlcl_encoder *bb, const char *fn)
{
    int nl;
    MLCL_TRY(mlcl_encoder_num_layers(bb, &nl));
    if (nl <= 0) return mlcl__err(MLCL_EINVAL, "%s: the backbone has no layer", fn);
    if (nl > MLCL__MODEL_MAX_LAYERS) return mlcl__err(MLCL_EINVAL, "%s: the backbone has %d layers (at most %d)", fn, nl, MLCL__MODEL_MAX_LAYERS);
    MLCL_TRY(mlcl__alloc_array((void **)&m->L, (size_t)nl, sizeof *m->L, fn));
    m->nl = nl;
    for (int i = 0; i < nl; i++) {
        mlcl__layer_info li;
        MLCL_TRY(mlcl__encoder_layer_info(bb, i, &li));
        mlcl__mlayer *l = &m->L[i];
        l->kind = li.kind; /* MLCL__LAYER_* and MLCL__ML_* share their values */
        l->in = li.in;
        l->out = li.out;
        l->bias = li.kind == MLCL__ML_LINEAR ? li.bias : 0;
        l->p = li.kind == MLCL__ML_DROPOUT ? li.p : 0.0f;
        l->eps = li.kind == MLCL__ML_BN1D ? li.eps : 0.0f;
        l->momentum = li.kind == MLCL__ML_BN1D ? li.momentum : 0.0f;
        if (li.kind == MLCL__ML_RESNET) l->resnet = li.resnet;
    }
    MLCL_TRY(mlcl_encoder_param_count(bb, &m->bnp));
    MLCL_TRY(mlcl_encoder_state_count(bb, &m->bns));
    MLCL_TRY(mlcl__alloc_array((void **)&m->bparams, m->bnp ? m->bnp : 1, sizeof(float), fn));
    MLCL_TRY(mlcl__alloc_array((void **)&m->bstate, m->bns ? m->bns : 1, sizeof(float), fn));
    if (m->bnp) MLCL_TRY(mlcl_encoder_get_params(bb, m->bparams, m->bnp));
    if (m->bns) MLCL_TRY(mlcl_encoder_get_state(bb, m->bstate, m->bns));
    return MLCL_OK;
}

int mlcl__model_finish(mlcl_model *m, const char *fn)
{
    if (m->d <= 0 || m->d > MLCL__MODEL_MAX_DIM * 16 || m->c <= 0 || m->c > MLCL__MODEL_MAX_DIM || m->h <= 0 ||
        m->h > MLCL__MODEL_MAX_DIM)
        return mlcl__err(MLCL_EFORMAT, "%s: widths out of range (features %d, labels %d, embedding %d)", fn, m->d, m->c, m->h);
    if (m->chunk <= 0 || m->chunk > MLCL__MODEL_MAX_CHUNK)
        return mlcl__err(MLCL_EFORMAT, "%s: inference chunk %d outside 1..%d", fn, m->chunk, MLCL__MODEL_MAX_CHUNK);
    if (m->img != 0 && m->img != 1) return mlcl__err(MLCL_EFORMAT, "%s: image flag %d", fn, m->img);
    if (m->standardize != 0 && m->standardize != 1) return mlcl__err(MLCL_EFORMAT, "%s: standardisation flag %d", fn, m->standardize);
    if (m->img) {
        if (m->ic <= 0 || m->ic > 4096 || m->ih <= 0 || m->ih > MLCL__MODEL_MAX_IMAGE || m->iw <= 0 ||
            m->iw > MLCL__MODEL_MAX_IMAGE || m->oh <= 0 || m->oh > MLCL__MODEL_MAX_IMAGE || m->ow <= 0 ||
            m->ow > MLCL__MODEL_MAX_IMAGE)
            return mlcl__err(MLCL_EFORMAT, "%s: image shape %d x %d x %d -> %d x %d out of range", fn, m->ic, m->ih, m->iw,
                             m->oh, m->ow);
        if ((size_t)m->d != (size_t)m->ic * m->ih * m->iw || (size_t)m->dn != (size_t)m->ic * m->oh * m->ow)
            return mlcl__err(MLCL_EFORMAT, "%s: image widths %d / %d do not match %d x %d x %d -> %d x %d", fn, m->d, m->dn,
                             m->ic, m->ih, m->iw, m->oh, m->ow);
        if (m->standardize && (m->ih != m->oh || m->iw != m->ow)) /* normalised: loader-trained, images of the network's size */
            return mlcl__err(MLCL_EFORMAT, "%s: an image model normalises only images of the network's size", fn);
    } else {
        if (m->dn != m->d) return mlcl__err(MLCL_EFORMAT, "%s: network input width %d differs from %d features", fn, m->dn, m->d);
        if (m->ic || m->ih || m->iw || m->oh || m->ow) return mlcl__err(MLCL_EFORMAT, "%s: image shape on a vector model", fn);
    }
    if ((m->standardize && (!m->mean || !m->std)) || !m->head || !m->thr || !m->labels || !m->L)
        return mlcl__err(MLCL_EFORMAT, "%s: incomplete model", fn);
    for (int j = 0; m->standardize && j < m->d; j++)
        if (!isfinite(m->mean[j]) || !(m->std[j] > 0.0f) || !isfinite(m->std[j]))
            return mlcl__err(MLCL_EFORMAT, "%s: standardisation of feature %d is invalid (mean %g, std %g)", fn, j,
                             (double)m->mean[j], (double)m->std[j]);
    if ((size_t)m->dn > MLCL__MODEL_MAX_ROW || (size_t)m->d > MLCL__MODEL_MAX_ROW)
        return mlcl__err(MLCL_EFORMAT, "%s: rows of %d / %d floats exceed %d", fn, m->d, m->dn, (int)MLCL__MODEL_MAX_ROW);
    for (int j = 0; j < m->c; j++) {
        if (!(m->thr[j] >= 0.0f && m->thr[j] <= 1.0f)) return mlcl__err(MLCL_EFORMAT, "%s: threshold %d is %g, outside [0, 1]", fn, j, (double)m->thr[j]);
        if (!m->labels[j] || !valid_name(m->labels[j])) return mlcl__err(MLCL_EFORMAT, "%s: label name %d is invalid", fn, j);
    }
    /* layers: widths chain, counts add up to the buffers */
    if (m->nl <= 0 || m->nl > MLCL__MODEL_MAX_LAYERS) return mlcl__err(MLCL_EFORMAT, "%s: %d backbone layers", fn, m->nl);
    int w = m->dn;
    size_t np = 0, ns = 0;
    for (int i = 0; i < m->nl; i++) {
        mlcl__mlayer *l = &m->L[i];
        if (l->in != w) return mlcl__err(MLCL_EFORMAT, "%s: backbone layer %d takes %d values, the previous gives %d", fn, i, l->in, w);
        if (l->kind == MLCL__ML_RESNET && i != 0) return mlcl__err(MLCL_EFORMAT, "%s: a ResNet can only be the first layer (layer %d)", fn, i);
        size_t a, b;
        MLCL_TRY(mlcl__mlayer_counts(l, &a, &b, &w, fn));
        l->poff = np; l->np = a; l->soff = ns; l->ns = b;
        np += a; ns += b;
        if (np > ((size_t)1 << 34) || ns > ((size_t)1 << 34)) return mlcl__err(MLCL_EFORMAT, "%s: backbone too large", fn);
    }
    if (m->img != (m->L[0].kind == MLCL__ML_RESNET) && m->img)
        return mlcl__err(MLCL_EFORMAT, "%s: an image model needs a ResNet backbone", fn);
    if (w != m->h) return mlcl__err(MLCL_EFORMAT, "%s: backbone gives %d values, the embedding width is %d", fn, w, m->h);
    if (np != m->bnp || ns != m->bns)
        return mlcl__err(MLCL_EFORMAT, "%s: backbone layers hold %zu parameters and %zu statistics, the model %zu and %zu", fn,
                         np, ns, m->bnp, m->bns);
    if ((np && !m->bparams) || (ns && !m->bstate)) return mlcl__err(MLCL_EFORMAT, "%s: incomplete model", fn);
    size_t nh = (size_t)m->c * m->h + (size_t)m->c;
    if (!mlcl__all_finite(m->bparams, np) || !mlcl__all_finite(m->bstate, ns) || !mlcl__all_finite(m->head, nh))
        return mlcl__err(MLCL_EFORMAT, "%s: non-finite parameters or statistics", fn);
    /* templates: the encoders the workspaces clone (a workspace cloned from
     * the previous ones sees the new generation and clones again) */
    mlcl_encoder_free(m->t_backbone);
    mlcl_encoder_free(m->t_head);
    m->t_backbone = m->t_head = NULL;
    m->gen++;
    mlcl_encoder_options eo = MLCL_ENCODER_OPTIONS_INIT;
    eo.max_batch = 1; /* row buffers grow with the rows of the first call, not the chunk */
    int rc;
    if (m->L[0].kind == MLCL__ML_RESNET) rc = mlcl_encoder_create_resnet(&m->t_backbone, &m->L[0].resnet, &eo);
    else rc = mlcl_encoder_create(&m->t_backbone, m->dn, &eo);
    for (int i = m->L[0].kind == MLCL__ML_RESNET ? 1 : 0; i < m->nl && rc == MLCL_OK; i++) {
        const mlcl__mlayer *l = &m->L[i];
        switch (l->kind) {
        case MLCL__ML_LINEAR: rc = mlcl_encoder_add_linear(m->t_backbone, l->out, l->bias); break;
        case MLCL__ML_RELU: rc = mlcl_encoder_add_relu(m->t_backbone); break;
        case MLCL__ML_DROPOUT: rc = mlcl_encoder_add_dropout(m->t_backbone, l->p); break;
        case MLCL__ML_BN1D: rc = mlcl_encoder_add_batchnorm(m->t_backbone, l->eps, l->momentum); break;
        case MLCL__ML_L2NORM: rc = mlcl_encoder_add_l2norm(m->t_backbone); break;
        case MLCL__ML_SOFTMAX: rc = mlcl_encoder_add_softmax(m->t_backbone); break;
        }
    }
    size_t enp = 0, ens = 0;
    int ein = 0, eout = 0;
    if (rc == MLCL_OK) {
        mlcl_encoder_param_count(m->t_backbone, &enp);
        mlcl_encoder_state_count(m->t_backbone, &ens);
        mlcl_encoder_in_dim(m->t_backbone, &ein);
        mlcl_encoder_out_dim(m->t_backbone, &eout);
        if (enp != np || ens != ns || ein != m->dn || eout != m->h)
            rc = mlcl__err(MLCL_EFORMAT, "%s: the rebuilt backbone has %zu parameters, %zu statistics, %d -> %d; the model %zu, %zu, %d -> %d",
                           fn, enp, ens, ein, eout, np, ns, m->dn, m->h);
    }
    if (rc == MLCL_OK && np) rc = mlcl_encoder_set_params(m->t_backbone, m->bparams, np);
    if (rc == MLCL_OK && ns) rc = mlcl_encoder_set_state(m->t_backbone, m->bstate, ns);
    if (rc == MLCL_OK) rc = mlcl_encoder_set_training(m->t_backbone, 0);
    if (rc == MLCL_OK) rc = mlcl_encoder_create(&m->t_head, m->h, &eo);
    if (rc == MLCL_OK) rc = mlcl_encoder_add_linear(m->t_head, m->c, 1);
    if (rc == MLCL_OK) rc = mlcl_encoder_set_params(m->t_head, m->head, nh);
    if (rc == MLCL_OK) rc = mlcl_encoder_set_training(m->t_head, 0);
    if (rc < 0) {
        /* a bad statistic rejected by set_state is a file problem, not the caller's */
        if (rc == MLCL_EINVAL || rc == MLCL_ENUMERIC) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", mlcl_last_error());
            rc = mlcl__err(MLCL_EFORMAT, "%s: the backbone cannot be rebuilt: %s", fn, msg);
        }
        return rc;
    }
    return make_arch_text(m, fn);
}

/* ------------------------------------------------------------------ workspaces, inference */

struct mlcl_model_workspace {
    const mlcl_model *m;
    uint64_t gen;   /* m->gen when bb and head were cloned */
    mlcl_encoder *bb, *head;
    float *x0, *h;  /* rows x dn, rows x h */
    int rows;       /* rows they hold: grown to min(n, chunk) of the calls */
};

static int ws_reserve(mlcl_model_workspace *ws, int rows, const char *fn)
{
    if (ws->rows >= rows) return MLCL_OK;
    mlcl__free(ws->x0);
    mlcl__free(ws->h);
    ws->x0 = ws->h = NULL;
    ws->rows = 0;
    MLCL_TRY(mlcl__alloc_array((void **)&ws->x0, (size_t)rows * (size_t)ws->m->dn, sizeof(float), fn));
    MLCL_TRY(mlcl__alloc_array((void **)&ws->h, (size_t)rows * (size_t)ws->m->h, sizeof(float), fn));
    ws->rows = rows;
    return MLCL_OK;
}

void mlcl_model_workspace_free(mlcl_model_workspace *ws)
{
    if (!ws) return;
    mlcl_encoder_free(ws->bb);
    mlcl_encoder_free(ws->head);
    mlcl__free(ws->x0);
    mlcl__free(ws->h);
    mlcl__free(ws);
}

/* (Re)makes the workspace's private copy of the networks from m's templates. */
static int ws_clone(mlcl_model_workspace *ws, const mlcl_model *m)
{
    mlcl_encoder_free(ws->bb);
    mlcl_encoder_free(ws->head);
    ws->bb = ws->head = NULL;
    int rc = mlcl_encoder_clone(&ws->bb, m->t_backbone);
    if (rc == MLCL_OK) rc = mlcl_encoder_clone(&ws->head, m->t_head);
    if (rc == MLCL_OK) ws->gen = m->gen;
    return rc;
}

static int ws_create(mlcl_model_workspace **out, const mlcl_model *m, const char *fn)
{
    *out = NULL;
    mlcl_model_workspace *ws = mlcl__calloc(1, sizeof *ws);
    if (!ws) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    ws->m = m;
    int rc = ws_clone(ws, m);
    if (rc < 0) { mlcl_model_workspace_free(ws); return rc; }
    *out = ws;
    return MLCL_OK;
}

int mlcl_model_workspace_create(mlcl_model_workspace **out, const mlcl_model *model)
{
    static const char fn[] = "mlcl_model_workspace_create";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, model);
    return ws_create(out, model, fn);
}

static int run(const mlcl_model *m, mlcl_model_workspace *ws, int what, int n, const float *x, float *out,
               uint8_t *labels, const char *fn)
{
    size_t d = (size_t)m->d, c = (size_t)m->c, hw = (size_t)m->h;
    int rc = MLCL_OK;
    float *tmp = NULL;
    int rows = n < m->chunk ? n : m->chunk;
    MLCL_TRY(ws_reserve(ws, rows, fn));
    if (what == MLCL_MODEL_LABELS && labels)
        MLCL_TRY(mlcl__alloc_array((void **)&tmp, (size_t)rows * c, sizeof(float), fn));
    for (int s = 0; s < n && rc == MLCL_OK; s += m->chunk) {
        int k = n - s < m->chunk ? n - s : m->chunk;
        const float *xs = x + (size_t)s * d;
        if (m->img) {
            if (!mlcl__all_finite(xs, (size_t)k * d)) { rc = mlcl__err(MLCL_ENUMERIC, "%s: x has NaN or Inf in rows %d..%d", fn, s, s + k - 1); break; }
            if (m->oh != m->ih || m->ow != m->iw) rc = mlcl_image_resize(ws->x0, m->oh, m->ow, xs, k, m->ic, m->ih, m->iw);
            else memcpy(ws->x0, xs, (size_t)k * d * sizeof(float));
            if (rc != MLCL_OK) break;
            if (m->standardize) /* the loaders' normalisation, the trainer's expression (d = dn) */
                for (int i = 0; i < k; i++)
                    for (size_t j = 0; j < d; j++) ws->x0[i * d + j] = (ws->x0[i * d + j] - m->mean[j]) / m->std[j];
        } else if (!m->standardize) {
            /* the trainer computes (x - 0) / 1 here: exactly x */
            memcpy(ws->x0, xs, (size_t)k * d * sizeof(float));
            if (!mlcl__all_finite(ws->x0, (size_t)k * d)) { rc = mlcl__err(MLCL_ENUMERIC, "%s: x has NaN or Inf in rows %d..%d", fn, s, s + k - 1); break; }
        } else {
            /* the trainer's expression, so that scores agree bit for bit */
            for (int i = 0; i < k; i++)
                for (size_t j = 0; j < d; j++) ws->x0[i * d + j] = (xs[(size_t)i * d + j] - m->mean[j]) / m->std[j];
            if (!mlcl__all_finite(ws->x0, (size_t)k * d)) { rc = mlcl__err(MLCL_ENUMERIC, "%s: x has NaN or Inf in rows %d..%d", fn, s, s + k - 1); break; }
        }
        float *hb = what == MLCL_MODEL_EMBEDDING ? out + (size_t)s * hw : ws->h;
        rc = mlcl_encoder_forward(ws->bb, k, ws->x0, hb);
        if (rc != MLCL_OK || what == MLCL_MODEL_EMBEDDING) continue;
        float *o = tmp ? tmp : out + (size_t)s * c;
        rc = mlcl_encoder_forward(ws->head, k, hb, o);
        if (rc != MLCL_OK) break;
        if (what == MLCL_MODEL_DISTRIBUTIONS) rc = mlcl_softmax_forward(o, o, k, (int)c);
        else rc = mlcl_sigmoid(o, o, (size_t)k * c);
        if (rc == MLCL_OK && what == MLCL_MODEL_LABELS) {
            for (int i = 0; i < k; i++)
                for (size_t j = 0; j < c; j++) {
                    int on = o[(size_t)i * c + j] >= m->thr[j];
                    if (labels) labels[(size_t)(s + i) * c + j] = (uint8_t)on;
                    else o[(size_t)i * c + j] = on ? 1.0f : 0.0f;
                }
        }
    }
    mlcl__free(tmp);
    return rc;
}

static int infer(const mlcl_model *m, mlcl_model_workspace *ws, int what, int n, const float *x, float *out,
                 uint8_t *labels, const char *fn, const char *outname)
{
    MLCL_CHECK_NULL_AS(fn, m, "model");
    MLCL_CHECK_NULL(fn, x);
    if (!out && !labels) return mlcl__err(MLCL_EINVAL, "%s: %s is NULL", fn, outname);
    if (n <= 0) return mlcl__err(MLCL_EINVAL, "%s: n must be > 0 (got %d)", fn, n);
    if (what < MLCL_MODEL_SCORES || what > MLCL_MODEL_DISTRIBUTIONS)
        return mlcl__err(MLCL_EINVAL, "%s: what = %d is not an mlcl_model_output", fn, what);
    size_t tot;
    if (mlcl__mul_size((size_t)n, (size_t)m->d, &tot))
        return mlcl__err(MLCL_EOVERFLOW, "%s: n = %d rows of %d features overflow", fn, n, m->d);
    if (ws && ws->m != m) return mlcl__err(MLCL_EINVAL, "%s: ws was made for another model", fn);
    /* the model's weights were replaced (mlcl_model_import_safetensors) since ws was made */
    if (ws && ws->gen != m->gen) MLCL_TRY(ws_clone(ws, m));
    mlcl_model_workspace *own = NULL;
    if (!ws) {
        MLCL_TRY(ws_create(&own, m, fn));
        ws = own;
    }
    int rc = run(m, ws, what, n, x, out, labels, fn);
    mlcl_model_workspace_free(own);
    return rc;
}

int mlcl_model_infer(const mlcl_model *model, mlcl_model_workspace *ws, int what, int n, const float *x, float *out)
{
    return infer(model, ws, what, n, x, out, NULL, FN_INFER, "out");
}

int mlcl_model_predict(const mlcl_model *model, int n, const float *x, float *scores)
{
    return infer(model, NULL, MLCL_MODEL_SCORES, n, x, scores, NULL, "mlcl_model_predict", "scores");
}

int mlcl_model_predict_labels(const mlcl_model *model, int n, const float *x, uint8_t *labels)
{
    return infer(model, NULL, MLCL_MODEL_LABELS, n, x, NULL, labels, "mlcl_model_predict_labels", "labels");
}

int mlcl_model_embed(const mlcl_model *model, int n, const float *x, float *emb)
{
    return infer(model, NULL, MLCL_MODEL_EMBEDDING, n, x, emb, NULL, "mlcl_model_embed", "emb");
}

int mlcl_model_distributions(const mlcl_model *model, int n, const float *x, float *dists)
{
    return infer(model, NULL, MLCL_MODEL_DISTRIBUTIONS, n, x, dists, NULL, "mlcl_model_distributions", "dists");
}

/* ------------------------------------------------------------------ accessors */

int mlcl_model_dims(const mlcl_model *m, int *n_features, int *n_labels, int *embed_dim)
{
    MLCL_CHECK_NULL_AS("mlcl_model_dims", m, "model");
    if (n_features) *n_features = m->d;
    if (n_labels) *n_labels = m->c;
    if (embed_dim) *embed_dim = m->h;
    return MLCL_OK;
}

int mlcl_model_image_shape(const mlcl_model *m, int *channels, int *height, int *width, int *net_height, int *net_width)
{
    MLCL_CHECK_NULL_AS("mlcl_model_image_shape", m, "model");
    if (channels) *channels = m->img ? m->ic : 0;
    if (height) *height = m->img ? m->ih : 0;
    if (width) *width = m->img ? m->iw : 0;
    if (net_height) *net_height = m->img ? m->oh : 0;
    if (net_width) *net_width = m->img ? m->ow : 0;
    return MLCL_OK;
}

int mlcl_model_standardization(const mlcl_model *m, int *standardized, float *mean, float *std, int n_features)
{
    static const char fn[] = "mlcl_model_standardization";
    MLCL_CHECK_NULL_AS(fn, m, "model");
    if ((mean || std) && n_features != m->d)
        return mlcl__err(MLCL_EINVAL, "%s: n_features = %d, the model has %d", fn, n_features, m->d);
    if (standardized) *standardized = m->standardize;
    for (int j = 0; j < m->d; j++) {
        if (mean) mean[j] = m->standardize ? m->mean[j] : 0.0f;
        if (std) std[j] = m->standardize ? m->std[j] : 1.0f;
    }
    return MLCL_OK;
}

int mlcl_model_architecture(const mlcl_model *m, const char **text)
{
    MLCL_CHECK_NULL_AS("mlcl_model_architecture", m, "model");
    MLCL_CHECK_NULL("mlcl_model_architecture", text);
    *text = m->arch ? m->arch : "";
    return MLCL_OK;
}

int mlcl_model_label_name(const mlcl_model *m, int j, const char **name)
{
    static const char fn[] = "mlcl_model_label_name";
    MLCL_CHECK_NULL_AS(fn, m, "model");
    MLCL_CHECK_NULL(fn, name);
    if (j < 0 || j >= m->c) return mlcl__err(MLCL_EINVAL, "%s: j = %d outside 0..%d", fn, j, m->c - 1);
    *name = m->labels[j];
    return MLCL_OK;
}

int mlcl_model_set_label_names(mlcl_model *m, int c, const char *const *names)
{
    static const char fn[] = "mlcl_model_set_label_names";
    MLCL_CHECK_NULL_AS(fn, m, "model");
    MLCL_CHECK_NULL(fn, names);
    if (c != m->c) return mlcl__err(MLCL_EINVAL, "%s: c = %d, the model has %d labels", fn, c, m->c);
    for (int j = 0; j < c; j++)
        if (!names[j] || !valid_name(names[j]))
            return mlcl__err(MLCL_EINVAL, "%s: names[%d] is %s", fn, j,
                             !names[j] ? "NULL" : "empty, longer than 4095 bytes or has a newline");
    char **nn = mlcl__calloc((size_t)c, sizeof *nn);
    if (!nn) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    for (int j = 0; j < c; j++)
        if (!(nn[j] = dup_str(names[j]))) { free_strings(nn, c); return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); }
    free_strings(m->labels, m->c);
    m->labels = nn;
    return MLCL_OK;
}

int mlcl_model_thresholds(const mlcl_model *m, int c, float *thresholds)
{
    static const char fn[] = "mlcl_model_thresholds";
    MLCL_CHECK_NULL_AS(fn, m, "model");
    MLCL_CHECK_NULL(fn, thresholds);
    if (c != m->c) return mlcl__err(MLCL_EINVAL, "%s: c = %d, the model has %d labels", fn, c, m->c);
    memcpy(thresholds, m->thr, (size_t)c * sizeof(float));
    return MLCL_OK;
}

int mlcl_model_set_thresholds(mlcl_model *m, int c, const float *thresholds)
{
    static const char fn[] = "mlcl_model_set_thresholds";
    MLCL_CHECK_NULL_AS(fn, m, "model");
    MLCL_CHECK_NULL(fn, thresholds);
    if (c != m->c) return mlcl__err(MLCL_EINVAL, "%s: c = %d, the model has %d labels", fn, c, m->c);
    for (int j = 0; j < c; j++)
        if (!(thresholds[j] >= 0.0f && thresholds[j] <= 1.0f))
            return mlcl__err(MLCL_EINVAL, "%s: thresholds[%d] = %g is outside [0, 1]", fn, j, (double)thresholds[j]);
    memcpy(m->thr, thresholds, (size_t)c * sizeof(float));
    return MLCL_OK;
}

int mlcl_model_provenance_count(const mlcl_model *m, int *count)
{
    MLCL_CHECK_NULL_AS("mlcl_model_provenance_count", m, "model");
    MLCL_CHECK_NULL("mlcl_model_provenance_count", count);
    *count = m->nprov;
    return MLCL_OK;
}

int mlcl_model_provenance(const mlcl_model *m, int i, const char **key, const char **value)
{
    static const char fn[] = "mlcl_model_provenance";
    MLCL_CHECK_NULL_AS(fn, m, "model");
    if (i < 0 || i >= m->nprov) return mlcl__err(MLCL_EINVAL, "%s: i = %d outside 0..%d", fn, i, m->nprov - 1);
    if (key) *key = m->prov_key[i];
    if (value) *value = m->prov_val[i];
    return MLCL_OK;
}

int mlcl_model_provenance_get(const mlcl_model *m, const char *key, const char **value)
{
    static const char fn[] = "mlcl_model_provenance_get";
    MLCL_CHECK_NULL_AS(fn, m, "model");
    MLCL_CHECK_NULL(fn, key);
    MLCL_CHECK_NULL(fn, value);
    *value = NULL;
    for (int i = 0; i < m->nprov; i++)
        if (!strcmp(m->prov_key[i], key)) { *value = m->prov_val[i]; break; }
    return MLCL_OK;
}

int mlcl__model_prov_set(mlcl_model *m, const char *key, const char *value)
{
    static const char fn[] = "mlcl_model_set_provenance";
    char *v = dup_str(value);
    if (!v) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    for (int i = 0; i < m->nprov; i++)
        if (!strcmp(m->prov_key[i], key)) {
            mlcl__free(m->prov_val[i]);
            m->prov_val[i] = v;
            return MLCL_OK;
        }
    if (m->nprov >= MLCL__MODEL_MAX_PROV) { mlcl__free(v); return mlcl__err(MLCL_EINVAL, "%s: more than %d entries", fn, MLCL__MODEL_MAX_PROV); }
    char *k = dup_str(key);
    char **nk = mlcl__malloc(((size_t)m->nprov + 1) * sizeof *nk), **nv = mlcl__malloc(((size_t)m->nprov + 1) * sizeof *nv);
    if (!k || !nk || !nv) {
        mlcl__free(k); mlcl__free(nk); mlcl__free(nv); mlcl__free(v);
        return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    }
    if (m->nprov) {
        memcpy(nk, m->prov_key, (size_t)m->nprov * sizeof *nk);
        memcpy(nv, m->prov_val, (size_t)m->nprov * sizeof *nv);
    }
    nk[m->nprov] = k;
    nv[m->nprov] = v;
    mlcl__free(m->prov_key);
    mlcl__free(m->prov_val);
    m->prov_key = nk;
    m->prov_val = nv;
    m->nprov++;
    return MLCL_OK;
}

static int valid_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 255) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = k[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

int mlcl_model_set_provenance(mlcl_model *m, const char *key, const char *value)
{
    static const char fn[] = "mlcl_model_set_provenance";
    MLCL_CHECK_NULL_AS(fn, m, "model");
    MLCL_CHECK_NULL(fn, key);
    MLCL_CHECK_NULL(fn, value);
    if (!valid_key(key)) return mlcl__err(MLCL_EINVAL, "%s: key '%.64s' must be 1..255 letters, digits, '_', '.' or '-'", fn, key);
    if (strlen(value) > MLCL__MODEL_MAX_NAME || strchr(value, '\n'))
        return mlcl__err(MLCL_EINVAL, "%s: value of '%s' is longer than 4095 bytes or has a newline", fn, key);
    return mlcl__model_prov_set(m, key, value);
}

/* ------------------------------------------------------------------ tensors */

typedef struct tensor_ctx {
    mlcl__model_tensor *t;
    int n, cap;
    const float *params, *state;
    size_t po, so;
    int fail;
} tensor_ctx;

static void tensor_add(tensor_ctx *c, const char *name, int ndim, const int64_t *shape, int is_state, const float *data)
{
    if (c->fail) return;
    if (c->n == c->cap) {
        int ncap = c->cap ? c->cap * 2 : 64;
        mlcl__model_tensor *nt = mlcl__malloc((size_t)ncap * sizeof *nt);
        if (!nt) { c->fail = 1; return; }
        if (c->n) memcpy(nt, c->t, (size_t)c->n * sizeof *nt);
        mlcl__free(c->t);
        c->t = nt;
        c->cap = ncap;
    }
    mlcl__model_tensor *t = &c->t[c->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data;
    t->is_state = is_state;
}

static void walk_cb(void *ctx, const char *name, int ndim, const int64_t *shape, int is_state)
{
    tensor_ctx *c = ctx;
    size_t k = 1;
    for (int i = 0; i < ndim; i++) k *= (size_t)shape[i];
    const float *data = is_state ? c->state + c->so : c->params + c->po;
    if (is_state) c->so += k; else c->po += k;
    tensor_add(c, name, ndim, shape, is_state, data);
}

int mlcl__model_tensors(const mlcl_model *m, mlcl__model_tensor **out, int *count)
{
    tensor_ctx c;
    memset(&c, 0, sizeof c);
    c.params = m->bparams;
    c.state = m->bstate;
    int resnet_only = m->nl == 1 && m->L[0].kind == MLCL__ML_RESNET;
    char nm[128];
    for (int i = 0; i < m->nl; i++) {
        const mlcl__mlayer *l = &m->L[i];
        c.po = l->poff;
        c.so = l->soff;
        if (l->kind == MLCL__ML_RESNET) {
            snprintf(nm, sizeof nm, resnet_only ? "backbone." : "backbone.%d.", i);
            resnet_walk(&l->resnet, nm, walk_cb, &c);
        } else if (l->kind == MLCL__ML_LINEAR) {
            int64_t sw[2] = { l->out, l->in }, sb[1] = { l->out };
            snprintf(nm, sizeof nm, "backbone.%d.weight", i);
            tensor_add(&c, nm, 2, sw, 0, m->bparams + l->poff);
            if (l->bias) {
                snprintf(nm, sizeof nm, "backbone.%d.bias", i);
                tensor_add(&c, nm, 1, sb, 0, m->bparams + l->poff + (size_t)l->out * l->in);
            }
        } else if (l->kind == MLCL__ML_BN1D) {
            int64_t s1[1] = { l->in };
            static const char *const parts[4] = { "weight", "bias", "running_mean", "running_var" };
            for (int k = 0; k < 4; k++) {
                snprintf(nm, sizeof nm, "backbone.%d.%s", i, parts[k]);
                tensor_add(&c, nm, 1, s1, k >= 2, k < 2 ? m->bparams + l->poff + (size_t)k * l->in
                                                        : m->bstate + l->soff + (size_t)(k - 2) * l->in);
            }
        }
    }
    int64_t hw[2] = { m->c, m->h }, hb[1] = { m->c }, sd[1] = { m->d };
    tensor_add(&c, "head.weight", 2, hw, 0, m->head);
    tensor_add(&c, "head.bias", 1, hb, 0, m->head + (size_t)m->c * m->h);
    if (m->standardize) {
        tensor_add(&c, "scaler.mean", 1, sd, 1, m->mean);
        tensor_add(&c, "scaler.std", 1, sd, 1, m->std);
    }
    tensor_add(&c, "thresholds", 1, hb, 1, m->thr);
    if (c.fail) { mlcl__free(c.t); return mlcl__err(MLCL_ENOMEM, "model tensors: out of memory"); }
    *out = c.t;
    *count = c.n;
    return MLCL_OK;
}
