/* Regression tests for inputs found by the fuzzers (tests/fuzz): every file
 * in tests/data/fuzz/ is loaded with the reader its extension names and must
 * give a clean status (an error with a message, or success), never a crash or
 * undefined behaviour (check-asan runs this under ASan + UBSan); a reader
 * input is never refused with MLCL_ENOMEM (budgets before allocation). Plus the
 * bug behind ckpt_misaligned.ckpt, reproduced from a valid checkpoint. */
#include "testutil.h"
#include <dirent.h>
#include <unistd.h>
#include <zlib.h>

static mlcl_dataset *ck_ds;

/* As the fuzz harness (tests/fuzz/fuzz_common.h): single allocations above
 * 256 MiB fail, so inputs that ask for gigabytes give MLCL_ENOMEM quickly. */
static void *cap_alloc(size_t n, void *ctx)
{
    (void)ctx;
    void *p = NULL;
    if (n > ((size_t)256 << 20) || posix_memalign(&p, 64, (n + 63) & ~(size_t)63) != 0) return NULL;
    return p;
}
static void cap_free(void *p, void *ctx) { (void)ctx; free(p); }

/* The shape of the fuzz_ckpt harness's trainer (tests/fuzz/fuzz_ckpt.c). */
static mlcl_trainer *fuzz_trainer(void)
{
    enum { N = 16, D = 4, C = 3 };
    float x[N * D];
    uint8_t y[N * C];
    for (int i = 0; i < N * D; i++) x[i] = (float)((i * 7) % 5) / 5.0f;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) y[i * C + j] = (uint8_t)(j == i % C || (i + j) % 4 == 0);
    if (!ck_ds) ck_assert_ok(mlcl_dataset_create_from_arrays(&ck_ds, N, D, C, x, y));
    mlcl_train_options o;
    ck_assert_ok(mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION));
    o.batch = 8; o.seed = 1;
    test_moco_of(&o)->o.n_hidden = 1; test_moco_of(&o)->hidden[0] = 4; test_moco_of(&o)->o.proj_dim = 4; test_moco_of(&o)->o.queue_size = 4;
    test_moco_of(&o)->o.max_batch = 8;
    o.pretrain_epochs = 2; o.finetune_epochs = 1; o.pretrain_T_0 = 1; o.finetune_T_0 = 1;
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ck_ds));
    return t;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

START_TEST(every_fuzz_input_loads_cleanly)
{
    const char *dir = "tests/data/fuzz";
    mlcl_allocator cap = { MLCL_ALLOCATOR_VERSION, cap_alloc, cap_free, NULL };
    ck_assert_ok(mlcl_set_allocator(&cap));
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        int rc;
        mlcl_clear_error();
        if (ends_with(p, ".arff")) {
            mlcl_dataset *ds = NULL;
            rc = mlcl_dataset_load_arff(&ds, p, 0, 0);
            mlcl_dataset_free(ds);
        } else if (ends_with(p, ".svm")) {
            mlcl_dataset *ds = NULL;
            rc = mlcl_dataset_load_libsvm(&ds, p, 0, 0, MLCL_LIBSVM_INDEX_AUTO);
            mlcl_dataset_free(ds);
        } else if (ends_with(p, ".idx")) {
            uint8_t *x = NULL; int nd, dims[MLCL_IDX_MAX_DIMS];
            rc = mlcl_idx_load(&x, &nd, dims, p);
            mlcl_idx_free(x);
        } else if (ends_with(p, ".ckpt")) {
            mlcl_trainer *t = fuzz_trainer();
            rc = mlcl_trainer_load(t, p);
            if (rc == MLCL_OK) {
                float s[2 * 3];
                ck_assert_ok(mlcl_trainer_predict(t, 2, mlcl_dataset_features(ck_ds), s));
            }
            mlcl_trainer_free(t);
        } else {
            continue;
        }
        n++;
        ck_assert_msg(rc <= 0, "%s: status %d", p, rc);
        /* format errors name the file; out-of-memory names the function */
        if (rc < 0 && rc != MLCL_ENOMEM)
            ck_assert_msg(strstr(mlcl_last_error(), e->d_name) != NULL,
                          "%s: message '%s' does not name the file", p, mlcl_last_error());
        if (rc == MLCL_ENOMEM) ck_assert_ptr_nonnull(strstr(mlcl_last_error(), "mlcl_"));
        /* the readers refuse a small hostile file themselves, within their
         * budget (docs/formats.md, Limits), before any allocation could fail */
        if (!ends_with(p, ".ckpt"))
            ck_assert_msg(rc != MLCL_ENOMEM, "%s: out of memory instead of a refusal: %s", p, mlcl_last_error());
    }
    closedir(d);
    mlcl_dataset_free(ck_ds);
    ck_ds = NULL;
    ck_assert_ok(mlcl_set_allocator(NULL));
    ck_assert_int_gt(n, 0);
}
END_TEST

