/*
 * The contrastive / label-distribution losses and their exact gradients
 * (MATH.md, "Losses" 1-8). Layout of one call:
 *   1. S = Q [K; Kq]^T / tau            two GEMMs into one n x N buffer
 *   2. (LD) DW = D [D; Dq]^T            two GEMMs, for ||d_i - d_p||^2
 *   3. row pass (loss_rows.c, threads over anchors): log-sum-exp, then per pair the
 *      masks and the label-wise coefficients from the packed labels (only
 *      the set bits of y_i & y_p are visited), the G/H terms, and
 *      dL/dS written over S, the G weights written over DW
 *   4. grad_q += dL/dS [K; Kq] / tau    two GEMMs; grad_d from the G
 *      weights by GEMMs (or sparsely when the RBF weights underflow)
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "core/internal.h"
#include "kernels/gemm.h"
#include "kernels/vec.h"
#include "mlcl/loss.h"
#include "cl/labels.h"
#include "cl/loss_internal.h"
#include "cl/loss_impl.h"
#include "cl/queue_internal.h"

/* The row loops below are written to vectorise; -O2 (GCC 12) leaves loops scalar. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")
#endif

/* ------------------------------------------------------------------ options */

int mlcl_loss_options_init(mlcl_loss_options *opts, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_loss_options_init", opts, version, MLCL_LOSS_OPTIONS_VERSION, mlcl_loss_options, MLCL_LOSS_OPTIONS_INIT);
}

int mlcl_loss_parts_init(mlcl_loss_parts *parts, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_loss_parts_init", parts, version, MLCL_LOSS_PARTS_VERSION, mlcl_loss_parts, MLCL_LOSS_PARTS_INIT);
}

int mlcl_loss_inputs_init(mlcl_loss_inputs *in, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_loss_inputs_init", in, version, MLCL_LOSS_INPUTS_VERSION, mlcl_loss_inputs, MLCL_LOSS_INPUTS_INIT);
}

static int check_enum(const char *fn, const char *name, int v, int lo, int hi)
{
    if (v < lo || v > hi)
        return mlcl__err(MLCL_EINVAL, "%s: opts->%s = %d is out of range [%d, %d]", fn, name, v, lo, hi);
    return MLCL_OK;
}

static int check_options(const char *fn, const mlcl_loss_options *o)
{
    MLCL_CHECK_VERSION(fn, o, MLCL_LOSS_OPTIONS_VERSION);
    MLCL_TRY(check_enum(fn, "method", o->method, MLCL_LOSS_LD, MLCL_LOSS_SUPCON));
    MLCL_TRY(check_enum(fn, "variant", o->variant, MLCL_LD_CLD, MLCL_LD_RLD));
    MLCL_TRY(check_enum(fn, "mask", o->mask, MLCL_MASK_ANY, MLCL_MASK_ALL));
    MLCL_TRY(check_enum(fn, "reduction", o->reduction, MLCL_REDUCE_MEAN, MLCL_REDUCE_SUM));
    MLCL_TRY(check_enum(fn, "cld_weight", o->cld_weight, MLCL_CLD_WEIGHT_PROB, MLCL_CLD_WEIGHT_LOGPROB));
    MLCL_TRY(check_enum(fn, "weight_grad", o->weight_grad, 0, 1));
    MLCL_TRY(check_enum(fn, "dweight_grad", o->dweight_grad, 0, 1));
    MLCL_TRY(check_enum(fn, "con_norm", o->con_norm, MLCL_CON_NORM_NONE, MLCL_CON_NORM_PER_LABEL));
    MLCL_TRY(check_enum(fn, "h_target", o->h_target, MLCL_H_TARGET_NORMALISED, MLCL_H_TARGET_RAW));
    if (!(isfinite(o->alpha) && o->alpha >= 0))
        return mlcl__err(MLCL_EINVAL, "%s: opts->alpha = %g must be finite and >= 0", fn, (double)o->alpha);
    if (!(isfinite(o->beta) && o->beta >= 0))
        return mlcl__err(MLCL_EINVAL, "%s: opts->beta = %g must be finite and >= 0", fn, (double)o->beta);
    if (!(isfinite(o->tau) && o->tau > 0))
        return mlcl__err(MLCL_EINVAL, "%s: opts->tau = %g must be finite and > 0", fn, (double)o->tau);
    if (!(isfinite(o->sigma) && o->sigma > 0))
        return mlcl__err(MLCL_EINVAL, "%s: opts->sigma = %g must be finite and > 0", fn, (double)o->sigma);
    return MLCL_OK;
}

