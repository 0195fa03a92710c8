/* Data: ARFF (dense, sparse, Yeast, Scene, bad files), LIBSVM/XC, IDX,
 * Fashion-MNIST mosaics, subsets/splits, standardisation, batching, masking. */
#include "testutil.h"
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
/* the Fashion-MNIST mosaic generator is example-local code (examples/mosaic.c),
 * compiled into this test as a fixture */
#include "../examples/mosaic.c"

static char fixdir[1024];

/* tests/data next to this source file (the build runs from the repository root). */
static const char *fixture(const char *name)
{
    static char buf[2048];
    if (!fixdir[0]) {
        snprintf(fixdir, sizeof fixdir, "%s", __FILE__);
        char *s = strrchr(fixdir, '/');
        if (s) *s = '\0';
        else snprintf(fixdir, sizeof fixdir, ".");
    }
    snprintf(buf, sizeof buf, "%s/data/%s", fixdir, name);
    return buf;
}

static const char *shared(const char *name)
{
    static char buf[2048];
    snprintf(buf, sizeof buf, "%s/%s", test_data_dir(), name);
    struct stat st;
    ck_assert_msg(stat(buf, &st) == 0,
                  "test data file %s is missing: set MLCL_DATA_DIR to the directory holding "
                  "yeast-*.arff.gz and scene-*.arff.gz (../shared/data by default)", buf);
    return buf;
}

static void check_dims(const mlcl_dataset *ds, int n, int d, int c)
{
    int a, b, e;
    ck_assert_ok(mlcl_dataset_dims(ds, &a, &b, &e));
    ck_assert_int_eq(a, n);
    ck_assert_int_eq(b, d);
    ck_assert_int_eq(e, c);
}

/* packed labels agree with the byte labels */
static void check_packed(const mlcl_dataset *ds)
{
    int n, c;
    ck_assert_ok(mlcl_dataset_dims(ds, &n, NULL, &c));
    int w = (int)mlcl_label_words(c);
    const uint8_t *y = mlcl_dataset_labels(ds);
    const uint64_t *p = mlcl_dataset_labels_packed(ds);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < c; j++)
            ck_assert_int_eq((int)((p[(size_t)i * w + j / 64] >> (j % 64)) & 1u), y[(size_t)i * c + j]);
        if (c % 64) ck_assert_uint_eq(p[(size_t)i * w + w - 1] >> (c % 64), 0); /* padding bits clear */
    }
}

/* ------------------------------------------------------------------ ARFF */

/* dense.arff / sparse.arff hold:
 *   1.5  -2    green(1)      3 | 1 0
 *   0     0    dark blue(2)  0 | 0 1
 *   0.25  1e-3 red(0)        7 | 1 1 */
static const float FIX_X[12] = {1.5f, -2, 1, 3, 0, 0, 2, 0, 0.25f, 1e-3f, 0, 7};
static const uint8_t FIX_Y[6] = {1, 0, 0, 1, 1, 1};

START_TEST(arff_dense_fixture)
{
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_load_arff(&ds, fixture("dense.arff"), 0, 0));
    check_dims(ds, 3, 4, 2);
    ck_assert_mem_eq(mlcl_dataset_features(ds), FIX_X, sizeof FIX_X);
    ck_assert_mem_eq(mlcl_dataset_labels(ds), FIX_Y, sizeof FIX_Y);
    check_packed(ds);
    ck_assert_str_eq(ds_feature_name(ds, 0), "first feature");
    ck_assert_str_eq(ds_feature_name(ds, 1), "second feature");
    ck_assert_str_eq(ds_feature_name(ds, 2), "color");
    ck_assert_str_eq(ds_label_name(ds, 1), "lab2");
    const char *nm = "x";
    ck_assert_status_msg(mlcl_dataset_label_name(ds, 2, &nm), MLCL_EINVAL, "j = 2 is out of range [0, 2)");
    ck_assert_ptr_null(nm);
    ck_assert_status_msg(mlcl_dataset_feature_name(ds, -1, &nm), MLCL_EINVAL, "j = -1");
    int ch = 9, h = 9, w = 9;
    ck_assert_ok(mlcl_dataset_image_shape(ds, &ch, &h, &w));
    ck_assert(ch == 0 && h == 0 && w == 0);
    mlcl_dataset_free(ds);
    /* explicit label count overrides the relation: 3 last attributes = f4 + labels -> f4 = 3 is not 0/1 */
    ck_assert_status_msg(mlcl_dataset_load_arff(&ds, fixture("dense.arff"), 3, 0), MLCL_EFORMAT, "label 'f4' has value '3'");
    ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(arff_sparse_equals_dense)
{
    mlcl_dataset *a, *b;
    ck_assert_ok(mlcl_dataset_load_arff(&a, fixture("dense.arff"), 0, 0));
    ck_assert_ok(mlcl_dataset_load_arff(&b, fixture("sparse.arff"), 0, 0));
    check_dims(b, 3, 4, 2);
    ck_assert_mem_eq(mlcl_dataset_features(a), mlcl_dataset_features(b), sizeof FIX_X);
    ck_assert_mem_eq(mlcl_dataset_labels(a), mlcl_dataset_labels(b), sizeof FIX_Y);
    ck_assert_mem_eq(mlcl_dataset_labels_packed(a), mlcl_dataset_labels_packed(b), 3 * sizeof(uint64_t));
    mlcl_dataset_free(a);
    mlcl_dataset_free(b);
}
END_TEST

