/* Image files: JPEG through libjpeg-turbo (TurboJPEG API), PNG through
 * libpng; conversion to float CHW planes; antialiased resize + centre crop. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <png.h>
#include <turbojpeg.h>
#include "data/readers_internal.h"

/* Largest image file read into memory. */
#define IMAGE_MAX_FILE ((size_t)1 << 30)
/* Pixels a byte of compressed data can at most stand for, with slack: a
 * Huffman-coded JPEG block costs >= 1 bit per component (64 pixels); deflate
 * expands at most ~1032x and a 1-bit PNG row packs 8 pixels per byte. */
#define JPEG_PX_PER_BYTE 4096u
#define PNG_PX_PER_BYTE 8300u
#define PX_SLACK ((size_t)1 << 20)

static int check_dims(const char *fn, const char *path, long w, long h, size_t file_bytes,
                      size_t px_per_byte)
{
    if (w <= 0 || h <= 0)
        return mlcl__err(MLCL_EFORMAT, "%s: %s: corrupt header: invalid image size %ld x %ld", fn, path, w, h);
    if ((double)w * (double)h > (double)MLCL_IMAGE_MAX_PIXELS)
        return mlcl__err(MLCL_EFORMAT, "%s: %s: image of %ld x %ld pixels is larger than %d pixels",
                         fn, path, w, h, MLCL_IMAGE_MAX_PIXELS);
    if ((double)w * (double)h > (double)file_bytes * (double)px_per_byte + (double)PX_SLACK)
        return mlcl__err(MLCL_EFORMAT, "%s: %s: header says %ld x %ld pixels, more than %zu bytes can hold (corrupt?)",
                         fn, path, w, h, file_bytes);
    return MLCL_OK;
}

static int slurp(const char *fn, const char *path, unsigned char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return mlcl__err(MLCL_EIO, "%s: cannot open '%s': %s", fn, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return mlcl__err(MLCL_EIO, "%s: '%s' is not a regular file", fn, path);
    }
    if ((unsigned long long)st.st_size > IMAGE_MAX_FILE) {
        fclose(f);
        return mlcl__err(MLCL_EFORMAT, "%s: %s: %lld bytes is larger than the %zu bytes accepted for an image",
                         fn, path, (long long)st.st_size, IMAGE_MAX_FILE);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *b = mlcl__malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return mlcl__err(MLCL_ENOMEM, "%s: %s: cannot allocate %zu bytes", fn, path, n);
    }
    size_t got = n ? fread(b, 1, n, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        mlcl__free(b);
        return mlcl__err(MLCL_EIO, "%s: %s: read error", fn, path);
    }
    *buf = b;
    *len = n;
    return MLCL_OK;
}

/* count * size bytes, not zeroed (every byte is written before it is read) */
static int alloc_raw(void **out, size_t count, size_t size, const char *fn)
{
    size_t total;
    *out = NULL;
    if (mlcl__mul_size(count, size, &total) != 0)
        return mlcl__err(MLCL_EOVERFLOW, "%s: %zu x %zu bytes overflows size_t", fn, count, size);
    if (!(*out = mlcl__malloc(total))) return mlcl__err(MLCL_ENOMEM, "%s: cannot allocate %zu bytes", fn, total);
    return MLCL_OK;
}

/* ---------------------------------------------------------------- conversion */

/* Interleaved samples (nc = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; 8 or 16 bits,
 * 16-bit big-endian) to `oc` float planes: v / 255 (or / 65535), as numpy's
 * x / 255; luma 0.299 R + 0.587 G + 0.114 B. */
static void to_planes(float *dst, int oc, const unsigned char *src, int nc, int bits, size_t px)
{
    const int color = nc >= 3, alpha = nc == 2 || nc == 4;
    float lut[256];
    for (int i = 0; i < 256; i++) lut[i] = (float)i / 255.0f;
    float *r = dst, *g = dst + px, *b = dst + 2 * px, *a = dst + 3 * px;
    if (bits == 8) {
        const unsigned char *p = src;
        for (size_t i = 0; i < px; i++, p += nc) {
            float vr = lut[p[0]], vg = color ? lut[p[1]] : vr, vb = color ? lut[p[2]] : vr;
            if (oc == 1) { r[i] = color ? 0.299f * vr + 0.587f * vg + 0.114f * vb : vr; continue; }
            r[i] = vr; g[i] = vg; b[i] = vb;
            if (oc == 4) a[i] = alpha ? lut[p[nc - 1]] : 1.0f;
        }
        return;
    }
    const unsigned char *p = src;
    for (size_t i = 0; i < px; i++, p += 2 * nc) {
        float v[4] = { 0.0f, 0.0f, 0.0f, 1.0f };
        for (int k = 0; k < nc; k++) v[k] = (float)((unsigned)p[2 * k] << 8 | p[2 * k + 1]) / 65535.0f;
        float vr = v[0], vg = color ? v[1] : vr, vb = color ? v[2] : vr;
        if (oc == 1) { r[i] = color ? 0.299f * vr + 0.587f * vg + 0.114f * vb : vr; continue; }
        r[i] = vr; g[i] = vg; b[i] = vb;
        if (oc == 4) a[i] = alpha ? v[nc - 1] : 1.0f;
    }
}

