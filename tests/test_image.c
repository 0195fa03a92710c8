/* The SimCLR augmentations and the bilinear resize (include/mlcl/image.h):
 * plain double-precision references of every operation, PyTorch values of
 * the resize, the documented order of the random draws, crop statistics,
 * determinism over seeds and thread counts, bad arguments. */
#include "testutil.h"
#include <math.h>
#include "mlcl/image.h"
#include "data/image_internal.h"

static mlcl_simclr_options nothing(void)
{
    mlcl_simclr_options o = MLCL_SIMCLR_OPTIONS_INIT;
    o.crop_p = o.flip_p = o.jitter_p = o.gray_p = o.blur_p = 0.0f;
    return o;
}

static float *random_images(size_t len, uint64_t seed)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed));
    float *x = malloc(len * sizeof(float));
    ck_assert_ok(mlcl_rng_uniform(r, x, len));
    mlcl_rng_free(r);
    return x;
}

/* ------------------------------------------------------------------------ */
/* Resize */

static double ref_bilinear(const float *src, int h, int w, int oh, int ow, int y, int x)
{
    double sy = ((double)y + 0.5) * h / oh - 0.5, sx = ((double)x + 0.5) * w / ow - 0.5;
    if (sy < 0) sy = 0;
    if (sx < 0) sx = 0;
    int y0 = (int)floor(sy), x0 = (int)floor(sx);
    if (y0 > h - 1) y0 = h - 1;
    if (x0 > w - 1) x0 = w - 1;
    int y1 = y0 + 1 < h ? y0 + 1 : h - 1, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
    double wy = sy - y0, wx = sx - x0;
    return (1 - wy) * ((1 - wx) * src[y0 * w + x0] + wx * src[y0 * w + x1]) +
           wy * ((1 - wx) * src[y1 * w + x0] + wx * src[y1 * w + x1]);
}

START_TEST(resize_matches_torch_interpolate)
{
    /* torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False)
     * on x[r][c] = ((4r + c) * 7 % 12) / 11, computed with PyTorch 1.13 */
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)((i * 7 % 12) / 11.0);
    static const float t57[] = { 0.0f, 0.227272749f, 0.590909123f, 0.409090847f, 0.227272809f, 0.590909183f, 0.818181813f, 0.145454556f, 0.372727305f, 0.736363649f, 0.554545403f, 0.341558516f, 0.455844164f, 0.527272701f, 0.363636404f, 0.590909064f, 0.954545438f, 0.772727191f, 0.512987018f, 0.253246695f, 0.090909116f, 0.581818223f, 0.575324655f, 0.564935029f, 0.663636386f, 0.731168807f, 0.471428543f, 0.309090942f, 0.727272749f, 0.564935029f, 0.305194795f, 0.590909183f, 0.876623392f, 0.616883099f, 0.454545468f };
    static const float t23[] = { 0.196969718f, 0.49999997f, 0.575757623f, 0.606060624f, 0.636363685f, 0.439393908f };
    static const float t11[] = { 0.772727251f };
    static const float t39[] = { 0.0f, 0.106060609f, 0.388888866f, 0.611111104f, 0.409090906f, 0.207070693f, 0.429292947f, 0.712121248f, 0.818181813f, 0.363636374f, 0.469696969f, 0.75252527f, 0.974747479f, 0.772727251f, 0.570707083f, 0.368686885f, 0.166666657f, 0.0909090936f, 0.727272749f, 0.651515186f, 0.449494958f, 0.308080822f, 0.590909123f, 0.873737395f, 0.732323229f, 0.530303001f, 0.454545468f };
    struct { int oh, ow; const float *t; } cases[] = { { 5, 7, t57 }, { 2, 3, t23 }, { 1, 1, t11 }, { 3, 9, t39 } };
    float out[64];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ck_assert_ok(mlcl_image_resize(out, cases[k].oh, cases[k].ow, x, 1, 1, 3, 4));
        for (int i = 0; i < cases[k].oh * cases[k].ow; i++) {
            ck_assert_msg(fabsf(out[i] - cases[k].t[i]) <= 2e-7f, "%dx%d [%d]: %.9g vs torch %.9g",
                          cases[k].oh, cases[k].ow, i, (double)out[i], (double)cases[k].t[i]);
            ck_assert(fabs(out[i] - ref_bilinear(x, 3, 4, cases[k].oh, cases[k].ow, i / cases[k].ow, i % cases[k].ow)) < 1e-6);
        }
    }
}
END_TEST

