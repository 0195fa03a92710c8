/* Internal to src/data: the dataset layout, a gzip line reader, number parsing. */
#ifndef MLCL_DATA_INTERNAL_H
#define MLCL_DATA_INTERNAL_H

#include <locale.h>
#include <stdio.h>
#include <zlib.h>
#include "core/internal.h"
#include "mlcl/dataset.h"
#include "mlcl/readers.h"
#include "mlcl/batch.h"
#include "mlcl/augment.h"
#include "mlcl/labels.h" /* mlcl_label_words(): the packed-label layout */

struct mlcl_dataset {
    int n, d, c, words;
    float *x;          /* n x d */
    uint8_t *y;        /* n x c */
    uint64_t *yp;      /* n x words */
    char **feat_names; /* d names or NULL */
    char **label_names; /* c names or NULL */
    char *feat_pool;   /* non-NULL: feat_names[] point into this one block */
    char *label_pool;  /* likewise for label_names[] */
    int ch, h, w;      /* image shape, 0 for vector sets */
    /* sparse storage (mlcl_dataset_load_libsvm_sparse, mlcl_dataset_create_csr):
     * x is NULL and row i's features are sp_col/sp_val[sp_ptr[i] .. sp_ptr[i+1]),
     * columns strictly increasing within a row */
    int64_t *sp_ptr;   /* n + 1 */
    int *sp_col;       /* nnz */
    float *sp_val;     /* nnz */
};

/* Builds a CSR dataset; takes ownership of ptr, col, val and y (n x c bytes,
 * NULL: zeroed), also on failure. Checks nothing but the sizes. */
MLCL_INTERNAL int mlcl__dataset_adopt_csr(mlcl_dataset **out, int n, int d, int c, int64_t *ptr, int *col,
                                          float *val, uint8_t *y, const char *fn);
/* The given rows (checked) of a CSR dataset as a new CSR dataset (no names). */
MLCL_INTERNAL int mlcl__dataset_subset_csr(mlcl_dataset **out, const mlcl_dataset *ds, const int *rows, int k,
                                           const char *fn);

/* Allocates a dataset with zeroed x, y, yp (no names). */
MLCL_INTERNAL int mlcl__dataset_alloc(mlcl_dataset **out, int n, int d, int c, const char *fn);
/* Builds a dataset around x (n x d floats) and y (n x c bytes, may be NULL:
 * then zeroed) allocated with mlcl__malloc; takes ownership of both, also on
 * failure (they are freed then). No second copy of the features. */
MLCL_INTERNAL int mlcl__dataset_adopt(mlcl_dataset **out, int n, int d, int c, float *x, uint8_t *y,
                                      const char *fn);
/* Fills yp from y. */
MLCL_INTERNAL void mlcl__dataset_pack(mlcl_dataset *ds);
/* Copies a string with the library allocator; NULL on failure. */
MLCL_INTERNAL char *mlcl__strdup(const char *s);
/* Grows *p (elements of `elem` bytes, capacity *cap) to hold at least `need`
 * elements, preserving contents; doubles. */
MLCL_INTERNAL int mlcl__grow(void **p, size_t *cap, size_t need, size_t elem, const char *fn);
/* As mlcl__grow, but the new capacity never exceeds max(need, limit) elements. */
MLCL_INTERNAL int mlcl__grow_max(void **p, size_t *cap, size_t need, size_t limit, size_t elem,
                                 const char *fn);

/* The memory budget of a reader (docs/formats.md, "Limits"): what a file may
 * make us allocate for its data, MLCL_DATA_BUDGET_RATIO times its size on disk
 * (compressed size for gzip), at least MLCL_DATA_BUDGET_MIN. */
MLCL_INTERNAL size_t mlcl__data_budget(uint64_t file_bytes);
/* "1.5 GB" style sizes for messages; returns buf. */
MLCL_INTERNAL const char *mlcl__fmt_bytes(char buf[32], double bytes);
/* Checks |v| <= MLCL_DATA_MAX_ABS (v finite). */
static inline int mlcl__value_ok(double v) { return v >= -MLCL_DATA_MAX_ABS && v <= MLCL_DATA_MAX_ABS; }

/* A byte source over a file that is plain or gzip (one or more members):
 * our own inflate loop instead of gzread, so that bytes after the last gzip
 * member are an error (gzread ignores them) and the compressed offset is
 * known. */
