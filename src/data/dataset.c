/* The dataset handle: creation, accessors, subsets, splits, gathering,
 * standardisation, and the shared gzip line reader. */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "data/data_internal.h"

/* ---------------------------------------------------------------- helpers */

char *mlcl__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = mlcl__malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

int mlcl__grow(void **p, size_t *cap, size_t need, size_t elem, const char *fn)
{
    if (need <= *cap) return MLCL_OK;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) { ncap = need; break; }
        ncap *= 2;
    }
    size_t bytes;
    if (mlcl__mul_size(ncap, elem, &bytes) != 0)
        return mlcl__err(MLCL_EOVERFLOW, "%s: %zu elements of %zu bytes overflow size_t", fn, ncap, elem);
    void *q = mlcl__malloc(bytes);
    if (!q) return mlcl__err(MLCL_ENOMEM, "%s: cannot allocate %zu bytes", fn, bytes);
    if (*p && *cap) memcpy(q, *p, *cap * elem);
    mlcl__free(*p);
    *p = q;
    *cap = ncap;
    return MLCL_OK;
}

int mlcl_dataset_label_words(int c) { return c <= 0 ? 0 : c / 64 + (c % 64 != 0); }

int mlcl__dataset_alloc(mlcl_dataset **out, int n, int d, int c, const char *fn)
{
    *out = NULL;
    if (n <= 0 || d <= 0 || c <= 0)
        return mlcl__err(MLCL_EINVAL, "%s: dataset sizes must be > 0 (n=%d, d=%d, c=%d)", fn, n, d, c);
    size_t nd, nc, nw;
    int words = mlcl_dataset_label_words(c);
    if (mlcl__mul_size((size_t)n, (size_t)d, &nd) || mlcl__mul_size(nd, sizeof(float), &nd) ||
        mlcl__mul_size((size_t)n, (size_t)c, &nc) ||
        mlcl__mul_size((size_t)n, (size_t)words, &nw))
        return mlcl__err(MLCL_EOVERFLOW, "%s: %d x %d dataset overflows size_t", fn, n, d);
    mlcl_dataset *ds = mlcl__calloc(1, sizeof *ds);
    if (!ds) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    ds->n = n; ds->d = d; ds->c = c; ds->words = words;
    int rc;
    if ((rc = mlcl__alloc_array((void **)&ds->x, (size_t)n * (size_t)d, sizeof(float), fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&ds->y, nc, 1, fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&ds->yp, nw, sizeof(uint64_t), fn)) < 0) {
        mlcl_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return MLCL_OK;
}

void mlcl__dataset_pack(mlcl_dataset *ds)
{
    for (int i = 0; i < ds->n; i++) {
        uint64_t *w = ds->yp + (size_t)i * (size_t)ds->words;
        const uint8_t *y = ds->y + (size_t)i * (size_t)ds->c;
        memset(w, 0, (size_t)ds->words * sizeof *w);
        for (int j = 0; j < ds->c; j++)
            if (y[j]) w[j / 64] |= (uint64_t)1 << (j % 64);
    }
}

static void free_names(char **names, int k)
{
    if (!names) return;
    for (int i = 0; i < k; i++) mlcl__free(names[i]);
    mlcl__free(names);
}

static int copy_names(char ***dst, char *const *src, const int *map, int k, const char *fn)
{
    *dst = NULL;
    if (!src) return MLCL_OK;
    char **p = NULL;
    MLCL_TRY(mlcl__alloc_array((void **)&p, (size_t)k, sizeof *p, fn));
    for (int i = 0; i < k; i++) {
        const char *s = src[map ? map[i] : i];
        if (s && !(p[i] = mlcl__strdup(s))) {
            free_names(p, k);
            return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
        }
    }
    *dst = p;
    return MLCL_OK;
}

void mlcl_dataset_free(mlcl_dataset *ds)
{
    if (!ds) return;
    mlcl__free(ds->x);
    mlcl__free(ds->y);
    mlcl__free(ds->yp);
    free_names(ds->feat_names, ds->d);
    free_names(ds->label_names, ds->c);
    mlcl__free(ds);
}

/* ---------------------------------------------------------------- creation */

int mlcl_dataset_create_from_arrays(mlcl_dataset **out, int n, int d, int c, const float *x,
                                    const uint8_t *y)
{
    static const char fn[] = "mlcl_dataset_create_from_arrays";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_POS(fn, d);
    MLCL_CHECK_POS(fn, c);
    MLCL_CHECK_NULL(fn, x);
    MLCL_CHECK_NULL(fn, y);
    mlcl_dataset *ds;
    MLCL_TRY(mlcl__dataset_alloc(&ds, n, d, c, fn));
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) {
            float v = x[(size_t)i * (size_t)d + (size_t)j];
            if (!isfinite(v)) {
                mlcl_dataset_free(ds);
                return mlcl__err(MLCL_ENUMERIC, "%s: x[%d][%d] is not finite", fn, i, j);
            }
        }
        for (int j = 0; j < c; j++) {
            uint8_t v = y[(size_t)i * (size_t)c + (size_t)j];
            if (v > 1) {
                mlcl_dataset_free(ds);
                return mlcl__err(MLCL_EINVAL, "%s: y[%d][%d] = %u is not 0 or 1", fn, i, j, (unsigned)v);
            }
        }
    }
    memcpy(ds->x, x, (size_t)n * (size_t)d * sizeof(float));
    memcpy(ds->y, y, (size_t)n * (size_t)c);
    mlcl__dataset_pack(ds);
    *out = ds;
    return MLCL_OK;
}