/* ------------------------------------------------------------------ create / free */

void mlcl_loss_free(mlcl_loss *L)
{
    if (!L) return;
    mlcl__free(L->S);
    mlcl__free(L->DW);
    mlcl__free(L->knorm);
    mlcl__free(L->dnorm);
    mlcl__free(L->hval);
    mlcl__free(L->inv);
    mlcl__free(L->cval);
    mlcl__free(L->cnt);
    mlcl__free(L->qnorm);
    mlcl__free(L->rdiag);
    mlcl__free(L->rws);
    mlcl__free(L->con_i);
    mlcl__free(L->G_i);
    mlcl__free(L->H_i);
    mlcl__free(L->used_i);
    for (int t = 0; t < MAX_THREADS; t++) {
        mlcl__free(L->rowbuf[t]);
        mlcl__free(L->colw[t]);
        mlcl__free(L->colcnt[t]);
        mlcl__free(L->gdw[t]);
        mlcl__free(L->cbuf[t]);
        mlcl__free(L->wbuf[t]);
        mlcl__free(L->bmap[t]);
        mlcl__free(L->tlist[t]);
        mlcl__free(L->dbuf[t]);
        mlcl__free(L->flist[t]);
        mlcl__free(L->dterm[t]);
        mlcl__free(L->fterm[t]);
    }
    mlcl__free(L->dT);
    mlcl__free(L->lb16);
    mlcl__free(L->loff);
    mlcl__free(L->lidx);
    mlcl__free(L);
}

static int ws_alloc(mlcl_loss *L, void **p, size_t count, size_t size, const char *what)
{
    char buf[96];
    snprintf(buf, sizeof buf, "mlcl_loss_create: %s", what);
    int rc = mlcl__alloc_array(p, count, size, buf);
    if (rc == MLCL_OK) L->bytes += count * size;
    return rc;
}

int mlcl_loss_create(mlcl_loss **out, int max_n, int max_queue, int m, int c,
                     const mlcl_loss_options *opts)
{
    MLCL_CHECK_NULL("mlcl_loss_create", out);
    *out = NULL;
    MLCL_CHECK_POS("mlcl_loss_create", max_n);
    return mlcl__loss_create_ranks(out, max_n, max_n, max_queue, m, c, opts);
}

