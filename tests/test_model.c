/* Trained models (model.h): export, save/load round trips that predict bit
 * for bit as the trainer did (MLP on Yeast, a small ResNet on 8x8 images),
 * corrupted and hostile files, eight threads on one const model,
 * thresholds, label names, provenance, accessors. */
#include "testutil.h"
#include "model/model_internal.h"
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char TMP[256];

static const char *tmp_path(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", TMP, name);
    return p[k];
}

static long file_size(const char *p)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return (long)st.st_size;
}

static unsigned char *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    ck_assert_int_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void spit(const char *p, const void *b, size_t n)
{
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) ck_assert_int_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static mlcl_dataset *load_yeast(int train)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/yeast-%s.arff.gz", test_data_dir(), train ? "train" : "test");
    mlcl_dataset *ds = NULL;
    int rc = mlcl_dataset_load_arff(&ds, path, 0, 0);
    ck_assert_msg(rc == 0, "cannot load %s: %s", path, mlcl_last_error());
    return ds;
}

/* a tiny vector problem: n x 4 features, 3 labels */
static mlcl_dataset *tiny_dataset(int n)
{
    float *x = malloc(sizeof(float) * n * 4);
    uint8_t *y = malloc((size_t)n * 3);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 3; j++) y[i * 3 + j] = (uint8_t)(j == i % 3 || (i + j) % 4 == 0);
        for (int j = 0; j < 4; j++) x[i * 4 + j] = (float)((i * 7 + j * 3) % 11) / 3.0f + (j < 3 ? 2.0f * y[i * 3 + j] : 0.0f);
    }
    mlcl_dataset *ds = NULL;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, n, 4, 3, x, y));
    free(x);
    free(y);
    return ds;
}

static void tiny_opts(mlcl_train_options *o)
{
    ck_assert_ok(mlcl_train_options_init(o, MLCL_TRAIN_OPTIONS_VERSION));
    o->batch = 8; o->seed = 3;
    test_moco_of(o)->o.n_hidden = 1; test_moco_of(o)->hidden[0] = 6; test_moco_of(o)->o.proj_dim = 4; test_moco_of(o)->o.queue_size = 8;
    test_moco_of(o)->o.max_batch = 8;
    o->pretrain_epochs = 2; o->finetune_epochs = 2; o->pretrain_T_0 = 1; o->finetune_T_0 = 1;
    o->finetune_lr = 1e-2f;
}

static mlcl_model *tiny_model(mlcl_dataset **ds_out)
{
    mlcl_dataset *ds = tiny_dataset(20);
    mlcl_train_options o;
    tiny_opts(&o);
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    ck_assert_ok(mlcl_trainer_run(t));
    mlcl_model *m;
    ck_assert_ok(mlcl_trainer_export_model(t, &m));
    mlcl_trainer_free(t);
    if (ds_out) *ds_out = ds; else mlcl_dataset_free(ds);
    return m;
}

static void assert_same_bits(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof(float)) == 0, "%s[%zu]: %.9g vs %.9g", what, i, (double)a[i], (double)b[i]);
}

/* ------------------------------------------------------------- MLP on Yeast */

