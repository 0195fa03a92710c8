/* Multi-label LIBSVM / Extreme Classification repository reader. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "data/data_internal.h"

#define LIBSVM_MAX_DIM (1L << 30)

typedef struct {
    /* CSR of features and of labels, as read (indices not yet rebased) */
    size_t *fptr, cap_fptr;
    int *fidx; float *fval; size_t cap_fidx, cap_fval, nnz;
    size_t *lptr, cap_lptr;
    int *lab; size_t cap_lab, nlab;
    long *line; size_t cap_line;
    size_t n;
} csr;

static void csr_free(csr *m)
{
    mlcl__free(m->fptr); mlcl__free(m->fidx); mlcl__free(m->fval);
    mlcl__free(m->lptr); mlcl__free(m->lab); mlcl__free(m->line);
}

/* A header is exactly three non-negative integers. */
static int is_header(char *line, long v[3])
{
    char *p = line;
    for (int k = 0; k < 3; k++) {
        p = mlcl__skip_ws(p);
        if (*p < '0' || *p > '9') return 0;
        char *e;
        v[k] = strtol(p, &e, 10);
        if (*e && *e != ' ' && *e != '\t') return 0;
        p = e;
    }
    return mlcl__is_blank(p);
}

/* What the rows are checked against as they are read. */
typedef struct {
    int base;        /* 0 or 1 */
    long d_limit;    /* a feature index - base must be < d_limit */
    long c_limit;    /* a label must be < c_limit */
    int d_fixed;     /* d_limit is a width (from the caller or the header), not the MLCL_DATA_MAX_COLS cap */
    int c_fixed;
} limits;

static int parse_row(mlcl__lines *in, csr *m, char *p, const limits *lim)
{
    const char *fn = in->fn;
    char *const line0 = p;
    /* labels: the first token when the line does not start with blank space
     * and that token holds no ':' */
    if (*p != ' ' && *p != '\t') {
        char *e = p;
        while (*e && *e != ' ' && *e != '\t') e++;
        char save = *e;
        *e = '\0';
        if (!strchr(p, ':')) {
            char *q = p;
            while (*q) {
                char *c = strchr(q, ',');
                if (c) *c = '\0';
                long v = 0;
                int rc = mlcl__parse_long(q, 0, LIBSVM_MAX_DIM - 1, &v);
                if (rc == -1 || (rc == -2 && q[0] == '-'))
                    return mlcl__lines_err(in, "label '%s' is not a non-negative integer", q);
                if (rc == -2 || v >= lim->c_limit) {
                    if (lim->c_fixed) return mlcl__lines_err(in, "label %s is beyond %ld labels", q, lim->c_limit);
                    return mlcl__lines_col_err(in, (long)(q - line0) + 1,
                                               "label %s is beyond the limit of %d labels (MLCL_DATA_MAX_COLS); pass n_labels to allow more",
                                               q, MLCL_DATA_MAX_COLS);
                }
                MLCL_TRY(mlcl__grow((void **)&m->lab, &m->cap_lab, m->nlab + 1, sizeof *m->lab, fn));
                m->lab[m->nlab++] = (int)v;
                if (!c) break;
                q = c + 1;
            }
            *e = save;
            p = e;
        } else {
            *e = save;
        }
    }
    for (;;) {
        p = mlcl__skip_ws(p);
        if (!*p) break;
        char *t = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (*p) *p++ = '\0';
        char *colon = strchr(t, ':');
        if (!colon) return mlcl__lines_err(in, "feature '%s' is not index:value", t);
        *colon = '\0';
        long idx = 0;
        int rc = mlcl__parse_long(t, 0, LIBSVM_MAX_DIM, &idx);
        if (rc == -1 || (rc == -2 && t[0] == '-'))
            return mlcl__lines_err(in, "feature index '%s' is not a non-negative integer", t);
        if (rc == 0 && idx - lim->base < 0)
            return mlcl__lines_err(in, "feature index 0 in a one-based file (pass index_base 0 for a zero-based file)");
        if (rc == -2 || idx - lim->base >= lim->d_limit) {
            if (lim->d_fixed)
                return mlcl__lines_err(in, "feature index %s is beyond %ld features (%s-based)", t, lim->d_limit,
                                       lim->base ? "one" : "zero");
            return mlcl__lines_col_err(in, (long)(t - line0) + 1,
                                       "feature index %s is beyond the limit of %d features (MLCL_DATA_MAX_COLS); pass n_features to allow more",
                                       t, MLCL_DATA_MAX_COLS);
        }
        float v;
        rc = mlcl__parse_float(in, colon + 1, &v);
        if (rc == -1) return mlcl__lines_err(in, "feature value '%s' is not a number", colon + 1);
        if (rc == -2)
            return mlcl__lines_col_err(in, (long)(colon + 1 - line0) + 1, "feature value '%s' is not a finite float", colon + 1);
        if (rc == -3)
            return mlcl__lines_col_err(in, (long)(colon + 1 - line0) + 1,
                                       "feature value '%s' exceeds the magnitude limit %g (MLCL_DATA_MAX_ABS)", colon + 1,
                                       MLCL_DATA_MAX_ABS);
        MLCL_TRY(mlcl__grow((void **)&m->fidx, &m->cap_fidx, m->nnz + 1, sizeof *m->fidx, fn));
        MLCL_TRY(mlcl__grow((void **)&m->fval, &m->cap_fval, m->nnz + 1, sizeof *m->fval, fn));
        m->fidx[m->nnz] = (int)idx;
        m->fval[m->nnz] = v;
        m->nnz++;
    }
    return MLCL_OK;
}