START_TEST(resize_matches_plain_reference)
{
    const int n = 2, c = 3, h = 13, w = 9;
    float *x = random_images((size_t)n * c * h * w, 5);
    const int sizes[][2] = { { 13, 9 }, { 26, 18 }, { 7, 4 }, { 1, 20 }, { 30, 1 }, { 5, 5 } };
    float *out = malloc((size_t)n * c * 30 * 20 * sizeof(float));
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int oh = sizes[k][0], ow = sizes[k][1];
        ck_assert_ok(mlcl_image_resize(out, oh, ow, x, n, c, h, w));
        for (int p = 0; p < n * c; p++)
            for (int y = 0; y < oh; y++)
                for (int xx = 0; xx < ow; xx++) {
                    double r = ref_bilinear(x + (size_t)p * h * w, h, w, oh, ow, y, xx);
                    float v = out[((size_t)p * oh + y) * ow + xx];
                    ck_assert_msg(fabs(v - r) < 1e-6, "%dx%d plane %d (%d,%d): %g vs %g", oh, ow, p, y, xx, (double)v, r);
                }
        if (oh == h && ow == w) ck_assert_mem_eq(out, x, (size_t)n * c * h * w * sizeof(float));
    }
    free(out);
    free(x);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Geometry */

START_TEST(identity_settings_copy_exactly)
{
    const int n = 3, c = 3, h = 11, w = 7;
    const size_t len = (size_t)n * c * h * w;
    float *x = random_images(len, 1), *y = malloc(len * sizeof(float));
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 9));
    mlcl_simclr_options o = nothing();
    ck_assert_ok(mlcl_image_simclr(y, x, n, c, h, w, &o, r));
    ck_assert_mem_eq(y, x, len * sizeof(float));
    /* a crop that always covers the whole image */
    o.crop_p = 1.0f;
    o.scale_min = o.scale_max = 1.0f;
    o.ratio_min = o.ratio_max = (float)w / (float)h;
    ck_assert_ok(mlcl_image_simclr(y, x, n, c, h, w, &o, r));
    ck_assert_mem_eq(y, x, len * sizeof(float));
    /* zero-strength jitter and a size-1 blur change nothing either */
    o = nothing();
    o.jitter_p = 1.0f;
    o.brightness = o.contrast = o.saturation = o.hue = 0.0f;
    o.blur_p = 1.0f;
    o.blur_kernel = 1;
    ck_assert_ok(mlcl_image_simclr(y, x, n, c, h, w, &o, r));
    ck_assert_mem_eq(y, x, len * sizeof(float));
    /* n = 0: nothing to do, even with NULL buffers */
    ck_assert_ok(mlcl_image_simclr(NULL, NULL, 0, c, h, w, &o, r));
    mlcl_rng_free(r);
    free(x);
    free(y);
}
END_TEST

START_TEST(flip_is_exact_mirror)
{
    const int n = 2, c = 3, h = 4, w = 5;
    const size_t len = (size_t)n * c * h * w;
    float *x = random_images(len, 2), *y = malloc(len * sizeof(float));
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 3));
    mlcl_simclr_options o = nothing();
    o.flip_p = 1.0f;
    ck_assert_ok(mlcl_image_simclr(y, x, n, c, h, w, &o, r));
    for (int p = 0; p < n * c; p++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
                ck_assert(y[(p * h + i) * w + j] == x[(p * h + i) * w + (w - 1 - j)]);
    /* p = 0.5 flips some images and not others */
    o.flip_p = 0.5f;
    int flipped = 0, kept = 0;
    float *xs = random_images(40 * 1 * 1 * 2, 4), *ys = malloc(40 * 2 * sizeof(float));
    ck_assert_ok(mlcl_image_simclr(ys, xs, 40, 1, 1, 2, &o, r));
    for (int i = 0; i < 40; i++) {
        if (ys[2 * i] == xs[2 * i + 1] && ys[2 * i + 1] == xs[2 * i]) flipped++;
        else if (ys[2 * i] == xs[2 * i] && ys[2 * i + 1] == xs[2 * i + 1]) kept++;
    }
    ck_assert_int_eq(flipped + kept, 40);
    ck_assert_int_gt(flipped, 8);
    ck_assert_int_gt(kept, 8);
    mlcl_rng_free(r);
    free(x); free(y); free(xs); free(ys);
}
END_TEST