START_TEST(mlp_yeast_round_trip)
{
    mlcl_dataset *tr = load_yeast(1), *te = load_yeast(0);
    mlcl_train_options o;
    ck_assert_ok(mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION));
    ck_assert_ok(mlcl_train_options_preset(&o, "yeast"));
    o.pretrain_epochs = 1; o.finetune_epochs = 2; o.seed = 5;
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, tr));
    ck_assert_ok(mlcl_trainer_run(t));
    int n, d, c;
    ck_assert_ok(mlcl_dataset_dims(te, &n, &d, &c));
    const float *x = mlcl_dataset_features(te);
    float *s_tr = malloc(sizeof(float) * n * c), *s_m = malloc(sizeof(float) * n * c), *s_l = malloc(sizeof(float) * n * c);
    float *d_tr = malloc(sizeof(float) * n * c), *d_l = malloc(sizeof(float) * n * c);
    ck_assert_ok(mlcl_trainer_predict(t, n, x, s_tr));
    ck_assert_ok(mlcl_trainer_distributions(t, n, x, d_tr));
    mlcl_metrics paper = MLCL_METRICS_INIT, t05 = MLCL_METRICS_INIT;
    ck_assert_ok(mlcl_trainer_evaluate(t, te, &paper, &t05));

    mlcl_model_export_options eo;
    ck_assert_ok(mlcl_model_export_options_init(&eo, MLCL_MODEL_EXPORT_OPTIONS_VERSION));
    eo.train = tr; eo.train_path = "yeast-train.arff.gz"; eo.test_path = "yeast-test.arff.gz";
    eo.test_paper = &paper; eo.test_t05 = &t05;
    mlcl_model *m;
    ck_assert_ok(mlcl_trainer_export_model_ex(t, &m, &eo));
    ck_assert_ok(mlcl_model_predict(m, n, x, s_m));
    assert_same_bits(s_tr, s_m, (size_t)n * c, "exported scores");

    const char *mp = tmp_path("yeast.mlcl"), *cp = tmp_path("yeast.ckpt");
    ck_assert_ok(mlcl_model_save(m, mp));
    ck_assert_ok(mlcl_trainer_save(t, cp));
    long ms = file_size(mp), cs = file_size(cp);
    ck_assert_msg(ms * 3 <= cs, "model %ld bytes, checkpoint %ld: more than a third", ms, cs);
    mlcl_model_free(m);
    mlcl_trainer_free(t);   /* nothing of the trainer is needed any more */

    mlcl_model *l;
    ck_assert_ok(mlcl_model_load(&l, mp));
    ck_assert_ok(mlcl_model_predict(l, n, x, s_l));
    assert_same_bits(s_tr, s_l, (size_t)n * c, "loaded scores");
    ck_assert_ok(mlcl_model_distributions(l, n, x, d_l));
    assert_same_bits(d_tr, d_l, (size_t)n * c, "loaded distributions");
    /* the same mAP as the trainer's evaluation */
    mlcl_metrics again = MLCL_METRICS_INIT;
    ck_assert_ok(mlcl_metrics_compute(&again, n, c, s_l, mlcl_dataset_labels(te), 0.5f));
    ck_assert(again.mAP == t05.mAP && again.miF1 == t05.miF1);

    /* shapes, names, provenance */
    int md, mc, mh, ic;
    ck_assert_ok(mlcl_model_dims(l, &md, &mc, &mh));
    ck_assert_int_eq(md, 103); ck_assert_int_eq(mc, 14); ck_assert_int_eq(mh, 256);
    ck_assert_ok(mlcl_model_image_shape(l, &ic, NULL, NULL, NULL, NULL));
    ck_assert_int_eq(ic, 0);
    const char *name, *v, *arch;
    ck_assert_ok(mlcl_model_label_name(l, 0, &name));
    ck_assert_str_eq(name, ds_label_name(tr, 0));
    ck_assert_ok(mlcl_model_label_name(l, 13, &name));
    ck_assert_str_eq(name, ds_label_name(tr, 13));
    ck_assert_ok(mlcl_model_architecture(l, &arch));
    ck_assert_str_eq(arch, "backbone: Linear(103,256) ReLU Dropout(0.2) Linear(256,512) ReLU Dropout(0.2) "
                           "Linear(512,256) ReLU Dropout(0.2); head: Linear(256,14)");
    ck_assert_ok(mlcl_model_provenance_get(l, "method", &v)); ck_assert_str_eq(v, "cld");
    ck_assert_ok(mlcl_model_provenance_get(l, "seed", &v)); ck_assert_str_eq(v, "5");
    ck_assert_ok(mlcl_model_provenance_get(l, "train_file", &v)); ck_assert_str_eq(v, "yeast-train.arff.gz");
    ck_assert_ok(mlcl_model_provenance_get(l, "train_hash", &v));
    ck_assert_ptr_nonnull(v); ck_assert_int_eq(strncmp(v, "fnv1a64:", 8), 0); ck_assert_int_eq(strlen(v), 8 + 16);
    ck_assert_ok(mlcl_model_provenance_get(l, "test_t05_mAP", &v));
    ck_assert_double_eq(strtod(v, NULL), t05.mAP);
    ck_assert_ok(mlcl_model_provenance_get(l, "no_such_key", &v)); ck_assert_ptr_null(v);
    int standardized;
    float *mean = malloc(sizeof(float) * d), *sd = malloc(sizeof(float) * d), *st_mean = malloc(sizeof(float) * d),
          *st_sd = malloc(sizeof(float) * d);
    ck_assert_ok(mlcl_model_standardization(l, &standardized, mean, sd, d));
    ck_assert_int_eq(standardized, 1);
    ck_assert_ok(mlcl_dataset_standardize_stats(st_mean, st_sd, tr));
    for (int j = 0; j < d; j++) ck_assert(fabsf(mean[j] - st_mean[j]) <= 1e-5f * (1 + fabsf(st_mean[j])));

    /* embeddings: the backbone's 256 outputs, finite, and the same with a workspace */
    float *e1 = malloc(sizeof(float) * 4 * 256), *e2 = malloc(sizeof(float) * 4 * 256);
    ck_assert_ok(mlcl_model_embed(l, 4, x, e1));
    mlcl_model_workspace *ws;
    ck_assert_ok(mlcl_model_workspace_create(&ws, l));
    ck_assert_ok(mlcl_model_infer(l, ws, MLCL_MODEL_EMBEDDING, 4, x, e2));
    assert_same_bits(e1, e2, 4 * 256, "embedding");
    int nonzero = 0;
    for (int i = 0; i < 4 * 256; i++) { ck_assert(isfinite(e1[i]) && e1[i] >= 0); nonzero += e1[i] > 0; }
    ck_assert_int_gt(nonzero, 50);
    ck_assert_ok(mlcl_model_infer(l, ws, MLCL_MODEL_SCORES, n, x, s_m));
    assert_same_bits(s_tr, s_m, (size_t)n * c, "workspace scores");
    mlcl_model_workspace_free(ws);

    free(e1); free(e2); free(mean); free(sd); free(st_mean); free(st_sd);
    free(s_tr); free(s_m); free(s_l); free(d_tr); free(d_l);
    mlcl_model_free(l);
    mlcl_dataset_free(tr); mlcl_dataset_free(te);
}
END_TEST

/* ------------------------------------------------------------- ResNet on 8x8 images */

static void npy_write(const char *path, const char *descr, int ndim, const int *shape, const void *data, size_t bytes)
{
    char hdr[256], sh[96] = "";
    for (int i = 0; i < ndim; i++) {
        char b[24];
        snprintf(b, sizeof b, "%d,%s", shape[i], i + 1 < ndim ? " " : "");
        strcat(sh, b);
    }
    if (ndim > 1) sh[strlen(sh) - 1] = '\0';
    int k = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, sh);
    int total = 10 + k + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    unsigned short hl = (unsigned short)(k + pad + 1);
    unsigned char hb[2] = { (unsigned char)hl, (unsigned char)(hl >> 8) };
    fwrite(hb, 1, 2, f);
    fwrite(hdr, 1, (size_t)k, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(data, 1, bytes, f);
    fclose(f);
}

static mlcl_dataset *images8(int n)
{
    enum { C = 3, H = 8, W = 8, L = 3 };
    float *x = malloc(sizeof(float) * n * C * H * W);
    uint8_t *y = malloc((size_t)n * L);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < L; j++) y[i * L + j] = (uint8_t)(j == i % L || (i + 2 * j) % 5 == 0);
        for (int ch = 0; ch < C; ch++)
            for (int p = 0; p < H * W; p++)
                x[((size_t)i * C + ch) * H * W + p] = 0.1f + 0.6f * y[i * L + ch] * ((p / W + p % W + i) % 3 == 0) +
                                                     0.05f * (float)((i * 13 + p * 7 + ch) % 5);
    }
    int sx[4] = { n, C, H, W }, sy[2] = { n, L };
    const char *px = tmp_path("img_x.npy"), *py = tmp_path("img_y.npy");
    npy_write(px, "<f4", 4, sx, x, sizeof(float) * n * C * H * W);
    npy_write(py, "|u1", 2, sy, y, (size_t)n * L);
    free(x);
    free(y);
    mlcl_dataset *ds = NULL;
    ck_assert_ok(mlcl_dataset_load_npy(&ds, px, NULL, py, NULL, 0));
    return ds;
}

