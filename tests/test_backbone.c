/* A caller's backbone in the MoCo pair and the trainer; SimCLR image views
 * in the trainer (mlcl_moco_options.backbone, mlcl_trainer_create_ex). */
#include "testutil.h"
#include <math.h>
#include <unistd.h>
/* the Fashion-MNIST mosaics: example-local code (examples/mosaic.c), a fixture here */
#include "../examples/mosaic.c"

static void moco_small(mlcl_moco_options *o)
{
    ck_assert_ok(mlcl_moco_options_init(o, MLCL_MOCO_OPTIONS_VERSION));
    o->in_dim = 12;
    o->n_labels = 5;
    o->n_hidden = 2;
    static const int w[] = { 24, 16 };
    o->hidden = w;
    o->dropout = 0.0f;  /* the key copy of a caller's backbone shares its dropout stream */
    o->proj_dim = 8;
    o->queue_size = 32;
    o->max_batch = 16;
    o->seed = 5;
    static mlcl_optim_options opt = MLCL_MOCO_OPTIM_INIT;
    opt.lr = 1e-2f;
    o->optim = &opt;
}

static void batch(int step, int n, int d, int c, float *x0, float *x1, uint64_t *y)
{
    for (int i = 0; i < n; i++) {
        y[i] = 0;
        for (int j = 0; j < c; j++)
            if (((i * 7 + j * 3 + step) % 5) < 2) y[i] |= 1ull << j;
        if (!y[i]) y[i] = 1ull << (i % c);
        for (int j = 0; j < d; j++) {
            x0[i * d + j] = sinf(0.3f * (float)(i * d + j + step)) + (float)((y[i] >> (j % c)) & 1);
            x1[i * d + j] = x0[i * d + j] + 0.05f * cosf((float)(j + i + step));
        }
    }
}

/* An MLP backbone built exactly as mlcl_moco_create() builds it gives the
 * same pair, step for step (dropout off). */
START_TEST(backbone_equals_builtin_mlp)
{
    mlcl_moco_options o;
    moco_small(&o);
    mlcl_moco *a, *b;
    ck_assert_ok(mlcl_moco_create(&a, &o));
    mlcl_mlp_spec spec;
    ck_assert_ok(mlcl_mlp_spec_init(&spec, MLCL_MLP_SPEC_VERSION));
    spec.in_dim = o.in_dim;
    spec.n_hidden = o.n_hidden;
    spec.hidden[0] = o.hidden[0]; spec.hidden[1] = o.hidden[1];
    spec.dropout = 0.0f;
    mlcl_encoder_options eo;
    ck_assert_ok(mlcl_encoder_options_init(&eo, MLCL_ENCODER_OPTIONS_VERSION));
    eo.max_batch = o.max_batch;
    eo.seed = o.seed * 8 + 1; /* the query backbone's stream in mlcl_moco_create */
    mlcl_encoder *bb;
    ck_assert_ok(mlcl_encoder_create_mlp(&bb, &spec, &eo));
    mlcl_moco_options o2 = o;
    o2.in_dim = 0; /* taken from the backbone */
    o2.n_hidden = 7; /* ignored with a backbone */
    o2.backbone = bb;
    ck_assert_ok(mlcl_moco_create(&b, &o2));
    mlcl_encoder_free(bb); /* the pair holds copies */
    enum { N = 16, D = 12, C = 5 };
    float x0[N * D], x1[N * D];
    uint64_t y[N];
    for (int s = 0; s < 6; s++) {
        batch(s, N, D, C, x0, x1, y);
        mlcl_loss_parts pa = MLCL_LOSS_PARTS_INIT, pb = MLCL_LOSS_PARTS_INIT;
        ck_assert_ok(mlcl_moco_step(a, N, x0, x1, y, &pa));
        ck_assert_ok(mlcl_moco_step(b, N, x0, x1, y, &pb));
        ck_assert_msg(fabs(pa.total - pb.total) <= 1e-6 * (1 + fabs(pa.total)), "step %d: %g vs %g", s, pa.total, pb.total);
    }
    for (int w = 0; w < 5; w++) {
        mlcl_encoder *ea, *eb;
        float *pa, *pb;
        size_t na, nb;
        ck_assert_ok(mlcl_moco_encoder(a, w, &ea));
        ck_assert_ok(mlcl_moco_encoder(b, w, &eb));
        ck_assert_ok(mlcl_encoder_param_count(ea, &na));
        ck_assert_ok(mlcl_encoder_param_count(eb, &nb));
        ck_assert_uint_eq(na, nb);
        ck_assert_ok(mlcl_encoder_params_ptr(ea, &pa));
        ck_assert_ok(mlcl_encoder_params_ptr(eb, &pb));
        double worst = 0;
        for (size_t i = 0; i < na; i++) {
            double e = fabs((double)pa[i] - pb[i]);
            if (e > worst) worst = e;
        }
        ck_assert_msg(worst < 1e-5, "network %d differs by %g", w, worst);
    }
    mlcl_moco_free(a);
    mlcl_moco_free(b);
}
END_TEST

