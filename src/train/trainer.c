/* The two-phase trainer: creation, the busy guard, accessors. The rest of
 * src/train/: options.c (option resolution), pipeline.c (batches, views,
 * streaming), loop.c (the epochs and steps), eval.c (inference, metrics),
 * valsel.c (validation, selection), trainer_ckpt.c (checkpoints). */
#include <math.h>
#include <string.h>
#include <zlib.h>
#include "mlcl/train.h"
#include "train/trainer_internal.h"
#include "cl/moco_lib.h"
#include "mlcl/loader.h"
#include "core/outfile.h"

static const char *FN_CREATE = "mlcl_trainer_create";

/* the address of a thread-local object names the calling thread */
static _Thread_local char tl_thread_token;

uintptr_t mlcl__trainer_thread_id(void)
{
    return (uintptr_t)&tl_thread_token;
}

int mlcl__trainer_enter(mlcl_trainer *t, int readonly, int *held, const char *fn)
{
    int idle = 0;
    *held = 0;
    if (atomic_compare_exchange_strong(&t->busy, &idle, 1)) {
        *held = 1;
        t->threads_tok = mlcl__threads_enter(t->threads); /* the trainer's count for this call */
        return MLCL_OK;
    }
    if (readonly && atomic_load(&t->cb_thread) == (uintptr_t)&tl_thread_token) return MLCL_OK;
    return mlcl__err(MLCL_EBUSY, "%s: the trainer is in use by another call (%s)", fn,
                     atomic_load(&t->cb_thread) == (uintptr_t)&tl_thread_token
                         ? "this call comes from its progress callback" : "another thread");
}

void mlcl__trainer_leave(mlcl_trainer *t, int held)
{
    if (!held) return;
    mlcl__threads_leave(t->threads_tok);
    atomic_store(&t->busy, 0);
}

int mlcl_trainer_set_threads(mlcl_trainer *t, int n)
{
    static const char fn[] = "mlcl_trainer_set_threads";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    int held, v;
    MLCL_TRY(mlcl__threads_check_handle(fn, n, &v));
    MLCL_TRY(mlcl__trainer_enter(t, 0, &held, fn));
    t->threads = v;
    mlcl__trainer_leave(t, held);
    return MLCL_OK;
}

int mlcl_trainer_get_threads(const mlcl_trainer *t, int *n)
{
    MLCL_CHECK_NULL_AS("mlcl_trainer_get_threads", t, "trainer");
    MLCL_CHECK_NULL("mlcl_trainer_get_threads", n);
    *n = t->threads;
    return MLCL_OK;
}

int mlcl_trainer_in_use(const mlcl_trainer *t, int *in_use)
{
    MLCL_CHECK_NULL_AS("mlcl_trainer_in_use", t, "trainer");
    MLCL_CHECK_NULL("mlcl_trainer_in_use", in_use);
    *in_use = atomic_load(&((mlcl_trainer *)t)->busy) != 0;
    return MLCL_OK;
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
    mlcl_dataset_free(t->val);
    mlcl__free(t);
}

uint32_t mlcl__crc32_bytes(uint32_t crc, const void *p, size_t len)
{
    const Bytef *b = p;
    for (size_t off = 0; off < len; off += (size_t)1 << 30) {
        size_t k = len - off < ((size_t)1 << 30) ? len - off : ((size_t)1 << 30);
        crc = (uint32_t)crc32(crc, b + off, (uInt)k);
    }
    return crc;
}