START_TEST(resnet_round_trip)
{
    mlcl_dataset *ds = images8(24);
    int ic, ih, iw;
    ck_assert_ok(mlcl_dataset_image_shape(ds, &ic, &ih, &iw));
    ck_assert_int_eq(ic, 3); ck_assert_int_eq(ih, 8);
    mlcl_resnet_spec rs;
    ck_assert_ok(mlcl_resnet_spec_init(&rs, MLCL_RESNET_SPEC_VERSION));
    rs.in_channels = 3; rs.height = 6; rs.width = 6; rs.base_width = 4;
    mlcl_encoder *bb;
    ck_assert_ok(mlcl_encoder_create_resnet(&bb, &rs, NULL));
    mlcl_simclr_options v;
    ck_assert_ok(mlcl_simclr_options_init(&v, MLCL_SIMCLR_OPTIONS_VERSION));
    v.out_h = 6; v.out_w = 6;   /* the network sees 6x6: predictions resize the 8x8 images */
    mlcl_trainer_ex_options ex = MLCL_TRAINER_EX_OPTIONS_INIT;
    ex.backbone = bb;
    ex.pretrain_views = &v;
    mlcl_train_options o;
    ck_assert_ok(mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION));
    o.batch = 8; o.seed = 2; test_moco_of(&o)->o.proj_dim = 8; test_moco_of(&o)->o.queue_size = 8; test_moco_of(&o)->o.max_batch = 8;
    o.pretrain_epochs = 1; o.finetune_epochs = 2; o.pretrain_T_0 = 1; o.finetune_T_0 = 1;
    o.pretrain_lr = 1e-3f; o.finetune_lr = 1e-2f;
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create_ex(&t, &o, ds, &ex));
    mlcl_encoder_free(bb);
    ck_assert_ok(mlcl_trainer_run(t));
    int n, d, c;
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    const float *x = mlcl_dataset_features(ds);
    float *s_tr = malloc(sizeof(float) * n * c), *s_l = malloc(sizeof(float) * n * c);
    float *d_tr = malloc(sizeof(float) * n * c), *d_l = malloc(sizeof(float) * n * c);
    ck_assert_ok(mlcl_trainer_predict(t, n, x, s_tr));
    ck_assert_ok(mlcl_trainer_distributions(t, n, x, d_tr));
    mlcl_model *m;
    ck_assert_ok(mlcl_trainer_export_model(t, &m));
    const char *mp = tmp_path("resnet.mlcl"), *cp = tmp_path("resnet.ckpt");
    ck_assert_ok(mlcl_model_save(m, mp));
    ck_assert_ok(mlcl_trainer_save(t, cp));
    ck_assert_msg(file_size(mp) * 3 <= file_size(cp), "model %ld, checkpoint %ld", file_size(mp), file_size(cp));
    mlcl_model_free(m);
    mlcl_trainer_free(t);
    mlcl_model *l;
    ck_assert_ok(mlcl_model_load(&l, mp));
    ck_assert_ok(mlcl_model_predict(l, n, x, s_l));
    assert_same_bits(s_tr, s_l, (size_t)n * c, "ResNet scores");
    ck_assert_ok(mlcl_model_distributions(l, n, x, d_l));
    assert_same_bits(d_tr, d_l, (size_t)n * c, "ResNet distributions");
    int ch, hh, ww, nh, nw, md, mh;
    ck_assert_ok(mlcl_model_image_shape(l, &ch, &hh, &ww, &nh, &nw));
    ck_assert_int_eq(ch, 3); ck_assert_int_eq(hh, 8); ck_assert_int_eq(ww, 8); ck_assert_int_eq(nh, 6); ck_assert_int_eq(nw, 6);
    ck_assert_ok(mlcl_model_dims(l, &md, NULL, &mh));
    ck_assert_int_eq(md, 192); ck_assert_int_eq(mh, 32);
    const char *arch;
    ck_assert_ok(mlcl_model_architecture(l, &arch));
    ck_assert_str_eq(arch, "backbone: ResNet-18(small stem, 3x6x6, width 4, out 32); head: Linear(32,3)");
    free(s_tr); free(s_l); free(d_tr); free(d_l);
    mlcl_model_free(l);
    mlcl_dataset_free(ds);
}
END_TEST

/* ------------------------------------------------------------- corrupted files */

/* counts the largest single allocation */
static size_t MAX_ALLOC;
static void *count_alloc(size_t n, void *ctx)
{
    (void)ctx;
    if (n > MAX_ALLOC) MAX_ALLOC = n;
    void *p = NULL;
    if (posix_memalign(&p, 64, (n + 63) & ~(size_t)63) != 0) return NULL;
    return p;
}
static void count_free(void *p, void *ctx) { (void)ctx; free(p); }

START_TEST(truncations_and_bit_flips)
{
    mlcl_model *m = tiny_model(NULL);
    const char *mp = tmp_path("tiny.mlcl"), *bad = tmp_path("bad.mlcl");
    ck_assert_ok(mlcl_model_save(m, mp));
    mlcl_model_free(m);
    size_t n;
    unsigned char *b = slurp(mp, &n);
    ck_assert_int_gt(n, 100);
    ck_assert_int_lt(n, 8192);
    mlcl_allocator a = { MLCL_ALLOCATOR_VERSION, count_alloc, count_free, NULL };
    ck_assert_ok(mlcl_set_allocator(&a));
    MAX_ALLOC = 0;
    /* every truncation point */
    for (size_t k = 0; k < n; k++) {
        spit(bad, b, k);
        mlcl_model *l = (mlcl_model *)1;
        mlcl_clear_error();
        int rc = mlcl_model_load(&l, bad);
        ck_assert_msg(rc == MLCL_EFORMAT || rc == MLCL_ECHECKSUM, "truncated to %zu bytes: %d %s", k, rc, mlcl_last_error());
        ck_assert_ptr_null(l);
        ck_assert_ptr_nonnull(strstr(mlcl_last_error(), "bad.mlcl"));
    }
    /* trailing garbage */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    spit(bad, longer, n + 1);
    mlcl_model *l;
    ck_assert_status_msg(mlcl_model_load(&l, bad), MLCL_EFORMAT, "trailing bytes");
    free(longer);
    /* every single bit flip */
    for (size_t k = 0; k < n; k++)
        for (int bit = 0; bit < 8; bit++) {
            b[k] ^= (unsigned char)(1u << bit);
            spit(bad, b, n);
            mlcl_clear_error();
            int rc = mlcl_model_load(&l, bad);
            ck_assert_msg(rc == MLCL_EFORMAT || rc == MLCL_ECHECKSUM || rc == MLCL_EVERSION,
                          "bit %d of byte %zu flipped: %d %s", bit, k, rc, mlcl_last_error());
            ck_assert_ptr_nonnull(strstr(mlcl_last_error(), "bad.mlcl"));
            b[k] ^= (unsigned char)(1u << bit);
        }
    /* no allocation beyond a small multiple of the file */
    ck_assert_msg(MAX_ALLOC <= 64 * n + 65536, "largest allocation %zu for a %zu-byte file", MAX_ALLOC, n);
    ck_assert_ok(mlcl_set_allocator(NULL));
    /* the original still loads */
    spit(bad, b, n);
    ck_assert_ok(mlcl_model_load(&l, bad));
    mlcl_model_free(l);
    free(b);
}
END_TEST

