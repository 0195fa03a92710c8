/* safetensors export/import and ONNX export (include/mlcl/model.h,
 * src/model/safetensors.c, src/model/onnx.c): round trips, and hostile
 * safetensors headers that must be clean errors with the model unchanged.
 * The Python test bindings/python/tests/test_model_interop.py checks the
 * files against PyTorch and an independent ONNX evaluation. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"

static char TMP[128];

static const char *tmp_path(const char *name)
{
    static char p[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", TMP, name);
    return p[k];
}

/* Linear(4,3) ReLU BatchNorm1d(3) Dropout(0.1) Linear(3,3, no bias); head Linear(3,2) */
static mlcl_model *small_mlp(uint64_t seed)
{
    mlcl_encoder_options eo = MLCL_ENCODER_OPTIONS_INIT;
    eo.seed = seed;
    mlcl_encoder *e = NULL;
    mlcl_model *m = NULL;
    ck_assert_ok(mlcl_encoder_create(&e, 4, &eo));
    ck_assert_ok(mlcl_encoder_add_linear(e, 3, 1));
    ck_assert_ok(mlcl_encoder_add_relu(e));
    ck_assert_ok(mlcl_encoder_add_batchnorm(e, 1e-5f, 0.1f));
    ck_assert_ok(mlcl_encoder_add_dropout(e, 0.1f));
    ck_assert_ok(mlcl_encoder_add_linear(e, 3, 0));
    ck_assert_ok(mlcl_model_create(&m, e, 2, seed + 100));
    mlcl_encoder_free(e);
    return m;
}

/* Linear(4,3) only; head Linear(3,2): the tensors of the hand-written files below */
static mlcl_model *tiny_linear(uint64_t seed)
{
    mlcl_encoder_options eo = MLCL_ENCODER_OPTIONS_INIT;
    eo.seed = seed;
    mlcl_encoder *e = NULL;
    mlcl_model *m = NULL;
    ck_assert_ok(mlcl_encoder_create(&e, 4, &eo));
    ck_assert_ok(mlcl_encoder_add_linear(e, 3, 1));
    ck_assert_ok(mlcl_model_create(&m, e, 2, seed + 100));
    mlcl_encoder_free(e);
    return m;
}

static const float X[3 * 4] = { 0.5f, -1.0f, 2.0f, 0.25f, 1.5f, 0.0f, -0.5f, 3.0f, -2.0f, 1.0f, 1.0f, -1.0f };

static void scores(const mlcl_model *m, float *s)
{
    ck_assert_ok(mlcl_model_predict(m, 3, X, s));
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static unsigned char *slurp(const char *p, long *n)
{
    *n = file_size(p);
    ck_assert_int_gt(*n, 0);
    unsigned char *b = malloc((size_t)*n);
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fread(b, 1, (size_t)*n, f), *n);
    fclose(f);
    return b;
}

/* ------------------------------------------------------------------ round trips */

START_TEST(safetensors_round_trip)
{
    mlcl_model *a = small_mlp(1), *b = small_mlp(2);
    float sa[6], sb[6], ea[9], eb[9];
    scores(a, sa);
    scores(b, sb);
    ck_assert_msg(fabsf(sa[0] - sb[0]) > 1e-4f, "two seeds gave the same model");
    const char *p = tmp_path("a.safetensors");
    ck_assert_ok(mlcl_model_export_safetensors(a, p));
    ck_assert_ok(mlcl_model_import_safetensors(b, p, NULL));
    scores(b, sb);
    ck_assert_ok(mlcl_model_embed(a, 3, X, ea));
    ck_assert_ok(mlcl_model_embed(b, 3, X, eb));
    /* the same float32 values: the same results bit for bit */
    ck_assert_mem_eq(sa, sb, sizeof sa);
    ck_assert_mem_eq(ea, eb, sizeof ea);
    /* the file: 8-byte length, JSON, then exactly the data */
    long n;
    unsigned char *f = slurp(p, &n);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = hl << 8 | f[k];
    ck_assert_uint_eq(hl % 8, 0);
    ck_assert_int_eq(f[8], '{');
    /* 4x3+3 + 3+3 (BN) + 3+3 (BN stats) + 3x3 + head 2x3+2 + thresholds 2 */
    ck_assert_int_eq((long)(n - 8 - (long)hl), 4L * (12 + 3 + 6 + 6 + 9 + 6 + 2 + 2));
    char *hdr = strndup((char *)f + 8, (size_t)hl);
    ck_assert_ptr_nonnull(strstr(hdr, "\"backbone.0.weight\":{\"dtype\":\"F32\",\"shape\":[3,4]"));
    ck_assert_ptr_nonnull(strstr(hdr, "\"backbone.2.running_var\""));
    ck_assert_ptr_nonnull(strstr(hdr, "\"backbone.4.weight\":{\"dtype\":\"F32\",\"shape\":[3,3]"));
    ck_assert_ptr_null(strstr(hdr, "\"backbone.4.bias\""));
    ck_assert_ptr_nonnull(strstr(hdr, "\"mlcl.label_names\":\"[\\\"label0\\\",\\\"label1\\\"]\""));
    mlcl_model_free(b);
    b = tiny_linear(9);
    free(hdr);
    free(f);
    /* a model of another architecture refuses the file, naming the tensor */
    ck_assert_status_msg(mlcl_model_import_safetensors(b, p, NULL), MLCL_EFORMAT, "'backbone.2.weight' is not part of the model");
    mlcl_model_free(a);
    mlcl_model_free(b);
}
END_TEST