static unsigned char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void le32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void le64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }

/* Bug found by fuzz_ckpt: section data sat at any offset of the payload and
 * was read in place as float / uint64_t arrays (misaligned loads, undefined
 * behaviour). A valid checkpoint with a 1-byte extra section in front (which
 * shifts every later section by 17 bytes) must load and restore exactly. */
START_TEST(checkpoint_with_misaligned_sections)
{
    mlcl_trainer *a = fuzz_trainer(), *b = fuzz_trainer();
    int done;
    ck_assert_ok(mlcl_trainer_run_epochs(a, 2, &done));
    char p[256], q[256];
    snprintf(p, sizeof p, "/tmp/mlcl_fuzzreg_%d.ckpt", (int)getpid());
    snprintf(q, sizeof q, "/tmp/mlcl_fuzzreg_%d_shifted.ckpt", (int)getpid());
    ck_assert_ok(mlcl_trainer_save(a, p));
    size_t n;
    unsigned char *f = slurp(p, &n);
    uint64_t plen = 0;
    for (int i = 7; i >= 0; i--) plen = (plen << 8) | f[16 + i];
    unsigned char *pay = malloc(17 + plen);
    memcpy(pay, "XTRA", 4); le32(pay + 4, 0); le64(pay + 8, 1); pay[16] = 0x5a;
    uLongf ol = (uLongf)plen;
    ck_assert_int_eq(uncompress(pay + 17, &ol, f + 40, (uLong)(n - 40)), Z_OK);
    ck_assert_uint_eq(ol, plen);
    uLongf zl = compressBound((uLong)(17 + plen));
    unsigned char *out = malloc(40 + zl);
    ck_assert_int_eq(compress(out + 40, &zl, pay, (uLong)(17 + plen)), Z_OK);
    memcpy(out, f, 16); /* magic, format, byte-order mark */
    le64(out + 16, 17 + plen);
    le64(out + 24, zl);
    le32(out + 32, (uint32_t)crc32(0L, pay, (uInt)(17 + plen)));
    le32(out + 36, (uint32_t)crc32(0L, out, 36));
    FILE *w = fopen(q, "wb");
    ck_assert_ptr_nonnull(w);
    ck_assert_uint_eq(fwrite(out, 1, 40 + zl, w), 40 + zl);
    fclose(w);
    ck_assert_ok(mlcl_trainer_load(b, q));
    float sa[8 * 3], sb[8 * 3];
    ck_assert_ok(mlcl_trainer_distributions(a, 8, mlcl_dataset_features(ck_ds), sa));
    ck_assert_ok(mlcl_trainer_distributions(b, 8, mlcl_dataset_features(ck_ds), sb));
    ck_assert_mem_eq(sa, sb, sizeof sa);
    /* and both continue identically */
    ck_assert_ok(mlcl_trainer_run(a));
    ck_assert_ok(mlcl_trainer_run(b));
    ck_assert_ok(mlcl_trainer_predict(a, 8, mlcl_dataset_features(ck_ds), sa));
    ck_assert_ok(mlcl_trainer_predict(b, 8, mlcl_dataset_features(ck_ds), sb));
    ck_assert_mem_eq(sa, sb, sizeof sa);
    remove(p); remove(q);
    free(f); free(pay); free(out);
    mlcl_trainer_free(a); mlcl_trainer_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fuzzregress");
    TCase *tc = tcase_create("inputs");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_fuzz_input_loads_cleanly);
    tcase_add_test(tc, checkpoint_with_misaligned_sections);
    suite_add_tcase(s, tc);
    int rc = run_suite(s);
    mlcl_dataset_free(ck_ds);
    return rc;
}
