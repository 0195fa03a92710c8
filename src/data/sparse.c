/* Sparse (CSR) datasets: creation, access, row subsets, and the masked
 * views of CSR rows used by contrastive pretraining. */
#include <stdlib.h>
#include <string.h>
#include "data/data_internal.h"
#include "data/sparse_lib.h"
#include "kernels/pcgfill.h"

int mlcl__dataset_adopt_csr(mlcl_dataset **out, int n, int d, int c, int64_t *ptr, int *col, float *val,
                            uint8_t *y, const char *fn)
{
    *out = NULL;
    int rc = MLCL_OK, words = (int)mlcl_label_words(c);
    size_t nw = 0;
    mlcl_dataset *ds = NULL;
    if (n <= 0 || d <= 0 || c <= 0)
        rc = mlcl__err(MLCL_EINVAL, "%s: dataset sizes must be > 0 (n=%d, d=%d, c=%d)", fn, n, d, c);
    else if (mlcl__mul_size((size_t)n, (size_t)words, &nw))
        rc = mlcl__err(MLCL_EOVERFLOW, "%s: %d x %d labels overflow size_t", fn, n, c);
    else if (!(ds = mlcl__calloc(1, sizeof *ds)))
        rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    if (rc < 0) {
        mlcl__free(ptr); mlcl__free(col); mlcl__free(val); mlcl__free(y);
        return rc;
    }
    ds->n = n; ds->d = d; ds->c = c; ds->words = words;
    ds->sp_ptr = ptr; ds->sp_col = col; ds->sp_val = val; ds->y = y;
    if ((!y && (rc = mlcl__alloc_array((void **)&ds->y, (size_t)n * (size_t)c, 1, fn)) < 0) ||
        (rc = mlcl__alloc_array((void **)&ds->yp, nw, sizeof(uint64_t), fn)) < 0) {
        mlcl_dataset_free(ds);
        return rc;
    }
    mlcl__dataset_pack(ds);
    *out = ds;
    return MLCL_OK;
}

/* (rows are checked by the caller) */
int mlcl__dataset_subset_csr(mlcl_dataset **out, const mlcl_dataset *ds, const int *rows, int k, const char *fn)
{
    *out = NULL;
    size_t nnz = 0, c = (size_t)ds->c;
    for (int i = 0; i < k; i++) nnz += (size_t)(ds->sp_ptr[rows[i] + 1] - ds->sp_ptr[rows[i]]);
    int64_t *ptr = NULL;
    int *col = NULL;
    float *val = NULL;
    uint8_t *y = NULL;
    int rc;
    if ((rc = mlcl__alloc_array((void **)&ptr, (size_t)k + 1, sizeof *ptr, fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&col, nnz ? nnz : 1, sizeof *col, fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&val, nnz ? nnz : 1, sizeof *val, fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&y, (size_t)k * c, 1, fn)) < 0) {
        mlcl__free(ptr); mlcl__free(col); mlcl__free(val); mlcl__free(y);
        return rc;
    }
    int64_t q = 0;
    ptr[0] = 0;
    for (int i = 0; i < k; i++) {
        int64_t a = ds->sp_ptr[rows[i]], b = ds->sp_ptr[rows[i] + 1];
        memcpy(col + q, ds->sp_col + a, (size_t)(b - a) * sizeof *col);
        memcpy(val + q, ds->sp_val + a, (size_t)(b - a) * sizeof *val);
        q += b - a;
        ptr[i + 1] = q;
        memcpy(y + (size_t)i * c, ds->y + (size_t)rows[i] * c, c);
    }
    return mlcl__dataset_adopt_csr(out, k, ds->d, ds->c, ptr, col, val, y, fn);
}