/* Re-wraps a payload in a valid container (magic, CRCs), as a hostile writer would. */
static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint64_t get64(const unsigned char *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }

static void wrap_write(const char *path, const unsigned char *pay, size_t plen)
{
    uLongf zl = compressBound((uLong)plen);
    unsigned char *buf = malloc(48 + zl);
    ck_assert_int_eq(compress2(buf + 48, &zl, pay, (uLong)plen, 6), Z_OK);
    memcpy(buf, "MLCLMODL", 8);
    put32(buf + 8, 1);
    uint32_t bom = 0x01020304u;
    memcpy(buf + 12, &bom, 4);
    put64(buf + 16, plen);
    put64(buf + 24, zl);
    put32(buf + 32, (uint32_t)crc32(0L, pay, (uInt)plen));
    put32(buf + 36, (uint32_t)crc32(0L, buf + 48, (uInt)zl));
    put32(buf + 40, 0);
    put32(buf + 44, (uint32_t)crc32(0L, buf, 44));
    spit(path, buf, 48 + zl);
    free(buf);
}

static unsigned char *payload_of(const char *path, size_t *plen)
{
    size_t n;
    unsigned char *b = slurp(path, &n);
    *plen = (size_t)get64(b + 16);
    unsigned char *p = malloc(*plen);
    uLongf ol = (uLongf)*plen;
    ck_assert_int_eq(uncompress(p, &ol, b + 48, (uLong)(n - 48)), Z_OK);
    free(b);
    return p;
}

/* offset of section tag's data, or -1 */
static long section(const unsigned char *p, size_t len, const char *tag, size_t *slen)
{
    for (size_t off = 0; off + 16 <= len;) {
        size_t l = (size_t)get64(p + off + 8);
        if (!memcmp(p + off, tag, 4)) { if (slen) *slen = l; return (long)(off + 16); }
        off += 16 + l;
    }
    return -1;
}

START_TEST(hostile_but_valid_containers)
{
    mlcl_model *m = tiny_model(NULL);
    const char *mp = tmp_path("tiny2.mlcl"), *bad = tmp_path("hostile.mlcl");
    ck_assert_ok(mlcl_model_save(m, mp));
    size_t plen;
    unsigned char *p = payload_of(mp, &plen);
    mlcl_model *l;
    /* the payload re-wrapped as is loads and predicts as the original */
    wrap_write(bad, p, plen);
    ck_assert_ok(mlcl_model_load(&l, bad));
    float x[8] = { 1, 2, 3, 4, 0.5f, -1, 2, 0 }, s1[6], s2[6];
    ck_assert_ok(mlcl_model_predict(m, 2, x, s1));
    ck_assert_ok(mlcl_model_predict(l, 2, x, s2));
    assert_same_bits(s1, s2, 6, "re-wrapped");
    mlcl_model_free(l);
    /* an unknown optional section is skipped; an unknown required one refused */
    unsigned char *q = malloc(plen + 24);
    memcpy(q, p, plen);
    memcpy(q + plen, "zzzz", 4); put32(q + plen + 4, 0); put64(q + plen + 8, 8); memset(q + plen + 16, 7, 8);
    wrap_write(bad, q, plen + 24);
    ck_assert_ok(mlcl_model_load(&l, bad));
    mlcl_model_free(l);
    memcpy(q + plen, "ZZZZ", 4);
    wrap_write(bad, q, plen + 24);
    ck_assert_status_msg(mlcl_model_load(&l, bad), MLCL_EVERSION, "required section 'ZZZZ'");
    free(q);
    /* header fields lying about sizes */
    size_t hl;
    long ho = section(p, plen, "MHDR", &hl);
    ck_assert_int_ge(ho, 0);
    struct { int field; uint32_t value; const char *needle; } lies[] = {
        { 12, 100000, "backbone layers" },         /* nl */
        { 12, 2, "section ARCH" },                 /* nl: fewer layers than the section holds */
        { 1, 0x7fffffff, "widths out of range" },  /* c */
        { 1, 4, "section HEAD" },                  /* c = 4: the head section is for 3 */
        { 2, 7, "section HEAD" },                  /* h */
        { 0, 5, "section SCAL" },                  /* d: the scaler holds 4 */
        { 4, 0, "chunk" },
        { 5, 1, "image shape" },
        { 11, 0, "SCAL in a model without" },                     /* standardize off with a non-trivial scaler */
    };
    for (size_t i = 0; i < sizeof lies / sizeof *lies; i++) {
        unsigned char *h = p + ho + 4 * lies[i].field, keep[4];
        memcpy(keep, h, 4);
        put32(h, lies[i].value);
        if (lies[i].field == 0) put32(p + ho + 12, lies[i].value); /* d and dn together */
        wrap_write(bad, p, plen);
        ck_assert_status_msg(mlcl_model_load(&l, bad), MLCL_EFORMAT, lies[i].needle);
        memcpy(h, keep, 4);
        if (lies[i].field == 0) memcpy(p + ho + 12, keep, 4);
    }
    /* parameter count in the header larger than the section */
    unsigned char keep8[8];
    memcpy(keep8, p + ho + 64, 8);
    put64(p + ho + 64, (uint64_t)1 << 40);
    wrap_write(bad, p, plen);
    ck_assert_status_msg(mlcl_model_load(&l, bad), MLCL_EFORMAT, "section BPAR");
    memcpy(p + ho + 64, keep8, 8);
    /* a NaN weight, a negative running variance is impossible here (no BN): a NaN head weight */
    size_t sl;
    long so = section(p, plen, "HEAD", &sl);
    unsigned char keep[4];
    memcpy(keep, p + so, 4);
    put32(p + so, 0x7fc00000u);
    wrap_write(bad, p, plen);
    ck_assert_status_msg(mlcl_model_load(&l, bad), MLCL_EFORMAT, "non-finite");
    memcpy(p + so, keep, 4);
    /* a threshold outside [0, 1] */
    so = section(p, plen, "THRS", &sl);
    memcpy(keep, p + so, 4);
    float two = 2.0f;
    uint32_t tv;
    memcpy(&tv, &two, 4);
    put32(p + so, tv);
    wrap_write(bad, p, plen);
    ck_assert_status_msg(mlcl_model_load(&l, bad), MLCL_EFORMAT, "threshold 0");
    memcpy(p + so, keep, 4);
    /* a label-name count that overruns its section */
    so = section(p, plen, "LBLS", &sl);
    put32(p + so + 4, 1000);
    wrap_write(bad, p, plen);
    ck_assert_status_msg(mlcl_model_load(&l, bad), MLCL_EFORMAT, "LBLS");
    /* a declared payload size far larger than the data */
    size_t n;
    unsigned char *f = slurp(mp, &n);
    put64(f + 16, (uint64_t)1 << 30);
    put32(f + 44, (uint32_t)crc32(0L, f, 44));
    spit(bad, f, n);
    ck_assert_status_msg(mlcl_model_load(&l, bad), MLCL_EFORMAT, "payload");
    /* another kind of file */
    memcpy(f, "MLCLCKPT", 8);
    spit(bad, f, n);
    ck_assert_status_msg(mlcl_model_load(&l, bad), MLCL_EFORMAT, "bad magic");
    /* a directory */
    ck_assert_status_msg(mlcl_model_load(&l, TMP), MLCL_EIO, "regular");
    free(f);
    free(p);
    mlcl_model_free(m);
}
END_TEST

