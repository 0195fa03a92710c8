/* The streaming image loader: bit-identical batches with 1, 2 and 4 threads
 * (SimCLR views included), pixels equal to decode + resize_crop + ImageNet
 * normalisation, every epoch a permutation, a bounded ring (the threads stop
 * when it is full, whatever the number of images), resume from a recorded
 * position, a corrupt image failing with its file name or skipped and
 * counted, and clean shutdown while the threads are busy. Images are written
 * here with libpng and libjpeg-turbo. */
#include "testutil.h"
#include <math.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <png.h>
#include <turbojpeg.h>

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mlcl_loader_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static void write_png_rgb(const char *path, int w, int h, const unsigned char *data)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert(png && info);
    if (setjmp(png_jmpbuf(png))) ck_abort_msg("libpng write error");
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_bytep)(data + (size_t)y * w * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static void write_jpeg_rgb(const char *path, int w, int h, const unsigned char *px)
{
    tjhandle tj = tjInitCompress();
    unsigned char *jb = NULL;
    unsigned long jl = 0;
    ck_assert_int_eq(tjCompress2(tj, px, w, 0, h, TJPF_RGB, &jb, &jl, TJSAMP_444, 90, 0), 0);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(jb, 1, jl, f), jl);
    fclose(f);
    tjFree(jb);
    tjDestroy(tj);
}

/* n images of odd sizes, PNG and JPEG alternately; paths in *paths (malloc'd),
 * labels n x 3 with row i's labels the bits of i % 8. */
static char **make_images(int n, uint8_t **labels)
{
    char **paths = malloc(sizeof(char *) * (size_t)n);
    *labels = malloc((size_t)n * 3);
    for (int i = 0; i < n; i++) {
        int w = 20 + (i * 7) % 23, h = 18 + (i * 5) % 19;
        unsigned char *px = malloc((size_t)w * h * 3);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                unsigned char *q = px + ((size_t)y * w + x) * 3;
                q[0] = (unsigned char)(x * 255 / (w - 1));
                q[1] = (unsigned char)(y * 255 / (h - 1));
                q[2] = (unsigned char)((i * 31 + x * y) & 255);
            }
        paths[i] = malloc(512);
        snprintf(paths[i], 512, "%s/im%03d.%s", tmpdir, i, i % 2 ? "jpg" : "png");
        if (i % 2) write_jpeg_rgb(paths[i], w, h, px);
        else write_png_rgb(paths[i], w, h, px);
        free(px);
        for (int j = 0; j < 3; j++) (*labels)[i * 3 + j] = (uint8_t)((i % 8) >> j & 1);
    }
    return paths;
}

static void free_paths(char **p, int n)
{
    for (int i = 0; i < n; i++) free(p[i]);
    free(p);
}

/* All of `nbatch` batches concatenated: x, x2, y, rows, and each batch's n. */
typedef struct {
    float *x, *x2;
    uint8_t *y;
    int *rows, *bn, *be;
    long long *bi;
    size_t nx, ny, nr;
} record;

static void record_free(record *r)
{
    free(r->x); free(r->x2); free(r->y); free(r->rows); free(r->bn); free(r->be); free(r->bi);
    memset(r, 0, sizeof *r);
}

static void run_batches(mlcl_loader *L, int nbatch, record *r)
{
    memset(r, 0, sizeof *r);
    r->bn = calloc((size_t)nbatch, sizeof(int));
    r->be = calloc((size_t)nbatch, sizeof(int));
    r->bi = calloc((size_t)nbatch, sizeof(long long));
    for (int k = 0; k < nbatch; k++) {
        mlcl_loader_batch b = MLCL_LOADER_BATCH_INIT;
        ck_assert_ok(mlcl_loader_next(L, &b));
        size_t nd = (size_t)b.n * (size_t)b.d;
        r->x = realloc(r->x, (r->nx + nd) * sizeof(float));
        memcpy(r->x + r->nx, b.x, nd * sizeof(float));
        if (b.x2) {
            r->x2 = realloc(r->x2, (r->nx + nd) * sizeof(float));
            memcpy(r->x2 + r->nx, b.x2, nd * sizeof(float));
        }
        r->nx += nd;
        r->y = realloc(r->y, r->ny + (size_t)b.n * 3);
        memcpy(r->y + r->ny, b.y, (size_t)b.n * 3);
        r->ny += (size_t)b.n * 3;
        r->rows = realloc(r->rows, (r->nr + (size_t)b.n) * sizeof(int));
        memcpy(r->rows + r->nr, b.rows, (size_t)b.n * sizeof(int));
        r->nr += (size_t)b.n;
        r->bn[k] = b.n;
        r->be[k] = b.epoch;
        r->bi[k] = b.index;
    }
}

static void assert_same(const record *a, const record *b, int nbatch)
{
    ck_assert_uint_eq(a->nx, b->nx);
    ck_assert_uint_eq(a->nr, b->nr);
    ck_assert_int_eq(memcmp(a->x, b->x, a->nx * sizeof(float)), 0);
    ck_assert_int_eq(!a->x2, !b->x2);
    if (a->x2) ck_assert_int_eq(memcmp(a->x2, b->x2, a->nx * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a->y, b->y, a->ny), 0);
    ck_assert_int_eq(memcmp(a->rows, b->rows, a->nr * sizeof(int)), 0);
    for (int k = 0; k < nbatch; k++) {
        ck_assert_int_eq(a->bn[k], b->bn[k]);
        ck_assert_int_eq(a->be[k], b->be[k]);
        ck_assert_int_eq(a->bi[k], b->bi[k]);
    }
}