START_TEST(arff_labels_first)
{
    mlcl_dataset *ds;
    const float x[6] = {0.5f, 1.5f, 2.5f, -1, -2, -3};
    const uint8_t y[4] = {1, 0, 0, 1};
    ck_assert_ok(mlcl_dataset_load_arff(&ds, fixture("labels_first.arff"), 0, 0)); /* '-C 2' */
    check_dims(ds, 2, 3, 2);
    ck_assert_mem_eq(mlcl_dataset_features(ds), x, sizeof x);
    ck_assert_mem_eq(mlcl_dataset_labels(ds), y, sizeof y);
    ck_assert_str_eq(ds_label_name(ds, 1), "L1");
    mlcl_dataset_free(ds);
    ck_assert_ok(mlcl_dataset_load_arff(&ds, fixture("labels_first.arff"), 2, 1)); /* explicit */
    ck_assert_mem_eq(mlcl_dataset_features(ds), x, sizeof x);
    mlcl_dataset_free(ds);
}
END_TEST

static void check_mulan(const char *file, int n, int d, int c, const int *pos)
{
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_load_arff(&ds, shared(file), 0, 0));
    check_dims(ds, n, d, c);
    const uint8_t *y = mlcl_dataset_labels(ds);
    for (int j = 0; j < c && pos; j++) {
        int s = 0;
        for (int i = 0; i < n; i++) s += y[(size_t)i * c + j];
        ck_assert_msg(s == pos[j], "%s label %d: %d positives, README says %d", file, j, s, pos[j]);
    }
    check_packed(ds);
    mlcl_dataset_free(ds);
}

START_TEST(arff_yeast_scene)
{
    static const int yeast_pos[14] = {476, 645, 598, 532, 441, 378, 261, 289, 98, 161, 198, 1128, 1116, 21};
    static const int scene_pos[6] = {227, 165, 197, 196, 277, 224};
    check_mulan("yeast-train.arff.gz", 1500, 103, 14, yeast_pos);
    check_mulan("yeast-test.arff.gz", 917, 103, 14, NULL);
    check_mulan("scene-train.arff.gz", 1211, 294, 6, scene_pos);
    check_mulan("scene-test.arff.gz", 1196, 294, 6, NULL);

    /* exact values read with zcat | awk */
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_load_arff(&ds, shared("yeast-train.arff.gz"), 0, 0));
    const float *x = mlcl_dataset_features(ds);
    const uint8_t *y = mlcl_dataset_labels(ds);
    ck_assert(x[0] == 0.0937f && x[1] == 0.139771f);
    ck_assert(x[99 * 103 + 0] == 0.114375f);   /* row 100, Att1 */
    ck_assert(x[99 * 103 + 49] == 0.008872f);  /* row 100, Att50 */
    ck_assert(x[99 * 103 + 102] == -0.001672f); /* row 100, Att103 */
    static const uint8_t y100[14] = {0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0};
    ck_assert_mem_eq(y + 99 * 14, y100, 14);
    ck_assert_str_eq(ds_label_name(ds, 13), "Class14");
    mlcl_dataset_free(ds);
    ck_assert_ok(mlcl_dataset_load_arff(&ds, shared("scene-test.arff.gz"), 0, 0));
    x = mlcl_dataset_features(ds);
    y = mlcl_dataset_labels(ds);
    ck_assert(x[0] == 0.983225f && x[293] == 0.094455f);
    ck_assert(x[1195 * 294] == 0.974915f && x[1195 * 294 + 293] == 0.004033f);
    static const uint8_t ylast[6] = {0, 0, 0, 0, 0, 1};
    ck_assert_mem_eq(y + 1195 * 6, ylast, 6);
    ck_assert_str_eq(ds_label_name(ds, 0), "Beach");
    mlcl_dataset_free(ds);
}
END_TEST

/* status, file name and "line N" in the message */
static void bad_arff(const char *name, int n_labels, int status, int line, const char *needle)
{
    mlcl_dataset *ds = (mlcl_dataset *)&ds; /* must be reset to NULL */
    char where[64];
    snprintf(where, sizeof where, "line %d:", line);
    const char *path = fixture(name);
    char p[2048];
    snprintf(p, sizeof p, "%s", path);
    ck_assert_status_msg(mlcl_dataset_load_arff(&ds, p, n_labels, 0), status, needle);
    ck_assert_msg(strstr(mlcl_last_error(), p) != NULL, "'%s' does not name the file", mlcl_last_error());
    ck_assert_msg(strstr(mlcl_last_error(), where) != NULL, "'%s' does not say '%s'", mlcl_last_error(), where);
    ck_assert_ptr_null(ds);
}

START_TEST(arff_bad_files)
{
    bad_arff("bad_truncated.arff", 0, MLCL_EFORMAT, 8, "row has 2 values, expected 4 (truncated row?)");
    bad_arff("bad_nlabels.arff", 0, MLCL_EFORMAT, 6, "9 labels requested but only 4 attributes");
    bad_arff("dense.arff", 6, MLCL_EFORMAT, 12, "6 labels requested but only 6 attributes");
    bad_arff("bad_noC.arff", 0, MLCL_EFORMAT, 1, "no MEKA option '-C N'");
    bad_arff("bad_nonnumeric.arff", 0, MLCL_EFORMAT, 7, "'abc' for 'b' is not a number");
    bad_arff("bad_label2.arff", 0, MLCL_EFORMAT, 8, "label 'l1' has value '2' (expected 0 or 1)");
    bad_arff("bad_missing.arff", 0, MLCL_EFORMAT, 6, "missing value '?'");
    bad_arff("empty.arff", 0, MLCL_EFORMAT, 1, "empty file");
    bad_arff("bad_nodata.arff", 0, MLCL_EFORMAT, 4, "end of file before @data");
    bad_arff("bad_sparse.arff", 0, MLCL_EFORMAT, 7, "lacks the closing '}'");

    mlcl_dataset *ds;
    ck_assert_status_msg(mlcl_dataset_load_arff(&ds, "/nonexistent/dir/x.arff", 0, 0), MLCL_EIO,
                         "cannot open '/nonexistent/dir/x.arff'");
    ck_assert_ptr_null(ds);
    ck_assert_status_msg(mlcl_dataset_load_arff(NULL, "x", 0, 0), MLCL_EINVAL, "out");
    ck_assert_status_msg(mlcl_dataset_load_arff(&ds, NULL, 0, 0), MLCL_EINVAL, "path");
    ck_assert_status_msg(mlcl_dataset_load_arff(&ds, "x", -1, 0), MLCL_EINVAL, "n_labels");
}
END_TEST

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* A gzip file cut in the middle: an error naming the file and a line, never a crash. */
START_TEST(arff_truncated_gzip)
{
    FILE *f = fopen(shared("yeast-train.arff.gz"), "rb");
    ck_assert_ptr_nonnull(f);
    static unsigned char buf[200000];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_uint_eq(n, sizeof buf);
    char path[] = "/tmp/mlcl_trunc_XXXXXX.arff.gz";
    int fd = mkstemps(path, 8);
    ck_assert_int_ge(fd, 0);
    close(fd);
    write_file(path, buf, n);
    mlcl_dataset *ds;
    mlcl_clear_error();
    int rc = mlcl_dataset_load_arff(&ds, path, 0, 0);
    ck_assert_int_eq(rc, MLCL_EFORMAT);
    ck_assert_msg(strstr(mlcl_last_error(), path) && strstr(mlcl_last_error(), "line "), "%s", mlcl_last_error());
    ck_assert_ptr_null(ds);
    unlink(path);
}
END_TEST

