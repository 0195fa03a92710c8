/* Image manifests (CSV/TSV lists, COCO instances JSON, PASCAL VOC trees)
 * decoded into in-memory image datasets, and the data-format guess. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "data/readers_internal.h"

#define MAX_LABELS (1 << 20)
#define MAX_THREADS 8
/* Largest (uncompressed) COCO JSON accepted. */
#define COCO_MAX_BYTES ((size_t)4 << 30)

int mlcl_manifest_options_init(mlcl_manifest_options *o, unsigned int version)
{
    MLCL_CHECK_NULL("mlcl_manifest_options_init", o);
    if (version != MLCL_MANIFEST_OPTIONS_VERSION)
        return mlcl__err(MLCL_EVERSION, "mlcl_manifest_options_init: version %u is not %u", version,
                         (unsigned)MLCL_MANIFEST_OPTIONS_VERSION);
    mlcl_manifest_options d = MLCL_MANIFEST_OPTIONS_INIT;
    *o = d;
    return MLCL_OK;
}

static int check_options(const mlcl_manifest_options *o, const char *fn)
{
    MLCL_CHECK_VERSION(fn, o, MLCL_MANIFEST_OPTIONS_VERSION);
    if (o->height <= 0 || o->width <= 0 || o->height > 65536 || o->width > 65536)
        return mlcl__err(MLCL_EINVAL, "%s: o->height and o->width must be in [1, 65536] (got %d x %d)", fn,
                         o->height, o->width);
    if (o->channels != 1 && o->channels != 3)
        return mlcl__err(MLCL_EINVAL, "%s: o->channels must be 1 or 3 (got %d)", fn, o->channels);
    if (o->voc_difficult != MLCL_VOC_DIFFICULT_NEGATIVE && o->voc_difficult != MLCL_VOC_DIFFICULT_POSITIVE)
        return mlcl__err(MLCL_EINVAL, "%s: o->voc_difficult %d is not an mlcl_voc_difficult value", fn, o->voc_difficult);
    if (o->n_label_names < 0 || (o->n_label_names > 0 && !o->label_names))
        return mlcl__err(MLCL_EINVAL, "%s: o->label_names is NULL with o->n_label_names = %d", fn, o->n_label_names);
    for (int i = 0; i < o->n_label_names; i++)
        if (!o->label_names[i]) return mlcl__err(MLCL_EINVAL, "%s: o->label_names[%d] is NULL", fn, i);
    if (o->threads < 0) return mlcl__err(MLCL_EINVAL, "%s: o->threads must be >= 0 (got %d)", fn, o->threads);
    return MLCL_OK;
}

/* ---------------------------------------------------------------- paths */

char *mlcl__path_join(const char *dir, const char *name)
{
    if (name[0] == '/' || !dir || !dir[0]) return mlcl__strdup(name);
    size_t a = strlen(dir), b = strlen(name);
    char *p = mlcl__malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

char *mlcl__path_dir(const char *path)
{
    const char *s = strrchr(path, '/');
    if (!s) return mlcl__strdup(".");
    if (s == path) return mlcl__strdup("/");
    size_t n = (size_t)(s - path);
    char *p = mlcl__malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, path, n);
    p[n] = '\0';
    return p;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---------------------------------------------------------------- a string -> index map */

typedef struct {
    const char **keys; /* borrowed */
    size_t *vals;
    size_t cap, n;
} strmap;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void strmap_free(strmap *m) { mlcl__free(m->keys); mlcl__free(m->vals); memset(m, 0, sizeof *m); }

/* Finds key; 1 found (*val set), 0 not. */
static int strmap_get(const strmap *m, const char *key, size_t *val)
{
    if (!m->cap) return 0;
    for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return 0;
        if (!strcmp(m->keys[i], key)) { *val = m->vals[i]; return 1; }
    }
}

/* Inserts key (borrowed; must outlive the map) -> val; the key must be new. */
static int strmap_put(strmap *m, const char *key, size_t val, const char *fn)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        strmap g = { NULL, NULL, nc, 0 };
        int rc;
        if ((rc = mlcl__alloc_array((void **)&g.keys, nc, sizeof *g.keys, fn)) < 0) return rc;
        if ((rc = mlcl__alloc_array((void **)&g.vals, nc, sizeof *g.vals, fn)) < 0) { mlcl__free(g.keys); return rc; }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = hash_str(m->keys[i]) & (nc - 1);
                while (g.keys[j]) j = (j + 1) & (nc - 1);
                g.keys[j] = m->keys[i];
                g.vals[j] = m->vals[i];
            }
        g.n = m->n;
        strmap_free(m);
        *m = g;
    }
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i]) i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return MLCL_OK;
}

/* ---------------------------------------------------------------- image lists */

void mlcl__imglist_free(mlcl__imglist *l)
{
    for (size_t i = 0; i < l->n; i++) mlcl__free(l->paths[i]);
    for (size_t i = 0; i < l->c; i++) mlcl__free(l->names[i]);
    mlcl__free(l->paths);
    mlcl__free(l->names);
    mlcl__free(l->pairs);
    memset(l, 0, sizeof *l);
}