static mlcl_loader_options small_options(int threads, int views)
{
    mlcl_loader_options o = MLCL_LOADER_OPTIONS_INIT;
    o.batch = 5;
    o.height = 16;
    o.width = 16;
    o.threads = threads;
    o.prefetch = 3;
    o.seed = 42;
    o.views = views;
    o.simclr.blur_kernel = 3;
    return o;
}

START_TEST(options_init_matches_macro)
{
    mlcl_loader_options a, b = MLCL_LOADER_OPTIONS_INIT;
    memset(&a, 0xAB, sizeof a);
    ck_assert_ok(mlcl_loader_options_init(&a, MLCL_LOADER_OPTIONS_VERSION));
    ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
    ck_assert_status_msg(mlcl_loader_options_init(&a, 99), MLCL_EVERSION, "version");
    mlcl_image_list *l = NULL;
    const char *p[1] = { "x.png" };
    uint8_t y[2] = { 0, 2 };
    ck_assert_status_msg(mlcl_image_list_create(&l, 1, p, y, 2), MLCL_EINVAL, "labels[0][1]");
    ck_assert_ptr_null(l);
    y[1] = 1;
    ck_assert_ok(mlcl_image_list_create(&l, 1, p, y, 2));
    mlcl_loader *L = NULL;
    mlcl_loader_options o = MLCL_LOADER_OPTIONS_INIT;
    o.views = 3;
    ck_assert_status_msg(mlcl_loader_create(&L, l, &o), MLCL_EINVAL, "o->views");
    o = b;
    o.prefetch = 0;
    ck_assert_status_msg(mlcl_loader_create(&L, l, &o), MLCL_EINVAL, "o->prefetch");
    o = b;
    o.drop_last = 1;
    ck_assert_status_msg(mlcl_loader_create(&L, l, &o), MLCL_EINVAL, "drop_last");
    o = b;
    o.normalize = MLCL_NORMALIZE_CUSTOM;
    o.std[1] = 0;
    ck_assert_status_msg(mlcl_loader_create(&L, l, &o), MLCL_EINVAL, "o->std[1]");
    o = b;
    o.views = 2;
    o.simclr.scale_min = 2.0f; /* refused at create time, not skipped image by image */
    o.skip_bad_images = 1;
    ck_assert_status_msg(mlcl_loader_create(&L, l, &o), MLCL_EINVAL, "o->simclr");
    ck_assert_ptr_null(L);
    mlcl_image_list_free(l);
    mlcl_loader_free(NULL);
    mlcl_image_list_free(NULL);
}
END_TEST

