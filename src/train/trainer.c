/* The two-phase trainer: contrastive pretraining, BCE fine-tuning, evaluation,
 * checkpoints. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include "mlcl/train.h"
#include "mlcl/ops.h"
#include "cl/moco_internal.h"
#include "train/ckpt.h"
#include "kernels/pcgfill.h"
#include "kernels/gemm.h"
#include "nn/nn_internal.h"
#include "dist/comm_internal.h"
#include "train/trainer_internal.h"
#include "data/loader_internal.h"

static const char *FN_CREATE = "mlcl_trainer_create";

/* the address of a thread-local object names the calling thread */
static _Thread_local char tl_thread_token;

int mlcl__trainer_enter(mlcl_trainer *t, int readonly, int *held, const char *fn)
{
    int idle = 0;
    *held = 0;
    if (atomic_compare_exchange_strong(&t->busy, &idle, 1)) { *held = 1; return MLCL_OK; }
    if (readonly && atomic_load(&t->cb_thread) == (uintptr_t)&tl_thread_token) return MLCL_OK;
    return mlcl__err(MLCL_EBUSY, "%s: the trainer is in use by another call (%s)", fn,
                     atomic_load(&t->cb_thread) == (uintptr_t)&tl_thread_token
                         ? "this call comes from its progress callback" : "another thread");
}

void mlcl__trainer_leave(mlcl_trainer *t, int held)
{
    if (held) atomic_store(&t->busy, 0);
}

int mlcl_trainer_in_use(const mlcl_trainer *t, int *in_use)
{
    MLCL_CHECK_NULL_AS("mlcl_trainer_in_use", t, "trainer");
    MLCL_CHECK_NULL("mlcl_trainer_in_use", in_use);
    *in_use = atomic_load(&((mlcl_trainer *)t)->busy) != 0;
    return MLCL_OK;
}

int mlcl_train_options_init(mlcl_train_options *opts, unsigned int version)
{
    MLCL_CHECK_NULL("mlcl_train_options_init", opts);
    if (version != MLCL_TRAIN_OPTIONS_VERSION)
        return mlcl__err(MLCL_EVERSION, "mlcl_train_options_init: version %u is not %u", version, MLCL_TRAIN_OPTIONS_VERSION);
    static const mlcl_train_options d = MLCL_TRAIN_OPTIONS_INIT;
    memcpy(opts, &d, sizeof d); /* padding included: equals the _INIT bytes */
    return MLCL_OK;
}

int mlcl_train_options_preset(mlcl_train_options *opts, const char *preset)
{
    MLCL_CHECK_NULL("mlcl_train_options_preset", opts);
    MLCL_CHECK_NULL("mlcl_train_options_preset", preset);
    MLCL_CHECK_VERSION("mlcl_train_options_preset", opts, MLCL_TRAIN_OPTIONS_VERSION);
    mlcl_train_options d = MLCL_TRAIN_OPTIONS_INIT;
    d.method = opts->method;
    d.seed = opts->seed;
    d.threads = opts->threads;
    if (!strcmp(preset, "yeast")) {
        d.batch = 128;
        d.moco.queue_size = 256;
    } else if (!strcmp(preset, "scene")) {
        d.batch = 256;
        d.moco.queue_size = 1024;
    } else {
        return mlcl__err(MLCL_EINVAL, "mlcl_train_options_preset: unknown preset '%s' (yeast, scene)", preset);
    }
    *opts = d;
    return MLCL_OK;
}

static int phase_valid(const mlcl_phase_options *p, const char *name)
{
    if (p->epochs < 0) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.epochs must be >= 0 (got %d)", FN_CREATE, name, p->epochs);
    if (!(p->lr >= 0 && isfinite(p->lr))) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.lr must be finite and >= 0", FN_CREATE, name);
    if (!(p->weight_decay >= 0 && isfinite(p->weight_decay))) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.weight_decay must be finite and >= 0", FN_CREATE, name);
    if (!(p->head_lr_scale >= 0 && isfinite(p->head_lr_scale))) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.head_lr_scale must be finite and >= 0", FN_CREATE, name);
    if (!(p->mask_p >= 0 && p->mask_p < 1)) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.mask_p must be in [0, 1)", FN_CREATE, name);
    if (p->optim < MLCL_OPTIM_SGD || p->optim > MLCL_OPTIM_ADAMW) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.optim %d is not an MLCL_OPTIM_*", FN_CREATE, name, p->optim);
    if (p->sched < MLCL_SCHED_CONSTANT || p->sched > MLCL_SCHED_COSINE_WARM_RESTARTS) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.sched %d is not an MLCL_SCHED_*", FN_CREATE, name, p->sched);
    if (p->T_0 <= 0 || p->T_mult < 1) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.T_0 must be > 0 and T_mult >= 1", FN_CREATE, name);
    return MLCL_OK;
}

static float phase_lr(const mlcl_phase_options *p, int epoch)
{
    mlcl_sched_options s = MLCL_SCHED_OPTIONS_INIT;
    s.type = p->sched;
    s.base_lr = p->lr;
    s.T_0 = p->T_0;
    s.T_mult = p->T_mult;
    s.T_max = p->T_0;
    s.step_size = p->T_0;
    s.gamma = 0.1f;
    s.eta_min = p->eta_min;
    float lr = p->lr;
    if (mlcl_sched_lr(&s, (double)epoch, &lr) != MLCL_OK) lr = p->lr;
    return lr;
}

void mlcl_trainer_free(mlcl_trainer *t)
{
    if (!t) return;
    mlcl_moco_free(t->moco);
    mlcl_optim_free(t->ft);
    void *bufs[] = { t->x, t->mean, t->std, t->yp, t->perm, t->rows, t->x0, t->x1, t->tgt, t->h,
                     t->logits, t->grad_logits, t->grad_h, t->yb, t->xr, t->vscores, t->snap, t->thr, t->yown };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) mlcl__free(bufs[i]);
    mlcl__trainer_sparse_free(t);
    mlcl__free(t);
}

static void loss_for_method(mlcl_loss_options *l, int method)
{
    switch (method) {
    case MLCL_METHOD_MULSUPCON: l->method = MLCL_LOSS_MULSUPCON; break;
    case MLCL_METHOD_RLD: l->method = MLCL_LOSS_LD; l->variant = MLCL_LD_RLD; break;
    case MLCL_METHOD_SUPCON_ALL: l->method = MLCL_LOSS_SUPCON; l->mask = MLCL_MASK_ALL; break;
    case MLCL_METHOD_SUPCON_ANY: l->method = MLCL_LOSS_SUPCON; l->mask = MLCL_MASK_ANY; break;
    case MLCL_METHOD_NONE: /* the LD head is still needed for fine-tuning */
    case MLCL_METHOD_CLD:
    default: l->method = MLCL_LOSS_LD; l->variant = MLCL_LD_CLD; break;
    }
}

/* CRC-32 over any length (zlib takes uInt lengths) */
static uint32_t crc_bytes(uint32_t crc, const void *p, size_t len)
{
    const Bytef *b = p;
    for (size_t off = 0; off < len; off += (size_t)1 << 30) {
        size_t k = len - off < ((size_t)1 << 30) ? len - off : ((size_t)1 << 30);
        crc = (uint32_t)crc32(crc, b + off, (uInt)k);
    }
    return crc;
}

