/* Image files and manifests: PNG (gray, gray+alpha, RGB, RGBA, palette with
 * transparency, 1/16-bit, interlaced) round trips exactly; JPEG within
 * tolerance; corrupt and truncated files are clean errors naming the file;
 * the resize + centre crop agrees with PIL; CSV manifests (0/1 columns and a
 * `labels` column), COCO JSON and a VOC tree give the expected labels, names
 * and pixels; bad images fail or are skipped and counted. Every image is
 * generated here with libpng and libjpeg-turbo. */
#include "testutil.h"
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <png.h>
#include <zlib.h>
#include <turbojpeg.h>

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mlcl_img_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static const char *tmp(const char *name)
{
    static char p[16][512];
    static int k;
    k = (k + 1) % 16;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static void mkdirs(const char *rel)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s'", tmpdir, rel);
    ck_assert_int_eq(system(cmd), 0);
}

static void spits(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void spit(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) ck_assert_uint_eq(fwrite(d, 1, n, f), n);
    fclose(f);
}

/* ---------------------------------------------------------------- writers */

/* Writes a PNG with libpng: `data` holds rows of packed samples as libpng
 * expects them (16-bit big-endian). */
static void write_png(const char *path, int w, int h, int ctype, int depth, const unsigned char *data,
                      const png_color *pal, int npal, const unsigned char *trns, int ntrns, int interlace)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert(png && info);
    if (setjmp(png_jmpbuf(png))) ck_abort_msg("libpng write error");
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    int ch = ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_PALETTE ? 1
           : ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : ctype == PNG_COLOR_TYPE_RGB ? 3 : 4;
    size_t rowbytes = ((size_t)w * (size_t)ch * (size_t)depth + 7) / 8;
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(data + (size_t)y * rowbytes);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
}

/* 8-bit interleaved RGB (pf TJPF_RGB) or gray (TJPF_GRAY) to a JPEG file. */
static void write_jpeg(const char *path, int w, int h, int pf, const unsigned char *px, int quality)
{
    tjhandle tj = tjInitCompress();
    unsigned char *jb = NULL;
    unsigned long jl = 0;
    int ss = pf == TJPF_GRAY ? TJSAMP_GRAY : TJSAMP_444;
    ck_assert_int_eq(tjCompress2(tj, px, w, 0, h, pf, &jb, &jl, ss, quality, 0), 0);
    spit(path, jb, jl);
    tjFree(jb);
    tjDestroy(tj);
}

/* A smooth RGB test pattern (8-bit interleaved). */
static unsigned char *pattern(int w, int h, int seed)
{
    unsigned char *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *q = p + ((size_t)y * w + x) * 3;
            q[0] = (unsigned char)((x * 255) / (w > 1 ? w - 1 : 1));
            q[1] = (unsigned char)((y * 255) / (h > 1 ? h - 1 : 1));
            q[2] = (unsigned char)((seed * 37 + x + y) & 255);
        }
    return p;
}

/* A constant RGB PNG of the given size. */
static void solid_png(const char *path, int w, int h, int r, int g, int b)
{
    unsigned char *p = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h; i++) { p[3 * i] = (unsigned char)r; p[3 * i + 1] = (unsigned char)g; p[3 * i + 2] = (unsigned char)b; }
    write_png(path, w, h, PNG_COLOR_TYPE_RGB, 8, p, NULL, 0, NULL, 0, 0);
    free(p);
}

/* ---------------------------------------------------------------- PNG */