/* The pixels: decode + resize_crop, then (x - mean) / std with ImageNet's values. */
START_TEST(pixels_labels_and_order)
{
    const int n = 23;
    uint8_t *lab;
    char **paths = make_images(n, &lab);
    mlcl_image_list *l;
    ck_assert_ok(mlcl_image_list_create(&l, n, (const char *const *)paths, lab, 3));
    mlcl_loader_options o = small_options(2, 0);
    mlcl_loader *L;
    ck_assert_ok(mlcl_loader_create(&L, l, &o));
    long long nb;
    ck_assert_ok(mlcl_loader_batches_per_epoch(L, &nb));
    ck_assert_int_eq(nb, 5); /* 4 x 5 + 3 */
    float mean[3], sd[3];
    ck_assert_ok(mlcl_loader_normalization(L, mean, sd));
    ck_assert_float_eq(mean[0], 0.485f);
    ck_assert_float_eq(sd[2], 0.225f);
    record r;
    run_batches(L, 10, &r); /* two epochs */
    ck_assert_int_eq(r.bn[4], 3);
    ck_assert_int_eq(r.be[5], 1);
    ck_assert_int_eq(r.bi[5], 0);
    ck_assert_uint_eq(r.nr, 2 * (size_t)n);
    /* every epoch a permutation, and the two differ */
    int diff = 0;
    for (int e = 0; e < 2; e++) {
        int seen[23] = { 0 };
        for (int i = 0; i < n; i++) seen[r.rows[e * n + i]]++;
        for (int i = 0; i < n; i++) ck_assert_int_eq(seen[i], 1);
    }
    for (int i = 0; i < n; i++) diff += r.rows[i] != r.rows[n + i];
    ck_assert_int_gt(diff, 0);
    /* labels and pixels of each item */
    size_t d = 3 * 16 * 16;
    float *ref = malloc(d * sizeof(float));
    for (size_t i = 0; i < r.nr; i++) {
        int row = r.rows[i];
        for (int j = 0; j < 3; j++) ck_assert_int_eq(r.y[i * 3 + j], lab[row * 3 + j]);
        float *px;
        int c, h, w;
        ck_assert_ok(mlcl_image_read(&px, &c, &h, &w, paths[row], 3));
        ck_assert_ok(mlcl_image_resize_crop(ref, 16, 16, px, c, h, w));
        mlcl_image_free(px);
        for (size_t k = 0; k < d; k++) {
            int ch = (int)(k / 256);
            float want = (ref[k] - mean[ch]) * (1.0f / sd[ch]);
            ck_assert_msg(r.x[i * d + k] == want, "item %zu value %zu: %g != %g", i, k, r.x[i * d + k], want);
        }
    }
    free(ref);
    ck_assert_int_eq(mlcl_loader_position(L, NULL, NULL), MLCL_OK);
    int e;
    long long b;
    ck_assert_ok(mlcl_loader_position(L, &e, &b));
    ck_assert_int_eq(e, 2);
    ck_assert_int_eq(b, 0);
    mlcl_loader_stats st = MLCL_LOADER_STATS_INIT;
    ck_assert_ok(mlcl_loader_stats_get(L, &st));
    ck_assert_int_ge(st.images, 2 * n);
    ck_assert_int_eq(st.batches, 10);
    record_free(&r);
    mlcl_loader_free(L);
    /* shuffle = 0: list order */
    o.shuffle = 0;
    ck_assert_ok(mlcl_loader_create(&L, l, &o));
    run_batches(L, 5, &r);
    for (int i = 0; i < n; i++) ck_assert_int_eq(r.rows[i], i);
    record_free(&r);
    mlcl_loader_free(L);
    /* resize = 20: shorter side to 20, then the centre 16 x 16 (image 1 is 27 x 23: 23 x 27 -> 20 x 23) */
    o.resize = 20;
    o.normalize = MLCL_NORMALIZE_NONE;
    ck_assert_ok(mlcl_loader_create(&L, l, &o));
    mlcl_loader_batch bt = MLCL_LOADER_BATCH_INIT;
    ck_assert_ok(mlcl_loader_next(L, &bt));
    {
        float *px, *mid = malloc(3 * 20 * 23 * sizeof(float));
        int c, h, w;
        ck_assert_ok(mlcl_image_read(&px, &c, &h, &w, paths[1], 3));
        ck_assert_int_eq(w, 27);
        ck_assert_int_eq(h, 23);
        ck_assert_ok(mlcl_image_resize_crop(mid, 20, 23, px, c, h, w));
        mlcl_image_free(px);
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 16; x++)
                    ck_assert(bt.x[d + (size_t)(ch * 16 + y) * 16 + x] == mid[(size_t)(ch * 20 + y + 2) * 23 + x + 4]);
        free(mid);
    }
    mlcl_loader_free(L);
    o.resize = 15;
    ck_assert_status_msg(mlcl_loader_create(&L, l, &o), MLCL_EINVAL, "o->resize");
    mlcl_image_list_free(l);
    free(lab);
    free_paths(paths, n);
}
END_TEST

/* Bit-identical batches (two SimCLR views, across epoch boundaries) with 1, 2 and 4 threads. */
START_TEST(same_batches_any_thread_count)
{
    const int n = 23, nbatch = 13;
    uint8_t *lab;
    char **paths = make_images(n, &lab);
    mlcl_image_list *l;
    ck_assert_ok(mlcl_image_list_create(&l, n, (const char *const *)paths, lab, 3));
    record ref;
    int tc[3] = { 1, 2, 4 };
    for (int t = 0; t < 3; t++) {
        mlcl_loader_options o = small_options(tc[t], 2);
        o.simclr.out_h = o.simclr.out_w = 12;
        mlcl_loader *L;
        ck_assert_ok(mlcl_loader_create(&L, l, &o));
        record r;
        run_batches(L, nbatch, &r);
        mlcl_loader_stats st = MLCL_LOADER_STATS_INIT;
        ck_assert_ok(mlcl_loader_stats_get(L, &st));
        ck_assert_int_eq(st.threads, tc[t]);
        mlcl_loader_free(L);
        ck_assert_ptr_nonnull(r.x2);
        if (t == 0) {
            ref = r;
            /* the two views differ (the augmentations are random) */
            ck_assert_int_ne(memcmp(r.x, r.x2, r.nx * sizeof(float)), 0);
        } else {
            assert_same(&ref, &r, nbatch);
            record_free(&r);
        }
    }
    /* another seed: other augmentations */
    mlcl_loader_options o = small_options(2, 2);
    o.simclr.out_h = o.simclr.out_w = 12;
    o.seed = 43;
    mlcl_loader *L;
    ck_assert_ok(mlcl_loader_create(&L, l, &o));
    record r;
    run_batches(L, nbatch, &r);
    ck_assert_int_ne(memcmp(r.rows, ref.rows, r.nr * sizeof(int)), 0);
    record_free(&r);
    mlcl_loader_free(L);
    record_free(&ref);
    mlcl_image_list_free(l);
    free(lab);
    free_paths(paths, n);
}
END_TEST