static int create_inner(mlcl_trainer *t, const mlcl_dataset *train, const mlcl_trainer_extra *ex)
{
    const mlcl_train_options *o = &t->o;
    int n, d, c;
    int sparse = 0; /* CSR rows: src/train/sparse_train.c */
    if (t->stream) { n = t->n; d = t->d; c = t->c; } /* set by mlcl_trainer_create_stream */
    else {
        MLCL_TRY(mlcl_dataset_dims(train, &n, &d, &c));
        MLCL_TRY(mlcl_dataset_is_sparse(train, &sparse));
    }
    if (sparse && ex && ex->pretrain_views)
        return mlcl__err(MLCL_EINVAL, "%s: the training set is sparse (CSR): no image views", FN_CREATE);
    if (n < 2) return mlcl__err(MLCL_EINVAL, "%s: the training set has %d rows; at least 2 are needed", FN_CREATE, n);
    t->n = n;
    t->d = d;
    t->c = c;
    t->dn = d;
    if (ex && ex->pretrain_views) {
        if (mlcl_dataset_image_shape(train, &t->ic, &t->ih, &t->iw) != MLCL_OK || t->ic <= 0)
            return mlcl__err(MLCL_EINVAL, "%s: extra->pretrain_views needs a training set with an image shape "
                             "(mlcl_dataset_image_shape)", FN_CREATE);
        t->img = 1;
        t->pre_v = *ex->pretrain_views;
        t->oh = t->pre_v.out_h > 0 ? t->pre_v.out_h : t->ih;
        t->ow = t->pre_v.out_w > 0 ? t->pre_v.out_w : t->iw;
        if (ex->finetune_views) {
            t->ft_aug = 1;
            t->ft_v = *ex->finetune_views;
            int fh = t->ft_v.out_h > 0 ? t->ft_v.out_h : t->ih, fw = t->ft_v.out_w > 0 ? t->ft_v.out_w : t->iw;
            if (fh != t->oh || fw != t->ow)
                return mlcl__err(MLCL_EINVAL, "%s: extra->finetune_views give %dx%d images, pretrain_views %dx%d: "
                                 "the network needs one size", FN_CREATE, fh, fw, t->oh, t->ow);
        }
        t->dn = t->ic * t->oh * t->ow;
        t->aug.pcg.state = 0;
        mlcl__pcg_seed(&t->aug.pcg, o->seed, 0x61756776ULL);
    }
    if (ex && ex->backbone) {
        int bin;
        MLCL_TRY(mlcl_encoder_in_dim(ex->backbone, &bin));
        if (bin != t->dn)
            return mlcl__err(MLCL_EINVAL, "%s: extra->backbone takes rows of %d floats but the %s %d", FN_CREATE, bin,
                             t->img ? "views have" : "data have", t->dn);
    }
    t->words = (int)mlcl_label_words(c);
    t->batch = o->batch < n ? o->batch : n;
    mlcl_moco_options mo = o->moco;
    mo.in_dim = t->dn;
    mo.n_labels = c;
    mo.max_batch = t->batch;
    mo.seed = o->seed;
    loss_for_method(&mo.loss, o->method);
    mo.optim.type = o->pretrain.optim;
    mo.optim.lr = o->pretrain.lr;
    mo.optim.weight_decay = o->pretrain.weight_decay;
    if (ex && ex->backbone) MLCL_TRY(mlcl_encoder_param_count(ex->backbone, &t->backbone_np));
    {
        /* every size against the memory this process may use, before allocating */
        mlcl__mem_est est = { 0 };
        const double F = sizeof(float), B = t->batch;
        int hd = mo.hidden[mo.n_hidden > 0 && mo.n_hidden <= 8 ? mo.n_hidden - 1 : 0];
        if (ex && ex->backbone) MLCL_TRY(mlcl_encoder_out_dim(ex->backbone, &hd));
        mlcl__est_add(&est, (sparse || t->stream ? 0.0 : (double)n * d * F) + (double)n * t->words * 8 + (double)n * 4,
                      "the standardised copy of the training set", "%d rows x %d features", n, d);
        mlcl__est_add(&est, B * ((sparse ? 0.0 : (double)t->dn * 2) + (t->img ? d : 0) + (double)c * 3 + (double)hd * 2) * F + B * t->words * 8,
                      "the batch workspaces", "batch %d", t->batch);
        /* invalid MoCo options are reported by mlcl_moco_create below */
        if (mo.n_hidden >= 1 && mo.n_hidden <= 8 && mo.queue_size > 0 && mo.proj_dim > 0 && mo.max_batch > 0)
            mlcl__moco_estimate(&mo, hd, t->backbone_np + (ex && ex->backbone), &est);
        MLCL_TRY(mlcl__mem_check(&est, FN_CREATE));
    }
    const float *x = t->stream ? NULL : mlcl_dataset_features(train);
    t->y = t->stream ? t->yown : mlcl_dataset_labels(train);
    size_t nd = 0;
    if (sparse) MLCL_TRY(mlcl__trainer_sparse_setup(t, train, FN_CREATE)); /* (refuses standardize) */
    if (!sparse && mlcl__mul_size((size_t)n, (size_t)d, &nd)) return mlcl__err(MLCL_EOVERFLOW, "%s: %d x %d features overflow", FN_CREATE, n, d);
    if (!t->stream && !sparse) MLCL_TRY(mlcl__alloc_array((void **)&t->x, nd, sizeof(float), FN_CREATE));
    MLCL_TRY(mlcl__alloc_array((void **)&t->mean, (size_t)d, sizeof(float), FN_CREATE));
    MLCL_TRY(mlcl__alloc_array((void **)&t->std, (size_t)d, sizeof(float), FN_CREATE));
    if (t->stream) {
        /* the loaders' per-channel normalisation, applied by infer() to raw [0, 1] images */
        float m[3], sd[3];
        MLCL_TRY(mlcl_loader_normalization(t->src[t->src[0] ? 0 : 1], m, sd));
        size_t plane = (size_t)t->oh * (size_t)t->ow;
        for (int j = 0; j < d; j++) { t->mean[j] = m[j / plane]; t->std[j] = sd[j / plane]; }
    } else if (!sparse) {
        memcpy(t->x, x, nd * sizeof(float));
    }
    if (t->stream) {
        /* nothing to standardise */
    } else if (o->standardize && !t->img) {
        /* population statistics, as scikit-learn's StandardScaler; std 0 -> 1 */
        for (int j = 0; j < d; j++) {
            double s = 0, s2 = 0;
            for (int i = 0; i < n; i++) s += x[(size_t)i * d + j];
            double mu = s / n;
            for (int i = 0; i < n; i++) { double v = x[(size_t)i * d + j] - mu; s2 += v * v; }
            double sd = sqrt(s2 / n);
            t->mean[j] = (float)mu;
            t->std[j] = sd > 0 ? (float)sd : 1.0f;
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) t->x[(size_t)i * d + j] = (t->x[(size_t)i * d + j] - t->mean[j]) / t->std[j];
    } else {
        for (int j = 0; j < d; j++) { t->mean[j] = 0; t->std[j] = 1; }
    }
    if (!t->stream && !sparse && !mlcl__all_finite(t->x, nd)) return mlcl__err(MLCL_ENUMERIC, "%s: the training features contain NaN or Inf", FN_CREATE);
    MLCL_TRY(mlcl__alloc_array((void **)&t->yp, (size_t)n * t->words, sizeof(uint64_t), FN_CREATE));
    MLCL_TRY(mlcl_labels_pack(t->yp, t->y, n, c));

    MLCL_TRY(mlcl_moco_create_with_backbone(&t->moco, &mo, ex ? ex->backbone : NULL));
    mlcl_optim_options fo = MLCL_OPTIM_OPTIONS_INIT;
    fo.type = o->finetune.optim;
    fo.lr = o->finetune.lr;
    fo.weight_decay = o->finetune.weight_decay;
    MLCL_TRY(mlcl_optim_create(&t->ft, &fo));
    int nets[2] = { MOCO_ENC_Q, MOCO_LD };
    for (int i = 0; i < 2; i++) {
        float *p, *g;
        size_t np;
        mlcl_encoder *e = t->moco->net[nets[i]];
        MLCL_TRY(mlcl_encoder_param_count(e, &np));
        MLCL_TRY(mlcl_encoder_params_ptr(e, &p));
        MLCL_TRY(mlcl_encoder_grads_ptr(e, &g));
        MLCL_TRY(mlcl_optim_add_group(t->ft, p, g, np, o->finetune.lr * (i ? o->finetune.head_lr_scale : 1.0f),
                                      o->finetune.weight_decay, NULL));
    }
    /* pretraining groups: backbone, projection head, LD head */
    MLCL_TRY(mlcl_optim_set_lr(t->moco->optim, 1, o->pretrain.lr * o->pretrain.head_lr_scale));
    MLCL_TRY(mlcl_optim_set_lr(t->moco->optim, 2, o->pretrain.lr * o->pretrain.head_lr_scale));

    size_t B = (size_t)t->batch;
    int hd = t->moco->hdim;
    MLCL_TRY(mlcl__alloc_array((void **)&t->perm, (size_t)n, sizeof(int), FN_CREATE));
    MLCL_TRY(mlcl__alloc_array((void **)&t->rows, B, sizeof(int), FN_CREATE));
    /* (sparse: x0 only for dense inference, in_chunk rows; the batches are CSR) */
    MLCL_TRY(mlcl__alloc_array((void **)&t->x0, (sparse ? (size_t)t->in_chunk : B) * t->dn, sizeof(float), FN_CREATE));
    MLCL_TRY(mlcl__alloc_array((void **)&t->x1, sparse ? 1 : B * t->dn, sizeof(float), FN_CREATE));
    if (t->img && !t->stream) MLCL_TRY(mlcl__alloc_array((void **)&t->xr, B * d, sizeof(float), FN_CREATE));
    MLCL_TRY(mlcl__alloc_array((void **)&t->tgt, B * c, sizeof(float), FN_CREATE));
    MLCL_TRY(mlcl__alloc_array((void **)&t->logits, B * c, sizeof(float), FN_CREATE));
    MLCL_TRY(mlcl__alloc_array((void **)&t->grad_logits, B * c, sizeof(float), FN_CREATE));
    MLCL_TRY(mlcl__alloc_array((void **)&t->h, B * hd, sizeof(float), FN_CREATE));
    MLCL_TRY(mlcl__alloc_array((void **)&t->grad_h, B * hd, sizeof(float), FN_CREATE));
    MLCL_TRY(mlcl__alloc_array((void **)&t->yb, B * t->words, sizeof(uint64_t), FN_CREATE));
    mlcl__pcg_seed(&t->rng, o->seed, 0x747261696eULL);
    t->phase = (o->method == MLCL_METHOD_NONE || o->pretrain.epochs == 0) ? 2 : 1;
    if (t->phase == 2 && o->finetune.epochs == 0) t->phase = 3;
    t->pos = -1; /* no permutation drawn yet for this epoch */
    if (t->stream) t->data_crc = crc_bytes(t->stream_crc, t->y, (size_t)n * c);
    else if (sparse) t->data_crc = mlcl__trainer_sparse_crc(t);
    else t->data_crc = crc_bytes(crc_bytes((uint32_t)crc32(0L, Z_NULL, 0), x, nd * sizeof(float)), t->y, (size_t)n * c);
    return MLCL_OK;
}

int mlcl_trainer_extra_init(mlcl_trainer_extra *extra, unsigned int version)
{
    MLCL_CHECK_NULL("mlcl_trainer_extra_init", extra);
    if (version != MLCL_TRAINER_EXTRA_VERSION)
        return mlcl__err(MLCL_EVERSION, "mlcl_trainer_extra_init: version %u is not %u", version,
                         (unsigned)MLCL_TRAINER_EXTRA_VERSION);
    static const mlcl_trainer_extra d = MLCL_TRAINER_EXTRA_INIT;
    memcpy(extra, &d, sizeof d);
    return MLCL_OK;
}

int mlcl_trainer_create(mlcl_trainer **out, const mlcl_train_options *opts, const mlcl_dataset *train)
{
    return mlcl_trainer_create_ex(out, opts, train, NULL);
}

int mlcl_trainer_create_ex(mlcl_trainer **out, const mlcl_train_options *opts, const mlcl_dataset *train,
                           const mlcl_trainer_extra *extra)
{
    MLCL_CHECK_NULL(FN_CREATE, out);
    *out = NULL;
    MLCL_CHECK_NULL(FN_CREATE, opts);
    MLCL_CHECK_NULL(FN_CREATE, train);
    MLCL_CHECK_VERSION(FN_CREATE, opts, MLCL_TRAIN_OPTIONS_VERSION);
    if (opts->method < MLCL_METHOD_NONE || opts->method > MLCL_METHOD_SUPCON_ANY)
        return mlcl__err(MLCL_EINVAL, "%s: opts->method %d is not an mlcl_method", FN_CREATE, opts->method);
    if (opts->batch < 2) return mlcl__err(MLCL_EINVAL, "%s: opts->batch must be >= 2 (got %d)", FN_CREATE, opts->batch);
    if (opts->threads < 0 || opts->threads > MLCL_MAX_THREADS)
        return mlcl__err(MLCL_EINVAL, "%s: opts->threads must be in 0..%d (got %d)", FN_CREATE, MLCL_MAX_THREADS, opts->threads);
    if (opts->standardize != 0 && opts->standardize != 1) return mlcl__err(MLCL_EINVAL, "%s: opts->standardize must be 0 or 1 (got %d)", FN_CREATE, opts->standardize);
    if (opts->stop_on_nonfinite != 0 && opts->stop_on_nonfinite != 1) return mlcl__err(MLCL_EINVAL, "%s: opts->stop_on_nonfinite must be 0 or 1 (got %d)", FN_CREATE, opts->stop_on_nonfinite);
    MLCL_TRY(phase_valid(&opts->pretrain, "pretrain"));
    MLCL_TRY(phase_valid(&opts->finetune, "finetune"));
    if (extra) MLCL_CHECK_VERSION(FN_CREATE, extra, MLCL_TRAINER_EXTRA_VERSION);
    if (extra && extra->finetune_views && !extra->pretrain_views)
        return mlcl__err(MLCL_EINVAL, "%s: extra->finetune_views needs extra->pretrain_views (they set the image size)", FN_CREATE);
    mlcl_trainer *t = mlcl__calloc(1, sizeof *t);
    if (!t) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", FN_CREATE);
    t->o = *opts;
    t->o_user = *opts;
    t->best_epoch = -1;
    t->best_value = t->last_value = NAN;
    if (opts->threads > 0) mlcl_set_num_threads(opts->threads);
    int rc = create_inner(t, train, extra);
    if (rc != MLCL_OK) { mlcl_trainer_free(t); return rc; }
    *out = t;
    return MLCL_OK;
}