START_TEST(png_round_trips)
{
    const int w = 7, h = 5; /* odd sizes */
    unsigned char *rgb = pattern(w, h, 1);
    float *px = NULL;
    int c, hh, ww;
    /* RGB 8-bit, interlaced too */
    for (int il = 0; il < 2; il++) {
        const char *p = tmp(il ? "rgb_i.png" : "rgb.png");
        write_png(p, w, h, PNG_COLOR_TYPE_RGB, 8, rgb, NULL, 0, NULL, 0, il);
        ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, p, 0));
        ck_assert_int_eq(c, 3); ck_assert_int_eq(hh, h); ck_assert_int_eq(ww, w);
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < w * h; i++)
                ck_assert_float_eq(px[k * w * h + i], (float)rgb[3 * i + k] / 255.0f);
        mlcl_image_free(px);
    }
    /* to one channel: ITU-R 601-2 luma */
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("rgb.png"), 1));
    ck_assert_int_eq(c, 1);
    for (int i = 0; i < w * h; i++) {
        float r = rgb[3 * i] / 255.0f, g = rgb[3 * i + 1] / 255.0f, b = rgb[3 * i + 2] / 255.0f;
        ck_assert_float_eq_tol(px[i], 0.299f * r + 0.587f * g + 0.114f * b, 1e-6f);
    }
    mlcl_image_free(px);
    /* to four: alpha 1 */
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("rgb.png"), 4));
    ck_assert_int_eq(c, 4);
    for (int i = 0; i < w * h; i++) ck_assert_float_eq(px[3 * w * h + i], 1.0f);
    mlcl_image_free(px);

    /* gray 8-bit -> 3 planes copied */
    unsigned char gray[35];
    for (int i = 0; i < 35; i++) gray[i] = (unsigned char)(i * 7);
    write_png(tmp("g.png"), w, h, PNG_COLOR_TYPE_GRAY, 8, gray, NULL, 0, NULL, 0, 0);
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("g.png"), 3));
    ck_assert_int_eq(c, 3);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 35; i++) ck_assert_float_eq(px[k * 35 + i], gray[i] / 255.0f);
    mlcl_image_free(px);
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("g.png"), 0));
    ck_assert_int_eq(c, 1);
    mlcl_image_free(px);

    /* gray+alpha: native is 1 plane, alpha dropped */
    unsigned char ga[70];
    for (int i = 0; i < 35; i++) { ga[2 * i] = (unsigned char)(250 - i); ga[2 * i + 1] = (unsigned char)(i * 3); }
    write_png(tmp("ga.png"), w, h, PNG_COLOR_TYPE_GRAY_ALPHA, 8, ga, NULL, 0, NULL, 0, 0);
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("ga.png"), 0));
    ck_assert_int_eq(c, 1);
    for (int i = 0; i < 35; i++) ck_assert_float_eq(px[i], (250 - i) / 255.0f);
    mlcl_image_free(px);

    /* RGBA: native 4, alpha kept exactly; 3 drops it */
    unsigned char rgba[140];
    for (int i = 0; i < 35; i++)
        for (int k = 0; k < 4; k++) rgba[4 * i + k] = (unsigned char)(i * 5 + k * 40);
    write_png(tmp("rgba.png"), w, h, PNG_COLOR_TYPE_RGBA, 8, rgba, NULL, 0, NULL, 0, 0);
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("rgba.png"), 0));
    ck_assert_int_eq(c, 4);
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 35; i++) ck_assert_float_eq(px[k * 35 + i], rgba[4 * i + k] / 255.0f);
    mlcl_image_free(px);
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("rgba.png"), 3));
    ck_assert_int_eq(c, 3);
    ck_assert_float_eq(px[2 * 35 + 34], rgba[4 * 34 + 2] / 255.0f);
    mlcl_image_free(px);

    /* palette with transparency (4-bit indices) */
    png_color pal[3] = { { 255, 0, 0 }, { 0, 128, 0 }, { 10, 20, 30 } };
    unsigned char trns[2] = { 0, 200 };
    unsigned char idx[5 * 4]; /* 7 px at 4 bits = 4 bytes per row */
    int want_idx[35];
    memset(idx, 0, sizeof idx);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v = (x + y) % 3;
            want_idx[y * w + x] = v;
            idx[y * 4 + x / 2] |= (unsigned char)(x % 2 ? v : v << 4);
        }
    write_png(tmp("pal.png"), w, h, PNG_COLOR_TYPE_PALETTE, 4, idx, pal, 3, trns, 2, 0);
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("pal.png"), 0));
    ck_assert_int_eq(c, 4);
    for (int i = 0; i < 35; i++) {
        const png_color *pc = &pal[want_idx[i]];
        ck_assert_float_eq(px[i], pc->red / 255.0f);
        ck_assert_float_eq(px[35 + i], pc->green / 255.0f);
        ck_assert_float_eq(px[70 + i], pc->blue / 255.0f);
        ck_assert_float_eq(px[105 + i], (want_idx[i] < 2 ? trns[want_idx[i]] : 255) / 255.0f);
    }
    mlcl_image_free(px);

    /* 16-bit RGB: samples / 65535 */
    unsigned char rgb16[35 * 6];
    for (int i = 0; i < 35 * 3; i++) { unsigned v = (unsigned)(i * 601 + 3); rgb16[2 * i] = (unsigned char)(v >> 8); rgb16[2 * i + 1] = (unsigned char)v; }
    write_png(tmp("rgb16.png"), w, h, PNG_COLOR_TYPE_RGB, 16, rgb16, NULL, 0, NULL, 0, 0);
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("rgb16.png"), 3));
    for (int i = 0; i < 35; i++)
        for (int k = 0; k < 3; k++)
            ck_assert_float_eq(px[k * 35 + i], (float)((3 * i + k) * 601 + 3) / 65535.0f);
    mlcl_image_free(px);

    /* 1-bit gray */
    unsigned char bits[5] = { 0xA4, 0x00, 0xFE, 0x10, 0x02 }; /* one byte per 7-px row */
    write_png(tmp("g1.png"), w, h, PNG_COLOR_TYPE_GRAY, 1, bits, NULL, 0, NULL, 0, 0);
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("g1.png"), 1));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) ck_assert_float_eq(px[y * w + x], (bits[y] >> (7 - x)) & 1 ? 1.0f : 0.0f);
    mlcl_image_free(px);
    free(rgb);
}
END_TEST

/* ---------------------------------------------------------------- JPEG */

