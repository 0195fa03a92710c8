/* The decode pool: the images of a list decoded, resized and cropped into a
 * dataset on o->threads threads (the manifest readers' shared back end). */
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "data/readers_internal.h"

#define MAX_THREADS 8

typedef struct {
    const mlcl__imglist *l;
    mlcl_dataset *ds;
    const mlcl_manifest_options *o;
    const char *src, *fn;
    size_t d;
    pthread_mutex_t mu;
    size_t next;
    int stop;
    uint8_t *bad;
    size_t err_row;
    int err_rc;
    char err_msg[1024];
} decode_job;

static int decode_one(decode_job *j, size_t i)
{
    float *px = NULL;
    int c, h, w;
    int rc = mlcl_image_read(&px, &c, &h, &w, j->l->paths[i], j->o->channels);
    if (rc == MLCL_OK)
        rc = mlcl_image_resize_crop(j->ds->x + i * j->d, j->o->height, j->o->width, px, c, h, w);
    mlcl_image_free(px);
    return rc;
}

static void *decode_worker(void *arg)
{
    decode_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        int stop = j->stop;
        pthread_mutex_unlock(&j->mu);
        if (stop || i >= j->l->n) break;
        int rc = decode_one(j, i);
        if (rc == MLCL_OK) continue;
        pthread_mutex_lock(&j->mu);
        if (j->o->skip_bad_images && rc != MLCL_ENOMEM) {
            j->bad[i] = 1;
        } else if (i < j->err_row) {
            j->err_row = i;
            j->err_rc = rc;
            snprintf(j->err_msg, sizeof j->err_msg, "%s", mlcl_last_error());
            j->stop = 1;
        }
        pthread_mutex_unlock(&j->mu);
    }
    return NULL;
}

int mlcl__imglist_build(mlcl_dataset **out, int *skipped, mlcl__imglist *l,
                        const mlcl_manifest_options *o, const char *src, const char *fn)
{
    if (l->n == 0) return mlcl__err(MLCL_EFORMAT, "%s: %s: no images", fn, src);
    if (o->n_label_names > 0) MLCL_TRY(mlcl__imglist_remap(l, o, src, fn));
    if (l->c == 0) return mlcl__err(MLCL_EFORMAT, "%s: %s: no label names (no labels at all?)", fn, src);
    if (l->c > (size_t)INT_MAX) return mlcl__err(MLCL_EOVERFLOW, "%s: %s: too many labels", fn, src);
    size_t d = (size_t)o->channels * (size_t)o->height * (size_t)o->width;
    if (d > (size_t)INT_MAX)
        return mlcl__err(MLCL_EOVERFLOW, "%s: images of %d x %d x %d are too large", fn, o->channels, o->height, o->width);
    /* an in-memory set larger than the machine fails here, not in the OOM killer */
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    double need = (double)l->n * (double)d * sizeof(float), have = (double)pages * (double)psz;
    if (pages > 0 && psz > 0 && need > 0.9 * have)
        return mlcl__err(MLCL_ENOMEM, "%s: %s: %zu images of %d x %d x %d need %.1f GB in memory, more than this machine's %.1f GB: use a smaller image size",
                         fn, src, l->n, o->channels, o->height, o->width, need / 1e9, have / 1e9);
    mlcl_dataset *ds;
    MLCL_TRY(mlcl__dataset_alloc(&ds, (int)l->n, (int)d, (int)l->c, fn));
    for (size_t p = 0; p < l->npairs; p++)
        ds->y[(size_t)l->pairs[2 * p] * l->c + l->pairs[2 * p + 1]] = 1;
    decode_job j;
    memset(&j, 0, sizeof j);
    j.l = l; j.ds = ds; j.o = o; j.src = src; j.fn = fn; j.d = d;
    j.err_row = SIZE_MAX;
    int rc = MLCL_OK;
    if ((rc = mlcl__alloc_array((void **)&j.bad, l->n, 1, fn)) < 0) goto fail;
    pthread_mutex_init(&j.mu, NULL);
    int T = o->threads;
    if (T == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        T = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
    }
    if (T > MAX_THREADS) T = MAX_THREADS;
    if ((size_t)T > l->n) T = (int)l->n;
    pthread_t th[MAX_THREADS];
    int started[MAX_THREADS] = { 0 };
    for (int t = 1; t < T; t++) started[t] = pthread_create(&th[t], NULL, decode_worker, &j) == 0;
    decode_worker(&j);
    for (int t = 1; t < T; t++)
        if (started[t]) pthread_join(th[t], NULL);
    pthread_mutex_destroy(&j.mu);
    if (j.err_row != SIZE_MAX) {
        rc = mlcl__err(j.err_rc, "%s: %s: image %zu of %zu: %s%s", fn, src, j.err_row + 1, l->n, j.err_msg,
                       j.err_rc == MLCL_ENOMEM || o->skip_bad_images ? "" : " (skip_bad_images leaves such images out)");
        goto fail;
    }
    size_t keep = 0, c = l->c;
    for (size_t i = 0; i < l->n; i++) {
        if (j.bad[i]) continue;
        if (keep != i) {
            memmove(ds->x + keep * d, ds->x + i * d, d * sizeof(float));
            memmove(ds->y + keep * c, ds->y + i * c, c);
        }
        keep++;
    }
    if (keep == 0) {
        /* report why, from the first image */
        decode_job one = j;
        rc = decode_one(&one, 0);
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: none of the %zu images could be read (the first: %s)", fn, src,
                       l->n, rc < 0 ? mlcl_last_error() : "?");
        goto fail;
    }
    if (skipped) *skipped = (int)(l->n - keep);
    ds->n = (int)keep;
    mlcl__dataset_pack(ds);
    ds->ch = o->channels;
    ds->h = o->height;
    ds->w = o->width;
    if ((rc = mlcl__alloc_array((void **)&ds->label_names, c, sizeof(char *), fn)) < 0) goto fail;
    for (size_t k = 0; k < c; k++) {
        ds->label_names[k] = l->names[k]; /* ownership moves to the dataset */
        l->names[k] = NULL;
    }
    mlcl__free(j.bad);
    *out = ds;
    return MLCL_OK;
fail:
    mlcl__free(j.bad);
    mlcl_dataset_free(ds);
    return rc;
}