START_TEST(crop_parameter_statistics)
{
    mlcl_simclr_options o = MLCL_SIMCLR_OPTIONS_INIT;
    mlcl__pcg g;
    mlcl__pcg_seed(&g, 42, 7);
    const int H = 224, W = 224, K = 20000;
    double smin = 1, smax = 0, lr_lo = 0, off_mean = 0;
    int n_off = 0, n_full = 0;
    const double eps = 0.02; /* rounding the sides to integers */
    for (int k = 0; k < K; k++) {
        int t, l, ch, cw;
        mlcl__simclr_crop(&g, H, W, &o, &t, &l, &ch, &cw);
        ck_assert(ch >= 1 && cw >= 1 && t >= 0 && l >= 0 && t + ch <= H && l + cw <= W);
        double s = (double)ch * cw / (H * W), ar = (double)cw / ch;
        ck_assert_msg(s >= 0.08 * (1 - eps) && s <= 1.0, "scale %g", s);
        ck_assert_msg(ar >= 0.75 * (1 - eps) && ar <= 4.0 / 3.0 * (1 + eps), "ratio %g", ar);
        if (s < smin) smin = s;
        if (s > smax) smax = s;
        if (ch == H && cw == W) n_full++;
        lr_lo += log(ar) < 0;
        if (ch < H) { off_mean += (double)t / (H - ch); n_off++; }
    }
    ck_assert(smin < 0.085 && smax > 0.97);
    /* the log-ratio is symmetric; the offsets are uniform */
    ck_assert_msg(fabs(lr_lo / K - 0.5) < 0.03, "P(ratio < 1) = %g", lr_lo / K);
    ck_assert_msg(fabs(off_mean / n_off - 0.5) < 0.02, "mean offset %g", off_mean / n_off);
    ck_assert_int_lt(n_full, K / 20);
    /* the fallback: a ratio that never fits gives the central crop clamped to it */
    o.scale_min = o.scale_max = 1.0f;
    o.ratio_min = o.ratio_max = 2.0f;
    int t, l, ch, cw;
    mlcl__simclr_crop(&g, H, W, &o, &t, &l, &ch, &cw);
    ck_assert_int_eq(ch, 112); ck_assert_int_eq(cw, 224); ck_assert_int_eq(t, 56); ck_assert_int_eq(l, 0);
    o.ratio_min = o.ratio_max = 0.25f;
    mlcl__simclr_crop(&g, 40, 10, &o, &t, &l, &ch, &cw); /* in ratio 0.25: the whole image fits */
    ck_assert_int_eq(ch, 40); ck_assert_int_eq(cw, 10); ck_assert_int_eq(t, 0);
    mlcl__simclr_crop(&g, 10, 40, &o, &t, &l, &ch, &cw); /* 4 > 0.25: height kept, width 10 * 0.25 */
    ck_assert_int_eq(ch, 10); ck_assert_int_eq(cw, 2); ck_assert_int_eq(l, 19); ck_assert_int_eq(t, 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Colour: reproduce the documented draws, apply a plain double reference */

static void ref_rgb2hsv(double r, double g, double b, double *h, double *s, double *v)
{
    double mx = fmax(r, fmax(g, b)), mn = fmin(r, fmin(g, b));
    *v = mx;
    if (mx == mn) { *h = 0; *s = 0; return; }
    *s = (mx - mn) / mx;
    double rc = (mx - r) / (mx - mn), gc = (mx - g) / (mx - mn), bc = (mx - b) / (mx - mn);
    double hh = r == mx ? bc - gc : g == mx ? 2.0 + rc - bc : 4.0 + gc - rc;
    *h = fmod(hh / 6.0 + 1.0, 1.0);
}

static void ref_hsv2rgb(double h, double s, double v, double *r, double *g, double *b)
{
    int i = (int)floor(h * 6.0);
    double f = h * 6.0 - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    switch (((i % 6) + 6) % 6) {
    case 0: *r = v; *g = t; *b = p; break;
    case 1: *r = q; *g = v; *b = p; break;
    case 2: *r = p; *g = v; *b = t; break;
    case 3: *r = p; *g = q; *b = v; break;
    case 4: *r = t; *g = p; *b = v; break;
    default: *r = v; *g = p; *b = q; break;
    }
}

static double clampd(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }
static double gray(const double *im, size_t hw, size_t i) { return 0.299 * im[i] + 0.587 * im[hw + i] + 0.114 * im[2 * hw + i]; }

/* Applies the reference jitter to one c x hw image in place (double). */
static void ref_jitter(double *im, int c, size_t hw, const int order[4], double fb, double fc, double fs, double fh)
{
    size_t len = (size_t)c * hw;
    for (int t = 0; t < 4; t++) {
        if (order[t] == 0) {
            for (size_t i = 0; i < len; i++) im[i] = clampd(fb * im[i]);
        } else if (order[t] == 1) {
            double m = 0;
            if (c == 3) { for (size_t i = 0; i < hw; i++) m += gray(im, hw, i); m /= hw; }
            else { for (size_t i = 0; i < len; i++) m += im[i]; m /= len; }
            for (size_t i = 0; i < len; i++) im[i] = clampd(fc * im[i] + (1 - fc) * m);
        } else if (order[t] == 2 && c == 3) {
            for (size_t i = 0; i < hw; i++) {
                double l = gray(im, hw, i);
                for (int ch = 0; ch < 3; ch++) im[ch * hw + i] = clampd(fs * im[ch * hw + i] + (1 - fs) * l);
            }
        } else if (order[t] == 3 && c == 3) {
            for (size_t i = 0; i < hw; i++) {
                double h, s, v;
                ref_rgb2hsv(im[i], im[hw + i], im[2 * hw + i], &h, &s, &v);
                h = fmod(h + fh, 1.0);
                if (h < 0) h += 1.0;
                ref_hsv2rgb(h, s, v, &im[i], &im[hw + i], &im[2 * hw + i]);
            }
        }
    }
}

static double uni(mlcl__pcg *r, double a, double b) { return a + (b - a) * (double)mlcl__pcg_uniform(r); }

/* Jitter only (crop, flip, grayscale and blur gates at 0), checked image by
 * image against the reference with the parameters drawn as documented. */
static void check_jitter(int c, int h, int w, int n, uint64_t seed, int *orders_seen)
{
    mlcl_simclr_options o = nothing();
    o.jitter_p = 1.0f;
    o.gray_p = 1.0f; /* a no-op unless c == 3: only used with c != 3 */
    if (c == 3) o.gray_p = 0.0f;
    o.hue = 0.3f;
    o.saturation = 0.9f;
    const size_t hw = (size_t)h * w, len = (size_t)n * c * hw;
    float *x = random_images(len, seed), *y = malloc(len * sizeof(float));
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed + 100));
    mlcl__pcg caller = r->pcg;
    ck_assert_ok(mlcl_image_simclr(y, x, n, c, h, w, &o, r));
    double *im = malloc((size_t)c * hw * sizeof(double));
    for (int i = 0; i < n; i++) {
        uint64_t hi = mlcl__pcg_u32(&caller), lo = mlcl__pcg_u32(&caller);
        mlcl__pcg g;
        mlcl__pcg_seed(&g, (hi << 32) | lo, MLCL__SIMCLR_STREAM);
        ck_assert((double)mlcl__pcg_uniform(&g) >= 0); /* crop gate */
        (void)mlcl__pcg_uniform(&g);                     /* flip gate */
        ck_assert(mlcl__pcg_uniform(&g) < o.jitter_p);   /* jitter gate */
        int order[4];
        mlcl__pcg_permutation(&g, order, 4);
        float fb = (float)uni(&g, 1 - o.brightness, 1 + o.brightness);
        float fc = (float)uni(&g, 1 - o.contrast, 1 + o.contrast);
        float fs = (float)uni(&g, 1 - o.saturation, 1 + o.saturation);
        float fh = (float)uni(&g, -o.hue, o.hue);
        if (orders_seen) orders_seen[order[0] * 64 + order[1] * 16 + order[2] * 4 + order[3]] = 1;
        for (size_t k = 0; k < (size_t)c * hw; k++) im[k] = x[(size_t)i * c * hw + k];
        ref_jitter(im, c, hw, order, fb, fc, fs, fh);
        for (size_t k = 0; k < (size_t)c * hw; k++) {
            float v = y[(size_t)i * c * hw + k];
            ck_assert_msg(fabs(v - im[k]) < 2e-5, "c=%d image %d element %zu: %.7g vs reference %.7g (order %d%d%d%d)",
                          c, i, k, (double)v, im[k], order[0], order[1], order[2], order[3]);
        }
    }
    /* the caller's generator advanced by exactly 2 n words */
    ck_assert_uint_eq(r->pcg.state, caller.state);
    mlcl_rng_free(r);
    free(im);
    free(x);
    free(y);
}