/* A plain-text copy written through zlib reads back the same (gz and plain alike). */
START_TEST(arff_gzip_roundtrip)
{
    char path[] = "/tmp/mlcl_gz_XXXXXX.arff.gz";
    int fd = mkstemps(path, 8);
    ck_assert_int_ge(fd, 0);
    close(fd);
    FILE *in = fopen(fixture("dense.arff"), "rb");
    ck_assert_ptr_nonnull(in);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, buf, (unsigned)n), (int)n);
    gzclose(g);
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_load_arff(&ds, path, 0, 0));
    ck_assert_mem_eq(mlcl_dataset_features(ds), FIX_X, sizeof FIX_X);
    mlcl_dataset_free(ds);
    unlink(path);
}
END_TEST

/* ------------------------------------------------------------------ LIBSVM */

START_TEST(libsvm_xc_header)
{
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_load_libsvm(&ds, fixture("xc.txt"), 0, 0, MLCL_LIBSVM_INDEX_AUTO));
    check_dims(ds, 4, 5, 4);
    const float x[20] = {1.5f, 0, 0, 0, -1, 0, 2, 0, 0, 0, 0.5f, 0, 100, 0, 0, 0, 7, 0, 0.25f, 0};
    const uint8_t y[16] = {1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    ck_assert_mem_eq(mlcl_dataset_features(ds), x, sizeof x);
    ck_assert_mem_eq(mlcl_dataset_labels(ds), y, sizeof y);
    check_packed(ds);
    mlcl_dataset_free(ds);
    /* wider explicit sizes are allowed, narrower ones are errors naming the line */
    ck_assert_ok(mlcl_dataset_load_libsvm(&ds, fixture("xc.txt"), 8, 6, MLCL_LIBSVM_INDEX_AUTO));
    check_dims(ds, 4, 8, 6);
    mlcl_dataset_free(ds);
    char needle[1200];
    snprintf(needle, sizeof needle, "%s: line 2: feature index 4 is beyond 4 features", fixture("xc.txt"));
    ck_assert_status_msg(mlcl_dataset_load_libsvm(&ds, fixture("xc.txt"), 4, 0, 0), MLCL_EFORMAT, needle);
    ck_assert_status_msg(mlcl_dataset_load_libsvm(&ds, fixture("xc.txt"), 0, 3, 0), MLCL_EFORMAT, "line 4: label 3 is beyond 3 labels");
    /* forcing one-based on a zero-based file */
    ck_assert_status_msg(mlcl_dataset_load_libsvm(&ds, fixture("xc.txt"), 0, 0, 1), MLCL_EFORMAT, "line 2: feature index 0 in a one-based file");
}
END_TEST

START_TEST(libsvm_one_based)
{
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_load_libsvm(&ds, fixture("onebased.svm"), 0, 0, MLCL_LIBSVM_INDEX_AUTO));
    check_dims(ds, 2, 3, 3);
    const float x[6] = {0.5f, 0, 2, 0, 1, 0};
    const uint8_t y[6] = {0, 1, 0, 1, 0, 1};
    ck_assert_mem_eq(mlcl_dataset_features(ds), x, sizeof x);
    ck_assert_mem_eq(mlcl_dataset_labels(ds), y, sizeof y);
    mlcl_dataset_free(ds);
    /* read as zero-based: one more column */
    ck_assert_ok(mlcl_dataset_load_libsvm(&ds, fixture("onebased.svm"), 0, 0, 0));
    check_dims(ds, 2, 4, 3);
    ck_assert(mlcl_dataset_features(ds)[1] == 0.5f);
    mlcl_dataset_free(ds);

    ck_assert_status_msg(mlcl_dataset_load_libsvm(&ds, fixture("bad_dup.svm"), 0, 0, MLCL_LIBSVM_INDEX_AUTO), MLCL_EFORMAT,
                         "line 2: feature index 2 appears twice");
    ck_assert_status_msg(mlcl_dataset_load_libsvm(&ds, fixture("bad_header.txt"), 0, 0, MLCL_LIBSVM_INDEX_AUTO), MLCL_EFORMAT,
                         "line 1: the header announces 3 rows but the file has 2");
    ck_assert_status_msg(mlcl_dataset_load_libsvm(&ds, fixture("bad_nonnumeric.arff"), 0, 0, MLCL_LIBSVM_INDEX_AUTO), MLCL_EFORMAT,
                         "line 1:");
    ck_assert_status_msg(mlcl_dataset_load_libsvm(&ds, fixture("empty.arff"), 0, 0, 0), MLCL_EFORMAT, "line 1: empty file");
    ck_assert_status_msg(mlcl_dataset_load_libsvm(&ds, "/nonexistent.svm", 0, 0, 0), MLCL_EIO, "/nonexistent.svm");
    ck_assert_status_msg(mlcl_dataset_load_libsvm(&ds, fixture("xc.txt"), 0, 0, 2), MLCL_EINVAL, "index_base");
    ck_assert_ptr_null(ds);
    /* negative and huge indices and labels, refused on their line */
    char path[] = "/tmp/mlcl_svm_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    static const struct { const char *text, *msg; } bad[] = {
        {"0 1:1\n0 -1:1\n", "line 2: feature index '-1' is not a non-negative integer"},
        {"-1 1:1\n", "line 1: label '-1' is not a non-negative integer"},
        {"0 99999999999999999999:1\n", "line 1, column 3: feature index 99999999999999999999 is beyond the limit"},
        {"0 1:1\n1,99999999999999999999 1:1\n", "line 2, column 3: label 99999999999999999999 is beyond the limit"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        write_file(path, bad[k].text, strlen(bad[k].text));
        ck_assert_status_msg(mlcl_dataset_load_libsvm(&ds, path, 0, 0, MLCL_LIBSVM_INDEX_AUTO), MLCL_EFORMAT, bad[k].msg);
    }
    unlink(path);
}
END_TEST

