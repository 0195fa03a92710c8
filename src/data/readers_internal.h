/* Internal to src/data: the RFC 4180 record reader shared by the CSV table
 * and CSV manifest readers, and the image-dataset builder of the manifests. */
#ifndef MLCL_READERS_INTERNAL_H
#define MLCL_READERS_INTERNAL_H

#include <locale.h>
#include <zlib.h>
#include "core/internal.h"
#include "data/data_internal.h"
#include "mlcl/readers.h"

typedef struct mlcl__csv {
    gzFile f;
    const char *path;
    const char *fn;      /* public function name for messages */
    unsigned char *ibuf; /* input chunk */
    size_t ipos, ilen;
    int eof;
    char delim;
    char *rec;           /* the current record: fields unescaped, each NUL-terminated */
    size_t rec_len, rec_cap;
    size_t *fld;         /* offsets of the fields in rec */
    size_t nfld, fld_cap;
    long line;           /* physical lines consumed */
    long rec_line;       /* line where the current record starts */
    char **names;        /* header names (after mlcl__csv_header), for messages */
    size_t n_names;
    locale_t cloc;
} mlcl__csv;

/* Opens a CSV/TSV (plain or gzip). delim: ',' or '\t', 0 = by extension or
 * the first line. */
MLCL_INTERNAL int mlcl__csv_open(mlcl__csv *r, const char *path, int delim, const char *fn);
/* 1: a record is in r->fld/r->nfld (blank lines skipped); 0: end; < 0: error. */
MLCL_INTERNAL int mlcl__csv_next(mlcl__csv *r);
/* Reads the header record and keeps copies of its names in r->names. */
MLCL_INTERNAL int mlcl__csv_header(mlcl__csv *r);
static inline char *mlcl__csv_field(const mlcl__csv *r, size_t k) { return r->rec + r->fld[k]; }
MLCL_INTERNAL void mlcl__csv_close(mlcl__csv *r);
/* EFORMAT "fn: path: line L[, column K ('name')]: msg"; col < 0: no column. */
MLCL_INTERNAL int mlcl__csv_err(const mlcl__csv *r, long col, const char *fmt, ...) MLCL_PRINTF(3, 4);
/* 1 when the field spells a missing value (empty, NA, N/A, NaN, nan, null, ?). */
MLCL_INTERNAL int mlcl__csv_is_missing(const char *s);

/* A multi-label list of images: paths[n], names[c], and (row, label) pairs. */
typedef struct mlcl__imglist {
    char **paths;
    size_t n, cap_paths;
    char **names;
    size_t c, cap_names;
    uint32_t *pairs;     /* 2 * npairs: row, label */
    size_t npairs, cap_pairs;
} mlcl__imglist;

MLCL_INTERNAL void mlcl__imglist_free(mlcl__imglist *l);
/* Appends a path (copied); its row index is l->n - 1 afterwards. */
MLCL_INTERNAL int mlcl__imglist_add_path(mlcl__imglist *l, const char *path, const char *fn);
MLCL_INTERNAL int mlcl__imglist_add_name(mlcl__imglist *l, const char *name, const char *fn);
MLCL_INTERNAL int mlcl__imglist_add_pair(mlcl__imglist *l, size_t row, size_t label, const char *fn);
/* Decodes every image into a dataset of o's shape (label remapping to
 * o->label_names, skipping of bad images). `src` names the manifest. */
MLCL_INTERNAL int mlcl__imglist_build(mlcl_dataset **out, int *skipped, mlcl__imglist *l,
                                      const mlcl_manifest_options *o, const char *src,
                                      const char *fn);
/* Reads a CSV/TSV image manifest into l (nothing decoded; remapped to
 * o->label_names when given). l is empty on error. */
MLCL_INTERNAL int mlcl__imglist_read_csv(mlcl__imglist *l, const char *path, const mlcl_manifest_options *o,
                                         const char *fn);
/* Likewise for a COCO instances JSON and a PASCAL VOC tree. */
MLCL_INTERNAL int mlcl__imglist_read_coco(mlcl__imglist *l, const char *path, const mlcl_manifest_options *o,
                                          const char *fn);
MLCL_INTERNAL int mlcl__imglist_read_voc(mlcl__imglist *l, const char *root, const char *split,
                                         const mlcl_manifest_options *o, const char *fn);

/* Manifests (manifest.c): the option check of every manifest reader, a
 * folder test, a string -> index map (keys borrowed), qsort on strings, and
 * the remapping of a list's labels to o->label_names (src names the file). */
#define MLCL__MAX_LABELS (1 << 20)
MLCL_INTERNAL int mlcl__manifest_check_options(const mlcl_manifest_options *o, const char *fn);
MLCL_INTERNAL int mlcl__is_dir(const char *p);
typedef struct {
    const char **keys; /* borrowed */
    size_t *vals;
    size_t cap, n;
} mlcl__strmap;
MLCL_INTERNAL void mlcl__strmap_free(mlcl__strmap *m);
MLCL_INTERNAL int mlcl__strmap_get(const mlcl__strmap *m, const char *key, size_t *val);
MLCL_INTERNAL int mlcl__strmap_put(mlcl__strmap *m, const char *key, size_t val, const char *fn);
MLCL_INTERNAL int mlcl__cmp_str(const void *a, const void *b);
MLCL_INTERNAL int mlcl__imglist_remap(mlcl__imglist *l, const mlcl_manifest_options *o, const char *src,
                                      const char *fn);

/* Joins dir and name ("dir/name"; name kept when absolute or dir empty). */
MLCL_INTERNAL char *mlcl__path_join(const char *dir, const char *name);
/* The folder of a path ("." for a bare name); library-allocated. */
MLCL_INTERNAL char *mlcl__path_dir(const char *path);

#endif
