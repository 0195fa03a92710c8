/* COCO instances JSON manifests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include "data/readers_internal.h"

/* Largest (uncompressed) COCO JSON accepted. */
#define COCO_MAX_BYTES ((size_t)4 << 30)

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
    if (nc > MLCL__MAX_LABELS) return mlcl__err(MLCL_EFORMAT, "%s: %s: more than %d categories", fn, path, MLCL__MAX_LABELS);
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
            if (cand && mlcl__is_dir(cand)) { mlcl__free(dir); return cand; }
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
    MLCL_TRY(mlcl__manifest_check_options(o, fn));
    mlcl__imglist l;
    memset(&l, 0, sizeof l);
    int rc = coco_list(&l, path, o, fn);
    if (rc == MLCL_OK) rc = mlcl__imglist_build(out, skipped, &l, o, path, fn);
    mlcl__imglist_free(&l);
    return rc;
}


/* The lists of COCO and VOC manifests without decoding (the streaming loader);
 * remapped to o->label_names when given. l is empty on error. */
int mlcl__imglist_read_coco(mlcl__imglist *l, const char *path, const mlcl_manifest_options *o, const char *fn)
{
    memset(l, 0, sizeof *l);
    MLCL_TRY(mlcl__manifest_check_options(o, fn));
    int rc = coco_list(l, path, o, fn);
    if (rc == MLCL_OK && l->n == 0) rc = mlcl__err(MLCL_EFORMAT, "%s: %s: no images", fn, path);
    if (rc == MLCL_OK && o->n_label_names > 0) rc = mlcl__imglist_remap(l, o, path, fn);
    if (rc < 0) mlcl__imglist_free(l);
    return rc;
}
