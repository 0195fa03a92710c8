/*
 * The row pass of the contrastive / label-distribution losses (MATH.md,
 * "Losses" 1-8; stage 3 of loss.c): per anchor, log-sum-exp, then per pair
 * the masks and the label-wise coefficients from the packed labels (only the
 * set bits of y_i & y_p are visited), the G/H terms, and dL/dS written over
 * S, the G weights over DW. Threads over anchors (mlcl__par_for).
 */
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include "kernels/gemm.h"
#include "kernels/vec.h"
#include "kernels/par.h"
#include "cl/labels.h"
#include "cl/loss_impl.h"

/* The row loops below are written to vectorise; -O2 (GCC 12) leaves loops scalar. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")
#endif

static inline const uint64_t *cand_y(const rowctx *x, int a)
{
    return a < x->nb ? x->y + (size_t)a * x->words : x->yq + (size_t)(a - x->nb) * x->words;
}

static inline const float *cand_d(const rowctx *x, int a)
{
    return a < x->nb ? x->d + (size_t)a * x->c : x->dq + (size_t)(a - x->nb) * x->c;
}

static inline const float *cand_k(const rowctx *x, int a)
{
    return a < x->nb ? x->k + (size_t)a * x->m : x->kq + (size_t)(a - x->nb) * x->m;
}

/* ||u - v||^2 summed as differences (no cancellation). Sixteen float partial
 * sums (vectorised) of at most m/16 positive terms each, combined in double:
 * relative error below ~m/16 eps, about sqrt(m/16) eps in practice. */
static float sqdist(const float *u, const float *v, int m)
{
    float acc[16] = { 0 };
    int j = 0;
    for (; j + 16 <= m; j += 16)
        for (int t = 0; t < 16; t++) {
            float dlt = u[j + t] - v[j + t];
            acc[t] += dlt * dlt;
        }
    double s = 0;
    for (; j < m; j++) s += ((double)u[j] - v[j]) * ((double)u[j] - v[j]);
    for (int t = 0; t < 16; t++) s += acc[t];
    return (float)s;
}

/* The GEMM form of the RBF distance errs by about 3 eps (|q|^2 + |k|^2), i.e.
 * by 3 eps (|q|^2 + |k|^2) / (2 sigma^2) relative in the weight: below this
 * value of (|q|^2 + |k|^2) / (2 sigma^2) that is < 1e-5 and the GEMM form is
 * kept (sigma >= ~0.2 for unit vectors); above it the distance is summed again
 * for the pairs whose weight is not negligible (> e^-30, ||q - k||^2 < 60 sigma^2:
 * a weight below that is off by at most 1e-3 of itself, < 1e-16 absolute). */

/* exp(x) for x <= 0 (a softmax argument), ~2 ulp, 0 below -87: Cody-Waite range
 * reduction and a degree-6 polynomial, written branch-free so that the compiler
 * vectorises the row loops that call it (libm's expf is a scalar call). */
static inline float exp_nonpos(float x)
{
    const float log2e = 1.44269504088896341f, ln2hi = 0.693359375f, ln2lo = -2.12194440e-4f;
    float xc = x < -87.0f ? -87.0f : x;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float kf = (xc * log2e + shifter) - shifter;
    float r = xc - kf * ln2hi - kf * ln2lo;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { float f; int32_t i; } u;
    u.i = ((int32_t)kf + 127) << 23;
    float v = p * u.f;
    return x < -87.0f ? 0.0f : v;
}

/* max and exp(s - max) of one row; returns lse, leaves exp values in e.
 * The exponentials are summed in B = 8 float partial sums (element a into
 * sum a mod 8, in increasing a), the rest and the partial sums in double.
 * Compiled for AVX2 beside the baseline, chosen at load time (ifunc), and
 * written out for AVX-512 below: the same operations in the same order on
 * wider vectors (no FMA: -std=c11 keeps contraction off), so every version
 * gives the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx2", "default")))
#endif
static double row_lse_base(const float *Si, float *e, int N, double *sum_out)
{
    enum { B = 8 };
    float mxb[B];
    int a = 0;
    for (int t = 0; t < B; t++) mxb[t] = Si[0];
    for (; a + B <= N; a += B)
        for (int t = 0; t < B; t++) mxb[t] = Si[a + t] > mxb[t] ? Si[a + t] : mxb[t];
    float mx = mxb[0];
    for (int t = 1; t < B; t++) mx = mxb[t] > mx ? mxb[t] : mx;
    for (; a < N; a++) mx = Si[a] > mx ? Si[a] : mx;
    float acc[B] = { 0 };
    a = 0;
    for (; a + B <= N; a += B)
        for (int t = 0; t < B; t++) {
            float v = exp_nonpos(Si[a + t] - mx);
            e[a + t] = v;
            acc[t] += v;
        }
    double sum = 0;
    for (; a < N; a++) {
        e[a] = exp_nonpos(Si[a] - mx);
        sum += e[a];
    }
    for (int t = 0; t < B; t++) sum += acc[t];
    *sum_out = sum;
    return (double)mx + log(sum);
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
/* exp_nonpos on 16 lanes: the same IEEE operations, in the same order */
__attribute__((target("avx512f"))) static inline __m512 exp_nonpos16(__m512 x)
{
    const __m512 lo = _mm512_set1_ps(-87.0f), shifter = _mm512_set1_ps(12582912.0f);
    __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    __m512 xc = _mm512_mask_blend_ps(under, x, lo);
    __m512 kf = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)), shifter), shifter);
    __m512 r = _mm512_sub_ps(_mm512_sub_ps(xc, _mm512_mul_ps(kf, _mm512_set1_ps(0.693359375f))),
                             _mm512_mul_ps(kf, _mm512_set1_ps(-2.12194440e-4f)));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r), _mm512_set1_ps(1.0f));
    __m512i ki = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(kf), _mm512_set1_epi32(127)), 23);
    __m512 v = _mm512_mul_ps(p, _mm512_castsi512_ps(ki));
    return _mm512_mask_blend_ps(under, v, _mm512_setzero_ps());
}

