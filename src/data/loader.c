/* The streaming image loader (include/mlcl/loader.h).
 *
 * Work is handed out one image at a time, in batch order, under one mutex:
 * a task is (global batch g, item k); g runs over epochs (g = epoch * nb +
 * batch). Batch g lives in ring slot g % prefetch; a thread may take an item of
 * batch g only while g < released + prefetch (the slot is free) and g's epoch
 * is at most one past the epoch of the oldest unreleased batch (so two epoch
 * permutations suffice). The row of a task and its augmentation generator
 * depend only on (seed, epoch, position), never on which thread takes it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "core/internal.h"
#include "data/data_internal.h"
#include "data/readers_internal.h"
#include "mlcl/loader.h"
#include "data/loader_lib.h"

#define MAX_LOADER_THREADS 16

struct mlcl_image_list {
    mlcl__imglist l;
    size_t *off;     /* n + 1: row i's labels are lab[off[i] .. off[i+1]) */
    uint32_t *lab;
};

/* ---------------------------------------------------------------- lists */

void mlcl_image_list_free(mlcl_image_list *list)
{
    if (!list) return;
    mlcl__imglist_free(&list->l);
    mlcl__free(list->off);
    mlcl__free(list->lab);
    mlcl__free(list);
}

/* Builds the per-row label index from the (row, label) pairs. */
static int list_index(mlcl_image_list *L, const char *fn)
{
    mlcl__imglist *l = &L->l;
    MLCL_TRY(mlcl__alloc_array((void **)&L->off, l->n + 1, sizeof(size_t), fn));
    MLCL_TRY(mlcl__alloc_array((void **)&L->lab, l->npairs ? l->npairs : 1, sizeof(uint32_t), fn));
    for (size_t p = 0; p < l->npairs; p++) L->off[l->pairs[2 * p] + 1]++;
    for (size_t i = 0; i < l->n; i++) L->off[i + 1] += L->off[i];
    size_t *fill;
    MLCL_TRY(mlcl__alloc_array((void **)&fill, l->n ? l->n : 1, sizeof(size_t), fn));
    for (size_t p = 0; p < l->npairs; p++) {
        size_t r = l->pairs[2 * p];
        L->lab[L->off[r] + fill[r]++] = l->pairs[2 * p + 1];
    }
    mlcl__free(fill);
    return MLCL_OK;
}

int mlcl_image_list_create(mlcl_image_list **out, int n, const char *const *paths, const uint8_t *labels,
                           int n_labels)
{
    static const char fn[] = "mlcl_image_list_create";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_POS(fn, n_labels);
    MLCL_CHECK_NULL(fn, paths);
    MLCL_CHECK_NULL(fn, labels);
    mlcl_image_list *L = mlcl__calloc(1, sizeof *L);
    if (!L) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    int rc = MLCL_OK;
    char name[32];
    for (int j = 0; j < n_labels && rc == MLCL_OK; j++) {
        snprintf(name, sizeof name, "l%d", j + 1);
        rc = mlcl__imglist_add_name(&L->l, name, fn);
    }
    for (int i = 0; i < n && rc == MLCL_OK; i++) {
        if (!paths[i]) { rc = mlcl__err(MLCL_EINVAL, "%s: paths[%d] is NULL", fn, i); break; }
        rc = mlcl__imglist_add_path(&L->l, paths[i], fn);
        for (int j = 0; j < n_labels && rc == MLCL_OK; j++) {
            uint8_t v = labels[(size_t)i * (size_t)n_labels + (size_t)j];
            if (v > 1) rc = mlcl__err(MLCL_EINVAL, "%s: labels[%d][%d] is %u, not 0 or 1", fn, i, j, v);
            else if (v) rc = mlcl__imglist_add_pair(&L->l, (size_t)i, (size_t)j, fn);
        }
    }
    if (rc == MLCL_OK) rc = list_index(L, fn);
    if (rc < 0) { mlcl_image_list_free(L); return rc; }
    *out = L;
    return MLCL_OK;
}