START_TEST(jpeg_decodes)
{
    const int w = 33, h = 17;
    unsigned char *rgb = pattern(w, h, 2);
    write_jpeg(tmp("a.jpg"), w, h, TJPF_RGB, rgb, 98);
    float *px = NULL;
    int c, hh, ww;
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("a.jpg"), 0));
    ck_assert_int_eq(c, 3); ck_assert_int_eq(hh, h); ck_assert_int_eq(ww, w);
    double maxerr = 0, sumerr = 0;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < w * h; i++) {
            double e = fabs(px[k * w * h + i] - rgb[3 * i + k] / 255.0);
            maxerr = e > maxerr ? e : maxerr;
            sumerr += e;
        }
    ck_assert_msg(maxerr < 0.06 && sumerr / (3 * w * h) < 0.01, "JPEG error max %g mean %g", maxerr, sumerr / (3 * w * h));
    mlcl_image_free(px);
    /* the decode agrees with TurboJPEG's own, sample for sample */
    size_t jl;
    unsigned char *jb = slurp(tmp("a.jpg"), &jl);
    tjhandle tj = tjInitDecompress();
    unsigned char *ref = malloc((size_t)w * h * 3);
    ck_assert_int_eq(tjDecompress2(tj, jb, jl, ref, w, 0, h, TJPF_RGB, 0), 0);
    tjDestroy(tj);
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("a.jpg"), 3));
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < w * h; i++) ck_assert_float_eq(px[k * w * h + i], ref[3 * i + k] / 255.0f);
    mlcl_image_free(px);
    free(ref);

    /* grayscale JPEG: one native plane */
    unsigned char g[33 * 17];
    for (int i = 0; i < w * h; i++) g[i] = (unsigned char)(i % 200);
    write_jpeg(tmp("g.jpg"), w, h, TJPF_GRAY, g, 95);
    ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp("g.jpg"), 0));
    ck_assert_int_eq(c, 1);
    mlcl_image_free(px);

    /* truncated: an error naming the file, not a gray-padded image */
    spit(tmp("trunc.jpg"), jb, jl * 2 / 3);
    ck_assert_status_msg(mlcl_image_read(&px, &c, &hh, &ww, tmp("trunc.jpg"), 3), MLCL_EFORMAT, "trunc.jpg: corrupt or truncated JPEG");
    ck_assert_ptr_null(px);
    /* corrupt: bytes of the header garbled */
    unsigned char *bad = malloc(jl);
    memcpy(bad, jb, jl);
    for (size_t i = 4; i < 60 && i < jl; i++) bad[i] ^= 0x5A;
    spit(tmp("corrupt.jpg"), bad, jl);
    ck_assert_status_msg(mlcl_image_read(&px, &c, &hh, &ww, tmp("corrupt.jpg"), 3), MLCL_EFORMAT, "corrupt.jpg: corrupt");
    free(bad);
    free(jb);
    free(rgb);
}
END_TEST

/* EXIF orientation: an APP1 segment with tag 0x0112 inserted after SOI */
START_TEST(jpeg_exif_orientation)
{
    const int w = 9, h = 5;
    unsigned char *rgb = pattern(w, h, 4);
    write_jpeg(tmp("plain.jpg"), w, h, TJPF_RGB, rgb, 95);
    free(rgb);
    size_t jl;
    unsigned char *jb = slurp(tmp("plain.jpg"), &jl);
    float *ref = NULL, *px = NULL;
    int c, hh, ww;
    ck_assert_ok(mlcl_image_read(&ref, &c, &hh, &ww, tmp("plain.jpg"), 3));
    for (int o = 1; o <= 8; o++) {
        for (int le = 0; le < 2; le++) {
            /* FFE1, length 34, "Exif\0\0", TIFF header, IFD0 with 1 entry (0x0112 SHORT 1 o), next 0 */
            unsigned char app[36] = { 0xFF, 0xE1, 0, 34, 'E', 'x', 'i', 'f', 0, 0 };
            unsigned char *t = app + 10;
            if (le) { t[0] = 'I'; t[1] = 'I'; t[2] = 42; t[4] = 8; t[8] = 1; t[10] = 0x12; t[11] = 0x01; t[12] = 3; t[14] = 1; t[18] = (unsigned char)o; }
            else { t[0] = 'M'; t[1] = 'M'; t[3] = 42; t[7] = 8; t[9] = 1; t[10] = 0x01; t[11] = 0x12; t[13] = 3; t[17] = 1; t[19] = (unsigned char)o; }
            unsigned char *f = malloc(jl + sizeof app);
            memcpy(f, jb, 2);
            memcpy(f + 2, app, sizeof app);
            memcpy(f + 2 + sizeof app, jb + 2, jl - 2);
            char name[32];
            snprintf(name, sizeof name, "o%d%s.jpg", o, le ? "le" : "be");
            spit(tmp(name), f, jl + sizeof app);
            free(f);
            ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp(name), 3));
            ck_assert_int_eq(hh, o >= 5 ? w : h);
            ck_assert_int_eq(ww, o >= 5 ? h : w);
            for (int k = 0; k < 3; k++)
                for (int y = 0; y < hh; y++)
                    for (int x = 0; x < ww; x++) {
                        int sy, sx; /* the source pixel of the displayed (y, x) */
                        switch (o) {
                        case 2: sy = y; sx = w - 1 - x; break;
                        case 3: sy = h - 1 - y; sx = w - 1 - x; break;
                        case 4: sy = h - 1 - y; sx = x; break;
                        case 5: sy = x; sx = y; break;
                        case 6: sy = h - 1 - x; sx = y; break;
                        case 7: sy = h - 1 - x; sx = w - 1 - y; break;
                        case 8: sy = x; sx = w - 1 - y; break;
                        default: sy = y; sx = x;
                        }
                        ck_assert_float_eq(px[(k * hh + y) * ww + x], ref[(k * h + sy) * w + sx]);
                    }
            mlcl_image_free(px);
        }
    }
    mlcl_image_free(ref);
    free(jb);
    /* and as PIL displays them (ImageOps.exif_transpose) */
    if (system("/usr/bin/python3 -c 'import PIL, numpy' 2>/dev/null") != 0) return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"\n"
             "import numpy as np\nfrom PIL import Image, ImageOps\n"
             "for o in range(1, 9):\n"
             "    a = np.asarray(ImageOps.exif_transpose(Image.open('%s/o%%dbe.jpg' %% o)).convert('RGB'))\n"
             "    a.transpose(2, 0, 1).astype(np.uint8).tofile('%s/pil%%d.u8' %% o)\n\"",
             tmpdir, tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    for (int o = 1; o <= 8; o++) {
        char name[32];
        snprintf(name, sizeof name, "o%dbe.jpg", o);
        ck_assert_ok(mlcl_image_read(&px, &c, &hh, &ww, tmp(name), 3));
        snprintf(name, sizeof name, "pil%d.u8", o);
        size_t n;
        unsigned char *pil = slurp(tmp(name), &n);
        ck_assert_uint_eq(n, (size_t)3 * hh * ww);
        for (size_t i = 0; i < n; i++) ck_assert_float_eq_tol(px[i] * 255.0f, (float)pil[i], 1.01f);
        free(pil);
        mlcl_image_free(px);
    }
}
END_TEST