/* row_lse_base on 16 lanes: the max is exact in any order; each 16-lane
 * block adds its low 8 exponentials to the 8 partial sums, then its high 8,
 * which is row_lse_base's order */
__attribute__((target("avx512f"))) static double row_lse_avx512(const float *Si, float *e, int N, double *sum_out)
{
    int a = 0;
    float mx = Si[0];
    if (N >= 16) {
        __m512 m16 = _mm512_set1_ps(Si[0]);
        for (; a + 16 <= N; a += 16) m16 = _mm512_max_ps(m16, _mm512_loadu_ps(Si + a));
        mx = _mm512_reduce_max_ps(m16);
    }
    for (; a < N; a++) mx = Si[a] > mx ? Si[a] : mx;
    const __m512 vmx = _mm512_set1_ps(mx);
    __m256 acc = _mm256_setzero_ps();
    a = 0;
    for (; a + 16 <= N; a += 16) {
        __m512 v = exp_nonpos16(_mm512_sub_ps(_mm512_loadu_ps(Si + a), vmx));
        _mm512_storeu_ps(e + a, v);
        acc = _mm256_add_ps(acc, _mm512_castps512_ps256(v));
        acc = _mm256_add_ps(acc, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    }
    if (a + 8 <= N) {
        __m512 v = exp_nonpos16(_mm512_sub_ps(_mm512_maskz_loadu_ps(0xff, Si + a), vmx));
        _mm512_mask_storeu_ps(e + a, 0xff, v);
        acc = _mm256_add_ps(acc, _mm512_castps512_ps256(v));
        a += 8;
    }
    double sum = 0;
    for (; a < N; a++) {
        e[a] = exp_nonpos(Si[a] - mx);
        sum += e[a];
    }
    float accv[8];
    _mm256_storeu_ps(accv, acc);
    for (int t = 0; t < 8; t++) sum += accv[t];
    *sum_out = sum;
    return (double)mx + log(sum);
}

static double row_lse(const float *Si, float *e, int N, double *sum_out)
{
    return mlcl__cpu_avx512() ? row_lse_avx512(Si, e, N, sum_out) : row_lse_base(Si, e, N, sum_out);
}
#else
#define row_lse row_lse_base
#endif

static void rows_supcon(const rowctx *x, int i0, int i1, int t)
{
    const mlcl_loss *L = x->L;
    int N = x->N;
    float *e = L->rowbuf[t];
    for (int i = i0; i < i1; i++) {
        float *Si = L->S + (size_t)i * N;
        const uint64_t *yi = x->y + (size_t)(x->off + i) * x->words;
        double sum, lse = row_lse(Si, e, N, &sum);
        float invsum = (float)(1.0 / sum), flse = (float)lse;
        int cnt = 0;
        double suml = 0;
        for (int a = 0; a < N; a++) {
            const uint64_t *ya = cand_y(x, a);
            int pos = x->mask == MLCL_MASK_ALL ? mlcl__lab_eq(yi, ya, x->words) : mlcl__lab_any(yi, ya, x->words);
            if (pos) {
                cnt++;
                suml += Si[a] - flse;
            }
            e[a] *= invsum; /* probability */
        }
        L->used_i[i] = cnt > 0;
        L->con_i[i] = cnt > 0 ? -suml / cnt : 0.0;
        if (!x->need_gq) continue;
        if (cnt == 0) {
            memset(Si, 0, (size_t)N * sizeof *Si);
            continue;
        }
        /* L_i = -(1/|P|) sum_P l  =>  dL/ds_a = s (p_a - [a in P] / |P|) */
        float ic = 1.0f / cnt, s = x->s;
        for (int a = 0; a < N; a++) {
            const uint64_t *ya = cand_y(x, a);
            int pos = x->mask == MLCL_MASK_ALL ? mlcl__lab_eq(yi, ya, x->words) : mlcl__lab_any(yi, ya, x->words);
            Si[a] = s * (e[a] - (pos ? ic : 0.0f));
        }
    }
}

/* cb[a] += v for the candidates a of one label's list: kept out of line so
 * that the loop has its few values in registers */
__attribute__((noinline)) static void label_scatter(const int *restrict idx, int cnt, float v, float *restrict cb)
{
    for (int r = 0; r < cnt; r++) cb[idx[r]] += v;
}

/* The candidates with a coefficient (cb[a] != 0: a sum of positive 1/|P^j|,
 * never 0 once touched) in increasing order into ta; returns the count. */
static int touched_scan_base(int N, const float *restrict cb, int *restrict ta)
{
    int k = 0;
    for (int a = 0; a < N; a++) {
        ta[k] = a; /* branch-free compaction */
        k += cb[a] != 0.0f;
    }
    return k;
}
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target("avx512f"))) static int touched_scan_avx512(int N, const float *restrict cb, int *restrict ta)
{
    __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_set1_epi32(16);
    const __m512 zero = _mm512_setzero_ps();
    int k = 0, a = 0;
    for (; a + 16 <= N; a += 16) {
        __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(cb + a), zero, _CMP_NEQ_OQ);
        _mm512_mask_compressstoreu_epi32(ta + k, m, idx);
        k += __builtin_popcount((unsigned)m);
        idx = _mm512_add_epi32(idx, step);
    }
    for (; a < N; a++)
        if (cb[a] != 0.0f) ta[k++] = a;
    return k;
}
static int touched_scan(int N, const float *restrict cb, int *restrict ta)
{
    return mlcl__cpu_avx512() ? touched_scan_avx512(N, cb, ta) : touched_scan_base(N, cb, ta);
}
#else
#define touched_scan touched_scan_base
#endif

