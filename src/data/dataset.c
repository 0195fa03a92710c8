/* The dataset handle: creation, accessors, subsets, splits, gathering,
 * standardisation (the readers' byte source and line reader: textsrc.c). */
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


int mlcl__dataset_alloc(mlcl_dataset **out, int n, int d, int c, const char *fn)
{
    *out = NULL;
    if (n <= 0 || d <= 0 || c <= 0)
        return mlcl__err(MLCL_EINVAL, "%s: dataset sizes must be > 0 (n=%d, d=%d, c=%d)", fn, n, d, c);
    size_t nd, nc, nw;
    int words = (int)mlcl_label_words(c);
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
    int words = (int)mlcl_label_words(c);
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

/* ---------------------------------------------------------------- setters */

int mlcl_dataset_set_image_shape(mlcl_dataset *ds, int channels, int height, int width)
{
    static const char fn[] = "mlcl_dataset_set_image_shape";
    MLCL_CHECK_NULL(fn, ds);
    if (channels == 0 && height == 0 && width == 0) {
        ds->ch = ds->h = ds->w = 0;
        return MLCL_OK;
    }
    MLCL_CHECK_POS(fn, channels);
    MLCL_CHECK_POS(fn, height);
    MLCL_CHECK_POS(fn, width);
    if ((int64_t)channels * height * width != ds->d)
        return mlcl__err(MLCL_EINVAL, "%s: channels x height x width = %d x %d x %d != the %d features", fn, channels,
                         height, width, ds->d);
    ds->ch = channels; ds->h = height; ds->w = width;
    return MLCL_OK;
}

int mlcl_dataset_set_label_names(mlcl_dataset *ds, int count, const char *const *names)
{
    static const char fn[] = "mlcl_dataset_set_label_names";
    MLCL_CHECK_NULL(fn, ds);
    if (!names) {
        if (count != 0) return mlcl__err(MLCL_EINVAL, "%s: names is NULL but count is %d", fn, count);
        free_names(ds->label_names, ds->label_pool, ds->c);
        ds->label_names = NULL;
        ds->label_pool = NULL;
        return MLCL_OK;
    }
    if (count != ds->c) return mlcl__err(MLCL_EINVAL, "%s: count %d != the %d labels", fn, count, ds->c);
    for (int j = 0; j < count; j++)
        if (!names[j]) return mlcl__err(MLCL_EINVAL, "%s: names[%d] is NULL", fn, j);
    char **p, *pool;
    MLCL_TRY(copy_names(&p, &pool, (char *const *)names, NULL, count, fn));
    free_names(ds->label_names, ds->label_pool, ds->c);
    ds->label_names = p;
    ds->label_pool = pool;
    return MLCL_OK;
}

/* The views (dataset.h): NULL exactly when ds is NULL or the view does not exist. */
const float *mlcl_dataset_features(const mlcl_dataset *ds) { return ds ? ds->x : NULL; }
const uint8_t *mlcl_dataset_labels(const mlcl_dataset *ds) { return ds ? ds->y : NULL; }
const uint64_t *mlcl_dataset_labels_packed(const mlcl_dataset *ds) { return ds ? ds->yp : NULL; }

static int get_name(const char *fn, const mlcl_dataset *ds, int j, const char **name, int axis)
{
    MLCL_CHECK_NULL(fn, ds);
    MLCL_CHECK_NULL(fn, name);
    *name = NULL;
    int k = axis ? ds->c : ds->d;
    if (j < 0 || j >= k)
        return mlcl__err(MLCL_EINVAL, "%s: j = %d is out of range [0, %d)", fn, j, k);
    char **names = axis ? ds->label_names : ds->feat_names;
    if (names) *name = names[j];
    return MLCL_OK;
}

int mlcl_dataset_feature_name(const mlcl_dataset *ds, int j, const char **name)
{
    return get_name("mlcl_dataset_feature_name", ds, j, name, 0);
}

int mlcl_dataset_label_name(const mlcl_dataset *ds, int j, const char **name)
{
    return get_name("mlcl_dataset_label_name", ds, j, name, 1);
}

int mlcl_dataset_gather(float *x_out, uint8_t *y_out, uint64_t *y_packed_out, const mlcl_dataset *ds,
                        const int *rows, int k)
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

int mlcl_dataset_standardize_stats(float *mean, float *std, const mlcl_dataset *ds)
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