START_TEST(jitter_matches_reference_rgb)
{
    int seen[256] = { 0 };
    check_jitter(3, 6, 5, 120, 11, seen);
    int distinct = 0;
    for (int i = 0; i < 256; i++) distinct += seen[i];
    ck_assert_int_eq(distinct, 24); /* every order of the four operations occurred */
}
END_TEST

START_TEST(jitter_single_and_other_channels)
{
    /* c = 1: brightness and contrast (image mean); saturation, hue, grayscale no-ops */
    check_jitter(1, 7, 4, 30, 12, NULL);
    /* c = 2: brightness and contrast over all channels */
    check_jitter(2, 3, 3, 30, 13, NULL);
}
END_TEST

START_TEST(grayscale_formula)
{
    const int n = 2, c = 3, h = 3, w = 4;
    const size_t hw = (size_t)h * w, len = (size_t)n * c * hw;
    float *x = random_images(len, 21), *y = malloc(len * sizeof(float));
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 22));
    mlcl_simclr_options o = nothing();
    o.gray_p = 1.0f;
    ck_assert_ok(mlcl_image_simclr(y, x, n, c, h, w, &o, r));
    for (int i = 0; i < n; i++) {
        const float *a = x + (size_t)i * c * hw, *b = y + (size_t)i * c * hw;
        for (size_t k = 0; k < hw; k++) {
            double l = 0.299 * a[k] + 0.587 * a[hw + k] + 0.114 * a[2 * hw + k];
            for (int ch = 0; ch < 3; ch++) ck_assert(fabs(b[ch * hw + k] - l) < 1e-6);
        }
    }
    /* c = 1 and c = 2: a no-op */
    ck_assert_ok(mlcl_image_simclr(y, x, 3, 2, h, w, &o, r));
    ck_assert_mem_eq(y, x, 3 * 2 * hw * sizeof(float));
    mlcl_rng_free(r);
    free(x);
    free(y);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Blur */