static int emit(const char *fn, const char *path, float **pixels, int *channels, int *height,
                int *width, const unsigned char *samples, int nc, int bits, int w, int h, int want)
{
    int oc = want ? want : (nc == 2 ? 1 : nc);
    size_t px = (size_t)w * (size_t)h;
    float *out = NULL;
    int rc = alloc_raw((void **)&out, px * (size_t)oc, sizeof(float), fn);
    if (rc < 0) return mlcl__err(rc, "%s: %s: cannot allocate %d x %d x %d floats", fn, path, oc, h, w);
    to_planes(out, oc, samples, nc, bits, px);
    *pixels = out;
    *channels = oc;
    *height = h;
    *width = w;
    return MLCL_OK;
}

/* ---------------------------------------------------------------- JPEG */

static unsigned rd16(const unsigned char *p, int le) { return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | p[1]; }
static uint32_t rd32(const unsigned char *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The EXIF orientation (1..8) of a JPEG, 1 when absent or unreadable:
 * the APP1 "Exif" segment's TIFF IFD0 entry 0x0112. Every offset is checked. */
static int exif_orientation(const unsigned char *b, size_t n)
{
    size_t pos = 2;
    while (pos + 4 <= n) {
        if (b[pos] != 0xFF) return 1;
        unsigned m = b[pos + 1];
        if (m == 0xFF) { pos++; continue; }
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) { pos += 2; continue; }
        if (m == 0xDA || m == 0xD9) return 1; /* image data: no EXIF before it */
        size_t len = rd16(b + pos + 2, 0);
        if (len < 2 || len > n - pos - 2) return 1;
        if (m == 0xE1 && len >= 2 + 6 + 8 && !memcmp(b + pos + 4, "Exif\0\0", 6)) {
            const unsigned char *t = b + pos + 10;
            size_t tn = len - 8;
            int le = t[0] == 'I' && t[1] == 'I';
            if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
            if (rd16(t + 2, le) != 42) return 1;
            uint32_t ifd = rd32(t + 4, le);
            if (ifd > tn - 2) return 1;
            unsigned count = rd16(t + ifd, le);
            for (unsigned i = 0; i < count; i++) {
                size_t e = (size_t)ifd + 2 + 12 * (size_t)i;
                if (e + 12 > tn) return 1;
                if (rd16(t + e, le) == 0x0112) {
                    unsigned v = rd16(t + e + 2, le) == 3 ? rd16(t + e + 8, le) : 1;
                    return v >= 1 && v <= 8 ? (int)v : 1;
                }
            }
            return 1;
        }
        pos += 2 + len;
    }
    return 1;
}

/* Applies an EXIF orientation to h x w interleaved 8-bit pixels of nc
 * channels: *out is the displayed image, *oh x *ow (swapped for 5..8). */
static int orient(unsigned char **out, int *oh, int *ow, const unsigned char *s, int h, int w, int nc,
                  int o, const char *fn)
{
    int th = o >= 5 ? w : h, tw = o >= 5 ? h : w;
    unsigned char *d = NULL;
    MLCL_TRY(alloc_raw((void **)&d, (size_t)h * (size_t)w, (size_t)nc, fn));
    for (int y = 0; y < th; y++)
        for (int x = 0; x < tw; x++) {
            int sy, sx;
            switch (o) {
            case 2: sy = y; sx = w - 1 - x; break;          /* mirror */
            case 3: sy = h - 1 - y; sx = w - 1 - x; break;  /* rotate 180 */
            case 4: sy = h - 1 - y; sx = x; break;          /* flip */
            case 5: sy = x; sx = y; break;                  /* transpose */
            case 6: sy = h - 1 - x; sx = y; break;          /* rotate 90 clockwise */
            case 7: sy = h - 1 - x; sx = w - 1 - y; break;  /* transverse */
            case 8: sy = x; sx = w - 1 - y; break;          /* rotate 90 counter-clockwise */
            default: sy = y; sx = x; break;
            }
            memcpy(d + ((size_t)y * (size_t)tw + (size_t)x) * (size_t)nc,
                   s + ((size_t)sy * (size_t)w + (size_t)sx) * (size_t)nc, (size_t)nc);
        }
    *out = d;
    *oh = th;
    *ow = tw;
    return MLCL_OK;
}

