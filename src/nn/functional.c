/* Stand-alone row kernels: softmax, sigmoid, BCE with logits, L2 norm. */
#include <string.h>
#include "nn_lib.h"
#include "mlcl/ops.h"

void mlcl__softmax_rows(int n, int c, const float *logits, float *prob)
{
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * c;
        float *p = prob + (size_t)i * c;
        float mx = l[0];
        for (int j = 1; j < c; j++) if (l[j] > mx) mx = l[j];
        double s = 0.0;
        for (int j = 0; j < c; j++) { p[j] = expf(l[j] - mx); s += p[j]; }
        float inv = (float)(1.0 / s);
        for (int j = 0; j < c; j++) p[j] *= inv;
    }
}

/* d softmax: gl_j = p_j (g_j - sum_k g_k p_k) */
void mlcl__softmax_rows_bwd(int n, int c, const float *prob, const float *g, float *gl, int acc)
{
    for (int i = 0; i < n; i++) {
        const float *p = prob + (size_t)i * c, *gi = g + (size_t)i * c;
        float *o = gl + (size_t)i * c;
        double dot = 0.0;
        for (int j = 0; j < c; j++) dot += (double)gi[j] * p[j];
        float d = (float)dot;
        if (acc) for (int j = 0; j < c; j++) o[j] += p[j] * (gi[j] - d);
        else for (int j = 0; j < c; j++) o[j] = p[j] * (gi[j] - d);
    }
}

/* The dot products <a_r, b_r> of four consecutive rows (stride m), each
 * summed in double over j in order: four independent chains instead of one
 * (a chain is one dependent addition per element), the same sums. */
static void dot4(int m, const float *a, const float *b, double s[4])
{
    const float *a0 = a, *a1 = a + m, *a2 = a + 2 * (size_t)m, *a3 = a + 3 * (size_t)m;
    const float *b0 = b, *b1 = b + m, *b2 = b + 2 * (size_t)m, *b3 = b + 3 * (size_t)m;
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    for (int j = 0; j < m; j++) {
        s0 += (double)a0[j] * b0[j];
        s1 += (double)a1[j] * b1[j];
        s2 += (double)a2[j] * b2[j];
        s3 += (double)a3[j] * b3[j];
    }
    s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
}

static double dot1(int m, const float *a, const float *b)
{
    double s = 0.0;
    for (int j = 0; j < m; j++) s += (double)a[j] * b[j];
    return s;
}

void mlcl__l2norm_rows(int n, int m, const float *x, float *out, float *norms)
{
    double s4[4];
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * m;
        float *o = out + (size_t)i * m;
        if ((i & 3) == 0 && i + 4 <= n) dot4(m, xi, xi, s4);
        double s = i + 4 - (i & 3) <= n ? s4[i & 3] : dot1(m, xi, xi);
        float nr = (float)sqrt(s);
        if (norms) norms[i] = nr;
        float inv = 1.0f / (nr > MLCL__L2_EPS ? nr : MLCL__L2_EPS);
        for (int j = 0; j < m; j++) o[j] = xi[j] * inv;
    }
}

/* y = x/||x||: dx = (g - y <y,g>) / ||x||; below eps the divisor is the
 * constant eps, so dx = g / eps. */
void mlcl__l2norm_rows_bwd(int n, int m, const float *out, const float *norms, const float *g,
                           float *gx, int acc)
{
    double s4[4];
    for (int i = 0; i < n; i++) {
        const float *y = out + (size_t)i * m, *gi = g + (size_t)i * m;
        float *o = gx + (size_t)i * m;
        float nr = norms[i];
        if ((i & 3) == 0 && i + 4 <= n) dot4(m, y, gi, s4);
        if (nr > MLCL__L2_EPS) {
            double dot = i + 4 - (i & 3) <= n ? s4[i & 3] : dot1(m, y, gi);
            float d = (float)dot, inv = 1.0f / nr;
            if (acc) for (int j = 0; j < m; j++) o[j] += (gi[j] - y[j] * d) * inv;
            else for (int j = 0; j < m; j++) o[j] = (gi[j] - y[j] * d) * inv;
        } else {
            float inv = 1.0f / MLCL__L2_EPS;
            if (acc) for (int j = 0; j < m; j++) o[j] += gi[j] * inv;
            else for (int j = 0; j < m; j++) o[j] = gi[j] * inv;
        }
    }
}

