/* Encoder forward and backward over row-major batches (encoder_impl.h). */
#include <string.h>
#include "encoder_impl.h"
#include "kernels/vec.h"
#include "kernels/par.h"
#include "kernels/gemm.h"
#include "kernels/spmm.h"

/* The per-element loops below (ReLU, dropout, BatchNorm, bias sums, momentum
 * update) are written to vectorise; -O2 (GCC 12) leaves them scalar. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")
#endif

/* ------------------------------------------------------------------ forward */

/* element loops on restrict locals so they vectorise (struct members alias) */
MLCL_VEC_CLONES static void relu_fwd(size_t cnt, const float *restrict x, float *restrict y)
{
    for (size_t k = 0; k < cnt; k++) y[k] = x[k] > 0.0f ? x[k] : 0.0f;
}
MLCL_VEC_CLONES static void relu_bwd(size_t cnt, const float *restrict y, const float *restrict g, float *restrict gx)
{
    for (size_t k = 0; k < cnt; k++) {
        float gk = g[k]; /* loaded unconditionally: a select, not a branch */
        gx[k] = y[k] > 0.0f ? gk : 0.0f;
    }
}
MLCL_VEC_CLONES static void mul_vec(size_t cnt, const float *restrict a, const float *restrict b, float *restrict out)
{
    for (size_t k = 0; k < cnt; k++) out[k] = a[k] * b[k];
}

/* dropout of m elements: kept iff (u >> 8) >= thr (encoder.h) */
MLCL_VEC_CLONES static void dropout_apply(size_t m, const uint32_t *restrict u, uint32_t thr, float scale,
                                          const float *restrict x, float *restrict mk, float *restrict y)
{
    for (size_t j = 0; j < m; j++) {
        mk[j] = (u[j] >> 8) >= thr ? scale : 0.0f;
        y[j] = x[j] * mk[j];
    }
}

/* ReLU then dropout in one pass (training, p > 0): y = relu(x) * mask with
 * the mask of dropout_apply, the same value, without writing the ReLU's
 * output or the mask (the backward gets both back from x and y) */
MLCL_VEC_CLONES static void relu_dropout_apply(size_t m, const uint32_t *restrict u, uint32_t thr, float scale,
                                               const float *restrict x, float *restrict y)
{
    for (size_t j = 0; j < m; j++) {
        float r = x[j] > 0.0f ? x[j] : 0.0f;
        float mk = (u[j] >> 8) >= thr ? scale : 0.0f;
        y[j] = r * mk;
    }
}
/* its backward: dropout's g * mask, then ReLU's select, in one pass. The
 * mask is scale where the element was kept: for x > 0 (the only elements
 * the ReLU lets through) that is exactly where y = relu(x) * scale != 0 */
MLCL_VEC_CLONES static void relu_dropout_bwd(size_t cnt, const float *restrict x, const float *restrict y,
                                             float scale, const float *restrict g, float *restrict gx)
{
    for (size_t k = 0; k < cnt; k++) {
        float mk = y[k] != 0.0f ? scale : 0.0f;
        float gk = g[k] * mk;
        gx[k] = x[k] > 0.0f ? gk : 0.0f;
    }
}

/* ReLU layer li leaves its work to the Dropout layer after it (training,
 * p > 0; li >= 1, so that its input is a layer's output the backward can read) */
static int relu_fuses(const mlcl_encoder *e, int li)
{
    return li >= 1 && li + 1 < e->nl && e->L[li + 1].type == L_DROPOUT && e->training && e->L[li + 1].p > 0.0f;
}

/* (the column loops vectorise across columns: each column's sums keep their
 * order, so the AVX2 copy gives the same bits) */