static int read_jpeg(const char *fn, const char *path, const unsigned char *buf, size_t len,
                     float **pixels, int *channels, int *height, int *width, int want)
{
    if (len > ULONG_MAX) return mlcl__err(MLCL_EFORMAT, "%s: %s: file too large", fn, path);
    tjhandle tj = tjInitDecompress();
    if (!tj) return mlcl__err(MLCL_ENOMEM, "%s: %s: cannot create a JPEG decoder", fn, path);
    int w = 0, h = 0, subsamp = 0, cs = 0, rc;
    unsigned char *samples = NULL;
    if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &cs) != 0) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: corrupt JPEG: %s", fn, path, tjGetErrorStr2(tj));
        goto done;
    }
    if ((rc = check_dims(fn, path, w, h, len, JPEG_PX_PER_BYTE)) < 0) goto done;
    if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: CMYK JPEG images are not supported", fn, path);
        goto done;
    }
    int gray = cs == TJCS_GRAY, nc = gray ? 1 : 3;
    if ((rc = alloc_raw((void **)&samples, (size_t)w * (size_t)h, (size_t)nc, fn)) < 0) goto done;
    /* STOPONWARNING: a truncated file ("premature end of data") is an error,
     * not an image padded with gray; LIMITSCANS: no progressive-scan bombs */
    if (tjDecompress2(tj, buf, (unsigned long)len, samples, w, 0, h, gray ? TJPF_GRAY : TJPF_RGB,
                      TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: corrupt or truncated JPEG: %s", fn, path, tjGetErrorStr2(tj));
        goto done;
    }
    int o = exif_orientation(buf, len);
    if (o != 1) {
        unsigned char *turned;
        int th, tw;
        if ((rc = orient(&turned, &th, &tw, samples, h, w, nc, o, fn)) < 0) goto done;
        mlcl__free(samples);
        samples = turned;
        h = th;
        w = tw;
    }
    rc = emit(fn, path, pixels, channels, height, width, samples, nc, 8, w, h, want);
done:
    mlcl__free(samples);
    tjDestroy(tj);
    return rc;
}

/* ---------------------------------------------------------------- PNG */

typedef struct {
    const unsigned char *buf;
    size_t len, pos;
    char msg[256];
    jmp_buf jb;
} png_src;

static void png_read_cb(png_structp png, png_bytep out, size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "truncated file (unexpected end of data)");
    memcpy(out, s->buf + s->pos, n);
    s->pos += n;
}

static void png_error_cb(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "?");
    longjmp(s->jb, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static png_voidp png_malloc_cb(png_structp png, png_alloc_size_t n) { (void)png; return mlcl__malloc(n); }
static void png_free_cb(png_structp png, png_voidp p) { (void)png; mlcl__free(p); }

static int read_png(const char *fn, const char *path, const unsigned char *buf, size_t len,
                    float **pixels, int *channels, int *height, int *width, int want)
{
    png_src s;
    memset(&s, 0, sizeof s);
    s.buf = buf;
    s.len = len;
    png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &s, png_error_cb, png_warning_cb,
                                               NULL, png_malloc_cb, png_free_cb);
    if (!png) return mlcl__err(MLCL_ENOMEM, "%s: %s: cannot create a PNG decoder", fn, path);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return mlcl__err(MLCL_ENOMEM, "%s: %s: cannot create a PNG decoder", fn, path);
    }
    /* everything the error path frees lives in this volatile block */
    unsigned char *volatile samples = NULL;
    png_bytep *volatile rows = NULL;
    volatile int rc = MLCL_OK;
    if (setjmp(s.jb)) {
        if (rc == MLCL_OK) rc = mlcl__err(MLCL_EFORMAT, "%s: %s: corrupt or truncated PNG: %s", fn, path, s.msg);
        goto done;
    }
    png_set_read_fn(png, &s, png_read_cb);
    /* the image size is bounded below; ancillary chunks are capped */
    png_set_chunk_malloc_max(png, (png_alloc_size_t)8 << 20);
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, info);
    png_uint_32 w = 0, h = 0;
    int depth = 0, ctype = 0, interlace = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    int crc = check_dims(fn, path, (long)w, (long)h, len, PNG_PX_PER_BYTE);
    if (crc < 0) { rc = crc; goto done; }
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int nc = png_get_channels(png, info), bits = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (nc < 1 || nc > 4 || (bits != 8 && bits != 16) ||
        rowbytes != (size_t)w * (size_t)nc * (size_t)(bits / 8)) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: unsupported PNG layout (%d channels of %d bits)", fn, path, nc, bits);
        goto done;
    }
    unsigned char *sm = NULL;
    png_bytep *rw = NULL;
    int arc = alloc_raw((void **)&sm, (size_t)h, rowbytes, fn);
    if (arc == MLCL_OK) {
        samples = sm;
        arc = mlcl__alloc_array((void **)&rw, (size_t)h, sizeof *rw, fn);
    }
    if (arc < 0) { rc = arc; goto done; }
    rows = rw;
    for (png_uint_32 i = 0; i < h; i++) rw[i] = sm + (size_t)i * rowbytes;
    png_read_image(png, rw);
    png_read_end(png, NULL);
    rc = emit(fn, path, pixels, channels, height, width, sm, nc, bits, (int)w, (int)h, want);
