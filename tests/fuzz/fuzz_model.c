/* libFuzzer target: model files (mlcl_model_load, then inference).
 *
 * The first input byte selects the mode:
 *   even: the rest is written as is (header, checksums, zlib stream);
 *   odd:  the rest is a decompressed payload (the section table) that the
 *         harness wraps in a valid container (zlib + the three CRCs), so that
 *         mutations reach the section parser and the model validation.
 * A model that loads must predict: small ones are run on two rows, and every
 * score must be a number in [0, 1] or NaN (a hostile model may hold weights
 * that overflow; that is its right, not a crash).
 * Seeds: MLCL_FUZZ_SEED_OUT=dir writes one valid small model in each mode
 * (an MLP with BatchNorm, and a tiny ResNet). */
#include "fuzz_common.h"
#include <math.h>
#include <string.h>
#include <zlib.h>

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }

static unsigned char *wrap(const uint8_t *payload, size_t plen, size_t *out_len)
{
    uLong zcap = compressBound((uLong)plen);
    unsigned char *buf = malloc(48 + zcap);
    if (!buf) abort();
    uLongf zlen = zcap;
    if (compress2(buf + 48, &zlen, payload, (uLong)plen, 1) != Z_OK) abort();
    memcpy(buf, "MLCLMODL", 8);
    put32(buf + 8, 1);
    uint32_t bom = 0x01020304u;
    memcpy(buf + 12, &bom, 4);
    put64(buf + 16, plen);
    put64(buf + 24, zlen);
    put32(buf + 32, (uint32_t)crc32(0L, payload, (uInt)plen));
    put32(buf + 36, (uint32_t)crc32(0L, buf + 48, (uInt)zlen));
    put32(buf + 40, 0);
    put32(buf + 44, (uint32_t)crc32(0L, buf, 44));
    *out_len = 48 + zlen;
    return buf;
}

static unsigned char *read_all(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    if (!f) abort();
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) abort();
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_seed(const char *dir, const char *name, mlcl_model *m)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/tmp.mlcl", dir);
    if (mlcl_model_save(m, p)) abort();
    size_t n;
    unsigned char *b = read_all(p, &n);
    remove(p);
    snprintf(p, sizeof p, "%s/seed-%s-raw", dir, name);
    FILE *f = fopen(p, "wb");
    fputc(0, f); fwrite(b, 1, n, f); fclose(f);
    uint64_t plen = 0;
    for (int i = 7; i >= 0; i--) plen = (plen << 8) | b[16 + i];
    unsigned char *pay = malloc(plen);
    uLongf ol = (uLongf)plen;
    if (uncompress(pay, &ol, b + 48, (uLong)(n - 48)) != Z_OK) abort();
    snprintf(p, sizeof p, "%s/seed-%s-payload", dir, name);
    f = fopen(p, "wb");
    fputc(1, f); fwrite(pay, 1, plen, f); fclose(f);
    free(pay);
    free(b);
}

