/* CSV/TSV image manifests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "data/readers_internal.h"

/* ---------------------------------------------------------------- CSV manifests */

static int name_id(mlcl__imglist *l, mlcl__strmap *m, const char *name, size_t *id, const char *fn)
{
    if (mlcl__strmap_get(m, name, id)) return MLCL_OK;
    MLCL_TRY(mlcl__imglist_add_name(l, name, fn));
    *id = l->c - 1;
    return mlcl__strmap_put(m, l->names[l->c - 1], *id, fn);
}

int mlcl__cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorts the label names (for the `labels` column form) and renumbers the pairs. */
static int sort_names(mlcl__imglist *l, const char *fn)
{
    if (l->c < 2) return MLCL_OK;
    char **sorted = NULL;
    uint32_t *rank = NULL;
    mlcl__strmap m = { 0 };
    int rc;
    if ((rc = mlcl__alloc_array((void **)&sorted, l->c, sizeof *sorted, fn)) < 0) return rc;
    if ((rc = mlcl__alloc_array((void **)&rank, l->c, sizeof *rank, fn)) < 0) goto done;
    memcpy(sorted, l->names, l->c * sizeof *sorted);
    qsort(sorted, l->c, sizeof *sorted, mlcl__cmp_str);
    for (size_t k = 0; k < l->c; k++)
        if ((rc = mlcl__strmap_put(&m, sorted[k], k, fn)) < 0) goto done;
    for (size_t k = 0; k < l->c; k++) {
        size_t v = 0;
        mlcl__strmap_get(&m, l->names[k], &v);
        rank[k] = (uint32_t)v;
    }
    for (size_t p = 0; p < l->npairs; p++) l->pairs[2 * p + 1] = rank[l->pairs[2 * p + 1]];
    memcpy(l->names, sorted, l->c * sizeof *sorted);
done:
    mlcl__strmap_free(&m);
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
    mlcl__strmap m = { 0 };
    int rc = MLCL_OK;
    size_t *colid = NULL; /* 0/1 form: label index of each column */
    if (lcol == SIZE_MAX) {
        if (ncol < 2) return mlcl__csv_err(r, -1, "no label columns besides 'path' (and no 'labels' column)");
        if ((rc = mlcl__alloc_array((void **)&colid, ncol, sizeof *colid, fn)) < 0) return rc;
        for (size_t k = 0; k < ncol; k++) {
            if (k == pcol) continue;
            size_t dummy;
            if (mlcl__strmap_get(&m, r->names[k], &dummy)) { rc = mlcl__csv_err(r, (long)k, "label column named twice"); goto done; }
            if (!r->names[k][0]) { rc = mlcl__csv_err(r, (long)k, "empty label name"); goto done; }
            if ((rc = mlcl__imglist_add_name(l, r->names[k], fn)) < 0) goto done;
            colid[k] = l->c - 1;
            if ((rc = mlcl__strmap_put(&m, l->names[l->c - 1], colid[k], fn)) < 0) goto done;
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
        mlcl__strmap_free(&m); /* its keys are the names sort_names reorders */
        rc = sort_names(l, fn);
    }
done:
    mlcl__strmap_free(&m);
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
    MLCL_TRY(mlcl__manifest_check_options(o, fn));
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
    MLCL_TRY(mlcl__manifest_check_options(o, fn));
    char *base = o->image_root ? mlcl__strdup(o->image_root) : mlcl__path_dir(path);
    if (!base) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    mlcl__csv r;
    int rc = mlcl__csv_open(&r, path, 0, fn);
    if (rc < 0) { mlcl__free(base); return rc; }
    rc = read_image_csv(&r, l, base, fn);
    mlcl__csv_close(&r);
    mlcl__free(base);
    if (rc == MLCL_OK && l->n == 0) rc = mlcl__err(MLCL_EFORMAT, "%s: %s: no images", fn, path);
    if (rc == MLCL_OK && o->n_label_names > 0) rc = mlcl__imglist_remap(l, o, path, fn);
    if (rc < 0) mlcl__imglist_free(l);
    return rc;
}