typedef struct { int c; float v; } entry;
static int entry_cmp(const void *a, const void *b)
{
    int x = ((const entry *)a)->c, y = ((const entry *)b)->c;
    return (x > y) - (x < y);
}

/* The rows as read become a CSR dataset: indices rebased and sorted within
 * each row, a repeated index an error naming its line; fidx/fval are adopted
 * (no copy of the non-zeros). */
static int build_csr(mlcl__lines *in, csr *m, mlcl_dataset **out, long d, long c, int base)
{
    const char *fn = in->fn;
    int64_t *ptr = NULL;
    uint8_t *y = NULL;
    entry *tmp = NULL;
    size_t cap_tmp = 0;
    int rc;
    if ((rc = mlcl__alloc_array((void **)&ptr, m->n + 1, sizeof *ptr, fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&y, m->n * (size_t)c, 1, fn)) < 0)
        goto fail;
    for (size_t i = 0; i <= m->n; i++) ptr[i] = (int64_t)m->fptr[i];
    for (size_t i = 0; i < m->n; i++) {
        size_t a = m->fptr[i], b = m->fptr[i + 1];
        int sorted = 1;
        for (size_t k = a; k < b; k++) {
            m->fidx[k] -= base;
            if (k > a && m->fidx[k] <= m->fidx[k - 1]) sorted = 0;
        }
        if (!sorted) {
            if ((rc = mlcl__grow((void **)&tmp, &cap_tmp, b - a, sizeof *tmp, fn)) < 0) goto fail;
            for (size_t k = a; k < b; k++) { tmp[k - a].c = m->fidx[k]; tmp[k - a].v = m->fval[k]; }
            qsort(tmp, b - a, sizeof *tmp, entry_cmp);
            for (size_t k = a; k < b; k++) { m->fidx[k] = tmp[k - a].c; m->fval[k] = tmp[k - a].v; }
            for (size_t k = a + 1; k < b; k++)
                if (m->fidx[k] == m->fidx[k - 1]) {
                    in->line = m->line[i];
                    rc = mlcl__lines_err(in, "feature index %ld appears twice", (long)m->fidx[k] + base);
                    goto fail;
                }
        }
        for (size_t k = m->lptr[i]; k < m->lptr[i + 1]; k++) y[i * (size_t)c + (size_t)m->lab[k]] = 1;
    }
    mlcl__free(tmp);
    if (m->nnz == 0) { /* keep a valid (1-element) allocation */
        if ((rc = mlcl__grow((void **)&m->fidx, &m->cap_fidx, 1, sizeof *m->fidx, fn)) < 0 ||
            (rc = mlcl__grow((void **)&m->fval, &m->cap_fval, 1, sizeof *m->fval, fn)) < 0) {
            mlcl__free(ptr); mlcl__free(y);
            return rc;
        }
    }
    int *col = m->fidx;
    float *val = m->fval;
    m->fidx = NULL; m->fval = NULL;
    return mlcl__dataset_adopt_csr(out, (int)m->n, (int)d, (int)c, ptr, col, val, y, fn);
fail:
    mlcl__free(tmp); mlcl__free(ptr); mlcl__free(y);
    return rc;
}