/* kind: 0 CSV, 1 COCO, 2 VOC */
static int list_load(mlcl_image_list **out, int kind, const char *path, const char *split,
                     const mlcl_manifest_options *o, const char *fn)
{
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    if (kind == 2) MLCL_CHECK_NULL_AS(fn, path, "root");
    else MLCL_CHECK_NULL(fn, path);
    if (kind == 2) MLCL_CHECK_NULL(fn, split);
    mlcl_manifest_options def = MLCL_MANIFEST_OPTIONS_INIT;
    if (!o) o = &def;
    mlcl_image_list *L = mlcl__calloc(1, sizeof *L);
    if (!L) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    int rc = kind == 0 ? mlcl__imglist_read_csv(&L->l, path, o, fn)
           : kind == 1 ? mlcl__imglist_read_coco(&L->l, path, o, fn)
                       : mlcl__imglist_read_voc(&L->l, path, split, o, fn);
    if (rc == MLCL_OK && L->l.c == 0) rc = mlcl__err(MLCL_EFORMAT, "%s: %s: no label names", fn, path);
    if (rc == MLCL_OK && (L->l.n > (size_t)INT_MAX || L->l.c > (size_t)INT_MAX))
        rc = mlcl__err(MLCL_EOVERFLOW, "%s: %s: too many images or labels", fn, path);
    if (rc == MLCL_OK) rc = list_index(L, fn);
    if (rc < 0) { mlcl_image_list_free(L); return rc; }
    *out = L;
    return MLCL_OK;
}

int mlcl_image_list_load_csv(mlcl_image_list **out, const char *path, const mlcl_manifest_options *o)
{
    return list_load(out, 0, path, NULL, o, "mlcl_image_list_load_csv");
}

int mlcl_image_list_load_coco(mlcl_image_list **out, const char *path, const mlcl_manifest_options *o)
{
    return list_load(out, 1, path, NULL, o, "mlcl_image_list_load_coco");
}

int mlcl_image_list_load_voc(mlcl_image_list **out, const char *root, const char *split,
                             const mlcl_manifest_options *o)
{
    return list_load(out, 2, root, split, o, "mlcl_image_list_load_voc");
}

int mlcl_image_list_size(const mlcl_image_list *list, int *n, int *n_labels)
{
    static const char fn[] = "mlcl_image_list_size";
    MLCL_CHECK_NULL(fn, list);
    if (n) *n = (int)list->l.n;
    if (n_labels) *n_labels = (int)list->l.c;
    return MLCL_OK;
}

int mlcl_image_list_label_name(const mlcl_image_list *list, int j, const char **name)
{
    static const char fn[] = "mlcl_image_list_label_name";
    MLCL_CHECK_NULL(fn, list);
    MLCL_CHECK_NULL(fn, name);
    *name = NULL;
    if (j < 0 || (size_t)j >= list->l.c)
        return mlcl__err(MLCL_EINVAL, "%s: j = %d is not in [0, %zu)", fn, j, list->l.c);
    *name = list->l.names ? list->l.names[j] : NULL;
    if (!*name) return mlcl__err(MLCL_EINVAL, "%s: label %d has no name", fn, j);
    return MLCL_OK;
}

/* ---------------------------------------------------------------- options */

int mlcl_loader_options_init(mlcl_loader_options *o, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_loader_options_init", o, version, MLCL_LOADER_OPTIONS_VERSION, mlcl_loader_options, MLCL_LOADER_OPTIONS_INIT);
}