START_TEST(import_options_and_restore)
{
    mlcl_model *a = small_mlp(1), *b = small_mlp(2);
    float sa[6], sb[6], sb2[6], ea[9], eb[9];
    scores(a, sa);
    scores(b, sb);
    const char *p = tmp_path("opts.safetensors");
    ck_assert_ok(mlcl_model_export_safetensors(a, p));
    /* backbone only: embeddings of a, head of b */
    mlcl_model_import_options o;
    ck_assert_ok(mlcl_model_import_options_init(&o, MLCL_MODEL_IMPORT_OPTIONS_VERSION));
    o.backbone_only = 1;
    ck_assert_status_msg(mlcl_model_import_safetensors(b, p, &o), MLCL_EFORMAT, "head.weight");
    scores(b, sb2);
    ck_assert_mem_eq(sb, sb2, sizeof sb); /* unchanged after the error */
    o.allow_unused = 1;
    ck_assert_ok(mlcl_model_import_safetensors(b, p, &o));
    ck_assert_ok(mlcl_model_embed(a, 3, X, ea));
    ck_assert_ok(mlcl_model_embed(b, 3, X, eb));
    ck_assert_mem_eq(ea, eb, sizeof ea);
    scores(b, sb2);
    ck_assert_msg(fabsf(sb2[0] - sa[0]) > 1e-5f, "the head was imported with backbone_only");
    /* the wrong prefix: a clean error naming what was looked for */
    o.backbone_only = 0;
    o.allow_unused = 0;
    o.backbone_prefix = "encoder.";
    ck_assert_status_msg(mlcl_model_import_safetensors(b, p, &o), MLCL_EFORMAT, "encoder.0.weight");
    /* options: version and flags checked, init equals the macro */
    static const mlcl_model_import_options ref = MLCL_MODEL_IMPORT_OPTIONS_INIT;
    mlcl_model_import_options bad = MLCL_MODEL_IMPORT_OPTIONS_INIT, got;
    memset(&got, 0x5a, sizeof got);
    ck_assert_ok(mlcl_model_import_options_init(&got, MLCL_MODEL_IMPORT_OPTIONS_VERSION));
    ck_assert_mem_eq(&got, &ref, sizeof ref);
    ck_assert_status_msg(mlcl_model_import_options_init(&got, 99), MLCL_EVERSION, "version");
    bad.version = 7;
    ck_assert_status_msg(mlcl_model_import_safetensors(b, p, &bad), MLCL_EVERSION, "version");
    bad.version = MLCL_MODEL_IMPORT_OPTIONS_VERSION;
    bad.backbone_only = 2;
    ck_assert_status_msg(mlcl_model_import_safetensors(b, p, &bad), MLCL_EINVAL, "backbone_only");
    ck_assert_status_msg(mlcl_model_import_safetensors(NULL, p, NULL), MLCL_EINVAL, "model");
    ck_assert_status_msg(mlcl_model_import_safetensors(b, NULL, NULL), MLCL_EINVAL, "path");
    ck_assert_status_msg(mlcl_model_import_safetensors(b, tmp_path("none.safetensors"), NULL), MLCL_EIO, "none.safetensors");
    ck_assert_status_msg(mlcl_model_import_safetensors(b, TMP, NULL), MLCL_EIO, "not a regular file");
    /* a FIFO is refused at once (no writer is waited for) */
    const char *fifo = tmp_path("fifo.safetensors");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_status_msg(mlcl_model_import_safetensors(b, fifo, NULL), MLCL_EIO, "not a regular file");
    mlcl_model_free(a);
    mlcl_model_free(b);
}
END_TEST