done:
    png_destroy_read_struct(&png, &info, NULL);
    mlcl__free(rows);
    mlcl__free(samples);
    return rc;
}

/* ---------------------------------------------------------------- public */

int mlcl_image_read(float **pixels, int *channels, int *height, int *width, const char *path,
                    int want_channels)
{
    static const char fn[] = "mlcl_image_read";
    MLCL_CHECK_NULL(fn, pixels);
    *pixels = NULL;
    MLCL_CHECK_NULL(fn, channels);
    MLCL_CHECK_NULL(fn, height);
    MLCL_CHECK_NULL(fn, width);
    MLCL_CHECK_NULL(fn, path);
    if (want_channels != 0 && want_channels != 1 && want_channels != 3 && want_channels != 4)
        return mlcl__err(MLCL_EINVAL, "%s: want_channels must be 0, 1, 3 or 4 (got %d)", fn, want_channels);
    unsigned char *buf;
    size_t len;
    MLCL_TRY(slurp(fn, path, &buf, &len));
    int rc;
    static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
        rc = read_jpeg(fn, path, buf, len, pixels, channels, height, width, want_channels);
    else if (len >= 8 && !memcmp(buf, png_sig, 8))
        rc = read_png(fn, path, buf, len, pixels, channels, height, width, want_channels);
    else if (len == 0)
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: empty file", fn, path);
    else
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: not a JPEG or PNG file (unknown signature)", fn, path);
    mlcl__free(buf);
    return rc;
}

void mlcl_image_free(float *pixels) { mlcl__free(pixels); }

/* ---------------------------------------------------------------- resize */

/* PIL's resampling coefficients (ImagingResample, bilinear = triangle filter):
 * output index i of a full output of size `out` (from `in`) covers input
 * [lo[i], lo[i] + cnt[i]) with weights w[i * ksize ...]. Only outputs
 * off..off+m-1 are computed. */
typedef struct { int *lo, *cnt; double *w; int ksize; } coeffs;

static void coeffs_free(coeffs *k) { mlcl__free(k->lo); mlcl__free(k->cnt); mlcl__free(k->w); }