static int check_options(const mlcl_loader_options *o, const char *fn)
{
    MLCL_CHECK_VERSION(fn, o, MLCL_LOADER_OPTIONS_VERSION);
    if (o->batch <= 0) return mlcl__err(MLCL_EINVAL, "%s: o->batch must be > 0 (got %d)", fn, o->batch);
    if (o->height <= 0 || o->width <= 0 || o->height > 65536 || o->width > 65536)
        return mlcl__err(MLCL_EINVAL, "%s: o->height and o->width must be in [1, 65536] (got %d x %d)", fn, o->height,
                         o->width);
    if (o->channels != 1 && o->channels != 3)
        return mlcl__err(MLCL_EINVAL, "%s: o->channels must be 1 or 3 (got %d)", fn, o->channels);
    if (o->resize < 0 || o->resize > 65536 || (o->resize > 0 && (o->resize < o->height || o->resize < o->width)))
        return mlcl__err(MLCL_EINVAL, "%s: o->resize must be 0 or in [max(height, width), 65536] (got %d for %d x %d)",
                         fn, o->resize, o->height, o->width);
    if (o->threads < 0) return mlcl__err(MLCL_EINVAL, "%s: o->threads must be >= 0 (got %d)", fn, o->threads);
    if (o->prefetch < 1 || o->prefetch > 1024)
        return mlcl__err(MLCL_EINVAL, "%s: o->prefetch must be in [1, 1024] (got %d)", fn, o->prefetch);
    if (o->views < 0 || o->views > 2) return mlcl__err(MLCL_EINVAL, "%s: o->views must be 0, 1 or 2 (got %d)", fn, o->views);
    if (o->views && o->simclr.version != MLCL_SIMCLR_OPTIONS_VERSION)
        return mlcl__err(MLCL_EVERSION, "%s: o->simclr.version %u is not %u", fn, o->simclr.version,
                         MLCL_SIMCLR_OPTIONS_VERSION);
    if (o->views && (o->simclr.out_h < 0 || o->simclr.out_w < 0))
        return mlcl__err(MLCL_EINVAL, "%s: o->simclr.out_h/out_w must be >= 0", fn);
    if (o->normalize != MLCL_NORMALIZE_NONE && o->normalize != MLCL_NORMALIZE_IMAGENET &&
        o->normalize != MLCL_NORMALIZE_CUSTOM)
        return mlcl__err(MLCL_EINVAL, "%s: o->normalize %d is not an MLCL_NORMALIZE_* value", fn, o->normalize);
    if (o->normalize == MLCL_NORMALIZE_CUSTOM)
        for (int k = 0; k < o->channels; k++)
            if (!isfinite(o->mean[k]) || !(o->std[k] > 0) || !isfinite(o->std[k]))
                return mlcl__err(MLCL_EINVAL, "%s: o->mean[%d] must be finite and o->std[%d] finite and > 0", fn, k, k);
    return MLCL_OK;
}

/* ---------------------------------------------------------------- the loader */

typedef struct {
    float *x;            /* batch x views x d: view 0 of every item, then view 1 */
    uint8_t *y;          /* batch x c */
    int *rows;           /* batch */
    uint8_t *bad;        /* batch: 1 = skipped */
    long long g;         /* the global batch held, -1: none */
    int size, done;      /* items in the batch, items finished */
    int err_item, err_rc;/* the first failed item (by position), -1: none */
    int err_row;         /* its list row */
    char err_msg[1024];
} slot;

typedef struct {
    mlcl_loader *L;
    int id;
} worker_arg;