/* Resume: a loader seeked to a recorded position returns the same batches. */
START_TEST(resume_from_position)
{
    const int n = 23;
    uint8_t *lab;
    char **paths = make_images(n, &lab);
    mlcl_image_list *l;
    ck_assert_ok(mlcl_image_list_create(&l, n, (const char *const *)paths, lab, 3));
    mlcl_loader_options o = small_options(3, 2);
    mlcl_loader *A, *B;
    ck_assert_ok(mlcl_loader_create(&A, l, &o));
    record head, tail, again;
    run_batches(A, 7, &head);
    int e;
    long long b;
    ck_assert_ok(mlcl_loader_position(A, &e, &b));
    ck_assert_int_eq(e, 1);
    ck_assert_int_eq(b, 2);
    run_batches(A, 8, &tail);
    o.threads = 1; /* another thread count on resume */
    ck_assert_ok(mlcl_loader_create(&B, l, &o));
    ck_assert_ok(mlcl_loader_seek(B, e, b));
    run_batches(B, 8, &again);
    assert_same(&tail, &again, 8);
    /* seeking A back gives them again too (the ring is reset) */
    ck_assert_ok(mlcl_loader_seek(A, e, b));
    record_free(&again);
    run_batches(A, 8, &again);
    assert_same(&tail, &again, 8);
    ck_assert_status_msg(mlcl_loader_seek(A, 0, 5), MLCL_EINVAL, "batch");
    ck_assert_status_msg(mlcl_loader_seek(A, -1, 0), MLCL_EINVAL, "epoch");
    record_free(&head);
    record_free(&tail);
    record_free(&again);
    mlcl_loader_free(A);
    mlcl_loader_free(B);
    mlcl_image_list_free(l);
    free(lab);
    free_paths(paths, n);
}
END_TEST

/* The threads stop when the ring is full: images decoded ahead stay within
 * prefetch x batch, and the ring's size does not depend on the list's length. */
START_TEST(ring_is_bounded)
{
    uint8_t *lab;
    char **paths = make_images(2, &lab);
    size_t ring[2];
    int sizes[2] = { 100, 5000 };
    for (int s = 0; s < 2; s++) {
        int n = sizes[s];
        const char **p = malloc(sizeof(char *) * (size_t)n);
        uint8_t *y = calloc((size_t)n, 3);
        for (int i = 0; i < n; i++) p[i] = paths[i % 2];
        mlcl_image_list *l;
        ck_assert_ok(mlcl_image_list_create(&l, n, p, y, 3));
        mlcl_loader_options o = small_options(4, 0);
        o.prefetch = 2;
        mlcl_loader *L;
        ck_assert_ok(mlcl_loader_create(&L, l, &o));
        mlcl_loader_stats st = MLCL_LOADER_STATS_INIT;
        for (int k = 0; k < 200; k++) { /* until the ring is full (at most 2 s) */
            ck_assert_ok(mlcl_loader_stats_get(L, &st));
            if (st.images >= 10) break;
            usleep(10000);
        }
        usleep(100000);
        ck_assert_ok(mlcl_loader_stats_get(L, &st));
        ck_assert_int_eq(st.images, 10); /* 2 slots x 5 */
        mlcl_loader_batch b = MLCL_LOADER_BATCH_INIT;
        ck_assert_ok(mlcl_loader_next(L, &b));
        ck_assert_ok(mlcl_loader_next(L, &b)); /* releases the first: 5 more may be decoded */
        for (int k = 0; k < 200; k++) {
            ck_assert_ok(mlcl_loader_stats_get(L, &st));
            if (st.images >= 15) break;
            usleep(10000);
        }
        usleep(100000);
        ck_assert_ok(mlcl_loader_stats_get(L, &st));
        ck_assert_int_eq(st.images, 15);
        ring[s] = st.ring_bytes;
        mlcl_loader_free(L);
        mlcl_image_list_free(l);
        free(p);
        free(y);
    }
    ck_assert_uint_eq(ring[0], ring[1]);
    ck_assert_uint_ge(ring[0], 2 * 5 * 3 * 16 * 16 * sizeof(float));
    free(lab);
    free_paths(paths, 2);
}
END_TEST

START_TEST(corrupt_image)
{
    const int n = 12;
    uint8_t *lab;
    char **paths = make_images(n, &lab);
    /* truncate image 5 (a JPEG) to half its size */
    FILE *f = fopen(paths[5], "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(paths[5], len / 3), 0);
    mlcl_image_list *l;
    ck_assert_ok(mlcl_image_list_create(&l, n, (const char *const *)paths, lab, 3));
    mlcl_loader_options o = small_options(2, 0);
    o.shuffle = 0;
    mlcl_loader *L;
    ck_assert_ok(mlcl_loader_create(&L, l, &o));
    mlcl_loader_batch b = MLCL_LOADER_BATCH_INIT;
    ck_assert_ok(mlcl_loader_next(L, &b));
    ck_assert_int_eq(b.n, 5);
    ck_assert_status_msg(mlcl_loader_next(L, &b), MLCL_EFORMAT, "im005.jpg");
    ck_assert_ptr_nonnull(strstr(mlcl_last_error(), "batch 1"));
    ck_assert_status_msg(mlcl_loader_next(L, &b), MLCL_EFORMAT, "im005.jpg"); /* stays there */
    int e;
    long long bi;
    ck_assert_ok(mlcl_loader_position(L, &e, &bi));
    ck_assert_int_eq(bi, 1);
    ck_assert_ok(mlcl_loader_seek(L, 0, 2)); /* past it */
    ck_assert_ok(mlcl_loader_next(L, &b));
    ck_assert_int_eq(b.n, 2);
    mlcl_loader_free(L);
    /* skipped and counted */
    o.skip_bad_images = 1;
    ck_assert_ok(mlcl_loader_create(&L, l, &o));
    ck_assert_ok(mlcl_loader_next(L, &b));
    ck_assert_ok(mlcl_loader_next(L, &b));
    ck_assert_int_eq(b.n, 4);
    ck_assert_int_eq(b.skipped, 1);
    int want[4] = { 6, 7, 8, 9 };
    want[0] = 6;
    int rows_ok[4] = { 6, 7, 8, 9 };
    (void)want;
    /* rows 5..9 minus 5, in order */
    for (int k = 0; k < 4; k++) ck_assert_int_eq(b.rows[k], rows_ok[k]);
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 3; j++) ck_assert_int_eq(b.y[k * 3 + j], lab[rows_ok[k] * 3 + j]);
    mlcl_loader_stats st = MLCL_LOADER_STATS_INIT;
    ck_assert_ok(mlcl_loader_stats_get(L, &st));
    ck_assert_int_eq(st.skipped, 1);
    mlcl_loader_free(L);
    mlcl_image_list_free(l);
    free(lab);
    free_paths(paths, n);
}
END_TEST