/* MulSupCon's dL/dS row, s (p_a sum coef - coef_a) = ps e_a - s cb_a, dense
 * (cb_a = 0 where no label is shared: ps e_a - 0 is ps e_a exactly), and cb
 * cleared for the next anchor. */
MLCL_VEC_CLONES static void mulsupcon_grad_row(int N, float ps, float s, const float *restrict e, float *restrict cb,
                                               float *restrict Si)
{
    for (int a = 0; a < N; a++) {
        Si[a] = ps * e[a] - s * cb[a];
        cb[a] = 0.0f;
    }
}

/* MulSupCon: coef_a = sum_{j in y_i & y_a} 1/|P^j|, visited per label of the
 * anchor through the candidates holding it (loff/lidx, increasing a), so only
 * the set bits are touched; each coef_a is summed over j in increasing order
 * and the row's sums run over the touched candidates in increasing a (a
 * compact list made once per anchor by a scan of cb), as a dense pass over
 * all pairs would (a zero coefficient adds exactly nothing). The coefficients
 * are gathered before the row's log-sum-exp, while cb is still in the L1
 * cache. */
static void rows_mulsupcon(const rowctx *x, int i0, int i1, int t)
{
    const mlcl_loss *L = x->L;
    int N = x->N;
    size_t words = x->words;
    float *e = L->rowbuf[t], *cb = L->cbuf[t];
    int *ta = L->tlist[t];
    const float *inv = L->inv;
    const int *loff = L->loff, *lidx = L->lidx;
    for (int i = i0; i < i1; i++) {
        float *Si = L->S + (size_t)i * N;
        const uint64_t *yi = x->y + (size_t)(x->off + i) * words;
        for (size_t w = 0; w < words; w++)
            for (uint64_t b = yi[w]; b; b &= b - 1) {
                size_t j = w * 64 + (size_t)__builtin_ctzll(b);
                label_scatter(lidx + loff[j], loff[j + 1] - loff[j], inv[j], cb);
            }
        int nt = touched_scan(N, cb, ta);
        double sum, lse = row_lse(Si, e, N, &sum);
        float flse = (float)lse;
        double con = 0, sumc = 0;
        for (int u = 0; u < nt; u++) {
            int a = ta[u];
            float coef = cb[a];
            con -= (double)coef * (Si[a] - flse);
            sumc += coef;
        }
        L->used_i[i] = mlcl__lab_popcount(yi, words) > 0;
        L->con_i[i] = con;
        if (x->need_gq) {
            /* L_i = -sum_a coef_a l_a  =>  dL/ds_a = s (p_a sum coef - coef_a) */
            float ps = (float)(x->s * sumc / sum);
            mulsupcon_grad_row(N, ps, x->s, e, cb, Si);
        } else {
            for (int u = 0; u < nt; u++) cb[ta[u]] = 0.0f;
        }
    }
}

/* One anchor's running sums (LD). */
typedef struct ldsum {
    double con, G, H, sumA;
    float rws, rdiag;
    int npos;
    int nfall; /* distances summed again from the differences in ld_pair */
} ldsum;

/* The candidates marked in bm, in increasing order, into ta; bm is left
 * zero. Returns the count. */
static int touched_list(size_t bw, uint64_t *restrict bm, int *restrict ta)
{
    int k = 0;
    for (size_t w = 0; w < bw; w++) {
        uint64_t b = bm[w];
        if (!b) continue;
        bm[w] = 0;
        for (; b; b &= b - 1) ta[k++] = (int)(w * 64 + (size_t)__builtin_ctzll(b));
    }
    return k;
}

