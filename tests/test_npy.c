/* The .npy/.npz reader and the NumPy dataset loader: the committed byte
 * fixtures (tests/data/npy, written by make_fixtures.py without numpy),
 * malformed variants built from them here, and files written by numpy at
 * test time (skipped when /usr/bin/python3 or numpy is missing). */
#include "testutil.h"
#include <math.h>
#include <unistd.h>
#include <zlib.h>

#define FIX "tests/data/npy/"

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char p[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static const char *spit(const char *name, const void *data, size_t len)
{
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    if (len) ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return p;
}

/* Builds an npy file: version 1 header with the given dict text, then payload. */
static const char *npy_with_header(const char *name, const char *dict, const void *payload, size_t plen)
{
    unsigned char buf[4096];
    size_t dl = strlen(dict);
    size_t hl = dl + 1;
    ck_assert_uint_lt(10 + hl + plen, sizeof buf);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hl & 0xff);
    buf[9] = (unsigned char)(hl >> 8);
    memcpy(buf + 10, dict, dl);
    buf[10 + dl] = '\n';
    if (plen) memcpy(buf + 10 + hl, payload, plen);
    return spit(name, buf, 10 + hl + plen);
}

static void expect_array(const char *path, const char *key, int scale, int ndim, const int64_t *shape,
                         const float *vals, size_t count)
{
    float *d = NULL;
    int nd = -1;
    int64_t sh[MLCL_NPY_MAX_DIMS];
    ck_assert_ok(mlcl_npy_read(&d, &nd, sh, path, key, scale));
    ck_assert_int_eq(nd, ndim);
    for (int i = 0; i < MLCL_NPY_MAX_DIMS; i++) ck_assert_int_eq(sh[i], i < ndim ? shape[i] : 0);
    for (size_t i = 0; i < count; i++)
        ck_assert_msg(d[i] == vals[i], "%s: element %zu is %g, expected %g", path, i, (double)d[i], (double)vals[i]);
    mlcl_npy_free(d);
}

START_TEST(fixtures_read_exactly)
{
    const int64_t s23[] = { 2, 3 }, s2122[] = { 2, 1, 2, 2 }, s3[] = { 3 };
    const float f4[] = { 0.0f, 0.5f, 1.0f, 0.25f, 0.75f, -2.0f };
    expect_array(FIX "f4_v1.npy", NULL, 1, 2, s23, f4, 6); /* scale_u8 ignores floats */
    const float u1raw[] = { 0, 255, 51, 102, 153, 204, 0, 255 };
    float u1s[8];
    for (int i = 0; i < 8; i++) u1s[i] = (float)((double)u1raw[i] / 255.0);
    ck_assert_float_eq(u1s[2], 0.2f);
    expect_array(FIX "u1_v2.npy", NULL, 0, 4, s2122, u1raw, 8);
    expect_array(FIX "u1_v2.npy", NULL, 1, 4, s2122, u1s, 8);
    const float b1[] = { 1, 0, 1, 0, 1, 0 };
    expect_array(FIX "b1_labels.npy", NULL, 1, 2, s23, b1, 6);
    const float i8[] = { -1, 0, 7 };
    expect_array(FIX "i8_be_v3.npy", NULL, 0, 1, s3, i8, 3);
    /* archives: stored and deflated, two keys each */
    expect_array(FIX "stored.npz", "x", 1, 4, s2122, u1s, 8);
    expect_array(FIX "stored.npz", "y", 0, 2, s23, b1, 6);
    expect_array(FIX "deflated.npz", "x", 0, 4, s2122, u1raw, 8);
    expect_array(FIX "deflated.npz", "y", 0, 2, s23, b1, 6);
}
END_TEST