static int load(mlcl__lines *in, mlcl_dataset **out, int n_features, int n_labels, int base, int sparse)
{
    const char *fn = in->fn;
    csr m;
    memset(&m, 0, sizeof m);
    int *stamp = NULL; /* stamp[j] = row + 1 once feature j is set in that row */
    long hdr[3] = {0, 0, 0};
    int have_hdr = 0, rc;
    long hdr_line = 0;
    char *line;
    limits lim = {0};
    if ((rc = mlcl__grow((void **)&m.fptr, &m.cap_fptr, 1, sizeof *m.fptr, fn)) < 0 ||
        (rc = mlcl__grow((void **)&m.lptr, &m.cap_lptr, 1, sizeof *m.lptr, fn)) < 0)
        goto done;
    m.fptr[0] = m.lptr[0] = 0;
    for (;;) {
        rc = mlcl__lines_next(in, &line);
        if (rc < 0) goto done;
        if (rc == 0) break;
        if (mlcl__is_blank(line)) continue;
        if (m.n == 0 && !have_hdr && is_header(line, hdr)) {
            have_hdr = 1;
            hdr_line = in->line;
            if (hdr[1] <= 0 || hdr[1] > LIBSVM_MAX_DIM || hdr[2] <= 0 || hdr[2] > LIBSVM_MAX_DIM ||
                hdr[0] > INT_MAX - 1) {
                rc = mlcl__lines_err(in, "header '%ld %ld %ld' has sizes out of range", hdr[0], hdr[1], hdr[2]);
                goto done;
            }
            /* the header is a claim of the file: checked against the limits and the file's size */
            if ((n_features == 0 && hdr[1] > MLCL_DATA_MAX_COLS) || (n_labels == 0 && hdr[2] > MLCL_DATA_MAX_COLS)) {
                rc = mlcl__lines_err(in, "header '%ld %ld %ld' declares more than %d %s (MLCL_DATA_MAX_COLS); pass %s to allow more",
                                     hdr[0], hdr[1], hdr[2], MLCL_DATA_MAX_COLS,
                                     hdr[1] > MLCL_DATA_MAX_COLS ? "features" : "labels",
                                     hdr[1] > MLCL_DATA_MAX_COLS ? "n_features" : "n_labels");
                goto done;
            }
            if (!in->src.gz && in->src.file_size && (uint64_t)hdr[0] > in->src.file_size / 2) {
                rc = mlcl__lines_err(in, "the header announces %ld rows but a file of %llu bytes holds at most %llu",
                                     hdr[0], (unsigned long long)in->src.file_size,
                                     (unsigned long long)(in->src.file_size / 2));
                goto done;
            }
            double hd = n_features > 0 ? n_features : (double)hdr[1], hc = n_labels > 0 ? n_labels : (double)hdr[2];
            char what[128];
            snprintf(what, sizeof what, "the header's %ld rows x %.0f %sfeatures and %.0f labels", hdr[0], hd,
                     sparse ? "sparse " : "", hc);
            /* sparse: the rows' offsets and labels; the non-zeros are counted as they come */
            double per_row = sparse ? sizeof(int64_t) + hc : hd * sizeof(float) + hc;
            if (in->src.file_size && /* (from a pipe: checked when the rows have arrived) */
                (rc = mlcl__lines_budget(in, (double)hdr[0] * per_row, what)) < 0)
                goto done;
            continue;
        }
        if (m.n == 0) {
            /* the index base and the limits are fixed before the first row */
            lim.base = base == MLCL_LIBSVM_INDEX_AUTO ? (have_hdr ? 0 : 1) : base;
            lim.d_fixed = n_features > 0 || have_hdr;
            lim.d_limit = n_features > 0 ? n_features : have_hdr ? hdr[1] : MLCL_DATA_MAX_COLS;
            lim.c_fixed = n_labels > 0 || have_hdr;
            lim.c_limit = n_labels > 0 ? n_labels : have_hdr ? hdr[2] : MLCL_DATA_MAX_COLS;
        }
        if (m.n >= (size_t)INT_MAX - 1) { rc = mlcl__lines_err(in, "more than %d rows", INT_MAX - 1); goto done; }
        if ((rc = parse_row(in, &m, line, &lim)) < 0) goto done;
        if ((rc = mlcl__grow((void **)&m.fptr, &m.cap_fptr, m.n + 2, sizeof *m.fptr, fn)) < 0 ||
            (rc = mlcl__grow((void **)&m.lptr, &m.cap_lptr, m.n + 2, sizeof *m.lptr, fn)) < 0 ||
            (rc = mlcl__grow((void **)&m.line, &m.cap_line, m.n + 1, sizeof *m.line, fn)) < 0)
            goto done;
        m.line[m.n] = in->line;
        m.n++;
        m.fptr[m.n] = m.nnz;
        m.lptr[m.n] = m.nlab;
        /* the rows as read (CSR) count against the budget too */
        double staged = (double)m.nnz * (sizeof *m.fidx + sizeof *m.fval) + (double)m.nlab * sizeof *m.lab +
                        (double)m.n * (sizeof *m.fptr + sizeof *m.lptr + sizeof *m.line);
        if ((m.n & 1023) == 0 && (rc = mlcl__lines_budget(in, 2 * staged, "the rows read so far")) < 0) goto done;
    }
    in->line++; /* messages about the whole file point past its end */
    if (m.n == 0) {
        rc = mlcl__lines_err(in, have_hdr ? "no data rows after the header" : "empty file");
        goto done;
    }
    if (have_hdr && (size_t)hdr[0] != m.n) {
        in->line = hdr_line;
        rc = mlcl__lines_err(in, "the header announces %ld rows but the file has %zu", hdr[0], m.n);
        goto done;
    }
    /* sizes */
    int max_idx = -1, max_lab = -1;
    for (size_t k = 0; k < m.nnz; k++)
        if (m.fidx[k] > max_idx) max_idx = m.fidx[k];
    for (size_t k = 0; k < m.nlab; k++)
        if (m.lab[k] > max_lab) max_lab = m.lab[k];
    long d = n_features > 0 ? n_features : have_hdr ? hdr[1] : (long)max_idx + 1 - lim.base;
    long c = n_labels > 0 ? n_labels : have_hdr ? hdr[2] : (long)max_lab + 1;
    if (d <= 0) { rc = mlcl__lines_err(in, "no feature in the file; pass n_features"); goto done; }
    if (c <= 0) { rc = mlcl__lines_err(in, "no label in the file; pass n_labels"); goto done; }
    if (sparse) {
        char what[160];
        snprintf(what, sizeof what, "%zu rows x %ld features (%zu non-zeros, CSR) and %ld labels", m.n, d, m.nnz, c);
        /* the CSR arrays as read (adopted) plus the offsets and the dense labels */
        double bytes = (double)m.nnz * (sizeof *m.fidx + sizeof *m.fval) + (double)(m.n + 1) * sizeof(int64_t) +
                       (double)m.n * (double)c;
        if ((rc = mlcl__lines_budget(in, bytes, what)) < 0) goto done;
        rc = build_csr(in, &m, out, d, c, lim.base);
        goto done;
    }
    {
        char what[128];
        snprintf(what, sizeof what, "%zu rows x %ld features and %ld labels (dense)", m.n, d, c);
        if ((rc = mlcl__lines_budget(in, (double)m.n * ((double)d * sizeof(float) + (double)c), what)) < 0) goto done;
    }
    mlcl_dataset *ds;
    if ((rc = mlcl__alloc_array((void **)&stamp, (size_t)d, sizeof *stamp, fn)) < 0) goto done;
    if ((rc = mlcl__dataset_alloc(&ds, (int)m.n, (int)d, (int)c, fn)) < 0) goto done;
    for (size_t i = 0; i < m.n; i++) {
        float *xr = ds->x + i * (size_t)d;
        uint8_t *yr = ds->y + i * (size_t)c;
        for (size_t k = m.fptr[i]; k < m.fptr[i + 1]; k++) {
            long j = (long)m.fidx[k] - lim.base;
            in->line = m.line[i];
            if (stamp[j] == (int)i + 1) {
                rc = mlcl__lines_err(in, "feature index %d appears twice", m.fidx[k]);
                break;
            }
            stamp[j] = (int)i + 1;
            xr[j] = m.fval[k];
        }
        for (size_t k = m.lptr[i]; k < m.lptr[i + 1] && rc == MLCL_OK; k++) yr[m.lab[k]] = 1;
        if (rc < 0) { mlcl_dataset_free(ds); goto done; }
    }
    mlcl__dataset_pack(ds);
    *out = ds;
    rc = MLCL_OK;
done:
    mlcl__free(stamp);
    csr_free(&m);
    return rc;
}