struct mlcl_loader {
    const mlcl_image_list *list;
    mlcl_loader_options o;
    int n, c, B, P, T, V;     /* images, labels, batch, prefetch slots, threads, views stored (>= 1) */
    int oh, ow;               /* output size */
    size_t d, din;            /* floats per output image; per resized image */
    long long nb;             /* batches per epoch */
    float mean[3], std[3];
    slot *slots;
    int *perm[2];             /* the permutations of two epochs */
    long long perm_epoch[2];
    /* shared state, under mu */
    pthread_mutex_t mu;
    pthread_cond_t work_cv, ready_cv;
    int stop;
    long long next_g;         /* next task */
    int next_item;
    long long released;       /* the next batch to return: every g < released is released */
    int holding;              /* 1: the batch `released` was returned and is still borrowed */
    long long images, skipped;
    double busy;
    /* consumer-side counters */
    double wait_s;
    long long batches;
    /* threads */
    pthread_t th[MAX_LOADER_THREADS];
    int started;
    worker_arg args[MAX_LOADER_THREADS];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int batch_size(const mlcl_loader *L, long long b)
{
    long long rest = (long long)L->n - b * L->B;
    return rest < L->B ? (int)rest : L->B;
}

/* The permutation of epoch e into perm[e % 2] (under mu). */
static const int *epoch_perm(mlcl_loader *L, long long e)
{
    int s = (int)(e & 1);
    if (L->perm_epoch[s] != e) {
        int *p = L->perm[s];
        for (int i = 0; i < L->n; i++) p[i] = i;
        if (L->o.shuffle) {
            mlcl__pcg r;
            mlcl__pcg_seed(&r, mix64(L->o.seed ^ mix64((uint64_t)e)), 0x6c6f61646572ULL /* "loader" */);
            mlcl__pcg_permutation(&r, p, L->n);
        }
        L->perm_epoch[s] = e;
    }
    return L->perm[s];
}

/* Decodes, resizes, augments and normalises row `row` of epoch `e` into
 * slot s at item k. scratch: din floats. Runs without the lock. */
static int process(mlcl_loader *L, slot *s, int k, int row, long long e, float *scratch)
{
    float *px = NULL;
    int c, h, w;
    int rc = mlcl_image_read(&px, &c, &h, &w, L->list->l.paths[row], L->o.channels);
    float *dst = L->o.views ? scratch : s->x + (size_t)k * L->d;
    if (rc == MLCL_OK && L->o.resize > 0) {
        /* shorter side to `resize` (the other rounded down, as torchvision), then the centre crop */
        int sh = h <= w ? L->o.resize : (int)((long long)L->o.resize * h / w);
        int sw = h <= w ? (int)((long long)L->o.resize * w / h) : L->o.resize;
        if (sh < L->o.height) sh = L->o.height;
        if (sw < L->o.width) sw = L->o.width;
        float *mid = malloc((size_t)c * (size_t)sh * (size_t)sw * sizeof(float));
        if (!mid) rc = mlcl__err(MLCL_ENOMEM, "mlcl_loader_next: out of memory (resizing %s)", L->list->l.paths[row]);
        if (rc == MLCL_OK) rc = mlcl_image_resize_crop(mid, sh, sw, px, c, h, w);
        if (rc == MLCL_OK) {
            int top = (int)lround((sh - L->o.height) / 2.0), left = (int)lround((sw - L->o.width) / 2.0);
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < L->o.height; y++)
                    memcpy(dst + ((size_t)ch * L->o.height + y) * L->o.width,
                           mid + ((size_t)ch * sh + top + y) * sw + left, (size_t)L->o.width * sizeof(float));
        }
        free(mid);
    } else if (rc == MLCL_OK) {
        rc = mlcl_image_resize_crop(dst, L->o.height, L->o.width, px, c, h, w);
    }
    mlcl_image_free(px);
    if (rc < 0) return rc;
    if (L->o.views) {
        struct mlcl_rng r;
        mlcl__pcg_seed(&r.pcg, mix64(L->o.seed ^ mix64((uint64_t)e ^ 0x61756776ULL)), (uint64_t)row);
        for (int v = 0; v < L->o.views && rc == MLCL_OK; v++)
            rc = mlcl_image_simclr(s->x + ((size_t)v * L->B + (size_t)k) * L->d, scratch, 1, L->o.channels,
                                   L->o.height, L->o.width, &L->o.simclr, &r);
        if (rc < 0) return rc;
    }
    if (L->o.normalize != MLCL_NORMALIZE_NONE) {
        size_t plane = (size_t)L->oh * (size_t)L->ow;
        for (int v = 0; v < L->V; v++) {
            float *x = s->x + ((size_t)v * L->B + (size_t)k) * L->d;
            for (int ch = 0; ch < L->o.channels; ch++) {
                float m = L->mean[ch], inv = 1.0f / L->std[ch];
                for (size_t i = 0; i < plane; i++) x[ch * plane + i] = (x[ch * plane + i] - m) * inv;
            }
        }
    }
    uint8_t *y = s->y + (size_t)k * L->c;
    memset(y, 0, (size_t)L->c);
    for (size_t p = L->list->off[row]; p < L->list->off[row + 1]; p++) y[L->list->lab[p]] = 1;
    s->rows[k] = row;
    return MLCL_OK;
}