START_TEST(bad_images)
{
    float *px = NULL;
    int c, h, w;
    unsigned char *rgb = pattern(16, 16, 3);
    write_png(tmp("ok.png"), 16, 16, PNG_COLOR_TYPE_RGB, 8, rgb, NULL, 0, NULL, 0, 0);
    free(rgb);
    size_t n;
    unsigned char *b = slurp(tmp("ok.png"), &n);
    /* truncated PNG */
    spit(tmp("trunc.png"), b, n - 20);
    ck_assert_status_msg(mlcl_image_read(&px, &c, &h, &w, tmp("trunc.png"), 3), MLCL_EFORMAT, "trunc.png: corrupt or truncated PNG");
    ck_assert_ptr_null(px);
    /* a flipped byte in IDAT: CRC error */
    b[n - 20] ^= 0xFF;
    spit(tmp("crc.png"), b, n);
    ck_assert_status_msg(mlcl_image_read(&px, &c, &h, &w, tmp("crc.png"), 3), MLCL_EFORMAT, "crc.png: corrupt or truncated PNG");
    /* IHDR claiming a huge image (CRC fixed up so libpng accepts the chunk) */
    unsigned char *big = malloc(n);
    memcpy(big, b, n);
    static const uint32_t dims[2][2] = { { 100000, 100000 }, { 10000, 10000 } };
    static const char *msgs[2] = { "is larger than", "more than" };
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 2; j++)
            for (int s = 0; s < 4; s++) big[16 + 4 * j + s] = (unsigned char)(dims[k][j] >> (24 - 8 * s));
        uint32_t crc = (uint32_t)crc32(0, big + 12, 17);
        for (int s = 0; s < 4; s++) big[29 + s] = (unsigned char)(crc >> (24 - 8 * s));
        spit(tmp("big.png"), big, n);
        ck_assert_status_msg(mlcl_image_read(&px, &c, &h, &w, tmp("big.png"), 3), MLCL_EFORMAT, msgs[k]);
    }
    free(big);
    free(b);
    /* neither JPEG nor PNG; empty; absent; bad argument */
    spits(tmp("x.png"), "GIF89a....");
    ck_assert_status_msg(mlcl_image_read(&px, &c, &h, &w, tmp("x.png"), 3), MLCL_EFORMAT, "not a JPEG or PNG");
    spits(tmp("e.png"), "");
    ck_assert_status_msg(mlcl_image_read(&px, &c, &h, &w, tmp("e.png"), 3), MLCL_EFORMAT, "empty file");
    ck_assert_status_msg(mlcl_image_read(&px, &c, &h, &w, tmp("absent.png"), 3), MLCL_EIO, "absent.png");
    ck_assert_status_msg(mlcl_image_read(&px, &c, &h, &w, tmp("ok.png"), 2), MLCL_EINVAL, "want_channels");
    ck_assert_status_msg(mlcl_image_read(&px, &c, &h, &w, tmpdir, 3), MLCL_EIO, "not a regular file");
}
END_TEST

/* ---------------------------------------------------------------- resize */