/* ------------------------------------------------------------------ hostile files */

/* Writes u64 len (or len_override), the header text, and ndata bytes of data. */
static const char *write_raw(const char *name, const char *hdr, int64_t len_override, const float *data, size_t nfloat)
{
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    uint64_t n = len_override >= 0 ? (uint64_t)len_override : strlen(hdr);
    unsigned char l8[8];
    for (int k = 0; k < 8; k++) l8[k] = (unsigned char)(n >> (8 * k));
    fwrite(l8, 1, 8, f);
    fwrite(hdr, 1, strlen(hdr), f);
    if (nfloat) fwrite(data, sizeof(float), nfloat, f);
    fclose(f);
    return p;
}

/* The tensors of tiny_linear(): backbone.0.weight [3,4] (48 bytes), backbone.0.bias [3] (12),
 * head.weight [2,3] (24), head.bias [2] (8): 92 bytes. */
#define T_W "\"backbone.0.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}"
#define T_B "\"backbone.0.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[48,60]}"
#define T_HW "\"head.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[60,84]}"
#define T_HB "\"head.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[84,92]}"

START_TEST(hand_written_file_loads)
{
    float data[23];
    for (int i = 0; i < 23; i++) data[i] = 0.01f * (float)(i + 1);
    mlcl_model *m = tiny_linear(3);
    const char *p = write_raw("good.safetensors", "{" T_W "," T_B "," T_HW "," T_HB ",\"__metadata__\":{\"a\":\"b\"}}", -1, data, 23);
    ck_assert_ok(mlcl_model_import_safetensors(m, p, NULL));
    /* emb = W x + b with W row-major [3,4]; scores = sigmoid(Hw emb + hb) */
    float e[9], s[6];
    ck_assert_ok(mlcl_model_embed(m, 3, X, e));
    ck_assert_ok(mlcl_model_predict(m, 3, X, s));
    for (int i = 0; i < 3; i++) {
        float emb[3];
        for (int o = 0; o < 3; o++) {
            double v = data[12 + o];
            for (int k = 0; k < 4; k++) v += (double)data[o * 4 + k] * X[i * 4 + k];
            emb[o] = (float)v;
            ck_assert_double_eq_tol(e[i * 3 + o], v, 1e-6);
        }
        for (int j = 0; j < 2; j++) {
            double z = data[21 + j];
            for (int o = 0; o < 3; o++) z += (double)data[15 + j * 3 + o] * emb[o];
            ck_assert_double_eq_tol(s[i * 2 + j], 1.0 / (1.0 + exp(-z)), 1e-6);
        }
    }
    /* the .npz export holds the same values, read back with the library's own .npz reader */
    const char *z = tmp_path("good.npz");
    ck_assert_ok(mlcl_model_export_npz(m, z));
    static const struct { const char *key; int off, ndim; int64_t d0, d1; } K[] = {
        { "backbone.0.weight", 0, 2, 3, 4 }, { "backbone.0.bias", 12, 1, 3, 0 },
        { "head.weight", 15, 2, 2, 3 }, { "head.bias", 21, 1, 2, 0 } };
    for (int k = 0; k < 4; k++) {
        float *v = NULL;
        int nd;
        int64_t sh[MLCL_NPY_MAX_DIMS];
        ck_assert_ok(mlcl_npy_read(&v, &nd, sh, z, K[k].key, 0));
        ck_assert_int_eq(nd, K[k].ndim);
        ck_assert_int_eq(sh[0], K[k].d0);
        if (nd == 2) ck_assert_int_eq(sh[1], K[k].d1);
        ck_assert_mem_eq(v, data + K[k].off, sizeof(float) * (size_t)(K[k].d0 * (nd == 2 ? K[k].d1 : 1)));
        mlcl_npy_free(v);
    }
    float *v = NULL;
    int nd;
    int64_t sh[MLCL_NPY_MAX_DIMS];
    ck_assert_ok(mlcl_npy_read(&v, &nd, sh, z, "thresholds", 0));
    ck_assert(nd == 1 && sh[0] == 2 && v[0] == 0.5f && v[1] == 0.5f);
    mlcl_npy_free(v);
    ck_assert_status_msg(mlcl_npy_read(&v, &nd, sh, z, "scaler.mean", 0), MLCL_EFORMAT, "scaler.mean");
    ck_assert_status_msg(mlcl_model_export_npz(m, TMP), MLCL_EINVAL, "not a regular file");
    mlcl_model_free(m);
}
END_TEST