/* ------------------------------------------------------------------ IDX */

START_TEST(idx_header_parse)
{
    /* 2 x 3 x 2 unsigned bytes, written plain and gzip'd */
    unsigned char f[4 + 12 + 12] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2};
    for (int k = 0; k < 12; k++) f[16 + k] = (unsigned char)(10 * k + 1);
    char path[] = "/tmp/mlcl_idx_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    write_file(path, f, sizeof f);
    uint8_t *data;
    int nd, dims[MLCL_IDX_MAX_DIMS];
    ck_assert_ok(mlcl_idx_load(&data, &nd, dims, path));
    ck_assert_int_eq(nd, 3);
    ck_assert(dims[0] == 2 && dims[1] == 3 && dims[2] == 2 && dims[3] == 0);
    ck_assert_mem_eq(data, f + 16, 12);
    mlcl_idx_free(data);
    mlcl_idx_free(NULL);

    gzFile g = gzopen(path, "wb");
    gzwrite(g, f, sizeof f);
    gzclose(g);
    ck_assert_ok(mlcl_idx_load(&data, &nd, dims, path));
    ck_assert_mem_eq(data, f + 16, 12);
    mlcl_idx_free(data);

    write_file(path, f, sizeof f - 1);
    ck_assert_status_msg(mlcl_idx_load(&data, &nd, dims, path), MLCL_EFORMAT, "truncated IDX data: 11 of 12 bytes");
    ck_assert_ptr_null(data);
    f[2] = 0x0D;
    write_file(path, f, sizeof f);
    ck_assert_status_msg(mlcl_idx_load(&data, &nd, dims, path), MLCL_EFORMAT, "element type 0x0d");
    f[2] = 8;
    f[1] = 1;
    write_file(path, f, sizeof f);
    ck_assert_status_msg(mlcl_idx_load(&data, &nd, dims, path), MLCL_EFORMAT, "bad IDX magic");
    f[1] = 0;
    unsigned char longer[sizeof f + 1];
    memcpy(longer, f, sizeof f);
    longer[sizeof f] = 7;
    write_file(path, longer, sizeof longer);
    ck_assert_status_msg(mlcl_idx_load(&data, &nd, dims, path), MLCL_EFORMAT, "trailing data");
    unlink(path);
    ck_assert_status_msg(mlcl_idx_load(&data, &nd, dims, path), MLCL_EIO, path);

    /* the real files */
    ck_assert_ok(mlcl_idx_load(&data, &nd, dims, "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"));
    ck_assert_int_eq(nd, 1);
    ck_assert_int_eq(dims[0], 10000);
    mlcl_idx_free(data);
}
END_TEST

/* ------------------------------------------------------------------ mosaics */

#define FM "/usr/share/datasets/fashion-mnist"

typedef struct { uint64_t h; int label; } hl;
static int cmp_hl(const void *a, const void *b)
{
    uint64_t x = ((const hl *)a)->h, y = ((const hl *)b)->h;
    return (x > y) - (x < y);
}
static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t k = 0; k < n; k++) { h ^= p[k]; h *= 1099511628211ULL; }
    return h;
}

/* Finds every cell of every mosaic among the items of the IDX file (by
 * hash) and checks the labels are exactly the set of the cells' classes. */