typedef struct mlcl__zsrc {
    FILE *f;
    int gz;              /* 1: gzip */
    int eof;             /* no more data */
    int file_eof;        /* fread hit the end of the file */
    z_stream z;
    int z_init;
    unsigned char *in;   /* input buffer */
    size_t in_len, in_pos; /* plain mode: unread bytes are in[in_pos..in_len) */
    uint64_t file_size;  /* size of a regular file, 0 for devices/pipes */
    uint64_t consumed;   /* file bytes read so far */
    int status;          /* after an error: the MLCL_* code */
    char why[160];       /* after an error: what went wrong (no file name) */
} mlcl__zsrc;

/* Opens path; on failure records "fn: cannot open 'path': ..." (MLCL_EIO). */
MLCL_INTERNAL int mlcl__zsrc_open(mlcl__zsrc *s, const char *path, const char *fn);
/* Reads up to n bytes; returns the count (0 only at the end of the data) or
 * -1 with s->status and s->why set (nothing recorded in the error buffer). */
MLCL_INTERNAL long mlcl__zsrc_read(mlcl__zsrc *s, void *buf, size_t n);
MLCL_INTERNAL void mlcl__zsrc_close(mlcl__zsrc *s);
/* The budget of the source: from the size of a regular file, else (pipes,
 * devices) from the bytes read so far, so that it grows as data arrives. */
MLCL_INTERNAL size_t mlcl__zsrc_budget(const mlcl__zsrc *s);
/* Writes "<what> would need X, more than the budget ..." into msg; returns MLCL_EFORMAT. */
MLCL_INTERNAL int mlcl__zsrc_budget_err(const mlcl__zsrc *s, char *msg, size_t len, double bytes, const char *what);

/* A line reader over mlcl__zsrc (plain or gzip files). A NUL byte, a line
 * longer than MLCL_TEXT_LINE_MAX bytes (also one that never ends) and bytes
 * after the last gzip member are errors naming the file and the line. */
typedef struct mlcl__lines {
    mlcl__zsrc src;
    const char *path;
    const char *fn;   /* public function name for messages */
    char *buf;
    size_t cap;
    long line;        /* number of the line last returned (1-based) */
    locale_t cloc;    /* the C locale for strtod_l */
    char *rbuf;       /* decompressed bytes not yet returned: rbuf[rpos..rlen) */
    size_t rpos, rlen;
    size_t budget;    /* mlcl__zsrc_budget() as last checked */
} mlcl__lines;

MLCL_INTERNAL int mlcl__lines_open(mlcl__lines *r, const char *path, const char *fn);
/* 1: *line is the next line (NUL-terminated, without \r\n; writable until the
 * next call); 0: end of file; < 0: error recorded (EIO/EFORMAT). */
MLCL_INTERNAL int mlcl__lines_next(mlcl__lines *r, char **line);
MLCL_INTERNAL void mlcl__lines_close(mlcl__lines *r);
/* Records an EFORMAT error "fn: path: line N: <msg>". */
MLCL_INTERNAL int mlcl__lines_err(const mlcl__lines *r, const char *fmt, ...) MLCL_PRINTF(2, 3);
/* Records an EFORMAT error "fn: path: line N, column K: <msg>" (K 1-based, bytes). */
MLCL_INTERNAL int mlcl__lines_col_err(const mlcl__lines *r, long col, const char *fmt, ...) MLCL_PRINTF(3, 4);
/* Checks that `bytes` of data fit the file's budget (updating r->budget);
 * else an EFORMAT error at the current line saying what `what` would need. */
MLCL_INTERNAL int mlcl__lines_budget(mlcl__lines *r, double bytes, const char *what);
/* Parses the whole token as a finite float (C locale). 0 ok, -1 not a number,
 * -2 not finite (or beyond float), -3 finite but |v| > MLCL_DATA_MAX_ABS. */
MLCL_INTERNAL int mlcl__parse_float(const mlcl__lines *r, const char *tok, float *out);
/* Parses the whole token as a decimal integer in [lo, hi]. 0 ok, -1 not an integer, -2 range. */
MLCL_INTERNAL int mlcl__parse_long(const char *tok, long lo, long hi, long *out);

static inline int mlcl__is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n' && *s != '\f' && *s != '\v') return 0;
    return 1;
}

static inline char *mlcl__skip_ws(char *p)
{
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

#endif
