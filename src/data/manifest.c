/* Image manifests: their options, paths, a string -> index map, the image
 * lists the three manifest readers build, and their label remapping. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "data/readers_internal.h"

int mlcl_manifest_options_init(mlcl_manifest_options *o, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_manifest_options_init", o, version, MLCL_MANIFEST_OPTIONS_VERSION, mlcl_manifest_options, MLCL_MANIFEST_OPTIONS_INIT);
}

int mlcl__manifest_check_options(const mlcl_manifest_options *o, const char *fn)
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

int mlcl__is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---------------------------------------------------------------- a string -> index map */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

void mlcl__strmap_free(mlcl__strmap *m) { mlcl__free(m->keys); mlcl__free(m->vals); memset(m, 0, sizeof *m); }

/* Finds key; 1 found (*val set), 0 not. */
int mlcl__strmap_get(const mlcl__strmap *m, const char *key, size_t *val)
{
    if (!m->cap) return 0;
    for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return 0;
        if (!strcmp(m->keys[i], key)) { *val = m->vals[i]; return 1; }
    }
}

/* Inserts key (borrowed; must outlive the map) -> val; the key must be new. */
int mlcl__strmap_put(mlcl__strmap *m, const char *key, size_t val, const char *fn)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        mlcl__strmap g = { NULL, NULL, nc, 0 };
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
        mlcl__strmap_free(m);
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
    if (l->c >= MLCL__MAX_LABELS) return mlcl__err(MLCL_EFORMAT, "%s: more than %d labels", fn, MLCL__MAX_LABELS);
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
int mlcl__imglist_remap(mlcl__imglist *l, const mlcl_manifest_options *o, const char *src, const char *fn)
{
    mlcl__strmap m = { 0 };
    size_t *to = NULL;
    char **names = NULL;
    int rc = MLCL_OK;
    size_t nn = (size_t)o->n_label_names;
    for (size_t i = 0; i < nn; i++) {
        size_t dummy;
        if (mlcl__strmap_get(&m, o->label_names[i], &dummy)) {
            rc = mlcl__err(MLCL_EINVAL, "%s: o->label_names repeats '%.200s'", fn, o->label_names[i]);
            goto done;
        }
        if ((rc = mlcl__strmap_put(&m, o->label_names[i], i, fn)) < 0) goto done;
    }
    if ((rc = mlcl__alloc_array((void **)&to, l->c ? l->c : 1, sizeof *to, fn)) < 0) goto done;
    for (size_t j = 0; j < l->c; j++)
        if (!mlcl__strmap_get(&m, l->names[j], &to[j])) {
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
    mlcl__strmap_free(&m);
    mlcl__free(to);
    return rc;
}