int mlcl__imglist_add_path(mlcl__imglist *l, const char *path, const char *fn)
{
    if (l->n >= (size_t)INT_MAX - 1) return mlcl__err(MLCL_EOVERFLOW, "%s: more than %d images", fn, INT_MAX - 1);
    MLCL_TRY(mlcl__grow((void **)&l->paths, &l->cap_paths, l->n + 1, sizeof *l->paths, fn));
    if (!(l->paths[l->n] = mlcl__strdup(path))) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    l->n++;
    return MLCL_OK;
}

int mlcl__imglist_add_name(mlcl__imglist *l, const char *name, const char *fn)
{
    if (l->c >= MAX_LABELS) return mlcl__err(MLCL_EFORMAT, "%s: more than %d labels", fn, MAX_LABELS);
    MLCL_TRY(mlcl__grow((void **)&l->names, &l->cap_names, l->c + 1, sizeof *l->names, fn));
    if (!(l->names[l->c] = mlcl__strdup(name))) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    l->c++;
    return MLCL_OK;
}

int mlcl__imglist_add_pair(mlcl__imglist *l, size_t row, size_t label, const char *fn)
{
    if (l->npairs >= SIZE_MAX / 4) return mlcl__err(MLCL_EOVERFLOW, "%s: too many labels", fn);
    MLCL_TRY(mlcl__grow((void **)&l->pairs, &l->cap_pairs, 2 * (l->npairs + 1), sizeof *l->pairs, fn));
    l->pairs[2 * l->npairs] = (uint32_t)row;
    l->pairs[2 * l->npairs + 1] = (uint32_t)label;
    l->npairs++;
    return MLCL_OK;
}

/* Re-expresses the labels in terms of o->label_names. */
static int remap_labels(mlcl__imglist *l, const mlcl_manifest_options *o, const char *src, const char *fn)
{
    strmap m = { 0 };
    size_t *to = NULL;
    char **names = NULL;
    int rc = MLCL_OK;
    size_t nn = (size_t)o->n_label_names;
    for (size_t i = 0; i < nn; i++) {
        size_t dummy;
        if (strmap_get(&m, o->label_names[i], &dummy)) {
            rc = mlcl__err(MLCL_EINVAL, "%s: o->label_names repeats '%.200s'", fn, o->label_names[i]);
            goto done;
        }
        if ((rc = strmap_put(&m, o->label_names[i], i, fn)) < 0) goto done;
    }
    if ((rc = mlcl__alloc_array((void **)&to, l->c ? l->c : 1, sizeof *to, fn)) < 0) goto done;
    for (size_t j = 0; j < l->c; j++)
        if (!strmap_get(&m, l->names[j], &to[j])) {
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: label '%.200s' is not among the %zu given label names", fn, src,
                           l->names[j], nn);
            goto done;
        }
    if ((rc = mlcl__alloc_array((void **)&names, nn, sizeof *names, fn)) < 0) goto done;
    for (size_t i = 0; i < nn; i++)
        if (!(names[i] = mlcl__strdup(o->label_names[i]))) {
            for (size_t k = 0; k < i; k++) mlcl__free(names[k]);
            mlcl__free(names);
            rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
            goto done;
        }
    for (size_t p = 0; p < l->npairs; p++) l->pairs[2 * p + 1] = (uint32_t)to[l->pairs[2 * p + 1]];
    for (size_t j = 0; j < l->c; j++) mlcl__free(l->names[j]);
    mlcl__free(l->names);
    l->names = names;
    l->c = l->cap_names = nn;
done:
    strmap_free(&m);
    mlcl__free(to);
    return rc;
}

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
    if (o->n_label_names > 0) MLCL_TRY(remap_labels(l, o, src, fn));
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

/* ---------------------------------------------------------------- CSV manifests */