typedef struct hostile {
    const char *what, *hdr;
    int64_t len;      /* -1: the header's length */
    size_t nfloat;    /* data floats written */
    int status;
    const char *needle;
} hostile;

START_TEST(hostile_headers)
{
    static const hostile H[] = {
        { "bad JSON", "{" T_W "," T_B ",", -1, 23, MLCL_EFORMAT, "not valid JSON" },
        { "not an object", "[1,2,3]", -1, 23, MLCL_EFORMAT, "not a JSON object" },
        { "duplicate key", "{" T_W "," T_W "," T_B "," T_HW "," T_HB "}", -1, 23, MLCL_EFORMAT, "JSON" },
        { "huge header length", "{}", (int64_t)1 << 60, 23, MLCL_EFORMAT, "header length" },
        { "header longer than the file", "{" T_W "}", 100000, 0, MLCL_EFORMAT, "header length" },
        { "offsets beyond the file", "{" T_W "," T_B "," T_HW ",\"head.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[84,4000]}}",
          -1, 23, MLCL_EFORMAT, "outside" },
        { "begin after end", "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", -1, 23, MLCL_EFORMAT, "outside" },
        { "overlapping tensors", "{" T_W ",\"backbone.0.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[40,52]}," T_HW "," T_HB "}",
          -1, 23, MLCL_EFORMAT, "overlaps" },
        { "gap", "{" T_W "," T_B "," T_HB "}", -1, 23, MLCL_EFORMAT, "unindexed" },
        { "trailing bytes", "{" T_W "," T_B "," T_HW "," T_HB "}", -1, 24, MLCL_EFORMAT, "index 92 of the 96" },
        { "wrong dtype", "{" T_W "," T_B ",\"head.weight\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[60,72]},"
          "\"head.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[72,80]},\"pad\":{\"dtype\":\"U8\",\"shape\":[12],\"data_offsets\":[80,92]}}",
          -1, 23, MLCL_EFORMAT, "'head.weight' is F16" },
        { "unknown dtype", "{\"x\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", -1, 4, MLCL_EFORMAT, "unknown dtype" },
        { "size does not match the shape", "{" T_W "," T_B "," T_HW ",\"head.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[84,92]}}",
          -1, 23, MLCL_EFORMAT, "8 bytes for 3 elements" },
        { "shape that overflows", "{\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904,4],\"data_offsets\":[0,92]}}",
          -1, 23, MLCL_EFORMAT, "more elements" },
        { "shape whose product wraps to 0", "{" T_W "," T_B "," T_HW "," T_HB ",\"x\":{\"dtype\":\"F32\",\"shape\":[4,4611686018427387904],\"data_offsets\":[92,92]}}",
          -1, 23, MLCL_EFORMAT, "more elements" },
        { "negative shape", "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,92]}}", -1, 23, MLCL_EFORMAT, "shape[0]" },
        { "too many dimensions", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,23],\"data_offsets\":[0,92]}}", -1, 23,
          MLCL_EFORMAT, "9 dimensions" },
        { "offsets not integers", "{\"x\":{\"dtype\":\"F32\",\"shape\":[23],\"data_offsets\":[0.0,92]}}", -1, 23, MLCL_EFORMAT, "data_offsets" },
        { "missing field", "{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,92]}}", -1, 23, MLCL_EFORMAT, "\"shape\"" },
        { "metadata not strings", "{\"__metadata__\":{\"k\":1}," T_W "," T_B "," T_HW "," T_HB "}", -1, 23, MLCL_EFORMAT, "'k' is not a string" },
        { "shape of another model", "{\"backbone.0.weight\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}," T_B "," T_HW "," T_HB "}",
          -1, 23, MLCL_EFORMAT, "shape [4, 3], the model needs [3, 4]" },
        { "missing tensor", "{" T_W "," T_B "," T_HW ",\"head.b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[84,92]}}",
          -1, 23, MLCL_EFORMAT, "'head.bias' is missing" },
        { "unused tensor", "{" T_W "," T_B "," T_HW "," T_HB ",\"extra\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[92,92]}}",
          -1, 23, MLCL_EFORMAT, "'extra' is not part of the model" },
        { "empty file", "", 0, 0, MLCL_EFORMAT, "header length" },
    };
    float data[24];
    for (int i = 0; i < 24; i++) data[i] = 0.5f - 0.03f * (float)i;
    mlcl_model *m = tiny_linear(5);
    float s0[6], s1[6];
    scores(m, s0);
    for (size_t i = 0; i < sizeof H / sizeof H[0]; i++) {
        const char *p = write_raw("hostile.safetensors", H[i].hdr, H[i].len, data, H[i].nfloat);
        mlcl_clear_error();
        int rc = mlcl_model_import_safetensors(m, p, NULL);
        ck_assert_msg(rc == H[i].status, "%s: status %d, expected %d (%s)", H[i].what, rc, H[i].status, mlcl_last_error());
        ck_assert_msg(strstr(mlcl_last_error(), H[i].needle) != NULL, "%s: message '%s' does not mention '%s'", H[i].what,
                      mlcl_last_error(), H[i].needle);
        ck_assert_msg(strstr(mlcl_last_error(), "hostile.safetensors") != NULL, "%s: the file is not named", H[i].what);
        scores(m, s1);
        ck_assert_msg(!memcmp(s0, s1, sizeof s0), "%s: the model changed", H[i].what);
    }
    /* a file shorter than 8 bytes */
    const char *p = tmp_path("short.safetensors");
    FILE *f = fopen(p, "wb");
    fwrite("{}", 1, 2, f);
    fclose(f);
    ck_assert_status_msg(mlcl_model_import_safetensors(m, p, NULL), MLCL_EFORMAT, "too short");
    /* NaN data */
    data[3] = NAN;
    p = write_raw("nan.safetensors", "{" T_W "," T_B "," T_HW "," T_HB "}", -1, data, 23);
    ck_assert_status_msg(mlcl_model_import_safetensors(m, p, NULL), MLCL_EFORMAT, "NaN");
    scores(m, s1);
    ck_assert_mem_eq(s0, s1, sizeof s0);
    mlcl_model_free(m);
}
END_TEST

