/* SimCLR image augmentations (torchvision semantics) and the bilinear resize.
 * The order of the random draws is part of the API (include/mlcl/image.h). */
#include <string.h>
#include "core/internal.h"
#include "kernels/gemm.h"
#include "kernels/par.h"
#include "data/image_internal.h"

/* Grayscale weights, ITU-R 601-2. */
#define GRAY_R 0.299f
#define GRAY_G 0.587f
#define GRAY_B 0.114f


/* Work below which the batch is not split over two threads. */
#define PAR_MIN_WORK (1 << 16)

int mlcl_simclr_options_init(mlcl_simclr_options *o, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_simclr_options_init", o, version, MLCL_SIMCLR_OPTIONS_VERSION, mlcl_simclr_options, MLCL_SIMCLR_OPTIONS_INIT);
}

/* ------------------------------------------------------------------------ */
/* Kernels on one plane */

/* Bilinear resize (align_corners = False) of the ch x cw window at (y0, x0)
 * of a plane with row stride `stride` into an oh x ow plane. The arithmetic
 * follows PyTorch's CPU kernel in float: scale = in / out, source coordinate
 * scale * (o + 0.5) - 0.5 clamped at 0, neighbour index clamped at the end. */
static void resize_plane(float *restrict dst, int oh, int ow, const float *restrict src,
                         int stride, int y0, int x0, int ch, int cw)
{
    const float sh = (float)ch / (float)oh, sw = (float)cw / (float)ow;
    for (int y = 0; y < oh; y++) {
        float fy = sh * ((float)y + 0.5f) - 0.5f;
        if (fy < 0.0f) fy = 0.0f;
        int iy = (int)fy;
        if (iy > ch - 1) iy = ch - 1;
        int iy1 = iy + (iy < ch - 1 ? 1 : 0);
        float ly1 = fy - (float)iy, ly0 = 1.0f - ly1;
        const float *r0 = src + (size_t)(y0 + iy) * (size_t)stride + x0;
        const float *r1 = src + (size_t)(y0 + iy1) * (size_t)stride + x0;
        float *out = dst + (size_t)y * (size_t)ow;
        for (int x = 0; x < ow; x++) {
            float fx = sw * ((float)x + 0.5f) - 0.5f;
            if (fx < 0.0f) fx = 0.0f;
            int ix = (int)fx;
            if (ix > cw - 1) ix = cw - 1;
            int ix1 = ix + (ix < cw - 1 ? 1 : 0);
            float lx1 = fx - (float)ix, lx0 = 1.0f - lx1;
            out[x] = ly0 * (lx0 * r0[ix] + lx1 * r0[ix1]) + ly1 * (lx0 * r1[ix] + lx1 * r1[ix1]);
        }
    }
}

static inline float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

/* Reflect padding index (mirror without repeating the edge), periodic for
 * offsets beyond one image width. */
static inline int reflect(int i, int n)
{
    if (n == 1) return 0;
    int period = 2 * (n - 1);
    int m = i % period;
    if (m < 0) m += period;
    return m < n ? m : period - m;
}

/* ------------------------------------------------------------------------ */
/* Colour operations on one image (c x hw) in place */

static void adjust_brightness(float *img, size_t len, float f)
{
    for (size_t i = 0; i < len; i++) img[i] = clamp01(f * img[i]);
}

static void adjust_contrast(float *img, int c, size_t hw, float f)
{
    double mean = 0.0;
    if (c == 3) {
        const float *r = img, *g = img + hw, *b = img + 2 * hw;
        for (size_t i = 0; i < hw; i++) mean += (double)(GRAY_R * r[i] + GRAY_G * g[i] + GRAY_B * b[i]);
        mean /= (double)hw;
    } else {
        size_t len = (size_t)c * hw;
        for (size_t i = 0; i < len; i++) mean += (double)img[i];
        mean /= (double)len;
    }
    const float m = (float)((1.0 - (double)f) * mean);
    size_t len = (size_t)c * hw;
    for (size_t i = 0; i < len; i++) img[i] = clamp01(f * img[i] + m);
}