START_TEST(backbone_bad_arguments)
{
    mlcl_moco_options o;
    moco_small(&o);
    mlcl_encoder *bb;
    ck_assert_ok(mlcl_encoder_create(&bb, 10, NULL));
    ck_assert_ok(mlcl_encoder_add_linear(bb, 6, 1));
    mlcl_moco *m = (mlcl_moco *)1;
    o.backbone = bb;
    ck_assert_status_msg(mlcl_moco_create(&m, &o), MLCL_EINVAL, "in_dim");
    ck_assert_ptr_null(m);
    ck_assert_status_msg(mlcl_moco_create(NULL, &o), MLCL_EINVAL, "out");
    ck_assert_status_msg(mlcl_moco_create(&m, NULL), MLCL_EINVAL, "opts");
    o.in_dim = 10;
    o.version = 99;
    ck_assert_status_msg(mlcl_moco_create(&m, &o), MLCL_EVERSION, "version");
    o.version = MLCL_MOCO_OPTIONS_VERSION;
    o.proj_dim = 0;
    ck_assert_status_msg(mlcl_moco_create(&m, &o), MLCL_EINVAL, "proj_dim");
    o.proj_dim = 8;
    o.n_hidden = 7; /* not read with a backbone */
    ck_assert_ok(mlcl_moco_create(&m, &o));
    mlcl_encoder *q;
    int hd;
    ck_assert_ok(mlcl_moco_encoder(m, 1, &q));
    ck_assert_ok(mlcl_encoder_in_dim(q, &hd));
    ck_assert_int_eq(hd, 6); /* the projection head takes the backbone's output */
    mlcl_moco_free(m);
    mlcl_encoder_free(bb);
}
END_TEST

static mlcl_dataset *mosaics(int n, uint64_t seed)
{
    mlcl_dataset *ds = NULL;
    int rc = fashion_mosaic(&ds, NULL, 1, n, seed, 1);
    if (rc != MLCL_OK) return NULL;
    return ds;
}

static void image_opts(mlcl_train_options *o)
{
    ck_assert_ok(mlcl_train_options_init(o, MLCL_TRAIN_OPTIONS_VERSION));
    o->batch = 8;
    o->seed = 3;
    test_moco_of(o)->o.queue_size = 16;
    test_moco_of(o)->o.proj_dim = 8;
    o->pretrain_epochs = 1;
    o->finetune_epochs = 2;
    o->pretrain_lr = 1e-3f;
}

/* A small ResNet with SimCLR views trains end to end through the trainer,
 * deterministically, and a checkpoint resumes bit-identically (the views'
 * generator included). */