int mlcl_trainer_set_callback(mlcl_trainer *t, mlcl_progress_fn fn, void *ctx)
{
    MLCL_CHECK_NULL_AS("mlcl_trainer_set_callback", t, "trainer");
    t->cb = fn;
    t->cb_ctx = ctx;
    return MLCL_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* every element zeroed independently with probability p */
static void mask_view(mlcl__pcg *r, float *dst, const float *src, size_t len, float p)
{
    if (p <= 0) { memcpy(dst, src, len * sizeof(float)); return; }
    /* one draw per element, u < p on integers (kernels/pcgfill.h): the same
     * masks as mlcl__pcg_uniform(r) < p, drawn with overlapped generators */
    uint32_t thr = mlcl__pcg_threshold(p), u[PCGFILL_CHUNK];
    for (size_t k0 = 0; k0 < len; k0 += PCGFILL_CHUNK) {
        size_t m = len - k0 < PCGFILL_CHUNK ? len - k0 : PCGFILL_CHUNK;
        mlcl__pcg_fill(r, u, m);
        for (size_t i = 0; i < m; i++) dst[k0 + i] = (u[i] >> 8) < thr ? 0.0f : src[k0 + i];
    }
}

static void gather(mlcl_trainer *t, int k)
{
    for (int i = 0; i < k; i++) {
        int r = t->rows[i];
        memcpy(t->yb + (size_t)i * t->words, t->yp + (size_t)r * t->words, sizeof(uint64_t) * t->words);
    }
}

static int report(mlcl_trainer *t, int end_of_epoch, const mlcl_loss_parts *lp, double loss, float lr, double elapsed)
{
    if (!t->cb) return 0;
    mlcl_progress p;
    memset(&p, 0, sizeof p);
    p.phase = t->phase;
    p.epoch = t->epoch;
    p.epochs = t->phase == 1 ? t->o.pretrain.epochs : t->o.finetune.epochs;
    p.step = t->step;
    p.end_of_epoch = end_of_epoch;
    double nb = t->ep_batches > 0 ? (double)t->ep_batches : 1.0;
    if (end_of_epoch) {
        p.loss = t->ep_loss / nb; p.con = t->ep_con / nb; p.G = t->ep_G / nb; p.H = t->ep_H / nb; p.wreg = t->ep_W / nb;
    } else {
        p.loss = loss;
        if (lp) { p.con = lp->con; p.G = lp->G; p.H = lp->H; p.wreg = lp->wreg; }
    }
    p.lr = lr;
    p.samples_per_s = elapsed > 0 ? (double)t->ep_samples / elapsed : 0.0;
    uintptr_t prev = atomic_exchange(&t->cb_thread, (uintptr_t)&tl_thread_token);
    int r = t->cb(&p, t->cb_ctx);
    atomic_store(&t->cb_thread, prev);
    return r;
}

/* A fine-tuning batch of a data-parallel trainer: this rank's rows lo .. hi-1
 * of the k rows; the BCE mean's gradient of the share is weighted by its
 * share of the batch and summed over the ranks, which gives the gradient of
 * the mean over the whole batch. */
static int finetune_shard(mlcl_trainer *t, int k, double *loss_out, mlcl_loss_parts *lp)
{
    const char *fn = "mlcl_trainer_run";
    mlcl_encoder *enc = t->moco->net[MOCO_ENC_Q], *ld = t->moco->net[MOCO_LD];
    const int R = t->comm.size, r = t->comm.rank;
    int lo = (int)((long long)k * r / R), hi = (int)((long long)k * (r + 1) / R), kn = hi - lo;
    size_t c = (size_t)t->c;
    for (int i = lo; i < hi; i++)
        for (size_t j = 0; j < c; j++) t->tgt[(i - lo) * c + j] = (float)t->y[(size_t)t->rows[i] * c + j];
    MLCL_TRY(mlcl_encoder_zero_grad(enc));
    MLCL_TRY(mlcl_encoder_zero_grad(ld));
    mlcl__encoder_set_rows(enc, lo, k);
    mlcl__encoder_set_rows(ld, lo, k);
    float loss = 0;
    int rc = MLCL_OK;
    if (kn > 0) {
        if ((rc = mlcl_encoder_forward(enc, kn, t->x0 + (size_t)lo * t->dn, t->h)) == MLCL_OK &&
            (rc = mlcl_encoder_forward(ld, kn, t->h, t->logits)) == MLCL_OK) {
            memset(t->grad_logits, 0, sizeof(float) * kn * c);
            rc = mlcl_bce_with_logits(&loss, t->grad_logits, t->logits, t->tgt, kn, (int)c);
        }
    }
    double red[2] = { rc == MLCL_OK ? (double)loss * kn / k : 0.0, rc != MLCL_OK };
    MLCL_TRY(mlcl__comm_sum_f64(&t->comm, red, 2, fn, "fine-tuning loss"));
    if (rc) return mlcl__err(rc, "fine-tuning epoch %d step %lld: %s", t->epoch, t->step, mlcl_last_error());
    if (red[1] != 0) return mlcl__err(MLCL_ENUMERIC, "fine-tuning epoch %d step %lld: another rank failed", t->epoch, t->step);
    if (!isfinite(red[0])) return mlcl__err(MLCL_ENUMERIC, "fine-tuning epoch %d step %lld: BCE loss is not finite", t->epoch, t->step);
    if (kn > 0) {
        float wgt = (float)kn / (float)k;
        for (size_t i = 0; i < (size_t)kn * c; i++) t->grad_logits[i] *= wgt;
        MLCL_TRY(mlcl_encoder_backward(ld, kn, t->grad_logits, t->grad_h));
        MLCL_TRY(mlcl_encoder_backward(enc, kn, t->grad_h, NULL));
    }
    mlcl_encoder *nets[2] = { ld, enc };
    for (int i = 0; i < 2; i++) {
        float *g;
        size_t np;
        MLCL_TRY(mlcl_encoder_grads_ptr(nets[i], &g));
        MLCL_TRY(mlcl_encoder_param_count(nets[i], &np));
        if (np) MLCL_TRY(mlcl__comm_sum_f32(&t->comm, g, np, fn, i ? "backbone gradients" : "LD head gradients"));
    }
    rc = mlcl_optim_step(t->ft);
    if (rc) return mlcl__err(rc, "fine-tuning epoch %d step %lld: %s", t->epoch, t->step, mlcl_last_error());
    *loss_out = red[0];
    memset(lp, 0, sizeof *lp);
    lp->total = red[0];
    return MLCL_OK;
}

/* One batch of the current phase. */
static int train_batch(mlcl_trainer *t, int k, float lr, double *loss_out, mlcl_loss_parts *lp)
{
    if (t->sp_ptr) return mlcl__trainer_sparse_batch(t, k, loss_out, lp);
    size_t d = (size_t)t->d;
    const mlcl_phase_options *ph = t->phase == 1 ? &t->o.pretrain : &t->o.finetune;
    if (t->stream) {
        /* x0 (and x1) were filled from the loader by stream_batches() */
    } else if (t->img) {
        /* SimCLR views (query view first, then key view, per batch) */
        for (int i = 0; i < k; i++) memcpy(t->xr + i * d, t->x + (size_t)t->rows[i] * d, d * sizeof(float));
        if (t->phase == 1) {
            MLCL_TRY(mlcl_image_simclr(t->x0, t->xr, k, t->ic, t->ih, t->iw, &t->pre_v, &t->aug));
            MLCL_TRY(mlcl_image_simclr(t->x1, t->xr, k, t->ic, t->ih, t->iw, &t->pre_v, &t->aug));
        } else if (t->ft_aug) {
            MLCL_TRY(mlcl_image_simclr(t->x0, t->xr, k, t->ic, t->ih, t->iw, &t->ft_v, &t->aug));
        } else if (t->oh != t->ih || t->ow != t->iw) {
            MLCL_TRY(mlcl_image_resize(t->x0, t->oh, t->ow, t->xr, k, t->ic, t->ih, t->iw));
        } else {
            memcpy(t->x0, t->xr, (size_t)k * d * sizeof(float));
        }
    } else {
        for (int i = 0; i < k; i++) {
            const float *src = t->x + (size_t)t->rows[i] * d;
            mask_view(&t->rng, t->x0 + i * d, src, d, ph->mask_p);
        }
    }
    if (t->phase == 1) {
        if (!t->img)
        for (int i = 0; i < k; i++) {
            const float *src = t->x + (size_t)t->rows[i] * d;
            mask_view(&t->rng, t->x1 + i * d, src, d, ph->mask_p);
        }
        gather(t, k);
        int rc;
        if (t->has_comm) {
            /* every rank built the whole batch (same generators); it trains on its share */
            int kn = k / t->comm.size, off = t->comm.rank * kn;
            rc = mlcl_moco_step(t->moco, kn, t->x0 + (size_t)off * t->dn, t->x1 + (size_t)off * t->dn,
                                t->yb + (size_t)off * t->words, lp);
        } else {
            rc = mlcl_moco_step(t->moco, k, t->x0, t->x1, t->yb, lp);
        }
        if (rc == MLCL_ENUMERIC)
            return mlcl__err(rc, "pretraining epoch %d step %lld: %s", t->epoch, t->step, mlcl_last_error());
        *loss_out = lp->total;
        return rc;
    }
    (void)lr;
    if (t->has_comm) return finetune_shard(t, k, loss_out, lp);
    mlcl_encoder *enc = t->moco->net[MOCO_ENC_Q], *ld = t->moco->net[MOCO_LD];
    size_t c = (size_t)t->c;
    for (int i = 0; i < k; i++)
        for (size_t j = 0; j < c; j++) t->tgt[i * c + j] = (float)t->y[(size_t)t->rows[i] * c + j];
    MLCL_TRY(mlcl_encoder_zero_grad(enc));
    MLCL_TRY(mlcl_encoder_zero_grad(ld));
    MLCL_TRY(mlcl_encoder_forward(enc, k, t->x0, t->h));
    MLCL_TRY(mlcl_encoder_forward(ld, k, t->h, t->logits));
    float loss;
    memset(t->grad_logits, 0, sizeof(float) * k * c);
    int rc = mlcl_bce_with_logits(&loss, t->grad_logits, t->logits, t->tgt, k, (int)c);
    if (rc == MLCL_OK && !isfinite(loss)) rc = mlcl__err(MLCL_ENUMERIC, "fine-tuning: BCE loss is not finite");
    if (rc) return mlcl__err(rc, "fine-tuning epoch %d step %lld: %s", t->epoch, t->step, mlcl_last_error());
    MLCL_TRY(mlcl_encoder_backward(ld, k, t->grad_logits, t->grad_h));
    MLCL_TRY(mlcl_encoder_backward(enc, k, t->grad_h, NULL));
    rc = mlcl_optim_step(t->ft);
    if (rc) return mlcl__err(rc, "fine-tuning epoch %d step %lld: %s", t->epoch, t->step, mlcl_last_error());
    *loss_out = loss;
    memset(lp, 0, sizeof *lp);
    lp->total = loss;
    return MLCL_OK;
}

static void set_phase_lr(mlcl_trainer *t)
{
    const mlcl_phase_options *ph = t->phase == 1 ? &t->o.pretrain : &t->o.finetune;
    float lr = phase_lr(ph, t->epoch);
    mlcl_optim *o = t->phase == 1 ? t->moco->optim : t->ft;
    int groups;
    mlcl_optim_num_groups(o, &groups);
    mlcl_optim_set_lr(o, 0, lr);
    for (int g = 1; g < groups; g++) mlcl_optim_set_lr(o, g, lr * ph->head_lr_scale);
}

static void enter_phase_modes(mlcl_trainer *t)
{
    mlcl_encoder_set_training(t->moco->net[MOCO_ENC_Q], 1);
    mlcl_encoder_set_training(t->moco->net[MOCO_PROJ_Q], 1);
    mlcl_encoder_set_training(t->moco->net[MOCO_LD], 1);
}

static int infer(mlcl_trainer *t, int n, const float *x, float *out, int dists, const char *fn);

/* Sigmoid scores of a dataset's rows, dense or sparse (CSR). */
static int infer_set(mlcl_trainer *t, const mlcl_dataset *ds, int n, float *out, const char *fn)
{
    const float *x = mlcl_dataset_features(ds);
    return x ? infer(t, n, x, out, 0, fn) : mlcl__trainer_sparse_scores(t, ds, out, fn);
}

/* Copies the backbone and LD head (parameters, then BatchNorm statistics)
 * into t->snap, or back from it. */
static int snapshot_io(mlcl_trainer *t, int restore)
{
    mlcl_encoder *nets[2] = { t->moco->net[MOCO_ENC_Q], t->moco->net[MOCO_LD] };
    float *s = t->snap;
    for (int i = 0; i < 2; i++) {
        size_t np = t->snap_n[2 * i], ns = t->snap_n[2 * i + 1];
        if (restore) {
            MLCL_TRY(mlcl_encoder_set_params(nets[i], s, np));
            if (ns) MLCL_TRY(mlcl_encoder_set_state(nets[i], s + np, ns));
        } else {
            MLCL_TRY(mlcl_encoder_get_params(nets[i], s, np));
            if (ns) MLCL_TRY(mlcl_encoder_get_state(nets[i], s + np, ns));
        }
        s += np + ns;
    }
    return MLCL_OK;
}

static int selecting(const mlcl_trainer *t)
{
    return t->val && t->vo.select_metric != MLCL_SELECT_NONE;
}

/* The select metric of the current network on the validation rows. */
static int val_metric(mlcl_trainer *t, double *value, const char *fn)
{
    int c = t->c;
    MLCL_TRY(infer_set(t, t->val, t->nv, t->vscores, fn));
    mlcl_metrics m = MLCL_METRICS_INIT;
    MLCL_TRY(mlcl_metrics_sweep(&m, NULL, t->nv, c, t->vscores, mlcl_dataset_labels(t->val)));
    switch (t->vo.select_metric) {
    case MLCL_METRIC_HA: *value = m.HA; break;
    case MLCL_METRIC_EBF1: *value = m.ebF1; break;
    case MLCL_METRIC_MIF1: *value = m.miF1; break;
    case MLCL_METRIC_MAF1: *value = m.maF1; break;
    case MLCL_METRIC_P_AT_1: *value = m.p_at_1; break;
    default: *value = m.mAP; break;
    }
    return MLCL_OK;
}

/* After fine-tuning epoch t->epoch: its validation value; a new best is copied. */
static int val_epoch_end(mlcl_trainer *t)
{
    const char *fn = "mlcl_trainer_run";
    if (selecting(t)) {
        double v;
        int rc = val_metric(t, &v, fn);
        if (rc) return mlcl__err(rc, "fine-tuning epoch %d: validation: %s", t->epoch, mlcl_last_error());
        t->last_value = v;
        if (t->best_epoch < 0 || v > t->best_value) { /* NaN is never a new best */
            MLCL_TRY(snapshot_io(t, 0));
            t->best_epoch = t->epoch;
            t->best_value = v;
        }
    }
    t->vs_epochs = t->epoch + 1;
    return MLCL_OK;
}

/* Fine-tuning is over: the best epoch back, thresholds on validation. */
static int val_finish(mlcl_trainer *t)
{
    const char *fn = "mlcl_trainer_run";
    if (selecting(t) && t->best_epoch >= 0) MLCL_TRY(snapshot_io(t, 1));
    if (t->vo.thresholds) {
        int rc = infer_set(t, t->val, t->nv, t->vscores, fn);
        if (rc == MLCL_OK)
            rc = mlcl_metrics_choose_thresholds(t->thr, &t->thr_global, NULL, t->nv, t->c, t->vscores,
                                                mlcl_dataset_labels(t->val));
        if (rc) return mlcl__err(rc, "end of fine-tuning: choosing thresholds on validation: %s", mlcl_last_error());
        for (int j = 0; j < t->c; j++) /* sigmoid scores: already in [0, 1]; kept there for the model */
            t->thr[j] = t->thr[j] < 0 ? 0.0f : t->thr[j] > 1 ? 1.0f : t->thr[j];
        t->thr_global = t->thr_global < 0 ? 0.0f : t->thr_global > 1 ? 1.0f : t->thr_global;
        if (t->vo.thresholds == MLCL_THRESHOLDS_GLOBAL)
            for (int j = 0; j < t->c; j++) t->thr[j] = t->thr_global;
        t->thr_ready = 1;
    }
    return MLCL_OK;
}

/* Runs the rest of the current epoch. */
/* The batches of one epoch from the phase's loader (mlcl_trainer_create_stream);
 * t->pos counts the loader's batches. Mirrors the loop of run_epoch(). */
static int stream_batches(mlcl_trainer *t, float lr, double t0)
{
    mlcl_loader *L = t->src[t->phase - 1];
    long long nb, lb;
    int le;
    MLCL_TRY(mlcl_loader_batches_per_epoch(L, &nb));
    MLCL_TRY(mlcl_loader_position(L, &le, &lb));
    if (le != t->epoch || lb != t->pos) MLCL_TRY(mlcl_loader_seek(L, t->epoch, t->pos)); /* resumed, or a new phase */
    size_t dn = (size_t)t->dn;
    while (t->pos < nb) {
        mlcl_loader_batch b;
        int rc = mlcl_loader_next(L, &b);
        if (rc) return mlcl__err(rc, "mlcl_trainer_run: phase %d epoch %d batch %d: %s", t->phase, t->epoch, t->pos,
                                 mlcl_last_error());
        int k = b.n;
        if (k < 2 || (t->phase == 1 && k < t->batch) || (t->has_comm && k < t->comm.size)) { t->pos++; continue; }
        memcpy(t->rows, b.rows, sizeof(int) * (size_t)k);
        memcpy(t->x0, b.x, (size_t)k * dn * sizeof(float));
        if (t->phase == 1) memcpy(t->x1, b.x2, (size_t)k * dn * sizeof(float));
        double loss = 0;
        mlcl_loss_parts lp;
        memset(&lp, 0, sizeof lp);
        int blas_prev = mlcl__blas_single_begin();
        rc = train_batch(t, k, lr, &loss, &lp);
        mlcl__blas_single_end(blas_prev);
        if (rc) {
            if (rc == MLCL_ENUMERIC && !t->o.stop_on_nonfinite && t->phase == 1) {
                t->o.pretrain.lr *= 0.5f;
                set_phase_lr(t);
                t->pos++;
                continue;
            }
            return rc;
        }
        t->pos++;
        t->step++;
        t->ep_loss += loss; t->ep_con += lp.con; t->ep_G += lp.G; t->ep_H += lp.H; t->ep_W += lp.wreg;
        t->ep_batches++;
        t->ep_samples += k;
        if (report(t, 0, &lp, loss, lr, now_s() - t0)) {
            if (t->phase == 1) t->t_pre += now_s() - t0; else t->t_fin += now_s() - t0;
            return mlcl__err(MLCL_EINTERRUPTED, "mlcl_trainer_run: stopped by the progress callback at phase %d epoch %d step %lld",
                             t->phase, t->epoch, t->step);
        }
    }
    return MLCL_OK;
}

static int run_epoch(mlcl_trainer *t)
{
    const mlcl_phase_options *ph = t->phase == 1 ? &t->o.pretrain : &t->o.finetune;
    if (t->pos < 0) {
        if (!t->stream) mlcl__pcg_permutation(&t->rng, t->perm, t->n);
        t->pos = 0;
        t->ep_loss = t->ep_con = t->ep_G = t->ep_H = t->ep_W = 0;
        t->ep_batches = t->ep_samples = 0;
    }
    enter_phase_modes(t);
    set_phase_lr(t);
    float lr;
    mlcl_optim_get_lr(t->phase == 1 ? t->moco->optim : t->ft, 0, &lr);
    double t0 = now_s(), base_elapsed = 0;
    if (t->stream) MLCL_TRY(stream_batches(t, lr, t0));
    else
    while (t->n - t->pos >= 2) { /* a last batch of one row is dropped (batch statistics need 2) */
        int k = t->n - t->pos < t->batch ? t->n - t->pos : t->batch;
        if (t->phase == 1 && k < t->batch && t->pos > 0) break; /* pretraining drops the ragged tail */
        if (t->has_comm && k < t->comm.size) break; /* a tail smaller than the ranks: dropped */
        memcpy(t->rows, t->perm + t->pos, sizeof(int) * k);
        double loss = 0;
        mlcl_loss_parts lp;
        memset(&lp, 0, sizeof lp);
        /* GEMMs single-threaded, as inside mlcl_moco_step (docs/performance.md) */
        int blas_prev = mlcl__blas_single_begin();
        int rc = train_batch(t, k, lr, &loss, &lp);
        mlcl__blas_single_end(blas_prev);
        if (rc) {
            if (rc == MLCL_ENUMERIC && !t->o.stop_on_nonfinite && t->phase == 1) {
                /* roll back (done by mlcl_moco_step) and halve the learning rate */
                t->o.pretrain.lr *= 0.5f;
                set_phase_lr(t);
                t->pos += k;
                continue;
            }
            return rc;
        }
        t->pos += k;
        t->step++;
        t->ep_loss += loss; t->ep_con += lp.con; t->ep_G += lp.G; t->ep_H += lp.H; t->ep_W += lp.wreg;
        t->ep_batches++;
        t->ep_samples += k;
        double el = now_s() - t0 + base_elapsed;
        if (report(t, 0, &lp, loss, lr, el)) {
            if (t->phase == 1) t->t_pre += now_s() - t0; else t->t_fin += now_s() - t0;
            return mlcl__err(MLCL_EINTERRUPTED, "mlcl_trainer_run: stopped by the progress callback at phase %d epoch %d step %lld",
                             t->phase, t->epoch, t->step);
        }
    }
    double el = now_s() - t0;
    if (t->phase == 1) t->t_pre += el; else t->t_fin += el;
    int ft = t->phase == 2;
    if (ft && t->val) MLCL_TRY(val_epoch_end(t)); /* before the report: the callback may read it */
    int stop = report(t, 1, NULL, 0, lr, el);
    /* advance */
    t->pos = -1;
    t->epoch++;
    /* early stopping: patience epochs without a new best */
    int early = ft && selecting(t) && t->vo.patience > 0 && t->epoch < ph->epochs &&
                t->epoch - 1 - t->best_epoch >= t->vo.patience;
    if (t->epoch >= ph->epochs || early) {
        t->end_step[t->phase - 1] = t->step;
        t->epoch = 0;
        t->step = 0;
        t->phase++;
        if (t->phase == 2 && t->o.finetune.epochs == 0) t->phase = 3;
        if (t->phase == 3 && t->val) MLCL_TRY(val_finish(t));
    }
    if (stop)
        return mlcl__err(MLCL_EINTERRUPTED, "mlcl_trainer_run: stopped by the progress callback after an epoch");
    return MLCL_OK;
}

int mlcl_trainer_run_epochs(mlcl_trainer *t, int epochs, int *done)
{
    const char *fn = "mlcl_trainer_run_epochs";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    if (epochs < 0) return mlcl__err(MLCL_EINVAL, "%s: epochs must be >= 0 (got %d)", fn, epochs);
    int held, rc = MLCL_OK;
    MLCL_TRY(mlcl__trainer_enter(t, 0, &held, fn));
    for (int e = 0; e < epochs && t->phase < 3 && rc == MLCL_OK; e++) rc = run_epoch(t);
    if (rc == MLCL_OK && done) *done = t->phase >= 3;
    mlcl__trainer_leave(t, held);
    return rc;
}

int mlcl_trainer_run(mlcl_trainer *t)
{
    const char *fn = "mlcl_trainer_run";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    int held, rc = MLCL_OK;
    MLCL_TRY(mlcl__trainer_enter(t, 0, &held, fn));
    while (t->phase < 3 && rc == MLCL_OK) rc = run_epoch(t);
    mlcl__trainer_leave(t, held);
    return rc;
}

/* Forward in eval mode over rows of raw features, chunked by the batch size. */
static int infer(mlcl_trainer *t, int n, const float *x, float *out, int dists, const char *fn)
{
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    MLCL_CHECK_NULL(fn, x);
    MLCL_CHECK_NULL_AS(fn, out, dists ? "dists" : "scores");
    if (n <= 0) return mlcl__err(MLCL_EINVAL, "%s: n must be > 0 (got %d)", fn, n);
    mlcl_encoder *enc = t->moco->net[MOCO_ENC_Q], *ld = t->moco->net[MOCO_LD];
    int tr_enc, tr_ld;
    mlcl_encoder_get_training(enc, &tr_enc);
    mlcl_encoder_get_training(ld, &tr_ld);
    mlcl_encoder_set_training(enc, 0);
    mlcl_encoder_set_training(ld, 0);
    int rc = MLCL_OK;
    size_t d = (size_t)t->d, c = (size_t)t->c;
    const int chunk = t->sp_ptr ? t->in_chunk : t->batch; /* (x0's rows) */
    for (int s = 0; s < n && rc == MLCL_OK; s += chunk) {
        int k = n - s < chunk ? n - s : chunk;
        if (t->img) {
            if (!mlcl__all_finite(x + (size_t)s * d, (size_t)k * d)) { rc = mlcl__err(MLCL_ENUMERIC, "%s: x has NaN or Inf in rows %d..%d", fn, s, s + k - 1); break; }
            if (t->oh != t->ih || t->ow != t->iw)
                rc = mlcl_image_resize(t->x0, t->oh, t->ow, x + (size_t)s * d, k, t->ic, t->ih, t->iw);
            else
                memcpy(t->x0, x + (size_t)s * d, (size_t)k * d * sizeof(float));
            if (rc != MLCL_OK) break;
            if (t->stream) /* the loaders' normalisation (d = dn here) */
                for (int i = 0; i < k; i++)
                    for (size_t j = 0; j < d; j++) t->x0[i * d + j] = (t->x0[i * d + j] - t->mean[j]) / t->std[j];
        } else {
        for (int i = 0; i < k; i++)
            for (size_t j = 0; j < d; j++) t->x0[i * d + j] = (x[(size_t)(s + i) * d + j] - t->mean[j]) / t->std[j];
        if (!mlcl__all_finite(t->x0, (size_t)k * d)) { rc = mlcl__err(MLCL_ENUMERIC, "%s: x has NaN or Inf in rows %d..%d", fn, s, s + k - 1); break; }
        }
        rc = mlcl_encoder_forward(enc, k, t->x0, t->h);
        if (rc == MLCL_OK) rc = mlcl_encoder_forward(ld, k, t->h, out + (size_t)s * c);
        if (rc == MLCL_OK)
            rc = dists ? mlcl_softmax_forward(out + (size_t)s * c, out + (size_t)s * c, k, (int)c)
                       : mlcl_sigmoid(out + (size_t)s * c, out + (size_t)s * c, (size_t)k * c);
    }
    mlcl_encoder_set_training(enc, tr_enc);
    mlcl_encoder_set_training(ld, tr_ld);
    return rc;
}

static int infer_guarded(mlcl_trainer *t, int n, const float *x, float *out, int dists, const char *fn)
{
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 1, &held, fn));
    int rc = infer(t, n, x, out, dists, fn);
    mlcl__trainer_leave(t, held);
    return rc;
}