/* ||d_i - d_a||^2 of anchor i and candidate a, before the clamp at 0: from
 * the norms and the dot product (DW, or summed here when lazy); where that
 * cancels (below 1 % of the norms' sum) the first value decides and
 * pair_dist2_direct gives the value used. */
static inline float pair_dist2_gemm(const rowctx *x, int i, int a, const float *di)
{
    const mlcl_loss *L = x->L;
    float dni = L->dnorm[x->off + i];
    if (x->lazy) {
        const float *da = cand_d(x, a);
        float dot = 0;
        for (int j = 0; j < x->c; j++) dot += di[j] * da[j];
        return dni + L->dnorm[a] - 2.0f * dot;
    }
    return dni + L->dnorm[a] - 2.0f * L->DW[(size_t)i * x->N + a];
}

static inline int pair_dist2_cancels(const rowctx *x, int i, int a, float dist2)
{
    const mlcl_loss *L = x->L;
    float dsum = L->dnorm[x->off + i] + L->dnorm[a];
    return dist2 < 0.01f * dsum;
}

/* the distance summed from the differences (d_i = d_a gives 0 exactly) */
static inline float pair_dist2_direct(const rowctx *x, int a, const float *di)
{
    const float *da = cand_d(x, a);
    float acc = 0;
    for (int j = 0; j < x->c; j++) acc += (di[j] - da[j]) * (di[j] - da[j]);
    return acc;
}

/* pair_dist2 for the touched candidates ta[0..nt) of anchor i into dd (CLD): the
 * direct sums of the pairs that need them run eight at a time (eight
 * independent sums, each over j in order as pair_dist2_direct's, so the same
 * values: one float sum is a chain of dependent additions, and the distances
 * of near-uniform distributions, early in training, need it for most pairs) */
static int pair_dist2_list(const rowctx *x, int i, const float *di, const int *ta, int nt, float *dd, int *fl)
{
    int nf = 0, c = x->c;
    for (int u = 0; u < nt; u++) {
        float v = pair_dist2_gemm(x, i, ta[u], di);
        dd[u] = v;
        fl[nf] = u;
        nf += pair_dist2_cancels(x, i, ta[u], v);
    }
    int f = 0;
    for (; f + 8 <= nf; f += 8) {
        const float *dp[8];
        float acc[8] = { 0 };
        for (int q = 0; q < 8; q++) dp[q] = cand_d(x, ta[fl[f + q]]);
        for (int j = 0; j < c; j++) {
            float dj = di[j];
            for (int q = 0; q < 8; q++) acc[q] += (dj - dp[q][j]) * (dj - dp[q][j]);
        }
        for (int q = 0; q < 8; q++) dd[fl[f + q]] = acc[q];
    }
    for (; f < nf; f++) dd[fl[f]] = pair_dist2_direct(x, ta[fl[f]], di);
    return nf;
}

/* Candidate a of anchor i (LD), its coefficient coef = sum_{j in y_i & y_a}
 * d_a^j [/|P^j|] given (any: y_i & y_a is not empty): the anchor's sums, the
 * column sums, and the new value of S (before the softmax term, *sv) and of
 * DW (*wv) at a. Every non-zero term of the row comes from here: a candidate
 * sharing no label with the anchor (coef 0, not positive) adds exactly
 * nothing to the sums and has S = 0, DW = 0. */