START_TEST(invalid_values_restore_the_model)
{
    /* a negative BatchNorm variance passes the file checks and is refused by the network: the model is restored */
    mlcl_model *a = small_mlp(1), *b = small_mlp(2);
    float s0[6], s1[6];
    scores(b, s0);
    const char *p = tmp_path("var.safetensors");
    ck_assert_ok(mlcl_model_export_safetensors(a, p));
    long n;
    unsigned char *buf = slurp(p, &n);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = hl << 8 | buf[k];
    char *hdr = strndup((char *)buf + 8, (size_t)hl);
    char *at = strstr(hdr, "\"backbone.2.running_var\"");
    ck_assert_ptr_nonnull(at);
    long b0 = strtol(strstr(at, "data_offsets\":[") + 15, NULL, 10);
    float neg = -1.0f;
    memcpy(buf + 8 + hl + b0, &neg, 4);
    FILE *f = fopen(p, "wb");
    fwrite(buf, 1, (size_t)n, f);
    fclose(f);
    mlcl_clear_error();
    int rc = mlcl_model_import_safetensors(b, p, NULL);
    ck_assert_int_eq(rc, MLCL_EFORMAT);
    scores(b, s1);
    ck_assert_mem_eq(s0, s1, sizeof s0);
    free(hdr);
    free(buf);
    mlcl_model_free(a);
    mlcl_model_free(b);
}
END_TEST

/* ------------------------------------------------------------------ exports */

static int contains(const unsigned char *h, long n, const void *needle, size_t k)
{
    for (long i = 0; i + (long)k <= n; i++)
        if (!memcmp(h + i, needle, k)) return 1;
    return 0;
}