static void adjust_saturation(float *img, size_t hw, float f)
{
    float *r = img, *g = img + hw, *b = img + 2 * hw;
    const float f1 = 1.0f - f;
    for (size_t i = 0; i < hw; i++) {
        float l = GRAY_R * r[i] + GRAY_G * g[i] + GRAY_B * b[i];
        r[i] = clamp01(f * r[i] + f1 * l);
        g[i] = clamp01(f * g[i] + f1 * l);
        b[i] = clamp01(f * b[i] + f1 * l);
    }
}

/* Hue rotation through HSV, as torchvision's _rgb2hsv / _hsv2rgb, with the
 * hue kept in sextants ([0, 6)) to save divisions. */
static void adjust_hue(float *img, size_t hw, float shift)
{
    float *R = img, *G = img + hw, *B = img + 2 * hw;
    const float shift6 = 6.0f * shift;
    for (size_t i = 0; i < hw; i++) {
        float r = R[i], g = G[i], b = B[i];
        float maxc = r > g ? r : g, minc = r < g ? r : g; /* finite inputs: no fmaxf needed */
        maxc = b > maxc ? b : maxc;
        minc = b < minc ? b : minc;
        float cr = maxc - minc;
        float h6 = 0.0f, s = 0.0f;
        if (cr > 0.0f) {
            float inv = 1.0f / cr;
            s = maxc > 0.0f ? cr / maxc : 0.0f;
            if (maxc == r) h6 = (g - b) * inv;
            else if (maxc == g) h6 = 2.0f + (b - r) * inv;
            else h6 = 4.0f + (r - g) * inv;
        }
        h6 += shift6;                 /* in (-4, 9): bring to [0, 6) */
        if (h6 < 0.0f) h6 += 6.0f;
        if (h6 < 0.0f) h6 += 6.0f;
        if (h6 >= 6.0f) h6 -= 6.0f;
        if (h6 >= 6.0f) h6 -= 6.0f;
        int sector = (int)h6;
        if (sector > 5) sector = 5;
        float f = h6 - (float)sector;
        float v = maxc;
        float p = clamp01(v * (1.0f - s));
        float q = clamp01(v * (1.0f - s * f));
        float t = clamp01(v * (1.0f - s * (1.0f - f)));
        switch (sector) {
        case 0: r = v; g = t; b = p; break;
        case 1: r = q; g = v; b = p; break;
        case 2: r = p; g = v; b = t; break;
        case 3: r = p; g = q; b = v; break;
        case 4: r = t; g = p; b = v; break;
        default: r = v; g = p; b = q; break;
        }
        R[i] = r; G[i] = g; B[i] = b;
    }
}

static void to_grayscale(float *img, size_t hw)
{
    float *r = img, *g = img + hw, *b = img + 2 * hw;
    for (size_t i = 0; i < hw; i++) {
        float l = GRAY_R * r[i] + GRAY_G * g[i] + GRAY_B * b[i];
        r[i] = l; g[i] = l; b[i] = l;
    }
}

/* Separable Gaussian blur of one h x w plane; tmp holds h*w floats, pad
 * w + k - 1 floats, k1 the normalised kernel of size k. Each pass is a sum of
 * k shifted rows (vectorisable). */
static void blur_plane(float *plane, int h, int w, float *restrict tmp, float *restrict pad,
                       const float *k1, int k)
{
    const int half = k / 2;
    for (int y = 0; y < h; y++) {
        const float *row = plane + (size_t)y * (size_t)w;
        for (int x = 0; x < w + k - 1; x++) pad[x] = row[reflect(x - half, w)];
        float *out = tmp + (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++) out[x] = 0.0f;
        for (int t = 0; t < k; t++) {
            const float kt = k1[t];
            const float *p = pad + t;
            for (int x = 0; x < w; x++) out[x] += kt * p[x];
        }
    }
    for (int y = 0; y < h; y++) {
        float *out = plane + (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++) out[x] = 0.0f;
        for (int t = 0; t < k; t++) {
            const float kt = k1[t];
            const float *row = tmp + (size_t)reflect(y - half + t, h) * (size_t)w;
            for (int x = 0; x < w; x++) out[x] += kt * row[x];
        }
    }
}