static inline __attribute__((always_inline)) void ld_pair(const rowctx *x, int t, int i, int a, const uint64_t *yi, const float *di, float sa,
                           float flse, float p, float coef, int any, const float *pre_dist2, ldsum *r, float *sv,
                           float *wv)
{
    const mlcl_loss *L = x->L;
    int n = x->nb, c = x->c, off = x->off;
    const float s = x->s, tau = x->tau;
    const float rbf = 1.0f / (2.0f * x->sigma * x->sigma);
    const float isig2 = 1.0f / (x->sigma * x->sigma);
    const int rld = x->variant == MLCL_LD_RLD, logw = x->cldw == MLCL_CLD_WEIGHT_LOGPROB;
    float l = sa - flse;
    r->con -= (double)coef * l;
    float A = -s * coef, extra = 0, wm = 0;
    int pos = x->mask == MLCL_MASK_ALL ? mlcl__lab_eq(yi, cand_y(x, a), x->words) : any;
    if (pos) {
        r->npos++;
        float wgt;
        if (rld) {
            /* |q|^2 + |k|^2 - 2 q.k from the GEMM loses about eps (|q|^2 + |k|^2) to
             * cancellation, which the exponent multiplies by 1/(2 sigma^2) (1e-3 relative
             * at sigma 0.01). Where the weight can be non-zero and that error matters,
             * the distance is summed again from the differences. */
            float kn = L->knorm[a], nrm = L->qnorm[i] + kn;
            float dq2 = nrm - 2.0f * tau * sa;
            if (dq2 < x->rbf_keep + x->rbf_slack * nrm && rbf * nrm > RBF_DIRECT)
                dq2 = sqdist(x->q + (size_t)i * x->m, cand_k(x, a), x->m);
            wgt = exp_nonpos(-(dq2 > 0 ? dq2 : 0) * rbf); /* 0 below e^-87 */
        } else {
            wgt = logw ? l : p;
        }
        r->H += L->hval[a];
        if (a < n) L->colcnt[t][a] += 1.0f;
        if (wgt != 0.0f) {
            float dist2;
            if (pre_dist2) dist2 = *pre_dist2;
            else {
                dist2 = pair_dist2_gemm(x, i, a, di);
                if (pair_dist2_cancels(x, i, a, dist2)) {
                    dist2 = pair_dist2_direct(x, a, di);
                    r->nfall++;
                }
            }
            if (dist2 < 0) dist2 = 0;
            r->G += (double)wgt * dist2;
            wm = s * wgt;
            if (x->wgrad) {
                if (rld) {
                    /* dw/ds = w tau / sigma^2; dw/dq_i via |q_i|^2 = -w q_i / sigma^2 */
                    extra = s * dist2 * wgt * tau * isig2;
                    r->rdiag -= s * dist2 * wgt * isig2;
                } else {
                    A += s * dist2 * (logw ? 1.0f : p);
                }
            }
            if (x->lazy && x->need_gd) {
                /* dG/dd_i = 2w(d_i - d_a), dG/dd_a = 2w(d_a - d_i) */
                const float *da = cand_d(x, a);
                float *gi = L->gdw[t] + (size_t)(off + i) * c;
                float *ga = a < n ? L->gdw[t] + (size_t)a * c : NULL;
                for (int j = 0; j < c; j++) {
                    float g = 2.0f * wm * (di[j] - da[j]);
                    gi[j] += g;
                    if (ga) ga[j] -= g;
                }
            }
        }
        r->rws += wm;
        if (a < n) L->colw[t][a] += wm;
    }
    r->sumA += A;
    *sv = A + extra;
    *wv = wm;
}