static void *worker(void *arg)
{
    worker_arg *a = arg;
    mlcl_loader *L = a->L;
    float *scratch = L->o.views ? malloc(L->din * sizeof(float)) : NULL;
    pthread_mutex_lock(&L->mu);
    for (;;) {
        /* wait for a task whose slot is free */
        while (!L->stop && (L->next_g >= L->released + L->P || L->next_g / L->nb > L->released / L->nb + 1))
            pthread_cond_wait(&L->work_cv, &L->mu);
        if (L->stop) break;
        long long g = L->next_g, e = g / L->nb, b = g % L->nb;
        int k = L->next_item;
        slot *s = &L->slots[g % L->P];
        if (k == 0) { /* the slot's previous batch was released */
            s->g = g;
            s->size = batch_size(L, b);
            s->done = 0;
            s->err_item = -1;
            memset(s->bad, 0, (size_t)L->B);
        }
        if (++L->next_item == s->size) { L->next_g++; L->next_item = 0; }
        int row = epoch_perm(L, e)[b * L->B + k];
        pthread_mutex_unlock(&L->mu);

        double t0 = now_s();
        int rc = (!scratch && L->o.views) ? mlcl__err(MLCL_ENOMEM, "mlcl_loader_next: out of memory (loader scratch)")
                                          : process(L, s, k, row, e, scratch);
        double dt = now_s() - t0;

        pthread_mutex_lock(&L->mu);
        L->busy += dt;
        if (rc == MLCL_OK) {
            L->images++;
        } else if (L->o.skip_bad_images && (rc == MLCL_EFORMAT || rc == MLCL_EIO)) { /* the file's fault only */
            s->bad[k] = 1;
            L->skipped++;
        } else if (s->err_item < 0 || k < s->err_item) {
            s->err_item = k;
            s->err_rc = rc;
            s->err_row = row;
            snprintf(s->err_msg, sizeof s->err_msg, "%s", mlcl_last_error());
        }
        if (++s->done == s->size) pthread_cond_broadcast(&L->ready_cv);
    }
    pthread_mutex_unlock(&L->mu);
    free(scratch);
    return NULL;
}

static void stop_threads(mlcl_loader *L)
{
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->work_cv);
    pthread_mutex_unlock(&L->mu);
    for (int t = 0; t < L->started; t++) pthread_join(L->th[t], NULL);
    L->started = 0;
}

/* Resets the queue to global batch g and starts the threads. */
static int start_at(mlcl_loader *L, long long g, const char *fn)
{
    L->stop = 0;
    L->next_g = g;
    L->next_item = 0;
    L->released = g;
    L->holding = 0;
    for (int p = 0; p < L->P; p++) L->slots[p].g = -1;
    for (int t = 0; t < L->T; t++) {
        L->args[t].L = L;
        L->args[t].id = t;
        if (pthread_create(&L->th[t], NULL, worker, &L->args[t]) != 0) {
            stop_threads(L);
            return mlcl__err(MLCL_ENOMEM, "%s: cannot start loader thread %d of %d", fn, t + 1, L->T);
        }
        L->started = t + 1;
    }
    return MLCL_OK;
}

void mlcl_loader_free(mlcl_loader *L)
{
    if (!L) return;
    if (L->started) stop_threads(L);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->work_cv);
    pthread_cond_destroy(&L->ready_cv);
    if (L->slots)
        for (int p = 0; p < L->P; p++) {
            mlcl__free(L->slots[p].x);
            mlcl__free(L->slots[p].y);
            mlcl__free(L->slots[p].rows);
            mlcl__free(L->slots[p].bad);
        }
    mlcl__free(L->slots);
    mlcl__free(L->perm[0]);
    mlcl__free(L->perm[1]);
    mlcl__free(L);
}