int mlcl_trainer_predict(mlcl_trainer *t, int n, const float *x, float *scores)
{
    return infer_guarded(t, n, x, scores, 0, "mlcl_trainer_predict");
}

int mlcl_trainer_distributions(mlcl_trainer *t, int n, const float *x, float *dists)
{
    return infer_guarded(t, n, x, dists, 1, "mlcl_trainer_distributions");
}

int mlcl_trainer_evaluate(mlcl_trainer *t, const mlcl_dataset *test, mlcl_metrics *paper, mlcl_metrics *t05)
{
    const char *fn = "mlcl_trainer_evaluate";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    MLCL_CHECK_NULL(fn, test);
    int n, d, c;
    MLCL_TRY(mlcl_dataset_dims(test, &n, &d, &c));
    if (d != t->d || c != t->c)
        return mlcl__err(MLCL_EINVAL, "%s: test has %d features and %d labels, the trainer %d and %d", fn, d, c, t->d, t->c);
    float *scores;
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 1, &held, fn));
    int rc = mlcl__alloc_array((void **)&scores, (size_t)n * c, sizeof(float), fn);
    if (rc != MLCL_OK) { mlcl__trainer_leave(t, held); return rc; }
    rc = infer_set(t, test, n, scores, fn);
    if (rc == MLCL_OK && paper) {
        paper->version = MLCL_METRICS_VERSION;
        rc = mlcl_metrics_sweep(paper, NULL, n, c, scores, mlcl_dataset_labels(test));
    }
    if (rc == MLCL_OK && t05) {
        t05->version = MLCL_METRICS_VERSION;
        rc = mlcl_metrics_compute(t05, n, c, scores, mlcl_dataset_labels(test), 0.5f);
    }
    mlcl__free(scores);
    mlcl__trainer_leave(t, held);
    return rc;
}