#if defined(__x86_64__)
/* the upper eight lanes (AVX-512F only) */
__attribute__((target("avx512f"))) static inline __m256 hi8(__m512 v)
{
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/* One anchor's LD row, dense (CLD, ANY mask, DW from the GEMM, few labels;
 * rowctx.dense): sixteen candidates at a time, in increasing a, with the
 * values ld_pair computes for a touched candidate and 0 elsewhere, bit for
 * bit. The coefficients are the masked sums of d_a^j inv_j over the anchor's
 * labels in increasing j (the list pass's order); the distance is the GEMM
 * form, or the direct sum where that cancels (pair_dist2_*); the anchor's
 * double sums take the terms of the touched candidates in increasing a from a
 * compressed list, as ld_pair adds them (a pair whose weight is 0 adds +0.0
 * to G, which changes no bit: G starts at +0.0 and never becomes -0.0). Writes
 * the anchor's S row (dL/dS before the softmax term) and DW row (the weights). */
__attribute__((target("avx512f"))) static void ld_dense_anchor(const rowctx *x, int t, int i, const uint64_t *yi,
                                                              const float *di, const float *e, float flse,
                                                              float invsum, ldsum *r)
{
    const mlcl_loss *L = x->L;
    const int N = x->N, nb = x->nb, c = x->c, logw = x->cldw == MLCL_CLD_WEIGHT_LOGPROB, wgrad = x->wgrad;
    const size_t Np = (size_t)L->Np, nw = Np / 16;
    float *Si = L->S + (size_t)i * N, *DWi = L->DW + (size_t)i * N;
    float *colcnt = L->colcnt[t], *colw = L->colw[t];
    double *tc = L->dterm[t], *tg = tc + N, *th = tg + N, *tA = th + N;
    float *tw = L->fterm[t];
    int J[LD_DENSE_MAX_C], nj = 0;
    for (uint64_t b = yi[0]; b; b &= b - 1) J[nj++] = __builtin_ctzll(b);
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f), vflse = _mm512_set1_ps(flse),
                 vinv = _mm512_set1_ps(invsum), vs = _mm512_set1_ps(x->s), vms = _mm512_set1_ps(-x->s),
                 vdni = _mm512_set1_ps(L->dnorm[x->off + i]), two = _mm512_set1_ps(2.0f),
                 cent = _mm512_set1_ps(0.01f);
    int cnt = 0;
    for (int a0 = 0; a0 < N; a0 += 16) {
        const __mmask16 valid = N - a0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (N - a0)) - 1);
        const size_t ch = (size_t)a0 / 16;
        __m512 cb = zero;
        __mmask16 tm = 0;
        for (int u = 0; u < nj; u++) {
            __mmask16 mj = L->lb16[(size_t)J[u] * nw + ch];
            if (!mj) continue;
            __m512 v = _mm512_mul_ps(_mm512_loadu_ps(L->dT + (size_t)J[u] * Np + (size_t)a0), _mm512_set1_ps(L->inv[J[u]]));
            cb = _mm512_mask_add_ps(cb, mj, cb, v);
            tm |= mj;
        }
        if (!tm) {
            _mm512_mask_storeu_ps(Si + a0, valid, zero);
            _mm512_mask_storeu_ps(DWi + a0, valid, zero);
            continue;
        }
        __m512 l = _mm512_sub_ps(_mm512_maskz_loadu_ps(valid, Si + a0), vflse);
        __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(valid, e + a0), vinv);
        __m512 A = _mm512_mul_ps(vms, cb);
        __m512 wgt = logw ? l : p;
        __mmask16 nz = _mm512_mask_cmp_ps_mask(tm, wgt, zero, _CMP_NEQ_UQ);
        __m512 dist2 = zero;
        if (nz) {
            __m512 tsum = _mm512_add_ps(vdni, _mm512_maskz_loadu_ps(valid, L->dnorm + a0));
            __m512 g = _mm512_sub_ps(tsum, _mm512_mul_ps(two, _mm512_maskz_loadu_ps(valid, DWi + a0)));
            __mmask16 canc = _mm512_mask_cmp_ps_mask(nz, g, _mm512_mul_ps(cent, tsum), _CMP_LT_OQ);
            if (canc) {
                __m512 acc = zero;
                for (int j = 0; j < c; j++) {
                    __m512 df = _mm512_sub_ps(_mm512_set1_ps(di[j]), _mm512_loadu_ps(L->dT + (size_t)j * Np + (size_t)a0));
                    acc = _mm512_add_ps(acc, _mm512_mul_ps(df, df));
                }
                g = _mm512_mask_blend_ps(canc, g, acc);
            }
            dist2 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(g, zero, _CMP_LT_OQ), g, zero);
        }
        __m512 wm = _mm512_maskz_mul_ps(nz, vs, wgt);
        if (wgrad) A = _mm512_mask_add_ps(A, nz, A, _mm512_mul_ps(_mm512_mul_ps(vs, dist2), logw ? one : p));
        _mm512_mask_storeu_ps(Si + a0, valid, _mm512_maskz_add_ps(tm, A, zero));
        _mm512_mask_storeu_ps(DWi + a0, valid, _mm512_maskz_mov_ps(tm, wm));
        const __mmask16 bmk = tm & (nb - a0 >= 16 ? (__mmask16)0xFFFF : nb > a0 ? (__mmask16)((1u << (nb - a0)) - 1) : 0);
        if (bmk) {
            _mm512_mask_storeu_ps(colcnt + a0, bmk, _mm512_add_ps(_mm512_maskz_loadu_ps(bmk, colcnt + a0), one));
            _mm512_mask_storeu_ps(colw + a0, bmk, _mm512_add_ps(_mm512_maskz_loadu_ps(bmk, colw + a0), wm));
        }
        /* the terms of the touched candidates, compressed in order */
        for (int hf = 0; hf < 2; hf++) {
            const __mmask8 m8 = (__mmask8)(tm >> (8 * hf)), z8 = (__mmask8)(nz >> (8 * hf));
            if (!m8) continue;
            __m256 cb8 = hf ? hi8(cb) : _mm512_castps512_ps256(cb);
            __m256 l8 = hf ? hi8(l) : _mm512_castps512_ps256(l);
            __m256 w8 = hf ? hi8(wgt) : _mm512_castps512_ps256(wgt);
            __m256 d8 = hf ? hi8(dist2) : _mm512_castps512_ps256(dist2);
            __m256 A8 = hf ? hi8(A) : _mm512_castps512_ps256(A);
            _mm512_mask_compressstoreu_pd(tc + cnt, m8, _mm512_mul_pd(_mm512_cvtps_pd(cb8), _mm512_cvtps_pd(l8)));
            _mm512_mask_compressstoreu_pd(tg + cnt, m8,
                                          _mm512_maskz_mul_pd(z8, _mm512_cvtps_pd(w8), _mm512_cvtps_pd(d8)));
            _mm512_mask_compressstoreu_pd(th + cnt, m8, _mm512_maskz_loadu_pd(m8, L->hval + a0 + 8 * hf));
            _mm512_mask_compressstoreu_pd(tA + cnt, m8, _mm512_cvtps_pd(A8));
            cnt += __builtin_popcount(m8);
        }
        _mm512_mask_compressstoreu_ps(tw + cnt - __builtin_popcount(tm), tm, wm);
    }
    double con = r->con, G = r->G, H = r->H, sumA = r->sumA;
    float rws = r->rws;
    for (int u = 0; u < cnt; u++) {
        con -= tc[u];
        G += tg[u];
        H += th[u];
        sumA += tA[u];
        rws += tw[u];
    }
    r->con = con; r->G = G; r->H = H; r->sumA = sumA; r->rws = rws;
    r->npos += cnt;
}
#endif

/* the dense pass pays when the anchor's labels cover more than about 1/8 of
 * the candidates (it visits all of them, sixteen at a time; the list pass
 * costs several times more per touched pair) */