int mlcl_loader_create(mlcl_loader **out, const mlcl_image_list *list, const mlcl_loader_options *o)
{
    static const char fn[] = "mlcl_loader_create";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, list);
    mlcl_loader_options def = MLCL_LOADER_OPTIONS_INIT;
    if (!o) o = &def;
    MLCL_TRY(check_options(o, fn));
    if (o->drop_last && list->l.n < (size_t)o->batch)
        return mlcl__err(MLCL_EINVAL, "%s: drop_last with %zu images < o->batch %d leaves no batch", fn, list->l.n,
                         o->batch);
    mlcl_loader *L = mlcl__calloc(1, sizeof *L);
    if (!L) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->work_cv, NULL);
    pthread_cond_init(&L->ready_cv, NULL);
    L->list = list;
    L->o = *o;
    L->n = (int)list->l.n;
    L->c = (int)list->l.c;
    L->B = o->batch;
    L->P = o->prefetch;
    L->V = o->views > 0 ? o->views : 1;
    L->oh = o->views && o->simclr.out_h ? o->simclr.out_h : o->height;
    L->ow = o->views && o->simclr.out_w ? o->simclr.out_w : o->width;
    if (o->views) { L->o.simclr.out_h = L->oh; L->o.simclr.out_w = L->ow; }
    L->d = (size_t)o->channels * (size_t)L->oh * (size_t)L->ow;
    L->din = (size_t)o->channels * (size_t)o->height * (size_t)o->width;
    L->nb = o->drop_last ? L->n / L->B : (L->n + L->B - 1) / L->B;
    L->perm_epoch[0] = L->perm_epoch[1] = -1;
    static const float im_mean[3] = { 0.485f, 0.456f, 0.406f }, im_std[3] = { 0.229f, 0.224f, 0.225f };
    for (int k = 0; k < 3; k++) {
        if (o->normalize == MLCL_NORMALIZE_IMAGENET) {
            L->mean[k] = o->channels == 1 ? 0.449f : im_mean[k];
            L->std[k] = o->channels == 1 ? 0.226f : im_std[k];
        } else if (o->normalize == MLCL_NORMALIZE_CUSTOM) {
            L->mean[k] = o->mean[k];
            L->std[k] = o->std[k];
        } else {
            L->mean[k] = 0.0f;
            L->std[k] = 1.0f;
        }
    }
    int T = o->threads;
    if (T == 0) T = mlcl__cpus_available();
    if (T < 1) T = 1;
    if (T > MAX_LOADER_THREADS) T = MAX_LOADER_THREADS;
    L->T = T;
    size_t xs;
    int rc = MLCL_OK;
    if (mlcl__mul_size(L->d, (size_t)L->B * (size_t)L->V, &xs) != 0 || xs > SIZE_MAX / sizeof(float) / (size_t)L->P) {
        rc = mlcl__err(MLCL_EOVERFLOW, "%s: a batch of %d x %d views of %zu floats is too large", fn, L->B, L->V, L->d);
        goto fail;
    }
    mlcl__mem_est est = { 0 };
    mlcl__est_add(&est, (double)xs * sizeof(float) * L->P, "the prefetch ring", "%d batches", L->P);
    if ((rc = mlcl__mem_check(&est, fn)) < 0) goto fail;
    if ((rc = mlcl__alloc_array((void **)&L->slots, (size_t)L->P, sizeof(slot), fn)) < 0) goto fail;
    for (int p = 0; p < L->P; p++) {
        slot *s = &L->slots[p];
        if ((rc = mlcl__alloc_array((void **)&s->x, xs, sizeof(float), fn)) < 0 ||
            (rc = mlcl__alloc_array((void **)&s->y, (size_t)L->B, (size_t)L->c, fn)) < 0 ||
            (rc = mlcl__alloc_array((void **)&s->rows, (size_t)L->B, sizeof(int), fn)) < 0 ||
            (rc = mlcl__alloc_array((void **)&s->bad, (size_t)L->B, 1, fn)) < 0)
            goto fail;
    }
    for (int k = 0; k < 2; k++)
        if ((rc = mlcl__alloc_array((void **)&L->perm[k], (size_t)L->n, sizeof(int), fn)) < 0) goto fail;
    if (o->views) {
        /* the augmentation options are checked here, once, not per image in the threads */
        float *probe = NULL, *pout = NULL;
        if ((rc = mlcl__alloc_array((void **)&probe, L->din, sizeof(float), fn)) == MLCL_OK &&
            (rc = mlcl__alloc_array((void **)&pout, L->d, sizeof(float), fn)) == MLCL_OK) {
            mlcl_rng r;
            mlcl__pcg_seed(&r.pcg, 1, 1);
            rc = mlcl_image_simclr(pout, probe, 1, o->channels, o->height, o->width, &L->o.simclr, &r);
            if (rc < 0) rc = mlcl__err(rc, "%s: o->simclr: %s", fn, mlcl_last_error());
        }
        mlcl__free(probe);
        mlcl__free(pout);
        if (rc < 0) goto fail;
    }
    if ((rc = start_at(L, 0, fn)) < 0) goto fail;
    *out = L;
    return MLCL_OK;