MLCL_VEC_CLONES static int bn_forward(mlcl_encoder *e, nn_layer *l, int n, const float *x)
{
    static const char fn[] = "mlcl_encoder_forward";
    int w = l->out;
    const float *gamma = e->params + l->poff, *beta = gamma + w;
    float *rm = e->state + l->soff, *rv = rm + w;
    float *xhat = l->aux, *y = l->y, *invstd = l->invstd;
    double *mean = e->acc, *var = e->acc + w;
    if (e->training) {
        double nt = n; /* rows over all ranks */
        for (int j = 0; j < w; j++) mean[j] = var[j] = 0.0;
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * w;
            for (int j = 0; j < w; j++) mean[j] += xi[j];
        }
        if (e->has_comm) {
            /* synchronised: the column sums and the row count in one call, then
             * the squared deviations from the global mean */
            mean[w] = n; /* mean[w] is var[0]: sent together */
            MLCL_TRY(mlcl__comm_sum_f64(&e->comm, mean, (size_t)w + 1, fn, "BatchNorm1d sums"));
            nt = mean[w];
        }
        for (int j = 0; j < w; j++) mean[j] /= nt;
        for (int j = 0; j < w; j++) var[j] = 0.0;
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * w;
            for (int j = 0; j < w; j++) { double d = xi[j] - mean[j]; var[j] += d * d; }
        }
        if (e->has_comm) MLCL_TRY(mlcl__comm_sum_f64(&e->comm, var, (size_t)w, fn, "BatchNorm1d squared deviations"));
        if (nt < 2) return mlcl__err(MLCL_EINVAL, "%s: BatchNorm1d needs at least 2 rows over all ranks", fn);
        /* biased variance normalises; the unbiased one feeds running_var */
        float m = l->momentum;
        for (int j = 0; j < w; j++) {
            double vb = var[j] / nt;
            invstd[j] = (float)(1.0 / sqrt(vb + (double)l->eps));
            rm[j] = (1.0f - m) * rm[j] + m * (float)mean[j];
            rv[j] = (1.0f - m) * rv[j] + m * (float)(var[j] / (nt - 1));
        }
    } else {
        for (int j = 0; j < w; j++) {
            mean[j] = rm[j];
            invstd[j] = (float)(1.0 / sqrt((double)rv[j] + (double)l->eps));
        }
    }
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * w;
        float *hi = xhat + (size_t)i * w, *yi = y + (size_t)i * w;
        for (int j = 0; j < w; j++) {
            hi[j] = (float)(xi[j] - mean[j]) * invstd[j];
            yi[j] = gamma[j] * hi[j] + beta[j];
        }
    }
    return MLCL_OK;
}

static int has_dropout(const mlcl_encoder *e)
{
    for (int i = 0; i < e->nl; i++)
        if (e->L[i].type == L_DROPOUT && e->L[i].p > 0.0f) return 1;
    return 0;
}

void mlcl__encoder_set_rows(mlcl_encoder *e, long long off, long long total)
{
    e->row_off = off;
    e->row_total = total;
}

int mlcl_encoder_set_comm(mlcl_encoder *e, const mlcl_comm *comm)
{
    static const char fn[] = "mlcl_encoder_set_comm";
    MLCL_CHECK_NULL_AS(fn, e, "encoder");
    if (!comm) {
        e->has_comm = 0;
        e->row_off = e->row_total = 0;
        return MLCL_OK;
    }
    MLCL_TRY(mlcl__comm_check(comm, fn));
    e->comm = *comm;
    e->has_comm = 1;
    return MLCL_OK;
}

static int forward_from(mlcl_encoder *e, int n, int first, const float *cur, float *out);

/* A Linear layer on rows rows of cur into y: y = x W^T (+ b); W stays out x
 * in, the GEMM reads it transposed, over the bias copied into every row */
static void linear_rows(const mlcl_encoder *e, const nn_layer *l, int rows, const float *cur, float *y)
{
    const float *W = e->params + l->poff;
    if (l->bias) {
        const float *b = W + (size_t)l->out * l->in;
        for (int i = 0; i < rows; i++) memcpy(y + (size_t)i * l->out, b, (size_t)l->out * sizeof(float));
    }
    mlcl__sgemm(0, 1, rows, l->out, l->in, 1.0f, cur, l->in, W, l->in, l->bias ? 1.0f : 0.0f, y, l->out);
}

/* Dropout (training, p > 0) of cnt elements of cur into y with the next cnt
 * draws of r: one uniform per element, kept iff u >= p (encoder.h), drawn in
 * bulk and compared on integers; with the ReLU before it fused (no mask
 * written), else the mask into mask */