static int check_rows(const char *fn, const mlcl_dataset *ds, const int *rows, int k)
{
    if (k > 0 && !rows) return mlcl__err(MLCL_EINVAL, "%s: rows is NULL", fn);
    for (int i = 0; i < k; i++)
        if (rows[i] < 0 || rows[i] >= ds->n)
            return mlcl__err(MLCL_EINVAL, "%s: rows[%d] = %d is out of range [0, %d)", fn, i, rows[i], ds->n);
    return MLCL_OK;
}

static void copy_rows(mlcl_dataset *dst, const mlcl_dataset *src, const int *rows, int k)
{
    size_t d = (size_t)src->d, c = (size_t)src->c, w = (size_t)src->words;
    for (int i = 0; i < k; i++) {
        size_t r = (size_t)rows[i];
        memcpy(dst->x + (size_t)i * d, src->x + r * d, d * sizeof(float));
        memcpy(dst->y + (size_t)i * c, src->y + r * c, c);
        memcpy(dst->yp + (size_t)i * w, src->yp + r * w, w * sizeof(uint64_t));
    }
}

static int make_subset(mlcl_dataset **out, const mlcl_dataset *ds, const int *rows, int k,
                       const char *fn)
{
    mlcl_dataset *s;
    MLCL_TRY(mlcl__dataset_alloc(&s, k, ds->d, ds->c, fn));
    copy_rows(s, ds, rows, k);
    s->ch = ds->ch; s->h = ds->h; s->w = ds->w;
    int rc;
    if ((rc = copy_names(&s->feat_names, ds->feat_names, NULL, ds->d, fn)) < 0 ||
        (rc = copy_names(&s->label_names, ds->label_names, NULL, ds->c, fn)) < 0) {
        mlcl_dataset_free(s);
        return rc;
    }
    *out = s;
    return MLCL_OK;
}

int mlcl_dataset_subset(mlcl_dataset **out, const mlcl_dataset *ds, const int *rows, int k)
{
    static const char fn[] = "mlcl_dataset_subset";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, ds);
    MLCL_CHECK_POS(fn, k);
    MLCL_TRY(check_rows(fn, ds, rows, k));
    return make_subset(out, ds, rows, k, fn);
}