static int ref_reflect(int i, int n)
{
    if (n == 1) return 0;
    while (i < 0 || i >= n) {
        if (i < 0) i = -i;
        if (i >= n) i = 2 * (n - 1) - i;
    }
    return i;
}

static void check_blur(int c, int h, int w, int k, float sigma, uint64_t seed)
{
    const size_t hw = (size_t)h * w, len = (size_t)c * hw;
    float *x = random_images(len, seed), *y = malloc(len * sizeof(float));
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed));
    mlcl_simclr_options o = nothing();
    o.blur_p = 1.0f;
    o.blur_sigma_min = o.blur_sigma_max = sigma;
    o.blur_kernel = k;
    ck_assert_ok(mlcl_image_simclr(y, x, 1, c, h, w, &o, r));
    double kern[64], s = 0;
    for (int t = 0; t < k; t++) { double d = t - (k - 1) / 2.0; kern[t] = exp(-d * d / (2.0 * sigma * sigma)); s += kern[t]; }
    for (int t = 0; t < k; t++) kern[t] /= s;
    for (int p = 0; p < c; p++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                double acc = 0;
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++)
                        acc += kern[a] * kern[b] * x[p * hw + ref_reflect(i - k / 2 + a, h) * w + ref_reflect(j - k / 2 + b, w)];
                ck_assert_msg(fabs(y[p * hw + i * w + j] - acc) < 1e-5, "k=%d (%d,%d): %g vs %g", k, i, j,
                              (double)y[p * hw + i * w + j], acc);
            }
    /* a constant image is unchanged (the kernel sums to 1) */
    for (size_t i = 0; i < len; i++) x[i] = 0.625f;
    ck_assert_ok(mlcl_image_simclr(y, x, 1, c, h, w, &o, r));
    for (size_t i = 0; i < len; i++) ck_assert(fabsf(y[i] - 0.625f) < 1e-6f);
    mlcl_rng_free(r);
    free(x);
    free(y);
}