/* torchvision's _get_gaussian_kernel1d: x = linspace(-(k-1)/2, (k-1)/2, k),
 * exp(-x^2 / (2 sigma^2)), normalised to sum 1. */
static void gaussian_kernel(float *k1, int k, float sigma)
{
    const double half = (k - 1) * 0.5;
    double sum = 0.0;
    for (int t = 0; t < k; t++) {
        double x = (double)t - half;
        double v = exp(-0.5 * (x / sigma) * (x / sigma));
        k1[t] = (float)v;
        sum += v;
    }
    for (int t = 0; t < k; t++) k1[t] = (float)((double)k1[t] / sum);
}

/* ------------------------------------------------------------------------ */
/* The pipeline */

typedef struct simclr_job {
    float *dst;
    const float *src;
    int i0, i1;          /* images [i0, i1) */
    int c, h, w, oh, ow, k;
    const mlcl_simclr_options *o;
    mlcl__pcg seeds;     /* the caller's stream positioned at image i0 */
    float *scratch;      /* oh*ow + k floats, or NULL when blur_p == 0 */
} simclr_job;

static inline double uni(mlcl__pcg *r, double a, double b)
{
    return a + (b - a) * (double)mlcl__pcg_uniform(r);
}

/* Python's round(): half to even. */
static inline int round_half_even(double v)
{
    double f = floor(v), d = v - f;
    double r = d > 0.5 ? f + 1.0 : (d < 0.5 ? f : (fmod(f, 2.0) == 0.0 ? f : f + 1.0));
    return r > 2147483647.0 ? 2147483647 : (int)r;
}

/* RandomResizedCrop.get_params. */
void mlcl__simclr_crop(mlcl__pcg *r, int h, int w, const mlcl_simclr_options *o, int *top,
                       int *left, int *ch, int *cw)
{
    const double area = (double)h * (double)w;
    const double lr0 = log((double)o->ratio_min), lr1 = log((double)o->ratio_max);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * uni(r, o->scale_min, o->scale_max);
        double ar = exp(uni(r, lr0, lr1));
        int cwi = round_half_even(sqrt(target * ar));
        int chi = round_half_even(sqrt(target / ar));
        if (cwi > 0 && cwi <= w && chi > 0 && chi <= h) {
            *top = (int)mlcl__pcg_bounded(r, (uint32_t)(h - chi + 1));
            *left = (int)mlcl__pcg_bounded(r, (uint32_t)(w - cwi + 1));
            *ch = chi;
            *cw = cwi;
            return;
        }
    }
    /* central crop fallback */
    double in_ratio = (double)w / (double)h;
    int chi, cwi;
    if (in_ratio < (double)o->ratio_min) {
        cwi = w;
        chi = round_half_even((double)cwi / (double)o->ratio_min);
    } else if (in_ratio > (double)o->ratio_max) {
        chi = h;
        cwi = round_half_even((double)chi * (double)o->ratio_max);
    } else {
        cwi = w;
        chi = h;
    }
    if (chi < 1) chi = 1;
    if (chi > h) chi = h;
    if (cwi < 1) cwi = 1;
    if (cwi > w) cwi = w;
    *top = (h - chi) / 2;
    *left = (w - cwi) / 2;
    *ch = chi;
    *cw = cwi;
}