/* Freeing while the threads decode (and with batches held, and before any
 * batch) stops them cleanly: run under ASan/TSan-free builds for leaks. */
START_TEST(shutdown_while_busy)
{
    const int n = 40;
    uint8_t *lab;
    char **paths = make_images(n, &lab);
    mlcl_image_list *l;
    ck_assert_ok(mlcl_image_list_create(&l, n, (const char *const *)paths, lab, 3));
    for (int rep = 0; rep < 12; rep++) {
        mlcl_loader_options o = small_options(1 + rep % 4, rep % 3);
        o.height = o.width = 64; /* slower images: the threads are mid-image */
        o.prefetch = 1 + rep % 3;
        mlcl_loader *L;
        ck_assert_ok(mlcl_loader_create(&L, l, &o));
        mlcl_loader_batch b = MLCL_LOADER_BATCH_INIT;
        for (int k = 0; k < rep % 3; k++) ck_assert_ok(mlcl_loader_next(L, &b));
        if (rep % 4 == 1) ck_assert_ok(mlcl_loader_seek(L, 1, 3));
        mlcl_loader_free(L);
    }
    mlcl_image_list_free(l);
    free(lab);
    free_paths(paths, n);
}
END_TEST

START_TEST(list_from_manifest)
{
    const int n = 6;
    uint8_t *lab;
    char **paths = make_images(n, &lab);
    char man[600];
    snprintf(man, sizeof man, "%s/m.csv", tmpdir);
    FILE *f = fopen(man, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "path,a,b,c\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%s,%d,%d,%d\n", strrchr(paths[i], '/') + 1, lab[i * 3], lab[i * 3 + 1], lab[i * 3 + 2]);
    fclose(f);
    mlcl_image_list *l;
    ck_assert_ok(mlcl_image_list_load_csv(&l, man, NULL));
    int nn, c;
    ck_assert_ok(mlcl_image_list_size(l, &nn, &c));
    ck_assert_int_eq(nn, n);
    ck_assert_int_eq(c, 3);
    mlcl_loader_options o = small_options(2, 0);
    o.shuffle = 0;
    o.batch = 6;
    o.normalize = MLCL_NORMALIZE_NONE;
    mlcl_loader *L;
    ck_assert_ok(mlcl_loader_create(&L, l, &o));
    mlcl_loader_batch b = MLCL_LOADER_BATCH_INIT;
    ck_assert_ok(mlcl_loader_next(L, &b));
    ck_assert_int_eq(b.n, 6);
    ck_assert_int_eq(memcmp(b.y, lab, 18), 0);
    /* the same pixels as the in-memory manifest loader */
    mlcl_dataset *ds;
    mlcl_manifest_options mo = MLCL_MANIFEST_OPTIONS_INIT;
    mo.height = mo.width = 16;
    ck_assert_ok(mlcl_dataset_load_image_csv(&ds, NULL, man, &mo));
    ck_assert_int_eq(memcmp(b.x, mlcl_dataset_features(ds), sizeof(float) * 6 * 768), 0);
    mlcl_dataset_free(ds);
    mlcl_loader_free(L);
    mlcl_image_list_free(l);
    snprintf(man, sizeof man, "%s/none.csv", tmpdir);
    ck_assert_status_msg(mlcl_image_list_load_csv(&l, man, NULL), MLCL_EIO, "none.csv");
    free(lab);
    free_paths(paths, n);
}
END_TEST


/* The trainer fed by loaders: the same run with 1 and 3 loader threads and a
 * run saved after 2 epochs and resumed in a new trainer (new loaders) end with
 * bit-identical parameters; predictions take raw [0, 1] images. */
static void stream_opts(mlcl_train_options *o)
{
    ck_assert_ok(mlcl_train_options_init(o, MLCL_TRAIN_OPTIONS_VERSION));
    o->batch = 5;
    o->seed = 9;
    test_moco_of(o)->o.queue_size = 10;
    test_moco_of(o)->hidden[0] = 16; test_moco_of(o)->hidden[1] = 16; test_moco_of(o)->hidden[2] = 16;
    test_moco_of(o)->o.proj_dim = 8;
    o->pretrain_epochs = 2;
    o->finetune_epochs = 2;
    o->pretrain_lr = 1e-3f;
}