static void verify_mosaic(const mlcl_dataset *ds, int train, int grid)
{
    const char *pre = train ? "train" : "t10k";
    char ip[256], lp[256];
    snprintf(ip, sizeof ip, FM "/%s-images-idx3-ubyte.gz", pre);
    snprintf(lp, sizeof lp, FM "/%s-labels-idx1-ubyte.gz", pre);
    uint8_t *img, *lab;
    int nd, dims[MLCL_IDX_MAX_DIMS], ld[MLCL_IDX_MAX_DIMS];
    ck_assert_ok(mlcl_idx_load(&img, &nd, dims, ip));
    ck_assert_ok(mlcl_idx_load(&lab, &nd, ld, lp));
    int N = dims[0];
    ck_assert_int_eq(N, train ? 60000 : 10000);
    ck_assert(dims[1] == 28 && dims[2] == 28);
    hl *tab = malloc((size_t)N * sizeof *tab);
    for (int i = 0; i < N; i++) { tab[i].h = fnv(img + (size_t)i * 784, 784); tab[i].label = lab[i]; }
    qsort(tab, (size_t)N, sizeof *tab, cmp_hl);
    int n, d, c, ch, H, W;
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    ck_assert_ok(mlcl_dataset_image_shape(ds, &ch, &H, &W));
    ck_assert(ch == 1 && H == 28 * grid && W == 28 * grid && d == H * W && c == 10);
    const float *x = mlcl_dataset_features(ds);
    const uint8_t *y = mlcl_dataset_labels(ds);
    int ambiguous = 0;
    for (int i = 0; i < n; i++) {
        uint8_t want[10] = {0}, cell[784];
        int exact = 1;
        for (int r = 0; r < grid; r++)
            for (int s = 0; s < grid; s++) {
                for (int a = 0; a < 28; a++)
                    for (int b = 0; b < 28; b++) {
                        float v = x[(size_t)i * d + (size_t)(r * 28 + a) * W + s * 28 + b];
                        ck_assert(v >= 0.0f && v <= 1.0f);
                        cell[a * 28 + b] = (uint8_t)lrintf(v * 255.0f);
                        ck_assert(v == (float)cell[a * 28 + b] / 255.0f);
                    }
                hl key = {fnv(cell, 784), 0};
                hl *hit = bsearch(&key, tab, (size_t)N, sizeof *tab, cmp_hl);
                ck_assert_msg(hit != NULL, "mosaic %d cell (%d,%d) is not an item of %s", i, r, s, ip);
                while (hit > tab && hit[-1].h == key.h) hit--;
                int l0 = hit->label, same = 1;
                for (hl *q = hit; q < tab + N && q->h == key.h; q++) same &= q->label == l0;
                if (same) want[l0] = 1;
                else { exact = 0; ambiguous++; ck_assert(y[(size_t)i * 10 + l0] || 1); }
            }
        if (exact) ck_assert_mem_eq(y + (size_t)i * 10, want, 10);
    }
    ck_assert_int_lt(ambiguous, n); /* duplicates with two labels are rare */
    free(tab);
    mlcl_idx_free(img);
    mlcl_idx_free(lab);
}

START_TEST(fashion_mosaic_fixture)
{
    mlcl_dataset *a, *b, *c;
    ck_assert_ok(fashion_mosaic(&a, NULL, 1, 64, 7, 2));
    ck_assert_ok(fashion_mosaic(&b, FM, 1, 64, 7, 2));
    ck_assert_ok(fashion_mosaic(&c, NULL, 1, 64, 8, 2));
    check_dims(a, 64, 3136, 10);
    ck_assert_mem_eq(mlcl_dataset_features(a), mlcl_dataset_features(b), 64 * 3136 * sizeof(float));
    ck_assert_mem_eq(mlcl_dataset_labels(a), mlcl_dataset_labels(b), 640);
    ck_assert(memcmp(mlcl_dataset_features(a), mlcl_dataset_features(c), 64 * 3136 * sizeof(float)) != 0);
    ck_assert_str_eq(ds_label_name(a, 9), "Ankle boot");
    check_packed(a);
    /* 4 items: between 1 and 4 classes each, and on average well above 1 */
    const uint8_t *y = mlcl_dataset_labels(a);
    int tot = 0;
    for (int i = 0; i < 64; i++) {
        int k = 0;
        for (int j = 0; j < 10; j++) k += y[i * 10 + j];
        ck_assert(k >= 1 && k <= 4);
        tot += k;
    }
    ck_assert(tot > 64 * 2);
    verify_mosaic(a, 1, 2);
    mlcl_dataset_free(a);
    mlcl_dataset_free(b);
    mlcl_dataset_free(c);

    ck_assert_ok(fashion_mosaic(&a, NULL, 0, 40, 3, 3));
    verify_mosaic(a, 0, 3);
    mlcl_dataset_free(a);

    /* the generator's own errors are in mosaic_last_error(), the library's in both */
    ck_assert_int_eq(fashion_mosaic(&a, NULL, 1, 10, 1, 0), MLCL_EINVAL);
    ck_assert_ptr_nonnull(strstr(mosaic_last_error(), "grid"));
    ck_assert_str_eq(mlcl_last_error(), "");
    ck_assert_int_eq(fashion_mosaic(&a, NULL, 2, 10, 1, 2), MLCL_EINVAL);
    ck_assert_ptr_nonnull(strstr(mosaic_last_error(), "train"));
    ck_assert_int_eq(fashion_mosaic(&a, NULL, 1, 0, 1, 2), MLCL_EINVAL);
    ck_assert_ptr_nonnull(strstr(mosaic_last_error(), "n_samples"));
    ck_assert_status_msg(fashion_mosaic(&a, "/nonexistent", 1, 10, 1, 2), MLCL_EIO,
                         "/nonexistent/train-images-idx3-ubyte.gz");
    ck_assert_ptr_nonnull(strstr(mosaic_last_error(), "/nonexistent/train-images-idx3-ubyte.gz"));
    ck_assert_ptr_null(a);
    /* image shape and label names through the public setters */
    ck_assert_ok(fashion_mosaic(&a, NULL, 0, 3, 1, 2));
    int ch, hh, ww;
    ck_assert_ok(mlcl_dataset_image_shape(a, &ch, &hh, &ww));
    ck_assert(ch == 1 && hh == 56 && ww == 56);
    ck_assert_str_eq(ds_label_name(a, 0), "T-shirt/top");
    ck_assert_status_msg(mlcl_dataset_set_image_shape(a, 1, 56, 55), MLCL_EINVAL, "3136");
    ck_assert_status_msg(mlcl_dataset_set_label_names(a, 9, fashion_names), MLCL_EINVAL, "count 9");
    ck_assert_str_eq(ds_label_name(a, 0), "T-shirt/top"); /* kept */
    ck_assert_ok(mlcl_dataset_set_image_shape(a, 0, 0, 0));
    ck_assert_ok(mlcl_dataset_image_shape(a, &ch, &hh, &ww));
    ck_assert(ch == 0 && hh == 0 && ww == 0);
    ck_assert_ok(mlcl_dataset_set_label_names(a, 0, NULL));
    ck_assert_ptr_null(ds_label_name(a, 0));
    mlcl_dataset_free(a);
}
END_TEST