/* ------------------------------------------------------------- threads */

typedef struct job { const mlcl_model *m; int n; const float *x; float *out; int use_ws; int rc; } job;

static void *job_run(void *arg)
{
    job *j = arg;
    mlcl_model_workspace *ws = NULL;
    j->rc = 0;
    if (j->use_ws && (j->rc = mlcl_model_workspace_create(&ws, j->m)) != 0) return NULL;
    for (int rep = 0; rep < 3 && j->rc == 0; rep++)
        j->rc = ws ? mlcl_model_infer(j->m, ws, MLCL_MODEL_SCORES, j->n, j->x, j->out)
                   : mlcl_model_predict(j->m, j->n, j->x, j->out);
    mlcl_model_workspace_free(ws);
    return NULL;
}

static void eight_threads(const mlcl_model *m, int n, const float *x)
{
    int c;
    ck_assert_ok(mlcl_model_dims(m, NULL, &c, NULL));
    float *ref = malloc(sizeof(float) * n * c);
    ck_assert_ok(mlcl_model_predict(m, n, x, ref));
    pthread_t th[8];
    job jobs[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (job){ m, n, x, malloc(sizeof(float) * n * c), i % 2, -99 };
        ck_assert_int_eq(pthread_create(&th[i], NULL, job_run, &jobs[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(jobs[i].rc == 0, "thread %d: %d", i, jobs[i].rc);
        assert_same_bits(ref, jobs[i].out, (size_t)n * c, "thread scores");
        free(jobs[i].out);
    }
    free(ref);
}

START_TEST(eight_threads_one_model)
{
    mlcl_dataset *te = load_yeast(0), *tr = load_yeast(1);
    mlcl_train_options o;
    ck_assert_ok(mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION));
    ck_assert_ok(mlcl_train_options_preset(&o, "yeast"));
    o.pretrain_epochs = 0; o.finetune_epochs = 1;
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, tr));
    ck_assert_ok(mlcl_trainer_run(t));
    mlcl_model *m;
    ck_assert_ok(mlcl_trainer_export_model(t, &m));
    mlcl_trainer_free(t);
    int n;
    ck_assert_ok(mlcl_dataset_dims(te, &n, NULL, NULL));
    eight_threads(m, n < 400 ? n : 400, mlcl_dataset_features(te));
    mlcl_model_free(m);
    /* a ResNet model (oneDNN) too */
    mlcl_dataset *ds = images8(16);
    mlcl_resnet_spec rs;
    ck_assert_ok(mlcl_resnet_spec_init(&rs, MLCL_RESNET_SPEC_VERSION));
    rs.in_channels = 3; rs.height = 8; rs.width = 8; rs.base_width = 4;
    mlcl_encoder *bb;
    ck_assert_ok(mlcl_encoder_create_resnet(&bb, &rs, NULL));
    mlcl_trainer_ex_options ex = MLCL_TRAINER_EX_OPTIONS_INIT;
    ex.backbone = bb;
    mlcl_train_options ro;
    ck_assert_ok(mlcl_train_options_init(&ro, MLCL_TRAIN_OPTIONS_VERSION));
    ro.batch = 8; test_moco_of(&ro)->o.proj_dim = 8; test_moco_of(&ro)->o.queue_size = 8; test_moco_of(&ro)->o.max_batch = 8;
    ro.pretrain_epochs = 0; ro.finetune_epochs = 1; ro.standardize = 0;
    ck_assert_ok(mlcl_trainer_create_ex(&t, &ro, ds, &ex));
    mlcl_encoder_free(bb);
    ck_assert_ok(mlcl_trainer_run(t));
    ck_assert_ok(mlcl_trainer_export_model(t, &m));
    /* a ResNet over unstandardised rows without image views: the trainer's scores too */
    float st[16 * 3], sm[16 * 3];
    ck_assert_ok(mlcl_trainer_predict(t, 16, mlcl_dataset_features(ds), st));
    ck_assert_ok(mlcl_model_predict(m, 16, mlcl_dataset_features(ds), sm));
    assert_same_bits(st, sm, 16 * 3, "unstandardised ResNet scores");
    int standardized = 1;
    ck_assert_ok(mlcl_model_standardization(m, &standardized, NULL, NULL, 0));
    ck_assert_int_eq(standardized, 0);
    mlcl_trainer_free(t);
    eight_threads(m, 16, mlcl_dataset_features(ds));
    mlcl_model_free(m);
    mlcl_dataset_free(ds);
    mlcl_dataset_free(te);
    mlcl_dataset_free(tr);
}
END_TEST

/* ------------------------------------------------------------- thresholds, names, provenance */

