/* libFuzzer target: trainer checkpoints (mlcl_trainer_load).
 *
 * The first input byte selects the mode:
 *   even: the rest is written as is (header, checksums, zlib stream);
 *   odd:  the rest is a decompressed payload (the section table) that the
 *         harness wraps in a valid container (zlib + both CRCs), so that the
 *         mutations reach the section parser and the state validation.
 * Seeds: MLCL_FUZZ_SEED_OUT=dir makes the initialiser write one valid
 * checkpoint of each mode into dir (the trainer shape must match). */
#include "fuzz_common.h"
#include <string.h>
#include <zlib.h>

static mlcl_dataset *DS;
static mlcl_trainer *TR;

static void make_trainer(void)
{
    enum { N = 16, D = 4, C = 3 };
    float x[N * D];
    uint8_t y[N * C];
    for (int i = 0; i < N * D; i++) x[i] = (float)((i * 7) % 5) / 5.0f;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) y[i * C + j] = (uint8_t)(j == i % C || (i + j) % 4 == 0);
    if (mlcl_dataset_create_from_arrays(&DS, N, D, C, x, y)) abort();
    mlcl_train_options o;
    mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION);
    o.batch = 8; o.seed = 1;
    static const int w4[] = { 4 };
    static mlcl_moco_options mo = MLCL_MOCO_OPTIONS_INIT;
    mo.n_hidden = 1; mo.hidden = w4; mo.proj_dim = 4; mo.queue_size = 4;
    mo.max_batch = 8;
    o.moco = &mo;
    o.pretrain_epochs = 2; o.finetune_epochs = 1; o.pretrain_T_0 = 1; o.finetune_T_0 = 1;
    if (mlcl_trainer_create(&TR, &o, DS)) abort();
}

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }

/* Wraps a payload into a valid container; returns a malloc'ed buffer. */
static unsigned char *wrap(const uint8_t *payload, size_t plen, size_t *out_len)
{
    uLong zcap = compressBound((uLong)plen);
    unsigned char *buf = malloc(40 + zcap);
    if (!buf) abort();
    uLongf zlen = zcap;
    if (compress2(buf + 40, &zlen, payload, (uLong)plen, 1) != Z_OK) abort();
    memcpy(buf, "MLCLCKPT", 8);
    put32(buf + 8, 1);
    uint32_t bom = 0x01020304u;
    memcpy(buf + 12, &bom, 4);
    put64(buf + 16, plen);
    put64(buf + 24, zlen);
    put32(buf + 32, (uint32_t)crc32(0L, payload, (uInt)plen));
    put32(buf + 36, (uint32_t)crc32(0L, buf, 36));
    *out_len = 40 + zlen;
    return buf;
}

static unsigned char *read_file(const char *p, size_t *len)
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

static void write_seeds(const char *dir)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/tmp.ckpt", dir);
    int done;
    if (mlcl_trainer_run_epochs(TR, 1, &done)) abort();
    if (mlcl_trainer_save(TR, p)) abort();
    size_t n;
    unsigned char *b = read_file(p, &n);
    remove(p);
    /* mode 0: the file as is */
    snprintf(p, sizeof p, "%s/seed-raw", dir);
    FILE *f = fopen(p, "wb");
    fputc(0, f); fwrite(b, 1, n, f); fclose(f);
    /* mode 1: the decompressed payload */
    uint64_t plen = 0;
    for (int i = 7; i >= 0; i--) plen = (plen << 8) | b[16 + i];
    unsigned char *pay = malloc(plen);
    uLongf ol = (uLongf)plen;
    if (uncompress(pay, &ol, b + 40, (uLong)(n - 40)) != Z_OK) abort();
    snprintf(p, sizeof p, "%s/seed-payload", dir);
    f = fopen(p, "wb");
    fputc(1, f); fwrite(pay, 1, plen, f); fclose(f);
    free(pay); free(b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    fuzz_install_allocator();
    make_trainer();
    const char *seed_dir = getenv("MLCL_FUZZ_SEED_OUT");
    if (seed_dir) write_seeds(seed_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *p;
    if (data[0] & 1) {
        size_t n;
        unsigned char *b = wrap(data + 1, size - 1, &n);
        p = fuzz_write(b, n, ".ckpt");
        free(b);
    } else {
        p = fuzz_write(data + 1, size - 1, ".ckpt");
    }
    mlcl_clear_error();
    int rc = mlcl_trainer_load(TR, p);
    fuzz_check_rc(rc);
    if (rc == MLCL_OK) {
        /* a loaded state must be usable: predictions are finite */
        float s[2 * 3];
        if (mlcl_trainer_predict(TR, 2, mlcl_dataset_features(DS), s)) abort();
        for (int i = 0; i < 6; i++) if (!(s[i] >= 0.0f && s[i] <= 1.0f)) abort();
    }
    return 0;
}