int mlcl__trainer_create_inner(mlcl_trainer *t, const mlcl_dataset *train, const mlcl_trainer_ex_options *ex)
{
    const mlcl_train_options *o = &t->o;
    mlcl__trainer_local_comm(&t->comm);
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
    MLCL_TRY(mlcl__train_moco_options(o, t->dn, c, t->batch, &t->mo, FN_CREATE));
    t->o.moco = t->o_user.moco = NULL; /* read here only: t->mo holds the copy */
    const mlcl__moco_conf mo = t->mo;
    if (ex && ex->backbone) MLCL_TRY(mlcl_encoder_param_count(ex->backbone, &t->backbone_np));
    {
        /* every size against the memory this process may use, before allocating */
        mlcl__mem_est est = { 0 };
        const double F = sizeof(float), B = t->batch;
        int hd = mo.hidden[mo.n_hidden > 0 && mo.n_hidden <= MLCL_MLP_MAX_HIDDEN ? mo.n_hidden - 1 : 0];
        if (ex && ex->backbone) MLCL_TRY(mlcl_encoder_out_dim(ex->backbone, &hd));
        int64_t nnz = 0;
        if (sparse) MLCL_TRY(mlcl_dataset_csr(train, NULL, NULL, NULL, &nnz));
        mlcl__est_add(&est, (sparse || t->stream ? 0.0 : (double)n * d * F) + (double)n * t->words * 8 + (double)n * 4 +
                      (double)n * c + (sparse ? (double)nnz * 8 + (double)n * 8 : 0.0),
                      "the standardised copy of the training set", "%d rows x %d features", n, d);
        mlcl__est_add(&est, B * ((sparse ? 0.0 : (double)t->dn * 2) + (t->img ? d : 0) + (double)c * 3 + (double)hd * 2) * F + B * t->words * 8,
                      "the batch workspaces", "batch %d", t->batch);
        /* invalid MoCo options are reported by mlcl_moco_create below */
        if (mo.n_hidden >= 1 && mo.n_hidden <= MLCL_MLP_MAX_HIDDEN && mo.queue_size > 0 && mo.proj_dim > 0 && mo.max_batch > 0)
            mlcl__moco_estimate(&mo, hd, t->backbone_np + (ex && ex->backbone), &est);
        MLCL_TRY(mlcl__mem_check(&est, FN_CREATE));
    }
    const float *x = t->stream ? NULL : mlcl_dataset_features(train);
    if (!t->stream) {
        /* the trainer keeps its own copy of the labels (and of the features
         * or CSR arrays below): the dataset may be freed after create */
        MLCL_TRY(mlcl__alloc_array((void **)&t->yown, (size_t)n * (size_t)c, 1, FN_CREATE));
        memcpy(t->yown, mlcl_dataset_labels(train), (size_t)n * (size_t)c);
    }
    t->y = t->yown;
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
        /* the dataset layer's rule (population statistics as scikit-learn's
         * StandardScaler; a near-constant feature gets std 1) */
        MLCL_TRY(mlcl_dataset_standardize_stats(t->mean, t->std, train));
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) t->x[(size_t)i * d + j] = (t->x[(size_t)i * d + j] - t->mean[j]) / t->std[j];
    } else {
        for (int j = 0; j < d; j++) { t->mean[j] = 0; t->std[j] = 1; }
    }
    if (!t->stream && !sparse && !mlcl__all_finite(t->x, nd)) return mlcl__err(MLCL_ENUMERIC, "%s: the training features contain NaN or Inf", FN_CREATE);
    MLCL_TRY(mlcl__alloc_array((void **)&t->yp, (size_t)n * t->words, sizeof(uint64_t), FN_CREATE));
    MLCL_TRY(mlcl_labels_pack(t->yp, t->y, n, c));

    mlcl_moco_options pub;
    mlcl__train_moco_public(&t->mo, &pub);
    pub.backbone = ex ? ex->backbone : NULL;
    MLCL_TRY(mlcl_moco_create(&t->moco, &pub));
    for (int i = 0; i < NET_COUNT; i++) MLCL_TRY(mlcl_moco_encoder(t->moco, i, &t->net[i]));
    MLCL_TRY(mlcl_moco_queue(t->moco, &t->queue));
    MLCL_TRY(mlcl_moco_optim(t->moco, &t->popt));
    MLCL_TRY(mlcl_encoder_out_dim(t->net[NET_ENC_Q], &t->hdim));
    mlcl_optim_options fo = MLCL_OPTIM_OPTIONS_INIT;
    fo.type = t->ph[1].optim;
    fo.lr = t->ph[1].lr;
    fo.weight_decay = t->ph[1].weight_decay;
    MLCL_TRY(mlcl_optim_create(&t->ft, &fo));
    int nets[2] = { NET_ENC_Q, NET_LD };
    for (int i = 0; i < 2; i++) {
        float *p, *g;
        size_t np;
        mlcl_encoder *e = t->net[nets[i]];
        MLCL_TRY(mlcl_encoder_param_count(e, &np));
        MLCL_TRY(mlcl_encoder_params_ptr(e, &p));
        MLCL_TRY(mlcl_encoder_grads_ptr(e, &g));
        MLCL_TRY(mlcl_optim_add_group(t->ft, p, g, np, t->ph[1].lr * (i ? t->ph[1].head_lr_scale : 1.0f),
                                      t->ph[1].weight_decay, NULL));
    }
    /* pretraining groups: backbone, projection head, LD head */
    MLCL_TRY(mlcl_optim_set_lr(t->popt, 1, t->ph[0].lr * t->ph[0].head_lr_scale));
    MLCL_TRY(mlcl_optim_set_lr(t->popt, 2, t->ph[0].lr * t->ph[0].head_lr_scale));

    size_t B = (size_t)t->batch;
    int hd = t->hdim;
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
    t->phase = (o->method == MLCL_METHOD_NONE || t->ph[0].epochs == 0) ? 2 : 1;
    if (t->phase == 2 && t->ph[1].epochs == 0) t->phase = 3;
    t->pos = -1; /* no permutation drawn yet for this epoch */
    if (t->stream) t->data_crc = mlcl__crc32_bytes(t->stream_crc, t->y, (size_t)n * c);
    else if (sparse) t->data_crc = mlcl__trainer_sparse_crc(t);
    else t->data_crc = mlcl__crc32_bytes(mlcl__crc32_bytes((uint32_t)crc32(0L, Z_NULL, 0), x, nd * sizeof(float)), t->y, (size_t)n * c);
    return MLCL_OK;
}

