/* The dataset handle: creation, accessors, subsets, splits, gathering,
 * standardisation, and the shared gzip line reader. */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int mlcl__grow_max(void **p, size_t *cap, size_t need, size_t limit, size_t elem, const char *fn)
{
    if (need <= *cap) return MLCL_OK;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) { ncap = need; break; }
        ncap *= 2;
    }
    if (ncap > limit) ncap = limit > need ? limit : need;
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

size_t mlcl__data_budget(uint64_t file_bytes)
{
    uint64_t b = file_bytes > UINT64_MAX / MLCL_DATA_BUDGET_RATIO ? UINT64_MAX : file_bytes * MLCL_DATA_BUDGET_RATIO;
    if (b < MLCL_DATA_BUDGET_MIN) b = MLCL_DATA_BUDGET_MIN;
    return b > SIZE_MAX ? SIZE_MAX : (size_t)b;
}

const char *mlcl__fmt_bytes(char buf[32], double b)
{
    if (b >= 1e9) snprintf(buf, 32, "%.1f GB", b / 1e9);
    else if (b >= 1e6) snprintf(buf, 32, "%.1f MB", b / 1e6);
    else snprintf(buf, 32, "%.0f bytes", b);
    return buf;
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

int mlcl__dataset_adopt(mlcl_dataset **out, int n, int d, int c, float *x, uint8_t *y, const char *fn)
{
    *out = NULL;
    int rc = MLCL_OK;
    mlcl_dataset *ds = NULL;
    size_t nw;
    int words = mlcl_dataset_label_words(c);
    if (n <= 0 || d <= 0 || c <= 0)
        rc = mlcl__err(MLCL_EINVAL, "%s: dataset sizes must be > 0 (n=%d, d=%d, c=%d)", fn, n, d, c);
    else if (mlcl__mul_size((size_t)n, (size_t)words, &nw))
        rc = mlcl__err(MLCL_EOVERFLOW, "%s: %d x %d labels overflow size_t", fn, n, c);
    else if (!(ds = mlcl__calloc(1, sizeof *ds)))
        rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    if (rc < 0) {
        mlcl__free(x);
        mlcl__free(y);
        return rc;
    }
    ds->n = n; ds->d = d; ds->c = c; ds->words = words;
    ds->x = x;
    ds->y = y;
    if ((!y && (rc = mlcl__alloc_array((void **)&ds->y, (size_t)n * (size_t)c, 1, fn)) < 0) ||
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

/* Names are either k separate strings (pool NULL) or pointers into one block. */
static void free_names(char **names, char *pool, int k)
{
    if (names && !pool)
        for (int i = 0; i < k; i++) mlcl__free(names[i]);
    mlcl__free(names);
    mlcl__free(pool);
}

/* Copies k names into one block (*dpool) with pointers *dst. */
static int copy_names(char ***dst, char **dpool, char *const *src, const int *map, int k, const char *fn)
{
    *dst = NULL;
    *dpool = NULL;
    if (!src) return MLCL_OK;
    size_t total = 1;
    for (int i = 0; i < k; i++) {
        const char *s = src[map ? map[i] : i];
        if (s) total += strlen(s) + 1;
    }
    char **p = NULL, *pool = NULL;
    MLCL_TRY(mlcl__alloc_array((void **)&p, (size_t)k, sizeof *p, fn));
    if (!(pool = mlcl__malloc(total))) {
        mlcl__free(p);
        return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    }
    char *w = pool;
    for (int i = 0; i < k; i++) {
        const char *s = src[map ? map[i] : i];
        if (!s) continue;
        size_t len = strlen(s) + 1;
        memcpy(w, s, len);
        p[i] = w;
        w += len;
    }
    *dst = p;
    *dpool = pool;
    return MLCL_OK;
}

void mlcl_dataset_free(mlcl_dataset *ds)
{
    if (!ds) return;
    mlcl__free(ds->x);
    mlcl__free(ds->sp_ptr);
    mlcl__free(ds->sp_col);
    mlcl__free(ds->sp_val);
    mlcl__free(ds->y);
    mlcl__free(ds->yp);
    free_names(ds->feat_names, ds->feat_pool, ds->d);
    free_names(ds->label_names, ds->label_pool, ds->c);
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
            if (!mlcl__value_ok(v)) {
                mlcl_dataset_free(ds);
                return mlcl__err(MLCL_ENUMERIC, "%s: x[%d][%d] = %g exceeds the magnitude limit %g (MLCL_DATA_MAX_ABS)",
                                 fn, i, j, (double)v, MLCL_DATA_MAX_ABS);
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
    if (ds->sp_ptr) {
        MLCL_TRY(mlcl__dataset_subset_csr(&s, ds, rows, k, fn));
    } else {
        MLCL_TRY(mlcl__dataset_alloc(&s, k, ds->d, ds->c, fn));
        copy_rows(s, ds, rows, k);
    }
    s->ch = ds->ch; s->h = ds->h; s->w = ds->w;
    int rc;
    if ((rc = copy_names(&s->feat_names, &s->feat_pool, ds->feat_names, NULL, ds->d, fn)) < 0 ||
        (rc = copy_names(&s->label_names, &s->label_pool, ds->label_names, NULL, ds->c, fn)) < 0) {
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
        if (x_out && ds->sp_ptr) { /* a sparse set: the rows densified */
            float *xo = x_out + (size_t)i * d;
            memset(xo, 0, d * sizeof(float));
            for (int64_t q = ds->sp_ptr[r]; q < ds->sp_ptr[r + 1]; q++) xo[ds->sp_col[q]] = ds->sp_val[q];
        } else if (x_out) {
            memcpy(x_out + (size_t)i * d, ds->x + r * d, d * sizeof(float));
        }
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
    if (ds->sp_ptr)
        return mlcl__err(MLCL_EINVAL, "%s: the dataset is sparse (CSR); centring would make it dense", fn);
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
    if (ds->sp_ptr)
        return mlcl__err(MLCL_EINVAL, "%s: the dataset is sparse (CSR); centring would make it dense", fn);
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

/* ---------------------------------------------------------------- byte source */

#define ZSRC_CHUNK ((size_t)1 << 16)

static long zsrc_fail(mlcl__zsrc *s, int status, const char *fmt, ...) MLCL_PRINTF(3, 4);
static long zsrc_fail(mlcl__zsrc *s, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    s->status = status;
    return -1;
}

/* Appends file bytes after in[in_len] (moving the unread ones to the front). */
static int zsrc_fill(mlcl__zsrc *s)
{
    size_t keep = s->gz ? s->z.avail_in : s->in_len - s->in_pos;
    const unsigned char *from = s->gz ? s->z.next_in : s->in + s->in_pos;
    if (keep && from != s->in) memmove(s->in, from, keep);
    s->in_pos = 0;
    s->in_len = keep;
    if (s->file_eof || keep == ZSRC_CHUNK) goto out;
    size_t got = fread(s->in + keep, 1, ZSRC_CHUNK - keep, s->f);
    if (got < ZSRC_CHUNK - keep) {
        if (ferror(s->f)) return (int)zsrc_fail(s, MLCL_EIO, "read error: %s", strerror(errno));
        s->file_eof = 1;
    }
    s->in_len += got;
    s->consumed += got;
out:
    if (s->gz) {
        s->z.next_in = s->in;
        s->z.avail_in = (uInt)s->in_len;
    }
    return 0;
}

int mlcl__zsrc_open(mlcl__zsrc *s, const char *path, const char *fn)
{
    memset(s, 0, sizeof *s);
    errno = 0;
    s->f = fopen(path, "rb");
    if (!s->f) {
        int e = errno;
        return mlcl__err(MLCL_EIO, "%s: cannot open '%s': %s", fn, path, e ? strerror(e) : "unknown error");
    }
    struct stat st;
    if (fstat(fileno(s->f), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            mlcl__zsrc_close(s);
            return mlcl__err(MLCL_EIO, "%s: cannot read '%s': it is a directory", fn, path);
        }
        if (S_ISREG(st.st_mode) && st.st_size > 0) s->file_size = (uint64_t)st.st_size;
    }
    if (!(s->in = mlcl__malloc(ZSRC_CHUNK))) {
        mlcl__zsrc_close(s);
        return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    }
    /* gzip when the first two bytes are its magic 1f 8b */
    while (s->in_len < 2 && !s->file_eof)
        if (zsrc_fill(s) < 0) {
            int st_ = mlcl__err(s->status, "%s: %s: %s", fn, path, s->why);
            mlcl__zsrc_close(s);
            return st_;
        }
    if (s->in_len >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b) {
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) {
            mlcl__zsrc_close(s);
            return mlcl__err(MLCL_ENOMEM, "%s: out of memory (inflateInit2)", fn);
        }
        s->z_init = 1;
        s->gz = 1;
        s->z.next_in = s->in;
        s->z.avail_in = (uInt)s->in_len;
    }
    return MLCL_OK;
}

void mlcl__zsrc_close(mlcl__zsrc *s)
{
    if (s->z_init) inflateEnd(&s->z);
    s->z_init = 0;
    mlcl__free(s->in);
    s->in = NULL;
    if (s->f) fclose(s->f);
    s->f = NULL;
}

long mlcl__zsrc_read(mlcl__zsrc *s, void *buf, size_t n)
{
    if (s->status) return -1;
    if (s->eof || n == 0) return 0;
    if (n > ((size_t)1 << 30)) n = (size_t)1 << 30;
    if (!s->gz) {
        size_t done = 0;
        while (done < n) {
            if (s->in_pos == s->in_len) {
                if (s->file_eof) break;
                /* large reads go straight to the caller's buffer */
                if (n - done >= ZSRC_CHUNK) {
                    size_t want = n - done, got = fread((char *)buf + done, 1, want, s->f);
                    s->consumed += got;
                    done += got;
                    if (got < want) {
                        if (ferror(s->f)) return zsrc_fail(s, MLCL_EIO, "read error: %s", strerror(errno));
                        s->file_eof = 1;
                    }
                    continue;
                }
                if (zsrc_fill(s) < 0) return -1;
                if (s->in_len == 0) break;
            }
            size_t k = s->in_len - s->in_pos < n - done ? s->in_len - s->in_pos : n - done;
            memcpy((char *)buf + done, s->in + s->in_pos, k);
            s->in_pos += k;
            done += k;
        }
        if (done == 0) s->eof = 1;
        return (long)done;
    }
    s->z.next_out = buf;
    s->z.avail_out = (uInt)n;
    while (s->z.avail_out == n) {
        if (s->z.avail_in == 0) {
            if (zsrc_fill(s) < 0) return -1;
            if (s->z.avail_in == 0)
                return zsrc_fail(s, MLCL_EFORMAT, "truncated gzip data (the stream ends early)");
        }
        int zr = inflate(&s->z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            /* what follows the member: nothing, another member, or an error */
            if (s->z.avail_in < 2 && zsrc_fill(s) < 0) break;
            if (s->z.avail_in == 0) { s->eof = 1; break; }
            if (s->z.avail_in >= 2 && s->z.next_in[0] == 0x1f && s->z.next_in[1] == 0x8b) {
                if (inflateReset(&s->z) != Z_OK) return zsrc_fail(s, MLCL_EFORMAT, "corrupt gzip data");
                continue;
            }
            uint64_t off = s->consumed - s->z.avail_in;
            zsrc_fail(s, MLCL_EFORMAT, "%llu bytes of trailing data after the gzip stream (at byte offset %llu)",
                      (unsigned long long)(s->file_size > off ? s->file_size - off : s->z.avail_in),
                      (unsigned long long)off);
            break; /* the data before it first; the error on the next call */
        }
        if (zr == Z_BUF_ERROR) continue; /* needs more input */
        if (zr == Z_MEM_ERROR) { zsrc_fail(s, MLCL_ENOMEM, "out of memory (inflate)"); break; }
        if (zr != Z_OK) {
            zsrc_fail(s, MLCL_EFORMAT, "corrupt gzip data (%s)", s->z.msg ? s->z.msg : "zlib error");
            break;
        }
    }
    if (s->status && s->z.avail_out == n) return -1;
    return (long)(n - s->z.avail_out);
}

/* ---------------------------------------------------------------- line reader */

#define LINES_CHUNK ((size_t)1 << 16)

int mlcl__lines_open(mlcl__lines *r, const char *path, const char *fn)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->fn = fn;
    r->cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (r->cloc == (locale_t)0) return mlcl__err(MLCL_ENOMEM, "%s: cannot create the C locale", fn);
    int rc = mlcl__zsrc_open(&r->src, path, fn);
    if (rc < 0) {
        freelocale(r->cloc);
        r->cloc = (locale_t)0;
        return rc;
    }
    r->budget = mlcl__data_budget(r->src.file_size);
    r->cap = 4096;
    r->buf = mlcl__malloc(r->cap);
    r->rbuf = mlcl__malloc(LINES_CHUNK);
    if (!r->buf || !r->rbuf) {
        mlcl__lines_close(r);
        return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    }
    return MLCL_OK;
}

void mlcl__lines_close(mlcl__lines *r)
{
    mlcl__zsrc_close(&r->src);
    mlcl__free(r->buf);
    r->buf = NULL;
    mlcl__free(r->rbuf);
    r->rbuf = NULL;
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

int mlcl__lines_col_err(const mlcl__lines *r, long col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mlcl__err(MLCL_EFORMAT, "%s: %s: line %ld, column %ld: %s", r->fn, r->path, r->line, col, msg);
}

size_t mlcl__zsrc_budget(const mlcl__zsrc *s)
{
    return mlcl__data_budget(s->file_size ? s->file_size : s->consumed);
}

int mlcl__zsrc_budget_err(const mlcl__zsrc *s, char *msg, size_t len, double bytes, const char *what)
{
    char a[32], b[32], c[32];
    size_t budget = mlcl__zsrc_budget(s);
    if (s->file_size)
        snprintf(msg, len, "%s would need %s, more than the %s a file of %s may make a reader allocate "
                 "(%d x its size, at least 128 MiB; docs/formats.md, Limits)",
                 what, mlcl__fmt_bytes(a, bytes), mlcl__fmt_bytes(b, (double)budget),
                 mlcl__fmt_bytes(c, (double)s->file_size), MLCL_DATA_BUDGET_RATIO);
    else
        snprintf(msg, len, "%s would need %s, more than the %s the %s read so far may make a reader allocate "
                 "(%d x, at least 128 MiB; docs/formats.md, Limits)",
                 what, mlcl__fmt_bytes(a, bytes), mlcl__fmt_bytes(b, (double)budget),
                 mlcl__fmt_bytes(c, (double)s->consumed), MLCL_DATA_BUDGET_RATIO);
    return MLCL_EFORMAT;
}

int mlcl__lines_budget(mlcl__lines *r, double bytes, const char *what)
{
    r->budget = mlcl__zsrc_budget(&r->src);
    if (bytes <= (double)r->budget) return MLCL_OK;
    char msg[400];
    mlcl__zsrc_budget_err(&r->src, msg, sizeof msg, bytes, what);
    return mlcl__lines_err(r, "%s", msg);
}

int mlcl__lines_next(mlcl__lines *r, char **line)
{
    size_t len = 0;
    int any = 0;
    for (;;) {
        if (r->rpos == r->rlen) {
            long got = mlcl__zsrc_read(&r->src, r->rbuf, LINES_CHUNK);
            if (got < 0)
                return mlcl__err(r->src.status, "%s: %s: line %ld: %s", r->fn, r->path, r->line + 1, r->src.why);
            if (got == 0) {
                if (!any) return 0; /* clean end of file */
                break;              /* last line without newline */
            }
            r->rpos = 0;
            r->rlen = (size_t)got;
        }
        any = 1;
        const char *s = r->rbuf + r->rpos;
        size_t avail = r->rlen - r->rpos;
        const char *nl = memchr(s, '\n', avail);
        size_t take = nl ? (size_t)(nl - s) : avail;
        const char *z = memchr(s, '\0', take);
        if (z)
            return mlcl__err(MLCL_EFORMAT, "%s: %s: line %ld, column %zu: NUL byte (not a text file?)", r->fn,
                             r->path, r->line + 1, len + (size_t)(z - s) + 1);
        if (len + take >= (size_t)MLCL_TEXT_LINE_MAX)
            return mlcl__err(MLCL_EFORMAT, "%s: %s: line %ld: line longer than %ld bytes (MLCL_TEXT_LINE_MAX)",
                             r->fn, r->path, r->line + 1, (long)MLCL_TEXT_LINE_MAX);
        MLCL_TRY(mlcl__grow((void **)&r->buf, &r->cap, len + take + 1, 1, r->fn));
        memcpy(r->buf + len, s, take);
        len += take;
        r->rpos += take;
        if (nl) { r->rpos++; break; }
    }
    while (len > 0 && r->buf[len - 1] == '\r') len--;
    r->buf[len] = '\0';
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
    if (!mlcl__value_ok(v)) return -3;
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