START_TEST(thresholds_names_provenance)
{
    mlcl_dataset *ds;
    mlcl_model *m = tiny_model(&ds);
    int n, c;
    ck_assert_ok(mlcl_dataset_dims(ds, &n, NULL, &c));
    const float *x = mlcl_dataset_features(ds);
    float thr[3];
    ck_assert_ok(mlcl_model_thresholds(m, 3, thr));
    for (int j = 0; j < 3; j++) ck_assert(thr[j] == 0.5f);
    const char *name;
    ck_assert_ok(mlcl_model_label_name(m, 2, &name));
    ck_assert_str_eq(name, "label2");
    float *s = malloc(sizeof(float) * n * c), *lf = malloc(sizeof(float) * n * c);
    uint8_t *lab = malloc((size_t)n * c);
    ck_assert_ok(mlcl_model_predict(m, n, x, s));
    /* thresholds at the median score of each label: some decisions of each kind */
    float t3[3] = { 0, 0, 0 };
    for (int j = 0; j < c; j++) {
        int below = 0;
        t3[j] = s[j];
        for (int i = 0; i < n; i++) below += s[i * c + j] < t3[j];
        if (below == 0) t3[j] = nextafterf(t3[j], 2.0f);
    }
    ck_assert_ok(mlcl_model_set_thresholds(m, 3, t3));
    ck_assert_ok(mlcl_model_predict_labels(m, n, x, lab));
    ck_assert_ok(mlcl_model_infer(m, NULL, MLCL_MODEL_LABELS, n, x, lf));
    int ones = 0;
    for (int i = 0; i < n * c; i++) {
        ck_assert_int_eq(lab[i], s[i] >= t3[i % c]);
        ck_assert(lf[i] == (float)lab[i]);
        ones += lab[i];
    }
    ck_assert_int_gt(ones, 0);
    ck_assert_int_lt(ones, n * c);
    float badt[3] = { 0.5f, NAN, 0.5f };
    ck_assert_status_msg(mlcl_model_set_thresholds(m, 3, badt), MLCL_EINVAL, "thresholds[1]");
    badt[1] = 1.5f;
    ck_assert_status_msg(mlcl_model_set_thresholds(m, 3, badt), MLCL_EINVAL, "thresholds[1]");
    ck_assert_status_msg(mlcl_model_set_thresholds(m, 2, t3), MLCL_EINVAL, "c = 2");
    const char *names[3] = { "sports", "arts, music", "weather \"today\"" }, *bad[3] = { "a", "", "c" };
    ck_assert_ok(mlcl_model_set_label_names(m, 3, names));
    ck_assert_status_msg(mlcl_model_set_label_names(m, 3, bad), MLCL_EINVAL, "names[1]");
    bad[1] = "two\nlines";
    ck_assert_status_msg(mlcl_model_set_label_names(m, 3, bad), MLCL_EINVAL, "names[1]");
    ck_assert_ok(mlcl_model_set_provenance(m, "note", "trained for the tests"));
    ck_assert_ok(mlcl_model_set_provenance(m, "seed", "overridden"));
    ck_assert_status_msg(mlcl_model_set_provenance(m, "bad key", "x"), MLCL_EINVAL, "key");
    ck_assert_status_msg(mlcl_model_set_provenance(m, "k", "a\nb"), MLCL_EINVAL, "newline");
    const char *mp = tmp_path("names.mlcl");
    ck_assert_ok(mlcl_model_save(m, mp));
    mlcl_model *l;
    ck_assert_ok(mlcl_model_load(&l, mp));
    float t4[3];
    ck_assert_ok(mlcl_model_thresholds(l, 3, t4));
    for (int j = 0; j < 3; j++) ck_assert(t4[j] == t3[j]);
    for (int j = 0; j < 3; j++) {
        ck_assert_ok(mlcl_model_label_name(l, j, &name));
        ck_assert_str_eq(name, names[j]);
    }
    const char *v, *k;
    ck_assert_ok(mlcl_model_provenance_get(l, "note", &v)); ck_assert_str_eq(v, "trained for the tests");
    ck_assert_ok(mlcl_model_provenance_get(l, "seed", &v)); ck_assert_str_eq(v, "overridden");
    int np;
    ck_assert_ok(mlcl_model_provenance_count(l, &np));
    ck_assert_int_ge(np, 10);
    ck_assert_ok(mlcl_model_provenance(l, 0, &k, &v));
    ck_assert_str_eq(k, "library");
    ck_assert_ptr_nonnull(strstr(v, mlcl_version_string()));
    ck_assert_ok(mlcl_model_predict_labels(l, n, x, lab));
    for (int i = 0; i < n * c; i++) ck_assert_int_eq(lab[i], s[i] >= t3[i % c]);
    /* export options: names and thresholds */
    mlcl_train_options o;
    tiny_opts(&o);
    o.pretrain_epochs = 0; o.finetune_epochs = 1;
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    ck_assert_ok(mlcl_trainer_run(t));
    mlcl_model_export_options eo = MLCL_MODEL_EXPORT_OPTIONS_INIT;
    eo.label_names = names; eo.thresholds = t3;
    mlcl_model *m2;
    ck_assert_ok(mlcl_trainer_export_model_ex(t, &m2, &eo));
    ck_assert_ok(mlcl_model_label_name(m2, 1, &name));
    ck_assert_str_eq(name, "arts, music");
    ck_assert_ok(mlcl_model_thresholds(m2, 3, t4));
    ck_assert(t4[2] == t3[2]);
    mlcl_model_free(m2);
    eo.thresholds = badt;
    ck_assert_status_msg(mlcl_trainer_export_model_ex(t, &m2, &eo), MLCL_EINVAL, "thresholds[1]");
    ck_assert_ptr_null(m2);
    eo.thresholds = NULL; eo.label_names = bad;
    ck_assert_status_msg(mlcl_trainer_export_model_ex(t, &m2, &eo), MLCL_EINVAL, "names[1]");
    mlcl_dataset *other = tiny_dataset(12);
    eo.label_names = NULL; eo.train = other;
    ck_assert_status_msg(mlcl_trainer_export_model_ex(t, &m2, &eo), MLCL_EINVAL, "opts->train has 12 rows");
    eo.train = NULL; eo.version = 7;
    ck_assert_status_msg(mlcl_trainer_export_model_ex(t, &m2, &eo), MLCL_EVERSION, "version");
    mlcl_dataset_free(other);
    mlcl_trainer_free(t);
    free(s); free(lf); free(lab);
    mlcl_model_free(l);
    mlcl_model_free(m);
    mlcl_dataset_free(ds);
}
END_TEST

START_TEST(export_options_init_matches_macro)
{
    mlcl_model_export_options a, b = MLCL_MODEL_EXPORT_OPTIONS_INIT;
    memset(&a, 0xab, sizeof a);
    ck_assert_ok(mlcl_model_export_options_init(&a, MLCL_MODEL_EXPORT_OPTIONS_VERSION));
    ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
    ck_assert_status_msg(mlcl_model_export_options_init(&a, 2), MLCL_EVERSION, "version 2");
}
END_TEST