int mlcl_trainer_ex_options_init(mlcl_trainer_ex_options *extra, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_trainer_ex_options_init", extra, version, MLCL_TRAINER_EX_OPTIONS_VERSION, mlcl_trainer_ex_options,
                      MLCL_TRAINER_EX_OPTIONS_INIT);
}

int mlcl_trainer_create(mlcl_trainer **out, const mlcl_train_options *opts, const mlcl_dataset *train)
{
    return mlcl_trainer_create_ex(out, opts, train, NULL);
}

int mlcl__trainer_alloc(mlcl_trainer **out, const mlcl_train_options *opts, const char *fn)
{
    mlcl_trainer *t = mlcl__calloc(1, sizeof *t);
    if (!t) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    t->o = *opts;
    t->o_user = *opts;
    mlcl__train_phases(opts, t->ph);
    mlcl__train_phases(opts, t->ph_user);
    t->best_epoch = -1;
    t->best_value = t->last_value = NAN;
    if (opts->threads > 0) mlcl__threads_check(fn, opts->threads, 0, &t->threads); /* this trainer's count */
    *out = t;
    return MLCL_OK;
}

int mlcl_trainer_create_ex(mlcl_trainer **out, const mlcl_train_options *opts, const mlcl_dataset *train,
                           const mlcl_trainer_ex_options *extra)
{
    MLCL_CHECK_NULL(FN_CREATE, out);
    *out = NULL;
    MLCL_CHECK_NULL(FN_CREATE, opts);
    MLCL_CHECK_NULL(FN_CREATE, train);
    MLCL_CHECK_VERSION(FN_CREATE, opts, MLCL_TRAIN_OPTIONS_VERSION);
    MLCL_TRY(mlcl__train_check(opts, FN_CREATE));
    if (extra) MLCL_CHECK_VERSION(FN_CREATE, extra, MLCL_TRAINER_EX_OPTIONS_VERSION);
    if (extra && extra->finetune_views && !extra->pretrain_views)
        return mlcl__err(MLCL_EINVAL, "%s: extra->finetune_views needs extra->pretrain_views (they set the image size)", FN_CREATE);
    mlcl_trainer *t;
    MLCL_TRY(mlcl__trainer_alloc(&t, opts, FN_CREATE));
    int rc = mlcl__trainer_create_inner(t, train, extra);
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

/* The built-in single-rank communicator every trainer has until
 * mlcl_trainer_set_comm: each collective over one rank is the identity. */
static int local_sum_f32(void *ctx, float *buf, size_t n) { (void)ctx; (void)buf; (void)n; return 0; }
static int local_sum_f64(void *ctx, double *buf, size_t n) { (void)ctx; (void)buf; (void)n; return 0; }
static int local_gather(void *ctx, const void *send, size_t bytes, void *recv)
{
    (void)ctx;
    if (bytes) memmove(recv, send, bytes);
    return 0;
}
static int local_bcast(void *ctx, void *buf, size_t bytes, int root) { (void)ctx; (void)buf; (void)bytes; (void)root; return 0; }

void mlcl__trainer_local_comm(mlcl_comm *c)
{
    mlcl_comm d = MLCL_COMM_INIT;
    d.allreduce_f32 = local_sum_f32;
    d.allreduce_f64 = local_sum_f64;
    d.allgather = local_gather;
    d.bcast = local_bcast;
    *c = d;
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
        mlcl__trainer_local_comm(&t->comm);
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