static void dropout_rows(const nn_layer *l, mlcl__pcg *r, size_t cnt, int fuse, const float *cur, float *mask,
                         float *y)
{
    float scale = 1.0f / (1.0f - l->p);
    uint32_t thr = mlcl__pcg_threshold(l->p), u[PCGFILL_CHUNK];
    for (size_t k0 = 0; k0 < cnt; k0 += PCGFILL_CHUNK) {
        size_t m = cnt - k0 < PCGFILL_CHUNK ? cnt - k0 : PCGFILL_CHUNK;
        mlcl__pcg_fill(r, u, m);
        if (fuse) relu_dropout_apply(m, u, thr, scale, cur + k0, y + k0);
        else dropout_apply(m, u, thr, scale, cur + k0, mask + k0, y + k0);
    }
}

/* ---- the forward by rows on two threads (mlcl__encoder_set_split) */
void mlcl__encoder_set_split(mlcl_encoder *e, int on) { e->split = on; }

/* below this many multiply-adds per forward one thread does it */
#define SPLIT_MIN_MACS 1000000.0

static int split_ok(const mlcl_encoder *e, int n)
{
    /* dnnl_sgemm takes another path for fewer than 16 rows, whose rows round
     * differently: both halves get at least 16 */
    if (!e->split || n < 32 || mlcl__threads_current() < 2 || mlcl__gemm_engine() != MLCL__GEMM_ONEDNN) return 0;
    double macs = 0;
    for (int i = 0; i < e->nl; i++) {
        int ty = e->L[i].type;
        if (ty == L_BN || ty == L_CONVNET) return 0;
        if (ty == L_LINEAR) macs += (double)n * e->L[i].in * e->L[i].out;
    }
    return macs >= SPLIT_MIN_MACS;
}

typedef struct fwd_half {
    mlcl_encoder *e;
    int n, r0, r1;   /* rows r0 .. r1-1 of n */
    const float *x;  /* the n input rows */
    float *out;
} fwd_half;

/* Every layer on rows r0 .. r1-1, as forward_from does on all rows: the
 * row-wise layers give those rows the same values; a Dropout layer draws
 * them from where they sit in its stream (the layers' draws follow each
 * other, each layer's in row order, as one forward_from draws them). */
static void forward_rows(void *arg)
{
    fwd_half *h = arg;
    mlcl_encoder *e = h->e;
    const int r0 = h->r0, rows = h->r1 - h->r0;
    if (rows <= 0) return;
    mlcl__pcg rng = e->drop_rng;
    const uint64_t total = (uint64_t)(e->row_total > 0 ? e->row_total : h->n);
    const uint64_t off = (uint64_t)(e->row_total > 0 ? e->row_off : 0);
    const float *cur = h->x + (size_t)r0 * (size_t)e->in_dim;
    for (int li = 0; li < e->nl; li++) {
        nn_layer *l = &e->L[li];
        size_t cnt = (size_t)rows * (size_t)l->out;
        float *y = l->y + (size_t)r0 * (size_t)l->out;
        switch (l->type) {
        case L_LINEAR:
            linear_rows(e, l, rows, cur, y);
            break;
        case L_RELU:
            if (relu_fuses(e, li)) continue; /* cur stays the ReLU's input */
            relu_fwd(cnt, cur, y);
            break;
        case L_DROPOUT:
            if (e->training && l->p > 0.0f) {
                mlcl__pcg r = rng;
                mlcl__pcg_advance(&r, (off + (uint64_t)r0) * (uint64_t)l->out);
                dropout_rows(l, &r, cnt, relu_fuses(e, li - 1), cur, l->aux + (size_t)r0 * (size_t)l->out, y);
                mlcl__pcg_advance(&rng, total * (uint64_t)l->out);
            } else {
                memcpy(y, cur, cnt * sizeof(float));
            }
            break;
        case L_L2NORM:
            mlcl__l2norm_rows(rows, l->out, cur, y, l->aux + r0);
            break;
        case L_SOFTMAX:
            mlcl__softmax_rows(rows, l->out, cur, y);
            break;
        default: /* not split (split_ok) */
            break;
        }
        cur = y;
    }
    memcpy(h->out + (size_t)r0 * (size_t)e->out_dim, cur, (size_t)rows * (size_t)e->out_dim * sizeof(float));
}