static inline int dense_pays(const rowctx *x, const uint64_t *yi)
{
    long long est = 0;
    for (uint64_t b = yi[0]; b; b &= b - 1) est += x->L->cnt[__builtin_ctzll(b)];
    return est * 8 >= x->N;
}

/* LD rows. The candidates sharing a label with the anchor are visited through
 * the per-label candidate lists (loff/lidx, values d_a^j inv_j in cval): their
 * coefficients are summed over the anchor's labels in increasing j, then the
 * pairs are visited in increasing a (bitmap), the order of a dense pass over
 * all candidates, which an anchor without labels still takes (ALL mask: its
 * positives are the candidates without labels). */
static void rows_ld(const rowctx *x, int i0, int i1, int t)
{
    const mlcl_loss *L = x->L;
    int N = x->N, n = x->nb, c = x->c, off = x->off; /* n: batch candidates */
    size_t words = x->words, bw = ((size_t)N + 63) / 64;
    float *e = L->rowbuf[t], *cb = L->cbuf[t], *wb = L->wbuf[t], *dd = L->dbuf[t];
    int *ta = L->tlist[t], *fl = L->flist[t];
    uint64_t *bm = L->bmap[t];
    const float *inv = L->inv, *cval = L->cval;
    const int *loff = L->loff, *lidx = L->lidx;
    float *gdw = L->gdw[t];
    const float s = x->s;
    const int dwg = x->dwgrad && x->need_gd;
    int many_fall = 1;
    for (int i = i0; i < i1; i++) {
        float *Si = L->S + (size_t)i * N;
        float *DWi = L->DW + (size_t)i * N;
        const uint64_t *yi = x->y + (size_t)(off + i) * words;
        const float *di = x->d + (size_t)(off + i) * c;
        double sum, lse = row_lse(Si, e, N, &sum);
        float flse = (float)lse, invsum = (float)(1.0 / sum);
        ldsum r = { 0 };
        if (mlcl__lab_popcount(yi, words) == 0) {
            for (int a = 0; a < N; a++) {
                float sv, wv;
                ld_pair(x, t, i, a, yi, di, Si[a], flse, e[a] * invsum, 0.0f, 0, NULL, &r, &sv, &wv);
                if (!x->lazy) DWi[a] = wv;
                Si[a] = sv;
            }
#if defined(__x86_64__)
        } else if (x->dense && dense_pays(x, yi)) {
            ld_dense_anchor(x, t, i, yi, di, e, flse, invsum, &r);
#endif
        } else {
            /* coefficients (cb) of the candidates sharing a label (bm) */
            for (size_t w = 0; w < words; w++)
                for (uint64_t b = yi[w]; b; b &= b - 1) {
                    size_t j = w * 64 + (size_t)__builtin_ctzll(b);
                    for (int q = loff[j]; q < loff[j + 1]; q++) {
                        int a = lidx[q];
                        cb[a] += cval[q];
                        bm[a >> 6] |= UINT64_C(1) << (a & 63);
                        if (dwg && !x->lazy && a < n) gdw[(size_t)a * c + j] -= s * (Si[a] - flse) * inv[j];
                    }
                }
            /* the touched candidates in increasing a, their distances first */
            int nt = touched_list(bw, bm, ta);
            /* CLD weighs every positive pair (the softmax probability): when
             * many of them need the direct sum (near-uniform distributions,
             * early in training; judged from the previous anchor) all the
             * distances come first, the direct sums eight at a time. Else,
             * and for RLD (whose RBF weights are mostly exactly 0), ld_pair
             * computes each distance it needs. The same values either way. */
            const int pre = x->variant != MLCL_LD_RLD && many_fall;
            int nf = pre ? pair_dist2_list(x, i, di, ta, nt, dd, fl) : 0;
            for (int u = 0; u < nt; u++) {
                int a = ta[u];
                if (dwg && x->lazy && a < n) {
                    /* the lazy G gradients share gdw: keep the per-pair order */
                    const uint64_t *ya = cand_y(x, a);
                    float l = Si[a] - flse;
                    for (size_t w = 0; w < words; w++)
                        for (uint64_t cbits = yi[w] & ya[w]; cbits; cbits &= cbits - 1) {
                            size_t j = w * 64 + (size_t)__builtin_ctzll(cbits);
                            gdw[(size_t)a * c + j] -= s * l * inv[j];
                        }
                }
                ld_pair(x, t, i, a, yi, di, Si[a], flse, e[a] * invsum, cb[a], 1, pre ? &dd[u] : NULL, &r, &cb[a],
                        &wb[a]);
            }
            many_fall = 8 * (pre ? nf : r.nfall) >= nt;
            /* S and DW of the whole row: 0 where no label is shared */
            for (int a = 0; a < N; a++) Si[a] = cb[a];
            if (!x->lazy)
                for (int a = 0; a < N; a++) DWi[a] = wb[a];
            for (int u = 0; u < nt; u++) {
                cb[ta[u]] = 0.0f;
                wb[ta[u]] = 0.0f;
            }
        }
        L->used_i[i] = r.npos > 0;
        L->con_i[i] = r.con;
        L->G_i[i] = r.G;
        L->H_i[i] = r.H;
        L->rws[i] = r.rws;
        L->rdiag[i] = r.rdiag;
        if (!x->need_gq) continue;
        /* l_a = s_a - lse: dL/ds_a = dL/dl_a - p_a sum_b dL/dl_b (+ the direct RBF part) */
        float ps = (float)(r.sumA / sum);
        for (int a = 0; a < N; a++) Si[a] -= ps * e[a];
    }
}