static void stream_trainer(mlcl_trainer **t, mlcl_loader **lp, mlcl_loader **lf, const mlcl_image_list *l, int threads)
{
    mlcl_loader_options o = small_options(threads, 2);
    o.simclr.out_h = o.simclr.out_w = 12;
    ck_assert_ok(mlcl_loader_create(lp, l, &o));
    o.views = 1;
    o.seed = 77;
    ck_assert_ok(mlcl_loader_create(lf, l, &o));
    mlcl_train_options to;
    stream_opts(&to);
    ck_assert_ok(mlcl_trainer_create_stream(t, &to, *lp, *lf, NULL));
}

static float *final_params(mlcl_trainer *t, size_t *np)
{
    mlcl_moco *m;
    ck_assert_ok(mlcl_trainer_moco(t, &m));
    /* the query backbone's and the LD head's parameters, concatenated */
    mlcl_encoder *e0, *e2;
    size_t n0, n2;
    ck_assert_ok(mlcl_moco_encoder(m, 0, &e0));
    ck_assert_ok(mlcl_moco_encoder(m, 2, &e2));
    ck_assert_ok(mlcl_encoder_param_count(e0, &n0));
    ck_assert_ok(mlcl_encoder_param_count(e2, &n2));
    float *p = malloc((n0 + n2) * sizeof(float));
    ck_assert_ok(mlcl_encoder_get_params(e0, p, n0));
    ck_assert_ok(mlcl_encoder_get_params(e2, p + n0, n2));
    *np = n0 + n2;
    return p;
}

START_TEST(trainer_from_loaders)
{
    const int n = 23;
    uint8_t *lab;
    char **paths = make_images(n, &lab);
    mlcl_image_list *l;
    ck_assert_ok(mlcl_image_list_create(&l, n, (const char *const *)paths, lab, 3));
    mlcl_trainer *t;
    mlcl_loader *lp, *lf;
    /* uninterrupted, 1 loader thread */
    stream_trainer(&t, &lp, &lf, l, 1);
    ck_assert_ok(mlcl_trainer_run(t));
    size_t np, np2;
    float *ref = final_params(t, &np);
    int ph, ep;
    ck_assert_ok(mlcl_trainer_position(t, &ph, &ep));
    ck_assert_int_eq(ph, 3);
    /* predictions on raw images of the output size */
    float *x = calloc(2 * 3 * 12 * 12, sizeof(float)), sc[6];
    for (int i = 0; i < 2 * 3 * 12 * 12; i++) x[i] = (float)(i % 17) / 16.0f;
    ck_assert_ok(mlcl_trainer_predict(t, 2, x, sc));
    for (int i = 0; i < 6; i++) ck_assert(sc[i] > 0 && sc[i] < 1);
    {
        /* predict = sigmoid(LD(backbone((x - mean) / std))) in eval mode, the loaders' mean/std */
        mlcl_moco *m;
        mlcl_encoder *e0, *e2;
        ck_assert_ok(mlcl_trainer_moco(t, &m));
        ck_assert_ok(mlcl_moco_encoder(m, 0, &e0));
        ck_assert_ok(mlcl_moco_encoder(m, 2, &e2));
        int hd;
        ck_assert_ok(mlcl_encoder_out_dim(e0, &hd));
        float *xn = malloc(sizeof(float) * 2 * 432), *h = malloc(sizeof(float) * 2 * (size_t)hd), lg[6];
        const float mu[3] = { 0.485f, 0.456f, 0.406f }, sd[3] = { 0.229f, 0.224f, 0.225f };
        for (int i = 0; i < 2 * 432; i++) xn[i] = (x[i] - mu[(i % 432) / 144]) / sd[(i % 432) / 144];
        ck_assert_ok(mlcl_encoder_set_training(e0, 0));
        ck_assert_ok(mlcl_encoder_set_training(e2, 0));
        ck_assert_ok(mlcl_encoder_forward(e0, 2, xn, h));
        ck_assert_ok(mlcl_encoder_forward(e2, 2, h, lg));
        for (int i = 0; i < 6; i++) ck_assert_float_eq_tol(sc[i], 1.0f / (1.0f + expf(-lg[i])), 1e-6f);
        free(xn);
        free(h);
    }
    mlcl_trainer_free(t);
    mlcl_loader_free(lp);
    mlcl_loader_free(lf);
    /* 3 loader threads, saved after 2 epochs (the end of pretraining) and after 3, resumed each time */
    char ck[600];
    snprintf(ck, sizeof ck, "%s/run.ckpt", tmpdir);
    stream_trainer(&t, &lp, &lf, l, 3);
    int done = 0;
    ck_assert_ok(mlcl_trainer_run_epochs(t, 1, &done));
    ck_assert_ok(mlcl_trainer_save(t, ck));
    mlcl_trainer_free(t);
    mlcl_loader_free(lp);
    mlcl_loader_free(lf);
    for (int round = 0; round < 2; round++) {
        stream_trainer(&t, &lp, &lf, l, 2 + round);
        ck_assert_ok(mlcl_trainer_load(t, ck));
        ck_assert_ok(mlcl_trainer_run_epochs(t, round == 0 ? 2 : 5, &done));
        if (round == 0) ck_assert_ok(mlcl_trainer_save(t, ck));
        else ck_assert_int_eq(done, 1);
        if (round == 1) {
            float *p = final_params(t, &np2);
            ck_assert_uint_eq(np, np2);
            ck_assert_int_eq(memcmp(ref, p, np * sizeof(float)), 0);
            free(p);
        }
        mlcl_trainer_free(t);
        mlcl_loader_free(lp);
        mlcl_loader_free(lf);
    }
    /* another loader seed is refused on resume (the CRC covers the loaders' settings) */
    stream_trainer(&t, &lp, &lf, l, 1);
    mlcl_loader_free(lf);
    mlcl_loader_options o = small_options(1, 1);
    o.simclr.out_h = o.simclr.out_w = 12;
    o.seed = 78;
    ck_assert_ok(mlcl_loader_create(&lf, l, &o));
    mlcl_trainer_free(t);
    mlcl_train_options to;
    stream_opts(&to);
    ck_assert_ok(mlcl_trainer_create_stream(&t, &to, lp, lf, NULL));
    ck_assert_int_eq(mlcl_trainer_load(t, ck), MLCL_EINVAL);
    mlcl_trainer_free(t);
    /* mismatches */
    to.batch = 6;
    ck_assert_status_msg(mlcl_trainer_create_stream(&t, &to, lp, lf, NULL), MLCL_EINVAL, "batch 5");
    to.batch = 5;
    ck_assert_status_msg(mlcl_trainer_create_stream(&t, &to, lf, lf, NULL), MLCL_EINVAL, "2 views");
    ck_assert_status_msg(mlcl_trainer_create_stream(&t, &to, NULL, lf, NULL), MLCL_EINVAL, "pretrain is NULL");
    ck_assert_status_msg(mlcl_trainer_create_stream(&t, &to, lp, lp, NULL), MLCL_EINVAL, "0 or 1 views");
    mlcl_loader_free(lp);
    mlcl_loader_free(lf);
    free(ref);
    free(x);
    mlcl_image_list_free(l);
    free(lab);
    free_paths(paths, n);
}
END_TEST