fail:
    mlcl_loader_free(L);
    return rc;
}

/* Hands the held batch back to the threads (under mu). */
static void release_held(mlcl_loader *L)
{
    if (!L->holding) return;
    L->holding = 0;
    L->released++;
    pthread_cond_broadcast(&L->work_cv);
}

int mlcl_loader_batch_init(mlcl_loader_batch *batch, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_loader_batch_init", batch, version, MLCL_LOADER_BATCH_VERSION, mlcl_loader_batch, MLCL_LOADER_BATCH_INIT);
}

int mlcl_loader_stats_init(mlcl_loader_stats *stats, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_loader_stats_init", stats, version, MLCL_LOADER_STATS_VERSION, mlcl_loader_stats, MLCL_LOADER_STATS_INIT);
}

int mlcl_loader_next(mlcl_loader *L, mlcl_loader_batch *b)
{
    static const char fn[] = "mlcl_loader_next";
    MLCL_CHECK_NULL(fn, L);
    MLCL_CHECK_NULL(fn, b);
    MLCL_CHECK_VERSION(fn, b, MLCL_LOADER_BATCH_VERSION);
    memset(b, 0, sizeof *b);
    b->version = MLCL_LOADER_BATCH_VERSION;
    pthread_mutex_lock(&L->mu);
    release_held(L);
    long long g = L->released;
    slot *s = &L->slots[g % L->P];
    if (!(s->g == g && s->done == s->size)) {
        double t0 = now_s();
        while (!(s->g == g && s->done == s->size)) pthread_cond_wait(&L->ready_cv, &L->mu);
        L->wait_s += now_s() - t0;
    }
    pthread_mutex_unlock(&L->mu);
    /* the slot is ours until released: the threads never touch a finished batch */
    long long e = g / L->nb, bi = g % L->nb;
    if (s->err_item >= 0)
        return mlcl__err(s->err_rc, "%s: epoch %lld, batch %lld, image %d (list row %d): %s%s", fn, e, bi,
                         s->err_item + 1, s->err_row, s->err_msg,
                         s->err_rc == MLCL_ENOMEM ? "" : " (skip_bad_images leaves such images out)");
    /* compact the good items to the front (their order kept) */
    int keep = 0;
    for (int k = 0; k < s->size; k++) {
        if (s->bad[k]) continue;
        if (keep != k) {
            for (int v = 0; v < L->V; v++)
                memmove(s->x + ((size_t)v * L->B + keep) * L->d, s->x + ((size_t)v * L->B + k) * L->d,
                        L->d * sizeof(float));
            memmove(s->y + (size_t)keep * L->c, s->y + (size_t)k * L->c, (size_t)L->c);
            s->rows[keep] = s->rows[k];
        }
        keep++;
    }
    int skipped = s->size - keep;
    if (keep == 0) {
        pthread_mutex_lock(&L->mu);
        L->holding = 1;
        pthread_mutex_unlock(&L->mu);
        return mlcl__err(MLCL_EFORMAT, "%s: epoch %lld, batch %lld: all %d images were unreadable and skipped", fn,
                         e, bi, skipped);
    }
    pthread_mutex_lock(&L->mu);
    L->holding = 1;
    L->batches++;
    pthread_mutex_unlock(&L->mu);
    b->n = keep;
    b->epoch = (int)e;
    b->index = bi;
    b->d = (int)L->d;
    b->x = s->x;
    b->x2 = L->o.views == 2 ? s->x + (size_t)L->B * L->d : NULL;
    b->y = s->y;
    b->rows = s->rows;
    b->skipped = skipped;
    return MLCL_OK;
}