int mlcl__loss_create_ranks(mlcl_loss **out, int max_n, int max_nb, int max_queue, int m, int c,
                           const mlcl_loss_options *opts)
{
    static const char fn[] = "mlcl_loss_create";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_POS(fn, max_n);
    if (max_nb < max_n) return mlcl__err(MLCL_EINVAL, "%s: max_nb %d < max_n %d", fn, max_nb, max_n);
    if (max_queue < 0) return mlcl__err(MLCL_EINVAL, "%s: max_queue must be >= 0 (got %d)", fn, max_queue);
    MLCL_CHECK_POS(fn, m);
    MLCL_CHECK_POS(fn, c);
    mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
    if (opts) {
        MLCL_TRY(check_options(fn, opts));
        o = *opts;
    }
    long long maxN = (long long)max_nb + max_queue;
    if (maxN > INT32_MAX) return mlcl__err(MLCL_EOVERFLOW, "%s: max_n + max_queue overflows int", fn);
    size_t nN, nc, tmp;
    if (mlcl__mul_size((size_t)max_n, (size_t)maxN, &nN) || mlcl__mul_size(nN, sizeof(float), &tmp) ||
        mlcl__mul_size((size_t)max_nb, (size_t)c, &nc) || mlcl__mul_size(nc, sizeof(float) * MAX_THREADS, &tmp) ||
        mlcl__mul_size((size_t)maxN, (size_t)m, &tmp))
        return mlcl__err(MLCL_EOVERFLOW, "%s: workspace for max_n %d, max_queue %d, c %d overflows", fn,
                         max_n, max_queue, c);
    mlcl_loss *L = mlcl__calloc(1, sizeof *L);
    if (!L) return mlcl__err(MLCL_ENOMEM, "%s: out of memory for the handle", fn);
    L->o = o;
    L->max_n = max_n;
    L->max_nb = max_nb;
    L->max_q = max_queue;
    L->m = m;
    L->c = c;
    L->words = mlcl_label_words(c);
    /* workspaces for up to MAX_THREADS row-pass threads; a call uses the thread
     * count in force (docs/abi.md), at most that: the row pass's per-thread
     * partial sums make the result depend on this count */
    L->nthreads = MAX_THREADS;
    size_t N = (size_t)maxN, n = (size_t)max_n, nbc = (size_t)max_nb;
    int rc;
    if ((rc = ws_alloc(L, (void **)&L->S, nN, sizeof(float), "logits")) ||
        (rc = ws_alloc(L, (void **)&L->DW, nN, sizeof(float), "distribution products")) ||
        (rc = ws_alloc(L, (void **)&L->knorm, N, sizeof(float), "key norms")) ||
        (rc = ws_alloc(L, (void **)&L->dnorm, N, sizeof(float), "distribution norms")) ||
        (rc = ws_alloc(L, (void **)&L->hval, N, sizeof(double), "H terms")) ||
        (rc = ws_alloc(L, (void **)&L->inv, (size_t)c, sizeof(float), "label weights")) ||
        (rc = ws_alloc(L, (void **)&L->cnt, (size_t)c, sizeof(int), "label counts")) ||
        (rc = ws_alloc(L, (void **)&L->qnorm, n, sizeof(float), "query norms")) ||
        (rc = ws_alloc(L, (void **)&L->rdiag, n, sizeof(float), "diagonal")) ||
        (rc = ws_alloc(L, (void **)&L->rws, n, sizeof(float), "row sums")) ||
        (rc = ws_alloc(L, (void **)&L->con_i, n, sizeof(double), "per-anchor terms")) ||
        (rc = ws_alloc(L, (void **)&L->G_i, n, sizeof(double), "per-anchor terms")) ||
        (rc = ws_alloc(L, (void **)&L->H_i, n, sizeof(double), "per-anchor terms")) ||
        (rc = ws_alloc(L, (void **)&L->used_i, n, sizeof(int), "per-anchor flags")) ||
        (rc = ws_alloc(L, (void **)&L->loff, (size_t)c + 1, sizeof(int), "label candidate offsets"))) {
        mlcl_loss_free(L);
        return rc;
    }
    for (int t = 0; t < L->nthreads; t++) {
        if ((rc = ws_alloc(L, (void **)&L->rowbuf[t], N, sizeof(float), "row buffer")) ||
            (rc = ws_alloc(L, (void **)&L->colw[t], nbc, sizeof(float), "column sums")) ||
            (rc = ws_alloc(L, (void **)&L->colcnt[t], nbc, sizeof(float), "column counts")) ||
            (rc = ws_alloc(L, (void **)&L->gdw[t], nc, sizeof(float), "distribution gradients")) ||
            (rc = ws_alloc(L, (void **)&L->cbuf[t], N, sizeof(float), "label coefficients")) ||
            (rc = ws_alloc(L, (void **)&L->wbuf[t], N, sizeof(float), "row weights")) ||
            (rc = ws_alloc(L, (void **)&L->bmap[t], (N + 63) / 64, sizeof(uint64_t), "touched candidates")) ||
            (rc = ws_alloc(L, (void **)&L->tlist[t], N, sizeof(int), "touched candidate list")) ||
            (rc = ws_alloc(L, (void **)&L->dbuf[t], N, sizeof(float), "pair distances")) ||
            (rc = ws_alloc(L, (void **)&L->flist[t], N, sizeof(int), "pair distance list"))) {
            mlcl_loss_free(L);
            return rc;
        }
    }
    if (c <= LD_DENSE_MAX_C && mlcl__cpu_avx512()) {
        /* the dense LD row pass (loss_rows.c): maxN <= INT32_MAX, c <= 32, so no overflow */
        size_t Np = ((size_t)maxN + 15) & ~(size_t)15;
        L->Np = (int)(Np < (size_t)INT32_MAX ? Np : 0);
        if (L->Np > 0) {
            if ((rc = ws_alloc(L, (void **)&L->dT, Np * (size_t)c, sizeof(float), "transposed distributions")) ||
                (rc = ws_alloc(L, (void **)&L->lb16, Np / 16 * (size_t)c, sizeof(uint16_t), "label bitmaps"))) {
                mlcl_loss_free(L);
                return rc;
            }
            for (int t = 0; t < L->nthreads; t++)
                if ((rc = ws_alloc(L, (void **)&L->dterm[t], 4 * N, sizeof(double), "pair terms")) ||
                    (rc = ws_alloc(L, (void **)&L->fterm[t], N, sizeof(float), "pair terms"))) {
                    mlcl_loss_free(L);
                    return rc;
                }
        }
    }
    *out = L;
    return MLCL_OK;
}