START_TEST(trainer_resnet_simclr_views)
{
    mlcl_dataset *ds = mosaics(24, 9);
    if (!ds) {
        fprintf(stderr, "test_backbone: Fashion-MNIST not installed (%s); skipping\n", mlcl_last_error());
        return;
    }
    int ic, ih, iw;
    ck_assert_ok(mlcl_dataset_image_shape(ds, &ic, &ih, &iw));
    ck_assert_int_eq(ic, 1); ck_assert_int_eq(ih, 28); ck_assert_int_eq(iw, 28);
    mlcl_resnet_spec rs;
    ck_assert_ok(mlcl_resnet_spec_init(&rs, MLCL_RESNET_SPEC_VERSION));
    rs.in_channels = 1; rs.height = 16; rs.width = 16; rs.base_width = 4;
    mlcl_encoder_options eo;
    ck_assert_ok(mlcl_encoder_options_init(&eo, MLCL_ENCODER_OPTIONS_VERSION));
    eo.max_batch = 8;
    mlcl_encoder *bb;
    ck_assert_ok(mlcl_encoder_create_resnet(&bb, &rs, &eo));
    mlcl_simclr_options v;
    ck_assert_ok(mlcl_simclr_options_init(&v, MLCL_SIMCLR_OPTIONS_VERSION));
    v.out_h = 16; v.out_w = 16;
    mlcl_trainer_ex_options ex = MLCL_TRAINER_EX_OPTIONS_INIT;
    ex.backbone = bb;
    ex.pretrain_views = &v;
    mlcl_train_options o;
    image_opts(&o);
    mlcl_trainer *t1, *t2, *t3;
    ck_assert_ok(mlcl_trainer_create_ex(&t1, &o, ds, &ex));
    ck_assert_ok(mlcl_trainer_create_ex(&t2, &o, ds, &ex));
    ck_assert_ok(mlcl_trainer_run(t1));
    /* t2: one epoch, save, continue in a fresh trainer t3 */
    int done = 0;
    ck_assert_ok(mlcl_trainer_run_epochs(t2, 1, &done));
    char path[] = "/tmp/mlcl_bb_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_ok(mlcl_trainer_save(t2, path));
    ck_assert_ok(mlcl_trainer_create_ex(&t3, &o, ds, &ex));
    ck_assert_ok(mlcl_trainer_load(t3, path));
    ck_assert_ok(mlcl_trainer_run(t3));
    unlink(path);
    int n, d, c;
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    float *s1 = malloc(sizeof(float) * n * c), *s3 = malloc(sizeof(float) * n * c);
    ck_assert_ok(mlcl_trainer_predict(t1, n, mlcl_dataset_features(ds), s1));
    ck_assert_ok(mlcl_trainer_predict(t3, n, mlcl_dataset_features(ds), s3));
    for (int i = 0; i < n * c; i++) {
        ck_assert(isfinite(s1[i]) && s1[i] >= 0 && s1[i] <= 1);
        ck_assert_msg(s1[i] == s3[i], "score %d: %g straight vs %g resumed", i, s1[i], s3[i]);
    }
    mlcl_metrics m = MLCL_METRICS_INIT;
    ck_assert_ok(mlcl_trainer_evaluate(t1, ds, NULL, &m));
    ck_assert(m.mAP > 0 && m.mAP <= 1);
    /* a trainer without views cannot load this checkpoint's shape: the
     * network input differs (784 vs 256) */
    free(s1); free(s3);
    mlcl_trainer_free(t1); mlcl_trainer_free(t2); mlcl_trainer_free(t3);
    mlcl_encoder_free(bb);
    mlcl_dataset_free(ds);
}
END_TEST

START_TEST(trainer_ex_options_bad_arguments)
{
    mlcl_dataset *ds = mosaics(12, 2);
    if (!ds) return;
    mlcl_train_options o;
    image_opts(&o);
    mlcl_trainer *t = (mlcl_trainer *)1;
    mlcl_trainer_ex_options ex = MLCL_TRAINER_EX_OPTIONS_INIT;
    ex.version = 7;
    ck_assert_status_msg(mlcl_trainer_create_ex(&t, &o, ds, &ex), MLCL_EVERSION, "version");
    ck_assert_ptr_null(t);
    ex.version = MLCL_TRAINER_EX_OPTIONS_VERSION;
    mlcl_simclr_options v;
    ck_assert_ok(mlcl_simclr_options_init(&v, MLCL_SIMCLR_OPTIONS_VERSION));
    ex.finetune_views = &v;
    ck_assert_status_msg(mlcl_trainer_create_ex(&t, &o, ds, &ex), MLCL_EINVAL, "pretrain_views");
    ex.finetune_views = NULL;
    /* a backbone of the wrong input width */
    mlcl_encoder *bb;
    ck_assert_ok(mlcl_encoder_create(&bb, 100, NULL));
    ck_assert_ok(mlcl_encoder_add_linear(bb, 8, 1));
    ex.backbone = bb;
    ck_assert_status_msg(mlcl_trainer_create_ex(&t, &o, ds, &ex), MLCL_EINVAL, "backbone");
    v.out_h = 12; v.out_w = 12; /* 144 floats per view, the backbone takes 100 */
    ex.pretrain_views = &v;
    ck_assert_status_msg(mlcl_trainer_create_ex(&t, &o, ds, &ex), MLCL_EINVAL, "100");
    /* views need an image shape */
    mlcl_dataset *flat;
    float x[8 * 4] = { 0 };
    uint8_t y[8 * 2] = { 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1 };
    ck_assert_ok(mlcl_dataset_create_from_arrays(&flat, 8, 4, 2, x, y));
    ex.backbone = NULL;
    ck_assert_status_msg(mlcl_trainer_create_ex(&t, &o, flat, &ex), MLCL_EINVAL, "image shape");
    /* NULL extra = mlcl_trainer_create */
    ck_assert_ok(mlcl_trainer_create_ex(&t, &o, flat, NULL));
    mlcl_trainer_free(t);
    mlcl_dataset_free(flat);
    mlcl_encoder_free(bb);
    mlcl_dataset_free(ds);
}
END_TEST