static int coeffs_make(coeffs *k, int in, int out, int off, int m, const char *fn)
{
    memset(k, 0, sizeof *k);
    double scale = (double)in / out, fscale = scale > 1.0 ? scale : 1.0;
    double support = 1.0 * fscale;
    k->ksize = (int)ceil(support) * 2 + 1;
    int rc;
    if ((rc = mlcl__alloc_array((void **)&k->lo, (size_t)m, sizeof(int), fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&k->cnt, (size_t)m, sizeof(int), fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&k->w, (size_t)m, (size_t)k->ksize * sizeof(double), fn)) < 0) {
        coeffs_free(k);
        return rc;
    }
    for (int i = 0; i < m; i++) {
        double center = (i + off + 0.5) * scale;
        int lo = (int)floor(center - support + 0.5), hi = (int)floor(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        if (hi - lo > k->ksize) hi = lo + k->ksize;
        double *w = k->w + (size_t)i * (size_t)k->ksize, tot = 0.0;
        for (int x = lo; x < hi; x++) {
            double t = fabs((x - center + 0.5) / fscale);
            double v = t < 1.0 ? 1.0 - t : 0.0;
            w[x - lo] = v;
            tot += v;
        }
        if (tot > 0.0)
            for (int x = lo; x < hi; x++) w[x - lo] /= tot;
        else if (hi > lo) w[0] = 1.0; /* cannot happen for in, out > 0; kept safe */
        k->lo[i] = lo;
        k->cnt[i] = hi - lo;
    }
    return MLCL_OK;
}

int mlcl_image_resize_crop(float *dst, int out_h, int out_w, const float *src, int c, int h, int w)
{
    static const char fn[] = "mlcl_image_resize_crop";
    MLCL_CHECK_NULL(fn, dst);
    MLCL_CHECK_NULL(fn, src);
    MLCL_CHECK_POS(fn, out_h);
    MLCL_CHECK_POS(fn, out_w);
    MLCL_CHECK_POS(fn, c);
    MLCL_CHECK_POS(fn, h);
    MLCL_CHECK_POS(fn, w);
    /* Resize so that the image covers out_h x out_w (torchvision Resize with an
     * int size on the shorter side: the longer side is truncated), then crop. */
    long rh, rw;
    if ((double)out_h / h >= (double)out_w / w) {
        rh = out_h;
        rw = (long)((double)out_h * w / h);
        if (rw < out_w) rw = out_w;
    } else {
        rw = out_w;
        rh = (long)((double)out_w * h / w);
        if (rh < out_h) rh = out_h;
    }
    if (rh > INT_MAX || rw > INT_MAX)
        return mlcl__err(MLCL_EOVERFLOW, "%s: %d x %d scaled to %d x %d is too large", fn, h, w, out_h, out_w);
    /* Python round() of torchvision CenterCrop: half to even */
    int top = (int)nearbyint((rh - out_h) / 2.0), left = (int)nearbyint((rw - out_w) / 2.0);
    coeffs kx, ky;
    float *tmp = NULL;
    double *vacc = NULL;
    MLCL_TRY(coeffs_make(&kx, w, (int)rw, left, out_w, fn));
    int rc = coeffs_make(&ky, h, (int)rh, top, out_h, fn);
    if (rc < 0) { coeffs_free(&kx); return rc; }
    size_t tn;
    if (mlcl__mul_size((size_t)h, (size_t)out_w, &tn) != 0) {
        rc = mlcl__err(MLCL_EOVERFLOW, "%s: %d x %d overflows", fn, h, out_w);
        goto done;
    }
    if ((rc = alloc_raw((void **)&tmp, tn, sizeof(float), fn)) < 0) goto done;
    if ((rc = alloc_raw((void **)&vacc, (size_t)out_w, sizeof(double), fn)) < 0) goto done;
    for (int ch = 0; ch < c; ch++) {
        const float *s = src + (size_t)ch * (size_t)h * (size_t)w;
        /* rows the crop needs only */
        int y0 = ky.lo[0], y1 = ky.lo[out_h - 1] + ky.cnt[out_h - 1];
        for (int y = 0; y < out_h; y++) {
            if (ky.lo[y] < y0) y0 = ky.lo[y];
            if (ky.lo[y] + ky.cnt[y] > y1) y1 = ky.lo[y] + ky.cnt[y];
        }
        for (int y = y0; y < y1; y++) {
            const float *row = s + (size_t)y * (size_t)w;
            float *trow = tmp + (size_t)y * (size_t)out_w;
            for (int x = 0; x < out_w; x++) {
                const double *wt = kx.w + (size_t)x * (size_t)kx.ksize;
                const float *in = row + kx.lo[x];
                double acc = 0.0;
                for (int t = 0; t < kx.cnt[x]; t++) acc += wt[t] * in[t];
                trow[x] = (float)acc;
            }
        }
        float *d = dst + (size_t)ch * (size_t)out_h * (size_t)out_w;
        for (int y = 0; y < out_h; y++) {
            const double *wt = ky.w + (size_t)y * (size_t)ky.ksize;
            double *acc = vacc;
            for (int x = 0; x < out_w; x++) acc[x] = 0.0;
            for (int t = 0; t < ky.cnt[y]; t++) {
                const float *trow = tmp + (size_t)(ky.lo[y] + t) * (size_t)out_w;
                const double wv = wt[t];
                for (int x = 0; x < out_w; x++) acc[x] += wv * trow[x];
            }
            float *drow = d + (size_t)y * (size_t)out_w;
            for (int x = 0; x < out_w; x++) drow[x] = (float)acc[x];
        }
    }
done:
    mlcl__free(vacc);
    mlcl__free(tmp);
    coeffs_free(&kx);
    coeffs_free(&ky);
    return rc;
}