START_TEST(idx_dataset)
{
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_load_idx(&ds, FM "/t10k-images-idx3-ubyte.gz", FM "/t10k-labels-idx1-ubyte.gz", 10));
    check_dims(ds, 10000, 784, 10);
    uint8_t *lab;
    int nd, dims[MLCL_IDX_MAX_DIMS];
    ck_assert_ok(mlcl_idx_load(&lab, &nd, dims, FM "/t10k-labels-idx1-ubyte.gz"));
    const uint8_t *y = mlcl_dataset_labels(ds);
    for (int i = 0; i < 10000; i++)
        for (int j = 0; j < 10; j++) ck_assert_int_eq(y[i * 10 + j], j == lab[i]);
    mlcl_idx_free(lab);
    mlcl_dataset_free(ds);
    ck_assert_status_msg(mlcl_dataset_load_idx(&ds, FM "/t10k-images-idx3-ubyte.gz", FM "/train-labels-idx1-ubyte.gz", 10),
                         MLCL_EFORMAT, "expected 10000 labels");
    ck_assert_status_msg(mlcl_dataset_load_idx(&ds, FM "/t10k-images-idx3-ubyte.gz", FM "/t10k-labels-idx1-ubyte.gz", 5),
                         MLCL_EFORMAT, ">= 5 classes");
}
END_TEST

/* ------------------------------------------------------------------ arrays, subsets, splits */

START_TEST(create_subset_split_gather)
{
    enum { N = 50, D = 3, C = 70 }; /* C > 64: two label words */
    static float x[N * D];
    static uint8_t y[N * C];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) x[i * D + j] = (float)(i * 10 + j);
        for (int j = 0; j < C; j++) y[i * C + j] = (uint8_t)((i + j) % 3 == 0);
    }
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, N, D, C, x, y));
    ck_assert_int_eq((int)mlcl_label_words(C), 2);
    check_packed(ds);
    const uint64_t *p = mlcl_dataset_labels_packed(ds);
    ck_assert_int_eq((int)((p[2 * 1 + 1] >> (68 - 64)) & 1), (1 + 68) % 3 == 0); /* row 1, label 68 */

    int rows[4] = {7, 0, 7, 49};
    float gx[4 * D];
    uint8_t gy[4 * C];
    uint64_t gp[4 * 2];
    ck_assert_ok(mlcl_dataset_gather(gx, gy, gp, ds, rows, 4));
    for (int k = 0; k < 4; k++) {
        ck_assert_mem_eq(gx + k * D, x + rows[k] * D, D * sizeof(float));
        ck_assert_mem_eq(gy + k * C, y + rows[k] * C, C);
        ck_assert_mem_eq(gp + k * 2, p + rows[k] * 2, 2 * sizeof(uint64_t));
    }
    ck_assert_ok(mlcl_dataset_gather(NULL, gy, NULL, ds, rows, 4));
    rows[2] = 50;
    ck_assert_status_msg(mlcl_dataset_gather(gx, gy, gp, ds, rows, 4), MLCL_EINVAL, "rows[2] = 50");

    mlcl_dataset *s;
    rows[2] = 7;
    ck_assert_ok(mlcl_dataset_subset(&s, ds, rows, 4));
    check_dims(s, 4, D, C);
    ck_assert_mem_eq(mlcl_dataset_features(s), gx, sizeof gx);
    mlcl_dataset_free(s);

    mlcl_dataset *a, *b, *a2, *b2;
    ck_assert_ok(mlcl_dataset_split(&a, &b, ds, 0.2f, 5));
    check_dims(a, 40, D, C);
    check_dims(b, 10, D, C);
    int seen[N] = {0}, prev = -1;
    for (int i = 0; i < 40; i++) {
        int r = (int)mlcl_dataset_features(a)[i * D] / 10;
        ck_assert_int_gt(r, prev); /* file order kept */
        prev = r;
        seen[r]++;
        ck_assert_mem_eq(mlcl_dataset_labels(a) + i * C, y + r * C, C);
    }
    prev = -1;
    for (int i = 0; i < 10; i++) {
        int r = (int)mlcl_dataset_features(b)[i * D] / 10;
        ck_assert_int_gt(r, prev);
        prev = r;
        seen[r]++;
    }
    for (int i = 0; i < N; i++) ck_assert_int_eq(seen[i], 1);
    check_packed(b);
    ck_assert_ok(mlcl_dataset_split(&a2, &b2, ds, 0.2f, 5));
    ck_assert_mem_eq(mlcl_dataset_features(b), mlcl_dataset_features(b2), 10 * D * sizeof(float));
    mlcl_dataset_free(a2);
    mlcl_dataset_free(b2);
    ck_assert_ok(mlcl_dataset_split(&a2, &b2, ds, 0.2f, 6));
    ck_assert(memcmp(mlcl_dataset_features(b), mlcl_dataset_features(b2), 10 * D * sizeof(float)) != 0);
    mlcl_dataset_free(a2);
    mlcl_dataset_free(b2);
    mlcl_dataset_free(a);
    mlcl_dataset_free(b);
    ck_assert_status_msg(mlcl_dataset_split(&a, &b, ds, 0.0f, 1), MLCL_EINVAL, "frac_b");
    ck_assert_status_msg(mlcl_dataset_split(&a, &b, ds, 0.001f, 1), MLCL_EINVAL, "leaves a part empty");
    mlcl_dataset_free(ds);
    mlcl_dataset_free(NULL);

    y[1 * C + 2] = 2;
    ck_assert_status_msg(mlcl_dataset_create_from_arrays(&ds, N, D, C, x, y), MLCL_EINVAL, "y[1][2] = 2");
    y[1 * C + 2] = 0;
    x[4 * D + 1] = NAN;
    ck_assert_status_msg(mlcl_dataset_create_from_arrays(&ds, N, D, C, x, y), MLCL_ENUMERIC, "x[4][1]");
    ck_assert_status_msg(mlcl_dataset_create_from_arrays(&ds, 0, D, C, x, y), MLCL_EINVAL, "n must be > 0");
    ck_assert_ptr_null(ds);
}
END_TEST

