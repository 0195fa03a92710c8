/* The trainer's data pipeline: masked views, label gathering, image views,
 * streaming from loaders. */
#include <math.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include "mlcl/train.h"
#include "train/trainer_internal.h"
#include "data/loader_lib.h"
#include "kernels/vec.h"
#include "kernels/par.h"

double mlcl__now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* dst = src with every element zeroed iff its draw says so (kernels/vec.h) */
MLCL_VEC_CLONES static void mask_apply(size_t m, const uint32_t *restrict u, uint32_t thr, const float *restrict src,
                                       float *restrict dst)
{
    for (size_t i = 0; i < m; i++) dst[i] = (u[i] >> 8) < thr ? 0.0f : src[i];
}

/* The masked view of k gathered rows (dst: k x d): every element zeroed
 * independently with probability p, one draw per element in row order, u < p
 * on integers (kernels/pcgfill.h): the same masks as mlcl__pcg_uniform(r) < p.
 * The draws are made in chunks that run across rows (exactly k d of them),
 * not row by row: the same sequence, with the generator's lanes set up once
 * per chunk instead of once per row. */
static void mask_rows(mlcl__pcg *r, float *dst, const float *x, const int *rows, int k, size_t d, float p)
{
    if (p <= 0) {
        for (int i = 0; i < k; i++) memcpy(dst + (size_t)i * d, x + (size_t)rows[i] * d, d * sizeof(float));
        return;
    }
    uint32_t thr = mlcl__pcg_threshold(p), u[PCGFILL_CHUNK];
    size_t total = (size_t)k * d, done = 0, j = 0;
    int i = 0;
    while (done < total) {
        size_t m = total - done < PCGFILL_CHUNK ? total - done : PCGFILL_CHUNK;
        mlcl__pcg_fill(r, u, m);
        for (size_t c = 0; c < m;) {
            size_t run = m - c < d - j ? m - c : d - j;
            mask_apply(run, u + c, thr, x + (size_t)rows[i] * d + j, dst + (size_t)i * d + j);
            c += run;
            j += run;
            if (j == d) { j = 0; i++; }
        }
        done += m;
    }
}

/* one masked view as a task of mlcl__par2 (its own generator r) */
typedef struct view_job {
    mlcl__pcg r;
    float *dst;
    const mlcl_trainer *t;
    int k;
    size_t d;
    float p;
} view_job;

static void view_run(void *arg)
{
    view_job *v = arg;
    mask_rows(&v->r, v->dst, v->t->x, v->t->rows, v->k, v->d, v->p);
}

void mlcl__trainer_gather(mlcl_trainer *t, int k)
{
    for (int i = 0; i < k; i++) {
        int r = t->rows[i];
        memcpy(t->yb + (size_t)i * t->words, t->yp + (size_t)r * t->words, sizeof(uint64_t) * t->words);
    }
}

int mlcl__trainer_views(mlcl_trainer *t, int k)
{
    size_t d = (size_t)t->d;
    const mlcl__phase *ph = &t->ph[t->phase == 1 ? 0 : 1];
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
    } else if (t->phase == 1 && ph->mask_p > 0 && mlcl__threads_current() >= 2 && (size_t)k * d >= 8192) {
        /* the two views at once: view 1's draws follow view 0's k d draws in
         * the stream, so its generator starts that far ahead; the stream ends
         * where it would after both */
        view_job v[2] = { { t->rng, t->x0, t, k, d, ph->mask_p }, { t->rng, t->x1, t, k, d, ph->mask_p } };
        mlcl__pcg_advance(&v[1].r, (uint64_t)k * d);
        mlcl__par2(view_run, &v[1], view_run, &v[0]);
        t->rng = v[1].r;
    } else {
        mask_rows(&t->rng, t->x0, t->x, t->rows, k, d, ph->mask_p);
        if (t->phase == 1) mask_rows(&t->rng, t->x1, t->x, t->rows, k, d, ph->mask_p);
    }
    return MLCL_OK;
}

/* ---------------------------------------------------------------- streaming (mlcl/loader.h) */

static uint32_t loader_crc(uint32_t crc, const mlcl_loader *L)
{
    const mlcl_loader_options *o = mlcl__loader_options(L);
    int h, w;
    mlcl__loader_out_size(L, &h, &w);
    long long v[] = { o->batch, o->height, o->width, o->resize, o->channels, (long long)o->seed, o->shuffle,
                      o->drop_last, o->views, o->normalize, h, w };
    crc = mlcl__crc32_bytes(crc, v, sizeof v);
    if (o->views) crc = mlcl__crc32_bytes(crc, &o->simclr, sizeof o->simclr);
    if (o->normalize == MLCL_NORMALIZE_CUSTOM) {
        crc = mlcl__crc32_bytes(crc, o->mean, sizeof o->mean);
        crc = mlcl__crc32_bytes(crc, o->std, sizeof o->std);
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
    int need_pre = opts->method != MLCL_METHOD_NONE && opts->pretrain_epochs > 0, need_ft = opts->finetune_epochs > 0;
    if (need_pre && !pre) return mlcl__err(MLCL_EINVAL, "%s: pretrain is NULL but pretraining runs (method %d, %d epochs)", fn, opts->method, opts->pretrain_epochs);
    if (need_ft && !ft) return mlcl__err(MLCL_EINVAL, "%s: finetune is NULL but finetune_epochs = %d", fn, opts->finetune_epochs);
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
    MLCL_TRY(mlcl__train_check(opts, fn));
    const mlcl_image_list *list = mlcl__loader_list(L0);
    int n, c;
    MLCL_TRY(mlcl_image_list_size(list, &n, &c));
    if (n < 2) return mlcl__err(MLCL_EINVAL, "%s: the list has %d images; at least 2 are needed", fn, n);
    mlcl_trainer *t;
    MLCL_TRY(mlcl__trainer_alloc(&t, opts, fn));
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
        mlcl_trainer_ex_options ex = MLCL_TRAINER_EX_OPTIONS_INIT;
        ex.backbone = backbone;
        rc = mlcl__trainer_create_inner(t, NULL, &ex);
    }
    if (rc != MLCL_OK) { mlcl_trainer_free(t); return rc; }
    *out = t;
    return MLCL_OK;
}