/* A model exported from a loader-fed trainer (ResNet backbone) records the
 * loaders' normalisation and predicts what the trainer predicts, also after
 * a save/load round trip. */
START_TEST(stream_model_export)
{
    const int n = 12;
    uint8_t *lab;
    char **paths = make_images(n, &lab);
    mlcl_image_list *l;
    ck_assert_ok(mlcl_image_list_create(&l, n, (const char *const *)paths, lab, 3));
    mlcl_loader *lp, *lf;
    mlcl_loader_options o = small_options(2, 2);
    o.batch = 4;
    o.simclr.out_h = o.simclr.out_w = 12;
    ck_assert_ok(mlcl_loader_create(&lp, l, &o));
    o.views = 0;
    o.height = o.width = 12;
    ck_assert_ok(mlcl_loader_create(&lf, l, &o));
    mlcl_resnet_spec rs;
    ck_assert_ok(mlcl_resnet_spec_init(&rs, MLCL_RESNET_SPEC_VERSION));
    rs.height = rs.width = 12;
    rs.base_width = 4;
    mlcl_encoder *bb;
    ck_assert_ok(mlcl_encoder_create_resnet(&bb, &rs, NULL));
    mlcl_train_options to;
    stream_opts(&to);
    to.batch = 4;
    test_moco_of(&to)->o.queue_size = 8;
    to.pretrain_epochs = 1;
    to.finetune_epochs = 1;
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create_stream(&t, &to, lp, lf, bb));
    mlcl_encoder_free(bb);
    ck_assert_ok(mlcl_trainer_run(t));
    mlcl_model *m, *m2;
    ck_assert_ok(mlcl_trainer_export_model(t, &m));
    int st;
    float mean[432], sd[432];
    ck_assert_ok(mlcl_model_standardization(m, &st, mean, sd, 432));
    ck_assert_int_eq(st, 1);
    ck_assert_float_eq(mean[0], 0.485f);
    ck_assert_float_eq(mean[144], 0.456f);
    ck_assert_float_eq(sd[431], 0.225f);
    float x[3 * 432], a[9], b[9], c[9];
    for (int i = 0; i < 3 * 432; i++) x[i] = (float)((i * 7) % 23) / 22.0f;
    ck_assert_ok(mlcl_trainer_predict(t, 3, x, a));
    ck_assert_ok(mlcl_model_predict(m, 3, x, b));
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/m.mlcl", tmpdir);
    ck_assert_ok(mlcl_model_save(m, path));
    ck_assert_ok(mlcl_model_load(&m2, path));
    ck_assert_ok(mlcl_model_predict(m2, 3, x, c));
    ck_assert_int_eq(memcmp(a, c, sizeof a), 0);
    snprintf(path, sizeof path, "%s/m.onnx", tmpdir);
    ck_assert_status_msg(mlcl_model_export_onnx(m, path), MLCL_EINVAL, "normalisation");
    mlcl_model_free(m);
    mlcl_model_free(m2);
    mlcl_trainer_free(t);
    mlcl_loader_free(lp);
    mlcl_loader_free(lf);
    mlcl_image_list_free(l);
    free(lab);
    free_paths(paths, n);
}
END_TEST