static void simclr_one(float *out, const float *in, const simclr_job *j, mlcl__pcg *r)
{
    const mlcl_simclr_options *o = j->o;
    const int c = j->c, h = j->h, w = j->w, oh = j->oh, ow = j->ow;
    const size_t ohw = (size_t)oh * (size_t)ow, ihw = (size_t)h * (size_t)w;

    /* 1. crop + resize */
    int top = 0, left = 0, ch = h, cw = w;
    if (mlcl__pcg_uniform(r) < o->crop_p) mlcl__simclr_crop(r, h, w, o, &top, &left, &ch, &cw);
    if (ch == oh && cw == ow) {
        for (int p = 0; p < c; p++)
            for (int y = 0; y < oh; y++)
                memcpy(out + p * ohw + (size_t)y * (size_t)ow,
                       in + p * ihw + (size_t)(top + y) * (size_t)w + left, (size_t)ow * sizeof(float));
    } else {
        for (int p = 0; p < c; p++)
            resize_plane(out + p * ohw, oh, ow, in + p * ihw, w, top, left, ch, cw);
    }

    /* 2. horizontal flip */
    if (mlcl__pcg_uniform(r) < o->flip_p) {
        for (size_t row = 0; row < (size_t)c * (size_t)oh; row++) {
            float *a = out + row * (size_t)ow;
            for (int x = 0, y = ow - 1; x < y; x++, y--) {
                float t = a[x]; a[x] = a[y]; a[y] = t;
            }
        }
    }

    /* 3. colour jitter, in a random order */
    if (mlcl__pcg_uniform(r) < o->jitter_p) {
        int order[4];
        mlcl__pcg_permutation(r, order, 4);
        float fb = (float)uni(r, fmax(0.0, 1.0 - o->brightness), 1.0 + o->brightness);
        float fc = (float)uni(r, fmax(0.0, 1.0 - o->contrast), 1.0 + o->contrast);
        float fs = (float)uni(r, fmax(0.0, 1.0 - o->saturation), 1.0 + o->saturation);
        float fh = (float)uni(r, -(double)o->hue, (double)o->hue);
        for (int t = 0; t < 4; t++) {
            switch (order[t]) {
            case 0: if (o->brightness > 0.0f) adjust_brightness(out, (size_t)c * ohw, fb); break;
            case 1: if (o->contrast > 0.0f) adjust_contrast(out, c, ohw, fc); break;
            case 2: if (o->saturation > 0.0f && c == 3) adjust_saturation(out, ohw, fs); break;
            default: if (o->hue > 0.0f && c == 3) adjust_hue(out, ohw, fh); break;
            }
        }
    }

    /* 4. grayscale */
    if (mlcl__pcg_uniform(r) < o->gray_p && c == 3) to_grayscale(out, ohw);

    /* 5. Gaussian blur */
    if (mlcl__pcg_uniform(r) < o->blur_p) {
        float sigma = (float)uni(r, o->blur_sigma_min, o->blur_sigma_max);
        if (j->k > 1) {
            float *tmp = j->scratch, *k1 = j->scratch + ohw, *pad = k1 + j->k;
            gaussian_kernel(k1, j->k, sigma);
            for (int p = 0; p < c; p++) blur_plane(out + p * ohw, oh, ow, tmp, pad, k1, j->k);
        }
    }
}

static void simclr_run(void *arg)
{
    simclr_job *j = arg;
    const size_t in_sz = (size_t)j->c * (size_t)j->h * (size_t)j->w;
    const size_t out_sz = (size_t)j->c * (size_t)j->oh * (size_t)j->ow;
    for (int i = j->i0; i < j->i1; i++) {
        uint64_t hi = mlcl__pcg_u32(&j->seeds), lo = mlcl__pcg_u32(&j->seeds);
        mlcl__pcg r;
        mlcl__pcg_seed(&r, (hi << 32) | lo, MLCL__SIMCLR_STREAM);
        simclr_one(j->dst + (size_t)i * out_sz, j->src + (size_t)i * in_sz, j, &r);
    }
}

/* Checks the sizes; *in_total / *out_total get the element counts. */
static int check_sizes(const char *fn, int n, int c, int h, int w, int oh, int ow,
                       size_t *in_total, size_t *out_total)
{
    if (n < 0) return mlcl__err(MLCL_EINVAL, "%s: n must be >= 0 (got %d)", fn, n);
    MLCL_CHECK_POS(fn, c);
    MLCL_CHECK_POS(fn, h);
    MLCL_CHECK_POS(fn, w);
    size_t a, b;
    if (mlcl__mul_size((size_t)n, (size_t)c, &a) || mlcl__mul_size(a, (size_t)h, &a) ||
        mlcl__mul_size(a, (size_t)w, &a) || a > SIZE_MAX / sizeof(float) ||
        mlcl__mul_size((size_t)n, (size_t)c, &b) || mlcl__mul_size(b, (size_t)oh, &b) ||
        mlcl__mul_size(b, (size_t)ow, &b) || b > SIZE_MAX / sizeof(float))
        return mlcl__err(MLCL_EOVERFLOW, "%s: n * c * h * w overflows", fn);
    *in_total = a;
    *out_total = b;
    return MLCL_OK;
}