START_TEST(blur_matches_reference)
{
    check_blur(3, 7, 9, 5, 1.3f, 31);
    check_blur(1, 12, 10, 3, 0.4f, 32);
    check_blur(2, 4, 5, 11, 2.0f, 33); /* kernel wider than the image: reflection repeats */
    check_blur(1, 1, 6, 5, 1.0f, 34);  /* a single row */
    /* blur_kernel = 0: (int)(0.1 out_h) made odd */
    const int h = 50, w = 20;
    float *x = random_images((size_t)4 * h * w, 35), *y0 = malloc((size_t)4 * h * w * sizeof(float)),
          *y1 = malloc((size_t)4 * h * w * sizeof(float));
    mlcl_simclr_options o = MLCL_SIMCLR_OPTIONS_INIT;
    o.blur_p = 1.0f;
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 36));
    ck_assert_ok(mlcl_image_simclr(y0, x, 4, 1, h, w, &o, r));
    o.blur_kernel = 5;
    ck_assert_ok(mlcl_rng_seed(r, 36));
    ck_assert_ok(mlcl_image_simclr(y1, x, 4, 1, h, w, &o, r));
    ck_assert_mem_eq(y0, y1, (size_t)4 * h * w * sizeof(float));
    o.blur_kernel = 7;
    ck_assert_ok(mlcl_rng_seed(r, 36));
    ck_assert_ok(mlcl_image_simclr(y1, x, 4, 1, h, w, &o, r));
    ck_assert(memcmp(y0, y1, (size_t)4 * h * w * sizeof(float)) != 0);
    mlcl_rng_free(r);
    free(x); free(y0); free(y1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The whole pipeline */

START_TEST(deterministic_and_in_range)
{
    const int n = 8, c = 3, h = 40, w = 36, oh = 32, ow = 32;
    const size_t in_len = (size_t)n * c * h * w, out_len = (size_t)n * c * oh * ow;
    float *x = random_images(in_len, 41);
    float *a = malloc(out_len * sizeof(float)), *b = malloc(out_len * sizeof(float)),
          *d = malloc(out_len * sizeof(float));
    mlcl_simclr_options o = MLCL_SIMCLR_OPTIONS_INIT;
    o.out_h = oh;
    o.out_w = ow;
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 7));
    ck_assert_ok(mlcl_set_num_threads(1));
    ck_assert_ok(mlcl_image_simclr(a, x, n, c, h, w, &o, r));
    ck_assert_ok(mlcl_rng_seed(r, 7));
    ck_assert_ok(mlcl_set_num_threads(2)); /* two threads when the machine has them */
    ck_assert_ok(mlcl_image_simclr(b, x, n, c, h, w, &o, r));
    ck_assert_mem_eq(a, b, out_len * sizeof(float));
    uint64_t s2[2];
    ck_assert_ok(mlcl_rng_get_state(r, s2));
    /* the second view differs from the first; another seed differs too */
    ck_assert_ok(mlcl_image_simclr(d, x, n, c, h, w, &o, r));
    ck_assert(memcmp(a, d, out_len * sizeof(float)) != 0);
    ck_assert_ok(mlcl_rng_seed(r, 8));
    ck_assert_ok(mlcl_image_simclr(d, x, n, c, h, w, &o, r));
    ck_assert(memcmp(a, d, out_len * sizeof(float)) != 0);
    /* the generator advanced by 2 n words */
    mlcl_rng *q;
    ck_assert_ok(mlcl_rng_create(&q, 7));
    uint32_t skip[2 * 8];
    ck_assert_ok(mlcl_rng_u32(q, skip, 2 * (size_t)n));
    uint64_t sq[2];
    ck_assert_ok(mlcl_rng_get_state(q, sq));
    ck_assert_uint_eq(sq[0], s2[0]);
    /* [0, 1] in, [0, 1] out; views differ image by image */
    for (size_t i = 0; i < out_len; i++) ck_assert(a[i] >= 0.0f && a[i] <= 1.0f);
    for (int i = 0; i + 1 < n; i++)
        ck_assert(memcmp(a + (size_t)i * c * oh * ow, a + (size_t)(i + 1) * c * oh * ow, (size_t)c * oh * ow * sizeof(float)) != 0);
    /* c = 1 (Fashion-MNIST-like) and the defaults (o = NULL: the input size) */
    float *g = random_images((size_t)n * 28 * 28, 43), *gy = malloc((size_t)n * 28 * 28 * sizeof(float));
    ck_assert_ok(mlcl_image_simclr(gy, g, n, 1, 28, 28, NULL, r));
    for (size_t i = 0; i < (size_t)n * 28 * 28; i++) ck_assert(gy[i] >= 0.0f && gy[i] <= 1.0f);
    mlcl_rng_free(q);
    mlcl_rng_free(r);
    free(x); free(a); free(b); free(d); free(g); free(gy);
}
END_TEST