START_TEST(resize_crop)
{
    /* same size: the identity */
    float src[2 * 5 * 7], dst[2 * 5 * 7];
    for (int i = 0; i < 70; i++) src[i] = (float)((i * 37) % 101) / 100.0f;
    ck_assert_ok(mlcl_image_resize_crop(dst, 5, 7, src, 2, 5, 7));
    for (int i = 0; i < 70; i++) ck_assert_float_eq(dst[i], src[i]);
    /* a constant stays constant whatever the scale */
    float cst[3 * 9 * 13], out[3 * 4 * 4];
    for (int i = 0; i < 3 * 9 * 13; i++) cst[i] = 0.25f;
    ck_assert_ok(mlcl_image_resize_crop(out, 4, 4, cst, 3, 9, 13));
    for (int i = 0; i < 48; i++) ck_assert_float_eq_tol(out[i], 0.25f, 1e-6f);
    /* centre crop of a same-height image: the middle columns, exactly */
    float wide[4 * 10], crop[4 * 4];
    for (int i = 0; i < 40; i++) wide[i] = (float)i;
    ck_assert_ok(mlcl_image_resize_crop(crop, 4, 4, wide, 1, 4, 10));
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) ck_assert_float_eq(crop[y * 4 + x], wide[y * 10 + x + 3]);
    ck_assert_status_msg(mlcl_image_resize_crop(crop, 0, 4, wide, 1, 4, 10), MLCL_EINVAL, "out_h");

    /* against PIL (mode F, BILINEAR = antialiased triangle) + torchvision's crop */
    if (system("/usr/bin/python3 -c 'import PIL, numpy' 2>/dev/null") != 0) return;
    const int H = 23, W = 37, S = 8;
    float img[23 * 37];
    for (int i = 0; i < H * W; i++) img[i] = (float)(((i * 7919) % 1000) / 999.0);
    spit(tmp("img.f32"), img, sizeof img);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"\n"
             "import numpy as np\nfrom PIL import Image\n"
             "a = np.fromfile('%s', dtype=np.float32).reshape(%d, %d)\n"
             "h, w, S = %d, %d, %d\n"
             "rh, rw = (S, int(S * w / h)) if h <= w else (int(S * h / w), S)\n"
             "r = np.asarray(Image.fromarray(a, mode='F').resize((rw, rh), Image.BILINEAR))\n"
             "t, l = int(round((rh - S) / 2.0)), int(round((rw - S) / 2.0))\n"
             "r[t:t + S, l:l + S].astype(np.float32).tofile('%s')\n\"",
             tmp("img.f32"), H, W, H, W, S, tmp("pil.f32"));
    ck_assert_int_eq(system(cmd), 0);
    size_t n;
    float *pil = (float *)slurp(tmp("pil.f32"), &n);
    ck_assert_uint_eq(n, sizeof(float) * S * S);
    float mine[8 * 8];
    ck_assert_ok(mlcl_image_resize_crop(mine, S, S, img, 1, H, W));
    for (int i = 0; i < S * S; i++) ck_assert_float_eq_tol(mine[i], pil[i], 1e-5f);
    free(pil);
}
END_TEST

/* ---------------------------------------------------------------- manifests */

/* 6 images of known solid colours: cat (red) / dog (green) / both (yellow),
 * PNG and JPEG, odd sizes, a gray and an RGBA one. */
static const int colours[6][3] = { { 255, 0, 0 }, { 0, 255, 0 }, { 255, 255, 0 }, { 255, 0, 0 }, { 0, 255, 0 }, { 255, 255, 0 } };
static const char *img_names[6] = { "a.png", "b.png", "sub/c.png", "d.jpg", "e.jpg", "f.png" };
static const int img_labels[6][2] = { { 1, 0 }, { 0, 1 }, { 1, 1 }, { 1, 0 }, { 0, 1 }, { 1, 1 } };

static void make_images(const char *dir)
{
    char rel[600];
    snprintf(rel, sizeof rel, "%s/sub", dir);
    mkdirs(rel);
    for (int i = 0; i < 6; i++) {
        int w = 9 + 2 * i, h = 7 + i;
        char p[700];
        snprintf(p, sizeof p, "%s/%s/%s", tmpdir, dir, img_names[i]);
        if (strstr(img_names[i], ".jpg")) {
            unsigned char *q = malloc((size_t)w * h * 3);
            for (int k = 0; k < w * h; k++)
                for (int j = 0; j < 3; j++) q[3 * k + j] = (unsigned char)colours[i][j];
            write_jpeg(p, w, h, TJPF_RGB, q, 95);
            free(q);
        } else if (i == 5) {
            /* RGBA (alpha dropped) */
            unsigned char *q = malloc((size_t)w * h * 4);
            for (int k = 0; k < w * h; k++) {
                for (int j = 0; j < 3; j++) q[4 * k + j] = (unsigned char)colours[i][j];
                q[4 * k + 3] = 100;
            }
            write_png(p, w, h, PNG_COLOR_TYPE_RGBA, 8, q, NULL, 0, NULL, 0, 0);
            free(q);
        } else {
            solid_png(p, w, h, colours[i][0], colours[i][1], colours[i][2]);
        }
    }
}

static void check_image_set(const mlcl_dataset *ds, int n, const int *rows, int S)
{
    int nn, d, c, ch, hh, ww;
    ck_assert_ok(mlcl_dataset_dims(ds, &nn, &d, &c));
    ck_assert_ok(mlcl_dataset_image_shape(ds, &ch, &hh, &ww));
    ck_assert_int_eq(nn, n);
    ck_assert_int_eq(c, 2);
    ck_assert_int_eq(ch, 3); ck_assert_int_eq(hh, S); ck_assert_int_eq(ww, S);
    ck_assert_int_eq(d, 3 * S * S);
    ck_assert_str_eq(ds_label_name(ds, 0), "cat");
    ck_assert_str_eq(ds_label_name(ds, 1), "dog");
    const float *x = mlcl_dataset_features(ds);
    const uint8_t *y = mlcl_dataset_labels(ds);
    for (int i = 0; i < n; i++) {
        int r = rows[i];
        ck_assert_int_eq(y[2 * i], img_labels[r][0]);
        ck_assert_int_eq(y[2 * i + 1], img_labels[r][1]);
        float tol = strstr(img_names[r], ".jpg") ? 0.02f : 1e-6f;
        for (int k = 0; k < 3; k++)
            for (int p = 0; p < S * S; p++)
                ck_assert_float_eq_tol(x[(size_t)i * d + k * S * S + p], colours[r][k] / 255.0f, tol);
    }
}