static int name_id(mlcl__imglist *l, strmap *m, const char *name, size_t *id, const char *fn)
{
    if (strmap_get(m, name, id)) return MLCL_OK;
    MLCL_TRY(mlcl__imglist_add_name(l, name, fn));
    *id = l->c - 1;
    return strmap_put(m, l->names[l->c - 1], *id, fn);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorts the label names (for the `labels` column form) and renumbers the pairs. */
static int sort_names(mlcl__imglist *l, const char *fn)
{
    if (l->c < 2) return MLCL_OK;
    char **sorted = NULL;
    uint32_t *rank = NULL;
    strmap m = { 0 };
    int rc;
    if ((rc = mlcl__alloc_array((void **)&sorted, l->c, sizeof *sorted, fn)) < 0) return rc;
    if ((rc = mlcl__alloc_array((void **)&rank, l->c, sizeof *rank, fn)) < 0) goto done;
    memcpy(sorted, l->names, l->c * sizeof *sorted);
    qsort(sorted, l->c, sizeof *sorted, cmp_str);
    for (size_t k = 0; k < l->c; k++)
        if ((rc = strmap_put(&m, sorted[k], k, fn)) < 0) goto done;
    for (size_t k = 0; k < l->c; k++) {
        size_t v = 0;
        strmap_get(&m, l->names[k], &v);
        rank[k] = (uint32_t)v;
    }
    for (size_t p = 0; p < l->npairs; p++) l->pairs[2 * p + 1] = rank[l->pairs[2 * p + 1]];
    memcpy(l->names, sorted, l->c * sizeof *sorted);
done:
    strmap_free(&m);
    mlcl__free(rank);
    mlcl__free(sorted);
    return rc;
}

static int read_image_csv(mlcl__csv *r, mlcl__imglist *l, const char *base, const char *fn)
{
    MLCL_TRY(mlcl__csv_header(r));
    size_t ncol = r->n_names, pcol = SIZE_MAX, lcol = SIZE_MAX;
    for (size_t k = 0; k < ncol; k++) {
        if (!strcasecmp(r->names[k], "path")) {
            if (pcol != SIZE_MAX) return mlcl__csv_err(r, (long)k, "a second 'path' column");
            pcol = k;
        } else if (!strcasecmp(r->names[k], "labels")) {
            if (lcol != SIZE_MAX) return mlcl__csv_err(r, (long)k, "a second 'labels' column");
            lcol = k;
        }
    }
    if (pcol == SIZE_MAX) return mlcl__csv_err(r, -1, "the header has no 'path' column");
    strmap m = { 0 };
    int rc = MLCL_OK;
    size_t *colid = NULL; /* 0/1 form: label index of each column */
    if (lcol == SIZE_MAX) {
        if (ncol < 2) return mlcl__csv_err(r, -1, "no label columns besides 'path' (and no 'labels' column)");
        if ((rc = mlcl__alloc_array((void **)&colid, ncol, sizeof *colid, fn)) < 0) return rc;
        for (size_t k = 0; k < ncol; k++) {
            if (k == pcol) continue;
            size_t dummy;
            if (strmap_get(&m, r->names[k], &dummy)) { rc = mlcl__csv_err(r, (long)k, "label column named twice"); goto done; }
            if (!r->names[k][0]) { rc = mlcl__csv_err(r, (long)k, "empty label name"); goto done; }
            if ((rc = mlcl__imglist_add_name(l, r->names[k], fn)) < 0) goto done;
            colid[k] = l->c - 1;
            if ((rc = strmap_put(&m, l->names[l->c - 1], colid[k], fn)) < 0) goto done;
        }
    }
    while ((rc = mlcl__csv_next(r)) == 1) {
        if (r->nfld != ncol) { rc = mlcl__csv_err(r, -1, "%zu fields, but the header has %zu columns", r->nfld, ncol); goto done; }
        const char *p = mlcl__csv_field(r, pcol);
        if (!*p) { rc = mlcl__csv_err(r, (long)pcol, "empty path"); goto done; }
        char *full = mlcl__path_join(base, p);
        if (!full) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); goto done; }
        rc = mlcl__imglist_add_path(l, full, fn);
        mlcl__free(full);
        if (rc < 0) goto done;
        size_t row = l->n - 1;
        if (lcol != SIZE_MAX) {
            char *s = mlcl__csv_field(r, lcol);
            while (*s) {
                char *e = strchr(s, ';');
                if (e) *e = '\0';
                char *t = s;
                while (*t == ' ' || *t == '\t') t++;
                char *te = t + strlen(t);
                while (te > t && (te[-1] == ' ' || te[-1] == '\t')) *--te = '\0';
                if (*t) {
                    size_t id;
                    if ((rc = name_id(l, &m, t, &id, fn)) < 0) goto done;
                    if ((rc = mlcl__imglist_add_pair(l, row, id, fn)) < 0) goto done;
                }
                if (!e) break;
                s = e + 1;
            }
        } else {
            for (size_t k = 0; k < ncol; k++) {
                if (k == pcol) continue;
                const char *v = mlcl__csv_field(r, k);
                char *end;
                double x = strtod_l(v, &end, r->cloc);
                if (!*v || *end || (x != 0.0 && x != 1.0)) {
                    rc = mlcl__csv_err(r, (long)k, "label value '%.40s' is not 0 or 1", v);
                    goto done;
                }
                if (x == 1.0 && (rc = mlcl__imglist_add_pair(l, row, colid[k], fn)) < 0) goto done;
            }
        }
    }
    if (rc < 0) goto done;
    if (l->n == 0) { r->rec_line = r->line; rc = mlcl__csv_err(r, -1, "no images after the header"); goto done; }
    if (lcol != SIZE_MAX) {
        strmap_free(&m); /* its keys are the names sort_names reorders */
        rc = sort_names(l, fn);
    }
done:
    strmap_free(&m);
    mlcl__free(colid);
    return rc;
}

int mlcl_dataset_load_image_csv(mlcl_dataset **out, int *skipped, const char *path,
                                const mlcl_manifest_options *o)
{
    static const char fn[] = "mlcl_dataset_load_image_csv";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    if (skipped) *skipped = 0;
    MLCL_CHECK_NULL(fn, path);
    mlcl_manifest_options def = MLCL_MANIFEST_OPTIONS_INIT;
    if (!o) o = &def;
    MLCL_TRY(check_options(o, fn));
    char *base = o->image_root ? mlcl__strdup(o->image_root) : mlcl__path_dir(path);
    if (!base) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    mlcl__csv r;
    int rc = mlcl__csv_open(&r, path, 0, fn);
    if (rc < 0) { mlcl__free(base); return rc; }
    mlcl__imglist l;
    memset(&l, 0, sizeof l);
    rc = read_image_csv(&r, &l, base, fn);
    mlcl__csv_close(&r);
    mlcl__free(base);
    if (rc == MLCL_OK) rc = mlcl__imglist_build(out, skipped, &l, o, path, fn);
    mlcl__imglist_free(&l);
    return rc;
}