/* ------------------------------------------------------------ validation */

int mlcl_validation_options_init(mlcl_validation_options *opts, unsigned int version)
{
    MLCL_CHECK_NULL("mlcl_validation_options_init", opts);
    if (version != MLCL_VALIDATION_OPTIONS_VERSION)
        return mlcl__err(MLCL_EVERSION, "mlcl_validation_options_init: version %u is not %u", version,
                         (unsigned)MLCL_VALIDATION_OPTIONS_VERSION);
    static const mlcl_validation_options d = MLCL_VALIDATION_OPTIONS_INIT;
    memcpy(opts, &d, sizeof d);
    return MLCL_OK;
}

static int set_validation_inner(mlcl_trainer *t, const mlcl_dataset *val, const mlcl_validation_options *vo,
                                const char *fn)
{
    if (t->phase == 3 || (t->phase == 2 && (t->epoch > 0 || t->pos >= 0 || t->step > 0)))
        return mlcl__err(MLCL_EINVAL, "%s: fine-tuning has started (phase %d, epoch %d): the validation set must be "
                         "given before (and before mlcl_trainer_load() of a run that had one)", fn, t->phase, t->epoch);
    float *vs = NULL, *snap = NULL, *thr = NULL;
    size_t sn[4] = { 0, 0, 0, 0 };
    int nv = 0;
    uint32_t crc = 0;
    if (val) {
        int d, c;
        MLCL_TRY(mlcl_dataset_dims(val, &nv, &d, &c));
        int vsp = 0;
        MLCL_TRY(mlcl_dataset_is_sparse(val, &vsp));
        if (vsp && !t->sp_ptr && t->o.standardize)
            return mlcl__err(MLCL_EINVAL, "%s: val is sparse (CSR) but the trainer standardises dense rows (centring): "
                             "give dense rows", fn);
        if (d != t->d || c != t->c)
            return mlcl__err(MLCL_EINVAL, "%s: val has %d features and %d labels, the training set %d and %d", fn, d, c,
                             t->d, t->c);
        if (nv < 1) return mlcl__err(MLCL_EINVAL, "%s: val has no rows", fn);
        const float *x = mlcl_dataset_features(val); /* (NULL: CSR, whose values were checked when made) */
        if (x && !mlcl__all_finite(x, (size_t)nv * d))
            return mlcl__err(MLCL_ENUMERIC, "%s: the validation features contain NaN or Inf", fn);
        crc = !x ? mlcl__dataset_csr_crc(val)
                 : crc_bytes(crc_bytes((uint32_t)crc32(0L, Z_NULL, 0), x, (size_t)nv * d * sizeof(float)),
                             mlcl_dataset_labels(val), (size_t)nv * c);
        mlcl_encoder *nets[2] = { t->moco->net[MOCO_ENC_Q], t->moco->net[MOCO_LD] };
        for (int i = 0; i < 2; i++) {
            MLCL_TRY(mlcl_encoder_param_count(nets[i], &sn[2 * i]));
            MLCL_TRY(mlcl_encoder_state_count(nets[i], &sn[2 * i + 1]));
        }
        int rc = mlcl__alloc_array((void **)&vs, (size_t)nv * c, sizeof(float), fn);
        if (rc == MLCL_OK) rc = mlcl__alloc_array((void **)&thr, (size_t)c, sizeof(float), fn);
        if (rc == MLCL_OK && vo->select_metric != MLCL_SELECT_NONE)
            rc = mlcl__alloc_array((void **)&snap, sn[0] + sn[1] + sn[2] + sn[3] + 1, sizeof(float), fn);
        if (rc != MLCL_OK) { mlcl__free(vs); mlcl__free(thr); return rc; }
    }
    mlcl__free(t->vscores); mlcl__free(t->snap); mlcl__free(t->thr);
    t->vscores = vs; t->snap = snap; t->thr = thr;
    memcpy(t->snap_n, sn, sizeof sn);
    t->val = val;
    t->nv = nv;
    t->val_crc = crc;
    t->vo = *vo;
    t->best_epoch = -1;
    t->best_value = t->last_value = NAN;
    t->vs_epochs = 0;
    t->thr_ready = 0;
    t->thr_global = 0.5f;
    return MLCL_OK;
}

int mlcl_trainer_set_validation(mlcl_trainer *t, const mlcl_dataset *val, const mlcl_validation_options *opts)
{
    static const char fn[] = "mlcl_trainer_set_validation";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    mlcl_validation_options vo = MLCL_VALIDATION_OPTIONS_INIT;
    if (opts) {
        MLCL_CHECK_VERSION(fn, opts, MLCL_VALIDATION_OPTIONS_VERSION);
        vo = *opts;
    }
    if (vo.select_metric < MLCL_SELECT_NONE || vo.select_metric > MLCL_METRIC_MAP)
        return mlcl__err(MLCL_EINVAL, "%s: opts->select_metric %d is not MLCL_SELECT_NONE or an MLCL_METRIC_* (0..5)", fn,
                         vo.select_metric);
    if (vo.patience < 0) return mlcl__err(MLCL_EINVAL, "%s: opts->patience must be >= 0 (got %d)", fn, vo.patience);
    if (vo.patience > 0 && vo.select_metric == MLCL_SELECT_NONE)
        return mlcl__err(MLCL_EINVAL, "%s: opts->patience %d needs opts->select_metric (the metric that must improve)", fn,
                         vo.patience);
    if (vo.thresholds < MLCL_THRESHOLDS_NONE || vo.thresholds > MLCL_THRESHOLDS_GLOBAL)
        return mlcl__err(MLCL_EINVAL, "%s: opts->thresholds must be MLCL_THRESHOLDS_NONE, _PER_LABEL or _GLOBAL (0..2; got %d)",
                         fn, vo.thresholds);
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 0, &held, fn));
    int rc = set_validation_inner(t, val, &vo, fn);
    mlcl__trainer_leave(t, held);
    return rc;
}

int mlcl_trainer_selection(const mlcl_trainer *t, int *best_epoch, double *best_value, double *last_value,
                           int *epochs_run)
{
    static const char fn[] = "mlcl_trainer_selection";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    if (!t->val) return mlcl__err(MLCL_EINVAL, "%s: the trainer has no validation set (mlcl_trainer_set_validation)", fn);
    if (best_epoch) *best_epoch = t->best_epoch;
    if (best_value) *best_value = t->best_value;
    if (last_value) *last_value = t->last_value;
    if (epochs_run) *epochs_run = t->vs_epochs;
    return MLCL_OK;
}

int mlcl_trainer_thresholds(const mlcl_trainer *t, int c, float *per_label, float *global)
{
    static const char fn[] = "mlcl_trainer_thresholds";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    if (c != t->c) return mlcl__err(MLCL_EINVAL, "%s: c is %d, the trainer has %d labels", fn, c, t->c);
    if (!t->thr_ready)
        return mlcl__err(MLCL_EINVAL, "%s: no thresholds were chosen (%s)", fn,
                         !t->val ? "no validation set: mlcl_trainer_set_validation" :
                         !t->vo.thresholds ? "the validation options have thresholds = MLCL_THRESHOLDS_NONE" : "fine-tuning has not finished");
    if (per_label) memcpy(per_label, t->thr, (size_t)c * sizeof(float));
    if (global) *global = t->thr_global;
    return MLCL_OK;
}

int mlcl_trainer_evaluate_thresholds(mlcl_trainer *t, const mlcl_dataset *test, mlcl_metrics *per_label,
                                     mlcl_metrics *global)
{
    const char *fn = "mlcl_trainer_evaluate_thresholds";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    MLCL_CHECK_NULL(fn, test);
    if (!per_label && !global) return mlcl__err(MLCL_EINVAL, "%s: per_label and global are both NULL", fn);
    if (per_label) MLCL_CHECK_VERSION(fn, per_label, MLCL_METRICS_VERSION);
    if (global) MLCL_CHECK_VERSION(fn, global, MLCL_METRICS_VERSION);
    MLCL_TRY(mlcl_trainer_thresholds(t, t->c, NULL, NULL));
    int n, d, c;
    MLCL_TRY(mlcl_dataset_dims(test, &n, &d, &c));
    if (d != t->d || c != t->c)
        return mlcl__err(MLCL_EINVAL, "%s: test has %d features and %d labels, the trainer %d and %d", fn, d, c, t->d, t->c);
    float *scores;
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 1, &held, fn));
    int rc = mlcl__alloc_array((void **)&scores, (size_t)n * c, sizeof(float), fn);
    if (rc == MLCL_OK) {
        const uint8_t *y = mlcl_dataset_labels(test);
        rc = infer_set(t, test, n, scores, fn);
        if (rc == MLCL_OK && per_label) rc = mlcl_metrics_compute_thresholds(per_label, n, c, scores, y, t->thr);
        if (rc == MLCL_OK && global) rc = mlcl_metrics_compute(global, n, c, scores, y, t->thr_global);
        mlcl__free(scores);
    }
    mlcl__trainer_leave(t, held);
    return rc;
}

int mlcl_trainer_timing(const mlcl_trainer *t, double *pre, double *fin)
{
    MLCL_CHECK_NULL_AS("mlcl_trainer_timing", t, "trainer");
    if (pre) *pre = t->t_pre;
    if (fin) *fin = t->t_fin;
    return MLCL_OK;
}

int mlcl_trainer_position(const mlcl_trainer *t, int *phase, int *epoch)
{
    MLCL_CHECK_NULL_AS("mlcl_trainer_position", t, "trainer");
    if (phase) *phase = t->phase;
    if (epoch) *epoch = t->epoch;
    return MLCL_OK;
}

int mlcl_trainer_moco(mlcl_trainer *t, mlcl_moco **out)
{
    MLCL_CHECK_NULL_AS("mlcl_trainer_moco", t, "trainer");
    MLCL_CHECK_NULL("mlcl_trainer_moco", out);
    *out = t->moco;
    return MLCL_OK;
}

/* ------------------------------------------------------------ checkpoints */

typedef struct ck_pos {
    int64_t phase, epoch, step, pos, n, d, c, batch, K, method, ep_batches, ep_samples;
    double ep[5], t_pre, t_fin;
    uint64_t rng[2];
    float pre_lr;
    int64_t moco_steps;
    int64_t end_step[2];
} ck_pos;

/* ---- the options record (section OPTS): one "name=value" line per option
 * that affects the run, after the resolution create made (batch capped by
 * the rows, the loss the method implies, ...). Text, so that a future
 * version can add options and still name what changed. */

#define OPTS_HEADER "mlcl-train-options 1"

typedef struct optbuf { char *p; size_t len, cap; } optbuf;

static void opt_put(optbuf *b, const char *name, const char *fmt, ...) MLCL_PRINTF(3, 4);
static void opt_put(optbuf *b, const char *name, const char *fmt, ...)
{
    if (b->len >= b->cap) return;
    int k = snprintf(b->p + b->len, b->cap - b->len, "%s=", name);
    if (k > 0) b->len += (size_t)k;
    if (b->len >= b->cap) { b->len = b->cap; return; }
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (k > 0) b->len += (size_t)k;
    if (b->len + 1 >= b->cap) { b->len = b->cap; return; }
    b->p[b->len++] = '\n';
    b->p[b->len] = '\0';
}

/* the shortest decimal that reads back as the same float */
static const char *fstr(char *buf, float v)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, 32, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    return buf;
}

static void opt_f(optbuf *b, const char *name, float v)
{
    char tmp[32];
    opt_put(b, name, "%s", fstr(tmp, v));
}