int mlcl_dataset_split(mlcl_dataset **a, mlcl_dataset **b, const mlcl_dataset *ds, float frac_b,
                       uint64_t seed)
{
    static const char fn[] = "mlcl_dataset_split";
    MLCL_CHECK_NULL(fn, a);
    MLCL_CHECK_NULL(fn, b);
    *a = *b = NULL;
    MLCL_CHECK_NULL(fn, ds);
    if (!(frac_b > 0.0f && frac_b < 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: frac_b must be in (0, 1) (got %g)", fn, (double)frac_b);
    int nb = (int)lround((double)frac_b * ds->n);
    if (nb < 1 || nb >= ds->n)
        return mlcl__err(MLCL_EINVAL, "%s: frac_b %g of %d rows leaves a part empty", fn,
                         (double)frac_b, ds->n);
    int *perm = NULL;
    uint8_t *in_b = NULL;
    int rc;
    if ((rc = mlcl__alloc_array((void **)&perm, (size_t)ds->n, sizeof *perm, fn)) < 0) return rc;
    if ((rc = mlcl__alloc_array((void **)&in_b, (size_t)ds->n, 1, fn)) < 0) {
        mlcl__free(perm);
        return rc;
    }
    mlcl__pcg pcg;
    mlcl__pcg_seed(&pcg, seed, 0x73706c6974ULL /* "split" */);
    mlcl__pcg_permutation(&pcg, perm, ds->n);
    for (int i = 0; i < nb; i++) in_b[perm[i]] = 1;
    /* rows in file order within each part */
    int ia = 0, ib = 0, na = ds->n - nb;
    for (int r = 0; r < ds->n; r++) {
        if (in_b[r]) perm[na + ib++] = r;
        else perm[ia++] = r;
    }
    rc = make_subset(a, ds, perm, na, fn);
    if (rc == MLCL_OK) {
        rc = make_subset(b, ds, perm + na, nb, fn);
        if (rc < 0) { mlcl_dataset_free(*a); *a = NULL; }
    }
    mlcl__free(perm);
    mlcl__free(in_b);
    return rc;
}

/* ---------------------------------------------------------------- accessors */

int mlcl_dataset_dims(const mlcl_dataset *ds, int *n, int *d, int *c)
{
    MLCL_CHECK_NULL("mlcl_dataset_dims", ds);
    if (n) *n = ds->n;
    if (d) *d = ds->d;
    if (c) *c = ds->c;
    return MLCL_OK;
}

int mlcl_dataset_image_shape(const mlcl_dataset *ds, int *channels, int *height, int *width)
{
    MLCL_CHECK_NULL("mlcl_dataset_image_shape", ds);
    if (channels) *channels = ds->ch;
    if (height) *height = ds->h;
    if (width) *width = ds->w;
    return MLCL_OK;
}

const float *mlcl_dataset_features(const mlcl_dataset *ds) { return ds ? ds->x : NULL; }
const uint8_t *mlcl_dataset_labels(const mlcl_dataset *ds) { return ds ? ds->y : NULL; }
const uint64_t *mlcl_dataset_labels_packed(const mlcl_dataset *ds) { return ds ? ds->yp : NULL; }

const char *mlcl_dataset_feature_name(const mlcl_dataset *ds, int j)
{
    if (!ds || !ds->feat_names || j < 0 || j >= ds->d) return NULL;
    return ds->feat_names[j];
}

const char *mlcl_dataset_label_name(const mlcl_dataset *ds, int j)
{
    if (!ds || !ds->label_names || j < 0 || j >= ds->c) return NULL;
    return ds->label_names[j];
}

int mlcl_dataset_gather(const mlcl_dataset *ds, const int *rows, int k, float *x_out,
                        uint8_t *y_out, uint64_t *y_packed_out)
{
    static const char fn[] = "mlcl_dataset_gather";
    MLCL_CHECK_NULL(fn, ds);
    if (k < 0) return mlcl__err(MLCL_EINVAL, "%s: k must be >= 0 (got %d)", fn, k);
    MLCL_TRY(check_rows(fn, ds, rows, k));
    size_t d = (size_t)ds->d, c = (size_t)ds->c, w = (size_t)ds->words;
    for (int i = 0; i < k; i++) {
        size_t r = (size_t)rows[i];
        if (x_out) memcpy(x_out + (size_t)i * d, ds->x + r * d, d * sizeof(float));
        if (y_out) memcpy(y_out + (size_t)i * c, ds->y + r * c, c);
        if (y_packed_out) memcpy(y_packed_out + (size_t)i * w, ds->yp + r * w, w * sizeof(uint64_t));
    }
    return MLCL_OK;
}

/* ---------------------------------------------------------------- standardisation */

int mlcl_dataset_standardize_stats(const mlcl_dataset *ds, float *mean, float *std)
{
    static const char fn[] = "mlcl_dataset_standardize_stats";
    MLCL_CHECK_NULL(fn, ds);
    MLCL_CHECK_NULL(fn, mean);
    MLCL_CHECK_NULL(fn, std);
    const double n = (double)ds->n;
    for (int j = 0; j < ds->d; j++) {
        double s = 0.0;
        for (int i = 0; i < ds->n; i++) s += ds->x[(size_t)i * (size_t)ds->d + (size_t)j];
        double m = s / n, v = 0.0;
        for (int i = 0; i < ds->n; i++) {
            double e = ds->x[(size_t)i * (size_t)ds->d + (size_t)j] - m;
            v += e * e;
        }
        v /= n;
        /* scikit-learn's _is_constant_feature: variance within its rounding error bound */
        double ub = n * DBL_EPSILON * v + (n * m * DBL_EPSILON) * (n * m * DBL_EPSILON);
        mean[j] = (float)m;
        std[j] = v <= ub ? 1.0f : (float)sqrt(v);
        if (!(std[j] > 0.0f)) std[j] = 1.0f; /* a variance too small for float */
    }
    return MLCL_OK;
}

int mlcl_dataset_standardize_apply(mlcl_dataset *ds, const float *mean, const float *std)
{
    static const char fn[] = "mlcl_dataset_standardize_apply";
    MLCL_CHECK_NULL(fn, ds);
    MLCL_CHECK_NULL(fn, mean);
    MLCL_CHECK_NULL(fn, std);
    for (int j = 0; j < ds->d; j++) {
        if (!isfinite(mean[j])) return mlcl__err(MLCL_EINVAL, "%s: mean[%d] is not finite", fn, j);
        if (!isfinite(std[j]) || !(std[j] > 0.0f))
            return mlcl__err(MLCL_EINVAL, "%s: std[%d] = %g must be finite and > 0", fn, j, (double)std[j]);
    }
    for (int i = 0; i < ds->n; i++) {
        float *x = ds->x + (size_t)i * (size_t)ds->d;
        for (int j = 0; j < ds->d; j++) x[j] = (x[j] - mean[j]) / std[j];
    }
    return MLCL_OK;
}

/* ---------------------------------------------------------------- line reader */

int mlcl__lines_open(mlcl__lines *r, const char *path, const char *fn)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->fn = fn;
    r->cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (r->cloc == (locale_t)0) return mlcl__err(MLCL_ENOMEM, "%s: cannot create the C locale", fn);
    errno = 0;
    r->f = gzopen(path, "rb");
    if (!r->f) {
        int e = errno;
        freelocale(r->cloc);
        r->cloc = (locale_t)0;
        return mlcl__err(MLCL_EIO, "%s: cannot open '%s': %s", fn, path,
                         e ? strerror(e) : "out of memory");
    }
    gzbuffer(r->f, 1u << 17);
    r->cap = 4096;
    r->buf = mlcl__malloc(r->cap);
    if (!r->buf) {
        mlcl__lines_close(r);
        return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    }
    return MLCL_OK;
}

void mlcl__lines_close(mlcl__lines *r)
{
    if (r->f) gzclose(r->f);
    r->f = NULL;
    mlcl__free(r->buf);
    r->buf = NULL;
    if (r->cloc != (locale_t)0) freelocale(r->cloc);
    r->cloc = (locale_t)0;
}

int mlcl__lines_err(const mlcl__lines *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mlcl__err(MLCL_EFORMAT, "%s: %s: line %ld: %s", r->fn, r->path, r->line, msg);
}

static int gz_error(mlcl__lines *r)
{
    int errnum = 0;
    const char *m = gzerror(r->f, &errnum);
    if (errnum == Z_OK || errnum == Z_STREAM_END) return MLCL_OK;
    if (errnum == Z_ERRNO)
        return mlcl__err(MLCL_EIO, "%s: %s: line %ld: read error: %s", r->fn, r->path, r->line + 1,
                         strerror(errno));
    if (errnum == Z_MEM_ERROR) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", r->fn);
    return mlcl__err(MLCL_EFORMAT, "%s: %s: line %ld: corrupt or truncated gzip data (%s)", r->fn,
                     r->path, r->line + 1, m ? m : "?");
}

int mlcl__lines_next(mlcl__lines *r, char **line)
{
    size_t len = 0;
    for (;;) {
        if (r->cap - len < 2) {
            if (r->cap > (size_t)INT_MAX / 2)
                return mlcl__err(MLCL_EFORMAT, "%s: %s: line %ld: line longer than %zu bytes",
                                 r->fn, r->path, r->line + 1, r->cap);
            int rc = mlcl__grow((void **)&r->buf, &r->cap, r->cap * 2, 1, r->fn);
            if (rc < 0) return rc;
        }
        if (!gzgets(r->f, r->buf + len, (int)(r->cap - len))) {
            MLCL_TRY(gz_error(r));
            if (len == 0) return 0; /* clean end of file */
            break;                  /* last line without newline */
        }
        len += strlen(r->buf + len);
        if (len > 0 && r->buf[len - 1] == '\n') break;
        if (gzeof(r->f)) { MLCL_TRY(gz_error(r)); break; }
    }
    while (len > 0 && (r->buf[len - 1] == '\n' || r->buf[len - 1] == '\r')) r->buf[--len] = '\0';
    r->line++;
    *line = r->buf;
    return 1;
}

int mlcl__parse_float(const mlcl__lines *r, const char *tok, float *out)
{
    if (!*tok) return -1;
    char *end;
    errno = 0;
    double v = strtod_l(tok, &end, r->cloc);
    if (end == tok || *end) return -1;
    /* reject nan/inf spelled out, and values beyond float range */
    if (!isfinite(v) || fabs(v) > FLT_MAX) return -2;
    *out = (float)v;
    return 0;
}

int mlcl__parse_long(const char *tok, long lo, long hi, long *out)
{
    if (!*tok) return -1;
    const char *p = tok;
    if (*p == '+' || *p == '-') p++;
    if (*p < '0' || *p > '9') return -1;
    char *end;
    errno = 0;
    long v = strtol(tok, &end, 10);
    if (*end) return -1;
    if (errno == ERANGE || v < lo || v > hi) return -2;
    *out = v;
    return 0;
}