int mlcl_loader_position(const mlcl_loader *L, int *epoch, long long *batch)
{
    static const char fn[] = "mlcl_loader_position";
    MLCL_CHECK_NULL(fn, L);
    pthread_mutex_lock((pthread_mutex_t *)&L->mu);
    long long g = L->released + L->holding;
    pthread_mutex_unlock((pthread_mutex_t *)&L->mu);
    if (epoch) *epoch = (int)(g / L->nb);
    if (batch) *batch = g % L->nb;
    return MLCL_OK;
}

int mlcl_loader_seek(mlcl_loader *L, int epoch, long long batch)
{
    static const char fn[] = "mlcl_loader_seek";
    MLCL_CHECK_NULL(fn, L);
    if (epoch < 0) return mlcl__err(MLCL_EINVAL, "%s: epoch must be >= 0 (got %d)", fn, epoch);
    if (batch < 0 || batch >= L->nb)
        return mlcl__err(MLCL_EINVAL, "%s: batch must be in [0, %lld) (got %lld)", fn, L->nb, batch);
    stop_threads(L);
    return start_at(L, (long long)epoch * L->nb + batch, fn);
}

int mlcl_loader_batches_per_epoch(const mlcl_loader *L, long long *batches)
{
    static const char fn[] = "mlcl_loader_batches_per_epoch";
    MLCL_CHECK_NULL(fn, L);
    MLCL_CHECK_NULL(fn, batches);
    *batches = L->nb;
    return MLCL_OK;
}

int mlcl_loader_stats_get(const mlcl_loader *L, mlcl_loader_stats *s)
{
    static const char fn[] = "mlcl_loader_stats_get";
    MLCL_CHECK_NULL(fn, L);
    MLCL_CHECK_NULL(fn, s);
    MLCL_CHECK_VERSION(fn, s, MLCL_LOADER_STATS_VERSION);
    pthread_mutex_lock((pthread_mutex_t *)&L->mu);
    s->images = L->images;
    s->skipped = L->skipped;
    s->busy_seconds = L->busy;
    pthread_mutex_unlock((pthread_mutex_t *)&L->mu);
    s->wait_seconds = L->wait_s;
    s->batches = L->batches;
    s->threads = L->T;
    s->ring_bytes = (size_t)L->P * ((size_t)L->B * L->V * L->d * sizeof(float) + (size_t)L->B * ((size_t)L->c + sizeof(int) + 1));
    return MLCL_OK;
}

int mlcl_loader_normalization(const mlcl_loader *L, float *mean, float *std)
{
    static const char fn[] = "mlcl_loader_normalization";
    MLCL_CHECK_NULL(fn, L);
    MLCL_CHECK_NULL(fn, mean);
    MLCL_CHECK_NULL(fn, std);
    for (int k = 0; k < L->o.channels; k++) {
        mean[k] = L->mean[k];
        std[k] = L->std[k];
    }
    return MLCL_OK;
}

/* ---------------------------------------------------------------- for the trainer (loader_lib.h) */

const mlcl_loader_options *mlcl__loader_options(const mlcl_loader *L) { return &L->o; }
const mlcl_image_list *mlcl__loader_list(const mlcl_loader *L) { return L->list; }
void mlcl__loader_out_size(const mlcl_loader *L, int *h, int *w) { *h = L->oh; *w = L->ow; }

void mlcl__image_list_labels(const mlcl_image_list *l, uint8_t *y)
{
    memset(y, 0, l->l.n * l->l.c);
    for (size_t i = 0; i < l->l.n; i++)
        for (size_t p = l->off[i]; p < l->off[i + 1]; p++) y[i * l->l.c + l->lab[p]] = 1;
}

uint32_t mlcl__image_list_crc(const mlcl_image_list *l, uint32_t crc)
{
    for (size_t i = 0; i < l->l.n; i++) {
        crc = (uint32_t)crc32(crc, (const Bytef *)l->l.paths[i], (uInt)strlen(l->l.paths[i]) + 1);
        crc = (uint32_t)crc32(crc, (const Bytef *)(l->lab + l->off[i]), (uInt)((l->off[i + 1] - l->off[i]) * sizeof(uint32_t)));
    }
    return crc;
}