static void opt_phase(optbuf *b, const char *ph, const mlcl_phase_options *p)
{
    char name[48];
#define PH(field) (snprintf(name, sizeof name, "%s.%s", ph, field), name)
    opt_put(b, PH("epochs"), "%d", p->epochs);
    opt_put(b, PH("optim"), "%d", p->optim);
    opt_f(b, PH("lr"), p->lr);
    opt_f(b, PH("weight_decay"), p->weight_decay);
    opt_f(b, PH("head_lr_scale"), p->head_lr_scale);
    opt_put(b, PH("sched"), "%d", p->sched);
    opt_put(b, PH("T_0"), "%d", p->T_0);
    opt_put(b, PH("T_mult"), "%d", p->T_mult);
    opt_f(b, PH("eta_min"), p->eta_min);
    opt_f(b, PH("mask_p"), p->mask_p);
#undef PH
}

static void opt_views(optbuf *b, const char *v, const mlcl_simclr_options *s)
{
    char name[48];
#define VW(field) (snprintf(name, sizeof name, "%s.%s", v, field), name)
    opt_put(b, VW("out"), "%dx%d", s->out_h, s->out_w);
    opt_f(b, VW("crop_p"), s->crop_p);
    opt_f(b, VW("scale_min"), s->scale_min);
    opt_f(b, VW("scale_max"), s->scale_max);
    opt_f(b, VW("ratio_min"), s->ratio_min);
    opt_f(b, VW("ratio_max"), s->ratio_max);
    opt_f(b, VW("flip_p"), s->flip_p);
    opt_f(b, VW("jitter_p"), s->jitter_p);
    opt_f(b, VW("brightness"), s->brightness);
    opt_f(b, VW("contrast"), s->contrast);
    opt_f(b, VW("saturation"), s->saturation);
    opt_f(b, VW("hue"), s->hue);
    opt_f(b, VW("gray_p"), s->gray_p);
    opt_f(b, VW("blur_p"), s->blur_p);
    opt_f(b, VW("blur_sigma_min"), s->blur_sigma_min);
    opt_f(b, VW("blur_sigma_max"), s->blur_sigma_max);
    opt_put(b, VW("blur_kernel"), "%d", s->blur_kernel);
#undef VW
}

/* Writes the record of t into buf (cap bytes); returns its length, or 0 when
 * it does not fit. */
static size_t options_text(const mlcl_trainer *t, char *buf, size_t cap)
{
    optbuf b = { buf, 0, cap };
    const mlcl_train_options *o = &t->o_user;
    const mlcl_moco_options *mo = &t->moco->o; /* as resolved by create */
    const mlcl_loss_options *l = &mo->loss;
    opt_put(&b, "format", "%s", OPTS_HEADER);
    opt_put(&b, "rows", "%d", t->n);
    opt_put(&b, "features", "%d", t->d);
    opt_put(&b, "labels", "%d", t->c);
    opt_put(&b, "data_crc32", "%08x", (unsigned)t->data_crc);
    opt_put(&b, "standardize", "%d", t->img ? 0 : o->standardize);
    opt_put(&b, "method", "%d", o->method);
    opt_put(&b, "batch", "%d", t->batch);
    opt_put(&b, "seed", "%llu", (unsigned long long)o->seed);
    opt_put(&b, "stop_on_nonfinite", "%d", o->stop_on_nonfinite);
    if (t->backbone_np) {
        int bin = 0, bout = 0;
        mlcl_encoder_in_dim(t->moco->net[MOCO_ENC_Q], &bin);
        mlcl_encoder_out_dim(t->moco->net[MOCO_ENC_Q], &bout);
        opt_put(&b, "encoder", "custom %d -> %d, %zu parameters", bin, bout, t->backbone_np);
    } else {
        char w[8 * 12] = "";
        size_t k = 0;
        for (int i = 0; i < mo->n_hidden && i < 8; i++)
            k += (size_t)snprintf(w + k, sizeof w - k, i ? ",%d" : "%d", mo->hidden[i]);
        opt_put(&b, "encoder", "mlp %d -> %s", mo->in_dim, w);
        opt_f(&b, "dropout", mo->dropout);
    }
    opt_put(&b, "proj_dim", "%d", mo->proj_dim);
    opt_f(&b, "proj_dropout", mo->proj_dropout);
    opt_put(&b, "queue_size", "%d", mo->queue_size);
    opt_f(&b, "momentum", mo->momentum);
    opt_put(&b, "key_train_mode", "%d", mo->key_train_mode);
    opt_put(&b, "loss.method", "%d", l->method);
    opt_put(&b, "loss.variant", "%d", l->variant);
    opt_put(&b, "loss.mask", "%d", l->mask);
    opt_f(&b, "loss.alpha", l->alpha);
    opt_f(&b, "loss.beta", l->beta);
    opt_f(&b, "loss.tau", l->tau);
    opt_f(&b, "loss.sigma", l->sigma);
    opt_put(&b, "loss.reduction", "%d", l->reduction);
    opt_put(&b, "loss.cld_weight", "%d", l->cld_weight);
    opt_put(&b, "loss.weight_grad", "%d", l->weight_grad);
    opt_put(&b, "loss.dweight_grad", "%d", l->dweight_grad);
    opt_put(&b, "loss.con_norm", "%d", l->con_norm);
    opt_put(&b, "loss.h_target", "%d", l->h_target);
    opt_f(&b, "pretrain.optim.momentum", mo->optim.momentum);
    opt_f(&b, "pretrain.optim.dampening", mo->optim.dampening);
    opt_put(&b, "pretrain.optim.nesterov", "%d", mo->optim.nesterov);
    opt_f(&b, "pretrain.optim.beta1", mo->optim.beta1);
    opt_f(&b, "pretrain.optim.beta2", mo->optim.beta2);
    opt_f(&b, "pretrain.optim.eps", mo->optim.eps);
    opt_phase(&b, "pretrain", &o->pretrain);
    opt_phase(&b, "finetune", &o->finetune);
    if (t->img) {
        opt_put(&b, "image", "%dx%dx%d", t->ic, t->ih, t->iw);
        opt_views(&b, "pretrain_views", &t->pre_v);
        if (t->ft_aug) opt_views(&b, "finetune_views", &t->ft_v);
        else opt_put(&b, "finetune_views", "none");
    } else {
        opt_put(&b, "image", "none");
    }
    if (t->val) { /* absent without a validation set: older checkpoints still load */
        opt_put(&b, "validation.rows", "%d", t->nv);
        opt_put(&b, "validation.data_crc32", "%08x", (unsigned)t->val_crc);
        opt_put(&b, "validation.select_metric", "%d", t->vo.select_metric);
        opt_put(&b, "validation.patience", "%d", t->vo.patience);
        opt_put(&b, "validation.thresholds", "%d", t->vo.thresholds);
    }
    return b.len < cap ? b.len : 0;
}

/* the value of `name` in a record (NULL when absent); *vlen its length */
static const char *opt_find(const char *rec, size_t len, const char *name, size_t nlen, size_t *vlen)
{
    for (size_t off = 0; off < len;) {
        const char *line = rec + off, *nl = memchr(line, '\n', len - off);
        size_t ll = nl ? (size_t)(nl - line) : len - off;
        if (ll > nlen && line[nlen] == '=' && memcmp(line, name, nlen) == 0) {
            *vlen = ll - nlen - 1;
            return line + nlen + 1;
        }
        off += ll + 1;
    }
    return NULL;
}

/* Compares the checkpoint's record with the trainer's. The epoch counts may
 * grow (reported in *grow_pre / *grow_fin as the checkpoint's counts); any
 * other difference is an error naming the option and both values. */
static int options_compare(const mlcl_trainer *t, const char *path, const char *ck, size_t cklen, const ck_pos *p,
                           int *fin_old)
{
    const char *fn = "mlcl_trainer_load";
    char *mine = malloc(16384);
    if (!mine) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    size_t mlen = options_text(t, mine, 16384);
    int rc = MLCL_OK;
    if (mlen == 0) { free(mine); return mlcl__err(MLCL_ENOMEM, "%s: the options record does not fit", fn); }
    size_t hv;
    const char *h = opt_find(ck, cklen, "format", 6, &hv);
    if (!h || hv != strlen(OPTS_HEADER) || memcmp(h, OPTS_HEADER, hv) != 0) {
        rc = mlcl__err(MLCL_EVERSION, "%s: checkpoint %s: options record '%.*s' is not '%s'", fn, path,
                       h ? (int)(hv < 64 ? hv : 64) : 0, h ? h : "", OPTS_HEADER);
        goto out;
    }
    *fin_old = -1;
    /* every option of this trainer must be recorded with the same value */
    for (size_t off = 0; off < mlen && rc == MLCL_OK;) {
        const char *line = mine + off, *nl = memchr(line, '\n', mlen - off), *eq = memchr(line, '=', (size_t)(nl - line));
        size_t nlen = (size_t)(eq - line), vlen = (size_t)(nl - eq - 1), cvl;
        off += (size_t)(nl - line) + 1;
        const char *cv = opt_find(ck, cklen, line, nlen, &cvl);
        if (!cv) {
            rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s does not record %.*s (this trainer has %.*s %.*s)", fn, path,
                           (int)nlen, line, (int)nlen, line, (int)vlen, eq + 1);
            break;
        }
        if (cvl == vlen && memcmp(cv, eq + 1, vlen) == 0) continue;
        int is_pre = nlen == 15 && !memcmp(line, "pretrain.epochs", 15);
        int is_fin = nlen == 15 && !memcmp(line, "finetune.epochs", 15);
        if (is_pre || is_fin) {
            long old = strtol(cv, NULL, 10), now = strtol(eq + 1, NULL, 10);
            if (now < old) {
                rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s was trained with %.*s %ld, this trainer has %ld: "
                               "epoch counts may grow, not shrink", fn, path, (int)nlen, line, old, now);
            } else if (is_pre && p->phase >= 2) {
                rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s has finished its %ld pretraining epochs; "
                               "pretrain.epochs cannot grow to %ld", fn, path, old, now);
            } else if (is_fin) {
                *fin_old = (int)old;
            }
            continue;
        }
        rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s was trained with %.*s %.*s, this trainer has %.*s %.*s", fn, path,
                       (int)nlen, line, (int)(cvl < 100 ? cvl : 100), cv, (int)nlen, line, (int)vlen, eq + 1);
    }
    /* and the checkpoint records nothing this trainer lacks */
    for (size_t off = 0; off < cklen && rc == MLCL_OK;) {
        const char *line = ck + off, *nl = memchr(line, '\n', cklen - off);
        size_t ll = nl ? (size_t)(nl - line) : cklen - off;
        const char *eq = memchr(line, '=', ll);
        off += ll + 1;
        if (ll == 0) continue;
        if (!eq) { rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s: malformed options record", fn, path); break; }
        size_t nlen = (size_t)(eq - line), vl;
        if (!opt_find(mine, mlen, line, nlen, &vl))
            rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s was trained with %.*s, which this trainer does not have", fn,
                           path, (int)(ll < 160 ? ll : 160), line);
    }
out:
    free(mine);
    return rc;
}

/* the selection state (section VSL1, with VTHR and VSNP) */
typedef struct vsel_pos {
    int64_t best_epoch, epochs, thr_ready, pad;
    double best_value, last_value, thr_global;
} vsel_pos;

static size_t snap_len(const mlcl_trainer *t)
{
    return t->snap_n[0] + t->snap_n[1] + t->snap_n[2] + t->snap_n[3];
}

static const char NET_TAGS[MOCO_NETS][2][4] = {
    { {'P','E','Q','0'}, {'S','E','Q','0'} }, { {'P','P','Q','0'}, {'S','P','Q','0'} }, { {'P','L','D','0'}, {'S','L','D','0'} },
    { {'P','E','K','0'}, {'S','E','K','0'} }, { {'P','P','K','0'}, {'S','P','K','0'} } };

static int put_optim(mlcl__ckw *w, mlcl_optim *o, const char tag[4], const char stag[4])
{
    size_t n;
    int groups;
    MLCL_TRY(mlcl_optim_state_count(o, &n));
    MLCL_TRY(mlcl_optim_num_groups(o, &groups));
    float *buf;
    MLCL_TRY(mlcl__alloc_array((void **)&buf, n + 1, sizeof(float), "mlcl_trainer_save"));
    int rc = mlcl_optim_get_state(o, buf, n);
    if (rc == MLCL_OK) mlcl__ckw_put(w, tag, buf, n * sizeof(float));
    mlcl__free(buf);
    int64_t steps[16] = { 0 };
    for (int g = 0; g < groups && g < 16; g++) mlcl_optim_get_step(o, g, &steps[g]);
    mlcl__ckw_put(w, stag, steps, sizeof steps);
    return rc;
}