int mlcl_dataset_create_csr(mlcl_dataset **out, int n, int d, int c, const int64_t *row_ptr,
                            const int *cols, const float *vals, const uint8_t *y)
{
    static const char fn[] = "mlcl_dataset_create_csr";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_POS(fn, d);
    MLCL_CHECK_POS(fn, c);
    MLCL_CHECK_NULL(fn, row_ptr);
    MLCL_CHECK_NULL(fn, y);
    if (row_ptr[0] != 0) return mlcl__err(MLCL_EINVAL, "%s: row_ptr[0] = %lld, must be 0", fn, (long long)row_ptr[0]);
    for (int i = 0; i < n; i++) {
        if (row_ptr[i + 1] < row_ptr[i])
            return mlcl__err(MLCL_EINVAL, "%s: row_ptr[%d] = %lld < row_ptr[%d] = %lld", fn, i + 1,
                             (long long)row_ptr[i + 1], i, (long long)row_ptr[i]);
        if (row_ptr[i + 1] - row_ptr[i] > d)
            return mlcl__err(MLCL_EINVAL, "%s: row %d has %lld entries, more than d = %d", fn, i,
                             (long long)(row_ptr[i + 1] - row_ptr[i]), d);
    }
    int64_t nnz = row_ptr[n];
    if (nnz > 0) {
        MLCL_CHECK_NULL(fn, cols);
        MLCL_CHECK_NULL(fn, vals);
    }
    for (int i = 0; i < n; i++)
        for (int64_t q = row_ptr[i]; q < row_ptr[i + 1]; q++) {
            if (cols[q] < 0 || cols[q] >= d)
                return mlcl__err(MLCL_EINVAL, "%s: cols[%lld] = %d (row %d) is out of range [0, %d)", fn, (long long)q,
                                 cols[q], i, d);
            if (q > row_ptr[i] && cols[q] <= cols[q - 1])
                return mlcl__err(MLCL_EINVAL, "%s: row %d: columns must increase strictly (cols[%lld] = %d after %d)", fn,
                                 i, (long long)q, cols[q], cols[q - 1]);
            if (!isfinite(vals[q])) return mlcl__err(MLCL_ENUMERIC, "%s: vals[%lld] (row %d) is not finite", fn, (long long)q, i);
            if (!mlcl__value_ok(vals[q]))
                return mlcl__err(MLCL_ENUMERIC, "%s: vals[%lld] = %g exceeds the magnitude limit %g (MLCL_DATA_MAX_ABS)",
                                 fn, (long long)q, (double)vals[q], MLCL_DATA_MAX_ABS);
        }
    for (size_t k = 0; k < (size_t)n * (size_t)c; k++)
        if (y[k] > 1) return mlcl__err(MLCL_EINVAL, "%s: y[%zu] = %u is not 0 or 1", fn, k, (unsigned)y[k]);
    int64_t *p = NULL;
    int *cc = NULL;
    float *v = NULL;
    uint8_t *yy = NULL;
    int rc;
    size_t m = nnz ? (size_t)nnz : 1;
    if ((rc = mlcl__alloc_array((void **)&p, (size_t)n + 1, sizeof *p, fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&cc, m, sizeof *cc, fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&v, m, sizeof *v, fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&yy, (size_t)n * (size_t)c, 1, fn)) < 0) {
        mlcl__free(p); mlcl__free(cc); mlcl__free(v); mlcl__free(yy);
        return rc;
    }
    memcpy(p, row_ptr, ((size_t)n + 1) * sizeof *p);
    if (nnz) {
        memcpy(cc, cols, (size_t)nnz * sizeof *cc);
        memcpy(v, vals, (size_t)nnz * sizeof *v);
    }
    memcpy(yy, y, (size_t)n * (size_t)c);
    return mlcl__dataset_adopt_csr(out, n, d, c, p, cc, v, yy, fn);
}

int mlcl_dataset_is_sparse(const mlcl_dataset *ds, int *sparse)
{
    MLCL_CHECK_NULL("mlcl_dataset_is_sparse", ds);
    MLCL_CHECK_NULL("mlcl_dataset_is_sparse", sparse);
    *sparse = ds->sp_ptr != NULL;
    return MLCL_OK;
}

int mlcl_dataset_csr(const mlcl_dataset *ds, const int64_t **row_ptr, const int **cols, const float **vals,
                     int64_t *nnz)
{
    static const char fn[] = "mlcl_dataset_csr";
    MLCL_CHECK_NULL(fn, ds);
    if (!ds->sp_ptr)
        return mlcl__err(MLCL_EINVAL, "%s: the dataset is dense (use mlcl_dataset_features)", fn);
    if (row_ptr) *row_ptr = ds->sp_ptr;
    if (cols) *cols = ds->sp_col;
    if (vals) *vals = ds->sp_val;
    if (nnz) *nnz = ds->sp_ptr[ds->n];
    return MLCL_OK;
}

void mlcl__csr_mask_rows(mlcl__pcg *r, int k, int d, const int64_t *ptr, const int *col, const float *val,
                         float p, float *out_val)
{
    int64_t nnz = ptr[k] - ptr[0];
    if (p <= 0) {
        memcpy(out_val, val + ptr[0], (size_t)nnz * sizeof *out_val);
        return;
    }
    uint32_t thr = mlcl__pcg_threshold(p);
    float *o = out_val - ptr[0];
    for (int i = 0; i < k; i++) {
        int at = 0; /* the column whose draw comes next in this row */
        for (int64_t q = ptr[i]; q < ptr[i + 1]; q++) {
            if (col[q] > at) mlcl__pcg_advance(r, (uint64_t)(col[q] - at));
            uint64_t old = r->state;
            r->state = old * PCGFILL_MULT + r->inc;
            o[q] = (mlcl__pcg_out(old) >> 8) < thr ? 0.0f : val[q];
            at = col[q] + 1;
        }
        if (d > at) mlcl__pcg_advance(r, (uint64_t)(d - at));
    }
}

int mlcl__dataset_need_dense(const mlcl_dataset *ds, const char *fn, const char *what)
{
    if (ds && ds->sp_ptr)
        return mlcl__err(MLCL_EINVAL, "%s: %s is sparse (CSR, %d x %d); this function takes dense rows "
                         "(mlcl_dataset_gather densifies rows; mlcl_encoder_forward_csr runs a network on CSR rows)",
                         fn, what, ds->n, ds->d);
    return MLCL_OK;
}