START_TEST(scalars_and_empty_arrays)
{
    float one = 3.5f;
    const char *p = npy_with_header("scalar.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &one, 4);
    float *d = NULL;
    int nd = -1;
    int64_t sh[MLCL_NPY_MAX_DIMS];
    ck_assert_ok(mlcl_npy_read(&d, &nd, sh, p, NULL, 0));
    ck_assert_int_eq(nd, 0);
    ck_assert_float_eq(d[0], 3.5f);
    mlcl_npy_free(d);
    p = npy_with_header("empty.npy", "{\"shape\": (0, 5), \"fortran_order\": False, \"descr\": \"<f8\"}", NULL, 0);
    d = (float *)&one;
    ck_assert_ok(mlcl_npy_read(&d, &nd, sh, p, NULL, 0));
    ck_assert_ptr_null(d);
    ck_assert_int_eq(nd, 2);
    ck_assert_int_eq(sh[0], 0);
    ck_assert_int_eq(sh[1], 5);
    mlcl_npy_free(NULL);
}
END_TEST

/* Every malformed .npy gives its status and a message naming the file and the problem. */
START_TEST(malformed_npy)
{
    size_t n;
    unsigned char *b = slurp(FIX "f4_v1.npy", &n);
    float *d = (float *)b;
    int nd;
    int64_t sh[MLCL_NPY_MAX_DIMS];
#define BAD_NPY(path, st, needle)                                                   \
    do {                                                                             \
        d = (float *)b;                                                              \
        ck_assert_status_msg(mlcl_npy_read(&d, &nd, sh, path, NULL, 0), st, needle); \
        ck_assert_ptr_null(d);                                                       \
        ck_assert_ptr_nonnull(strstr(mlcl_last_error(), path));                     \
    } while (0)
    BAD_NPY(spit("trunc.npy", b, n - 1), MLCL_EFORMAT, "truncated");
    BAD_NPY(spit("short.npy", b, 9), MLCL_EFORMAT, "too short");
    BAD_NPY(spit("hdrcut.npy", b, 40), MLCL_EFORMAT, "exceeds the file");
    unsigned char *c = malloc(n + 1);
    memcpy(c, b, n);
    c[n] = 0;
    BAD_NPY(spit("trailing.npy", c, n + 1), MLCL_EFORMAT, "trailing data");
    memcpy(c, b, n);
    c[1] = 'M';
    BAD_NPY(spit("magic.npy", c, n), MLCL_EFORMAT, "bad magic");
    memcpy(c, b, n);
    c[6] = 4;
    BAD_NPY(spit("ver4.npy", c, n), MLCL_EFORMAT, "version 4");
    memcpy(c, b, n);
    c[8] = (unsigned char)(c[8] - 1); /* header no longer ends with a newline */
    BAD_NPY(spit("nonl.npy", c, n), MLCL_EFORMAT, "newline");
    BAD_NPY(FIX "fortran.npy", MLCL_EFORMAT, "fortran_order is True");
    float pay[6] = { 0 };
    BAD_NPY(npy_with_header("dexcr.npy", "{'dexcr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", pay, 24),
            MLCL_EFORMAT, "unknown key 'dexcr'");
    BAD_NPY(npy_with_header("nodict.npy", "['descr', '<f4']", pay, 24), MLCL_EFORMAT, "not a dict");
    BAD_NPY(npy_with_header("noshape.npy", "{'descr': '<f4', 'fortran_order': False}", pay, 24), MLCL_EFORMAT,
            "missing shape");
    BAD_NPY(npy_with_header("badshape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", pay, 24),
            MLCL_EFORMAT, "shape");
    BAD_NPY(npy_with_header("unclosed.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)", pay, 24),
            MLCL_EFORMAT, "bad header dict");
    BAD_NPY(npy_with_header("after.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} x", pay, 24),
            MLCL_EFORMAT, "after the dict");
    BAD_NPY(npy_with_header("c8.npy", "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", pay, 24),
            MLCL_EFORMAT, "unsupported dtype '<c8'");
    BAD_NPY(npy_with_header("struct.npy", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", pay, 24),
            MLCL_EFORMAT, "unsupported dtype");
    BAD_NPY(npy_with_header("pipe.npy", "{'descr': '|f4', 'fortran_order': False, 'shape': (6,), }", pay, 24),
            MLCL_EFORMAT, "unsupported dtype '|f4'");
    BAD_NPY(npy_with_header("ninedim.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,6), }", pay, 24),
            MLCL_EFORMAT, "more than 8 dimensions");
    /* sizes from the header are never trusted: a huge shape fails before allocating */
    BAD_NPY(npy_with_header("huge.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", pay, 24),
            MLCL_EFORMAT, "truncated");
    BAD_NPY(npy_with_header("overflow.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", pay, 24),
            MLCL_EOVERFLOW, "overflows");
    BAD_NPY(npy_with_header("bigdim.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", pay, 24),
            MLCL_EOVERFLOW, "too large");
    pay[4] = NAN;
    BAD_NPY(npy_with_header("nan.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", pay, 24),
            MLCL_ENUMERIC, "element 4");
    double big = 1e300;
    BAD_NPY(npy_with_header("f8big.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", &big, 8),
            MLCL_ENUMERIC, "element 0");
    unsigned char two[2] = { 1, 2 };
    BAD_NPY(npy_with_header("bool2.npy", "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", two, 2),
            MLCL_EFORMAT, "bool element 1");
    BAD_NPY(tmp_path("does_not_exist.npy"), MLCL_EIO, "cannot open");
#undef BAD_NPY
    free(c);
    free(b);
}
END_TEST

/* Offset of the first occurrence of a 4-byte signature. */
static size_t find_sig(const unsigned char *b, size_t n, uint32_t sig, size_t from)
{
    for (size_t i = from; i + 4 <= n; i++)
        if ((uint32_t)(b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | ((uint32_t)b[i + 3] << 24)) == sig) return i;
    ck_abort_msg("signature %08x not found", sig);
    return 0;
}

START_TEST(malformed_npz)
{
    size_t n, nd_;
    unsigned char *st = slurp(FIX "stored.npz", &n);
    unsigned char *df = slurp(FIX "deflated.npz", &nd_);
    unsigned char *c = malloc(n > nd_ ? n : nd_);
    float *d;
    int nd;
    int64_t sh[MLCL_NPY_MAX_DIMS];
#define BAD_NPZ(path, key, st_, needle)                                                  \
    do {                                                                                  \
        d = (float *)c;                                                                   \
        ck_assert_status_msg(mlcl_npy_read(&d, &nd, sh, path, key, 0), st_, needle);      \
        ck_assert_ptr_null(d);                                                            \
        ck_assert_ptr_nonnull(strstr(mlcl_last_error(), path));                          \
    } while (0)
    BAD_NPZ(FIX "stored.npz", "z", MLCL_EFORMAT, "entry 'z.npy': no such key");
    BAD_NPZ(FIX "f4_v1.npy", "x", MLCL_EFORMAT, "not a zip archive");
    /* an npz read as npy */
    BAD_NPZ(FIX "stored.npz", NULL, MLCL_EFORMAT, "bad magic");
    BAD_NPZ(spit("cut.npz", st, n - 10), "x", MLCL_EFORMAT, "end of central directory");
    /* a changed data byte: CRC mismatch (stored entry: the last pixel of x) */
    size_t cd = find_sig(st, n, 0x02014b50u, 0);
    size_t loc2 = find_sig(st, n, 0x04034b50u, 4); /* second entry's local header */
    memcpy(c, st, n);
    c[loc2 - 1] ^= 0x01;
    BAD_NPZ(spit("crc.npz", c, n), "x", MLCL_ECHECKSUM, "CRC-32 mismatch");
    /* unsupported compression method (bzip2 = 12) in the central directory */
    memcpy(c, st, n);
    c[cd + 10] = 12;
    BAD_NPZ(spit("bzip2.npz", c, n), "x", MLCL_EFORMAT, "compression method 12");
    /* encrypted flag */
    memcpy(c, st, n);
    c[cd + 8] |= 1;
    BAD_NPZ(spit("crypt.npz", c, n), "x", MLCL_EFORMAT, "encrypted");
    /* local header offset beyond the file */
    memcpy(c, st, n);
    c[cd + 45] = 0x7f;
    BAD_NPZ(spit("farlocal.npz", c, n), "x", MLCL_EFORMAT, "out of range");
    /* compressed size beyond the file */
    memcpy(c, st, n);
    c[cd + 23] = 0x10;
    BAD_NPZ(spit("bigcsize.npz", c, n), "x", MLCL_EFORMAT, "out of range");
    /* stored sizes disagreeing */
    memcpy(c, st, n);
    c[cd + 24] ^= 0x01;
    BAD_NPZ(spit("sizes.npz", c, n), "x", MLCL_EFORMAT, "stored entry");
    /* central directory entry count larger than the directory */
    size_t eocd = find_sig(st, n, 0x06054b50u, 0);
    memcpy(c, st, n);
    c[eocd + 10] = 9;
    BAD_NPZ(spit("count.npz", c, n), "z", MLCL_EFORMAT, "central directory");
    /* deflated: a corrupted stream is caught (by zlib or the CRC) */
    size_t dl2 = find_sig(df, nd_, 0x04034b50u, 4);
    memcpy(c, df, nd_);
    for (size_t i = 50; i < 60 && i < dl2; i++) c[i] ^= 0x5a;
    const char *p = spit("zbad.npz", c, nd_);
    d = (float *)c;
    mlcl_clear_error();
    int rc = mlcl_npy_read(&d, &nd, sh, p, "x", 0);
    ck_assert_msg(rc == MLCL_EFORMAT || rc == MLCL_ECHECKSUM, "corrupt deflate: %d %s", rc, mlcl_last_error());
    ck_assert_ptr_nonnull(strstr(mlcl_last_error(), p));
    /* deflated: impossible uncompressed size for its compressed size */
    size_t dcd = find_sig(df, nd_, 0x02014b50u, 0);
    memcpy(c, df, nd_);
    c[dcd + 27] = 0x7f;
    BAD_NPZ(spit("bomb.npz", c, nd_), "x", MLCL_EFORMAT, "impossible");
#undef BAD_NPZ
    free(c);
    free(st);
    free(df);
}
END_TEST

START_TEST(dataset_from_fixtures)
{
    mlcl_dataset *ds;
    int n, d, c, ch, h, w;
    ck_assert_ok(mlcl_dataset_load_npy(&ds, FIX "u1_v2.npy", NULL, FIX "b1_labels.npy", NULL, 1));
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    ck_assert_int_eq(n, 2); ck_assert_int_eq(d, 4); ck_assert_int_eq(c, 3);
    ck_assert_ok(mlcl_dataset_image_shape(ds, &ch, &h, &w));
    ck_assert_int_eq(ch, 1); ck_assert_int_eq(h, 2); ck_assert_int_eq(w, 2);
    ck_assert_float_eq(mlcl_dataset_features(ds)[1], 1.0f);
    ck_assert_float_eq(mlcl_dataset_features(ds)[2], 0.2f);
    const uint8_t *y = mlcl_dataset_labels(ds);
    ck_assert_int_eq(y[0], 1); ck_assert_int_eq(y[1], 0); ck_assert_int_eq(y[2], 1); ck_assert_int_eq(y[4], 1);
    ck_assert_uint_eq(mlcl_dataset_labels_packed(ds)[0], 5u);
    ck_assert_uint_eq(mlcl_dataset_labels_packed(ds)[1], 2u);
    mlcl_dataset_free(ds);
    /* the same from the archives, with keys; unscaled */
    ck_assert_ok(mlcl_dataset_load_npy(&ds, FIX "deflated.npz", "x", FIX "stored.npz", "y", 0));
    ck_assert_float_eq(mlcl_dataset_features(ds)[1], 255.0f);
    ck_assert_ok(mlcl_dataset_image_shape(ds, &ch, &h, &w));
    ck_assert_int_eq(ch * h * w, 4);
    mlcl_dataset_free(ds);
    /* (n, d) gives a vector set */
    ck_assert_ok(mlcl_dataset_load_npy(&ds, FIX "f4_v1.npy", NULL, FIX "b1_labels.npy", NULL, 0));
    ck_assert_ok(mlcl_dataset_image_shape(ds, &ch, &h, &w));
    ck_assert_int_eq(ch, 0); ck_assert_int_eq(h, 0); ck_assert_int_eq(w, 0);
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    ck_assert_int_eq(d, 3);
    ck_assert_float_eq(mlcl_dataset_features(ds)[5], -2.0f);
    mlcl_dataset_free(ds);
    /* errors */
    ds = (mlcl_dataset *)1;
    ck_assert_status_msg(mlcl_dataset_load_npy(&ds, FIX "u1_v2.npy", NULL, FIX "f4_v1.npy", NULL, 1),
                         MLCL_EFORMAT, "f4_v1.npy: label at row 0, column 1 is 0.5");
    ck_assert_ptr_null(ds);
    ck_assert_status_msg(mlcl_dataset_load_npy(&ds, FIX "u1_v2.npy", NULL, FIX "i8_be_v3.npy", NULL, 1),
                         MLCL_EFORMAT, "labels must have 2 dimensions");
    ck_assert_status_msg(mlcl_dataset_load_npy(&ds, FIX "i8_be_v3.npy", NULL, FIX "b1_labels.npy", NULL, 1),
                         MLCL_EFORMAT, "images must have 2");
    float pay[3] = { 1, 0, 1 };
    const char *one_row = npy_with_header("onerow.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }", pay, 12);
    ck_assert_status_msg(mlcl_dataset_load_npy(&ds, FIX "u1_v2.npy", NULL, one_row, NULL, 1), MLCL_EFORMAT,
                         "has 2 images but");
    ck_assert_status_msg(mlcl_dataset_load_npy(&ds, FIX "stored.npz", "x", FIX "stored.npz", "nope", 1),
                         MLCL_EFORMAT, "entry 'nope.npy'");
    ck_assert_status_msg(mlcl_dataset_load_npy(&ds, FIX "fortran.npy", NULL, FIX "b1_labels.npy", NULL, 1),
                         MLCL_EFORMAT, "fortran.npy");
}
END_TEST

/* Allocation failures at every point give ENOMEM and leak nothing (ASan). */
static int fail_after;
static void *counting_alloc(size_t n, void *ctx)
{
    (void)ctx;
    if (fail_after-- <= 0) return NULL;
    void *p = NULL;
    return posix_memalign(&p, 64, n ? n : 1) == 0 ? p : NULL;
}
static void counting_free(void *p, void *ctx) { (void)ctx; free(p); }

START_TEST(allocation_failures)
{
    mlcl_allocator a = { MLCL_ALLOCATOR_VERSION, counting_alloc, counting_free, NULL };
    ck_assert_ok(mlcl_set_allocator(&a));
    int ok = 0;
    for (int k = 0; k < 40 && !ok; k++) {
        fail_after = k;
        mlcl_dataset *ds = NULL;
        int rc = mlcl_dataset_load_npy(&ds, FIX "deflated.npz", "x", FIX "stored.npz", "y", 1);
        if (rc == MLCL_OK) { ok = 1; mlcl_dataset_free(ds); }
        else {
            ck_assert_int_eq(rc, MLCL_ENOMEM);
            ck_assert_ptr_null(ds);
        }
    }
    ck_assert_ok(mlcl_set_allocator(NULL));
    ck_assert_msg(ok, "never succeeded");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Files written by numpy */

static int have_numpy(void)
{
    return system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

static int run_python(const char *code)
{
    char script[600], cmd[1200];
    snprintf(script, sizeof script, "%s/gen.py", tmpdir);
    FILE *f = fopen(script, "w");
    ck_assert_ptr_nonnull(f);
    fputs(code, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd '%s' && /usr/bin/python3 gen.py", tmpdir);
    return system(cmd);
}

START_TEST(numpy_written_files)
{
    if (!have_numpy()) {
        fprintf(stderr, "test_npy: numpy not available, numpy_written_files skipped\n");
        return;
    }
    /* values v(i) = (i * 37 % 1000) / 8 - 50, exact in every float type used;
     * 70007 elements cross the 64 KiB read chunks and several inflate buffers */
    ck_assert_int_eq(run_python(
        "import numpy as np\n"
        "v = (np.arange(70007) * 37 % 1000) / 8.0 - 50\n"
        "np.save('f4.npy', v.astype(np.float32).reshape(7, 10001))\n"
        "np.save('f8be.npy', v.astype('>f8'))\n"
        "np.save('i2.npy', (v * 8).astype(np.int16))\n"
        "np.save('u4be.npy', (v * 8 + 400).astype('>u4'))\n"
        "u = (np.arange(60) * 7 % 256).astype(np.uint8).reshape(5, 3, 2, 2)\n"
        "lab = (np.arange(15).reshape(5, 3) % 2 == 0)\n"
        "np.save('u1.npy', u)\n"
        "np.save('u1_nhw.npy', u.reshape(5, 6, 2))\n"
        "np.save('lab.npy', lab)\n"
        "np.save('lab_i8.npy', lab.astype(np.int64))\n"
        "np.savez('s.npz', img=u, lab=lab, big=v.astype(np.float32))\n"
        "np.savez_compressed('c.npz', img=u, lab=lab, big=v.astype(np.float32))\n"
        "np.savez('pos.npz', u, lab)\n"), 0);
    enum { N = 70007 };
    float *v = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) v[i] = (float)((i * 37 % 1000) / 8.0 - 50);
    const int64_t s_f4[] = { 7, 10001 }, s_1[] = { N };
    expect_array(tmp_path("f4.npy"), NULL, 1, 2, s_f4, v, N);
    expect_array(tmp_path("f8be.npy"), NULL, 0, 1, s_1, v, N);
    for (int i = 0; i < N; i++) v[i] = (float)(int)((double)v[i] * 8);
    expect_array(tmp_path("i2.npy"), NULL, 0, 1, s_1, v, N);
    for (int i = 0; i < N; i++) v[i] += 400;
    expect_array(tmp_path("u4be.npy"), NULL, 1, 1, s_1, v, N);
    for (int i = 0; i < N; i++) v[i] = (float)((i * 37 % 1000) / 8.0 - 50);
    expect_array(tmp_path("s.npz"), "big", 0, 1, s_1, v, N);
    expect_array(tmp_path("c.npz"), "big", 0, 1, s_1, v, N);
    float u[60];
    for (int i = 0; i < 60; i++) u[i] = (float)((double)(i * 7 % 256) / 255.0);
    const int64_t s_u[] = { 5, 3, 2, 2 };
    expect_array(tmp_path("u1.npy"), NULL, 1, 4, s_u, u, 60);
    expect_array(tmp_path("c.npz"), "img", 1, 4, s_u, u, 60);
    expect_array(tmp_path("pos.npz"), "arr_0", 1, 4, s_u, u, 60);
    free(v);

    mlcl_dataset *ds;
    int n, d, c, ch, h, w;
    ck_assert_ok(mlcl_dataset_load_npy(&ds, tmp_path("c.npz"), "img", tmp_path("c.npz"), "lab", 1));
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    ck_assert_int_eq(n, 5); ck_assert_int_eq(d, 12); ck_assert_int_eq(c, 3);
    ck_assert_ok(mlcl_dataset_image_shape(ds, &ch, &h, &w));
    ck_assert_int_eq(ch, 3); ck_assert_int_eq(h, 2); ck_assert_int_eq(w, 2);
    for (int i = 0; i < 60; i++) ck_assert_float_eq(mlcl_dataset_features(ds)[i], u[i]);
    for (int i = 0; i < 15; i++) ck_assert_int_eq(mlcl_dataset_labels(ds)[i], i % 2 == 0);
    mlcl_dataset_free(ds);
    ck_assert_ok(mlcl_dataset_load_npy(&ds, tmp_path("u1_nhw.npy"), NULL, tmp_path("lab_i8.npy"), NULL, 1));
    ck_assert_ok(mlcl_dataset_image_shape(ds, &ch, &h, &w));
    ck_assert_int_eq(ch, 1); ck_assert_int_eq(h, 6); ck_assert_int_eq(w, 2);
    for (int i = 0; i < 15; i++) ck_assert_int_eq(mlcl_dataset_labels(ds)[i], i % 2 == 0);
    mlcl_dataset_free(ds);
}
END_TEST

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mlcl_test_npy_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

int main(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tcase_create("npy");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fixtures_read_exactly);
    tcase_add_test(tc, scalars_and_empty_arrays);
    tcase_add_test(tc, malformed_npy);
    tcase_add_test(tc, malformed_npz);
    tcase_add_test(tc, dataset_from_fixtures);
    tcase_add_test(tc, allocation_failures);
    tcase_add_test(tc, numpy_written_files);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