/* COCO and VOC lists: the loader gives the labels and pixels of the in-memory readers. */
static void assert_list_matches(mlcl_image_list *l, const mlcl_dataset *ds, int n)
{
    int nn, c;
    ck_assert_ok(mlcl_image_list_size(l, &nn, &c));
    ck_assert_int_eq(nn, n);
    int dn, dd, dc;
    ck_assert_ok(mlcl_dataset_dims(ds, &dn, &dd, &dc));
    ck_assert_int_eq(dn, n);
    ck_assert_int_eq(dc, c);
    mlcl_loader_options o = small_options(2, 0);
    o.shuffle = 0;
    o.batch = n;
    o.normalize = MLCL_NORMALIZE_NONE;
    mlcl_loader *L;
    ck_assert_ok(mlcl_loader_create(&L, l, &o));
    mlcl_loader_batch b = MLCL_LOADER_BATCH_INIT;
    ck_assert_ok(mlcl_loader_next(L, &b));
    ck_assert_int_eq(b.n, n);
    ck_assert_int_eq(memcmp(b.y, mlcl_dataset_labels(ds), (size_t)n * c), 0);
    ck_assert_int_eq(memcmp(b.x, mlcl_dataset_features(ds), sizeof(float) * (size_t)n * 768), 0);
    mlcl_loader_free(L);
}

START_TEST(list_from_coco_and_voc)
{
    const int n = 8;
    uint8_t *lab;
    char **paths = make_images(n, &lab);
    /* COCO: categories 7 "a", 3 "b", 5 "c" (names in id order: b, c, a) */
    char p[600];
    snprintf(p, sizeof p, "%s/inst.json", tmpdir);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "{\"images\": [");
    for (int i = 0; i < n; i++) fprintf(f, "%s{\"id\": %d, \"file_name\": \"%s\"}", i ? ", " : "", 100 + i, strrchr(paths[i], '/') + 1);
    fprintf(f, "], \"annotations\": [");
    int cat[3] = { 7, 3, 5 }, first = 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 3; j++)
            if (lab[i * 3 + j]) { fprintf(f, "%s{\"image_id\": %d, \"category_id\": %d}", first ? "" : ", ", 100 + i, cat[j]); first = 0; }
    fprintf(f, "], \"categories\": [{\"id\": 7, \"name\": \"a\"}, {\"id\": 3, \"name\": \"b\"}, {\"id\": 5, \"name\": \"c\"}]}\n");
    fclose(f);
    mlcl_manifest_options mo = MLCL_MANIFEST_OPTIONS_INIT;
    mo.height = mo.width = 16;
    mlcl_image_list *l;
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_image_list_load_coco(&l, p, &mo));
    ck_assert_ok(mlcl_dataset_load_coco(&ds, NULL, p, &mo));
    assert_list_matches(l, ds, n);
    mlcl_dataset_free(ds);
    mlcl_image_list_free(l);
    /* VOC: the JPEG images (odd rows), classes a, b, c; a difficult flag (0) counted by the option */
    char cmd[800];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/VOC/ImageSets/Main'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    const char *cls[3] = { "a", "b", "c" };
    for (int j = 0; j < 3; j++) {
        snprintf(p, sizeof p, "%s/VOC/ImageSets/Main/%s_trainval.txt", tmpdir, cls[j]);
        f = fopen(p, "w");
        ck_assert_ptr_nonnull(f);
        for (int i = 1; i < n; i += 2) fprintf(f, "im%03d %d\n", i, lab[i * 3 + j] ? (i == 3 && j == 0 ? 0 : 1) : -1);
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/VOC", tmpdir);
    mo.image_root = tmpdir;
    for (int diff = 0; diff < 2; diff++) {
        mo.voc_difficult = diff;
        ck_assert_ok(mlcl_image_list_load_voc(&l, p, "trainval", &mo));
        ck_assert_ok(mlcl_dataset_load_voc(&ds, NULL, p, "trainval", &mo));
        assert_list_matches(l, ds, n / 2);
        ck_assert_int_eq(mlcl_dataset_labels(ds)[1 * 3 + 0], diff); /* image im003, class a: difficult */
        mlcl_dataset_free(ds);
        mlcl_image_list_free(l);
    }
    ck_assert_status_msg(mlcl_image_list_load_voc(&l, p, "val", &mo), MLCL_EFORMAT, "_val.txt");
    free(lab);
    free_paths(paths, n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    TCase *t = tcase_create("loader");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, options_init_matches_macro);
    tcase_add_test(t, pixels_labels_and_order);
    tcase_add_test(t, same_batches_any_thread_count);
    tcase_add_test(t, resume_from_position);
    tcase_add_test(t, ring_is_bounded);
    tcase_add_test(t, corrupt_image);
    tcase_add_test(t, shutdown_while_busy);
    tcase_add_test(t, list_from_manifest);
    tcase_add_test(t, list_from_coco_and_voc);
    tcase_add_test(t, trainer_from_loaders);
    tcase_add_test(t, stream_model_export);
    suite_add_tcase(s, t);
    return run_suite(s);
}