int mlcl_loss_set_options(mlcl_loss *L, const mlcl_loss_options *opts)
{
    static const char fn[] = "mlcl_loss_set_options";
    MLCL_CHECK_NULL(fn, L);
    MLCL_CHECK_NULL(fn, opts);
    MLCL_TRY(check_options(fn, opts));
    L->o = *opts;
    return MLCL_OK;
}

int mlcl_loss_get_options(const mlcl_loss *L, mlcl_loss_options *opts)
{
    MLCL_CHECK_NULL("mlcl_loss_get_options", L);
    MLCL_CHECK_NULL("mlcl_loss_get_options", opts);
    *opts = L->o;
    return MLCL_OK;
}

int mlcl_loss_get_dims(const mlcl_loss *L, int *max_n, int *max_queue, int *m, int *c)
{
    MLCL_CHECK_NULL("mlcl_loss_get_dims", L);
    if (max_n) *max_n = L->max_n;
    if (max_queue) *max_queue = L->max_q;
    if (m) *m = L->m;
    if (c) *c = L->c;
    return MLCL_OK;
}

int mlcl_loss_workspace_size(const mlcl_loss *L, size_t *bytes)
{
    MLCL_CHECK_NULL("mlcl_loss_workspace_size", L);
    MLCL_CHECK_NULL("mlcl_loss_workspace_size", bytes);
    *bytes = L->bytes + sizeof *L;
    return MLCL_OK;
}
/* ------------------------------------------------------------------ compute */

static int labels_ok(const uint64_t *y, int rows, size_t words, int c)
{
    if ((c & 63) == 0) return 1;
    uint64_t pad = ~((UINT64_C(1) << (c & 63)) - 1);
    for (int i = 0; i < rows; i++)
        if (y[(size_t)i * words + words - 1] & pad) return 0;
    return 1;
}

static float sqnorm(const float *v, int len)
{
    float s = 0;
    for (int j = 0; j < len; j++) s += v[j] * v[j];
    return s;
}

/* n anchors q against nb batch candidates (k, y, d; the anchors' own rows are
 * off .. off+n-1 of them) and F queue entries; grad_d is nb x c. With
 * nb == n, off == 0 this is mlcl_loss_compute. Otherwise the reduction is the
 * one of a single process holding all nb anchors, times nb / n: averaging the
 * ranks' gradients and parts then gives the global batch's (comm.h). */