/* The list of a CSV manifest without decoding anything (the streaming loader,
 * src/data/loader.c): paths joined with the image root, labels remapped to
 * o->label_names when given. */
int mlcl__imglist_read_csv(mlcl__imglist *l, const char *path, const mlcl_manifest_options *o, const char *fn)
{
    memset(l, 0, sizeof *l);
    MLCL_TRY(check_options(o, fn));
    char *base = o->image_root ? mlcl__strdup(o->image_root) : mlcl__path_dir(path);
    if (!base) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    mlcl__csv r;
    int rc = mlcl__csv_open(&r, path, 0, fn);
    if (rc < 0) { mlcl__free(base); return rc; }
    rc = read_image_csv(&r, l, base, fn);
    mlcl__csv_close(&r);
    mlcl__free(base);
    if (rc == MLCL_OK && l->n == 0) rc = mlcl__err(MLCL_EFORMAT, "%s: %s: no images", fn, path);
    if (rc == MLCL_OK && o->n_label_names > 0) rc = remap_labels(l, o, path, fn);
    if (rc < 0) mlcl__imglist_free(l);
    return rc;
}

/* ---------------------------------------------------------------- COCO */

typedef struct { gzFile f; size_t total; int too_big, failed; } gzsrc;

static size_t gz_cb(void *buf, size_t len, void *data)
{
    gzsrc *s = data;
    if (len > (1u << 20)) len = 1u << 20;
    int k = gzread(s->f, buf, (unsigned)len);
    if (k < 0) { s->failed = 1; return (size_t)-1; }
    s->total += (size_t)k;
    if (s->total > COCO_MAX_BYTES) { s->too_big = 1; return (size_t)-1; }
    return (size_t)k;
}

typedef struct { json_int_t id; size_t idx; } idpair;

static int cmp_id(const void *a, const void *b)
{
    json_int_t x = ((const idpair *)a)->id, y = ((const idpair *)b)->id;
    return x < y ? -1 : x > y;
}

static const idpair *find_id(const idpair *v, size_t n, json_int_t id)
{
    idpair key = { id, 0 };
    return bsearch(&key, v, n, sizeof *v, cmp_id);
}

/* Sorts ids and rejects a repeated one. */
static int sort_ids(idpair *v, size_t n, const char *what, const char *path, const char *fn)
{
    qsort(v, n, sizeof *v, cmp_id);
    for (size_t i = 1; i < n; i++)
        if (v[i].id == v[i - 1].id)
            return mlcl__err(MLCL_EFORMAT, "%s: %s: %s id %lld appears twice", fn, path, what, (long long)v[i].id);
    return MLCL_OK;
}