START_TEST(bad_arguments)
{
    float x[2 * 3 * 4 * 4] = { 0 }, y[2 * 3 * 4 * 4];
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 1));
    mlcl_simclr_options o = MLCL_SIMCLR_OPTIONS_INIT;
    x[7] = NAN;
    ck_assert_status_msg(mlcl_image_simclr(y, x, 2, 3, 4, 4, &o, r), MLCL_ENUMERIC, "src[7]");
    ck_assert_status_msg(mlcl_image_resize(y, 2, 2, x, 2, 3, 4, 4), MLCL_ENUMERIC, "src[7]");
    x[7] = 0.0f;
    ck_assert_status_msg(mlcl_image_simclr(x + 1, x, 1, 3, 4, 4, &o, r), MLCL_EINVAL, "overlaps");
    ck_assert_status_msg(mlcl_image_simclr(y, x, 1, 0, 4, 4, &o, r), MLCL_EINVAL, "c must be > 0");
    ck_assert_status_msg(mlcl_image_simclr(y, x, -1, 3, 4, 4, &o, r), MLCL_EINVAL, "n must be >= 0");
    ck_assert_status_msg(mlcl_image_simclr(y, x, 1, 3, 4, 4, &o, NULL), MLCL_EINVAL, "rng");
    ck_assert_status_msg(mlcl_image_simclr(y, x, 1 << 30, 1 << 20, 1 << 20, 4, &o, r), MLCL_EOVERFLOW, "overflows");