static int load_path(mlcl_dataset **out, const char *path, int n_features, int n_labels, int index_base,
                     int sparse, const char *fn)
{
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, path);
    if (n_features < 0) return mlcl__err(MLCL_EINVAL, "%s: n_features must be >= 0 (got %d)", fn, n_features);
    if (n_labels < 0) return mlcl__err(MLCL_EINVAL, "%s: n_labels must be >= 0 (got %d)", fn, n_labels);
    if (index_base != 0 && index_base != 1 && index_base != MLCL_LIBSVM_INDEX_AUTO)
        return mlcl__err(MLCL_EINVAL, "%s: index_base must be 0, 1 or MLCL_LIBSVM_INDEX_AUTO (got %d)", fn,
                         index_base);
    mlcl__lines in;
    MLCL_TRY(mlcl__lines_open(&in, path, fn));
    int rc = load(&in, out, n_features, n_labels, index_base, sparse);
    mlcl__lines_close(&in);
    return rc;
}

int mlcl_dataset_load_libsvm(mlcl_dataset **out, const char *path, int n_features, int n_labels,
                             mlcl_libsvm_index_base index_base)
{
    return load_path(out, path, n_features, n_labels, (int)index_base, 0, "mlcl_dataset_load_libsvm");
}

int mlcl_dataset_load_libsvm_sparse(mlcl_dataset **out, const char *path, int n_features, int n_labels,
                                    mlcl_libsvm_index_base index_base)
{
    return load_path(out, path, n_features, n_labels, (int)index_base, 1, "mlcl_dataset_load_libsvm_sparse");
}