static int coco_parse(json_t *root, mlcl__imglist *l, const char *base, const char *path, const char *fn)
{
    if (!json_is_object(root)) return mlcl__err(MLCL_EFORMAT, "%s: %s: the top level is not a JSON object", fn, path);
    json_t *cats = json_object_get(root, "categories"), *imgs = json_object_get(root, "images"),
           *anns = json_object_get(root, "annotations");
    if (!json_is_array(cats)) return mlcl__err(MLCL_EFORMAT, "%s: %s: no \"categories\" array", fn, path);
    if (!json_is_array(imgs)) return mlcl__err(MLCL_EFORMAT, "%s: %s: no \"images\" array", fn, path);
    if (!json_is_array(anns)) return mlcl__err(MLCL_EFORMAT, "%s: %s: no \"annotations\" array", fn, path);
    size_t nc = json_array_size(cats), ni = json_array_size(imgs), na = json_array_size(anns);
    if (nc == 0) return mlcl__err(MLCL_EFORMAT, "%s: %s: \"categories\" is empty", fn, path);
    if (nc > MAX_LABELS) return mlcl__err(MLCL_EFORMAT, "%s: %s: more than %d categories", fn, path, MAX_LABELS);
    if (ni == 0) return mlcl__err(MLCL_EFORMAT, "%s: %s: \"images\" is empty", fn, path);
    if (ni >= (size_t)INT_MAX) return mlcl__err(MLCL_EFORMAT, "%s: %s: too many images", fn, path);
    idpair *cid = NULL, *iid = NULL;
    int rc;
    if ((rc = mlcl__alloc_array((void **)&cid, nc, sizeof *cid, fn)) < 0) return rc;
    if ((rc = mlcl__alloc_array((void **)&iid, ni, sizeof *iid, fn)) < 0) goto done;
    for (size_t k = 0; k < nc; k++) {
        json_t *c = json_array_get(cats, k), *id = json_object_get(c, "id"), *nm = json_object_get(c, "name");
        if (!json_is_integer(id) || !json_is_string(nm)) {
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: categories[%zu] lacks an integer \"id\" or a string \"name\"", fn, path, k);
            goto done;
        }
        cid[k].id = json_integer_value(id);
        cid[k].idx = k;
    }
    if ((rc = sort_ids(cid, nc, "category", path, fn)) < 0) goto done;
    /* labels in ascending category id order */
    for (size_t k = 0; k < nc; k++) {
        const char *nm = json_string_value(json_object_get(json_array_get(cats, cid[k].idx), "name"));
        if (strlen(nm) != json_string_length(json_object_get(json_array_get(cats, cid[k].idx), "name"))) {
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: category %lld's name holds a NUL character", fn, path, (long long)cid[k].id);
            goto done;
        }
        if ((rc = mlcl__imglist_add_name(l, nm, fn)) < 0) goto done;
        cid[k].idx = k;
    }
    for (size_t k = 0; k < ni; k++) {
        json_t *im = json_array_get(imgs, k), *id = json_object_get(im, "id"), *fnm = json_object_get(im, "file_name");
        if (!json_is_integer(id) || !json_is_string(fnm) || !json_string_length(fnm)) {
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: images[%zu] lacks an integer \"id\" or a non-empty \"file_name\"", fn, path, k);
            goto done;
        }
        const char *f = json_string_value(fnm);
        if (strlen(f) != json_string_length(fnm)) {
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: images[%zu].file_name holds a NUL character", fn, path, k);
            goto done;
        }
        iid[k].id = json_integer_value(id);
        iid[k].idx = k;
        char *full = mlcl__path_join(base, f);
        if (!full) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); goto done; }
        rc = mlcl__imglist_add_path(l, full, fn);
        mlcl__free(full);
        if (rc < 0) goto done;
    }
    if ((rc = sort_ids(iid, ni, "image", path, fn)) < 0) goto done;
    for (size_t k = 0; k < na; k++) {
        json_t *a = json_array_get(anns, k), *im = json_object_get(a, "image_id"), *ca = json_object_get(a, "category_id");
        if (!json_is_integer(im) || !json_is_integer(ca)) {
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: annotations[%zu] lacks an integer \"image_id\" or \"category_id\"", fn, path, k);
            goto done;
        }
        const idpair *pi = find_id(iid, ni, json_integer_value(im)), *pc = find_id(cid, nc, json_integer_value(ca));
        if (!pi || !pc) {
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: annotations[%zu] names an unknown %s id %lld", fn, path, k,
                           pi ? "category" : "image", (long long)json_integer_value(pi ? ca : im));
            goto done;
        }
        if ((rc = mlcl__imglist_add_pair(l, pi->idx, pc->idx, fn)) < 0) goto done;
    }
done:
    mlcl__free(cid);
    mlcl__free(iid);
    return rc;
}

/* The default image folder of a COCO file: ../<S> for annotations/instances_<S>.json. */
static char *coco_base(const char *path)
{
    char *dir = mlcl__path_dir(path);
    if (!dir) return NULL;
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    if (!strncmp(b, "instances_", 10)) {
        const char *s = b + 10, *e = strstr(s, ".json");
        if (e && e > s && (size_t)(e - s) < 256) {
            char sub[300];
            snprintf(sub, sizeof sub, "../%.*s", (int)(e - s), s);
            char *cand = mlcl__path_join(dir, sub);
            if (cand && is_dir(cand)) { mlcl__free(dir); return cand; }
            mlcl__free(cand);
        }
    }
    return dir;
}

/* The list of a COCO file (nothing decoded); l is filled, the caller frees it. */
static int coco_list(mlcl__imglist *l, const char *path, const mlcl_manifest_options *o, const char *fn)
{
    errno = 0;
    gzsrc s = { gzopen(path, "rb"), 0, 0, 0 };
    if (!s.f) return mlcl__err(MLCL_EIO, "%s: cannot open '%s': %s", fn, path, errno ? strerror(errno) : "out of memory");
    json_error_t je;
    json_t *root = json_load_callback(gz_cb, &s, JSON_REJECT_DUPLICATES, &je);
    int zerr = 0;
    const char *zmsg = gzerror(s.f, &zerr);
    char zbuf[128];
    snprintf(zbuf, sizeof zbuf, "%s", zmsg ? zmsg : "?");
    gzclose(s.f);
    if (!root) {
        if (s.too_big) return mlcl__err(MLCL_EFORMAT, "%s: %s: larger than %zu bytes", fn, path, COCO_MAX_BYTES);
        if (s.failed || (zerr != Z_OK && zerr != Z_STREAM_END))
            return mlcl__err(zerr == Z_ERRNO ? MLCL_EIO : MLCL_EFORMAT, "%s: %s: read error (%s)", fn, path, zbuf);
        return mlcl__err(json_error_code(&je) == json_error_out_of_memory ? MLCL_ENOMEM : MLCL_EFORMAT,
                         "%s: %s: line %d, column %d: invalid JSON: %s", fn, path, je.line, je.column, je.text);
    }
    char *base = o->image_root ? mlcl__strdup(o->image_root) : coco_base(path);
    int rc = base ? coco_parse(root, l, base, path, fn) : mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    json_decref(root);
    mlcl__free(base);
    return rc;
}