static int check_nc(const char *fn, int n, int c, size_t *total)
{
    if (n <= 0) return mlcl__err(MLCL_EINVAL, "%s: n must be > 0 (got %d)", fn, n);
    if (c <= 0) return mlcl__err(MLCL_EINVAL, "%s: c must be > 0 (got %d)", fn, c);
    *total = (size_t)n * (size_t)c;
    return MLCL_OK;
}

int mlcl_softmax_forward(float *prob, const float *logits, int n, int c)
{
    static const char fn[] = "mlcl_softmax_forward";
    size_t t = 0;
    MLCL_TRY(check_nc(fn, n, c, &t));
    MLCL_CHECK_NULL(fn, logits);
    MLCL_CHECK_NULL(fn, prob);
    if (!mlcl__all_finite(logits, t)) return mlcl__err(MLCL_ENUMERIC, "%s: logits contain NaN or Inf", fn);
    mlcl__softmax_rows(n, c, logits, prob);
    return MLCL_OK;
}

int mlcl_softmax_backward(float *grad_logits, const float *prob, const float *grad_prob, int n, int c)
{
    static const char fn[] = "mlcl_softmax_backward";
    size_t t = 0;
    MLCL_TRY(check_nc(fn, n, c, &t));
    MLCL_CHECK_NULL(fn, prob);
    MLCL_CHECK_NULL(fn, grad_prob);
    MLCL_CHECK_NULL(fn, grad_logits);
    mlcl__softmax_rows_bwd(n, c, prob, grad_prob, grad_logits, 1);
    return MLCL_OK;
}

int mlcl_sigmoid(float *out, const float *x, size_t n)
{
    static const char fn[] = "mlcl_sigmoid";
    if (n == 0) return MLCL_OK;
    MLCL_CHECK_NULL(fn, x);
    MLCL_CHECK_NULL(fn, out);
    for (size_t k = 0; k < n; k++) {
        float v = x[k];
        if (v >= 0.0f) out[k] = 1.0f / (1.0f + expf(-v));
        else { float e = expf(v); out[k] = e / (1.0f + e); }
    }
    return MLCL_OK;
}

int mlcl_l2norm_forward(float *out, float *norms_out, const float *x, int n, int m)
{
    static const char fn[] = "mlcl_l2norm_forward";
    size_t t = 0;
    if (n <= 0) return mlcl__err(MLCL_EINVAL, "%s: n must be > 0 (got %d)", fn, n);
    if (m <= 0) return mlcl__err(MLCL_EINVAL, "%s: m must be > 0 (got %d)", fn, m);
    t = (size_t)n * (size_t)m;
    MLCL_CHECK_NULL(fn, x);
    MLCL_CHECK_NULL(fn, out);
    if (!mlcl__all_finite(x, t)) return mlcl__err(MLCL_ENUMERIC, "%s: x contains NaN or Inf", fn);
    mlcl__l2norm_rows(n, m, x, out, norms_out);
    return MLCL_OK;
}

int mlcl_l2norm_backward(float *grad_x, const float *out, const float *norms, const float *grad_out, int n,
                         int m)
{
    static const char fn[] = "mlcl_l2norm_backward";
    if (n <= 0) return mlcl__err(MLCL_EINVAL, "%s: n must be > 0 (got %d)", fn, n);
    if (m <= 0) return mlcl__err(MLCL_EINVAL, "%s: m must be > 0 (got %d)", fn, m);
    MLCL_CHECK_NULL(fn, out);
    MLCL_CHECK_NULL(fn, norms);
    MLCL_CHECK_NULL(fn, grad_out);
    MLCL_CHECK_NULL(fn, grad_x);
    mlcl__l2norm_rows_bwd(n, m, out, norms, grad_out, grad_x, 1);
    return MLCL_OK;
}