static int forward_split(mlcl_encoder *e, int n, const float *x, float *out)
{
    int h = n / 2;
    fwd_half a = { e, n, h, n, x, out }, b = { e, n, 0, h, x, out };
    mlcl__par2(forward_rows, &a, forward_rows, &b);
    /* the modes and the dropout stream as one forward_from leaves them */
    const uint64_t total = (uint64_t)(e->row_total > 0 ? e->row_total : n);
    for (int li = 0; li < e->nl; li++) {
        nn_layer *l = &e->L[li];
        l->fwd_train = e->training;
        l->fused = l->type == L_RELU && relu_fuses(e, li);
        if (l->type != L_DROPOUT) continue;
        if (e->training && l->p > 0.0f) mlcl__pcg_advance(&e->drop_rng, total * (uint64_t)l->out);
        else l->fwd_train = 0;
    }
    e->last_n = n;
    return MLCL_OK;
}

static int encoder_forward(mlcl_encoder *e, int n, const float *x, float *out);
int mlcl_encoder_forward(mlcl_encoder *e, int n, const float *x, float *out)
{
    int tok = mlcl__threads_enter(e ? e->threads : 0); /* the encoder's thread scope */
    int rc = encoder_forward(e, n, x, out);
    mlcl__threads_leave(tok);
    return rc;
}

static int encoder_forward(mlcl_encoder *e, int n, const float *x, float *out)
{
    static const char fn[] = "mlcl_encoder_forward";
    MLCL_CHECK_NULL(fn, e);
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_NULL(fn, x);
    MLCL_CHECK_NULL(fn, out);
    e->last_n = 0;
    if (e->row_total > 0 && e->training && has_dropout(e) && (e->row_off < 0 || e->row_off + n > e->row_total))
        return mlcl__err(MLCL_ESTATE, "%s: n = %d rows from row %lld do not fit in the %lld rows of the global batch",
                         fn, n, e->row_off, e->row_total);
    size_t tot;
    if (mlcl__mul_size((size_t)n, (size_t)e->max_w, &tot))
        return mlcl__err(MLCL_EOVERFLOW, "%s: n = %d rows overflow", fn, n);
    if (e->training && n == 1 && !e->has_comm)
        for (int i = 0; i < e->nl; i++)
            if (e->L[i].type == L_BN)
                return mlcl__err(MLCL_EINVAL, "%s: BatchNorm1d (layer %d) needs n > 1 in training mode (got n = 1)", fn, i);
    size_t nin = (size_t)n * (size_t)e->in_dim;
    if (!mlcl__vec_all_finite(x, nin))
    for (size_t k = 0; k < nin; k++)
        if (!isfinite(x[k]))
            return mlcl__err(MLCL_ENUMERIC, "%s: x[%zu] (row %zu, column %zu) is not finite", fn, k,
                             k / (size_t)e->in_dim, k % (size_t)e->in_dim);
    MLCL_TRY(mlcl__enc_ensure_rows(e, n));
    if (e->cap_xin < n) {
        mlcl__free(e->xin);
        e->xin = NULL;
        e->cap_xin = 0;
        MLCL_TRY(mlcl__enc_alloc_f(&e->xin, (size_t)e->cap_n, (size_t)e->in_dim, "encoder input cache"));
        e->cap_xin = e->cap_n;
    }
    memcpy(e->xin, x, nin * sizeof(float));
    e->last_sparse = 0;
    if (split_ok(e, n)) return forward_split(e, n, e->xin, out);
    return forward_from(e, n, 0, e->xin, out);
}