int mlcl_dataset_load_coco(mlcl_dataset **out, int *skipped, const char *path,
                           const mlcl_manifest_options *o)
{
    static const char fn[] = "mlcl_dataset_load_coco";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    if (skipped) *skipped = 0;
    MLCL_CHECK_NULL(fn, path);
    mlcl_manifest_options def = MLCL_MANIFEST_OPTIONS_INIT;
    if (!o) o = &def;
    MLCL_TRY(check_options(o, fn));
    mlcl__imglist l;
    memset(&l, 0, sizeof l);
    int rc = coco_list(&l, path, o, fn);
    if (rc == MLCL_OK) rc = mlcl__imglist_build(out, skipped, &l, o, path, fn);
    mlcl__imglist_free(&l);
    return rc;
}

/* ---------------------------------------------------------------- PASCAL VOC */

/* Reads "<id> [<flag>]" lines. With flags, calls back per line. */
typedef struct {
    mlcl__imglist *l;
    strmap *ids;        /* id -> row */
    char **idv;         /* row -> id (owned) */
    size_t nid, cap_idv;
} voc_state;

static int read_voc_list(const char *file, voc_state *v, int add_images, int with_flags, size_t label,
                         uint8_t *seen, int difficult_pos, const char *fn)
{
    mlcl__lines in;
    MLCL_TRY(mlcl__lines_open(&in, file, fn));
    char *line;
    int rc;
    size_t listed = 0;
    while ((rc = mlcl__lines_next(&in, &line)) == 1) {
        char *p = mlcl__skip_ws(line);
        if (!*p) continue;
        char *id = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        char *idend = p;
        p = mlcl__skip_ws(p);
        char *flag = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        char *flagend = p;
        if (!mlcl__is_blank(p)) { rc = mlcl__lines_err(&in, "expected '<image id>%s'", with_flags ? " <1|0|-1>" : ""); goto done; }
        *idend = '\0';
        *flagend = '\0';
        long fl = 1;
        if (with_flags) {
            if (mlcl__parse_long(flag, -1, 1, &fl) != 0) {
                rc = mlcl__lines_err(&in, "flag '%.20s' of image '%.100s' is not 1, 0 or -1", flag, id);
                goto done;
            }
        } else if (*flag) {
            /* the plain <split>.txt lists ids only */
            rc = mlcl__lines_err(&in, "expected only an image id");
            goto done;
        }
        size_t row;
        if (!strmap_get(v->ids, id, &row)) {
            if (!add_images) { rc = mlcl__lines_err(&in, "image '%.100s' is not in the split's image list", id); goto done; }
            if (strchr(id, '/') || !strcmp(id, "..") || !strcmp(id, ".")) {
                rc = mlcl__lines_err(&in, "image id '%.100s' is not a file name", id);
                goto done;
            }
            if ((rc = mlcl__grow((void **)&v->idv, &v->cap_idv, v->nid + 1, sizeof *v->idv, fn)) < 0) goto done;
            if (!(v->idv[v->nid] = mlcl__strdup(id))) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); goto done; }
            row = v->nid++;
            if ((rc = strmap_put(v->ids, v->idv[row], row, fn)) < 0) goto done;
        } else if (add_images) {
            rc = mlcl__lines_err(&in, "image '%.100s' is listed twice", id);
            goto done;
        }
        if (seen) {
            if (seen[row]) { rc = mlcl__lines_err(&in, "image '%.100s' is listed twice", id); goto done; }
            seen[row] = 1;
        }
        listed++;
        if (with_flags && (fl == 1 || (fl == 0 && difficult_pos)) && (rc = mlcl__imglist_add_pair(v->l, row, label, fn)) < 0)
            goto done;
    }
    if (rc < 0) goto done;
    if (listed == 0) { in.line = 1; rc = mlcl__lines_err(&in, "no image ids"); goto done; }
    rc = MLCL_OK;
done:
    mlcl__lines_close(&in);
    return rc;
}

