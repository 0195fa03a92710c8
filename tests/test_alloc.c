/* Allocation-failure injection through the thread-local allocator hook: for
 * each create function and a training step, the k-th allocation fails for
 * k = 0, 1, 2, ... until the call succeeds. Every failure must return
 * MLCL_ENOMEM with nothing leaked (live blocks back to the count before the
 * call) and, for calls on an existing handle, the handle must stay usable
 * and freeable. Run under ASan by check-asan. */
#include "testutil.h"
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

/* The hooks may be called from the library's worker threads at the same
 * time as from the calling thread (mlcl_set_allocator): the counts are atomic. */
typedef struct {
    _Atomic long calls;   /* allocations attempted since arm() */
    _Atomic long fail_at; /* fail the attempt with this index; -1: never */
    _Atomic long live;    /* blocks currently allocated through the hook */
    _Atomic long failed;  /* failures injected */
} counter;

static void *c_alloc(size_t size, void *ctx)
{
    counter *c = ctx;
    long i = c->calls++;
    if (i == c->fail_at) { c->failed++; return NULL; }
    void *p = NULL;
    if (posix_memalign(&p, 64, (size + 63) & ~(size_t)63) != 0) return NULL;
    c->live++;
    return p;
}

static void c_free(void *p, void *ctx)
{
    counter *c = ctx;
    if (!p) return;
    c->live--;
    free(p);
}

static counter C;
static void install(void)
{
    C.calls = 0;
    C.live = 0;
    C.failed = 0;
    C.fail_at = -1;
    mlcl_allocator a = { MLCL_ALLOCATOR_VERSION, c_alloc, c_free, &C };
    ck_assert_ok(mlcl_set_allocator(&a));
}
static void arm(long k) { C.calls = 0; C.fail_at = k; C.failed = 0; }
static void disarm(void) { C.fail_at = -1; }

enum { AN = 32, AD = 5, AC = 3 };
static float AX[AN * AD];
static uint8_t AY[AN * AC];
static void fill(void)
{
    for (int i = 0; i < AN * AD; i++) AX[i] = (float)((i * 13) % 17) / 17.0f;
    for (int i = 0; i < AN; i++)
        for (int j = 0; j < AC; j++) AY[i * AC + j] = (uint8_t)((i + j) % 3 == 0 || j == i % AC);
}

/* Runs `call` with the k-th allocation failing for k = 0.. until it succeeds;
 * `undo` frees what a successful call created. Returns the number of
 * allocations of the successful call. */
/* create functions: a failure must free everything (strict); calls on an
 * existing handle may keep what they grew inside the handle (freed with it,
 * checked at the end of each test) and need not allocate at all. */