/* A trainer's backbone has one source, mlcl_trainer_ex_options.backbone:
 * opts->moco->backbone set is refused, naming both, in every create. */
START_TEST(trainer_one_backbone_source)
{
    enum { N = 12, D = 6, C = 3 };
    float x[N * D];
    uint8_t y[N * C];
    for (int i = 0; i < N * D; i++) x[i] = (float)((i * 7) % 11) / 11.0f;
    for (int i = 0; i < N * C; i++) y[i] = (uint8_t)((i * 5) % 3 == 0);
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, N, D, C, x, y));
    mlcl_encoder *bb;
    ck_assert_ok(mlcl_encoder_create(&bb, D, NULL));
    ck_assert_ok(mlcl_encoder_add_linear(bb, 8, 1));
    mlcl_moco_options mo;
    ck_assert_ok(mlcl_moco_options_init(&mo, MLCL_MOCO_OPTIONS_VERSION));
    mo.queue_size = 8;
    mo.proj_dim = 4;
    mlcl_train_options o;
    ck_assert_ok(mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION));
    o.batch = 4;
    o.pretrain_epochs = 1;
    o.finetune_epochs = 1;
    o.moco = &mo;
    mlcl_trainer_ex_options ex = MLCL_TRAINER_EX_OPTIONS_INIT;
    ex.backbone = bb;
    mlcl_trainer *t = (mlcl_trainer *)1;
    mo.backbone = bb; /* even the same encoder: one source */
    ck_assert_status_msg(mlcl_trainer_create_ex(&t, &o, ds, &ex), MLCL_EINVAL, "opts->moco->backbone is set");
    ck_assert_ptr_null(t);
    ck_assert_status_msg(mlcl_trainer_create_ex(&t, &o, ds, NULL), MLCL_EINVAL, "mlcl_trainer_ex_options.backbone");
    ck_assert_status_msg(mlcl_trainer_create(&t, &o, ds), MLCL_EINVAL, "opts->moco->backbone");
    mo.backbone = NULL;
    ck_assert_ok(mlcl_trainer_create_ex(&t, &o, ds, &ex));
    mlcl_moco *pair;
    mlcl_encoder *q;
    int hd;
    ck_assert_ok(mlcl_trainer_moco(t, &pair));
    ck_assert_ok(mlcl_moco_encoder(pair, MLCL_MOCO_QUERY_BACKBONE, &q));
    ck_assert_ok(mlcl_encoder_out_dim(q, &hd));
    ck_assert_int_eq(hd, 8); /* the backbone of ex, not the default MLP (256) */
    mlcl_trainer_free(t);
    mlcl_encoder_free(bb);
    mlcl_dataset_free(ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backbone");
    TCase *tc = tcase_create("backbone");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, backbone_equals_builtin_mlp);
    tcase_add_test(tc, backbone_bad_arguments);
    tcase_add_test(tc, trainer_resnet_simclr_views);
    tcase_add_test(tc, trainer_ex_options_bad_arguments);
    tcase_add_test(tc, trainer_one_backbone_source);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