START_TEST(bad_arguments)
{
    mlcl_dataset *ds;
    mlcl_model *m = tiny_model(&ds), *l = NULL;
    const float *x = mlcl_dataset_features(ds);
    float out[64];
    uint8_t lab[64];
    float xn[8] = { 1, 2, 3, 4, 1, NAN, 3, 4 };
    ck_assert_status_msg(mlcl_model_predict(NULL, 2, x, out), MLCL_EINVAL, "model is NULL");
    ck_assert_status_msg(mlcl_model_predict(m, 0, x, out), MLCL_EINVAL, "n must be > 0");
    ck_assert_status_msg(mlcl_model_predict(m, 2, NULL, out), MLCL_EINVAL, "x is NULL");
    ck_assert_status_msg(mlcl_model_predict(m, 2, x, NULL), MLCL_EINVAL, "scores is NULL");
    ck_assert_status_msg(mlcl_model_predict(m, 2, xn, out), MLCL_ENUMERIC, "rows 0..1");
    ck_assert_status_msg(mlcl_model_predict_labels(m, 2, x, NULL), MLCL_EINVAL, "labels is NULL");
    ck_assert_status_msg(mlcl_model_embed(m, -1, x, out), MLCL_EINVAL, "n must be > 0");
    ck_assert_status_msg(mlcl_model_distributions(m, 1, x, NULL), MLCL_EINVAL, "dists is NULL");
    ck_assert_status_msg(mlcl_model_infer(m, NULL, 9, 1, x, out), MLCL_EINVAL, "what = 9");
    ck_assert_status_msg(mlcl_model_infer(m, NULL, MLCL_MODEL_SCORES, 1, x, NULL), MLCL_EINVAL, "out is NULL");
    mlcl_model *m2 = tiny_model(NULL);
    mlcl_model_workspace *ws;
    ck_assert_ok(mlcl_model_workspace_create(&ws, m2));
    ck_assert_status_msg(mlcl_model_infer(m, ws, MLCL_MODEL_SCORES, 1, x, out), MLCL_EINVAL, "another model");
    mlcl_model_workspace_free(ws);
    mlcl_model_free(m2);
    ck_assert_status_msg(mlcl_model_workspace_create(NULL, m), MLCL_EINVAL, "out is NULL");
    ck_assert_status_msg(mlcl_model_workspace_create(&ws, NULL), MLCL_EINVAL, "model is NULL");
    ck_assert_status_msg(mlcl_model_save(NULL, "x"), MLCL_EINVAL, "model is NULL");
    ck_assert_status_msg(mlcl_model_save(m, NULL), MLCL_EINVAL, "path is NULL");
    ck_assert_status_msg(mlcl_model_save(m, "/nonexistent-dir-mlcl/m.mlcl"), MLCL_EIO, "nonexistent-dir-mlcl");
    ck_assert_status_msg(mlcl_model_save(m, TMP), MLCL_EINVAL, "not a regular file"); /* a directory: refused, not replaced */
    ck_assert_status_msg(mlcl_model_load(NULL, "x"), MLCL_EINVAL, "out is NULL");
    ck_assert_status_msg(mlcl_model_load(&l, NULL), MLCL_EINVAL, "path is NULL");
    ck_assert_status_msg(mlcl_model_load(&l, "/nonexistent-dir-mlcl/m.mlcl"), MLCL_EIO, "nonexistent-dir-mlcl");
    ck_assert_status_msg(mlcl_trainer_export_model(NULL, &l), MLCL_EINVAL, "trainer is NULL");
    ck_assert_status_msg(mlcl_model_dims(NULL, NULL, NULL, NULL), MLCL_EINVAL, "model is NULL");
    ck_assert_status_msg(mlcl_model_image_shape(NULL, NULL, NULL, NULL, NULL, NULL), MLCL_EINVAL, "model is NULL");
    float mean[4];
    ck_assert_status_msg(mlcl_model_standardization(m, NULL, mean, NULL, 3), MLCL_EINVAL, "n_features = 3");
    const char *s;
    ck_assert_status_msg(mlcl_model_label_name(m, 3, &s), MLCL_EINVAL, "j = 3");
    ck_assert_status_msg(mlcl_model_label_name(m, -1, &s), MLCL_EINVAL, "j = -1");
    ck_assert_status_msg(mlcl_model_architecture(m, NULL), MLCL_EINVAL, "text is NULL");
    ck_assert_status_msg(mlcl_model_provenance(m, 1000, &s, &s), MLCL_EINVAL, "i = 1000");
    ck_assert_status_msg(mlcl_model_provenance_get(m, NULL, &s), MLCL_EINVAL, "key is NULL");
    ck_assert_status_msg(mlcl_model_set_label_names(m, 3, NULL), MLCL_EINVAL, "names is NULL");
    ck_assert_status_msg(mlcl_model_thresholds(m, 3, NULL), MLCL_EINVAL, "thresholds is NULL");
    mlcl_model_free(NULL);
    mlcl_model_workspace_free(NULL);
    (void)lab;
    mlcl_model_free(m);
    mlcl_dataset_free(ds);
}
END_TEST

/* ------------------------------------------------------------- tensor names (for exporters) */

static void check_tensor(const mlcl__model_tensor *t, const char *name, int ndim, long long s0, long long s1)
{
    ck_assert_str_eq(t->name, name);
    ck_assert_int_eq(t->ndim, ndim);
    ck_assert_int_eq(t->shape[0], s0);
    if (ndim > 1) ck_assert_int_eq(t->shape[1], s1);
}