START_TEST(csv_manifests)
{
    make_images("m");
    const int all[6] = { 0, 1, 2, 3, 4, 5 };
    mlcl_manifest_options o;
    ck_assert_ok(mlcl_manifest_options_init(&o, MLCL_MANIFEST_OPTIONS_VERSION));
    mlcl_manifest_options m = MLCL_MANIFEST_OPTIONS_INIT;
    ck_assert_int_eq(memcmp(&m, &o, sizeof m), 0);
    o.height = o.width = 6;
    /* one 0/1 column per label */
    spits(tmp("m/cols.csv"), "path,cat,dog\na.png,1,0\nb.png,0,1\nsub/c.png,1,1\nd.jpg,1,0\ne.jpg,0,1\nf.png,1,1\n");
    mlcl_dataset *ds = NULL;
    int skipped = -1;
    ck_assert_ok(mlcl_dataset_load_image_csv(&ds, &skipped, tmp("m/cols.csv"), &o));
    ck_assert_int_eq(skipped, 0);
    check_image_set(ds, 6, all, 6);
    mlcl_dataset_free(ds);
    /* a `labels` column (TSV), names sorted; one thread gives the same bytes */
    spits(tmp("m/lab.tsv"), "labels\tpath\ncat\ta.png\ndog\tb.png\ndog; cat\tsub/c.png\ncat\td.jpg\ndog\te.jpg\ncat;dog;\tf.png\n");
    ck_assert_ok(mlcl_dataset_load_image_csv(&ds, &skipped, tmp("m/lab.tsv"), &o));
    check_image_set(ds, 6, all, 6);
    mlcl_dataset *one = NULL;
    o.threads = 1;
    ck_assert_ok(mlcl_dataset_load_image_csv(&one, NULL, tmp("m/lab.tsv"), &o));
    ck_assert_int_eq(memcmp(mlcl_dataset_features(ds), mlcl_dataset_features(one), sizeof(float) * 6 * 108), 0);
    mlcl_dataset_free(one);
    o.threads = 0;
    mlcl_dataset_free(ds);
    /* image_root instead of the manifest's folder */
    spits(tmp("elsewhere.csv"), "path,cat,dog\na.png,1,0\n");
    o.image_root = tmp("m");
    ck_assert_ok(mlcl_dataset_load_image_csv(&ds, NULL, tmp("elsewhere.csv"), &o));
    mlcl_dataset_free(ds);
    o.image_root = NULL;
    /* label names given (the training set's): order and extra names */
    const char *names[3] = { "dog", "bird", "cat" };
    o.label_names = names;
    o.n_label_names = 3;
    ck_assert_ok(mlcl_dataset_load_image_csv(&ds, NULL, tmp("m/lab.tsv"), &o));
    int c;
    mlcl_dataset_dims(ds, NULL, NULL, &c);
    ck_assert_int_eq(c, 3);
    ck_assert_str_eq(ds_label_name(ds, 1), "bird");
    const uint8_t *y = mlcl_dataset_labels(ds);
    ck_assert_int_eq(y[0], 0); ck_assert_int_eq(y[1], 0); ck_assert_int_eq(y[2], 1); /* a.png: cat */
    ck_assert_int_eq(y[3], 1); ck_assert_int_eq(y[5], 0);                            /* b.png: dog */
    mlcl_dataset_free(ds);
    o.n_label_names = 1;
    ck_assert_status_msg(mlcl_dataset_load_image_csv(&ds, NULL, tmp("m/lab.tsv"), &o), MLCL_EFORMAT,
                         "label 'cat' is not among the 1 given label names");
    o.label_names = NULL;
    o.n_label_names = 0;

    /* a corrupt image: an error naming it; skipped and counted on request */
    size_t n;
    unsigned char *b = slurp(tmp("m/d.jpg"), &n);
    spit(tmp("m/d.jpg"), b, n / 2);
    free(b);
    ck_assert_status_msg(mlcl_dataset_load_image_csv(&ds, &skipped, tmp("m/cols.csv"), &o), MLCL_EFORMAT,
                         "image 4 of 6: mlcl_image_read:");
    ck_assert_msg(strstr(mlcl_last_error(), "d.jpg: corrupt"), "%s", mlcl_last_error());
    ck_assert_ptr_null(ds);
    remove(tmp("m/b.png"));
    o.skip_bad_images = 1;
    ck_assert_ok(mlcl_dataset_load_image_csv(&ds, &skipped, tmp("m/cols.csv"), &o));
    ck_assert_int_eq(skipped, 2);
    const int kept[4] = { 0, 2, 4, 5 };
    check_image_set(ds, 4, kept, 6);
    mlcl_dataset_free(ds);
    o.skip_bad_images = 0;
    ck_assert_status_msg(mlcl_dataset_load_image_csv(&ds, &skipped, tmp("m/cols.csv"), &o), MLCL_EIO,
                         "image 2 of 6: mlcl_image_read: cannot open");

    /* manifest errors: file, line, column */
    struct { const char *text, *msg; } bad[] = {
        { "file,cat\na.png,1\n", "line 1: the header has no 'path' column" },
        { "path\na.png\n", "no label columns besides 'path'" },
        { "path,cat\na.png,2\n", "line 2, column 2 ('cat'): label value '2' is not 0 or 1" },
        { "path,cat\n,1\n", "line 2, column 1 ('path'): empty path" },
        { "path,cat\na.png\n", "line 2: 1 fields, but the header has 2 columns" },
        { "path,cat,cat\na.png,1,1\n", "column 3 ('cat'): label column named twice" },
        { "path,cat\n", "no images after the header" },
        { "path,labels\na.png,\n", "no label names" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        spits(tmp("m/bad.csv"), bad[k].text);
        mlcl_clear_error();
        int rc = mlcl_dataset_load_image_csv(&ds, NULL, tmp("m/bad.csv"), &o);
        ck_assert_msg(rc == MLCL_EFORMAT && strstr(mlcl_last_error(), bad[k].msg) && strstr(mlcl_last_error(), "bad.csv"),
                      "case %zu: %d '%s' lacks '%s'", k, rc, mlcl_last_error(), bad[k].msg);
    }
    o.channels = 2;
    ck_assert_status_msg(mlcl_dataset_load_image_csv(&ds, NULL, tmp("m/cols.csv"), &o), MLCL_EINVAL, "channels");
    /* 400 images of 3 x 20000 x 20000 floats (1.9 TB): refused before allocating */
    o.channels = 3;
    o.height = o.width = 20000;
    FILE *f = fopen(tmp("m/huge.csv"), "w");
    fputs("path,cat\n", f);
    for (int i = 0; i < 400; i++) fputs("a.png,1\n", f);
    fclose(f);
    ck_assert_status_msg(mlcl_dataset_load_image_csv(&ds, NULL, tmp("m/huge.csv"), &o), MLCL_ENOMEM, "use a smaller image size");
}
END_TEST

START_TEST(coco_manifest)
{
    mkdirs("coco/annotations");
    make_images("coco/val2017");
    /* categories out of id order; labels come in ascending id order */
    const char *json =
        "{\"info\": {}, \"categories\": [{\"id\": 18, \"name\": \"dog\", \"supercategory\": \"animal\"},\n"
        "                {\"id\": 17, \"name\": \"cat\"}],\n"
        " \"images\": [%s],\n"
        " \"annotations\": [%s]}\n";
    char imgs[2048] = "", anns[4096] = "";
    int aid = 1;
    for (int i = 0; i < 6; i++) {
        char e[256];
        snprintf(e, sizeof e, "%s{\"id\": %d, \"file_name\": \"%s\", \"width\": 1, \"height\": 1}", i ? ", " : "", 100 + i * 3, img_names[i]);
        strcat(imgs, e);
        for (int j = 0; j < 2; j++)
            for (int rep = 0; rep < 1 + (i % 2); rep++) /* repeated annotations: still one label */
                if (img_labels[i][j]) {
                    snprintf(e, sizeof e, "%s{\"id\": %d, \"image_id\": %d, \"category_id\": %d, \"iscrowd\": 0}", aid > 1 ? ", " : "",
                             aid, 100 + i * 3, 17 + j);
                    aid++;
                    strcat(anns, e);
                }
    }
    char buf[8192];
    snprintf(buf, sizeof buf, json, imgs, anns);
    spits(tmp("coco/annotations/instances_val2017.json"), buf);
    mlcl_manifest_options o = MLCL_MANIFEST_OPTIONS_INIT;
    o.height = 5;
    o.width = 5;
    mlcl_dataset *ds = NULL;
    /* the image folder found from the COCO layout */
    ck_assert_ok(mlcl_dataset_load_coco(&ds, NULL, tmp("coco/annotations/instances_val2017.json"), &o));
    const int all[6] = { 0, 1, 2, 3, 4, 5 };
    check_image_set(ds, 6, all, 5);
    mlcl_dataset_free(ds);
    /* and given */
    spits(tmp("coco/x.json"), buf);
    o.image_root = tmp("coco/val2017");
    ck_assert_ok(mlcl_dataset_load_coco(&ds, NULL, tmp("coco/x.json"), &o));
    check_image_set(ds, 6, all, 5);
    mlcl_data_format fmt;
    ck_assert_ok(mlcl_data_guess_format(&fmt, tmp("coco/x.json")));
    ck_assert_int_eq(fmt, MLCL_FORMAT_COCO);
    mlcl_dataset_free(ds);
    struct { const char *text, *msg; } bad[] = {
        { "{\"images\": [", "line 1, column" },
        { "[1, 2]", "the top level is not a JSON object" },
        { "{\"images\": [], \"annotations\": [], \"categories\": [{\"id\": 1, \"name\": \"a\"}]}", "\"images\" is empty" },
        { "{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], \"annotations\": []}", "no \"categories\" array" },
        { "{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], \"annotations\": [{\"image_id\": 1, \"category_id\": 2}], "
          "\"categories\": [{\"id\": 1, \"name\": \"a\"}]}", "annotations[0] names an unknown category id 2" },
        { "{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}, {\"id\": 1, \"file_name\": \"b.png\"}], \"annotations\": [], "
          "\"categories\": [{\"id\": 1, \"name\": \"a\"}]}", "image id 1 appears twice" },
        { "{\"images\": [{\"id\": \"x\", \"file_name\": \"a.png\"}], \"annotations\": [], "
          "\"categories\": [{\"id\": 1, \"name\": \"a\"}]}", "images[0] lacks an integer \"id\"" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        spits(tmp("coco/bad.json"), bad[k].text);
        mlcl_clear_error();
        int rc = mlcl_dataset_load_coco(&ds, NULL, tmp("coco/bad.json"), &o);
        ck_assert_msg(rc == MLCL_EFORMAT && strstr(mlcl_last_error(), bad[k].msg) && strstr(mlcl_last_error(), "bad.json"),
                      "case %zu: %d '%s' lacks '%s'", k, rc, mlcl_last_error(), bad[k].msg);
    }
}
END_TEST

START_TEST(voc_tree)
{
    mkdirs("VOC/ImageSets/Main");
    mkdirs("VOC/JPEGImages");
    /* JPEGs named by id; image 2 has a difficult dog */
    for (int i = 0; i < 4; i++) {
        unsigned char q[10 * 8 * 3];
        for (int k = 0; k < 80; k++)
            for (int j = 0; j < 3; j++) q[3 * k + j] = (unsigned char)colours[i][j];
        char p[64];
        snprintf(p, sizeof p, "VOC/JPEGImages/00000%d.jpg", i);
        write_jpeg(tmp(p), 10, 8, TJPF_RGB, q, 95);
    }
    spits(tmp("VOC/ImageSets/Main/trainval.txt"), "000000\n000001\n000002\n000003\n");
    spits(tmp("VOC/ImageSets/Main/cat_trainval.txt"), "000000  1\n000001 -1\n000002  1\n000003  1\n");
    spits(tmp("VOC/ImageSets/Main/dog_trainval.txt"), "000003 -1\n000002  0\n000001  1\n000000 -1\n");
    spits(tmp("VOC/ImageSets/Main/cat_test.txt"), "000003 1\n");
    mlcl_manifest_options o = MLCL_MANIFEST_OPTIONS_INIT;
    o.height = o.width = 4;
    mlcl_dataset *ds = NULL;
    mlcl_data_format fmt;
    ck_assert_ok(mlcl_data_guess_format(&fmt, tmp("VOC")));
    ck_assert_int_eq(fmt, MLCL_FORMAT_VOC);
    ck_assert_ok(mlcl_dataset_load_voc(&ds, NULL, tmp("VOC"), "trainval", &o));
    int n, c;
    mlcl_dataset_dims(ds, &n, NULL, &c);
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(c, 2);
    ck_assert_str_eq(ds_label_name(ds, 0), "cat");
    ck_assert_str_eq(ds_label_name(ds, 1), "dog");
    const uint8_t want_neg[8] = { 1, 0, 0, 1, 1, 0, 1, 0 };
    ck_assert_int_eq(memcmp(mlcl_dataset_labels(ds), want_neg, 8), 0);
    ck_assert_float_eq_tol(mlcl_dataset_features(ds)[16 * 3 * 1 + 16], 1.0f, 0.02f); /* image 1 green plane */
    mlcl_dataset_free(ds);
    o.voc_difficult = MLCL_VOC_DIFFICULT_POSITIVE;
    ck_assert_ok(mlcl_dataset_load_voc(&ds, NULL, tmp("VOC"), "trainval", &o));
    ck_assert_int_eq(mlcl_dataset_labels(ds)[5], 1);
    mlcl_dataset_free(ds);
    /* no split list: the first class file's order */
    ck_assert_ok(mlcl_dataset_load_voc(&ds, NULL, tmp("VOC"), "test", &o));
    mlcl_dataset_dims(ds, &n, NULL, &c);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(c, 1);
    mlcl_dataset_free(ds);
    ck_assert_status_msg(mlcl_dataset_load_voc(&ds, NULL, tmp("VOC"), "val", &o), MLCL_EFORMAT, "no ImageSets/Main/<class>_val.txt");
    ck_assert_status_msg(mlcl_dataset_load_voc(&ds, NULL, tmp("VOC"), "../x", &o), MLCL_EINVAL, "split");
    spits(tmp("VOC/ImageSets/Main/dog_trainval.txt"), "000003 -1\n000002  2\n");
    ck_assert_status_msg(mlcl_dataset_load_voc(&ds, NULL, tmp("VOC"), "trainval", &o), MLCL_EFORMAT,
                         "dog_trainval.txt: line 2: flag '2' of image '000002' is not 1, 0 or -1");
    spits(tmp("VOC/ImageSets/Main/dog_trainval.txt"), "000003 -1\n000002  1\n");
    ck_assert_status_msg(mlcl_dataset_load_voc(&ds, NULL, tmp("VOC"), "trainval", &o), MLCL_EFORMAT,
                         "image '000000' is missing from the class list");
    spits(tmp("VOC/ImageSets/Main/dog_trainval.txt"), "000009 1\n");
    ck_assert_status_msg(mlcl_dataset_load_voc(&ds, NULL, tmp("VOC"), "trainval", &o), MLCL_EFORMAT,
                         "image '000009' is not in the split's image list");
    ck_assert_status_msg(mlcl_dataset_load_voc(&ds, NULL, tmp("nothere"), "trainval", &o), MLCL_EIO, "ImageSets/Main");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("imagefiles");
    TCase *t = tcase_create("imagefiles");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, png_round_trips);
    tcase_add_test(t, jpeg_decodes);
    tcase_add_test(t, jpeg_exif_orientation);
    tcase_add_test(t, bad_images);
    tcase_add_test(t, resize_crop);
    tcase_add_test(t, csv_manifests);
    tcase_add_test(t, coco_manifest);
    tcase_add_test(t, voc_tree);
    suite_add_tcase(s, t);
    return run_suite(s);
}
