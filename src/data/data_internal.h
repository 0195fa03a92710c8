/* Internal to src/data: the dataset layout, a gzip line reader, number parsing. */
#ifndef MLCL_DATA_INTERNAL_H
#define MLCL_DATA_INTERNAL_H

#include <locale.h>
#include <zlib.h>
#include "core/internal.h"
#include "mlcl/data.h"

struct mlcl_dataset {
    int n, d, c, words;
    float *x;          /* n x d */
    uint8_t *y;        /* n x c */
    uint64_t *yp;      /* n x words */
    char **feat_names; /* d names or NULL */
    char **label_names; /* c names or NULL */
    int ch, h, w;      /* image shape, 0 for vector sets */
};

/* Allocates a dataset with zeroed x, y, yp (no names). */
MLCL_INTERNAL int mlcl__dataset_alloc(mlcl_dataset **out, int n, int d, int c, const char *fn);
/* Fills yp from y. */
MLCL_INTERNAL void mlcl__dataset_pack(mlcl_dataset *ds);
/* Copies a string with the library allocator; NULL on failure. */
MLCL_INTERNAL char *mlcl__strdup(const char *s);
/* Grows *p (elements of `elem` bytes, capacity *cap) to hold at least `need`
 * elements, preserving contents; doubles. */
MLCL_INTERNAL int mlcl__grow(void **p, size_t *cap, size_t need, size_t elem, const char *fn);

/* A line reader over gzopen (plain or gzip files). */
typedef struct mlcl__lines {
    gzFile f;
    const char *path;
    const char *fn;   /* public function name for messages */
    char *buf;
    size_t cap;
    long line;        /* number of the line last returned (1-based) */
    locale_t cloc;    /* the C locale for strtod_l */
} mlcl__lines;

MLCL_INTERNAL int mlcl__lines_open(mlcl__lines *r, const char *path, const char *fn);
/* 1: *line is the next line (NUL-terminated, without \r\n; writable until the
 * next call); 0: end of file; < 0: error recorded (EIO/EFORMAT). */
MLCL_INTERNAL int mlcl__lines_next(mlcl__lines *r, char **line);
MLCL_INTERNAL void mlcl__lines_close(mlcl__lines *r);
/* Records an EFORMAT error "fn: path: line N: <msg>". */
MLCL_INTERNAL int mlcl__lines_err(const mlcl__lines *r, const char *fmt, ...) MLCL_PRINTF(2, 3);
/* Parses the whole token as a finite float (C locale). 0 ok, -1 not a number, -2 not finite. */
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