/* Layers first .. nl-1 on cur (the output of layer first-1 or the input). */
static int forward_from(mlcl_encoder *e, int n, int first, const float *cur, float *out)
{
    static const char fn[] = "mlcl_encoder_forward";
    for (int li = first; li < e->nl; li++) {
        nn_layer *l = &e->L[li];
        size_t cnt = (size_t)n * (size_t)l->out;
        float *y = l->y;
        l->fwd_train = e->training;
        switch (l->type) {
        case L_LINEAR:
            linear_rows(e, l, n, cur, y);
            break;
        case L_RELU:
            l->fused = relu_fuses(e, li);
            if (l->fused) continue; /* the Dropout does it; cur stays the ReLU's input */
            relu_fwd(cnt, cur, y);
            break;
        case L_DROPOUT:
            if (e->training && l->p > 0.0f) {
                const int fuse = li >= 1 && e->L[li - 1].type == L_RELU && e->L[li - 1].fused;
                /* data-parallel: this rank's rows are rows row_off.. of the global
                 * batch, whose masks are drawn in row order: skip the others */
                if (e->row_total > 0) mlcl__pcg_advance(&e->drop_rng, (uint64_t)e->row_off * (uint64_t)l->out);
                dropout_rows(l, &e->drop_rng, cnt, fuse, cur, l->aux, y);
                if (e->row_total > 0)
                    mlcl__pcg_advance(&e->drop_rng, (uint64_t)(e->row_total - e->row_off - n) * (uint64_t)l->out);
            } else {
                l->fwd_train = 0;
                memcpy(y, cur, cnt * sizeof(float));
            }
            break;
        case L_BN:
            MLCL_TRY(bn_forward(e, l, n, cur));
            break;
        case L_L2NORM:
            mlcl__l2norm_rows(n, l->out, cur, y, l->aux);
            break;
        case L_SOFTMAX:
            mlcl__softmax_rows(n, l->out, cur, y);
            break;
        case L_CONVNET:
            /* the count in force for this call (the encoder's, else the enclosing
             * handle's, else the default): the plans are rebuilt when it changed */
            mlcl__convnet_set_threads(l->cn, mlcl__threads_current());
            MLCL_TRY(mlcl__convnet_forward(l->cn, fn, n, e->training, e->params + l->poff, e->state + l->soff, cur, y));
            break;
        }
        cur = y;
    }
    memcpy(out, cur, (size_t)n * (size_t)e->out_dim * sizeof(float));
    e->last_n = n;
    return MLCL_OK;
}

static int encoder_forward_csr(mlcl_encoder *e, int n, const int64_t *row_ptr, const int *cols, const float *vals,
                             float *out);
int mlcl_encoder_forward_csr(mlcl_encoder *e, int n, const int64_t *row_ptr, const int *cols, const float *vals,
                             float *out)
{
    int tok = mlcl__threads_enter(e ? e->threads : 0); /* the encoder's thread scope */
    int rc = encoder_forward_csr(e, n, row_ptr, cols, vals, out);
    mlcl__threads_leave(tok);
    return rc;
}