/* The list of a VOC tree (nothing decoded); l is filled, the caller frees it. */
static int voc_list(mlcl__imglist *l, const char *root, const char *split, const mlcl_manifest_options *o,
                    const char *fn)
{
    if (!*split || strchr(split, '/') || strlen(split) > 200)
        return mlcl__err(MLCL_EINVAL, "%s: split '%.200s' is not a plain name like trainval", fn, split);
    char *main_dir = mlcl__path_join(root, "ImageSets/Main");
    if (!main_dir) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    strmap ids = { 0 };
    voc_state v = { l, &ids, NULL, 0, 0 };
    char **files = NULL;
    size_t nfiles = 0, cap_files = 0;
    uint8_t *seen = NULL;
    char *img_dir = NULL;
    int rc = MLCL_OK;
    errno = 0;
    DIR *dh = opendir(main_dir);
    if (!dh) {
        rc = mlcl__err(MLCL_EIO, "%s: %s: cannot open ImageSets/Main: %s", fn, root, strerror(errno));
        goto done;
    }
    char suffix[256];
    snprintf(suffix, sizeof suffix, "_%s.txt", split);
    size_t sl = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(dh))) {
        size_t nl = strlen(de->d_name);
        if (nl <= sl || strcmp(de->d_name + nl - sl, suffix)) continue;
        if ((rc = mlcl__grow((void **)&files, &cap_files, nfiles + 1, sizeof *files, fn)) < 0) break;
        if (!(files[nfiles] = mlcl__strdup(de->d_name))) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); break; }
        nfiles++;
        if (nfiles > MAX_LABELS) { rc = mlcl__err(MLCL_EFORMAT, "%s: %s: more than %d classes", fn, root, MAX_LABELS); break; }
    }
    closedir(dh);
    if (rc < 0) goto done;
    if (nfiles == 0) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: no ImageSets/Main/<class>%s files", fn, root, suffix);
        goto done;
    }
    qsort(files, nfiles, sizeof *files, cmp_str);
    char name[512];
    snprintf(name, sizeof name, "%s.txt", split);
    char *list = mlcl__path_join(main_dir, name);
    if (!list) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); goto done; }
    struct stat st;
    int have_list = stat(list, &st) == 0;
    if (have_list) rc = read_voc_list(list, &v, 1, 0, 0, NULL, 0, fn);
    mlcl__free(list);
    if (rc < 0) goto done;
    for (size_t k = 0; k < nfiles; k++) {
        char *cls = files[k];
        cls[strlen(cls) - sl] = '\0';
        if ((rc = mlcl__imglist_add_name(l, cls, fn)) < 0) goto done;
        cls[strlen(cls)] = suffix[0];
        char *f = mlcl__path_join(main_dir, files[k]);
        if (!f) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); goto done; }
        int add = k == 0 && !have_list;
        if (!add && !seen && (rc = mlcl__alloc_array((void **)&seen, v.nid, 1, fn)) < 0) { mlcl__free(f); goto done; }
        if (seen) memset(seen, 0, v.nid);
        rc = read_voc_list(f, &v, add, 1, k, add ? NULL : seen, o->voc_difficult == MLCL_VOC_DIFFICULT_POSITIVE, fn);
        if (rc == MLCL_OK && seen)
            for (size_t i = 0; i < v.nid; i++)
                if (!seen[i]) {
                    rc = mlcl__err(MLCL_EFORMAT, "%s: %s: image '%.100s' is missing from the class list", fn, f, v.idv[i]);
                    break;
                }
        mlcl__free(f);
        if (rc < 0) goto done;
    }
    img_dir = o->image_root ? mlcl__strdup(o->image_root) : mlcl__path_join(root, "JPEGImages");
    if (!img_dir) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); goto done; }
    for (size_t i = 0; i < v.nid; i++) {
        char jn[600];
        snprintf(jn, sizeof jn, "%.500s.jpg", v.idv[i]);
        char *p = mlcl__path_join(img_dir, jn);
        if (!p) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); goto done; }
        rc = mlcl__imglist_add_path(l, p, fn);
        mlcl__free(p);
        if (rc < 0) goto done;
    }
done:
    for (size_t k = 0; k < nfiles; k++) mlcl__free(files[k]);
    mlcl__free(files);
    for (size_t i = 0; i < v.nid; i++) mlcl__free(v.idv[i]);
    mlcl__free(v.idv);
    strmap_free(&ids);
    mlcl__free(seen);
    mlcl__free(img_dir);
    mlcl__free(main_dir);
    return rc;
}

int mlcl_dataset_load_voc(mlcl_dataset **out, int *skipped, const char *root, const char *split,
                          const mlcl_manifest_options *o)
{
    static const char fn[] = "mlcl_dataset_load_voc";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    if (skipped) *skipped = 0;
    MLCL_CHECK_NULL(fn, root);
    MLCL_CHECK_NULL(fn, split);
    mlcl_manifest_options def = MLCL_MANIFEST_OPTIONS_INIT;
    if (!o) o = &def;
    MLCL_TRY(check_options(o, fn));
    mlcl__imglist l;
    memset(&l, 0, sizeof l);
    int rc = voc_list(&l, root, split, o, fn);
    if (rc == MLCL_OK) rc = mlcl__imglist_build(out, skipped, &l, o, root, fn);
    mlcl__imglist_free(&l);
    return rc;
}

/* ---------------------------------------------------------------- format guess */