static int save_local(const mlcl_trainer *tc, const char *path)
{
    const char *fn = "mlcl_trainer_save";
    MLCL_CHECK_NULL_AS(fn, tc, "trainer");
    MLCL_CHECK_NULL(fn, path);
    mlcl_trainer *t = (mlcl_trainer *)tc;
    mlcl__ckw w;
    mlcl__ckw_init(&w);
    ck_pos p;
    memset(&p, 0, sizeof p);
    p.phase = t->phase; p.epoch = t->epoch; p.step = t->step; p.pos = t->pos;
    p.n = t->n; p.d = t->d; p.c = t->c; p.batch = t->batch; p.K = t->o.moco.queue_size; p.method = t->o.method;
    p.ep_batches = t->ep_batches; p.ep_samples = t->ep_samples;
    p.ep[0] = t->ep_loss; p.ep[1] = t->ep_con; p.ep[2] = t->ep_G; p.ep[3] = t->ep_H; p.ep[4] = t->ep_W;
    p.t_pre = t->t_pre; p.t_fin = t->t_fin;
    p.rng[0] = t->rng.state; p.rng[1] = t->rng.inc;
    p.pre_lr = t->o.pretrain.lr;
    p.moco_steps = t->moco->steps;
    p.end_step[0] = t->end_step[0]; p.end_step[1] = t->end_step[1];
    mlcl__ckw_put(&w, "POS1", &p, sizeof p);
    {
        char *rec = malloc(16384);
        size_t rlen = rec ? options_text(t, rec, 16384) : 0;
        if (!rlen) { free(rec); mlcl__ckw_free(&w); return mlcl__err(MLCL_ENOMEM, "%s: cannot record the options", fn); }
        mlcl__ckw_put(&w, "OPTS", rec, rlen);
        free(rec);
    }
    mlcl__ckw_put(&w, "PERM", t->perm, sizeof(int) * (size_t)t->n);
    uint64_t aug_state[2] = { t->aug.pcg.state, t->aug.pcg.inc };
    if (t->img) mlcl__ckw_put(&w, "RAUG", aug_state, sizeof aug_state);
    int rc = MLCL_OK;
    for (int i = 0; i < MOCO_NETS && rc == MLCL_OK; i++) {
        mlcl_encoder *e = t->moco->net[i];
        float *pp;
        size_t np, ns;
        uint64_t rs[2];
        mlcl_encoder_param_count(e, &np);
        mlcl_encoder_params_ptr(e, &pp);
        mlcl__ckw_put(&w, NET_TAGS[i][0], pp, np * sizeof(float));
        mlcl_encoder_state_count(e, &ns);
        float *st = NULL;
        rc = mlcl__alloc_array((void **)&st, ns + 1, sizeof(float), fn);
        if (rc == MLCL_OK) rc = mlcl_encoder_get_state(e, st, ns);
        if (rc == MLCL_OK) mlcl__ckw_put(&w, NET_TAGS[i][1], st, ns * sizeof(float));
        mlcl__free(st);
        mlcl_encoder_get_rng_state(e, rs);
        char rtag[4] = { 'R', NET_TAGS[i][0][1], NET_TAGS[i][0][2], '0' };
        mlcl__ckw_put(&w, rtag, rs, sizeof rs);
    }
    if (rc == MLCL_OK) rc = put_optim(&w, t->moco->optim, "OPT1", "OST1");
    if (rc == MLCL_OK) rc = put_optim(&w, t->ft, "OPT2", "OST2");
    if (rc == MLCL_OK) {
        mlcl_queue *q = t->moco->queue;
        int32_t qs[2] = { mlcl_queue_size(q), mlcl_queue_head(q) };
        size_t K = (size_t)mlcl_queue_capacity(q);
        mlcl__ckw_put(&w, "QST0", qs, sizeof qs);
        mlcl__ckw_put(&w, "QFT0", mlcl_queue_features(q), K * t->moco->m * sizeof(float));
        mlcl__ckw_put(&w, "QLB0", mlcl_queue_labels(q), K * t->words * sizeof(uint64_t));
        mlcl__ckw_put(&w, "QDS0", mlcl_queue_dists(q), K * t->c * sizeof(float));
    }
    if (rc == MLCL_OK && t->val) {
        vsel_pos v = { t->best_epoch, t->vs_epochs, t->thr_ready, 0, t->best_value, t->last_value, t->thr_global };
        mlcl__ckw_put(&w, "VSL1", &v, sizeof v);
        mlcl__ckw_put(&w, "VTHR", t->thr, (size_t)t->c * sizeof(float));
        if (selecting(t)) mlcl__ckw_put(&w, "VSNP", t->snap, snap_len(t) * sizeof(float));
    }
    if (rc != MLCL_OK) { mlcl__ckw_free(&w); return rc; }
    return mlcl__ckw_commit(&w, path);
}

static int load_optim(const mlcl__ckr *r, mlcl_optim *o, const char tag[4], const char stag[4])
{
    size_t n;
    int groups;
    const void *p;
    MLCL_TRY(mlcl_optim_state_count(o, &n));
    MLCL_TRY(mlcl_optim_num_groups(o, &groups));
    MLCL_TRY(mlcl__ckr_get(r, tag, &p, NULL, n * sizeof(float)));
    MLCL_TRY(mlcl_optim_set_state(o, (const float *)p, n));
    int64_t steps[16];
    MLCL_TRY(mlcl__ckr_copy(r, stag, steps, sizeof steps));
    for (int g = 0; g < groups && g < 16; g++) MLCL_TRY(mlcl_optim_set_step(o, g, steps[g]));
    return MLCL_OK;
}

static int load_inner(mlcl_trainer *t, const char *path)
{
    const char *fn = "mlcl_trainer_load";
    mlcl__ckr r;
    MLCL_TRY(mlcl__ckr_open(&r, path));
    ck_pos p;
    int fin_old = -1;
    const void *rec = NULL;
    size_t rlen = 0;
    int rc = mlcl__ckr_copy(&r, "POS1", &p, sizeof p);
    if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "OPTS", &rec, &rlen, (size_t)-1);
    if (rc == MLCL_OK) rc = options_compare(t, path, rec, rlen, &p, &fin_old);
    if (rc == MLCL_OK && (p.n != t->n || p.d != t->d || p.c != t->c || p.batch != t->batch ||
                          p.K != t->o.moco.queue_size || p.method != t->o.method))
        rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s was written for %lld rows x %lld features x %lld labels, batch %lld, "
                       "queue %lld, method %lld; this trainer has %d x %d x %d, batch %d, queue %d, method %d",
                       fn, path, (long long)p.n, (long long)p.d, (long long)p.c, (long long)p.batch, (long long)p.K,
                       (long long)p.method, t->n, t->d, t->c, t->batch, t->o.moco.queue_size, t->o.method);
    if (rc == MLCL_OK && (p.phase < 1 || p.phase > 3 || p.pos < -1 || p.pos > p.n || p.epoch < 0 || (p.rng[1] & 1) == 0))
        rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s holds an impossible position", fn, path);
    const void *perm = NULL;
    uint64_t aug_state[2] = { 0, 1 };
    if (rc == MLCL_OK && t->img) {
        rc = mlcl__ckr_copy(&r, "RAUG", aug_state, sizeof aug_state);
        if (rc == MLCL_OK && (aug_state[1] & 1) == 0)
            rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s holds an impossible augmentation generator", fn, path);
    }
    if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "PERM", &perm, NULL, sizeof(int) * (size_t)t->n);
    if (rc == MLCL_OK) {
        const int *pv = perm;
        for (int i = 0; i < t->n; i++)
            if (pv[i] < 0 || pv[i] >= t->n) { rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s: bad permutation entry", fn, path); break; }
    }
    /* validate every section's size before changing anything */
    size_t npar[MOCO_NETS], nst[MOCO_NETS];
    for (int i = 0; i < MOCO_NETS && rc == MLCL_OK; i++) {
        const void *q;
        mlcl_encoder_param_count(t->moco->net[i], &npar[i]);
        mlcl_encoder_state_count(t->moco->net[i], &nst[i]);
        rc = mlcl__ckr_get(&r, NET_TAGS[i][0], &q, NULL, npar[i] * sizeof(float));
        if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, NET_TAGS[i][1], &q, NULL, nst[i] * sizeof(float));
    }
    mlcl_queue *q = t->moco->queue;
    size_t K = (size_t)mlcl_queue_capacity(q);
    const void *qf = NULL, *ql = NULL, *qd = NULL;
    int32_t qs[2] = { 0, 0 };
    if (rc == MLCL_OK) rc = mlcl__ckr_copy(&r, "QST0", qs, sizeof qs);
    if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "QFT0", &qf, NULL, K * t->moco->m * sizeof(float));
    if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "QLB0", &ql, NULL, K * t->words * sizeof(uint64_t));
    if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "QDS0", &qd, NULL, K * t->c * sizeof(float));
    if (rc == MLCL_OK) {
        size_t n1, n2;
        const void *x;
        mlcl_optim_state_count(t->moco->optim, &n1);
        mlcl_optim_state_count(t->ft, &n2);
        rc = mlcl__ckr_get(&r, "OPT1", &x, NULL, n1 * sizeof(float));
        if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "OPT2", &x, NULL, n2 * sizeof(float));
    }
    /* contents the setters below would reject: check them first, so that a
     * corrupt but CRC-valid file cannot leave the trainer half loaded */
    for (int i = 0; i < MOCO_NETS && rc == MLCL_OK; i++) {
        const void *pp, *ss;
        mlcl__ckr_get(&r, NET_TAGS[i][0], &pp, NULL, npar[i] * sizeof(float));
        mlcl__ckr_get(&r, NET_TAGS[i][1], &ss, NULL, nst[i] * sizeof(float));
        if (!mlcl__all_finite(pp, npar[i]) || !mlcl__all_finite(ss, nst[i]))
            rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s: non-finite parameters or statistics", fn, path);
    }
    /* the selection state */
    vsel_pos vp = { -1, 0, 0, 0, NAN, NAN, 0.5 };
    const void *vthr = NULL, *vsnap = NULL;
    if (rc == MLCL_OK && t->val) {
        rc = mlcl__ckr_copy(&r, "VSL1", &vp, sizeof vp);
        if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "VTHR", &vthr, NULL, (size_t)t->c * sizeof(float));
        if (rc == MLCL_OK && selecting(t)) rc = mlcl__ckr_get(&r, "VSNP", &vsnap, NULL, snap_len(t) * sizeof(float));
        if (rc == MLCL_OK && (vp.best_epoch < -1 || vp.best_epoch >= vp.epochs || vp.epochs < 0 ||
                              vp.epochs > 1000000000 || (vp.thr_ready != 0 && vp.thr_ready != 1) ||
                              !(vp.thr_global >= 0 && vp.thr_global <= 1) ||
                              (vsnap && !mlcl__all_finite(vsnap, snap_len(t))) ||
                              !mlcl__all_finite(vthr, (size_t)t->c)))
            rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s: impossible validation selection state", fn, path);
        if (rc == MLCL_OK && fin_old >= 0 && p.phase == 3 && selecting(t) && vp.best_epoch >= 0)
            rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s is a finished run whose fine-tuning epoch %lld was selected on "
                           "validation; it cannot continue with more fine-tuning epochs", fn, path,
                           (long long)vp.best_epoch);
    }
    if (rc == MLCL_OK && (qs[0] < 0 || (size_t)qs[0] > K || qs[1] < 0 || (size_t)qs[1] >= K ||
                          ((size_t)qs[0] < K && qs[1] != qs[0]) || !mlcl__all_finite(qf, K * (size_t)t->moco->m) ||
                          !mlcl__all_finite(qd, K * (size_t)t->c)))
        rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s: bad queue state", fn, path);
    /* apply */
    for (int i = 0; i < MOCO_NETS && rc == MLCL_OK; i++) {
        const void *pp, *ss;
        uint64_t rs[2];
        char rtag[4] = { 'R', NET_TAGS[i][0][1], NET_TAGS[i][0][2], '0' };
        mlcl__ckr_get(&r, NET_TAGS[i][0], &pp, NULL, npar[i] * sizeof(float));
        mlcl__ckr_get(&r, NET_TAGS[i][1], &ss, NULL, nst[i] * sizeof(float));
        rc = mlcl_encoder_set_params(t->moco->net[i], pp, npar[i]);
        if (rc == MLCL_OK && nst[i]) rc = mlcl_encoder_set_state(t->moco->net[i], ss, nst[i]);
        if (rc == MLCL_OK) rc = mlcl__ckr_copy(&r, rtag, rs, sizeof rs);
        if (rc == MLCL_OK) rc = mlcl_encoder_set_rng_state(t->moco->net[i], rs);
    }
    if (rc == MLCL_OK) rc = mlcl_queue_set_state(q, qs[0], qs[1], qf, ql, qd);
    if (rc == MLCL_OK) rc = load_optim(&r, t->moco->optim, "OPT1", "OST1");
    if (rc == MLCL_OK) rc = load_optim(&r, t->ft, "OPT2", "OST2");
    if (rc == MLCL_OK) {
        memcpy(t->perm, perm, sizeof(int) * (size_t)t->n);
        t->phase = (int)p.phase; t->epoch = (int)p.epoch; t->step = p.step; t->pos = (int)p.pos;
        t->ep_batches = p.ep_batches; t->ep_samples = p.ep_samples;
        t->ep_loss = p.ep[0]; t->ep_con = p.ep[1]; t->ep_G = p.ep[2]; t->ep_H = p.ep[3]; t->ep_W = p.ep[4];
        t->t_pre = p.t_pre; t->t_fin = p.t_fin;
        t->rng.state = p.rng[0]; t->rng.inc = p.rng[1];
        if (t->img) { t->aug.pcg.state = aug_state[0]; t->aug.pcg.inc = aug_state[1]; }
        t->o.pretrain.lr = p.pre_lr;
        t->moco->steps = p.moco_steps;
        t->end_step[0] = p.end_step[0]; t->end_step[1] = p.end_step[1];
        if (t->val) {
            t->best_epoch = (int)vp.best_epoch; t->vs_epochs = (int)vp.epochs; t->thr_ready = (int)vp.thr_ready;
            t->best_value = vp.best_value; t->last_value = vp.last_value; t->thr_global = (float)vp.thr_global;
            memcpy(t->thr, vthr, (size_t)t->c * sizeof(float));
            if (vsnap) memcpy(t->snap, vsnap, snap_len(t) * sizeof(float));
        }
        if (fin_old >= 0 && t->phase == 3) {
            t->thr_ready = 0; /* chosen again at the new end */
            /* a finished run with more fine-tuning epochs: continue after the last one */
            t->phase = 2;
            t->epoch = fin_old;
            t->step = t->end_step[1];
            t->pos = -1;
        }
    }
    mlcl__ckr_close(&r);
    return rc;
}