START_TEST(tensor_names)
{
    /* MLP: Linear(4,6) ReLU Dropout; names as nn.Sequential's state_dict() */
    mlcl_model *m = tiny_model(NULL);
    mlcl__model_tensor *t;
    int n;
    ck_assert_ok(mlcl__model_tensors(m, &t, &n));
    ck_assert_int_eq(n, 7);
    check_tensor(&t[0], "backbone.0.weight", 2, 6, 4);
    check_tensor(&t[1], "backbone.0.bias", 1, 6, 0);
    check_tensor(&t[2], "head.weight", 2, 3, 6);
    check_tensor(&t[3], "head.bias", 1, 3, 0);
    check_tensor(&t[4], "scaler.mean", 1, 4, 0);
    check_tensor(&t[5], "scaler.std", 1, 4, 0);
    check_tensor(&t[6], "thresholds", 1, 3, 0);
    float w[4 * 6 + 6];
    ck_assert_ok(mlcl_encoder_get_params(m->t_backbone, w, 30));
    ck_assert(t[0].data[5] == w[5] && t[1].data[2] == w[24 + 2]);
    mlcl__free(t);
    mlcl_model_free(m);
    /* ResNet-18 (small stem, base width 2): torchvision's state_dict() order without
     * num_batches_tracked (the order was checked against bindings/python/tests/torch_resnet.py) */
    enum { N = 8 };
    float x[N * 3 * 8 * 8];
    uint8_t y[N * 2];
    for (int i = 0; i < N * 192; i++) x[i] = (float)(i % 7) / 7.0f;
    for (int i = 0; i < N * 2; i++) y[i] = (uint8_t)(i % 3 == 0);
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, N, 192, 2, x, y));
    mlcl_resnet_spec rs;
    ck_assert_ok(mlcl_resnet_spec_init(&rs, MLCL_RESNET_SPEC_VERSION));
    rs.in_channels = 3; rs.height = 8; rs.width = 8; rs.base_width = 2;
    mlcl_encoder *bb;
    ck_assert_ok(mlcl_encoder_create_resnet(&bb, &rs, NULL));
    mlcl_trainer_ex_options ex = MLCL_TRAINER_EX_OPTIONS_INIT;
    ex.backbone = bb;
    mlcl_train_options o;
    ck_assert_ok(mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION));
    o.batch = 4; test_moco_of(&o)->o.proj_dim = 4; test_moco_of(&o)->o.queue_size = 4; test_moco_of(&o)->o.max_batch = 4;
    o.pretrain_epochs = 0; o.finetune_epochs = 0; o.standardize = 0;
    mlcl_trainer *tr;
    ck_assert_ok(mlcl_trainer_create_ex(&tr, &o, ds, &ex));
    ck_assert_ok(mlcl_trainer_export_model(tr, &m));
    ck_assert_ok(mlcl__model_tensors(m, &t, &n));
    ck_assert_int_eq(n, 100 + 3);   /* 60 parameters + 40 running statistics, head, thresholds */
    check_tensor(&t[0], "backbone.conv1.weight", 4, 2, 3);
    ck_assert_int_eq(t[0].shape[2], 3);
    check_tensor(&t[4], "backbone.bn1.running_var", 1, 2, 0);
    ck_assert_int_eq(t[4].is_state, 1);
    int found = 0;
    size_t np = 0, ns = 0;
    for (int i = 0; i < n - 3; i++) {
        size_t k = 1;
        for (int j = 0; j < t[i].ndim; j++) k *= (size_t)t[i].shape[j];
        /* every tensor starts where the previous one of its kind ended */
        ck_assert_ptr_eq(t[i].data, t[i].is_state ? m->bstate + ns : m->bparams + np);
        if (t[i].is_state) ns += k; else np += k;
        if (!strcmp(t[i].name, "backbone.layer3.0.downsample.0.weight")) {
            found = 1;
            ck_assert_int_eq(t[i].shape[0], 8); ck_assert_int_eq(t[i].shape[1], 4);
            ck_assert_int_eq(t[i].shape[2], 1);
        }
    }
    ck_assert_int_eq(found, 1);
    ck_assert_uint_eq(np, m->bnp);
    ck_assert_uint_eq(ns, m->bns);
    check_tensor(&t[n - 3], "head.weight", 2, 2, 16);
    check_tensor(&t[n - 1], "thresholds", 1, 2, 0);
    mlcl__free(t);
    mlcl_model_free(m);
    mlcl_trainer_free(tr);
    mlcl_encoder_free(bb);
    mlcl_dataset_free(ds);
}
END_TEST

/* ------------------------------------------------------------- format compatibility */

/* tests/data/model/tiny-format1.mlcl was written by libmlcl 1.0.0 (format 1:
 * Linear(4,6) ReLU Dropout, labels alpha/beta/gamma, thresholds .25/.5/.75).
 * Every later 1.x library must load it and score as it did. */
START_TEST(loads_a_format1_file)
{
    char path[1024];
    const char *src = getenv("MLCL_SRC_DIR") ? getenv("MLCL_SRC_DIR") : ".";
    snprintf(path, sizeof path, "%s/tests/data/model/tiny-format1.mlcl", src);
    mlcl_model *m;
    ck_assert_ok(mlcl_model_load(&m, path));
    float rows[8] = { 1, 2, 3, 4, 0.5f, -1, 2, 0 }, s[6], t[3];
    const float expect[6] = { 0.483245134f, 0.460430473f, 0.43544361f, 0.376373798f, 0.641340911f, 0.371371627f };
    ck_assert_ok(mlcl_model_predict(m, 2, rows, s));
    for (int i = 0; i < 6; i++) ck_assert_msg(fabsf(s[i] - expect[i]) <= 1e-6f, "score %d: %.9g, written %.9g", i, s[i], expect[i]);
    const char *name, *v;
    ck_assert_ok(mlcl_model_label_name(m, 2, &name));
    ck_assert_str_eq(name, "gamma");
    ck_assert_ok(mlcl_model_thresholds(m, 3, t));
    ck_assert(t[0] == 0.25f && t[1] == 0.5f && t[2] == 0.75f);
    ck_assert_ok(mlcl_model_provenance_get(m, "library", &v));
    ck_assert_str_eq(v, "libmlcl 1.0.0");
    uint8_t lab[6];
    ck_assert_ok(mlcl_model_predict_labels(m, 2, rows, lab));
    for (int i = 0; i < 6; i++) ck_assert_int_eq(lab[i], s[i] >= t[i % 3]);
    mlcl_model_free(m);
}
END_TEST

int main(void)
{
    snprintf(TMP, sizeof TMP, "/tmp/mlcl_test_model_%d", (int)getpid());
    if (mkdir(TMP, 0700) != 0) return 1;
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, mlp_yeast_round_trip);
    tcase_add_test(tc, resnet_round_trip);
    tcase_add_test(tc, truncations_and_bit_flips);
    tcase_add_test(tc, hostile_but_valid_containers);
    tcase_add_test(tc, eight_threads_one_model);
    tcase_add_test(tc, thresholds_names_provenance);
    tcase_add_test(tc, export_options_init_matches_macro);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, tensor_names);
    tcase_add_test(tc, loads_a_format1_file);
    suite_add_tcase(s, tc);
    int rc = run_suite(s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", TMP);
    if (system(cmd) != 0) return 1;
    return rc;
}