static int ends_ci(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

/* Whether a header line (NUL-terminated) looks like a CSV header; *has_path
 * when a field is "path"; *numbers when every field is a number and one of
 * them is not an integer (a headerless table, not a LIBSVM label list). */
static int sniff_header(const char *line, int *has_path, int *numbers)
{
    *has_path = 0;
    *numbers = 0;
    int tabs = strchr(line, '\t') != NULL, commas = strchr(line, ',') != NULL;
    if (!tabs && !commas) return 0;
    char delim = tabs && !commas ? '\t' : ',';
    /* LIBSVM rows hold idx:val tokens */
    for (const char *p = line; *p; p++)
        if (*p == ':' && p > line && p[-1] >= '0' && p[-1] <= '9') {
            const char *q = p - 1;
            while (q > line && q[-1] >= '0' && q[-1] <= '9') q--;
            if (q == line || q[-1] == ' ' || q[-1] == '\t') return 0;
        }
    int non_numeric = 0, non_integer = 0, fields = 0;
    const char *p = line;
    for (;;) {
        const char *e = strchr(p, delim);
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t' || *p == '"')) { p++; len--; }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '"' || p[len - 1] == '\r')) len--;
        char tok[64];
        size_t tl = len < sizeof tok - 1 ? len : sizeof tok - 1;
        memcpy(tok, p, tl);
        tok[tl] = '\0';
        if (len == 4 && !strncasecmp(p, "path", 4)) *has_path = 1;
        char *end;
        if (len == 0) non_numeric = 1;
        else {
            (void)strtod(tok, &end);
            if (end == tok || *end || len >= sizeof tok) non_numeric = 1;
            else if (strpbrk(tok, ".eE")) non_integer = 1;
        }
        fields++;
        if (!e) break;
        p = e + 1;
    }
    *numbers = !non_numeric && non_integer && fields >= 2;
    return non_numeric;
}

int mlcl_data_guess_format(mlcl_data_format *format, const char *path)
{
    static const char fn[] = "mlcl_data_guess_format";
    MLCL_CHECK_NULL(fn, format);
    *format = MLCL_FORMAT_UNKNOWN;
    MLCL_CHECK_NULL(fn, path);
    struct stat st;
    if (stat(path, &st) != 0) return mlcl__err(MLCL_EIO, "%s: cannot open '%s': %s", fn, path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        char *m = mlcl__path_join(path, "ImageSets/Main");
        if (!m) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
        if (is_dir(m)) *format = MLCL_FORMAT_VOC;
        mlcl__free(m);
        return MLCL_OK;
    }
    if (ends_ci(path, ".npy") || ends_ci(path, ".npz")) { *format = MLCL_FORMAT_NPY; return MLCL_OK; }
    if (ends_ci(path, ".arff") || ends_ci(path, ".arff.gz")) { *format = MLCL_FORMAT_ARFF; return MLCL_OK; }
    if (ends_ci(path, ".json") || ends_ci(path, ".json.gz")) { *format = MLCL_FORMAT_COCO; return MLCL_OK; }
    int named_csv = ends_ci(path, ".csv") || ends_ci(path, ".csv.gz") || ends_ci(path, ".tsv") ||
                    ends_ci(path, ".tsv.gz");
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) return mlcl__err(MLCL_EIO, "%s: cannot open '%s': %s", fn, path, errno ? strerror(errno) : "out of memory");
    enum { CAP = 1 << 20 };
    char *buf = mlcl__malloc(CAP + 1);
    if (!buf) { gzclose(f); return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); }
    int k = gzread(f, buf, CAP);
    gzclose(f);
    size_t len = k > 0 ? (size_t)k : 0;
    buf[len] = '\0';
    size_t s = 0;
    if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB && (unsigned char)buf[2] == 0xBF) s = 3;
    /* the first non-blank line */
    for (;;) {
        while (s < len && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\r')) s++;
        if (s < len && buf[s] == '\n') { s++; continue; }
        break;
    }
    char *line = buf + s;
    char *nl = memchr(line, '\n', len - s);
    if (nl) *nl = '\0';
    line[strnlen(line, len - s)] = '\0';
    int has_path = 0, numbers = 0, header;
    if (named_csv) {
        header = sniff_header(line, &has_path, &numbers);
        *format = has_path ? MLCL_FORMAT_IMAGE_CSV : !header && numbers ? MLCL_FORMAT_CSV_NOHEADER : MLCL_FORMAT_CSV;
    } else if (line[0] == '%' || !strncasecmp(line, "@relation", 9)) {
        *format = MLCL_FORMAT_ARFF;
    } else if (line[0] == '{') {
        *format = MLCL_FORMAT_COCO;
    } else if ((header = sniff_header(line, &has_path, &numbers)) != 0) {
        *format = has_path ? MLCL_FORMAT_IMAGE_CSV : MLCL_FORMAT_CSV;
    } else if (numbers) {
        *format = MLCL_FORMAT_CSV_NOHEADER;
    }
    mlcl__free(buf);
    return MLCL_OK;
}

/* The lists of COCO and VOC manifests without decoding (the streaming loader);
 * remapped to o->label_names when given. l is empty on error. */
int mlcl__imglist_read_coco(mlcl__imglist *l, const char *path, const mlcl_manifest_options *o, const char *fn)
{
    memset(l, 0, sizeof *l);
    MLCL_TRY(check_options(o, fn));
    int rc = coco_list(l, path, o, fn);
    if (rc == MLCL_OK && l->n == 0) rc = mlcl__err(MLCL_EFORMAT, "%s: %s: no images", fn, path);
    if (rc == MLCL_OK && o->n_label_names > 0) rc = remap_labels(l, o, path, fn);
    if (rc < 0) mlcl__imglist_free(l);
    return rc;
}

int mlcl__imglist_read_voc(mlcl__imglist *l, const char *root, const char *split, const mlcl_manifest_options *o,
                           const char *fn)
{
    memset(l, 0, sizeof *l);
    MLCL_TRY(check_options(o, fn));
    int rc = voc_list(l, root, split, o, fn);
    if (rc == MLCL_OK && l->n == 0) rc = mlcl__err(MLCL_EFORMAT, "%s: %s: no images", fn, root);
    if (rc == MLCL_OK && o->n_label_names > 0) rc = remap_labels(l, o, root, fn);
    if (rc < 0) mlcl__imglist_free(l);
    return rc;
}