static int encoder_forward_csr(mlcl_encoder *e, int n, const int64_t *row_ptr, const int *cols, const float *vals,
                             float *out)
{
    static const char fn[] = "mlcl_encoder_forward_csr";
    MLCL_CHECK_NULL(fn, e);
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_NULL(fn, row_ptr);
    MLCL_CHECK_NULL(fn, out);
    e->last_n = 0;
    if (e->nl == 0 || e->L[0].type != L_LINEAR)
        return mlcl__err(MLCL_EINVAL, "%s: a sparse input needs a Linear first layer (the encoder's first layer is %s)", fn,
                         e->nl ? mlcl__enc_layer_names[e->L[0].type] : "absent");
    if (e->row_total > 0 && e->training && has_dropout(e) && (e->row_off < 0 || e->row_off + n > e->row_total))
        return mlcl__err(MLCL_ESTATE, "%s: n = %d rows from row %lld do not fit in the %lld rows of the global batch",
                         fn, n, e->row_off, e->row_total);
    if (e->training && n == 1 && !e->has_comm)
        for (int i = 0; i < e->nl; i++)
            if (e->L[i].type == L_BN)
                return mlcl__err(MLCL_EINVAL, "%s: BatchNorm1d (layer %d) needs n > 1 in training mode (got n = 1)", fn, i);
    /* the CSR is checked (it indexes the weights) and copied (backward reads it) */
    int64_t base = row_ptr[0];
    if (base < 0) return mlcl__err(MLCL_EINVAL, "%s: row_ptr[0] = %lld is negative", fn, (long long)base);
    for (int i = 0; i < n; i++) {
        if (row_ptr[i + 1] < row_ptr[i])
            return mlcl__err(MLCL_EINVAL, "%s: row_ptr[%d] = %lld < row_ptr[%d] = %lld", fn, i + 1,
                             (long long)row_ptr[i + 1], i, (long long)row_ptr[i]);
        if (row_ptr[i + 1] - row_ptr[i] > e->in_dim)
            return mlcl__err(MLCL_EINVAL, "%s: row %d holds %lld entries, more than in_dim = %d", fn, i,
                             (long long)(row_ptr[i + 1] - row_ptr[i]), e->in_dim);
    }
    size_t nnz = (size_t)(row_ptr[n] - base);
    if (nnz) {
        MLCL_CHECK_NULL(fn, cols);
        MLCL_CHECK_NULL(fn, vals);
    }
    for (int i = 0; i < n; i++)
        for (int64_t q = row_ptr[i]; q < row_ptr[i + 1]; q++) {
            if (cols[q] < 0 || cols[q] >= e->in_dim)
                return mlcl__err(MLCL_EINVAL, "%s: cols[%lld] = %d (row %d) is out of range [0, %d)", fn, (long long)q,
                                 cols[q], i, e->in_dim);
            if (q > row_ptr[i] && cols[q] <= cols[q - 1])
                return mlcl__err(MLCL_EINVAL, "%s: row %d: columns must increase strictly (cols[%lld] = %d after %d)",
                                 fn, i, (long long)q, cols[q], cols[q - 1]);
            if (!isfinite(vals[q]))
                return mlcl__err(MLCL_ENUMERIC, "%s: vals[%lld] (row %d, column %d) is not finite", fn, (long long)q, i,
                                 cols[q]);
        }
    MLCL_TRY(mlcl__enc_ensure_rows(e, n));
    if (e->cap_sp_rows < (size_t)n + 1) {
        mlcl__free(e->sp_ptr);
        e->sp_ptr = NULL;
        e->cap_sp_rows = 0;
        MLCL_TRY(mlcl__alloc_array((void **)&e->sp_ptr, (size_t)e->cap_n + 1, sizeof *e->sp_ptr, "sparse input cache"));
        e->cap_sp_rows = (size_t)e->cap_n + 1;
    }
    if (e->cap_sp_nnz < nnz || !e->sp_col) {
        size_t cap = nnz > 2 * e->cap_sp_nnz ? nnz : 2 * e->cap_sp_nnz; /* amortised growth */
        if (cap == 0) cap = 1;
        mlcl__free(e->sp_col); mlcl__free(e->sp_val);
        e->sp_col = NULL; e->sp_val = NULL;
        e->cap_sp_nnz = 0;
        MLCL_TRY(mlcl__alloc_array((void **)&e->sp_col, cap, sizeof *e->sp_col, "sparse input cache"));
        MLCL_TRY(mlcl__alloc_array((void **)&e->sp_val, cap, sizeof *e->sp_val, "sparse input cache"));
        e->cap_sp_nnz = cap;
    }
    for (int i = 0; i <= n; i++) e->sp_ptr[i] = row_ptr[i] - base;
    if (nnz) {
        memcpy(e->sp_col, cols + base, nnz * sizeof *e->sp_col);
        memcpy(e->sp_val, vals + base, nnz * sizeof *e->sp_val);
    }
    nn_layer *l = &e->L[0];
    const float *W = e->params + l->poff;
    l->fwd_train = e->training;
    mlcl__spmm_fwd(n, l->in, l->out, e->sp_ptr, e->sp_col, e->sp_val, W, l->bias ? W + (size_t)l->out * l->in : NULL,
                   l->y);
    e->last_sparse = 1;
    return forward_from(e, n, 1, l->y, out);
}

/* Layer 0 after a sparse forward: dW over the columns present, db; no dx. */
static void sparse_linear_bwd(mlcl_encoder *e, nn_layer *l, int n, const float *g)
{
    float *gW = e->grads + l->poff;
    mlcl__spmm_bwd_w(n, l->in, l->out, e->sp_ptr, e->sp_col, e->sp_val, g, gW,
                     l->bias ? gW + (size_t)l->out * l->in : NULL);
}

/* ------------------------------------------------------------------ backward */