static void write_seeds(const char *dir)
{
    enum { N = 16, D = 4, C = 3 };
    float x[N * D];
    uint8_t y[N * C];
    for (int i = 0; i < N * D; i++) x[i] = (float)((i * 7) % 5) / 5.0f;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) y[i * C + j] = (uint8_t)(j == i % C || (i + j) % 4 == 0);
    mlcl_dataset *ds;
    if (mlcl_dataset_create_from_arrays(&ds, N, D, C, x, y)) abort();
    mlcl_train_options o;
    mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION);
    static mlcl_moco_options mo = MLCL_MOCO_OPTIONS_INIT;
    mo.proj_dim = 4; mo.queue_size = 4; mo.max_batch = 8;
    o.batch = 8; o.moco = &mo;
    o.pretrain_epochs = 0; o.finetune_epochs = 1; o.finetune_T_0 = 1;
    /* an MLP with BatchNorm (a caller's backbone) */
    mlcl_encoder *bb;
    if (mlcl_encoder_create(&bb, D, NULL) || mlcl_encoder_add_linear(bb, 5, 1) || mlcl_encoder_add_batchnorm(bb, 1e-5f, 0.1f) ||
        mlcl_encoder_add_relu(bb) || mlcl_encoder_add_dropout(bb, 0.1f) || mlcl_encoder_add_linear(bb, 4, 0))
        abort();
    mlcl_trainer_ex_options ex = MLCL_TRAINER_EX_OPTIONS_INIT;
    ex.backbone = bb;
    mlcl_trainer *t;
    mlcl_model *m;
    if (mlcl_trainer_create_ex(&t, &o, ds, &ex) || mlcl_trainer_run(t) || mlcl_trainer_export_model(t, &m)) abort();
    write_seed(dir, "mlp", m);
    mlcl_model_free(m);
    mlcl_trainer_free(t);
    mlcl_encoder_free(bb);
    mlcl_dataset_free(ds);
    /* a tiny ResNet over 1 x 4 x 4 "images" */
    float xi[N * 16];
    for (int i = 0; i < N * 16; i++) xi[i] = (float)((i * 5) % 7) / 7.0f;
    if (mlcl_dataset_create_from_arrays(&ds, N, 16, C, xi, y)) abort();
    mlcl_resnet_spec rs;
    mlcl_resnet_spec_init(&rs, MLCL_RESNET_SPEC_VERSION);
    rs.in_channels = 1; rs.height = 4; rs.width = 4; rs.base_width = 1;
    if (mlcl_encoder_create_resnet(&bb, &rs, NULL)) abort();
    ex.backbone = bb;
    o.standardize = 0;
    if (mlcl_trainer_create_ex(&t, &o, ds, &ex) || mlcl_trainer_run(t) || mlcl_trainer_export_model(t, &m)) abort();
    write_seed(dir, "resnet", m);
    mlcl_model_free(m);
    mlcl_trainer_free(t);
    mlcl_encoder_free(bb);
    mlcl_dataset_free(ds);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *seed_dir = getenv("MLCL_FUZZ_SEED_OUT");
    if (seed_dir) write_seeds(seed_dir);
    fuzz_install_allocator();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *p;
    if (data[0] & 1) {
        size_t n;
        unsigned char *b = wrap(data + 1, size - 1, &n);
        p = fuzz_write(b, n, ".mlcl");
        free(b);
    } else {
        p = fuzz_write(data + 1, size - 1, ".mlcl");
    }
    mlcl_clear_error();
    mlcl_model *m = NULL;
    int rc = mlcl_model_load(&m, p);
    fuzz_check_rc(rc);
    if (rc != MLCL_OK) {
        if (m) abort();
        return 0;
    }
    int d, c, h;
    if (mlcl_model_dims(m, &d, &c, &h) || d <= 0 || c <= 0 || h <= 0) abort();
    const char *s;
    if (mlcl_model_architecture(m, &s) || !s) abort();
    for (int j = 0; j < c && j < 64; j++)
        if (mlcl_model_label_name(m, j, &s) || !s || !s[0]) abort();
    if (d <= 4096 && c <= 4096 && h <= 4096) {
        float *x = calloc((size_t)2 * d, sizeof(float)), *out = malloc(sizeof(float) * 2 * (size_t)(c > h ? c : h));
        uint8_t *lab = malloc((size_t)2 * c);
        for (int i = 0; i < 2 * d; i++) x[i] = (float)(i % 3) * 0.25f;
        rc = mlcl_model_predict(m, 2, x, out);
        fuzz_check_rc(rc);
        if (rc == MLCL_OK)
            for (int i = 0; i < 2 * c; i++) if (!(isnan(out[i]) || (out[i] >= 0.0f && out[i] <= 1.0f))) abort();
        fuzz_check_rc(mlcl_model_predict_labels(m, 2, x, lab));
        fuzz_check_rc(mlcl_model_embed(m, 2, x, out));
        fuzz_check_rc(mlcl_model_distributions(m, 2, x, out));
        free(x); free(out); free(lab);
    }
    /* what loaded saves again */
    fuzz_check_rc(mlcl_model_save(m, p));
    mlcl_model_free(m);
    return 0;
}