int mlcl_trainer_load(mlcl_trainer *t, const char *path)
{
    const char *fn = "mlcl_trainer_load";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    MLCL_CHECK_NULL(fn, path);
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 0, &held, fn));
    int rc = load_inner(t, path);
    mlcl__trainer_leave(t, held);
    return rc;
}

/* Data-parallel: rank 0 writes, every rank returns rank 0's status. */
static int save_inner(const mlcl_trainer *tc, const char *path)
{
    if (!tc->has_comm) return save_local(tc, path);
    const char *fn = "mlcl_trainer_save";
    int rc = tc->comm.rank == 0 ? save_local(tc, path) : MLCL_OK;
    double st = rc;
    MLCL_TRY(mlcl__comm_sum_f64(&tc->comm, &st, 1, fn, "the save status"));
    if (tc->comm.rank != 0 && st != 0)
        return mlcl__err((int)st, "%s: rank 0 could not write '%s'", fn, path ? path : "(null)");
    return rc;
}

int mlcl_trainer_save(const mlcl_trainer *tc, const char *path)
{
    const char *fn = "mlcl_trainer_save";
    MLCL_CHECK_NULL_AS(fn, tc, "trainer");
    MLCL_CHECK_NULL(fn, path);
    mlcl_trainer *t = (mlcl_trainer *)tc; /* the busy flag only */
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 1, &held, fn));
    int rc = save_inner(tc, path);
    mlcl__trainer_leave(t, held);
    return rc;
}

static int set_comm_inner(mlcl_trainer *t, const mlcl_comm *comm, const char *fn);

int mlcl_trainer_set_comm(mlcl_trainer *t, const mlcl_comm *comm)
{
    static const char fn[] = "mlcl_trainer_set_comm";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 0, &held, fn));
    int rc = set_comm_inner(t, comm, fn);
    mlcl__trainer_leave(t, held);
    return rc;
}

static int set_comm_inner(mlcl_trainer *t, const mlcl_comm *comm, const char *fn)
{
    if (comm) {
        MLCL_TRY(mlcl__comm_check(comm, fn));
        if (t->batch % comm->size != 0)
            return mlcl__err(MLCL_EINVAL, "%s: the batch (%d) must be a multiple of the number of ranks (%d)", fn,
                             t->batch, comm->size);
    }
    MLCL_TRY(mlcl_moco_set_comm(t->moco, comm));
    t->has_comm = comm != NULL;
    if (!comm) {
        mlcl__encoder_set_rows(t->moco->net[MOCO_ENC_Q], 0, 0);
        return MLCL_OK;
    }
    t->comm = *comm;
    /* the same global batches everywhere: rank 0's shuffling and augmentation generators */
    uint64_t g[4] = { t->rng.state, t->rng.inc, t->aug.pcg.state, t->aug.pcg.inc };
    MLCL_TRY(mlcl__comm_bcast(comm, g, sizeof g, fn, "the batch generators"));
    t->rng.state = g[0]; t->rng.inc = g[1]; t->aug.pcg.state = g[2]; t->aug.pcg.inc = g[3];
    return MLCL_OK;
}

int mlcl_check_output_path(const char *path)
{
    MLCL_CHECK_NULL("mlcl_check_output_path", path);
    return mlcl__check_output_path(path, "output");
}

/* ---------------------------------------------------------------- streaming (mlcl/loader.h) */

static uint32_t loader_crc(uint32_t crc, const mlcl_loader *L)
{
    const mlcl_loader_options *o = mlcl__loader_options(L);
    int h, w;
    mlcl__loader_out_size(L, &h, &w);
    long long v[] = { o->batch, o->height, o->width, o->resize, o->channels, (long long)o->seed, o->shuffle,
                      o->drop_last, o->views, o->normalize, h, w };
    crc = crc_bytes(crc, v, sizeof v);
    if (o->views) crc = crc_bytes(crc, &o->simclr, sizeof o->simclr);
    if (o->normalize == MLCL_NORMALIZE_CUSTOM) {
        crc = crc_bytes(crc, o->mean, sizeof o->mean);
        crc = crc_bytes(crc, o->std, sizeof o->std);
    }
    return crc;
}

int mlcl_trainer_create_stream(mlcl_trainer **out, const mlcl_train_options *opts, mlcl_loader *pre,
                               mlcl_loader *ft, const mlcl_encoder *backbone)
{
    static const char fn[] = "mlcl_trainer_create_stream";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, opts);
    MLCL_CHECK_VERSION(fn, opts, MLCL_TRAIN_OPTIONS_VERSION);
    int need_pre = opts->method != MLCL_METHOD_NONE && opts->pretrain.epochs > 0, need_ft = opts->finetune.epochs > 0;
    if (need_pre && !pre) return mlcl__err(MLCL_EINVAL, "%s: pretrain is NULL but pretraining runs (method %d, %d epochs)", fn, opts->method, opts->pretrain.epochs);
    if (need_ft && !ft) return mlcl__err(MLCL_EINVAL, "%s: finetune is NULL but finetune.epochs = %d", fn, opts->finetune.epochs);
    if (!pre && !ft) return mlcl__err(MLCL_EINVAL, "%s: pretrain and finetune are NULL", fn);
    mlcl_loader *ls[2] = { pre, ft };
    const mlcl_loader *L0 = pre ? pre : ft;
    const mlcl_loader_options *o0 = mlcl__loader_options(L0);
    int oh, ow;
    mlcl__loader_out_size(L0, &oh, &ow);
    for (int i = 0; i < 2; i++) {
        if (!ls[i]) continue;
        const char *nm = i ? "finetune" : "pretrain";
        const mlcl_loader_options *lo = mlcl__loader_options(ls[i]);
        int h, w;
        mlcl__loader_out_size(ls[i], &h, &w);
        if (lo->batch != opts->batch)
            return mlcl__err(MLCL_EINVAL, "%s: the %s loader's batch %d is not opts->batch %d", fn, nm, lo->batch, opts->batch);
        if (i == 0 && lo->views != 2)
            return mlcl__err(MLCL_EINVAL, "%s: the pretrain loader must give 2 views (views = %d)", fn, lo->views);
        if (i == 1 && lo->views > 1)
            return mlcl__err(MLCL_EINVAL, "%s: the finetune loader must give 0 or 1 views (views = %d)", fn, lo->views);
        if (mlcl__loader_list(ls[i]) != mlcl__loader_list(L0) || h != oh || w != ow || lo->channels != o0->channels)
            return mlcl__err(MLCL_EINVAL, "%s: the two loaders must read the same list into images of one size "
                             "(%dx%dx%d vs %dx%dx%d)", fn, lo->channels, h, w, o0->channels, oh, ow);
    }
    if (pre && ft) {
        float m0[3], s0[3], m1[3], s1[3];
        MLCL_TRY(mlcl_loader_normalization(pre, m0, s0));
        MLCL_TRY(mlcl_loader_normalization(ft, m1, s1));
        if (memcmp(m0, m1, sizeof(float) * (size_t)o0->channels) || memcmp(s0, s1, sizeof(float) * (size_t)o0->channels))
            return mlcl__err(MLCL_EINVAL, "%s: the two loaders normalise differently", fn);
    }
    if (opts->method < MLCL_METHOD_NONE || opts->method > MLCL_METHOD_SUPCON_ANY)
        return mlcl__err(MLCL_EINVAL, "%s: opts->method %d is not an mlcl_method", fn, opts->method);
    if (opts->batch < 2) return mlcl__err(MLCL_EINVAL, "%s: opts->batch must be >= 2 (got %d)", fn, opts->batch);
    if (opts->threads < 0 || opts->threads > MLCL_MAX_THREADS)
        return mlcl__err(MLCL_EINVAL, "%s: opts->threads must be in 0..%d (got %d)", fn, MLCL_MAX_THREADS, opts->threads);
    MLCL_TRY(phase_valid(&opts->pretrain, "pretrain"));
    MLCL_TRY(phase_valid(&opts->finetune, "finetune"));
    const mlcl_image_list *list = mlcl__loader_list(L0);
    int n, c;
    MLCL_TRY(mlcl_image_list_size(list, &n, &c));
    if (n < 2) return mlcl__err(MLCL_EINVAL, "%s: the list has %d images; at least 2 are needed", fn, n);
    mlcl_trainer *t = mlcl__calloc(1, sizeof *t);
    if (!t) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    t->o = *opts;
    t->o_user = *opts;
    t->best_epoch = -1;
    t->best_value = t->last_value = NAN;
    if (opts->threads > 0) mlcl_set_num_threads(opts->threads);
    t->stream = 1;
    t->src[0] = pre;
    t->src[1] = ft;
    t->img = 1;
    t->n = n;
    t->c = c;
    t->ic = o0->channels;
    t->ih = t->oh = oh;
    t->iw = t->ow = ow;
    t->d = t->dn = t->ic * oh * ow;
    mlcl_simclr_options sd = MLCL_SIMCLR_OPTIONS_INIT;
    t->pre_v = pre ? mlcl__loader_options(pre)->simclr : sd;
    t->ft_aug = ft && mlcl__loader_options(ft)->views == 1;
    if (t->ft_aug) t->ft_v = mlcl__loader_options(ft)->simclr;
    mlcl__pcg_seed(&t->aug.pcg, opts->seed, 0x61756776ULL); /* unused; kept valid for the checkpoint format */
    int rc = mlcl__alloc_array((void **)&t->yown, (size_t)n * (size_t)c, 1, fn);
    if (rc == MLCL_OK) {
        mlcl__image_list_labels(list, t->yown);
        uint32_t crc = mlcl__image_list_crc(list, (uint32_t)crc32(0L, Z_NULL, 0));
        for (int i = 0; i < 2; i++)
            if (ls[i]) crc = loader_crc(crc, ls[i]);
        t->stream_crc = crc;
        mlcl_trainer_extra ex = MLCL_TRAINER_EXTRA_INIT;
        ex.backbone = backbone;
        rc = create_inner(t, NULL, &ex);
    }
    if (rc != MLCL_OK) { mlcl_trainer_free(t); return rc; }
    *out = t;
    return MLCL_OK;
}