MLCL_VEC_CLONES static int bn_backward(mlcl_encoder *e, nn_layer *l, int n, const float *g, float *gx)
{
    int w = l->out;
    const float *gamma = e->params + l->poff, *xhat = l->aux, *invstd = l->invstd;
    float *dgamma = e->grads + l->poff, *dbeta = dgamma + w;
    double *sg = e->acc, *sgx = e->acc + w;
    for (int j = 0; j < w; j++) sg[j] = sgx[j] = 0.0;
    for (int i = 0; i < n; i++) {
        const float *gi = g + (size_t)i * w, *hi = xhat + (size_t)i * w;
        for (int j = 0; j < w; j++) { sg[j] += gi[j]; sgx[j] += (double)gi[j] * hi[j]; }
    }
    for (int j = 0; j < w; j++) { dgamma[j] += (float)sgx[j]; dbeta[j] += (float)sg[j]; }
    if (!gx) return MLCL_OK;
    if (l->fwd_train) {
        /* dx = gamma invstd / n (n g - sum g - xhat sum(g xhat)); synchronised:
         * the sums and n over all ranks (the parameter gradients above stay local) */
        double nt = n;
        if (e->has_comm) {
            sg[2 * w] = n; /* acc holds 2 max_w + 1 doubles */
            MLCL_TRY(mlcl__comm_sum_f64(&e->comm, sg, 2 * (size_t)w + 1, "mlcl_encoder_backward", "BatchNorm1d gradient sums"));
            nt = sg[2 * w];
        }
        for (int i = 0; i < n; i++) {
            const float *gi = g + (size_t)i * w, *hi = xhat + (size_t)i * w;
            float *o = gx + (size_t)i * w;
            for (int j = 0; j < w; j++)
                o[j] = (float)((double)gamma[j] * invstd[j] / nt *
                               (nt * gi[j] - sg[j] - (double)hi[j] * sgx[j]));
        }
    } else {
        for (int i = 0; i < n; i++) {
            const float *gi = g + (size_t)i * w;
            float *o = gx + (size_t)i * w;
            for (int j = 0; j < w; j++) o[j] = gi[j] * gamma[j] * invstd[j];
        }
    }
    return MLCL_OK;
}

void mlcl__encoder_set_par(mlcl_encoder *e, int on) { e->par = on; }

/* db += column sums of g (n x out) for the columns j0 .. j1-1, each summed
 * over the rows in order in double (acc: out doubles) */
static void bias_sums(int n, int out, int j0, int j1, const float *g, double *acc, float *gbias)
{
    for (int j = j0; j < j1; j++) acc[j] = 0.0;
    for (int i = 0; i < n; i++) {
        const float *gi = g + (size_t)i * out;
        for (int j = j0; j < j1; j++) acc[j] += gi[j];
    }
    for (int j = j0; j < j1; j++) gbias[j] += (float)acc[j];
}

/* dW += g^T x of a Linear layer, as a task for mlcl__par2, and the bias
 * gradient of columns b0 .. b1-1 (none when gbias is NULL) */
typedef struct dw_task { int out, in, n; const float *g, *x; float *gW, *gbias; double *acc; int b0, b1; } dw_task;
static void dw_run(void *arg)
{
    dw_task *t = arg;
    mlcl__sgemm(1, 0, t->out, t->in, t->n, 1.0f, t->g, t->out, t->x, t->in, 1.0f, t->gW, t->in);
    if (t->gbias) bias_sums(t->n, t->out, t->b0, t->b1, t->g, t->acc, t->gbias);
}
/* dx = g W, and the bias gradient of columns b0 .. b1-1 (as dw_task) */
typedef struct dx_task { int out, in, n; const float *g, *W; float *gx, *gbias; double *acc; int b0, b1; } dx_task;
static void dx_run(void *arg)
{
    dx_task *t = arg;
    mlcl__sgemm(0, 0, t->n, t->in, t->out, 1.0f, t->g, t->out, t->W, t->in, 0.0f, t->gx, t->in);
    if (t->gbias) bias_sums(t->n, t->out, t->b0, t->b1, t->g, t->acc, t->gbias);
}
/* below this many multiply-adds per GEMM a thread start costs more than it saves */
#define PAR_MIN_MACS 2000000

static int encoder_backward(mlcl_encoder *e, int n, const float *grad_out, float *grad_in);
int mlcl_encoder_backward(mlcl_encoder *e, int n, const float *grad_out, float *grad_in)
{
    int tok = mlcl__threads_enter(e ? e->threads : 0); /* the encoder's thread scope */
    int rc = encoder_backward(e, n, grad_out, grad_in);
    mlcl__threads_leave(tok);
    return rc;
}