/* ------------------------------------------------------------------ standardisation */

START_TEST(standardize)
{
    /* column 0: 1 2 3 4 -> mean 2.5, population var 1.25; column 1 constant 5 -> std 1 */
    const float x[8] = {1, 5, 2, 5, 3, 5, 4, 5};
    const uint8_t y[4] = {1, 0, 1, 0};
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, 4, 2, 1, x, y));
    float mean[2], sd[2];
    ck_assert_ok(mlcl_dataset_standardize_stats(mean, sd, ds));
    ck_assert_float_eq_tol(mean[0], 2.5f, 1e-7f);
    ck_assert_float_eq_tol(sd[0], sqrtf(1.25f), 1e-7f);
    ck_assert_float_eq(mean[1], 5.0f);
    ck_assert_float_eq(sd[1], 1.0f);
    ck_assert_ok(mlcl_dataset_standardize_apply(ds, mean, sd));
    const float *z = mlcl_dataset_features(ds);
    ck_assert_float_eq_tol(z[0], -1.5f / sqrtf(1.25f), 1e-6f);
    ck_assert_float_eq_tol(z[6], 1.5f / sqrtf(1.25f), 1e-6f);
    ck_assert_float_eq(z[1], 0.0f);
    sd[0] = 0;
    ck_assert_status_msg(mlcl_dataset_standardize_apply(ds, mean, sd), MLCL_EINVAL, "std[0]");
    mlcl_dataset_free(ds);

    /* Yeast: after applying its own statistics every column has mean 0, std 1 */
    ck_assert_ok(mlcl_dataset_load_arff(&ds, shared("yeast-train.arff.gz"), 0, 0));
    float m[103], s[103];
    ck_assert_ok(mlcl_dataset_standardize_stats(m, s, ds));
    ck_assert_ok(mlcl_dataset_standardize_apply(ds, m, s));
    ck_assert_ok(mlcl_dataset_standardize_stats(m, s, ds));
    for (int j = 0; j < 103; j++) {
        ck_assert_float_eq_tol(m[j], 0.0f, 1e-5f);
        ck_assert_float_eq_tol(s[j], 1.0f, 1e-5f);
    }
    mlcl_dataset_free(ds);
}
END_TEST

/* ------------------------------------------------------------------ batching */

static void run_epoch(mlcl_batcher *b, int n, int bs, int drop_last, int *order)
{
    const int *rows;
    int k, got = 0, nb = 0;
    int *seen = calloc((size_t)n, sizeof *seen);
    while (1) {
        ck_assert_ok(mlcl_batcher_next(b, &rows, &k));
        if (k == 0) { ck_assert_ptr_null(rows); break; }
        ck_assert(k == bs || (!drop_last && got + k == n));
        for (int i = 0; i < k; i++) {
            ck_assert(rows[i] >= 0 && rows[i] < n);
            seen[rows[i]]++;
            if (order) order[got + i] = rows[i];
        }
        got += k;
        nb++;
    }
    ck_assert_int_eq(nb, batcher_batches(b));
    int limit = drop_last ? n / bs * bs : n;
    ck_assert_int_eq(got, limit);
    int once = 0;
    for (int i = 0; i < n; i++) { ck_assert_int_le(seen[i], 1); once += seen[i]; }
    ck_assert_int_eq(once, limit);
    free(seen);
}