static int loss_compute(mlcl_loss *L, int n, int nb, int off, int F, const float *q, const float *k, const uint64_t *y,
                      const float *d, const float *kq, const uint64_t *yq, const float *dq, int from_queue,
                      const float *W, int h, mlcl_loss_parts *parts, float *grad_q, float *grad_d,
                      float *grad_W)
{
    static const char fn[] = "mlcl_loss_compute";
    MLCL_CHECK_NULL(fn, L);
    const mlcl_loss_options *o = &L->o;
    const int m = L->m, c = L->c, ld = o->method == MLCL_LOSS_LD;
    if (n <= 0 || n > L->max_n)
        return mlcl__err(MLCL_EINVAL, "%s: n = %d is not in [1, max_n = %d]", fn, n, L->max_n);
    if (nb < n || nb > L->max_nb || off < 0 || off > nb - n || nb % n != 0)
        return mlcl__err(MLCL_EINVAL, "%s: %d batch candidates (max %d) with the anchors at %d..%d", fn, nb, L->max_nb,
                         off, off + n - 1);
    if (F < 0 || F > L->max_q)
        return mlcl__err(MLCL_EINVAL, "%s: F = %d is not in [0, max_queue = %d]", fn, F, L->max_q);
    MLCL_CHECK_NULL_AS(fn, q, "in->q");
    MLCL_CHECK_NULL_AS(fn, k, "in->k");
    MLCL_CHECK_NULL_AS(fn, y, "in->y");
    if (F > 0) {
        MLCL_CHECK_NULL_AS(fn, kq, "in->kq");
        MLCL_CHECK_NULL_AS(fn, yq, "in->yq");
    }
    const int needW = ld && o->beta != 0.0f;
    if (ld) {
        MLCL_CHECK_NULL_AS(fn, d, "in->d");
        if (F > 0) MLCL_CHECK_NULL_AS(fn, dq, "in->dq");
    }
    if (needW) {
        if (!W) return mlcl__err(MLCL_EINVAL, "%s: in->W is NULL but the LD loss has beta = %g != 0", fn, (double)o->beta);
        if (h <= 0) return mlcl__err(MLCL_EINVAL, "%s: in->h must be > 0 (got %d)", fn, h);
    }
    size_t words = L->words, nm = (size_t)n * m, fm = (size_t)F * m;
    if (!mlcl__vec_all_finite(q, nm)) return mlcl__err(MLCL_ENUMERIC, "%s: q holds NaN or Inf", fn);
    if (!mlcl__vec_all_finite(k, (size_t)nb * m)) return mlcl__err(MLCL_ENUMERIC, "%s: k holds NaN or Inf", fn);
    /* a queue handle's rows were checked when they entered it (mlcl_queue_enqueue,
     * mlcl_queue_set_state) and are read-only outside it: not checked again */
    if (F > 0 && !from_queue && !mlcl__vec_all_finite(kq, fm)) return mlcl__err(MLCL_ENUMERIC, "%s: kq holds NaN or Inf", fn);
    if (ld) {
        if (!mlcl__vec_all_finite(d, (size_t)nb * c)) return mlcl__err(MLCL_ENUMERIC, "%s: d holds NaN or Inf", fn);
        if (F > 0 && !from_queue && !mlcl__vec_all_finite(dq, (size_t)F * c))
            return mlcl__err(MLCL_ENUMERIC, "%s: dq holds NaN or Inf", fn);
    }
    if (needW && !mlcl__vec_all_finite(W, (size_t)c * h)) return mlcl__err(MLCL_ENUMERIC, "%s: W holds NaN or Inf", fn);
    if (!labels_ok(y, nb, words, c)) return mlcl__err(MLCL_EINVAL, "%s: y has bits set above label %d", fn, c - 1);
    if (F > 0 && !from_queue && !labels_ok(yq, F, words, c))
        return mlcl__err(MLCL_EINVAL, "%s: yq has bits set above label %d", fn, c - 1);

    const int N = nb + F;
    const float tau = o->tau;
    rowctx x = {0};
    x.L = L;
    x.n = n; x.F = F; x.N = N; x.c = c; x.words = words;
    x.nb = nb; x.off = off;
    const float *da0 = d ? d + (size_t)off * c : NULL; /* the anchors' distributions */
    x.method = o->method; x.variant = o->variant; x.mask = o->mask; x.cldw = o->cld_weight;
    x.wgrad = o->weight_grad; x.dwgrad = o->dweight_grad;
    x.need_gq = grad_q != NULL; x.need_gd = ld && grad_d != NULL;
    x.tau = tau; x.sigma = o->sigma;
    x.y = y; x.yq = yq; x.d = d; x.dq = dq;
    x.q = q; x.k = k; x.kq = kq; x.m = m;
    /* exp_nonpos flushes below e^-87: 174 sigma^2, with a margin */
    x.rbf_lim = 176.0f * o->sigma * o->sigma;
    x.rbf_slack = 2.4e-7f * (float)m;
    x.rbf_keep = 60.0f * o->sigma * o->sigma;

    /* label-wise counts |P^j| over all N candidates */
    int *cnt = L->cnt;
    memset(cnt, 0, (size_t)c * sizeof *cnt);
    for (int a = 0; a < nb; a++) mlcl__lab_count_add(cnt, y + (size_t)a * words, words);
    for (int a = 0; a < F; a++) mlcl__lab_count_add(cnt, yq + (size_t)a * words, words);
    const int per_label = o->method == MLCL_LOSS_MULSUPCON || o->con_norm == MLCL_CON_NORM_PER_LABEL;
    for (int j = 0; j < c; j++) L->inv[j] = per_label ? (cnt[j] > 0 ? 1.0f / cnt[j] : 0.0f) : 1.0f;

    /* reduction factor */
    long long nlab = 0;
    if (o->method == MLCL_LOSS_MULSUPCON) {
        for (int i = 0; i < nb; i++) nlab += mlcl__lab_popcount(y + (size_t)i * words, words);
        x.s = o->reduction == MLCL_REDUCE_SUM ? 1.0f : (nlab > 0 ? 1.0f / (float)nlab : 0.0f);
    } else {
        x.s = o->reduction == MLCL_REDUCE_SUM ? 1.0f : 1.0f / (float)nb;
    }
    if (nb != n) x.s *= (float)(nb / n); /* the ranks' gradients are averaged */

    if (o->method == MLCL_LOSS_MULSUPCON || ld) {
        /* the candidates holding label j, increasing: lidx[loff[j] .. loff[j+1]-1];
         * LD: beside them in cval, d_a^j inv_j */
        size_t tot = 0;
        for (int j = 0; j < c; j++) tot += (size_t)cnt[j];
        if (tot > L->lidx_cap) {
            int *ni = mlcl__malloc(tot * sizeof(int));
            float *nv = mlcl__malloc(tot * sizeof(float));
            if (!ni || !nv) {
                mlcl__free(ni);
                mlcl__free(nv);
                return mlcl__err(MLCL_ENOMEM, "%s: cannot grow the label index to %zu entries", fn, tot);
            }
            mlcl__free(L->lidx);
            mlcl__free(L->cval);
            L->bytes += (tot - L->lidx_cap) * (sizeof(int) + sizeof(float));
            L->lidx = ni;
            L->cval = nv;
            L->lidx_cap = tot;
        }
        int *pos = L->loff;
        pos[0] = 0;
        for (int j = 0; j < c; j++) pos[j + 1] = pos[j] + cnt[j];
        for (int a = 0; a < N; a++) {
            const uint64_t *ya = a < nb ? y + (size_t)a * words : yq + (size_t)(a - nb) * words;
            const float *da = ld ? (a < nb ? d + (size_t)a * c : dq + (size_t)(a - nb) * c) : NULL;
            for (size_t w = 0; w < words; w++)
                for (uint64_t b = ya[w]; b; b &= b - 1) {
                    size_t j = w * 64 + (size_t)__builtin_ctzll(b);
                    if (da) L->cval[pos[j]] = da[j] * L->inv[j];
                    L->lidx[pos[j]++] = a;
                }
        }
        /* pos[j] now ends label j: shift back to the starts */
        for (int j = c; j > 0; j--) pos[j] = pos[j - 1];
        pos[0] = 0;
    }

    /* the threads of the row pass and its GEMMs (each thread its anchors' rows) */
    int Tn = mlcl__threads_current();
    if (Tn > L->nthreads) Tn = L->nthreads;
    if ((size_t)n * N < THREAD_MIN_PAIRS) Tn = 1;
    if (Tn > n) Tn = n;
    size_t alive_t[MAX_THREADS] = { 0 };
    x.T = Tn;
    x.do_S = 1;
    x.alive = alive_t;
    x.da0 = da0;

    if (ld) {
        for (int a = 0; a < N; a++) {
            const float *da = a < nb ? d + (size_t)a * c : dq + (size_t)(a - nb) * c;
            const uint64_t *ya = a < nb ? y + (size_t)a * words : yq + (size_t)(a - nb) * words;
            L->dnorm[a] = sqnorm(da, c);
            /* ||t - d||^2 = |d|^2 - 2 t sum_{j in y} d^j + |y| t^2 */
            int ny = mlcl__lab_popcount(ya, words);
            double tv = ny == 0 ? 0.0 : o->h_target == MLCL_H_TARGET_RAW ? 1.0 : 1.0 / ny, sy = 0, dn = 0;
            for (int j = 0; j < c; j++) dn += (double)da[j] * da[j];
            for (size_t w = 0; w < words; w++)
                for (uint64_t b = ya[w]; b; b &= b - 1) sy += da[w * 64 + (size_t)__builtin_ctzll(b)];
            L->hval[a] = dn - 2.0 * tv * sy + ny * tv * tv;
        }
        int rld = o->variant == MLCL_LD_RLD;
        if (rld) {
            for (int i = 0; i < n; i++) L->qnorm[i] = sqnorm(q + (size_t)i * m, m);
            for (int a = 0; a < N; a++) L->knorm[a] = sqnorm(a < nb ? k + (size_t)a * m : kq + (size_t)(a - nb) * m, m);
            /* RBF weights are exactly 0 unless ||q-k||^2 < 174 sigma^2 (exp_nonpos flushes
             * below e^-87; float would underflow near there anyway): when few pairs survive,
             * skip the D D^T GEMM and compute their distances and d gradients directly
             * (below 1/64 of the pairs). The logits first (S = q [k; kq]^T / tau), to count them. */
            mlcl__loss_run_logits(&x);
            size_t alive = 0;
            for (int t = 0; t < Tn; t++) alive += alive_t[t];
            x.lazy = alive * 64 < (size_t)n * N;
            x.do_S = 0;
        }
        x.do_DW = !x.lazy;
        /* the dense row pass (loss_rows.c, ld_dense_anchor): the candidates'
         * distributions transposed and their labels as 16-bit masks */
        x.dense = L->dT && o->variant == MLCL_LD_CLD && o->mask == MLCL_MASK_ANY && !x.lazy && !(x.dwgrad && x.need_gd);
        if (x.dense) {
            size_t Np = (size_t)L->Np, nw = Np / 16, nch = ((size_t)N + 15) / 16;
            for (int j = 0; j < c; j++) {
                memset(L->lb16 + (size_t)j * nw, 0, nch * sizeof(uint16_t));
                for (size_t a = (size_t)N; a < nch * 16; a++) L->dT[(size_t)j * Np + a] = 0.0f;
            }
            for (int a = 0; a < N; a++) {
                const float *da = a < nb ? d + (size_t)a * c : dq + (size_t)(a - nb) * c;
                const uint64_t *ya = a < nb ? y + (size_t)a * words : yq + (size_t)(a - nb) * words;
                for (int j = 0; j < c; j++) L->dT[(size_t)j * Np + (size_t)a] = da[j];
                for (uint64_t b = ya[0]; b; b &= b - 1) /* c <= 32: one word */
                    L->lb16[(size_t)__builtin_ctzll(b) * nw + (size_t)a / 16] |= (uint16_t)(1u << (a & 15));
            }
        }
    }

    /* 1.-2. S = q [k; kq]^T / tau (one n x N buffer with row stride N), DW, the
     * row pass, and the gradient GEMMs of the anchors' rows (4. below) */
    x.grad_q = grad_q;
    x.gda = ld && grad_d && !x.lazy ? grad_d + (size_t)off * c : NULL;
    for (int t = 0; t < Tn; t++) {
        if (ld) {
            memset(L->colw[t], 0, (size_t)nb * sizeof(float));
            memset(L->colcnt[t], 0, (size_t)nb * sizeof(float));
            if (x.need_gd && (x.lazy || x.dwgrad)) memset(L->gdw[t], 0, (size_t)nb * c * sizeof(float));
        }
    }
    mlcl__loss_run_rows(&x);

    /* 3. reduce the parts */
    double con = 0, G = 0, H = 0;
    int used = 0;
    for (int i = 0; i < n; i++) {
        con += L->con_i[i];
        used += L->used_i[i];
        if (ld) {
            G += L->G_i[i];
            H += L->H_i[i];
        }
    }
    double wnorm = 0;
    if (needW)
        for (size_t j = 0; j < (size_t)c * h; j++) wnorm += (double)W[j] * W[j];
    const double wfac = o->reduction == MLCL_REDUCE_SUM ? (double)nb : 1.0;
    double sd = x.s;
    if (parts) {
        parts->con = con * sd;
        parts->G = ld ? G * sd : 0.0;
        parts->H = ld ? H * sd : 0.0;
        parts->wreg = needW ? o->beta * wnorm * wfac : 0.0;
        parts->total = parts->con + parts->G + (double)o->alpha * parts->H + parts->wreg;
        parts->n_anchors_used = used;
    }

    /* 4. gradients */
    /* grad_q += dL/dS [k; kq] / tau (+ the RBF diagonal): done in the row pass */
    if (ld && grad_d) {
        for (int t = 0; t < Tn; t++)
            if (t > 0) {
                for (int a = 0; a < nb; a++) {
                    L->colw[0][a] += L->colw[t][a];
                    L->colcnt[0][a] += L->colcnt[t][a];
                }
            }
        if (!x.lazy) {
            /* G: grad_d_i += 2 (sum_a w_ia) d_i - 2 sum_a w_ia d_a, and for a batch
             * candidate p: += 2 (sum_i w_ip) d_p - 2 sum_i w_ip d_i */
            /* (the anchors' rows -2 sum_a w_ia d_a: done in the row pass) */
            mlcl__sgemm(1, 0, nb, c, n, -2.0f, L->DW, N, da0, c, 1.0f, grad_d, c);
            for (int p = 0; p < nb; p++) {
                float f = 2.0f * ((p >= off && p < off + n ? L->rws[p - off] : 0.0f) + L->colw[0][p]);
                if (f == 0.0f) continue;
                float *g = grad_d + (size_t)p * c;
                const float *dp = d + (size_t)p * c;
                for (int j = 0; j < c; j++) g[j] += f * dp[j];
            }
        }
        if (x.lazy || o->dweight_grad)
            for (int t = 0; t < Tn; t++) {
                const float *src = L->gdw[t];
                for (size_t j = 0; j < (size_t)nb * c; j++) grad_d[j] += src[j];
            }
        /* H: for a batch candidate p, += 2 alpha s |{i: p in P(i)}| (d_p - t_p) */
        float ah = 2.0f * o->alpha * x.s;
        if (ah != 0.0f)
            for (int p = 0; p < nb; p++) {
                float f = ah * L->colcnt[0][p];
                if (f == 0.0f) continue;
                float *g = grad_d + (size_t)p * c;
                const float *dp = d + (size_t)p * c;
                const uint64_t *yp = y + (size_t)p * words;
                int ny = mlcl__lab_popcount(yp, words);
                for (int j = 0; j < c; j++) g[j] += f * dp[j];
                if (ny > 0) {
                    float tv = o->h_target == MLCL_H_TARGET_RAW ? 1.0f : 1.0f / ny;
                    for (size_t w = 0; w < words; w++)
                        for (uint64_t b = yp[w]; b; b &= b - 1) g[w * 64 + (size_t)__builtin_ctzll(b)] -= f * tv;
                }
            }
    }
    if (needW && grad_W) {
        float f = (float)(2.0 * o->beta * wfac);
        for (size_t j = 0; j < (size_t)c * h; j++) grad_W[j] += f * W[j];
    }
    return MLCL_OK;
}