static int overlaps(const float *a, size_t na, const float *b, size_t nb)
{
    uintptr_t a0 = (uintptr_t)a, a1 = a0 + na * sizeof(float);
    uintptr_t b0 = (uintptr_t)b, b1 = b0 + nb * sizeof(float);
    return a0 < b1 && b0 < a1;
}

static int check_finite(const char *fn, const float *src, size_t total)
{
    for (size_t i = 0; i < total; i++)
        if (!isfinite(src[i]))
            return mlcl__err(MLCL_ENUMERIC, "%s: src[%zu] is not finite", fn, i);
    return MLCL_OK;
}

#define CHECK_PROB(fn, o, f)                                                                  \
    do {                                                                                      \
        if (!((o)->f >= 0.0f && (o)->f <= 1.0f))                                              \
            return mlcl__err(MLCL_EINVAL, "%s: o->" #f " must be in [0, 1] (got %g)", fn,     \
                             (double)(o)->f);                                                 \
    } while (0)

static int check_options(const char *fn, const mlcl_simclr_options *o)
{
    MLCL_CHECK_VERSION(fn, o, MLCL_SIMCLR_OPTIONS_VERSION);
    if (o->out_h < 0) return mlcl__err(MLCL_EINVAL, "%s: o->out_h must be >= 0 (got %d)", fn, o->out_h);
    if (o->out_w < 0) return mlcl__err(MLCL_EINVAL, "%s: o->out_w must be >= 0 (got %d)", fn, o->out_w);
    CHECK_PROB(fn, o, crop_p);
    CHECK_PROB(fn, o, flip_p);
    CHECK_PROB(fn, o, jitter_p);
    CHECK_PROB(fn, o, gray_p);
    CHECK_PROB(fn, o, blur_p);
    if (!(o->scale_min > 0.0f && o->scale_min <= o->scale_max && o->scale_max <= 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: o->scale_min, o->scale_max must satisfy 0 < min <= max <= 1 (got %g, %g)",
                         fn, (double)o->scale_min, (double)o->scale_max);
    if (!(o->ratio_min > 0.0f && o->ratio_min <= o->ratio_max && isfinite(o->ratio_max)))
        return mlcl__err(MLCL_EINVAL, "%s: o->ratio_min, o->ratio_max must satisfy 0 < min <= max < inf (got %g, %g)",
                         fn, (double)o->ratio_min, (double)o->ratio_max);
    if (!(o->brightness >= 0.0f && isfinite(o->brightness)))
        return mlcl__err(MLCL_EINVAL, "%s: o->brightness must be finite and >= 0 (got %g)", fn, (double)o->brightness);
    if (!(o->contrast >= 0.0f && isfinite(o->contrast)))
        return mlcl__err(MLCL_EINVAL, "%s: o->contrast must be finite and >= 0 (got %g)", fn, (double)o->contrast);
    if (!(o->saturation >= 0.0f && isfinite(o->saturation)))
        return mlcl__err(MLCL_EINVAL, "%s: o->saturation must be finite and >= 0 (got %g)", fn, (double)o->saturation);
    if (!(o->hue >= 0.0f && o->hue <= 0.5f))
        return mlcl__err(MLCL_EINVAL, "%s: o->hue must be in [0, 0.5] (got %g)", fn, (double)o->hue);
    if (!(o->blur_sigma_min > 0.0f && o->blur_sigma_min <= o->blur_sigma_max && isfinite(o->blur_sigma_max)))
        return mlcl__err(MLCL_EINVAL, "%s: o->blur_sigma_min, o->blur_sigma_max must satisfy 0 < min <= max < inf (got %g, %g)",
                         fn, (double)o->blur_sigma_min, (double)o->blur_sigma_max);
    if (o->blur_kernel < 0 || (o->blur_kernel > 0 && o->blur_kernel % 2 == 0))
        return mlcl__err(MLCL_EINVAL, "%s: o->blur_kernel must be 0 or odd and > 0 (got %d)", fn, o->blur_kernel);
    return MLCL_OK;
}

int mlcl_image_simclr(float *dst, const float *src, int n, int c, int h, int w,
                      const mlcl_simclr_options *o, mlcl_rng *rng)
{
    static const char fn[] = "mlcl_image_simclr";
    static const mlcl_simclr_options def = MLCL_SIMCLR_OPTIONS_INIT;
    if (!o) o = &def;
    MLCL_TRY(check_options(fn, o));
    MLCL_CHECK_NULL(fn, rng);
    const int oh = o->out_h ? o->out_h : h, ow = o->out_w ? o->out_w : w;
    size_t in_total, out_total;
    MLCL_TRY(check_sizes(fn, n, c, h, w, oh, ow, &in_total, &out_total));
    if (n == 0) return MLCL_OK;
    MLCL_CHECK_NULL(fn, dst);
    MLCL_CHECK_NULL(fn, src);
    if (overlaps(dst, out_total, src, in_total))
        return mlcl__err(MLCL_EINVAL, "%s: dst overlaps src", fn);
    MLCL_TRY(check_finite(fn, src, in_total));

    int k = o->blur_kernel;
    if (k == 0) {
        k = (int)(0.1 * (double)oh);
        if (k % 2 == 0) k += 1;
    }
    const int nthreads = (n >= 2 && out_total >= PAR_MIN_WORK && mlcl__threads_current() >= 2) ? 2 : 1;
    float *scratch = NULL;
    size_t per = 0;
    if (o->blur_p > 0.0f && k > 1) {
        /* the vertical pass's plane, the kernel, one padded row */
        size_t ohw = (size_t)oh * (size_t)ow, extra = 2 * (size_t)k + (size_t)ow;
        if (ohw > SIZE_MAX / (4 * sizeof(float)) - extra - 16)
            return mlcl__err(MLCL_EOVERFLOW, "%s: blur scratch size overflows", fn);
        per = (ohw + extra + 15) & ~(size_t)15; /* keep each block 64-byte aligned */
        MLCL_TRY(mlcl__alloc_array((void **)&scratch, per * (size_t)nthreads, sizeof(float),
                                   "mlcl_image_simclr: blur scratch"));
    }
    simclr_job jobs[2];
    for (int t = 0; t < 2; t++) {
        jobs[t] = (simclr_job){ dst, src, 0, n, c, h, w, oh, ow, k, o, rng->pcg, scratch ? scratch + per * (size_t)t : NULL };
    }
    if (nthreads == 2) {
        int mid = n / 2;
        jobs[0].i1 = mid;
        jobs[1].i0 = mid;
        for (int i = 0; i < 2 * mid; i++) (void)mlcl__pcg_u32(&jobs[1].seeds);
        mlcl__par2(simclr_run, &jobs[1], simclr_run, &jobs[0]);
        rng->pcg = jobs[1].seeds;
    } else {
        simclr_run(&jobs[0]);
        rng->pcg = jobs[0].seeds;
    }
    mlcl__free(scratch);
    return MLCL_OK;
}

int mlcl_image_resize(float *dst, int out_h, int out_w, const float *src, int n, int c, int h,
                      int w)
{
    static const char fn[] = "mlcl_image_resize";
    MLCL_CHECK_POS(fn, out_h);
    MLCL_CHECK_POS(fn, out_w);
    size_t in_total, out_total;
    MLCL_TRY(check_sizes(fn, n, c, h, w, out_h, out_w, &in_total, &out_total));
    if (n == 0) return MLCL_OK;
    MLCL_CHECK_NULL(fn, dst);
    MLCL_CHECK_NULL(fn, src);
    if (overlaps(dst, out_total, src, in_total))
        return mlcl__err(MLCL_EINVAL, "%s: dst overlaps src", fn);
    MLCL_TRY(check_finite(fn, src, in_total));
    const size_t ihw = (size_t)h * (size_t)w, ohw = (size_t)out_h * (size_t)out_w;
    const size_t planes = (size_t)n * (size_t)c;
    for (size_t p = 0; p < planes; p++)
        resize_plane(dst + p * ohw, out_h, out_w, src + p * ihw, w, 0, 0, h, w);
    return MLCL_OK;
}