#define BAD_OPT(field, value, needle)                                                        \
    do {                                                                                      \
        mlcl_simclr_options b = MLCL_SIMCLR_OPTIONS_INIT;                                     \
        b.field = value;                                                                      \
        ck_assert_status_msg(mlcl_image_simclr(y, x, 1, 3, 4, 4, &b, r), MLCL_EINVAL, needle); \
    } while (0)
    BAD_OPT(out_h, -1, "o->out_h");
    BAD_OPT(out_w, -2, "o->out_w");
    BAD_OPT(crop_p, 1.5f, "o->crop_p");
    BAD_OPT(flip_p, NAN, "o->flip_p");
    BAD_OPT(jitter_p, -0.1f, "o->jitter_p");
    BAD_OPT(gray_p, 2.0f, "o->gray_p");
    BAD_OPT(blur_p, NAN, "o->blur_p");
    BAD_OPT(scale_min, 0.0f, "o->scale_min");
    BAD_OPT(scale_max, 1.5f, "o->scale_max");
    BAD_OPT(ratio_min, 2.0f, "o->ratio_min");
    BAD_OPT(ratio_max, INFINITY, "o->ratio_max");
    BAD_OPT(brightness, -1.0f, "o->brightness");
    BAD_OPT(contrast, NAN, "o->contrast");
    BAD_OPT(saturation, INFINITY, "o->saturation");
    BAD_OPT(hue, 0.6f, "o->hue");
    BAD_OPT(blur_sigma_min, 0.0f, "o->blur_sigma_min");
    BAD_OPT(blur_sigma_max, 0.05f, "o->blur_sigma_max");
    BAD_OPT(blur_kernel, 4, "o->blur_kernel");
    BAD_OPT(blur_kernel, -3, "o->blur_kernel");
#undef BAD_OPT
    o.version = 99;
    ck_assert_status_msg(mlcl_image_simclr(y, x, 1, 3, 4, 4, &o, r), MLCL_EVERSION, "version");
    ck_assert_status_msg(mlcl_image_resize(y, 0, 2, x, 1, 3, 4, 4), MLCL_EINVAL, "out_h");
    ck_assert_status_msg(mlcl_image_resize(NULL, 2, 2, x, 1, 3, 4, 4), MLCL_EINVAL, "dst");
    ck_assert_status_msg(mlcl_image_resize(y, 2, 2, NULL, 1, 3, 4, 4), MLCL_EINVAL, "src");
    ck_assert_status_msg(mlcl_image_resize(y, 2, 2, x, 1, 3, 0, 4), MLCL_EINVAL, "h must be > 0");
    mlcl_rng_free(r);
}
END_TEST

static void *failing_alloc(size_t n, void *ctx) { (void)n; (void)ctx; return NULL; }
static void plain_free(void *p, void *ctx) { (void)ctx; free(p); }

START_TEST(allocation_failure_is_clean)
{
    /* the blur scratch is the only allocation */
    float x[2 * 3 * 8 * 8] = { 0 }, y[2 * 3 * 8 * 8];
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 1));
    mlcl_simclr_options o = MLCL_SIMCLR_OPTIONS_INIT;
    o.blur_kernel = 3;
    mlcl_allocator fail = { MLCL_ALLOCATOR_VERSION, failing_alloc, plain_free, NULL };
    ck_assert_ok(mlcl_set_allocator(&fail));
    ck_assert_status_msg(mlcl_image_simclr(y, x, 2, 3, 8, 8, &o, r), MLCL_ENOMEM, "blur scratch");
    o.blur_p = 0.0f;
    int rc = mlcl_image_simclr(y, x, 2, 3, 8, 8, &o, r);
    ck_assert_ok(mlcl_set_allocator(NULL));
    ck_assert_int_eq(rc, MLCL_OK);
    mlcl_rng_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("image");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, resize_matches_torch_interpolate);
    tcase_add_test(tc, resize_matches_plain_reference);
    tcase_add_test(tc, identity_settings_copy_exactly);
    tcase_add_test(tc, flip_is_exact_mirror);
    tcase_add_test(tc, crop_parameter_statistics);
    tcase_add_test(tc, jitter_matches_reference_rgb);
    tcase_add_test(tc, jitter_single_and_other_channels);
    tcase_add_test(tc, grayscale_formula);
    tcase_add_test(tc, blur_matches_reference);
    tcase_add_test(tc, deterministic_and_in_range);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, allocation_failure_is_clean);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