#define SWEEP(call, undo) SWEEP_(call, undo, 1)
#define SWEEP_M(call) SWEEP_(call, (void)0, 0)
#define SWEEP_(call, undo, strict)                                                   \
    do {                                                                                 \
        long k__;                                                                        \
        for (k__ = 0; k__ < 100000; k__++) {                                             \
            long live0__ = C.live;                                                       \
            arm(k__);                                                                    \
            mlcl_clear_error();                                                          \
            int rc__ = (call);                                                           \
            disarm();                                                                    \
            if (rc__ == MLCL_OK) { ck_assert_int_eq(C.failed, 0); undo; break; }         \
            ck_assert_msg(rc__ == MLCL_ENOMEM, "%s with allocation %ld failing: %d (%s) %s", \
                          #call, k__, rc__, mlcl_status_str(rc__), mlcl_last_error());   \
            ck_assert_int_eq(C.failed, 1);                                               \
            ck_assert_msg(strlen(mlcl_last_error()) > 0, "%s: no message", #call);       \
            ck_assert_msg(!(strict) || C.live == live0__, "%s with allocation %ld failing leaked %ld blocks", \
                          #call, k__, C.live - live0__);                                 \
        }                                                                                \
        ck_assert_msg(k__ > 0 || !(strict), "%s made no allocation through the hook", #call); \
    } while (0)

START_TEST(create_functions)
{
    fill();
    install();
    {
        mlcl_rng *r = NULL;
        SWEEP(mlcl_rng_create(&r, 1), (mlcl_rng_free(r), r = NULL));
    }
    {
        mlcl_queue_options o = MLCL_QUEUE_OPTIONS_INIT;
        o.capacity = 16; o.feat_dim = 8; o.n_labels = AC;
        mlcl_queue *q = NULL;
        SWEEP(mlcl_queue_create(&q, &o), (mlcl_queue_free(q), q = NULL));
    }
    {
        mlcl_loss *L = NULL;
        SWEEP(mlcl_loss_create(&L, 8, 16, 8, AC, NULL), (mlcl_loss_free(L), L = NULL));
    }
    {
        mlcl_mlp_spec s = MLCL_MLP_SPEC_INIT;
        s.in_dim = AD; s.n_hidden = 2; s.hidden[0] = 8; s.hidden[1] = 8; s.batchnorm = 1;
        s.out_dim = 4; s.out_act = MLCL_MLP_OUT_L2NORM;
        mlcl_encoder *e = NULL;
        SWEEP(mlcl_encoder_create_mlp(&e, &s, NULL), (mlcl_encoder_free(e), e = NULL));
    }
    {
        mlcl_optim_options oo = MLCL_OPTIM_OPTIONS_INIT;
        mlcl_optim *o = NULL;
        SWEEP(mlcl_optim_create(&o, &oo), (void)0);
        float p[10] = { 0 }, g[10] = { 0 };
        int gid;
        SWEEP_M(mlcl_optim_add_group(o, p, g, 10, 1e-3f, 0.0f, &gid));
        int ng; ck_assert_ok(mlcl_optim_num_groups(o, &ng)); ck_assert_int_eq(ng, 1);
        ck_assert_ok(mlcl_optim_step(o));
        mlcl_optim_free(o);
    }
    {
        mlcl_batcher *b = NULL;
        SWEEP(mlcl_batcher_create(&b, AN, 8, 0, 1), (mlcl_batcher_free(b), b = NULL));
    }
    {
        mlcl_dataset *ds = NULL, *a = NULL, *b = NULL, *s = NULL;
        SWEEP(mlcl_dataset_create_from_arrays(&ds, AN, AD, AC, AX, AY), (void)0);
        int rows[3] = { 2, 0, 2 };
        SWEEP(mlcl_dataset_subset(&s, ds, rows, 3), (mlcl_dataset_free(s), s = NULL));
        SWEEP(mlcl_dataset_split(&a, &b, ds, 0.25f, 3), (mlcl_dataset_free(a), mlcl_dataset_free(b)));
        mlcl_dataset_free(ds);
    }
    {
        char path[1024];
        snprintf(path, sizeof path, "%s/yeast-test.arff.gz", test_data_dir());
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            /* the sparse and dense readers on small files */
            mlcl_dataset *ds = NULL;
            SWEEP(mlcl_dataset_load_arff(&ds, "tests/data/sparse.arff", 0, 0), (mlcl_dataset_free(ds), ds = NULL));
            SWEEP(mlcl_dataset_load_arff_sparse(&ds, "tests/data/sparse.arff", 0, 0), (mlcl_dataset_free(ds), ds = NULL));
            SWEEP(mlcl_dataset_load_arff(&ds, "tests/data/dense.arff", 0, 0), (mlcl_dataset_free(ds), ds = NULL));
            SWEEP(mlcl_dataset_load_libsvm(&ds, "tests/data/onebased.svm", 0, 0, MLCL_LIBSVM_INDEX_AUTO),
                  (mlcl_dataset_free(ds), ds = NULL));
            SWEEP(mlcl_dataset_load_libsvm_sparse(&ds, "tests/data/onebased.svm", 0, 0, MLCL_LIBSVM_INDEX_AUTO),
                  (mlcl_dataset_free(ds), ds = NULL));
            ck_assert_ok(mlcl_dataset_load_libsvm_sparse(&ds, "tests/data/onebased.svm", 0, 0, MLCL_LIBSVM_INDEX_AUTO));
            mlcl_dataset *sub = NULL;
            int rows[3] = { 1, 0, 1 };
            SWEEP(mlcl_dataset_subset(&sub, ds, rows, 3), (mlcl_dataset_free(sub), sub = NULL));
            mlcl_dataset_free(ds);
            ds = NULL;
        }
    }
    {
        float s[AN * AC];
        for (int i = 0; i < AN * AC; i++) s[i] = (float)((i * 7) % 10) / 10.0f;
        mlcl_metrics m = MLCL_METRICS_INIT;
        float bt[4];
        SWEEP(mlcl_metrics_sweep(&m, bt, AN, AC, s, AY), (void)0); /* no handle: strict */
    }
    ck_assert_int_eq(C.live, 0);
    ck_assert_ok(mlcl_set_allocator(NULL));
}
END_TEST

static void small_opts(mlcl_train_options *o)
{
    ck_assert_ok(mlcl_train_options_init(o, MLCL_TRAIN_OPTIONS_VERSION));
    o->batch = 8; o->seed = 9;
    test_moco_of(o)->o.n_hidden = 1; test_moco_of(o)->hidden[0] = 16; test_moco_of(o)->o.proj_dim = 8; test_moco_of(o)->o.queue_size = 16;
    test_moco_of(o)->o.max_batch = 8;
    o->pretrain_epochs = 1; o->finetune_epochs = 1; o->pretrain_T_0 = 1; o->finetune_T_0 = 1;
}

START_TEST(moco_and_trainer)
{
    fill();
    install();
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, AN, AD, AC, AX, AY));
    {
        mlcl_moco_options o;
        ck_assert_ok(mlcl_moco_options_init(&o, MLCL_MOCO_OPTIONS_VERSION));
        o.in_dim = AD; o.n_labels = AC; static const int w16[] = { 16 };
        o.n_hidden = 1; o.hidden = w16; o.proj_dim = 8;
        o.queue_size = 16; o.max_batch = 8;
        mlcl_moco *m = NULL;
        SWEEP(mlcl_moco_create(&m, &o), (void)0);
        /* a MoCo step: failures (if it allocates) must leave the pair usable */
        uint64_t y[8];
        ck_assert_ok(mlcl_labels_pack(y, AY, 8, AC));
        mlcl_loss_parts p = MLCL_LOSS_PARTS_INIT;
        SWEEP_M(mlcl_moco_step(m, 8, AX, AX + 8, y, &p));
        ck_assert_ok(mlcl_moco_step(m, 8, AX, AX + 8, y, &p));
        mlcl_moco_free(m);
    }
    mlcl_train_options o;
    small_opts(&o);
    mlcl_trainer *t = NULL;
    SWEEP(mlcl_trainer_create(&t, &o, ds), (void)0);
    /* one epoch of pretraining: after an injected failure the trainer must
     * still run to the same position (a failed step may have consumed its
     * batch, so the numbers need not equal the reference's) */
    mlcl_trainer *ref = NULL;
    ck_assert_ok(mlcl_trainer_create(&ref, &o, ds));
    int done;
    ck_assert_ok(mlcl_trainer_run_epochs(ref, 1, &done));
    for (long k = 0;; k++) {
        arm(k);
        int rc = mlcl_trainer_run_epochs(t, 1, &done);
        disarm();
        if (rc == MLCL_OK) break;
        ck_assert_msg(rc == MLCL_ENOMEM, "training step with allocation %ld failing: %d %s", k, rc, mlcl_last_error());
        ck_assert_int_lt(k, 10000);
    }
    int p1, e1, p2, e2;
    ck_assert_ok(mlcl_trainer_position(t, &p1, &e1));
    ck_assert_ok(mlcl_trainer_position(ref, &p2, &e2));
    ck_assert_int_eq(p1, p2); ck_assert_int_eq(e1, e2);
    float s1[4 * AC], s2[4 * AC];
    mlcl_metrics m1 = MLCL_METRICS_INIT, m2 = MLCL_METRICS_INIT;
    SWEEP_M(mlcl_trainer_evaluate(t, ds, &m1, NULL));
    ck_assert_ok(mlcl_trainer_evaluate(ref, ds, &m2, NULL));
    ck_assert_ok(mlcl_trainer_distributions(t, 4, AX, s1));
    for (int i = 0; i < 4 * AC; i++) ck_assert(isfinite(s1[i]));
    ck_assert(isfinite(m1.HA) && isfinite(m2.HA));
    /* save and load: the loaded trainer computes exactly what the saved one does */
    char path[256];
    snprintf(path, sizeof path, "/tmp/mlcl_alloc_%d.ckpt", (int)getpid());
    SWEEP_M(mlcl_trainer_save(t, path));
    SWEEP_M(mlcl_trainer_load(ref, path));
    ck_assert_ok(mlcl_trainer_distributions(ref, 4, AX, s2));
    ck_assert_mem_eq(s1, s2, sizeof s1);
    remove(path);
    ck_assert_ok(mlcl_trainer_run(t));
    mlcl_trainer_free(t);
    mlcl_trainer_free(ref);
    mlcl_dataset_free(ds);
    ck_assert_int_eq(C.live, 0);
    ck_assert_ok(mlcl_set_allocator(NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("enomem");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, create_functions);
    tcase_add_test(tc, moco_and_trainer);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