START_TEST(onnx_export_files)
{
    mlcl_model *m = small_mlp(4);
    const char *p = tmp_path("m.onnx");
    ck_assert_ok(mlcl_model_export_onnx(m, p));
    long n;
    unsigned char *f = slurp(p, &n);
    /* the weights are stored as raw little-endian initializers, named as in the safetensors file */
    const char *names[] = { "backbone.0.weight", "backbone.2.running_var", "backbone.4.weight", "head.bias", "scores",
                            "embedding", "distributions", "BatchNormalization", "Gemm", "Sigmoid", "Softmax", "libmlcl" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_msg(contains(f, n, names[i], strlen(names[i])), "'%s' not in the ONNX file", names[i]);
    const char *st = tmp_path("m.safetensors");
    ck_assert_ok(mlcl_model_export_safetensors(m, st));
    long ns;
    unsigned char *s = slurp(st, &ns);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = hl << 8 | s[k];
    /* the first 12 floats of data are backbone.0.weight: the same bytes in the ONNX file */
    ck_assert(contains(f, n, s + 8 + hl, 48));
    free(f);
    free(s);
    /* a ResNet with the torchvision stem: Conv, MaxPool, Add, GlobalAveragePool */
    mlcl_resnet_spec spec;
    ck_assert_ok(mlcl_resnet_spec_init(&spec, MLCL_RESNET_SPEC_VERSION));
    spec.stem = MLCL_RESNET_STEM_IMAGENET;
    spec.in_channels = 3;
    spec.height = spec.width = 32;
    spec.base_width = 4;
    mlcl_encoder *e = NULL;
    mlcl_model *r = NULL;
    ck_assert_ok(mlcl_encoder_create_resnet(&e, &spec, NULL));
    ck_assert_ok(mlcl_model_create(&r, e, 3, 1));
    mlcl_encoder_free(e);
    int ic, ih, iw, oh, ow, d, c, h;
    ck_assert_ok(mlcl_model_image_shape(r, &ic, &ih, &iw, &oh, &ow));
    ck_assert_ok(mlcl_model_dims(r, &d, &c, &h));
    ck_assert_int_eq(ic * ih * iw, d);
    ck_assert_int_eq(oh, 32);
    ck_assert_int_eq(h, 32);
    ck_assert_int_eq(c, 3);
    p = tmp_path("r.onnx");
    ck_assert_ok(mlcl_model_export_onnx(r, p));
    f = slurp(p, &n);
    const char *rn[] = { "Conv", "MaxPool", "Add", "GlobalAveragePool", "Flatten", "backbone.layer4.1.bn2.running_var",
                         "backbone.layer2.0.downsample.0.weight" };
    for (size_t i = 0; i < sizeof rn / sizeof rn[0]; i++)
        ck_assert_msg(contains(f, n, rn[i], strlen(rn[i])), "'%s' not in the ResNet ONNX file", rn[i]);
    free(f);
    /* a created model predicts, saves and loads like any other */
    float x[2 * 3 * 32 * 32], s1[6], s2[6];
    for (int i = 0; i < 2 * 3 * 32 * 32; i++) x[i] = (float)((i * 37) % 101) / 101.0f;
    ck_assert_ok(mlcl_model_predict(r, 2, x, s1));
    const char *mp = tmp_path("r.mlcl");
    ck_assert_ok(mlcl_model_save(r, mp));
    mlcl_model *r2 = NULL;
    ck_assert_ok(mlcl_model_load(&r2, mp));
    ck_assert_ok(mlcl_model_predict(r2, 2, x, s2));
    ck_assert_mem_eq(s1, s2, sizeof s1);
    mlcl_model_free(r2);
    mlcl_model_free(r);
    mlcl_model_free(m);
}
END_TEST

START_TEST(export_refusals)
{
    mlcl_model *m = small_mlp(4);
    /* a directory is not replaced; nothing is left behind */
    ck_assert_status_msg(mlcl_model_export_safetensors(m, TMP), MLCL_EINVAL, "not a regular file");
    ck_assert_status_msg(mlcl_model_export_onnx(m, TMP), MLCL_EINVAL, "not a regular file");
    ck_assert_status_msg(mlcl_model_export_safetensors(m, "/nonexistent-dir/x.safetensors"), MLCL_EIO, "temporary");
    ck_assert_status_msg(mlcl_model_export_onnx(m, "/nonexistent-dir/x.onnx"), MLCL_EIO, "temporary");
    ck_assert_status_msg(mlcl_model_export_safetensors(NULL, "x"), MLCL_EINVAL, "model");
    ck_assert_status_msg(mlcl_model_export_onnx(m, NULL), MLCL_EINVAL, "path");
    ck_assert_status_msg(mlcl_model_export_onnx(m, ""), MLCL_EINVAL, "empty");
    mlcl_model *z = (mlcl_model *)1;
    ck_assert_status_msg(mlcl_model_create(&z, NULL, 2, 0), MLCL_EINVAL, "backbone");
    ck_assert_ptr_null(z);
    mlcl_encoder *e = NULL;
    ck_assert_ok(mlcl_encoder_create(&e, 4, NULL));
    ck_assert_status_msg(mlcl_model_create(&z, e, 2, 0), MLCL_EINVAL, "no layer");
    ck_assert_ok(mlcl_encoder_add_linear(e, 3, 1));
    ck_assert_status_msg(mlcl_model_create(&z, e, 0, 0), MLCL_EINVAL, "n_labels");
    mlcl_encoder_free(e);
    /* overwriting an existing export replaces it whole */
    const char *p = tmp_path("twice.safetensors");
    ck_assert_ok(mlcl_model_export_safetensors(m, p));
    long n1 = file_size(p);
    ck_assert_ok(mlcl_model_export_safetensors(m, p));
    ck_assert_int_eq(file_size(p), n1);
    mlcl_model_free(m);
}
END_TEST

/* An export goes through the checkpoint's writer and obeys its rules: a
 * device node, a FIFO, a link to either, a dangling link are refused with
 * EINVAL like mlcl_model_save (and a trainer checkpoint, test_hostile_train)
 * and left as they are; a link to a regular file replaces that file (the
 * link stays, the permission bits are kept); nothing temporary is left. */
static void refused_like_a_save(const mlcl_model *m, const char *p, const char *needle, mode_t ltype, mode_t type)
{
    ck_assert_status_msg(mlcl_model_save(m, p), MLCL_EINVAL, needle);
    ck_assert_status_msg(mlcl_model_export_safetensors(m, p), MLCL_EINVAL, needle);
    ck_assert_status_msg(mlcl_model_export_onnx(m, p), MLCL_EINVAL, needle);
    ck_assert_status_msg(mlcl_model_export_npz(m, p), MLCL_EINVAL, needle);
    ck_assert_status_msg(mlcl_check_output_path(p), MLCL_EINVAL, needle);
    /* left as it was: the name (lstat) and what it leads to (stat) */
    struct stat st;
    ck_assert_int_eq(lstat(p, &st), 0);
    ck_assert_msg((st.st_mode & S_IFMT) == ltype, "%s: type changed to %o", p, st.st_mode & S_IFMT);
    if (type) {
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_msg((st.st_mode & S_IFMT) == type, "%s: its target's type changed to %o", p, st.st_mode & S_IFMT);
        if (type == S_IFCHR) ck_assert_msg(st.st_rdev == makedev(1, 3), "the device node was replaced");
    }
}

START_TEST(exports_follow_the_save_rules)
{
    mlcl_model *m = small_mlp(5);
    char dir[200], p[260], l[260];
    struct stat st;
    snprintf(dir, sizeof dir, "%s/targets", TMP);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    int expected = 0;
    /* a character device (/dev/null's numbers; needs root or CAP_MKNOD), directly and through a link */
    snprintf(p, sizeof p, "%s/null", dir);
    snprintf(l, sizeof l, "%s/link-to-null", dir);
    if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        ck_assert_int_eq(symlink(p, l), 0);
        expected += 2;
        refused_like_a_save(m, p, "character device", S_IFCHR, S_IFCHR);
        refused_like_a_save(m, l, "character device", S_IFLNK, S_IFCHR);
    } else {
        fprintf(stderr, "exports_follow_the_save_rules: mknod failed (%s): device-node case skipped\n", strerror(errno));
    }
    /* a FIFO (opening it for writing would block), directly and through a link */
    snprintf(p, sizeof p, "%s/fifo", dir);
    snprintf(l, sizeof l, "%s/link-to-fifo", dir);
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    ck_assert_int_eq(symlink(p, l), 0);
    expected += 2;
    refused_like_a_save(m, p, "FIFO", S_IFIFO, S_IFIFO);
    refused_like_a_save(m, l, "FIFO", S_IFLNK, S_IFIFO);
    /* a dangling link */
    snprintf(l, sizeof l, "%s/dangling", dir);
    ck_assert_int_eq(symlink("no-such-file", l), 0);
    expected++;
    refused_like_a_save(m, l, "cannot be resolved", S_IFLNK, 0);
    ck_assert_int_eq(test_count_entries(dir), expected);

    /* a link to a regular file (mode 0640): the file is replaced, the link stays */
    snprintf(p, sizeof p, "%s/real.safetensors", dir);
    int fd = open(p, O_CREAT | O_WRONLY, 0640);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "old", 3), 3);
    close(fd);
    ck_assert_int_eq(chmod(p, 0640), 0);
    snprintf(l, sizeof l, "%s/link.safetensors", dir);
    ck_assert_int_eq(symlink("real.safetensors", l), 0);
    expected += 2;
    ck_assert_ok(mlcl_model_export_safetensors(m, l));
    ck_assert_int_eq(lstat(l, &st), 0);
    ck_assert_msg(S_ISLNK(st.st_mode), "the link was replaced by a file");
    ck_assert_int_eq(lstat(p, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    ck_assert_int_gt(st.st_size, 100);
    ck_assert_int_eq(test_count_entries(dir), expected);
    /* what was written is the model: imported through the link, it scores the same */
    mlcl_model *b = small_mlp(77);
    float s1[6], s2[6];
    scores(m, s1);
    scores(b, s2);
    ck_assert(memcmp(s1, s2, sizeof s1) != 0);
    ck_assert_ok(mlcl_model_import_safetensors(b, l, NULL));
    scores(b, s2);
    ck_assert_mem_eq(s1, s2, sizeof s1);
    mlcl_model_free(b);

    /* a write that fails half-way (file size limit): EIO naming the file, the
     * old file intact, nothing temporary left */
    long n0, n1;
    unsigned char *before = slurp(p, &n0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = { 64, 64 };
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(10);
        if (mlcl_model_export_safetensors(m, l) != MLCL_EIO) _exit(11);
        if (!strstr(mlcl_last_error(), l) || !strstr(mlcl_last_error(), "write")) _exit(12);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    unsigned char *after = slurp(p, &n1);
    ck_assert_int_eq(n1, n0);
    ck_assert_mem_eq(after, before, (size_t)n0);
    free(before);
    free(after);
    ck_assert_int_eq(test_count_entries(dir), expected);
    mlcl_model_free(m);
}
END_TEST

/* A workspace made before an import computes with the imported weights
 * afterwards (it was a private copy of the old networks). */
START_TEST(workspace_follows_an_import)
{
    mlcl_model *a = small_mlp(4), *b = small_mlp(9);
    const char *p = tmp_path("ws.safetensors");
    ck_assert_ok(mlcl_model_export_safetensors(b, p));
    mlcl_model_workspace *ws = NULL;
    ck_assert_ok(mlcl_model_workspace_create(&ws, a));
    float s0[6], s1[6], sb[6], e0[9], e1[9];
    ck_assert_ok(mlcl_model_infer(a, ws, MLCL_MODEL_SCORES, 3, X, s0));
    ck_assert_ok(mlcl_model_infer(a, ws, MLCL_MODEL_EMBEDDING, 3, X, e0));
    scores(b, sb);
    ck_assert(memcmp(s0, sb, sizeof s0) != 0);
    ck_assert_ok(mlcl_model_import_safetensors(a, p, NULL));
    ck_assert_ok(mlcl_model_infer(a, ws, MLCL_MODEL_SCORES, 3, X, s1));
    ck_assert_mem_eq(s1, sb, sizeof s1);
    ck_assert_ok(mlcl_model_infer(a, ws, MLCL_MODEL_EMBEDDING, 3, X, e1));
    ck_assert_ok(mlcl_model_embed(b, 3, X, e0));
    ck_assert_mem_eq(e1, e0, sizeof e1);
    mlcl_model_workspace_free(ws);
    mlcl_model_free(a);
    mlcl_model_free(b);
}
END_TEST

int main(void)
{
    snprintf(TMP, sizeof TMP, "/tmp/mlcl_test_interop_%d", (int)getpid());
    if (mkdir(TMP, 0700) != 0) return 1;
    Suite *s = suite_create("interop");
    TCase *tc = tcase_create("interop");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, safetensors_round_trip);
    tcase_add_test(tc, import_options_and_restore);
    tcase_add_test(tc, hand_written_file_loads);
    tcase_add_test(tc, hostile_headers);
    tcase_add_test(tc, invalid_values_restore_the_model);
    tcase_add_test(tc, onnx_export_files);
    tcase_add_test(tc, export_refusals);
    tcase_add_test(tc, exports_follow_the_save_rules);
    tcase_add_test(tc, workspace_follows_an_import);
    suite_add_tcase(s, tc);
    int rc = run_suite(s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", TMP);
    if (system(cmd) != 0) return 1;
    return rc;
}