START_TEST(batcher)
{
    enum { N = 103, BS = 10 };
    mlcl_batcher *b, *b2;
    int o1[N], o2[N], o3[N];
    ck_assert_ok(mlcl_batcher_create(&b, N, BS, 0, 42));
    ck_assert_ok(mlcl_batcher_create(&b2, N, BS, 0, 42));
    ck_assert_int_eq(batcher_batches(b), 11);
    ck_assert_int_eq(batcher_epoch(b), 0);
    run_epoch(b, N, BS, 0, o1);
    ck_assert_int_eq(batcher_epoch(b), 1);
    run_epoch(b, N, BS, 0, o2);
    ck_assert_int_eq(batcher_epoch(b), 2);
    ck_assert(memcmp(o1, o2, sizeof o1) != 0); /* reshuffled */
    run_epoch(b2, N, BS, 0, o3);
    ck_assert_mem_eq(o1, o3, sizeof o1); /* deterministic */

    /* state round trip in the middle of an epoch and at an epoch boundary */
    uint64_t st[MLCL_BATCHER_STATE_WORDS];
    const int *r1, *r2;
    int k1, k2;
    ck_assert_ok(mlcl_batcher_next(b, &r1, &k1));
    ck_assert_ok(mlcl_batcher_get_state(b, st));
    mlcl_batcher *c;
    ck_assert_ok(mlcl_batcher_create(&c, N, BS, 0, 999));
    ck_assert_ok(mlcl_batcher_set_state(c, st));
    ck_assert_int_eq(batcher_epoch(c), 2);
    for (int t = 0; t < 30; t++) {
        ck_assert_ok(mlcl_batcher_next(b, &r1, &k1));
        ck_assert_ok(mlcl_batcher_next(c, &r2, &k2));
        ck_assert_int_eq(k1, k2);
        if (k1) ck_assert_mem_eq(r1, r2, (size_t)k1 * sizeof(int));
        if (t == 15) {
            ck_assert_ok(mlcl_batcher_get_state(b, st));
            ck_assert_ok(mlcl_batcher_set_state(c, st));
        }
    }
    ck_assert_int_eq(batcher_epoch(b), batcher_epoch(c));
    mlcl_batcher_free(c);
    ck_assert_ok(mlcl_batcher_create(&c, N + 1, BS, 0, 1));
    ck_assert_status_msg(mlcl_batcher_set_state(c, st), MLCL_EINVAL, "n_rows 103");
    mlcl_batcher_free(c);

    /* drop_last */
    ck_assert_ok(mlcl_batcher_create(&c, N, BS, 1, 3));
    ck_assert_int_eq(batcher_batches(c), 10);
    run_epoch(c, N, BS, 1, NULL);
    run_epoch(c, N, BS, 1, NULL);
    mlcl_batcher_free(c);

    ck_assert_status_msg(mlcl_batcher_create(&c, 5, 10, 1, 3), MLCL_EINVAL, "drop_last");
    ck_assert_status_msg(mlcl_batcher_create(&c, 0, 10, 0, 3), MLCL_EINVAL, "n_rows");
    ck_assert_status_msg(mlcl_batcher_next(b, NULL, &k1), MLCL_EINVAL, "rows");
    int ep = 7;
    ck_assert_status_msg(mlcl_batcher_epoch(NULL, &ep), MLCL_EINVAL, "b is NULL");
    ck_assert_status_msg(mlcl_batcher_epoch(b, NULL), MLCL_EINVAL, "epoch is NULL");
    ck_assert_status_msg(mlcl_batcher_batches_per_epoch(NULL, &ep), MLCL_EINVAL, "b is NULL");
    ck_assert_int_eq(ep, 7);
    mlcl_batcher_free(b);
    mlcl_batcher_free(b2);
    mlcl_batcher_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------ masking */

START_TEST(augment_mask)
{
    enum { N = 1000, D = 100 };
    static float x[N * D], v1[N * D], v2[N * D], v3[N * D];
    for (int k = 0; k < N * D; k++) x[k] = 1.0f + (float)(k % 7);
    mlcl_rng *r, *r2;
    ck_assert_ok(mlcl_rng_create(&r, 9));
    ck_assert_ok(mlcl_rng_create(&r2, 9));
    ck_assert_ok(mlcl_augment_mask(v1, x, N, D, 0.3f, r));
    ck_assert_ok(mlcl_augment_mask(v2, x, N, D, 0.3f, r)); /* second view */
    ck_assert_ok(mlcl_augment_mask(v3, x, N, D, 0.3f, r2));
    ck_assert_mem_eq(v1, v3, sizeof v1); /* same RNG state, same mask */
    long z1 = 0, z2 = 0, both = 0;
    for (int k = 0; k < N * D; k++) {
        ck_assert(v1[k] == 0.0f || v1[k] == x[k]); /* no rescaling */
        ck_assert(v2[k] == 0.0f || v2[k] == x[k]);
        z1 += v1[k] == 0.0f;
        z2 += v2[k] == 0.0f;
        both += v1[k] == 0.0f && v2[k] == 0.0f;
    }
    /* binomial sd = sqrt(0.21 / 1e5) = 0.00145: 0.006 is about 4 sd */
    ck_assert_double_eq_tol((double)z1 / (N * D), 0.3, 0.006);
    ck_assert_double_eq_tol((double)z2 / (N * D), 0.3, 0.006);
    ck_assert_double_eq_tol((double)both / (N * D), 0.09, 0.004); /* independent views */
    /* in place, p = 0 and p = 1 */
    memcpy(v3, x, sizeof x);
    ck_assert_ok(mlcl_augment_mask(v3, v3, N, D, 0.0f, r));
    ck_assert_mem_eq(v3, x, sizeof x);
    ck_assert_ok(mlcl_augment_mask(v3, v3, N, D, 1.0f, r));
    for (int k = 0; k < N * D; k++) ck_assert(v3[k] == 0.0f);
    ck_assert_status_msg(mlcl_augment_mask(v1, x, N, D, 1.5f, r), MLCL_EINVAL, "p must be in [0, 1]");
    ck_assert_status_msg(mlcl_augment_mask(v1, x, N, D, NAN, r), MLCL_EINVAL, "p must be in [0, 1]");
    ck_assert_status_msg(mlcl_augment_mask(v1, x, N, D, 0.5f, NULL), MLCL_EINVAL, "rng");
    ck_assert_status_msg(mlcl_augment_mask(NULL, x, N, D, 0.5f, r), MLCL_EINVAL, "out");
    ck_assert_ok(mlcl_augment_mask(NULL, NULL, 0, D, 0.5f, r));
    mlcl_rng_free(r);
    mlcl_rng_free(r2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("data");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, arff_dense_fixture);
    tcase_add_test(tc, arff_sparse_equals_dense);
    tcase_add_test(tc, arff_labels_first);
    tcase_add_test(tc, arff_yeast_scene);
    tcase_add_test(tc, arff_bad_files);
    tcase_add_test(tc, arff_truncated_gzip);
    tcase_add_test(tc, arff_gzip_roundtrip);
    tcase_add_test(tc, libsvm_xc_header);
    tcase_add_test(tc, libsvm_one_based);
    tcase_add_test(tc, idx_header_parse);
    tcase_add_test(tc, fashion_mosaic_fixture);
    tcase_add_test(tc, idx_dataset);
    tcase_add_test(tc, create_subset_split_gather);
    tcase_add_test(tc, standardize);
    tcase_add_test(tc, batcher);
    tcase_add_test(tc, augment_mask);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