/* The queue part read from a queue handle, then loss_compute. */
static int compute_queue(mlcl_loss *L, int n, int nb, int off, const float *q, const float *k, const uint64_t *y,
                         const float *d, const mlcl_queue *queue, const float *W, int h, mlcl_loss_parts *parts,
                         float *grad_q, float *grad_d, float *grad_W, const char *fn)
{
    mlcl__queue_view_t v;
    mlcl__queue_view(queue, &v);
    int qm = v.m, qc = v.c, F = v.size;
    if (qm != L->m)
        return mlcl__err(MLCL_EINVAL, "%s: queue feature width %d != %d", fn, qm, L->m);
    if (qc != L->c)
        return mlcl__err(MLCL_EINVAL, "%s: queue label count %d != %d", fn, qc, L->c);
    if (F > L->max_q)
        return mlcl__err(MLCL_EINVAL, "%s: queue holds %d entries > max_queue %d", fn, F, L->max_q);
    return loss_compute(L, n, nb, off, F, q, k, y, d, v.feats, v.labels, v.dists, 1, W, h, parts, grad_q, grad_d,
                        grad_W);
}

int mlcl_loss_compute(mlcl_loss *L, mlcl_loss_parts *parts, float *grad_q, float *grad_d, float *grad_W,
                      const mlcl_loss_inputs *in)
{
    static const char fn[] = "mlcl_loss_compute";
    MLCL_CHECK_NULL(fn, L);
    MLCL_CHECK_NULL(fn, in);
    MLCL_CHECK_VERSION(fn, in, MLCL_LOSS_INPUTS_VERSION);
    if (parts) MLCL_CHECK_VERSION(fn, parts, MLCL_LOSS_PARTS_VERSION);
    int tok = mlcl__threads_enter(L->threads), rc; /* the handle's thread count for this call */
    if (in->queue)
        rc = compute_queue(L, in->n, in->n, 0, in->q, in->k, in->y, in->d, in->queue, in->W, in->h, parts, grad_q,
                           grad_d, grad_W, fn);
    else
        rc = loss_compute(L, in->n, in->n, 0, in->F, in->q, in->k, in->y, in->d, in->kq, in->yq, in->dq, 0, in->W,
                          in->h, parts, grad_q, grad_d, grad_W);
    mlcl__threads_leave(tok);
    return rc;
}

int mlcl__loss_compute_ranks(mlcl_loss *L, int n, int nb, int off, const float *q, const float *k,
                             const uint64_t *y, const float *d, const mlcl_queue *queue, const float *W,
                             int h, mlcl_loss_parts *parts, float *grad_q, float *grad_d, float *grad_W)
{
    static const char fn[] = "mlcl_loss_compute";
    MLCL_CHECK_NULL(fn, L);
    MLCL_CHECK_NULL(fn, queue);
    int tok = mlcl__threads_enter(L->threads);
    int rc = compute_queue(L, n, nb, off, q, k, y, d, queue, W, h, parts, grad_q, grad_d, grad_W, fn);
    mlcl__threads_leave(tok);
    return rc;
}

int mlcl_loss_set_threads(mlcl_loss *L, int n)
{
    MLCL_CHECK_NULL("mlcl_loss_set_threads", L);
    return mlcl__threads_check_handle("mlcl_loss_set_threads", n, &L->threads);
}

int mlcl_loss_get_threads(const mlcl_loss *L, int *n)
{
    MLCL_CHECK_NULL("mlcl_loss_get_threads", L);
    MLCL_CHECK_NULL("mlcl_loss_get_threads", n);
    *n = L->threads;
    return MLCL_OK;
}