static int encoder_backward(mlcl_encoder *e, int n, const float *grad_out, float *grad_in)
{
    static const char fn[] = "mlcl_encoder_backward";
    MLCL_CHECK_NULL(fn, e);
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_NULL(fn, grad_out);
    if (e->last_n == 0)
        return mlcl__err(MLCL_ESTATE, "%s: no forward pass to back-propagate (call mlcl_encoder_forward first)", fn);
    if (n != e->last_n)
        return mlcl__err(MLCL_ESTATE, "%s: n = %d differs from the last forward's n = %d", fn, n, e->last_n);
    size_t nout = (size_t)n * (size_t)e->out_dim;
    if (!mlcl__vec_all_finite(grad_out, nout))
    for (size_t k = 0; k < nout; k++)
        if (!isfinite(grad_out[k]))
            return mlcl__err(MLCL_ENUMERIC, "%s: grad_out[%zu] is not finite", fn, k);
    if (e->nl == 0) {
        if (grad_in) memcpy(grad_in, grad_out, nout * sizeof(float));
        return MLCL_OK;
    }
    if (e->last_sparse && grad_in)
        return mlcl__err(MLCL_EINVAL, "%s: the last forward had a sparse input (mlcl_encoder_forward_csr): "
                         "no input gradient; pass grad_in = NULL", fn);
    const float *g = grad_out;
    for (int li = e->nl - 1; li >= 0; li--) {
        nn_layer *l = &e->L[li];
        if (l->type == L_RELU && l->fused) continue; /* done with the Dropout above it */
        const float *xin = li > 0 ? e->L[li - 1].y : e->xin;
        float *gx = li > 0 ? (g == e->gb[0] ? e->gb[1] : e->gb[0]) : grad_in;
        size_t cnt = (size_t)n * (size_t)l->out;
        if (li == 0 && e->last_sparse) { /* checked above: a Linear layer, no grad_in */
            sparse_linear_bwd(e, l, n, g);
            break;
        }
        switch (l->type) {
        case L_LINEAR: {
            const float *W = e->params + l->poff;
            float *gW = e->grads + l->poff;
            /* dW += g^T x;  db += column sums of g;  dx = g W. With two
             * threads each task also sums half of the bias columns. */
            float *gbias = l->bias ? gW + (size_t)l->out * l->in : NULL;
            int par = e->par && gx && (double)n * l->in * l->out >= PAR_MIN_MACS;
            int half = par ? l->out / 2 : l->out;
            dw_task tw = { l->out, l->in, n, g, xin, gW, gbias, e->acc, 0, half };
            dx_task tx = { l->out, l->in, n, g, W, gx, par ? gbias : NULL, e->acc, half, l->out };
            if (par) mlcl__par2(dw_run, &tw, dx_run, &tx);
            else {
                dw_run(&tw);
                if (gx) dx_run(&tx);
            }
            break;
        }
        case L_RELU:
            if (gx) relu_bwd(cnt, l->y, g, gx);
            break;
        case L_DROPOUT:
            if (gx) {
                if (li >= 2 && e->L[li - 1].type == L_RELU && e->L[li - 1].fused)
                    /* and the fused ReLU's: gx is the gradient of the ReLU's input (layer li-2's output) */
                    relu_dropout_bwd(cnt, e->L[li - 2].y, l->y, 1.0f / (1.0f - l->p), g, gx);
                else if (l->fwd_train) mul_vec(cnt, g, l->aux, gx);
                else memcpy(gx, g, cnt * sizeof(float));
            }
            break;
        case L_BN:
            MLCL_TRY(bn_backward(e, l, n, g, gx));
            break;
        case L_L2NORM:
            if (gx) mlcl__l2norm_rows_bwd(n, l->out, l->y, l->aux, g, gx, 0);
            break;
        case L_SOFTMAX:
            if (gx) mlcl__softmax_rows_bwd(n, l->out, l->y, g, gx, 0);
            break;
        case L_CONVNET:
            MLCL_TRY(mlcl__convnet_backward(l->cn, fn, n, e->params + l->poff, e->grads + l->poff, g, gx));
            break;
        }
        if (!gx) break; /* only reached at layer 0 without grad_in */
        g = gx;
    }
    return MLCL_OK;
}