/* Share t of T of the anchors (the row pass over T threads, mlcl__par_for):
 * the GEMM stages on exactly these rows, and the row pass. */
static void row_share(void *arg, int t)
{
    const rowctx *x = arg;
    const mlcl_loss *L = x->L;
    int i0 = (int)((long long)x->n * t / x->T), i1 = (int)((long long)x->n * (t + 1) / x->T), r = i1 - i0;
    int N = x->N, nb = x->nb, F = x->F, m = x->m, c = x->c;
    if (r <= 0) return;
    const float itau = 1.0f / x->tau;
    float *S = L->S + (size_t)i0 * N, *DW = L->DW + (size_t)i0 * N;
    if (x->do_S) {
        const float *q = x->q + (size_t)i0 * m;
        mlcl__sgemm(0, 1, r, nb, m, itau, q, m, x->k, m, 0.0f, S, N);
        if (F > 0) mlcl__sgemm(0, 1, r, F, m, itau, q, m, x->kq, m, 0.0f, S + nb, N);
    }
    if (x->do_DW) {
        const float *da = x->da0 + (size_t)i0 * c;
        mlcl__sgemm(0, 1, r, nb, c, 1.0f, da, c, x->d, c, 0.0f, DW, N);
        if (F > 0) mlcl__sgemm(0, 1, r, F, c, 1.0f, da, c, x->dq, c, 0.0f, DW + nb, N);
    }
    if (x->method == MLCL_LOSS_SUPCON) rows_supcon(x, i0, i1, t);
    else if (x->method == MLCL_LOSS_MULSUPCON) rows_mulsupcon(x, i0, i1, t);
    else rows_ld(x, i0, i1, t);
    if (x->grad_q) {
        float *g = x->grad_q + (size_t)i0 * m;
        mlcl__sgemm(0, 0, r, m, nb, itau, S, N, x->k, m, 1.0f, g, m);
        if (F > 0) mlcl__sgemm(0, 0, r, m, F, itau, S + nb, N, x->kq, m, 1.0f, g, m);
        if (x->method == MLCL_LOSS_LD && x->variant == MLCL_LD_RLD && x->wgrad)
            for (int i = i0; i < i1; i++) {
                float rd = L->rdiag[i];
                if (rd == 0.0f) continue;
                float *gi = x->grad_q + (size_t)i * m;
                const float *qi = x->q + (size_t)i * m;
                for (int j = 0; j < m; j++) gi[j] += rd * qi[j];
            }
    }
    if (x->gda) {
        /* G: grad_d_i += -2 sum_a w_ia d_a (the rest after the join) */
        float *g = x->gda + (size_t)i0 * c;
        mlcl__sgemm(0, 0, r, c, nb, -2.0f, DW, N, x->d, c, 1.0f, g, c);
        if (F > 0) mlcl__sgemm(0, 0, r, c, F, -2.0f, DW + nb, N, x->dq, c, 1.0f, g, c);
    }
}

void mlcl__loss_run_rows(const rowctx *x)
{
    if (x->T <= 1) row_share((void *)x, 0);
    else mlcl__par_for(x->T, row_share, (void *)x);
}

static void logit_share(void *arg, int t)
{
    const rowctx *x = arg;
    const mlcl_loss *L = x->L;
    int i0 = (int)((long long)x->n * t / x->T), i1 = (int)((long long)x->n * (t + 1) / x->T), r = i1 - i0;
    int N = x->N, nb = x->nb, F = x->F, m = x->m;
    x->alive[t] = 0;
    if (r <= 0) return;
    const float itau = 1.0f / x->tau, tau = x->tau, lim = x->rbf_lim, slack = x->rbf_slack;
    const float *q = x->q + (size_t)i0 * m;
    mlcl__sgemm(0, 1, r, nb, m, itau, q, m, x->k, m, 0.0f, L->S + (size_t)i0 * N, N);
    if (F > 0) mlcl__sgemm(0, 1, r, F, m, itau, q, m, x->kq, m, 0.0f, L->S + (size_t)i0 * N + nb, N);
    size_t alive = 0;
    for (int i = i0; i < i1; i++) {
        const float *Si = L->S + (size_t)i * N;
        float qn = L->qnorm[i];
        for (int a = 0; a < N; a++) {
            float nrm = qn + L->knorm[a];
            alive += nrm - 2.0f * tau * Si[a] < lim + slack * nrm;
        }
    }
    x->alive[t] = alive;
}

void mlcl__loss_run_logits(const rowctx *x)
{
    if (x->T <= 1) logit_share((void *)x, 0);
    else mlcl__par_for(x->T, logit_share, (void *)x);
}
