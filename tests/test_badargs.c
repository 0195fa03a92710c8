/* Table-driven bad-argument suite: every exported function is called with
 * NULL pointers, zero/negative sizes, size products that overflow, mismatched
 * widths, labels outside {0,1} and NaN/Inf; each call must return an error
 * status whose message names the argument, and never crash.
 *
 * The table is checked against the exported API: every `MLCL_API` function
 * declared in include/mlcl/ headers and (when present) every mlcl_* symbol of
 * lib/libmlcl.so.1 (or $MLCL_BADARGS_SHLIB) must have an entry. */
#include "testutil.h"
#include "queue_get.h"
#include "mlcl/comm.h"
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#define BAD(expr, st, needle) ck_assert_status_msg(expr, st, needle)
#define EINV MLCL_EINVAL
#define UNDER_VALGRIND (getenv("MLCL_VALGRIND") != NULL) /* set by make check-valgrind */

/* ------------------------------------------------------------- fixtures */
enum { FN = 4, FD = 5, FC = 3, FM = 4, FK = 8 };

static float X[64 * FD];   /* finite inputs */
static float XNAN[64 * FD];
static uint8_t Y01[64 * FC];
static uint64_t YP[64];
static float OUT[4096];
static char TMPDIR_[256];

static void fill_fixtures(void)
{
    for (int i = 0; i < 64 * FD; i++) { X[i] = (float)((i * 7) % 11) / 11.0f - 0.4f; XNAN[i] = X[i]; }
    XNAN[3] = NAN;
    for (int i = 0; i < 64; i++) {
        for (int j = 0; j < FC; j++) Y01[i * FC + j] = (uint8_t)(((i + j) % 2) == 0);
        Y01[i * FC + (i % FC)] = 1;
        YP[i] = 0;
        for (int j = 0; j < FC; j++) if (Y01[i * FC + j]) YP[i] |= 1ull << j;
    }
}

static mlcl_dataset *mk_dataset(int n)
{
    mlcl_dataset *ds = NULL;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, n, FD, FC, X, Y01));
    return ds;
}

static mlcl_queue *mk_queue(int m)
{
    mlcl_queue_options o = MLCL_QUEUE_OPTIONS_INIT;
    o.capacity = FK; o.feat_dim = m; o.n_labels = FC;
    mlcl_queue *q = NULL;
    ck_assert_ok(mlcl_queue_create(&q, &o));
    return q;
}

static mlcl_loss *mk_loss(void)
{
    mlcl_loss *L = NULL;
    ck_assert_ok(mlcl_loss_create(&L, FN, FK, FM, FC, NULL));
    return L;
}

static mlcl_encoder *mk_encoder(void)
{
    mlcl_encoder *e = NULL;
    ck_assert_ok(mlcl_encoder_create(&e, FD, NULL));
    ck_assert_ok(mlcl_encoder_add_linear(e, FM, 1));
    ck_assert_ok(mlcl_encoder_add_batchnorm(e, 1e-5f, 0.1f));
    return e;
}

static void small_moco_opts(mlcl_moco_options *o)
{
    ck_assert_ok(mlcl_moco_options_init(o, MLCL_MOCO_OPTIONS_VERSION));
    static const int w8[] = { 8 };
    o->in_dim = FD; o->n_labels = FC; o->n_hidden = 1; o->hidden = w8;
    o->proj_dim = FM; o->queue_size = FK; o->max_batch = 8;
}

static mlcl_moco *mk_moco(void)
{
    mlcl_moco_options o;
    small_moco_opts(&o);
    mlcl_moco *m = NULL;
    ck_assert_ok(mlcl_moco_create(&m, &o));
    return m;
}

static void small_train_opts(mlcl_train_options *o)
{
    ck_assert_ok(mlcl_train_options_init(o, MLCL_TRAIN_OPTIONS_VERSION));
    o->batch = 8; o->seed = 3;
    test_moco_of(o)->o.n_hidden = 1; test_moco_of(o)->hidden[0] = 8; test_moco_of(o)->o.proj_dim = FM; test_moco_of(o)->o.queue_size = FK;
    test_moco_of(o)->o.max_batch = 8;
    o->pretrain_epochs = 1; o->finetune_epochs = 1;
    o->pretrain_T_0 = 1; o->finetune_T_0 = 1;
}

static mlcl_trainer *mk_trainer(mlcl_dataset *ds)
{
    mlcl_train_options o;
    small_train_opts(&o);
    mlcl_trainer *t = NULL;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    return t;
}

static const char *tmpfile_path(const char *name, const char *content, size_t len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", TMPDIR_, name);
    if (content) {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        fwrite(content, 1, len, f);
        fclose(f);
    }
    return path;
}

static const char *NOFILE = "/nonexistent-dir-mlcl/none.dat";

/* ------------------------------------------------------------- core */
static void t_status_str(void)
{
    ck_assert_str_eq(mlcl_status_str(12345), "unknown status");
    ck_assert_str_eq(mlcl_status_str(INT_MIN), "unknown status");
}
static void t_last_error(void)
{
    mlcl_clear_error();
    ck_assert_str_eq(mlcl_last_error(), "");
    BAD(mlcl_set_num_threads(0), EINV, "n must be");
    ck_assert(strlen(mlcl_last_error()) > 0);
}
static void t_clear_error(void)
{
    BAD(mlcl_set_num_threads(-3), EINV, "n must be");
    mlcl_clear_error();
    ck_assert_str_eq(mlcl_last_error(), "");
}
static void t_version_number(void) { ck_assert_uint_eq(mlcl_version_number(), MLCL_VERSION_NUMBER); }
static void t_version_string(void) { ck_assert_ptr_nonnull(mlcl_version_string()); }
static void *dummy_alloc(size_t n, void *c) { (void)c; return malloc(n); }
static void free_wrapper_dummy(void *p, void *c) { (void)c; free(p); }
static void t_set_allocator(void)
{
    mlcl_allocator a = { MLCL_ALLOCATOR_VERSION, dummy_alloc, NULL, NULL };
    BAD(mlcl_set_allocator(&a), EINV, "allocator->free");
    mlcl_allocator b = { MLCL_ALLOCATOR_VERSION, NULL, free_wrapper_dummy, NULL };
    BAD(mlcl_set_allocator(&b), EINV, "allocator->alloc");
    ck_assert_ok(mlcl_set_allocator(NULL));
    mlcl_allocator v = MLCL_ALLOCATOR_INIT;
    v.version = 9;
    BAD(mlcl_set_allocator(&v), MLCL_EVERSION, "mlcl_set_allocator");
}
static void t_allocator_init(void)
{
    mlcl_allocator a;
    BAD(mlcl_allocator_init(NULL, MLCL_ALLOCATOR_VERSION), EINV, "allocator is NULL");
    BAD(mlcl_allocator_init(&a, 7), MLCL_EVERSION, "version 7");
}
static void t_loader_batch_init(void)
{
    mlcl_loader_batch b;
    BAD(mlcl_loader_batch_init(NULL, MLCL_LOADER_BATCH_VERSION), EINV, "batch is NULL");
    BAD(mlcl_loader_batch_init(&b, 7), MLCL_EVERSION, "version 7");
}
static void t_loader_stats_init(void)
{
    mlcl_loader_stats s;
    BAD(mlcl_loader_stats_init(NULL, MLCL_LOADER_STATS_VERSION), EINV, "stats is NULL");
    BAD(mlcl_loader_stats_init(&s, 7), MLCL_EVERSION, "version 7");
}
static void t_set_num_threads(void)
{
    BAD(mlcl_set_num_threads(0), EINV, "n must be");
    BAD(mlcl_set_num_threads(INT_MIN), EINV, "n must be");
}
static void t_rng_create(void) { BAD(mlcl_rng_create(NULL, 1), EINV, "out is NULL"); }
static void t_rng_free(void) { mlcl_rng_free(NULL); }
static void t_rng_seed(void) { BAD(mlcl_rng_seed(NULL, 1), EINV, "rng is NULL"); }
static void t_rng_u32(void)
{
    mlcl_rng *r; ck_assert_ok(mlcl_rng_create(&r, 1));
    uint32_t u[2];
    BAD(mlcl_rng_u32(NULL, u, 2), EINV, "rng is NULL");
    BAD(mlcl_rng_u32(r, NULL, 2), EINV, "out is NULL");
    mlcl_rng_free(r);
}
static void t_rng_uniform(void)
{
    mlcl_rng *r; ck_assert_ok(mlcl_rng_create(&r, 1));
    BAD(mlcl_rng_uniform(NULL, OUT, 2), EINV, "rng is NULL");
    BAD(mlcl_rng_uniform(r, NULL, 2), EINV, "out is NULL");
    mlcl_rng_free(r);
}
static void t_rng_normal(void)
{
    mlcl_rng *r; ck_assert_ok(mlcl_rng_create(&r, 1));
    BAD(mlcl_rng_normal(NULL, OUT, 2, 1.0f), EINV, "rng is NULL");
    BAD(mlcl_rng_normal(r, NULL, 2, 1.0f), EINV, "out is NULL");
    BAD(mlcl_rng_normal(r, OUT, 2, NAN), EINV, "stddev");
    BAD(mlcl_rng_normal(r, OUT, 2, INFINITY), EINV, "stddev");
    mlcl_rng_free(r);
}
static void t_rng_get_state(void)
{
    mlcl_rng *r; ck_assert_ok(mlcl_rng_create(&r, 1));
    uint64_t s[2];
    BAD(mlcl_rng_get_state(NULL, s), EINV, "rng is NULL");
    BAD(mlcl_rng_get_state(r, NULL), EINV, "state is NULL");
    mlcl_rng_free(r);
}
static void t_rng_set_state(void)
{
    mlcl_rng *r; ck_assert_ok(mlcl_rng_create(&r, 1));
    uint64_t s[2] = { 1, 2 };
    BAD(mlcl_rng_set_state(NULL, s), EINV, "rng is NULL");
    BAD(mlcl_rng_set_state(r, NULL), EINV, "state is NULL");
    BAD(mlcl_rng_set_state(r, s), EINV, "state[1]");
    mlcl_rng_free(r);
}

/* ------------------------------------------------------------- data */
static void t_dataset_load_arff(void)
{
    mlcl_dataset *ds = NULL;
    const char *p = tmpfile_path("ok.arff", "@relation 'r: -C 1'\n@attribute a {0,1}\n@attribute b numeric\n@data\n1,2\n", 63);
    BAD(mlcl_dataset_load_arff(NULL, p, 0, 0), EINV, "out is NULL");
    BAD(mlcl_dataset_load_arff(&ds, NULL, 0, 0), EINV, "path is NULL");
    BAD(mlcl_dataset_load_arff(&ds, p, -1, 0), EINV, "n_labels");
    BAD(mlcl_dataset_load_arff(&ds, p, 2, 0), MLCL_EFORMAT, "ok.arff");
    BAD(mlcl_dataset_load_arff(&ds, NOFILE, 0, 0), MLCL_EIO, NOFILE);
    const char *q = tmpfile_path("lab2.arff", "@relation 'r: -C 1'\n@attribute a numeric\n@attribute b numeric\n@data\n2,2\n", 69);
    BAD(mlcl_dataset_load_arff(&ds, q, 0, 0), MLCL_EFORMAT, "line 5");
    const char *r = tmpfile_path("nan.arff", "@relation 'r: -C 1'\n@attribute a numeric\n@attribute b numeric\n@data\n1,nan\n", 71);
    BAD(mlcl_dataset_load_arff(&ds, r, 0, 0), MLCL_EFORMAT, "line 5");
    ck_assert_ptr_null(ds);
}
static void t_dataset_load_libsvm(void)
{
    mlcl_dataset *ds = NULL;
    const char *p = tmpfile_path("ok.svm", "0,1 1:0.5 2:1\n1 1:2\n", 20);
    BAD(mlcl_dataset_load_libsvm(NULL, p, 0, 0, 1), EINV, "out is NULL");
    BAD(mlcl_dataset_load_libsvm(&ds, NULL, 0, 0, 1), EINV, "path is NULL");
    BAD(mlcl_dataset_load_libsvm(&ds, p, -1, 0, 1), EINV, "n_features");
    BAD(mlcl_dataset_load_libsvm(&ds, p, 0, -1, 1), EINV, "n_labels");
    BAD(mlcl_dataset_load_libsvm(&ds, p, 0, 0, 2), EINV, "index_base");
    BAD(mlcl_dataset_load_libsvm(&ds, NOFILE, 0, 0, 1), MLCL_EIO, NOFILE);
    BAD(mlcl_dataset_load_libsvm(&ds, p, 1, 0, 1), MLCL_EFORMAT, "ok.svm");
    const char *q = tmpfile_path("inf.svm", "0 1:inf\n", 8);
    BAD(mlcl_dataset_load_libsvm(&ds, q, 0, 0, 1), MLCL_EFORMAT, "line 1");
    ck_assert_ptr_null(ds);
}
static void t_dataset_load_arff_sparse(void)
{
    mlcl_dataset *ds = NULL;
    const char *p = tmpfile_path("ok.arff", "@relation 'r: -C 1'\n@attribute a {0,1}\n@attribute b numeric\n@data\n1,2\n", 63);
    BAD(mlcl_dataset_load_arff_sparse(NULL, p, 0, 0), EINV, "out is NULL");
    BAD(mlcl_dataset_load_arff_sparse(&ds, NULL, 0, 0), EINV, "path is NULL");
    BAD(mlcl_dataset_load_arff_sparse(&ds, p, -1, 0), EINV, "n_labels");
    BAD(mlcl_dataset_load_arff_sparse(&ds, p, 2, 0), MLCL_EFORMAT, "ok.arff");
    BAD(mlcl_dataset_load_arff_sparse(&ds, NOFILE, 0, 0), MLCL_EIO, NOFILE);
    const char *r = tmpfile_path("nan.arff", "@relation 'r: -C 1'\n@attribute a numeric\n@attribute b numeric\n@data\n1,nan\n", 71);
    BAD(mlcl_dataset_load_arff_sparse(&ds, r, 0, 0), MLCL_EFORMAT, "line 5");
    ck_assert_ptr_null(ds);
}
static void t_dataset_load_libsvm_sparse(void)
{
    mlcl_dataset *ds = NULL;
    const char *p = tmpfile_path("ok.svm", "0,1 1:0.5 2:1\n1 1:2\n", 20);
    BAD(mlcl_dataset_load_libsvm_sparse(NULL, p, 0, 0, 1), EINV, "out is NULL");
    BAD(mlcl_dataset_load_libsvm_sparse(&ds, NULL, 0, 0, 1), EINV, "path is NULL");
    BAD(mlcl_dataset_load_libsvm_sparse(&ds, p, -1, 0, 1), EINV, "n_features");
    BAD(mlcl_dataset_load_libsvm_sparse(&ds, p, 0, -1, 1), EINV, "n_labels");
    BAD(mlcl_dataset_load_libsvm_sparse(&ds, p, 0, 0, 2), EINV, "index_base");
    BAD(mlcl_dataset_load_libsvm_sparse(&ds, NOFILE, 0, 0, 1), MLCL_EIO, NOFILE);
    BAD(mlcl_dataset_load_libsvm_sparse(&ds, p, 1, 0, 1), MLCL_EFORMAT, "ok.svm");
    const char *q = tmpfile_path("inf.svm", "0 1:inf\n", 8);
    BAD(mlcl_dataset_load_libsvm_sparse(&ds, q, 0, 0, 1), MLCL_EFORMAT, "line 1");
    ck_assert_ptr_null(ds);
}
static void t_dataset_create_csr(void)
{
    mlcl_dataset *ds = NULL;
    int64_t ptr[3] = { 0, 1, 2 }, bad_ptr[3] = { 1, 1, 2 };
    int col[2] = { 0, 4 }, col_bad[2] = { 0, FD };
    float val[2] = { 1, 2 }, val_nan[2] = { NAN, 2 };
    uint8_t y[2 * FC] = { 1, 0, 0, 0, 1, 0 };
    BAD(mlcl_dataset_create_csr(NULL, 2, FD, FC, ptr, col, val, y), EINV, "out is NULL");
    BAD(mlcl_dataset_create_csr(&ds, 0, FD, FC, ptr, col, val, y), EINV, "n");
    BAD(mlcl_dataset_create_csr(&ds, 2, 0, FC, ptr, col, val, y), EINV, "d");
    BAD(mlcl_dataset_create_csr(&ds, 2, FD, 0, ptr, col, val, y), EINV, "c");
    BAD(mlcl_dataset_create_csr(&ds, 2, FD, FC, NULL, col, val, y), EINV, "row_ptr is NULL");
    BAD(mlcl_dataset_create_csr(&ds, 2, FD, FC, ptr, NULL, val, y), EINV, "cols is NULL");
    BAD(mlcl_dataset_create_csr(&ds, 2, FD, FC, ptr, col, NULL, y), EINV, "vals is NULL");
    BAD(mlcl_dataset_create_csr(&ds, 2, FD, FC, ptr, col, val, NULL), EINV, "y is NULL");
    BAD(mlcl_dataset_create_csr(&ds, 2, FD, FC, bad_ptr, col, val, y), EINV, "row_ptr[0]");
    BAD(mlcl_dataset_create_csr(&ds, 2, FD, FC, ptr, col_bad, val, y), EINV, "cols[1]");
    BAD(mlcl_dataset_create_csr(&ds, 2, FD, FC, ptr, col, val_nan, y), MLCL_ENUMERIC, "vals[0]");
    ck_assert_ptr_null(ds);
}
static void t_dataset_is_sparse(void)
{
    mlcl_dataset *ds = mk_dataset(2);
    int s = -1;
    BAD(mlcl_dataset_is_sparse(NULL, &s), EINV, "ds is NULL");
    BAD(mlcl_dataset_is_sparse(ds, NULL), EINV, "sparse is NULL");
    ck_assert_ok(mlcl_dataset_is_sparse(ds, &s));
    ck_assert_int_eq(s, 0);
    mlcl_dataset_free(ds);
}
static void t_dataset_csr(void)
{
    mlcl_dataset *ds = mk_dataset(2);
    BAD(mlcl_dataset_csr(NULL, NULL, NULL, NULL, NULL), EINV, "ds is NULL");
    BAD(mlcl_dataset_csr(ds, NULL, NULL, NULL, NULL), EINV, "dense");
    mlcl_dataset_free(ds);
}
static void t_idx_load(void)
{
    uint8_t *data = NULL; int nd = 0, dims[MLCL_IDX_MAX_DIMS];
    const char ok[] = { 0, 0, 8, 1, 0, 0, 0, 2, 7, 9 };
    const char *p = tmpfile_path("ok.idx", ok, sizeof ok);
    BAD(mlcl_idx_load(NULL, &nd, dims, p), EINV, "data is NULL");
    BAD(mlcl_idx_load(&data, NULL, dims, p), EINV, "ndim is NULL");
    BAD(mlcl_idx_load(&data, &nd, NULL, p), EINV, "dims is NULL");
    BAD(mlcl_idx_load(&data, &nd, dims, NULL), EINV, "path is NULL");
    BAD(mlcl_idx_load(&data, &nd, dims, NOFILE), MLCL_EIO, NOFILE);
    const char big[] = { 0, 0, 8, 3, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 1 };
    const char *q = tmpfile_path("big.idx", big, sizeof big);
    mlcl_clear_error();
    int rc = mlcl_idx_load(&data, &nd, dims, q);
    ck_assert_msg(rc == MLCL_EOVERFLOW || rc == MLCL_EFORMAT, "big.idx: %d %s", rc, mlcl_last_error());
    ck_assert_ptr_nonnull(strstr(mlcl_last_error(), "big.idx"));
    ck_assert_ptr_null(data);
}
static void t_idx_free(void) { mlcl_idx_free(NULL); }
static void t_dataset_load_idx(void)
{
    mlcl_dataset *ds = NULL;
    const char im[] = { 0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 5 };
    const char lb[] = { 0, 0, 8, 1, 0, 0, 0, 1, 7 };
    char pi[512], pl[512];
    snprintf(pi, sizeof pi, "%s", tmpfile_path("im.idx", im, sizeof im));
    snprintf(pl, sizeof pl, "%s", tmpfile_path("lb.idx", lb, sizeof lb));
    BAD(mlcl_dataset_load_idx(NULL, pi, pl, 10), EINV, "out is NULL");
    BAD(mlcl_dataset_load_idx(&ds, NULL, pl, 10), EINV, "images_path is NULL");
    BAD(mlcl_dataset_load_idx(&ds, pi, NULL, 10), EINV, "labels_path is NULL");
    BAD(mlcl_dataset_load_idx(&ds, pi, pl, 0), EINV, "n_classes");
    BAD(mlcl_dataset_load_idx(&ds, pi, pl, 5), MLCL_EFORMAT, "lb.idx");
    BAD(mlcl_dataset_load_idx(&ds, pi, pi, 10), MLCL_EFORMAT, "im.idx");
    ck_assert_ptr_null(ds);
    ck_assert_ok(mlcl_dataset_load_idx(&ds, pi, pl, 10));
    mlcl_dataset_free(ds);
}
static void t_dataset_set_image_shape(void)
{
    mlcl_dataset *ds = mk_dataset(2);
    BAD(mlcl_dataset_set_image_shape(NULL, 1, 1, FD), EINV, "ds is NULL");
    BAD(mlcl_dataset_set_image_shape(ds, -1, 1, FD), EINV, "channels");
    BAD(mlcl_dataset_set_image_shape(ds, 1, 0, FD), EINV, "height");
    BAD(mlcl_dataset_set_image_shape(ds, 1, 1, FD + 1), EINV, "features");
    mlcl_dataset_free(ds);
}
static void t_dataset_set_label_names(void)
{
    mlcl_dataset *ds = mk_dataset(2);
    const char *names[FC + 1] = { 0 };
    BAD(mlcl_dataset_set_label_names(NULL, 0, NULL), EINV, "ds is NULL");
    BAD(mlcl_dataset_set_label_names(ds, 1, NULL), EINV, "names is NULL");
    BAD(mlcl_dataset_set_label_names(ds, FC + 1, names), EINV, "count");
    BAD(mlcl_dataset_set_label_names(ds, FC, names), EINV, "names[0] is NULL");
    mlcl_dataset_free(ds);
}
static void t_dataset_create_from_arrays(void)
{
    mlcl_dataset *ds = NULL;
    BAD(mlcl_dataset_create_from_arrays(NULL, 2, FD, FC, X, Y01), EINV, "out is NULL");
    BAD(mlcl_dataset_create_from_arrays(&ds, 0, FD, FC, X, Y01), EINV, "n must be");
    BAD(mlcl_dataset_create_from_arrays(&ds, 2, -1, FC, X, Y01), EINV, "d must be");
    BAD(mlcl_dataset_create_from_arrays(&ds, 2, FD, 0, X, Y01), EINV, "c must be");
    BAD(mlcl_dataset_create_from_arrays(&ds, 2, FD, FC, NULL, Y01), EINV, "x is NULL");
    BAD(mlcl_dataset_create_from_arrays(&ds, 2, FD, FC, X, NULL), EINV, "y is NULL");
    BAD(mlcl_dataset_create_from_arrays(&ds, 2, FD, FC, XNAN, Y01), MLCL_ENUMERIC, "x[0][3]");
    uint8_t y2[2 * FC] = { 1, 0, 0, 0, 2, 1 };
    BAD(mlcl_dataset_create_from_arrays(&ds, 2, FD, FC, X, y2), EINV, "y[1][1]");
    if (!UNDER_VALGRIND) { /* memcheck counts a request of ~2^64 bytes as an error */
        mlcl_clear_error();
        int rc = mlcl_dataset_create_from_arrays(&ds, INT_MAX, INT_MAX, INT_MAX, X, Y01);
        ck_assert_msg(rc == MLCL_EOVERFLOW || rc == MLCL_ENOMEM, "huge: %d %s", rc, mlcl_last_error());
    }
    ck_assert_ptr_null(ds);
}
static void t_dataset_subset(void)
{
    mlcl_dataset *ds = mk_dataset(4), *s = NULL;
    int rows[2] = { 0, 4 };
    BAD(mlcl_dataset_subset(NULL, ds, rows, 1), EINV, "out is NULL");
    BAD(mlcl_dataset_subset(&s, NULL, rows, 1), EINV, "ds is NULL");
    BAD(mlcl_dataset_subset(&s, ds, NULL, 1), EINV, "rows is NULL");
    BAD(mlcl_dataset_subset(&s, ds, rows, 0), EINV, "k must be");
    BAD(mlcl_dataset_subset(&s, ds, rows, 2), EINV, "rows[1]");
    ck_assert_ptr_null(s);
    mlcl_dataset_free(ds);
}
static void t_dataset_split(void)
{
    mlcl_dataset *ds = mk_dataset(4), *a = NULL, *b = NULL;
    BAD(mlcl_dataset_split(NULL, &b, ds, 0.5f, 1), EINV, "a is NULL");
    BAD(mlcl_dataset_split(&a, NULL, ds, 0.5f, 1), EINV, "b is NULL");
    BAD(mlcl_dataset_split(&a, &b, NULL, 0.5f, 1), EINV, "ds is NULL");
    BAD(mlcl_dataset_split(&a, &b, ds, 0.0f, 1), EINV, "frac_b");
    BAD(mlcl_dataset_split(&a, &b, ds, 1.0f, 1), EINV, "frac_b");
    BAD(mlcl_dataset_split(&a, &b, ds, NAN, 1), EINV, "frac_b");
    BAD(mlcl_dataset_split(&a, &b, ds, 0.01f, 1), EINV, "frac_b");
    ck_assert_ptr_null(a); ck_assert_ptr_null(b);
    mlcl_dataset_free(ds);
}
static void t_dataset_free(void) { mlcl_dataset_free(NULL); }
static void t_dataset_dims(void) { int n; BAD(mlcl_dataset_dims(NULL, &n, NULL, NULL), EINV, "ds is NULL"); }
static void t_dataset_image_shape(void) { int h; BAD(mlcl_dataset_image_shape(NULL, NULL, &h, NULL), EINV, "ds is NULL"); }
static void t_dataset_features(void) { ck_assert_ptr_null(mlcl_dataset_features(NULL)); }
static void t_dataset_labels(void) { ck_assert_ptr_null(mlcl_dataset_labels(NULL)); }
static void t_dataset_labels_packed(void) { ck_assert_ptr_null(mlcl_dataset_labels_packed(NULL)); }
static void t_dataset_feature_name(void)
{
    mlcl_dataset *ds = mk_dataset(2);
    const char *nm = "x";
    BAD(mlcl_dataset_feature_name(NULL, 0, &nm), EINV, "ds is NULL");
    BAD(mlcl_dataset_feature_name(ds, 0, NULL), EINV, "name is NULL");
    BAD(mlcl_dataset_feature_name(ds, -1, &nm), EINV, "j = -1");
    BAD(mlcl_dataset_feature_name(ds, FD, &nm), EINV, "out of range");
    BAD(mlcl_dataset_feature_name(ds, INT_MAX, &nm), EINV, "out of range");
    ck_assert_ptr_null(nm);
    ck_assert_ok(mlcl_dataset_feature_name(ds, 0, &nm));
    ck_assert_ptr_null(nm); /* unnamed */
    mlcl_dataset_free(ds);
}
static void t_dataset_label_name(void)
{
    mlcl_dataset *ds = mk_dataset(2);
    const char *nm = "x";
    BAD(mlcl_dataset_label_name(NULL, 0, &nm), EINV, "ds is NULL");
    BAD(mlcl_dataset_label_name(ds, 0, NULL), EINV, "name is NULL");
    BAD(mlcl_dataset_label_name(ds, -1, &nm), EINV, "j = -1");
    BAD(mlcl_dataset_label_name(ds, FC, &nm), EINV, "out of range");
    ck_assert_ptr_null(nm);
    mlcl_dataset_free(ds);
}
static void t_dataset_gather(void)
{
    mlcl_dataset *ds = mk_dataset(4);
    int rows[2] = { 1, -1 };
    BAD(mlcl_dataset_gather(OUT, NULL, NULL, NULL, rows, 1), EINV, "ds is NULL");
    BAD(mlcl_dataset_gather(OUT, NULL, NULL, ds, NULL, 1), EINV, "rows is NULL");
    BAD(mlcl_dataset_gather(OUT, NULL, NULL, ds, rows, -1), EINV, "k must be");
    BAD(mlcl_dataset_gather(OUT, NULL, NULL, ds, rows, 2), EINV, "rows[1]");
    mlcl_dataset_free(ds);
}
static void t_dataset_standardize_stats(void)
{
    mlcl_dataset *ds = mk_dataset(4);
    float m[FD], s[FD];
    BAD(mlcl_dataset_standardize_stats(m, s, NULL), EINV, "ds is NULL");
    BAD(mlcl_dataset_standardize_stats(NULL, s, ds), EINV, "mean is NULL");
    BAD(mlcl_dataset_standardize_stats(m, NULL, ds), EINV, "std is NULL");
    mlcl_dataset_free(ds);
}
static void t_dataset_standardize_apply(void)
{
    mlcl_dataset *ds = mk_dataset(4);
    float m[FD] = { 0 }, s[FD] = { 1, 1, 1, 1, 1 };
    BAD(mlcl_dataset_standardize_apply(NULL, m, s), EINV, "ds is NULL");
    BAD(mlcl_dataset_standardize_apply(ds, NULL, s), EINV, "mean is NULL");
    BAD(mlcl_dataset_standardize_apply(ds, m, NULL), EINV, "std is NULL");
    m[2] = NAN;
    BAD(mlcl_dataset_standardize_apply(ds, m, s), EINV, "mean[2]");
    m[2] = 0; s[4] = 0;
    BAD(mlcl_dataset_standardize_apply(ds, m, s), EINV, "std[4]");
    s[4] = INFINITY;
    BAD(mlcl_dataset_standardize_apply(ds, m, s), EINV, "std[4]");
    ck_assert_mem_eq(mlcl_dataset_features(ds), X, sizeof(float) * 4 * FD);
    mlcl_dataset_free(ds);
}
static void t_batcher_create(void)
{
    mlcl_batcher *b = NULL;
    BAD(mlcl_batcher_create(NULL, 10, 2, 0, 1), EINV, "out is NULL");
    BAD(mlcl_batcher_create(&b, 0, 2, 0, 1), EINV, "n_rows");
    BAD(mlcl_batcher_create(&b, 10, 0, 0, 1), EINV, "batch_size");
    BAD(mlcl_batcher_create(&b, 10, -2, 0, 1), EINV, "batch_size");
    BAD(mlcl_batcher_create(&b, 10, 11, 1, 1), EINV, "batch_size");
    ck_assert_ptr_null(b);
}
static void t_batcher_free(void) { mlcl_batcher_free(NULL); }
static void t_batcher_next(void)
{
    mlcl_batcher *b; ck_assert_ok(mlcl_batcher_create(&b, 10, 3, 0, 1));
    const int *rows; int k;
    BAD(mlcl_batcher_next(NULL, &rows, &k), EINV, "b is NULL");
    BAD(mlcl_batcher_next(b, NULL, &k), EINV, "rows is NULL");
    BAD(mlcl_batcher_next(b, &rows, NULL), EINV, "count is NULL");
    mlcl_batcher_free(b);
}
static void t_batcher_epoch(void)
{
    int e = 0;
    mlcl_batcher *b = NULL;
    ck_assert_ok(mlcl_batcher_create(&b, 4, 2, 0, 1));
    BAD(mlcl_batcher_epoch(NULL, &e), EINV, "b is NULL");
    BAD(mlcl_batcher_epoch(b, NULL), EINV, "epoch is NULL");
    mlcl_batcher_free(b);
}
static void t_batcher_batches_per_epoch(void)
{
    int k = 0;
    mlcl_batcher *b = NULL;
    ck_assert_ok(mlcl_batcher_create(&b, 4, 2, 0, 1));
    BAD(mlcl_batcher_batches_per_epoch(NULL, &k), EINV, "b is NULL");
    BAD(mlcl_batcher_batches_per_epoch(b, NULL), EINV, "batches is NULL");
    mlcl_batcher_free(b);
}
static void t_batcher_get_state(void)
{
    mlcl_batcher *b; ck_assert_ok(mlcl_batcher_create(&b, 10, 3, 0, 1));
    uint64_t s[MLCL_BATCHER_STATE_WORDS];
    BAD(mlcl_batcher_get_state(NULL, s), EINV, "b is NULL");
    BAD(mlcl_batcher_get_state(b, NULL), EINV, "state is NULL");
    mlcl_batcher_free(b);
}
static void t_batcher_set_state(void)
{
    mlcl_batcher *b, *b2; ck_assert_ok(mlcl_batcher_create(&b, 10, 3, 0, 1));
    ck_assert_ok(mlcl_batcher_create(&b2, 12, 3, 0, 1));
    uint64_t s[MLCL_BATCHER_STATE_WORDS];
    BAD(mlcl_batcher_set_state(NULL, s), EINV, "b is NULL");
    BAD(mlcl_batcher_set_state(b, NULL), EINV, "state is NULL");
    ck_assert_ok(mlcl_batcher_get_state(b2, s));
    BAD(mlcl_batcher_set_state(b, s), EINV, "state");
    ck_assert_ok(mlcl_batcher_get_state(b, s));
    for (int i = 0; i < MLCL_BATCHER_STATE_WORDS; i++) {
        uint64_t c[MLCL_BATCHER_STATE_WORDS];
        memcpy(c, s, sizeof c);
        c[i] = ~c[i];
        mlcl_clear_error();
        int rc = mlcl_batcher_set_state(b, c);
        if (rc == MLCL_OK) { /* accepted: it must still produce valid rows */
            const int *rows; int k;
            for (int t = 0; t < 8; t++) {
                ck_assert_ok(mlcl_batcher_next(b, &rows, &k));
                for (int j = 0; j < k; j++) ck_assert(rows[j] >= 0 && rows[j] < 10);
            }
        } else {
            ck_assert_int_eq(rc, EINV);
            ck_assert_ptr_nonnull(strstr(mlcl_last_error(), "state"));
        }
    }
    mlcl_batcher_free(b); mlcl_batcher_free(b2);
}
static void t_augment_mask(void)
{
    mlcl_rng *r; ck_assert_ok(mlcl_rng_create(&r, 1));
    BAD(mlcl_augment_mask(OUT, X, 2, FD, 0.5f, NULL), EINV, "rng is NULL");
    BAD(mlcl_augment_mask(OUT, NULL, 2, FD, 0.5f, r), EINV, "x is NULL");
    BAD(mlcl_augment_mask(NULL, X, 2, FD, 0.5f, r), EINV, "out is NULL");
    BAD(mlcl_augment_mask(OUT, X, -1, FD, 0.5f, r), EINV, "n and d");
    BAD(mlcl_augment_mask(OUT, X, 2, -1, 0.5f, r), EINV, "n and d");
    BAD(mlcl_augment_mask(OUT, X, 2, FD, 1.5f, r), EINV, "p");
    BAD(mlcl_augment_mask(OUT, X, 2, FD, NAN, r), EINV, "p");
    mlcl_rng_free(r);
}

/* ------------------------------------------------------------- image.h, npy */
static void t_simclr_options_init(void)
{
    mlcl_simclr_options o;
    BAD(mlcl_simclr_options_init(NULL, MLCL_SIMCLR_OPTIONS_VERSION), EINV, "o is NULL");
    BAD(mlcl_simclr_options_init(&o, 0), MLCL_EVERSION, "version");
}
static void t_image_simclr(void)
{
    mlcl_rng *r; ck_assert_ok(mlcl_rng_create(&r, 1));
    mlcl_simclr_options o = MLCL_SIMCLR_OPTIONS_INIT;
    BAD(mlcl_image_simclr(OUT, X, 2, 1, 4, FD, &o, NULL), EINV, "rng is NULL");
    BAD(mlcl_image_simclr(NULL, X, 2, 1, 4, FD, &o, r), EINV, "dst is NULL");
    BAD(mlcl_image_simclr(OUT, NULL, 2, 1, 4, FD, &o, r), EINV, "src is NULL");
    BAD(mlcl_image_simclr(OUT, X, -1, 1, 4, FD, &o, r), EINV, "n must be >= 0");
    BAD(mlcl_image_simclr(OUT, X, 2, 0, 4, FD, &o, r), EINV, "c must be > 0");
    BAD(mlcl_image_simclr(OUT, X, 2, 1, -4, FD, &o, r), EINV, "h must be > 0");
    BAD(mlcl_image_simclr(OUT, X, 2, 1, 4, 0, &o, r), EINV, "w must be > 0");
    BAD(mlcl_image_simclr(OUT, X, INT_MAX, INT_MAX, INT_MAX, FD, &o, r), MLCL_EOVERFLOW, "overflows");
    BAD(mlcl_image_simclr(OUT, XNAN, 2, 1, 4, FD, &o, r), MLCL_ENUMERIC, "src[3]");
    BAD(mlcl_image_simclr(X + 1, X, 2, 1, 4, FD, &o, r), EINV, "overlaps");
    o.flip_p = NAN;
    BAD(mlcl_image_simclr(OUT, X, 2, 1, 4, FD, &o, r), EINV, "o->flip_p");
    o.flip_p = 0.5f; o.blur_kernel = 2;
    BAD(mlcl_image_simclr(OUT, X, 2, 1, 4, FD, &o, r), EINV, "o->blur_kernel");
    o.blur_kernel = 0; o.version = 7;
    BAD(mlcl_image_simclr(OUT, X, 2, 1, 4, FD, &o, r), MLCL_EVERSION, "version");
    mlcl_rng_free(r);
}
static void t_image_resize(void)
{
    BAD(mlcl_image_resize(NULL, 2, 2, X, 2, 1, 4, FD), EINV, "dst is NULL");
    BAD(mlcl_image_resize(OUT, 2, 2, NULL, 2, 1, 4, FD), EINV, "src is NULL");
    BAD(mlcl_image_resize(OUT, 0, 2, X, 2, 1, 4, FD), EINV, "out_h");
    BAD(mlcl_image_resize(OUT, 2, -2, X, 2, 1, 4, FD), EINV, "out_w");
    BAD(mlcl_image_resize(OUT, 2, 2, X, -2, 1, 4, FD), EINV, "n must be >= 0");
    BAD(mlcl_image_resize(OUT, 2, 2, X, 2, 1, 4, 0), EINV, "w must be > 0");
    BAD(mlcl_image_resize(OUT, INT_MAX, INT_MAX, X, INT_MAX, 1, 4, FD), MLCL_EOVERFLOW, "overflows");
    BAD(mlcl_image_resize(OUT, 2, 2, XNAN, 2, 1, 4, FD), MLCL_ENUMERIC, "src[3]");
    BAD(mlcl_image_resize(X, 2, 2, X, 2, 1, 4, FD), EINV, "overlaps");
}
static const char NPY_OK[] = "\x93NUMPY\x01\x00\x3f\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }   \n"
                             "\x00\x00\x80\x3f\x00\x00\x00\x00";
static void t_npy_read(void)
{
    float *d = NULL; int nd; int64_t sh[MLCL_NPY_MAX_DIMS];
    const char *p = tmpfile_path("ok.npy", NPY_OK, sizeof NPY_OK - 1);
    ck_assert_ok(mlcl_npy_read(&d, &nd, sh, p, NULL, 0));
    ck_assert_int_eq(nd, 2); ck_assert_float_eq(d[0], 1.0f);
    mlcl_npy_free(d);
    BAD(mlcl_npy_read(NULL, &nd, sh, p, NULL, 0), EINV, "data is NULL");
    BAD(mlcl_npy_read(&d, NULL, sh, p, NULL, 0), EINV, "ndim is NULL");
    BAD(mlcl_npy_read(&d, &nd, NULL, p, NULL, 0), EINV, "shape is NULL");
    BAD(mlcl_npy_read(&d, &nd, sh, NULL, NULL, 0), EINV, "path is NULL");
    BAD(mlcl_npy_read(&d, &nd, sh, NOFILE, NULL, 0), MLCL_EIO, NOFILE);
    BAD(mlcl_npy_read(&d, &nd, sh, p, "x", 0), MLCL_EFORMAT, "not a zip archive");
    const char *q = tmpfile_path("cut.npy", NPY_OK, sizeof NPY_OK - 2);
    BAD(mlcl_npy_read(&d, &nd, sh, q, NULL, 0), MLCL_EFORMAT, "cut.npy");
    ck_assert_ptr_null(d);
}
static void t_npy_free(void) { mlcl_npy_free(NULL); }
static void t_dataset_load_npy(void)
{
    mlcl_dataset *ds = NULL;
    const char *p = tmpfile_path("ok.npy", NPY_OK, sizeof NPY_OK - 1);
    BAD(mlcl_dataset_load_npy(NULL, p, NULL, p, NULL, 0), EINV, "out is NULL");
    BAD(mlcl_dataset_load_npy(&ds, NULL, NULL, p, NULL, 0), EINV, "images_path is NULL");
    BAD(mlcl_dataset_load_npy(&ds, p, NULL, NULL, NULL, 0), EINV, "labels_path is NULL");
    BAD(mlcl_dataset_load_npy(&ds, NOFILE, NULL, p, NULL, 0), MLCL_EIO, NOFILE);
    BAD(mlcl_dataset_load_npy(&ds, p, "x", p, NULL, 0), MLCL_EFORMAT, "ok.npy");
    ck_assert_ok(mlcl_dataset_load_npy(&ds, p, NULL, p, NULL, 0));
    mlcl_dataset_free(ds);
    ds = NULL;
}

/* ------------------------------------------------------------- nn */
static void t_encoder_options_init(void)
{
    mlcl_encoder_options o;
    BAD(mlcl_encoder_options_init(NULL, MLCL_ENCODER_OPTIONS_VERSION), EINV, "opts is NULL");
    BAD(mlcl_encoder_options_init(&o, 999), MLCL_EVERSION, "version");
}
static void t_mlp_spec_init(void)
{
    mlcl_mlp_spec s;
    BAD(mlcl_mlp_spec_init(NULL, MLCL_MLP_SPEC_VERSION), EINV, "spec is NULL");
    BAD(mlcl_mlp_spec_init(&s, 0), MLCL_EVERSION, "version");
}
static void t_encoder_create(void)
{
    mlcl_encoder *e = NULL;
    mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
    BAD(mlcl_encoder_create(NULL, 3, NULL), EINV, "out is NULL");
    BAD(mlcl_encoder_create(&e, 0, NULL), EINV, "in_dim");
    BAD(mlcl_encoder_create(&e, -7, NULL), EINV, "in_dim");
    o.version = 77;
    BAD(mlcl_encoder_create(&e, 3, &o), MLCL_EVERSION, "version");
    o.version = MLCL_ENCODER_OPTIONS_VERSION; o.max_batch = -1;
    BAD(mlcl_encoder_create(&e, 3, &o), EINV, "max_batch");
    ck_assert_ptr_null(e);
}
static void t_encoder_create_mlp(void)
{
    mlcl_encoder *e = NULL;
    mlcl_mlp_spec s = MLCL_MLP_SPEC_INIT;
    BAD(mlcl_encoder_create_mlp(NULL, &s, NULL), EINV, "out is NULL");
    BAD(mlcl_encoder_create_mlp(&e, NULL, NULL), EINV, "spec is NULL");
    BAD(mlcl_encoder_create_mlp(&e, &s, NULL), EINV, "in_dim");
    s.in_dim = 4; s.n_hidden = 9;
    BAD(mlcl_encoder_create_mlp(&e, &s, NULL), EINV, "n_hidden");
    s.n_hidden = -1;
    BAD(mlcl_encoder_create_mlp(&e, &s, NULL), EINV, "n_hidden");
    s.n_hidden = 2; s.hidden[1] = 0;
    BAD(mlcl_encoder_create_mlp(&e, &s, NULL), EINV, "hidden[1]");
    s.hidden[1] = 4; s.dropout = 1.0f;
    BAD(mlcl_encoder_create_mlp(&e, &s, NULL), EINV, "dropout");
    s.dropout = NAN;
    BAD(mlcl_encoder_create_mlp(&e, &s, NULL), EINV, "dropout");
    s.dropout = 0.1f; s.out_dim = -2;
    BAD(mlcl_encoder_create_mlp(&e, &s, NULL), EINV, "out_dim");
    s.out_dim = 0; s.out_act = 7;
    BAD(mlcl_encoder_create_mlp(&e, &s, NULL), EINV, "out_act");
    s.out_act = 0; s.version = 9;
    BAD(mlcl_encoder_create_mlp(&e, &s, NULL), MLCL_EVERSION, "version");
    /* a weight matrix of INT_MAX x INT_MAX floats */
    s.version = MLCL_MLP_SPEC_VERSION; s.in_dim = INT_MAX; s.n_hidden = 1; s.hidden[0] = INT_MAX;
    mlcl_clear_error();
    int rc = mlcl_encoder_create_mlp(&e, &s, NULL);
    ck_assert_msg(rc == MLCL_EOVERFLOW || rc == MLCL_ENOMEM, "huge mlp: %d %s", rc, mlcl_last_error());
    ck_assert_ptr_null(e);
}
static void t_encoder_free(void) { mlcl_encoder_free(NULL); }
static void t_encoder_add_linear(void)
{
    mlcl_encoder *e = mk_encoder();
    BAD(mlcl_encoder_add_linear(NULL, 3, 1), EINV, "e is NULL");
    BAD(mlcl_encoder_add_linear(e, 0, 1), EINV, "out_dim");
    BAD(mlcl_encoder_add_linear(e, -3, 1), EINV, "out_dim");
    BAD(mlcl_encoder_add_linear(e, 3, 2), EINV, "bias");
    mlcl_clear_error();
    int rc = mlcl_encoder_add_linear(e, INT_MAX, 1);
    ck_assert_msg(rc == MLCL_EOVERFLOW || rc == MLCL_ENOMEM, "huge linear: %d %s", rc, mlcl_last_error());
    int nl; ck_assert_ok(mlcl_encoder_num_layers(e, &nl)); ck_assert_int_eq(nl, 2);
    float out[2 * FM];
    ck_assert_ok(mlcl_encoder_forward(e, 2, X, out)); /* still usable */
    mlcl_encoder_free(e);
}
static void t_encoder_add_relu(void) { BAD(mlcl_encoder_add_relu(NULL), EINV, "e is NULL"); }
static void t_encoder_add_dropout(void)
{
    mlcl_encoder *e = mk_encoder();
    BAD(mlcl_encoder_add_dropout(NULL, 0.5f), EINV, "e is NULL");
    BAD(mlcl_encoder_add_dropout(e, 1.0f), EINV, "p");
    BAD(mlcl_encoder_add_dropout(e, -0.1f), EINV, "p");
    BAD(mlcl_encoder_add_dropout(e, NAN), EINV, "p");
    mlcl_encoder_free(e);
}
static void t_encoder_add_batchnorm(void)
{
    mlcl_encoder *e = mk_encoder();
    BAD(mlcl_encoder_add_batchnorm(NULL, 1e-5f, 0.1f), EINV, "e is NULL");
    BAD(mlcl_encoder_add_batchnorm(e, 0.0f, 0.1f), EINV, "eps");
    BAD(mlcl_encoder_add_batchnorm(e, NAN, 0.1f), EINV, "eps");
    BAD(mlcl_encoder_add_batchnorm(e, INFINITY, 0.1f), EINV, "eps");
    BAD(mlcl_encoder_add_batchnorm(e, 1e-5f, 1.5f), EINV, "momentum");
    BAD(mlcl_encoder_add_batchnorm(e, 1e-5f, NAN), EINV, "momentum");
    mlcl_encoder_free(e);
}
static void t_encoder_add_l2norm(void) { BAD(mlcl_encoder_add_l2norm(NULL), EINV, "e is NULL"); }
static void t_encoder_add_softmax(void) { BAD(mlcl_encoder_add_softmax(NULL), EINV, "e is NULL"); }
static void t_encoder_forward(void)
{
    mlcl_encoder *e = mk_encoder();
    BAD(mlcl_encoder_forward(NULL, 2, X, OUT), EINV, "e is NULL");
    BAD(mlcl_encoder_forward(e, 2, NULL, OUT), EINV, "x is NULL");
    BAD(mlcl_encoder_forward(e, 2, X, NULL), EINV, "out is NULL");
    BAD(mlcl_encoder_forward(e, 0, X, OUT), EINV, "n");
    BAD(mlcl_encoder_forward(e, -1, X, OUT), EINV, "n");
    BAD(mlcl_encoder_forward(e, 1, X, OUT), EINV, "n"); /* BatchNorm in training */
    BAD(mlcl_encoder_forward(e, 2, XNAN, OUT), MLCL_ENUMERIC, "x");
    mlcl_encoder_free(e);
}
static void t_encoder_forward_csr(void)
{
    mlcl_encoder *e = mk_encoder();
    int64_t ptr[3] = { 0, 1, 2 };
    int col[2] = { 0, FD - 1 }, col_bad[2] = { 0, FD };
    float val[2] = { 1, 2 }, val_nan[2] = { 1, NAN };
    BAD(mlcl_encoder_forward_csr(NULL, 2, ptr, col, val, OUT), EINV, "e is NULL");
    BAD(mlcl_encoder_forward_csr(e, 0, ptr, col, val, OUT), EINV, "n");
    BAD(mlcl_encoder_forward_csr(e, 2, NULL, col, val, OUT), EINV, "row_ptr is NULL");
    BAD(mlcl_encoder_forward_csr(e, 2, ptr, NULL, val, OUT), EINV, "cols is NULL");
    BAD(mlcl_encoder_forward_csr(e, 2, ptr, col, NULL, OUT), EINV, "vals is NULL");
    BAD(mlcl_encoder_forward_csr(e, 2, ptr, col, val, NULL), EINV, "out is NULL");
    BAD(mlcl_encoder_forward_csr(e, 1, ptr, col, val, OUT), EINV, "n"); /* BatchNorm in training */
    BAD(mlcl_encoder_forward_csr(e, 2, ptr, col_bad, val, OUT), EINV, "cols[1]");
    BAD(mlcl_encoder_forward_csr(e, 2, ptr, col, val_nan, OUT), MLCL_ENUMERIC, "vals[1]");
    ck_assert_ok(mlcl_encoder_forward_csr(e, 2, ptr, col, val, OUT));
    float g[2 * FM] = { 0 }, gi[2 * FD];
    BAD(mlcl_encoder_backward(e, 2, g, gi), EINV, "grad_in = NULL");
    mlcl_encoder_free(e);
}
static void t_encoder_backward(void)
{
    mlcl_encoder *e = mk_encoder();
    float g[2 * FM] = { 0 }, gi[2 * FD];
    BAD(mlcl_encoder_backward(e, 2, g, gi), MLCL_ESTATE, "forward");
    ck_assert_ok(mlcl_encoder_forward(e, 2, X, OUT));
    BAD(mlcl_encoder_backward(NULL, 2, g, gi), EINV, "e is NULL");
    BAD(mlcl_encoder_backward(e, 2, NULL, gi), EINV, "grad_out is NULL");
    BAD(mlcl_encoder_backward(e, 3, g, gi), MLCL_ESTATE, "n");
    g[1] = NAN;
    BAD(mlcl_encoder_backward(e, 2, g, gi), MLCL_ENUMERIC, "grad_out");
    mlcl_encoder_free(e);
}
static void t_encoder_zero_grad(void) { BAD(mlcl_encoder_zero_grad(NULL), EINV, "e is NULL"); }
static void t_encoder_set_training(void)
{
    mlcl_encoder *e = mk_encoder();
    BAD(mlcl_encoder_set_training(NULL, 1), EINV, "e is NULL");
    BAD(mlcl_encoder_set_training(e, 2), EINV, "training");
    BAD(mlcl_encoder_set_training(e, -1), EINV, "training");
    mlcl_encoder_free(e);
}
static void t_encoder_get_training(void)
{
    mlcl_encoder *e = mk_encoder(); int t;
    BAD(mlcl_encoder_get_training(NULL, &t), EINV, "e is NULL");
    BAD(mlcl_encoder_get_training(e, NULL), EINV, "training is NULL");
    mlcl_encoder_free(e);
}
#define DIMFN(name, T, arg)                                                         \
    static void t_##name(void)                                                     \
    {                                                                              \
        mlcl_encoder *e = mk_encoder(); T v;                                       \
        BAD(mlcl_##name(NULL, &v), EINV, "e is NULL");                             \
        BAD(mlcl_##name(e, NULL), EINV, arg " is NULL");                           \
        mlcl_encoder_free(e);                                                      \
    }
DIMFN(encoder_in_dim, int, "dim")
DIMFN(encoder_out_dim, int, "dim")
DIMFN(encoder_num_layers, int, "n")
DIMFN(encoder_param_count, size_t, "n")
DIMFN(encoder_state_count, size_t, "n")
DIMFN(encoder_params_ptr, float *, "p")
DIMFN(encoder_grads_ptr, float *, "g")
static void t_encoder_get_params(void)
{
    mlcl_encoder *e = mk_encoder(); size_t n; ck_assert_ok(mlcl_encoder_param_count(e, &n));
    BAD(mlcl_encoder_get_params(NULL, OUT, n), EINV, "e is NULL");
    BAD(mlcl_encoder_get_params(e, NULL, n), EINV, "dst is NULL");
    BAD(mlcl_encoder_get_params(e, OUT, n + 1), EINV, "n");
    BAD(mlcl_encoder_get_params(e, OUT, SIZE_MAX), EINV, "n");
    mlcl_encoder_free(e);
}
static void t_encoder_set_params(void)
{
    mlcl_encoder *e = mk_encoder(); size_t n; ck_assert_ok(mlcl_encoder_param_count(e, &n));
    float *src = calloc(n, sizeof(float)), *before = calloc(n, sizeof(float));
    ck_assert_ok(mlcl_encoder_get_params(e, before, n));
    BAD(mlcl_encoder_set_params(NULL, src, n), EINV, "e is NULL");
    BAD(mlcl_encoder_set_params(e, NULL, n), EINV, "src is NULL");
    BAD(mlcl_encoder_set_params(e, src, n - 1), EINV, "n");
    src[n - 1] = INFINITY;
    BAD(mlcl_encoder_set_params(e, src, n), MLCL_ENUMERIC, "src");
    float *after = calloc(n, sizeof(float));
    ck_assert_ok(mlcl_encoder_get_params(e, after, n));
    ck_assert_mem_eq(before, after, n * sizeof(float));
    free(src); free(before); free(after);
    mlcl_encoder_free(e);
}
static void t_encoder_get_state(void)
{
    mlcl_encoder *e = mk_encoder(); size_t n; ck_assert_ok(mlcl_encoder_state_count(e, &n));
    BAD(mlcl_encoder_get_state(NULL, OUT, n), EINV, "e is NULL");
    BAD(mlcl_encoder_get_state(e, NULL, n), EINV, "dst is NULL");
    BAD(mlcl_encoder_get_state(e, OUT, n + 3), EINV, "n");
    mlcl_encoder_free(e);
}
static void t_encoder_set_state(void)
{
    mlcl_encoder *e = mk_encoder(); size_t n; ck_assert_ok(mlcl_encoder_state_count(e, &n));
    float src[2 * FM];
    for (int i = 0; i < 2 * FM; i++) src[i] = 1.0f;
    ck_assert_uint_eq(n, 2 * FM);
    BAD(mlcl_encoder_set_state(NULL, src, n), EINV, "e is NULL");
    BAD(mlcl_encoder_set_state(e, NULL, n), EINV, "src is NULL");
    BAD(mlcl_encoder_set_state(e, src, n + 1), EINV, "n");
    src[FM + 1] = -1.0f; /* a negative running variance */
    BAD(mlcl_encoder_set_state(e, src, n), EINV, "src");
    src[FM + 1] = NAN;
    BAD(mlcl_encoder_set_state(e, src, n), MLCL_ENUMERIC, "src");
    mlcl_encoder_free(e);
}
static void t_encoder_copy_params(void)
{
    mlcl_encoder *a = mk_encoder(), *b = NULL;
    ck_assert_ok(mlcl_encoder_create(&b, FD, NULL));
    ck_assert_ok(mlcl_encoder_add_linear(b, FM + 1, 1));
    BAD(mlcl_encoder_copy_params(NULL, a), EINV, "dst is NULL");
    BAD(mlcl_encoder_copy_params(a, NULL), EINV, "src is NULL");
    BAD(mlcl_encoder_copy_params(a, b), EINV, "layer");
    mlcl_encoder_free(a); mlcl_encoder_free(b);
}
static void t_encoder_momentum_update(void)
{
    mlcl_encoder *a = mk_encoder(), *b = mk_encoder(), *c = NULL;
    ck_assert_ok(mlcl_encoder_create(&c, FD + 1, NULL));
    ck_assert_ok(mlcl_encoder_add_linear(c, FM, 1));
    ck_assert_ok(mlcl_encoder_add_batchnorm(c, 1e-5f, 0.1f));
    BAD(mlcl_encoder_momentum_update(NULL, a, 0.9f), EINV, "key is NULL");
    BAD(mlcl_encoder_momentum_update(a, NULL, 0.9f), EINV, "query is NULL");
    BAD(mlcl_encoder_momentum_update(a, b, 1.5f), EINV, "m");
    BAD(mlcl_encoder_momentum_update(a, b, NAN), EINV, "m");
    BAD(mlcl_encoder_momentum_update(a, c, 0.9f), EINV, "width");
    mlcl_encoder_free(a); mlcl_encoder_free(b); mlcl_encoder_free(c);
}
static void t_encoder_get_rng_state(void)
{
    mlcl_encoder *e = mk_encoder(); uint64_t s[2];
    BAD(mlcl_encoder_get_rng_state(NULL, s), EINV, "e is NULL");
    BAD(mlcl_encoder_get_rng_state(e, NULL), EINV, "state is NULL");
    mlcl_encoder_free(e);
}
static void t_encoder_set_rng_state(void)
{
    mlcl_encoder *e = mk_encoder(); uint64_t s[2] = { 5, 4 };
    BAD(mlcl_encoder_set_rng_state(NULL, s), EINV, "e is NULL");
    BAD(mlcl_encoder_set_rng_state(e, NULL), EINV, "state is NULL");
    BAD(mlcl_encoder_set_rng_state(e, s), EINV, "state[1]");
    mlcl_encoder_free(e);
}
static void t_encoder_clone(void)
{
    mlcl_encoder *e = mk_encoder(), *c = e;
    BAD(mlcl_encoder_clone(NULL, e), EINV, "out is NULL");
    BAD(mlcl_encoder_clone(&c, NULL), EINV, "src is NULL");
    ck_assert_ptr_null(c);
    mlcl_encoder_free(e);
}
static void t_resnet_spec_init(void)
{
    mlcl_resnet_spec s;
    BAD(mlcl_resnet_spec_init(NULL, MLCL_RESNET_SPEC_VERSION), EINV, "spec is NULL");
    BAD(mlcl_resnet_spec_init(&s, 999), MLCL_EVERSION, "version");
}
static void t_encoder_create_resnet(void)
{
    mlcl_encoder *e = NULL;
    const mlcl_resnet_spec d = MLCL_RESNET_SPEC_INIT;
    mlcl_resnet_spec s = d;
    mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
    BAD(mlcl_encoder_create_resnet(NULL, &s, NULL), EINV, "out is NULL");
    BAD(mlcl_encoder_create_resnet(&e, NULL, NULL), EINV, "spec is NULL");
    s.depth = 101; BAD(mlcl_encoder_create_resnet(&e, &s, NULL), EINV, "depth"); s = d;
    s.stem = 7; BAD(mlcl_encoder_create_resnet(&e, &s, NULL), EINV, "stem"); s = d;
    s.in_channels = 0; BAD(mlcl_encoder_create_resnet(&e, &s, NULL), EINV, "in_channels"); s = d;
    s.height = -1; BAD(mlcl_encoder_create_resnet(&e, &s, NULL), EINV, "height"); s = d;
    s.width = 0; BAD(mlcl_encoder_create_resnet(&e, &s, NULL), EINV, "width"); s = d;
    s.base_width = -64; BAD(mlcl_encoder_create_resnet(&e, &s, NULL), EINV, "base_width"); s = d;
    s.bn_eps = NAN; BAD(mlcl_encoder_create_resnet(&e, &s, NULL), EINV, "bn_eps"); s = d;
    s.bn_momentum = INFINITY; BAD(mlcl_encoder_create_resnet(&e, &s, NULL), EINV, "bn_momentum"); s = d;
    s.zero_init_residual = -1; BAD(mlcl_encoder_create_resnet(&e, &s, NULL), EINV, "zero_init_residual"); s = d;
    s.version = 0; BAD(mlcl_encoder_create_resnet(&e, &s, NULL), MLCL_EVERSION, "version"); s = d;
    s.height = INT_MAX; s.width = INT_MAX;
    int rc = mlcl_encoder_create_resnet(&e, &s, NULL);
    ck_assert_msg(rc == EINV || rc == MLCL_EOVERFLOW, "INT_MAX x INT_MAX image: %d", rc); s = d;
    o.max_batch = -1; BAD(mlcl_encoder_create_resnet(&e, &s, &o), EINV, "max_batch");
    ck_assert_ptr_null(e);
}
static void t_softmax_forward(void)
{
    BAD(mlcl_softmax_forward(OUT, X, 0, 3), EINV, "n");
    BAD(mlcl_softmax_forward(OUT, X, 2, -3), EINV, "c");
    BAD(mlcl_softmax_forward(OUT, NULL, 2, 3), EINV, "logits is NULL");
    BAD(mlcl_softmax_forward(NULL, X, 2, 3), EINV, "prob is NULL");
    BAD(mlcl_softmax_forward(OUT, XNAN, 2, 3), MLCL_ENUMERIC, "logits");
}
static void t_softmax_backward(void)
{
    BAD(mlcl_softmax_backward(OUT, X, X, 0, 3), EINV, "n");
    BAD(mlcl_softmax_backward(OUT, X, X, 2, 0), EINV, "c");
    BAD(mlcl_softmax_backward(OUT, NULL, X, 2, 3), EINV, "prob is NULL");
    BAD(mlcl_softmax_backward(OUT, X, NULL, 2, 3), EINV, "grad_prob is NULL");
    BAD(mlcl_softmax_backward(NULL, X, X, 2, 3), EINV, "grad_logits is NULL");
}
static void t_bce_with_logits(void)
{
    float loss, t[6] = { 0, 1, 0, 1, 0.5f, 1 };
    BAD(mlcl_bce_with_logits(&loss, NULL, X, t, 0, 3), EINV, "n");
    BAD(mlcl_bce_with_logits(&loss, NULL, X, t, 2, 0), EINV, "c");
    BAD(mlcl_bce_with_logits(&loss, NULL, NULL, t, 2, 3), EINV, "logits is NULL");
    BAD(mlcl_bce_with_logits(&loss, NULL, X, NULL, 2, 3), EINV, "targets is NULL");
    BAD(mlcl_bce_with_logits(NULL, NULL, X, t, 2, 3), EINV, "loss is NULL");
    BAD(mlcl_bce_with_logits(&loss, NULL, XNAN, t, 2, 3), MLCL_ENUMERIC, "logits");
    t[2] = 2.0f;
    BAD(mlcl_bce_with_logits(&loss, NULL, X, t, 2, 3), EINV, "targets");
    t[2] = NAN;
    BAD(mlcl_bce_with_logits(&loss, NULL, X, t, 2, 3), EINV, "targets");
}
static void t_sigmoid(void)
{
    BAD(mlcl_sigmoid(OUT, NULL, 3), EINV, "x is NULL");
    BAD(mlcl_sigmoid(NULL, X, 3), EINV, "out is NULL");
}
static void t_l2norm_forward(void)
{
    BAD(mlcl_l2norm_forward(OUT, NULL, X, 0, 3), EINV, "n");
    BAD(mlcl_l2norm_forward(OUT, NULL, X, 2, 0), EINV, "m");
    BAD(mlcl_l2norm_forward(OUT, NULL, NULL, 2, 3), EINV, "x is NULL");
    BAD(mlcl_l2norm_forward(NULL, NULL, X, 2, 3), EINV, "out is NULL");
    BAD(mlcl_l2norm_forward(OUT, NULL, XNAN, 2, 3), MLCL_ENUMERIC, "x");
}
static void t_l2norm_backward(void)
{
    float norms[2] = { 1, 1 };
    BAD(mlcl_l2norm_backward(OUT, X, norms, X, 0, 3), EINV, "n");
    BAD(mlcl_l2norm_backward(OUT, X, norms, X, 2, -1), EINV, "m");
    BAD(mlcl_l2norm_backward(OUT, NULL, norms, X, 2, 3), EINV, "out is NULL");
    BAD(mlcl_l2norm_backward(OUT, X, NULL, X, 2, 3), EINV, "norms is NULL");
    BAD(mlcl_l2norm_backward(OUT, X, norms, NULL, 2, 3), EINV, "grad_out is NULL");
    BAD(mlcl_l2norm_backward(NULL, X, norms, X, 2, 3), EINV, "grad_x is NULL");
}

/* ------------------------------------------------------------- optim */
static mlcl_optim *mk_optim(float *p, float *g, size_t n)
{
    mlcl_optim *o = NULL;
    mlcl_optim_options op = MLCL_OPTIM_OPTIONS_INIT;
    ck_assert_ok(mlcl_optim_create(&o, &op));
    if (p) ck_assert_ok(mlcl_optim_add_group(o, p, g, n, 1e-3f, 0.0f, NULL));
    return o;
}
static void t_optim_options_init(void)
{
    mlcl_optim_options o;
    BAD(mlcl_optim_options_init(NULL, MLCL_OPTIM_OPTIONS_VERSION), EINV, "opts is NULL");
    BAD(mlcl_optim_options_init(&o, 5), MLCL_EVERSION, "version");
}
static void t_optim_create(void)
{
    mlcl_optim *o = NULL;
    mlcl_optim_options op = MLCL_OPTIM_OPTIONS_INIT;
    BAD(mlcl_optim_create(NULL, &op), EINV, "out is NULL");
    BAD(mlcl_optim_create(&o, NULL), EINV, "opts is NULL");
    op.type = 9; BAD(mlcl_optim_create(&o, &op), EINV, "type");
    op = (mlcl_optim_options)MLCL_OPTIM_OPTIONS_INIT; op.lr = NAN;
    BAD(mlcl_optim_create(&o, &op), EINV, "lr");
    op = (mlcl_optim_options)MLCL_OPTIM_OPTIONS_INIT; op.lr = -1;
    BAD(mlcl_optim_create(&o, &op), EINV, "lr");
    op = (mlcl_optim_options)MLCL_OPTIM_OPTIONS_INIT; op.beta1 = 1.0f;
    BAD(mlcl_optim_create(&o, &op), EINV, "beta1");
    op = (mlcl_optim_options)MLCL_OPTIM_OPTIONS_INIT; op.beta2 = NAN;
    BAD(mlcl_optim_create(&o, &op), EINV, "beta2");
    op = (mlcl_optim_options)MLCL_OPTIM_OPTIONS_INIT; op.eps = -1e-8f;
    BAD(mlcl_optim_create(&o, &op), EINV, "eps");
    op = (mlcl_optim_options)MLCL_OPTIM_OPTIONS_INIT; op.weight_decay = INFINITY;
    BAD(mlcl_optim_create(&o, &op), EINV, "weight_decay");
    op = (mlcl_optim_options)MLCL_OPTIM_OPTIONS_INIT; op.type = MLCL_OPTIM_SGD; op.momentum = -1;
    BAD(mlcl_optim_create(&o, &op), EINV, "momentum");
    op = (mlcl_optim_options)MLCL_OPTIM_OPTIONS_INIT; op.type = MLCL_OPTIM_SGD; op.nesterov = 1;
    BAD(mlcl_optim_create(&o, &op), EINV, "nesterov");
    op = (mlcl_optim_options)MLCL_OPTIM_OPTIONS_INIT; op.version = 0;
    BAD(mlcl_optim_create(&o, &op), MLCL_EVERSION, "version");
    ck_assert_ptr_null(o);
}
static void t_optim_free(void) { mlcl_optim_free(NULL); }
static void t_optim_add_group(void)
{
    float p[4] = { 0 }, g[4] = { 0 };
    mlcl_optim *o = mk_optim(NULL, NULL, 0);
    BAD(mlcl_optim_add_group(NULL, p, g, 4, 1e-3f, 0, NULL), EINV, "o is NULL");
    BAD(mlcl_optim_add_group(o, NULL, g, 4, 1e-3f, 0, NULL), EINV, "params is NULL");
    BAD(mlcl_optim_add_group(o, p, NULL, 4, 1e-3f, 0, NULL), EINV, "grads is NULL");
    BAD(mlcl_optim_add_group(o, p, g, 0, 1e-3f, 0, NULL), EINV, "n");
    BAD(mlcl_optim_add_group(o, p, g, 4, NAN, 0, NULL), EINV, "lr");
    BAD(mlcl_optim_add_group(o, p, g, 4, -1.0f, 0, NULL), EINV, "lr");
    BAD(mlcl_optim_add_group(o, p, g, 4, 1e-3f, -1.0f, NULL), EINV, "weight_decay");
    mlcl_clear_error();
    int rc = mlcl_optim_add_group(o, p, g, SIZE_MAX / 2, 1e-3f, 0, NULL);
    ck_assert_msg(rc == MLCL_EOVERFLOW || rc == MLCL_ENOMEM, "huge group: %d %s", rc, mlcl_last_error());
    int ng; ck_assert_ok(mlcl_optim_num_groups(o, &ng)); ck_assert_int_eq(ng, 0);
    mlcl_optim_free(o);
}
static void t_optim_num_groups(void)
{
    mlcl_optim *o = mk_optim(NULL, NULL, 0); int n;
    BAD(mlcl_optim_num_groups(NULL, &n), EINV, "o is NULL");
    BAD(mlcl_optim_num_groups(o, NULL), EINV, "n is NULL");
    mlcl_optim_free(o);
}
static void t_optim_set_weight_decay(void)
{
    float p[4] = { 0 }, g[4] = { 0 };
    mlcl_optim *o = mk_optim(p, g, 4);
    BAD(mlcl_optim_set_weight_decay(NULL, 0, 1e-3f), EINV, "o is NULL");
    BAD(mlcl_optim_set_weight_decay(o, 1, 1e-3f), EINV, "group");
    BAD(mlcl_optim_set_weight_decay(o, -2, 1e-3f), EINV, "group");
    BAD(mlcl_optim_set_weight_decay(o, 0, NAN), EINV, "wd");
    BAD(mlcl_optim_set_weight_decay(o, -1, -1e-3f), EINV, "wd");
    mlcl_optim_free(o);
}
static void t_optim_set_lr(void)
{
    float p[4] = { 0 }, g[4] = { 0 };
    mlcl_optim *o = mk_optim(p, g, 4);
    BAD(mlcl_optim_set_lr(NULL, 0, 1e-3f), EINV, "o is NULL");
    BAD(mlcl_optim_set_lr(o, 1, 1e-3f), EINV, "group");
    BAD(mlcl_optim_set_lr(o, -2, 1e-3f), EINV, "group");
    BAD(mlcl_optim_set_lr(o, 0, NAN), EINV, "lr");
    BAD(mlcl_optim_set_lr(o, -1, -1e-3f), EINV, "lr");
    mlcl_optim_free(o);
}
static void t_optim_get_lr(void)
{
    float p[4] = { 0 }, g[4] = { 0 }, lr;
    mlcl_optim *o = mk_optim(p, g, 4);
    BAD(mlcl_optim_get_lr(NULL, 0, &lr), EINV, "o is NULL");
    BAD(mlcl_optim_get_lr(o, 0, NULL), EINV, "lr is NULL");
    BAD(mlcl_optim_get_lr(o, 1, &lr), EINV, "group");
    BAD(mlcl_optim_get_lr(o, -1, &lr), EINV, "group");
    mlcl_optim_free(o);
}
static void t_optim_step(void)
{
    float p[4] = { 1, 2, 3, 4 }, g[4] = { 0, 0, INFINITY, 0 };
    mlcl_optim *o = mk_optim(p, g, 4);
    BAD(mlcl_optim_step(NULL), EINV, "o is NULL");
    BAD(mlcl_optim_step(o), MLCL_ENUMERIC, "group 0");
    ck_assert(p[0] == 1 && p[3] == 4);
    int64_t st; ck_assert_ok(mlcl_optim_get_step(o, 0, &st)); ck_assert_int_eq(st, 0);
    mlcl_optim_free(o);
}
static void t_optim_zero_state(void) { BAD(mlcl_optim_zero_state(NULL), EINV, "o is NULL"); }
static void t_optim_state_count(void)
{
    mlcl_optim *o = mk_optim(NULL, NULL, 0); size_t n;
    BAD(mlcl_optim_state_count(NULL, &n), EINV, "o is NULL");
    BAD(mlcl_optim_state_count(o, NULL), EINV, "n is NULL");
    mlcl_optim_free(o);
}
static void t_optim_get_state(void)
{
    float p[4] = { 0 }, g[4] = { 0 }, s[8];
    mlcl_optim *o = mk_optim(p, g, 4);
    BAD(mlcl_optim_get_state(NULL, s, 8), EINV, "o is NULL");
    BAD(mlcl_optim_get_state(o, NULL, 8), EINV, "dst is NULL");
    BAD(mlcl_optim_get_state(o, s, 7), EINV, "n");
    mlcl_optim_free(o);
}
static void t_optim_set_state(void)
{
    float p[4] = { 0 }, g[4] = { 0 }, s[8] = { 0 };
    mlcl_optim *o = mk_optim(p, g, 4);
    BAD(mlcl_optim_set_state(NULL, s, 8), EINV, "o is NULL");
    BAD(mlcl_optim_set_state(o, NULL, 8), EINV, "src is NULL");
    BAD(mlcl_optim_set_state(o, s, 9), EINV, "n");
    s[1] = NAN;
    BAD(mlcl_optim_set_state(o, s, 8), MLCL_ENUMERIC, "src");
    s[1] = 0; s[6] = -1.0f; /* a negative second moment */
    BAD(mlcl_optim_set_state(o, s, 8), EINV, "exp_avg_sq");
    mlcl_optim_free(o);
}
static void t_optim_get_step(void)
{
    float p[4] = { 0 }, g[4] = { 0 }; int64_t st;
    mlcl_optim *o = mk_optim(p, g, 4);
    BAD(mlcl_optim_get_step(NULL, 0, &st), EINV, "o is NULL");
    BAD(mlcl_optim_get_step(o, 0, NULL), EINV, "step is NULL");
    BAD(mlcl_optim_get_step(o, 3, &st), EINV, "group");
    mlcl_optim_free(o);
}
static void t_optim_set_step(void)
{
    float p[4] = { 0 }, g[4] = { 0 };
    mlcl_optim *o = mk_optim(p, g, 4);
    BAD(mlcl_optim_set_step(NULL, 0, 1), EINV, "o is NULL");
    BAD(mlcl_optim_set_step(o, 2, 1), EINV, "group");
    BAD(mlcl_optim_set_step(o, 0, -1), EINV, "step");
    mlcl_optim_free(o);
}
static void t_sched_options_init(void)
{
    mlcl_sched_options o;
    BAD(mlcl_sched_options_init(NULL, MLCL_SCHED_OPTIONS_VERSION), EINV, "opts is NULL");
    BAD(mlcl_sched_options_init(&o, 2), MLCL_EVERSION, "version");
}
static void t_sched_lr(void)
{
    mlcl_sched_options o = MLCL_SCHED_OPTIONS_INIT; float lr;
    BAD(mlcl_sched_lr(NULL, 1.0, &lr), EINV, "opts is NULL");
    BAD(mlcl_sched_lr(&o, 1.0, NULL), EINV, "lr is NULL");
    BAD(mlcl_sched_lr(&o, -1.0, &lr), EINV, "epoch");
    BAD(mlcl_sched_lr(&o, NAN, &lr), EINV, "epoch");
    BAD(mlcl_sched_lr(&o, INFINITY, &lr), EINV, "epoch");
    o.type = 11; BAD(mlcl_sched_lr(&o, 1.0, &lr), EINV, "type");
    o = (mlcl_sched_options)MLCL_SCHED_OPTIONS_INIT; o.type = MLCL_SCHED_STEP; o.step_size = 0;
    BAD(mlcl_sched_lr(&o, 1.0, &lr), EINV, "step_size");
    o = (mlcl_sched_options)MLCL_SCHED_OPTIONS_INIT; o.type = MLCL_SCHED_COSINE; o.T_max = 0;
    BAD(mlcl_sched_lr(&o, 1.0, &lr), EINV, "T_max");
    o = (mlcl_sched_options)MLCL_SCHED_OPTIONS_INIT; o.type = MLCL_SCHED_COSINE_WARM_RESTARTS; o.T_0 = -1;
    BAD(mlcl_sched_lr(&o, 1.0, &lr), EINV, "T_0");
    o = (mlcl_sched_options)MLCL_SCHED_OPTIONS_INIT; o.type = MLCL_SCHED_COSINE_WARM_RESTARTS; o.T_mult = 0;
    BAD(mlcl_sched_lr(&o, 1.0, &lr), EINV, "T_mult");
    o = (mlcl_sched_options)MLCL_SCHED_OPTIONS_INIT; o.base_lr = NAN;
    BAD(mlcl_sched_lr(&o, 1.0, &lr), EINV, "base_lr");
    /* an epoch far beyond any restart: must not loop or overflow */
    o = (mlcl_sched_options)MLCL_SCHED_OPTIONS_INIT; o.type = MLCL_SCHED_COSINE_WARM_RESTARTS; o.T_0 = 1; o.T_mult = 2;
    mlcl_clear_error();
    int rc = mlcl_sched_lr(&o, 1e300, &lr);
    ck_assert_msg(rc == MLCL_OK || rc == EINV || rc == MLCL_EOVERFLOW, "%d %s", rc, mlcl_last_error());
    if (rc == MLCL_OK) ck_assert(isfinite(lr));
    o.version = 3;
    BAD(mlcl_sched_lr(&o, 1.0, &lr), MLCL_EVERSION, "version");
}

/* ------------------------------------------------------------- queue, mask */
static void t_label_words(void)
{
    ck_assert_uint_eq(mlcl_label_words(0), 0);
    ck_assert_uint_eq(mlcl_label_words(-1), 0);
    ck_assert_uint_eq(mlcl_label_words(INT_MAX), ((size_t)INT_MAX + 63) / 64);
}
static void t_labels_pack(void)
{
    uint64_t out[4] = { 0 };
    uint8_t y[6] = { 0, 1, 0, 1, 3, 0 };
    BAD(mlcl_labels_pack(NULL, y, 2, 3), EINV, "out is NULL");
    BAD(mlcl_labels_pack(out, NULL, 2, 3), EINV, "y01 is NULL");
    BAD(mlcl_labels_pack(out, y, 0, 3), EINV, "n");
    BAD(mlcl_labels_pack(out, y, 2, -3), EINV, "c");
    BAD(mlcl_labels_pack(out, y, 2, 3), EINV, "y01[1][1]");
    ck_assert(out[0] == 0 && out[1] == 0);
}
static void t_labels_unpack(void)
{
    uint8_t out[6];
    BAD(mlcl_labels_unpack(NULL, YP, 2, 3), EINV, "out is NULL");
    BAD(mlcl_labels_unpack(out, NULL, 2, 3), EINV, "packed is NULL");
    BAD(mlcl_labels_unpack(out, YP, 0, 3), EINV, "n");
    BAD(mlcl_labels_unpack(out, YP, 2, 0), EINV, "c");
}
static void t_queue_options_init(void)
{
    mlcl_queue_options o;
    BAD(mlcl_queue_options_init(NULL, MLCL_QUEUE_OPTIONS_VERSION), EINV, "opts is NULL");
    BAD(mlcl_queue_options_init(&o, 42), MLCL_EVERSION, "version");
}
static void t_queue_create(void)
{
    mlcl_queue *q = NULL;
    mlcl_queue_options o = MLCL_QUEUE_OPTIONS_INIT;
    BAD(mlcl_queue_create(NULL, &o), EINV, "out is NULL");
    BAD(mlcl_queue_create(&q, NULL), EINV, "opts is NULL");
    BAD(mlcl_queue_create(&q, &o), EINV, "capacity");
    o.capacity = 4; BAD(mlcl_queue_create(&q, &o), EINV, "feat_dim");
    o.feat_dim = 4; o.n_labels = -1; BAD(mlcl_queue_create(&q, &o), EINV, "n_labels");
    o.n_labels = 3; o.version = 2; BAD(mlcl_queue_create(&q, &o), MLCL_EVERSION, "version");
    o.version = MLCL_QUEUE_OPTIONS_VERSION; o.capacity = INT_MAX; o.feat_dim = INT_MAX; o.n_labels = INT_MAX;
    if (!UNDER_VALGRIND) { /* memcheck counts a request of ~2^64 bytes as an error */
        mlcl_clear_error();
        int rc = mlcl_queue_create(&q, &o);
        ck_assert_msg(rc == MLCL_EOVERFLOW || rc == MLCL_ENOMEM, "huge queue: %d %s", rc, mlcl_last_error());
    }
    ck_assert_ptr_null(q);
}
static void t_queue_free(void) { mlcl_queue_free(NULL); }
static void t_queue_enqueue(void)
{
    mlcl_queue *q = mk_queue(FM);
    uint64_t bad[2] = { 1, 1ull << 5 };
    BAD(mlcl_queue_enqueue(NULL, 2, X, YP, NULL), EINV, "q is NULL");
    BAD(mlcl_queue_enqueue(q, 0, X, YP, NULL), EINV, "n");
    BAD(mlcl_queue_enqueue(q, -2, X, YP, NULL), EINV, "n");
    BAD(mlcl_queue_enqueue(q, 2, NULL, YP, NULL), EINV, "feats is NULL");
    BAD(mlcl_queue_enqueue(q, 2, X, NULL, NULL), EINV, "labels_packed is NULL");
    BAD(mlcl_queue_enqueue(q, 2, XNAN, YP, NULL), MLCL_ENUMERIC, "feats");
    BAD(mlcl_queue_enqueue(q, 2, X, YP, XNAN), MLCL_ENUMERIC, "dists");
    BAD(mlcl_queue_enqueue(q, 2, X, bad, NULL), EINV, "labels_packed");
    ck_assert_int_eq(tq_size(q), 0);
    mlcl_queue_free(q);
}
static void t_queue_reset(void) { BAD(mlcl_queue_reset(NULL), EINV, "q is NULL"); }
/* the getters: a NULL queue or output is refused, the output untouched */
#define QGET(name, type, init)                                                                  \
    static void t_queue_##name(void)                                                            \
    {                                                                                           \
        mlcl_queue *q = mk_queue(FM);                                                           \
        type v = init;                                                                          \
        BAD(mlcl_queue_##name(NULL, &v), EINV, "mlcl_queue_" #name ": q is NULL");              \
        ck_assert(v == init);                                                                   \
        BAD(mlcl_queue_##name(q, NULL), EINV, "mlcl_queue_" #name ": " #name " is NULL");      \
        ck_assert_ok(mlcl_queue_##name(q, &v));                                                 \
        ck_assert(v != init);                                                                   \
        mlcl_queue_free(q);                                                                     \
    }
QGET(size, int, -7)
QGET(capacity, int, -7)
QGET(head, int, -7)
QGET(feat_dim, int, -7)
QGET(n_labels, int, -7)
QGET(features, const float *, NULL)
QGET(labels, const uint64_t *, NULL)
QGET(dists, const float *, NULL)
#undef QGET
static void t_queue_set_state(void)
{
    mlcl_queue *q = mk_queue(FM);
    float f[FK * FM] = { 0 }; uint64_t l[FK] = { 0 }; float d[FK * FC] = { 0 };
    BAD(mlcl_queue_set_state(NULL, 0, 0, f, l, d), EINV, "q is NULL");
    BAD(mlcl_queue_set_state(q, 0, 0, NULL, l, d), EINV, "feats is NULL");
    BAD(mlcl_queue_set_state(q, 0, 0, f, NULL, d), EINV, "labels is NULL");
    BAD(mlcl_queue_set_state(q, -1, 0, f, l, d), EINV, "size");
    BAD(mlcl_queue_set_state(q, FK + 1, 0, f, l, d), EINV, "size");
    BAD(mlcl_queue_set_state(q, FK, FK, f, l, d), EINV, "head");
    BAD(mlcl_queue_set_state(q, 3, 1, f, l, d), EINV, "head");
    f[5] = NAN; BAD(mlcl_queue_set_state(q, 2, 2, f, l, d), MLCL_ENUMERIC, "feats"); f[5] = 0;
    d[7] = INFINITY; BAD(mlcl_queue_set_state(q, 2, 2, f, l, d), MLCL_ENUMERIC, "dists"); d[7] = 0;
    l[3] = 1ull << 40; BAD(mlcl_queue_set_state(q, 2, 2, f, l, d), EINV, "labels");
    mlcl_queue_free(q);
}
static void t_mask_build_parts(void);
static void t_mask_build(void)
{
    uint8_t mask[16]; int cnt[4];
    BAD(mlcl_mask_build(mask, cnt, MLCL_MASK_ANY, 0, YP, 2, YP, 0, NULL, FC), EINV, "n");
    BAD(mlcl_mask_build(mask, cnt, MLCL_MASK_ANY, 2, NULL, 2, YP, 0, NULL, FC), EINV, "y_anchor is NULL");
    BAD(mlcl_mask_build(mask, cnt, MLCL_MASK_ANY, 2, YP, 0, YP, 0, NULL, FC), EINV, "N1 + N2 must be");
    BAD(mlcl_mask_build(mask, cnt, MLCL_MASK_ANY, 2, YP, 2, NULL, 0, NULL, FC), EINV, "y_c1 is NULL");
    BAD(mlcl_mask_build(mask, cnt, MLCL_MASK_ANY, 2, YP, 2, YP, 0, NULL, 0), EINV, "c");
    BAD(mlcl_mask_build(mask, cnt, (mlcl_mask_mode)5, 2, YP, 2, YP, 0, NULL, FC), EINV, "mode");
    BAD(mlcl_mask_build(NULL, NULL, MLCL_MASK_ANY, 2, YP, 2, YP, 0, NULL, FC), EINV, "mask and count");
    t_mask_build_parts();
}
static void t_mask_build_parts(void)
{
    uint8_t mask[16]; int cnt[4];
    BAD(mlcl_mask_build(mask, cnt, 0, 2, YP, -1, YP, 1, YP, FC), EINV, "N1");
    BAD(mlcl_mask_build(mask, cnt, 0, 2, YP, 1, YP, -1, YP, FC), EINV, "N2");
    BAD(mlcl_mask_build(mask, cnt, 0, 2, YP, 0, NULL, 0, NULL, FC), EINV, "N1 + N2");
    BAD(mlcl_mask_build(mask, cnt, 0, 2, YP, 1, NULL, 1, YP, FC), EINV, "y_c1 is NULL");
    BAD(mlcl_mask_build(mask, cnt, 0, 2, YP, 1, YP, 1, NULL, FC), EINV, "y_c2 is NULL");
    BAD(mlcl_mask_build(mask, cnt, 0, 2, YP, INT_MAX, YP, INT_MAX, YP, FC), EINV, "N1 + N2");
    BAD(mlcl_mask_build(mask, cnt, 0, 2, NULL, 1, YP, 1, YP, FC), EINV, "y_anchor is NULL");
}
static void t_mask_labelwise_counts_parts(void);
static void t_mask_labelwise_counts(void)
{
    int cnt[FC];
    BAD(mlcl_mask_labelwise_counts(NULL, 2, YP, 0, NULL, FC), EINV, "count_j is NULL");
    BAD(mlcl_mask_labelwise_counts(cnt, 0, YP, 0, NULL, FC), EINV, "N1 + N2 must be");
    BAD(mlcl_mask_labelwise_counts(cnt, 2, NULL, 0, NULL, FC), EINV, "y_c1 is NULL");
    BAD(mlcl_mask_labelwise_counts(cnt, 2, YP, 0, NULL, -1), EINV, "c");
    t_mask_labelwise_counts_parts();
}
static void t_mask_labelwise_counts_parts(void)
{
    int cnt[FC];
    BAD(mlcl_mask_labelwise_counts(NULL, 1, YP, 1, YP, FC), EINV, "count_j is NULL");
    BAD(mlcl_mask_labelwise_counts(cnt, -1, YP, 1, YP, FC), EINV, "N1");
    BAD(mlcl_mask_labelwise_counts(cnt, 0, NULL, 0, NULL, FC), EINV, "N1 + N2");
    BAD(mlcl_mask_labelwise_counts(cnt, 1, YP, 1, NULL, FC), EINV, "y_c2 is NULL");
    BAD(mlcl_mask_labelwise_counts(cnt, 1, YP, 1, YP, 0), EINV, "c");
}
static void t_mask_labelwise(void)
{
    int cnt[4 * FC];
    BAD(mlcl_mask_labelwise(NULL, 2, YP, 1, YP, 1, YP, FC), EINV, "counts is NULL");
    BAD(mlcl_mask_labelwise(cnt, 0, YP, 1, YP, 1, YP, FC), EINV, "n");
    BAD(mlcl_mask_labelwise(cnt, 2, NULL, 1, YP, 1, YP, FC), EINV, "y_anchor is NULL");
    BAD(mlcl_mask_labelwise(cnt, 2, YP, 1, NULL, 1, YP, FC), EINV, "y_c1 is NULL");
    BAD(mlcl_mask_labelwise(cnt, 2, YP, 1, YP, 1, YP, 0), EINV, "c");
}

/* ------------------------------------------------------------- loss */
static void t_loss_options_init(void)
{
    mlcl_loss_options o;
    BAD(mlcl_loss_options_init(NULL, MLCL_LOSS_OPTIONS_VERSION), EINV, "opts is NULL");
    BAD(mlcl_loss_options_init(&o, 0), MLCL_EVERSION, "version");
}
static void t_loss_compute_with_queue(void);
static void t_loss_parts_init(void)
{
    mlcl_loss_parts p;
    BAD(mlcl_loss_parts_init(NULL, MLCL_LOSS_PARTS_VERSION), EINV, "parts is NULL");
    BAD(mlcl_loss_parts_init(&p, 0), MLCL_EVERSION, "version");
}
static void t_loss_inputs_init(void)
{
    mlcl_loss_inputs in;
    BAD(mlcl_loss_inputs_init(NULL, MLCL_LOSS_INPUTS_VERSION), EINV, "in is NULL");
    BAD(mlcl_loss_inputs_init(&in, 2), MLCL_EVERSION, "version");
}
static void t_loss_create(void)
{
    mlcl_loss *L = NULL;
    mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
    BAD(mlcl_loss_create(NULL, 4, 8, 4, 3, NULL), EINV, "out is NULL");
    BAD(mlcl_loss_create(&L, 0, 8, 4, 3, NULL), EINV, "max_n");
    BAD(mlcl_loss_create(&L, 4, -1, 4, 3, NULL), EINV, "max_queue");
    BAD(mlcl_loss_create(&L, 4, 8, 0, 3, NULL), EINV, "m must be");
    BAD(mlcl_loss_create(&L, 4, 8, 4, -3, NULL), EINV, "c must be");
    BAD(mlcl_loss_create(&L, INT_MAX, INT_MAX, 4, 3, NULL), MLCL_EOVERFLOW, "max_n + max_queue");
    mlcl_clear_error();
    int rc = mlcl_loss_create(&L, 1 << 20, 1 << 20, 1 << 20, 1 << 20, NULL);
    ck_assert_msg(rc == MLCL_EOVERFLOW || rc == MLCL_ENOMEM, "huge loss: %d %s", rc, mlcl_last_error());
    o.tau = 0; BAD(mlcl_loss_create(&L, 4, 8, 4, 3, &o), EINV, "tau");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.version = 2;
    BAD(mlcl_loss_create(&L, 4, 8, 4, 3, &o), MLCL_EVERSION, "version");
    ck_assert_ptr_null(L);
}
static void t_loss_free(void) { mlcl_loss_free(NULL); }
static void t_loss_set_options(void)
{
    mlcl_loss *L = mk_loss();
    mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT, got;
    BAD(mlcl_loss_set_options(NULL, &o), EINV, "L is NULL");
    BAD(mlcl_loss_set_options(L, NULL), EINV, "opts is NULL");
    o.method = 3; BAD(mlcl_loss_set_options(L, &o), EINV, "method");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.variant = -1; BAD(mlcl_loss_set_options(L, &o), EINV, "variant");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.mask = 2; BAD(mlcl_loss_set_options(L, &o), EINV, "mask");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.alpha = NAN; BAD(mlcl_loss_set_options(L, &o), EINV, "alpha");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.beta = -1; BAD(mlcl_loss_set_options(L, &o), EINV, "beta");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.tau = INFINITY; BAD(mlcl_loss_set_options(L, &o), EINV, "tau");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.sigma = 0; BAD(mlcl_loss_set_options(L, &o), EINV, "sigma");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.reduction = 2; BAD(mlcl_loss_set_options(L, &o), EINV, "reduction");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.cld_weight = 2; BAD(mlcl_loss_set_options(L, &o), EINV, "cld_weight");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.weight_grad = 2; BAD(mlcl_loss_set_options(L, &o), EINV, "weight_grad");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.dweight_grad = -1; BAD(mlcl_loss_set_options(L, &o), EINV, "dweight_grad");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.con_norm = 5; BAD(mlcl_loss_set_options(L, &o), EINV, "con_norm");
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT; o.h_target = 5; BAD(mlcl_loss_set_options(L, &o), EINV, "h_target");
    ck_assert_ok(mlcl_loss_get_options(L, &got));
    o = (mlcl_loss_options)MLCL_LOSS_OPTIONS_INIT;
    ck_assert_mem_eq(&got, &o, sizeof o);
    mlcl_loss_free(L);
}
static void t_loss_get_options(void)
{
    mlcl_loss *L = mk_loss(); mlcl_loss_options o;
    BAD(mlcl_loss_get_options(NULL, &o), EINV, "L is NULL");
    BAD(mlcl_loss_get_options(L, NULL), EINV, "opts is NULL");
    mlcl_loss_free(L);
}
static void t_loss_get_dims(void) { int n; BAD(mlcl_loss_get_dims(NULL, &n, NULL, NULL, NULL), EINV, "L is NULL"); }
static void t_loss_workspace_size(void)
{
    mlcl_loss *L = mk_loss();
    size_t b = 7;
    BAD(mlcl_loss_workspace_size(NULL, &b), EINV, "L is NULL");
    BAD(mlcl_loss_workspace_size(L, NULL), EINV, "bytes is NULL");
    ck_assert_uint_eq(b, 7);
    ck_assert_ok(mlcl_loss_workspace_size(L, &b));
    ck_assert_uint_gt(b, 7);
    mlcl_loss_free(L);
}
static void t_loss_compute(void)
{
    mlcl_loss *L = mk_loss();
    enum { n = 2, h = 3 };
    float q[n * FM], k[n * FM], d[n * FC], W[FC * h], gq[n * FM] = { 0 };
    for (int i = 0; i < n * FM; i++) q[i] = k[i] = 0.5f;
    for (int i = 0; i < n * FC; i++) d[i] = 1.0f / FC;
    for (int i = 0; i < FC * h; i++) W[i] = 0.1f;
    mlcl_loss_parts p = MLCL_LOSS_PARTS_INIT;
    uint64_t ybad[2] = { 1, 1ull << 7 };
#define LC(L_, n_, F_, q_, k_, y_, d_, kq_, yq_, dq_, W_, h_, p_, gq_, gd_, gW_)                          \
    mlcl_loss_compute(L_, p_, gq_, gd_, gW_,                                                            \
                      &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = n_, .F = F_, .q = q_, \
                                           .k = k_, .y = y_, .d = d_, .kq = kq_, .yq = yq_, .dq = dq_,  \
                                           .W = W_, .h = h_ })
    BAD(LC(NULL, n, 0, q, k, YP, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), EINV, "L is NULL");
    BAD(LC(L, 0, 0, q, k, YP, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), EINV, "n = 0");
    BAD(LC(L, FN + 1, 0, q, k, YP, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), EINV, "n = 5");
    BAD(LC(L, n, -1, q, k, YP, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), EINV, "F = -1");
    BAD(LC(L, n, FK + 1, q, k, YP, d, X, YP, X, W, h, &p, gq, NULL, NULL), EINV, "F = 9");
    BAD(LC(L, n, 0, NULL, k, YP, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), EINV, "q is NULL");
    BAD(LC(L, n, 0, q, NULL, YP, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), EINV, "k is NULL");
    BAD(LC(L, n, 0, q, k, NULL, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), EINV, "y is NULL");
    BAD(LC(L, n, 0, q, k, YP, NULL, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), EINV, "d is NULL");
    BAD(LC(L, n, 2, q, k, YP, d, NULL, YP, X, W, h, &p, gq, NULL, NULL), EINV, "kq is NULL");
    BAD(LC(L, n, 2, q, k, YP, d, X, NULL, X, W, h, &p, gq, NULL, NULL), EINV, "yq is NULL");
    BAD(LC(L, n, 2, q, k, YP, d, X, YP, NULL, W, h, &p, gq, NULL, NULL), EINV, "dq is NULL");
    BAD(LC(L, n, 0, q, k, YP, d, NULL, NULL, NULL, NULL, h, &p, gq, NULL, NULL), EINV, "W is NULL");
    BAD(LC(L, n, 0, q, k, YP, d, NULL, NULL, NULL, W, 0, &p, gq, NULL, NULL), EINV, "h");
    BAD(LC(L, n, 0, q, k, ybad, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), EINV, "y has bits");
    BAD(LC(L, n, 2, q, k, YP, d, X, ybad, X, W, h, &p, gq, NULL, NULL), EINV, "yq has bits");
    q[1] = NAN;
    BAD(LC(L, n, 0, q, k, YP, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), MLCL_ENUMERIC, "q holds");
    q[1] = 0.5f; k[2] = INFINITY;
    BAD(LC(L, n, 0, q, k, YP, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), MLCL_ENUMERIC, "k holds");
    k[2] = 0.5f; d[0] = NAN;
    BAD(LC(L, n, 0, q, k, YP, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), MLCL_ENUMERIC, "d holds");
    d[0] = 1.0f / FC; W[4] = -INFINITY;
    BAD(LC(L, n, 0, q, k, YP, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL), MLCL_ENUMERIC, "W holds");
    W[4] = 0.1f;
    BAD(LC(L, n, 2, q, k, YP, d, XNAN, YP, X, W, h, &p, gq, NULL, NULL), MLCL_ENUMERIC, "kq holds");
    float dqn[2 * FC] = { 0.3f, NAN, 0.3f, 0.3f, 0.3f, 0.3f };
    BAD(LC(L, n, 2, q, k, YP, d, X, YP, dqn, W, h, &p, gq, NULL, NULL), MLCL_ENUMERIC, "dq holds");
    for (int i = 0; i < n * FM; i++) ck_assert(gq[i] == 0.0f); /* no output touched */
    ck_assert_ok(LC(L, n, 0, q, k, YP, d, NULL, NULL, NULL, W, h, &p, gq, NULL, NULL));
#undef LC
    mlcl_loss_free(L);
    t_loss_compute_with_queue();
}
/* mlcl_loss_compute with a queue handle, and its version checks */
static void t_loss_compute_with_queue(void)
{
    mlcl_loss *L = mk_loss();
    mlcl_queue *q8 = mk_queue(FM + 4), *qok = mk_queue(FM), *qc = NULL;
    mlcl_queue_options o = MLCL_QUEUE_OPTIONS_INIT;
    o.capacity = FK; o.feat_dim = FM; o.n_labels = FC + 1;
    ck_assert_ok(mlcl_queue_create(&qc, &o));
    enum { n = 2, h = 3 };
    float q[n * FM], k[n * FM], d[n * FC], W[FC * h];
    for (int i = 0; i < n * FM; i++) q[i] = k[i] = 0.5f;
    for (int i = 0; i < n * FC; i++) d[i] = 1.0f / FC;
    for (int i = 0; i < FC * h; i++) W[i] = 0.1f;
    mlcl_loss_parts p = MLCL_LOSS_PARTS_INIT;
    BAD(mlcl_loss_compute(NULL, &p, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = n, .q = q, .k = k, .y = YP, .d = d, .queue = qok, .W = W, .h = h }), EINV, "L is NULL");
    BAD(mlcl_loss_compute(L, &p, NULL, NULL, NULL, NULL), EINV, "in is NULL");
    BAD(mlcl_loss_compute(L, &p, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = 99, .n = n, .q = q, .k = k, .y = YP, .d = d, .queue = qok, .W = W, .h = h }), MLCL_EVERSION, "in->version 99");
    mlcl_loss_parts pbad = MLCL_LOSS_PARTS_INIT;
    pbad.version = 0;
    BAD(mlcl_loss_compute(L, &pbad, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = n, .q = q, .k = k, .y = YP, .d = d, .queue = qok, .W = W, .h = h }), MLCL_EVERSION, "parts->version 0");
    BAD(mlcl_loss_compute(L, &p, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = n, .q = q, .k = k, .y = YP, .d = d, .queue = q8, .W = W, .h = h }), EINV, "feature width 8 != 4");
    BAD(mlcl_loss_compute(L, &p, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = n, .q = q, .k = k, .y = YP, .d = d, .queue = qc, .W = W, .h = h }), EINV, "label count 4 != 3");
    BAD(mlcl_loss_compute(L, &p, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = n, .k = k, .y = YP, .d = d, .queue = qok, .W = W, .h = h }), EINV, "q is NULL");
    ck_assert_ok(mlcl_loss_compute(L, &p, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = n, .q = q, .k = k, .y = YP, .d = d, .queue = qok, .W = W, .h = h }));
    mlcl_loss_free(L); mlcl_queue_free(q8); mlcl_queue_free(qok); mlcl_queue_free(qc);
}

/* ------------------------------------------------------------- moco */
static void t_moco_options_init(void)
{
    mlcl_moco_options o;
    BAD(mlcl_moco_options_init(NULL, MLCL_MOCO_OPTIONS_VERSION), EINV, "opts is NULL");
    BAD(mlcl_moco_options_init(&o, 0), MLCL_EVERSION, "version");
}
static void t_moco_create_backbone(void)
{
    /* mlcl_moco_create with opts->backbone set (the caller's backbone, copied) */
    mlcl_moco *m = NULL; mlcl_moco_options o;
    small_moco_opts(&o);
    mlcl_encoder *bb = NULL;
    ck_assert_ok(mlcl_encoder_create(&bb, o.in_dim + 1, NULL));
    ck_assert_ok(mlcl_encoder_add_linear(bb, 4, 1));
    o.backbone = bb;
    BAD(mlcl_moco_create(NULL, &o), EINV, "out is NULL");
    BAD(mlcl_moco_create(&m, &o), EINV, "opts->backbone's input width");
    o.in_dim = 0; o.queue_size = 0;
    BAD(mlcl_moco_create(&m, &o), EINV, "queue_size");
    small_moco_opts(&o); o.backbone = bb; o.in_dim = 0; o.version = 77;
    BAD(mlcl_moco_create(&m, &o), MLCL_EVERSION, "version");
    small_moco_opts(&o); o.backbone = bb; o.in_dim = 0;
    ck_assert_ok(mlcl_moco_create(&m, &o));
    mlcl_moco_free(m); m = NULL;
    small_moco_opts(&o); o.in_dim = 0;
    BAD(mlcl_moco_create(&m, &o), EINV, "in_dim"); /* NULL backbone = the MLP: in_dim needed */
    ck_assert_ptr_null(m);
    mlcl_encoder_free(bb);
}
static void t_moco_create(void)
{
    mlcl_moco *m = NULL; mlcl_moco_options o;
    static const int w0[] = { 0 }, wmax[] = { INT_MAX }, w9[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    small_moco_opts(&o);
    BAD(mlcl_moco_create(NULL, &o), EINV, "out is NULL");
    BAD(mlcl_moco_create(&m, NULL), EINV, "opts is NULL");
    o.in_dim = 0; BAD(mlcl_moco_create(&m, &o), EINV, "in_dim");
    small_moco_opts(&o); o.n_labels = -1; BAD(mlcl_moco_create(&m, &o), EINV, "n_labels");
    small_moco_opts(&o); o.n_hidden = 9; o.hidden = w9; BAD(mlcl_moco_create(&m, &o), EINV, "n_hidden");
    small_moco_opts(&o); o.hidden = NULL; BAD(mlcl_moco_create(&m, &o), EINV, "opts->hidden is NULL");
    static mlcl_loss_options badl;
    static mlcl_optim_options bado = MLCL_MOCO_OPTIM_INIT;
    small_moco_opts(&o); o.hidden = w0; BAD(mlcl_moco_create(&m, &o), EINV, "hidden[0]");
    small_moco_opts(&o); o.dropout = NAN; BAD(mlcl_moco_create(&m, &o), EINV, "dropout");
    small_moco_opts(&o); o.proj_dropout = 1; BAD(mlcl_moco_create(&m, &o), EINV, "proj_dropout");
    small_moco_opts(&o); o.proj_dim = 0; BAD(mlcl_moco_create(&m, &o), EINV, "proj_dim");
    small_moco_opts(&o); o.queue_size = -5; BAD(mlcl_moco_create(&m, &o), EINV, "queue_size");
    small_moco_opts(&o); o.momentum = NAN; BAD(mlcl_moco_create(&m, &o), EINV, "momentum");
    small_moco_opts(&o); o.max_batch = 1; BAD(mlcl_moco_create(&m, &o), EINV, "max_batch");
    small_moco_opts(&o); o.key_train_mode = 3; BAD(mlcl_moco_create(&m, &o), EINV, "key_train_mode");
    mlcl_loss_options_init(&badl, MLCL_LOSS_OPTIONS_VERSION); badl.tau = -1;
    small_moco_opts(&o); o.loss = &badl; BAD(mlcl_moco_create(&m, &o), EINV, "tau");
    bado.lr = NAN;
    small_moco_opts(&o); o.optim = &bado; BAD(mlcl_moco_create(&m, &o), EINV, "lr");
    small_moco_opts(&o); o.version = 0; BAD(mlcl_moco_create(&m, &o), MLCL_EVERSION, "version");
    mlcl_loss_options_init(&badl, MLCL_LOSS_OPTIONS_VERSION); badl.version = 0;
    small_moco_opts(&o); o.loss = &badl; BAD(mlcl_moco_create(&m, &o), MLCL_EVERSION, "version");
    small_moco_opts(&o); o.in_dim = INT_MAX; o.hidden = wmax;
    mlcl_clear_error();
    int rc = mlcl_moco_create(&m, &o);
    ck_assert_msg(rc == MLCL_EOVERFLOW || rc == MLCL_ENOMEM, "huge moco: %d %s", rc, mlcl_last_error());
    ck_assert_ptr_null(m);
    t_moco_create_backbone();
}
static void t_moco_free(void) { mlcl_moco_free(NULL); }
static void t_moco_step(void)
{
    mlcl_moco *m = mk_moco();
    uint64_t ybad[4] = { 1, 2, 1ull << 9, 4 };
    mlcl_loss_parts p = MLCL_LOSS_PARTS_INIT;
    BAD(mlcl_moco_step(NULL, 4, X, X, YP, &p), EINV, "moco is NULL");
    BAD(mlcl_moco_step(m, 1, X, X, YP, &p), EINV, "n must be");
    BAD(mlcl_moco_step(m, 9, X, X, YP, &p), EINV, "n must be");
    BAD(mlcl_moco_step(m, 4, NULL, X, YP, &p), EINV, "x0 is NULL");
    BAD(mlcl_moco_step(m, 4, X, NULL, YP, &p), EINV, "x1 is NULL");
    BAD(mlcl_moco_step(m, 4, X, X, NULL, &p), EINV, "y is NULL");
    BAD(mlcl_moco_step(m, 4, XNAN, X, YP, &p), MLCL_ENUMERIC, "x0");
    BAD(mlcl_moco_step(m, 4, X, XNAN, YP, &p), MLCL_ENUMERIC, "x1");
    BAD(mlcl_moco_step(m, 4, X, X, ybad, &p), EINV, "y");
    p.version = 3;
    BAD(mlcl_moco_step(m, 4, X, X, YP, &p), MLCL_EVERSION, "parts->version 3");
    p.version = MLCL_LOSS_PARTS_VERSION;
    long long st; ck_assert_ok(mlcl_moco_steps(m, &st)); ck_assert_int_eq(st, 0);
    mlcl_queue *q; ck_assert_ok(mlcl_moco_queue(m, &q)); ck_assert_int_eq(tq_size(q), 0);
    ck_assert_ok(mlcl_moco_step(m, 4, X, X, YP, &p));
    mlcl_moco_free(m);
}
static void t_moco_set_param(void)
{
    mlcl_moco *m = mk_moco();
    BAD(mlcl_moco_set_param(NULL, MLCL_MOCO_PARAM_LR, 1e-3), EINV, "moco is NULL");
    BAD(mlcl_moco_set_param(m, MLCL_MOCO_PARAM_LR, NAN), EINV, "MLCL_MOCO_PARAM_LR (lr)");
    BAD(mlcl_moco_set_param(m, MLCL_MOCO_PARAM_LR, -1), EINV, "MLCL_MOCO_PARAM_LR (lr) = -1 is outside");
    BAD(mlcl_moco_set_param(m, MLCL_MOCO_PARAM_MOMENTUM, 1.5), EINV, "MLCL_MOCO_PARAM_MOMENTUM (momentum) = 1.5");
    BAD(mlcl_moco_set_param(m, MLCL_MOCO_PARAM_TAU, 0), EINV, "MLCL_MOCO_PARAM_TAU (tau) = 0");
    BAD(mlcl_moco_set_param(m, MLCL_MOCO_PARAM_ALPHA, -0.5), EINV, "MLCL_MOCO_PARAM_ALPHA (alpha)");
    BAD(mlcl_moco_set_param(m, MLCL_MOCO_PARAM_BETA, INFINITY), EINV, "MLCL_MOCO_PARAM_BETA (beta)");
    BAD(mlcl_moco_set_param(m, MLCL_MOCO_PARAM_SIGMA, -1), EINV, "MLCL_MOCO_PARAM_SIGMA (sigma)");
    BAD(mlcl_moco_set_param(m, (mlcl_moco_param)0, 1), EINV, "param 0 is not");
    BAD(mlcl_moco_set_param(m, (mlcl_moco_param)99, 1), EINV, "param 99 is not");
    mlcl_moco_free(m);
}
static void t_moco_get_param(void)
{
    mlcl_moco *m = mk_moco();
    double v;
    BAD(mlcl_moco_get_param(NULL, MLCL_MOCO_PARAM_TAU, &v), EINV, "moco is NULL");
    BAD(mlcl_moco_get_param(m, MLCL_MOCO_PARAM_TAU, NULL), EINV, "value is NULL");
    BAD(mlcl_moco_get_param(m, (mlcl_moco_param)7, &v), EINV, "param 7 is not");
    mlcl_moco_free(m);
}
static void t_moco_param_bounds(void)
{
    double lo, hi;
    BAD(mlcl_moco_param_bounds(MLCL_MOCO_PARAM_TAU, NULL, &hi), EINV, "lo is NULL");
    BAD(mlcl_moco_param_bounds(MLCL_MOCO_PARAM_TAU, &lo, NULL), EINV, "hi is NULL");
    BAD(mlcl_moco_param_bounds((mlcl_moco_param)-1, &lo, &hi), EINV, "param -1 is not");
}
static void t_moco_encoder(void)
{
    mlcl_moco *m = mk_moco(); mlcl_encoder *e;
    BAD(mlcl_moco_encoder(NULL, 0, &e), EINV, "moco is NULL");
    BAD(mlcl_moco_encoder(m, 0, NULL), EINV, "out is NULL");
    BAD(mlcl_moco_encoder(m, (mlcl_moco_part)5, &e), EINV, "part must be");
    BAD(mlcl_moco_encoder(m, (mlcl_moco_part)-1, &e), EINV, "part must be");
    mlcl_moco_free(m);
}
static void t_moco_queue(void)
{
    mlcl_moco *m = mk_moco(); mlcl_queue *q;
    BAD(mlcl_moco_queue(NULL, &q), EINV, "moco is NULL");
    BAD(mlcl_moco_queue(m, NULL), EINV, "out is NULL");
    mlcl_moco_free(m);
}
static void t_moco_optim(void)
{
    mlcl_moco *m = mk_moco(); mlcl_optim *o;
    BAD(mlcl_moco_optim(NULL, &o), EINV, "moco is NULL");
    BAD(mlcl_moco_optim(m, NULL), EINV, "out is NULL");
    mlcl_moco_free(m);
}
static void t_moco_steps(void)
{
    mlcl_moco *m = mk_moco(); long long s;
    BAD(mlcl_moco_steps(NULL, &s), EINV, "moco is NULL");
    BAD(mlcl_moco_steps(m, NULL), EINV, "steps is NULL");
    mlcl_moco_free(m);
}
static void t_moco_set_steps(void)
{
    mlcl_moco *m = mk_moco(); long long s = -1;
    BAD(mlcl_moco_set_steps(NULL, 3), EINV, "moco is NULL");
    BAD(mlcl_moco_set_steps(m, -1), EINV, "steps must be >= 0");
    ck_assert_ok(mlcl_moco_set_steps(m, 7));
    ck_assert_ok(mlcl_moco_steps(m, &s));
    ck_assert_int_eq(s, 7);
    mlcl_moco_free(m);
}

/* ------------------------------------------------------------- metrics */
static void t_metrics_init(void)
{
    mlcl_metrics m;
    BAD(mlcl_metrics_init(NULL, MLCL_METRICS_VERSION), EINV, "m is NULL");
    BAD(mlcl_metrics_init(&m, 7), MLCL_EVERSION, "version");
}
static void t_metrics_compute(void)
{
    mlcl_metrics m = MLCL_METRICS_INIT;
    float s[6] = { 0.1f, 0.9f, 0.3f, 0.4f, 0.5f, 0.6f };
    uint8_t y[6] = { 0, 1, 0, 1, 1, 0 };
    BAD(mlcl_metrics_compute(NULL, 2, 3, s, y, 0.5f), EINV, "out is NULL");
    BAD(mlcl_metrics_compute(&m, 0, 3, s, y, 0.5f), EINV, "n");
    BAD(mlcl_metrics_compute(&m, 2, -3, s, y, 0.5f), EINV, "c");
    BAD(mlcl_metrics_compute(&m, 2, 3, NULL, y, 0.5f), EINV, "scores is NULL");
    BAD(mlcl_metrics_compute(&m, 2, 3, s, NULL, 0.5f), EINV, "labels is NULL");
    BAD(mlcl_metrics_compute(&m, 2, 3, s, y, NAN), EINV, "threshold");
    y[4] = 2; BAD(mlcl_metrics_compute(&m, 2, 3, s, y, 0.5f), EINV, "[1][1]"); y[4] = 1;
    s[5] = INFINITY; BAD(mlcl_metrics_compute(&m, 2, 3, s, y, 0.5f), MLCL_ENUMERIC, "[1][2]"); s[5] = 0.6f;
    m.version = 9; BAD(mlcl_metrics_compute(&m, 2, 3, s, y, 0.5f), MLCL_EVERSION, "version");
}
static void t_metrics_sweep(void)
{
    mlcl_metrics m = MLCL_METRICS_INIT; float bt[4];
    float s[6] = { 0.1f, 0.9f, 0.3f, 0.4f, 0.5f, 0.6f };
    uint8_t y[6] = { 0, 1, 0, 1, 1, 0 };
    BAD(mlcl_metrics_sweep(NULL, bt, 2, 3, s, y), EINV, "best is NULL");
    BAD(mlcl_metrics_sweep(&m, bt, 0, 3, s, y), EINV, "n");
    BAD(mlcl_metrics_sweep(&m, bt, 2, 0, s, y), EINV, "c");
    BAD(mlcl_metrics_sweep(&m, bt, 2, 3, NULL, y), EINV, "scores is NULL");
    BAD(mlcl_metrics_sweep(&m, bt, 2, 3, s, NULL), EINV, "labels is NULL");
    s[0] = NAN; BAD(mlcl_metrics_sweep(&m, bt, 2, 3, s, y), MLCL_ENUMERIC, "[0][0]"); s[0] = 0.1f;
    y[0] = 255; BAD(mlcl_metrics_sweep(&m, bt, 2, 3, s, y), EINV, "[0][0]");
}
static void t_metrics_average_precision(void)
{
    double ap[3];
    float s[6] = { 0.1f, 0.9f, 0.3f, 0.4f, 0.5f, 0.6f };
    uint8_t y[6] = { 0, 1, 0, 1, 1, 0 };
    BAD(mlcl_metrics_average_precision(NULL, 2, 3, s, y), EINV, "ap is NULL");
    BAD(mlcl_metrics_average_precision(ap, -2, 3, s, y), EINV, "n");
    BAD(mlcl_metrics_average_precision(ap, 2, 0, s, y), EINV, "c");
    BAD(mlcl_metrics_average_precision(ap, 2, 3, NULL, y), EINV, "scores is NULL");
    BAD(mlcl_metrics_average_precision(ap, 2, 3, s, NULL), EINV, "labels is NULL");
    y[2] = 7; BAD(mlcl_metrics_average_precision(ap, 2, 3, s, y), EINV, "[0][2]");
}

/* ------------------------------------------------------------- train */
static void t_train_options_init(void)
{
    mlcl_train_options o;
    BAD(mlcl_train_options_init(NULL, MLCL_TRAIN_OPTIONS_VERSION), EINV, "opts is NULL");
    BAD(mlcl_train_options_init(&o, 0), MLCL_EVERSION, "version");
}
static void t_train_options_preset(void)
{
    mlcl_train_options o = MLCL_TRAIN_OPTIONS_INIT;
    BAD(mlcl_train_options_preset(NULL, "yeast"), EINV, "opts is NULL");
    BAD(mlcl_train_options_preset(&o, NULL), EINV, "preset is NULL");
    BAD(mlcl_train_options_preset(&o, "mnist"), EINV, "mnist");
}
static void t_trainer_ex_options_init(void)
{
    mlcl_trainer_ex_options x;
    BAD(mlcl_trainer_ex_options_init(NULL, MLCL_TRAINER_EX_OPTIONS_VERSION), EINV, "extra is NULL");
    BAD(mlcl_trainer_ex_options_init(&x, 9), MLCL_EVERSION, "version");
}
static void t_trainer_create_ex(void)
{
    mlcl_dataset *ds = mk_dataset(16);
    mlcl_trainer *t = NULL; mlcl_train_options o;
    small_train_opts(&o);
    mlcl_trainer_ex_options ex = MLCL_TRAINER_EX_OPTIONS_INIT;
    BAD(mlcl_trainer_create_ex(NULL, &o, ds, &ex), EINV, "out is NULL");
    BAD(mlcl_trainer_create_ex(&t, NULL, ds, &ex), EINV, "opts is NULL");
    BAD(mlcl_trainer_create_ex(&t, &o, NULL, &ex), EINV, "train is NULL");
    ex.version = 0; BAD(mlcl_trainer_create_ex(&t, &o, ds, &ex), MLCL_EVERSION, "version");
    ex.version = MLCL_TRAINER_EX_OPTIONS_VERSION;
    mlcl_simclr_options v;
    ck_assert_ok(mlcl_simclr_options_init(&v, MLCL_SIMCLR_OPTIONS_VERSION));
    ex.pretrain_views = &v; /* the dataset has no image shape */
    BAD(mlcl_trainer_create_ex(&t, &o, ds, &ex), EINV, "image shape");
    ex.pretrain_views = NULL; ex.finetune_views = &v;
    BAD(mlcl_trainer_create_ex(&t, &o, ds, &ex), EINV, "pretrain_views");
    ex.finetune_views = NULL;
    mlcl_encoder *bb = NULL;
    ck_assert_ok(mlcl_encoder_create(&bb, FD + 2, NULL));
    ex.backbone = bb;
    BAD(mlcl_trainer_create_ex(&t, &o, ds, &ex), EINV, "backbone");
    /* one source for the backbone: extra->backbone, never opts->moco->backbone */
    test_moco_of(&o)->o.backbone = bb;
    BAD(mlcl_trainer_create_ex(&t, &o, ds, NULL), EINV, "opts->moco->backbone is set");
    BAD(mlcl_trainer_create(&t, &o, ds), EINV, "mlcl_trainer_ex_options.backbone");
    test_moco_of(&o)->o.backbone = NULL;
    o.batch = 1; BAD(mlcl_trainer_create_ex(&t, &o, ds, &ex), EINV, "batch");
    ck_assert_ptr_null(t);
    mlcl_encoder_free(bb);
    mlcl_dataset_free(ds);
}
static void t_trainer_create(void)
{
    mlcl_dataset *ds = mk_dataset(16);
    mlcl_trainer *t = NULL; mlcl_train_options o;
    small_train_opts(&o);
    BAD(mlcl_trainer_create(NULL, &o, ds), EINV, "out is NULL");
    BAD(mlcl_trainer_create(&t, NULL, ds), EINV, "opts is NULL");
    BAD(mlcl_trainer_create(&t, &o, NULL), EINV, "train is NULL");
    o.method = 6; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "method");
    small_train_opts(&o); o.batch = 0; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "batch");
    small_train_opts(&o); o.batch = 1; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "batch");
    small_train_opts(&o); o.threads = -1; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "threads");
    small_train_opts(&o); o.pretrain_epochs = -1; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "pretrain_epochs");
    small_train_opts(&o); o.finetune_lr = NAN; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "finetune_lr");
    small_train_opts(&o); o.pretrain_mask_p = 1.5f; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "pretrain_mask_p");
    small_train_opts(&o); o.finetune_optim = 7; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "finetune_optim");
    small_train_opts(&o); o.pretrain_sched = 9; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "pretrain_sched");
    small_train_opts(&o); o.pretrain_T_0 = 0; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "T_0");
    small_train_opts(&o); o.finetune_head_lr_scale = -1; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "head_lr_scale");
    small_train_opts(&o); o.standardize = 2; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "standardize");
    small_train_opts(&o); o.stop_on_nonfinite = -1; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "stop_on_nonfinite");
    small_train_opts(&o); test_moco_of(&o)->o.proj_dim = 0; BAD(mlcl_trainer_create(&t, &o, ds), EINV, "proj_dim");
    small_train_opts(&o); o.version = 5; BAD(mlcl_trainer_create(&t, &o, ds), MLCL_EVERSION, "version");
    ck_assert_ptr_null(t);
    mlcl_dataset_free(ds);
}
static void t_trainer_free(void) { mlcl_trainer_free(NULL); }
static int cb(const mlcl_progress *p, void *c) { (void)p; (void)c; return 0; }
static void t_trainer_set_callback(void) { BAD(mlcl_trainer_set_callback(NULL, cb, NULL), EINV, "trainer is NULL"); }
static void t_trainer_run(void) { BAD(mlcl_trainer_run(NULL), EINV, "trainer is NULL"); }
static void t_trainer_run_epochs(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds); int done;
    BAD(mlcl_trainer_run_epochs(NULL, 1, &done), EINV, "trainer is NULL");
    BAD(mlcl_trainer_run_epochs(t, -1, &done), EINV, "epochs");
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}
static void t_trainer_predict(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds);
    BAD(mlcl_trainer_predict(NULL, 2, X, OUT), EINV, "trainer is NULL");
    BAD(mlcl_trainer_predict(t, 0, X, OUT), EINV, "n");
    BAD(mlcl_trainer_predict(t, 2, NULL, OUT), EINV, "x is NULL");
    BAD(mlcl_trainer_predict(t, 2, X, NULL), EINV, "scores is NULL");
    BAD(mlcl_trainer_predict(t, 2, XNAN, OUT), MLCL_ENUMERIC, "x");
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}
static void t_trainer_predict_csr(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds);
    int64_t ptr[3] = { 0, 1, 2 };
    int col[2] = { 0, FD - 1 }, col_bad[2] = { 0, FD };
    float val[2] = { 1, 2 };
    BAD(mlcl_trainer_predict_csr(NULL, 2, ptr, col, val, OUT), EINV, "trainer is NULL");
    BAD(mlcl_trainer_predict_csr(t, 0, ptr, col, val, OUT), EINV, "n");
    BAD(mlcl_trainer_predict_csr(t, 2, NULL, col, val, OUT), EINV, "row_ptr is NULL");
    BAD(mlcl_trainer_predict_csr(t, 2, ptr, col, val, NULL), EINV, "scores is NULL");
    BAD(mlcl_trainer_predict_csr(t, 2, ptr, col, val, OUT), EINV, "standardises"); /* (standardize 1) */
    mlcl_trainer_free(t);
    mlcl_train_options o0;
    small_train_opts(&o0);
    o0.standardize = 0;
    ck_assert_ok(mlcl_trainer_create(&t, &o0, ds));
    BAD(mlcl_trainer_predict_csr(t, 2, ptr, col_bad, val, OUT), EINV, "cols[1]");
    ck_assert_ok(mlcl_trainer_predict_csr(t, 2, ptr, col, val, OUT));
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}
static void t_trainer_distributions(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds);
    BAD(mlcl_trainer_distributions(NULL, 2, X, OUT), EINV, "trainer is NULL");
    BAD(mlcl_trainer_distributions(t, -2, X, OUT), EINV, "n");
    BAD(mlcl_trainer_distributions(t, 2, NULL, OUT), EINV, "x is NULL");
    BAD(mlcl_trainer_distributions(t, 2, X, NULL), EINV, "dists is NULL");
    BAD(mlcl_trainer_distributions(t, 2, XNAN, OUT), MLCL_ENUMERIC, "x");
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}
static void t_trainer_evaluate(void)
{
    mlcl_dataset *ds = mk_dataset(16), *other = NULL; mlcl_trainer *t = mk_trainer(ds);
    ck_assert_ok(mlcl_dataset_create_from_arrays(&other, 4, FD - 1, FC, X, Y01));
    mlcl_metrics a = MLCL_METRICS_INIT, b = MLCL_METRICS_INIT;
    BAD(mlcl_trainer_evaluate(NULL, ds, &a, &b), EINV, "trainer is NULL");
    BAD(mlcl_trainer_evaluate(t, NULL, &a, &b), EINV, "test is NULL");
    BAD(mlcl_trainer_evaluate(t, other, &a, &b), EINV, "test");
    /* the caller's version is checked, never overwritten */
    b.version = 0;
    ck_assert_int_eq(mlcl_trainer_evaluate(t, ds, &a, &b), MLCL_EVERSION);
    ck_assert_uint_eq(b.version, 0);
    mlcl_trainer_free(t); mlcl_dataset_free(ds); mlcl_dataset_free(other);
}
static void t_trainer_timing(void) { double a; BAD(mlcl_trainer_timing(NULL, &a, &a), EINV, "trainer is NULL"); }
static void t_trainer_position(void) { int a; BAD(mlcl_trainer_position(NULL, &a, &a), EINV, "trainer is NULL"); }
static void t_check_output_path(void)
{
    BAD(mlcl_check_output_path(NULL), EINV, "path is NULL");
    BAD(mlcl_check_output_path(""), EINV, "empty");
    BAD(mlcl_check_output_path("/"), EINV, "directory");
    BAD(mlcl_check_output_path("/nonexistent-dir/x"), MLCL_EIO, "/nonexistent-dir");
}
static void t_trainer_in_use(void) { int a; BAD(mlcl_trainer_in_use(NULL, &a), EINV, "trainer is NULL"); }
/* validation: thresholds and epoch selection (test_valsel.c has the behaviour) */
static void t_metrics_compute_thresholds(void)
{
    mlcl_metrics m = MLCL_METRICS_INIT;
    float s[6] = { 0.1f, 0.9f, 0.3f, 0.4f, 0.5f, 0.6f }, th[3] = { 0.5f, 0.5f, 0.5f };
    uint8_t y[6] = { 0, 1, 0, 1, 1, 0 };
    BAD(mlcl_metrics_compute_thresholds(NULL, 2, 3, s, y, th), EINV, "out is NULL");
    BAD(mlcl_metrics_compute_thresholds(&m, 0, 3, s, y, th), EINV, "n");
    BAD(mlcl_metrics_compute_thresholds(&m, 2, 3, NULL, y, th), EINV, "scores is NULL");
    BAD(mlcl_metrics_compute_thresholds(&m, 2, 3, s, y, NULL), EINV, "thresholds is NULL");
    th[2] = INFINITY; BAD(mlcl_metrics_compute_thresholds(&m, 2, 3, s, y, th), EINV, "thresholds[2]"); th[2] = 0.5f;
    s[1] = NAN; BAD(mlcl_metrics_compute_thresholds(&m, 2, 3, s, y, th), MLCL_ENUMERIC, "[0][1]"); s[1] = 0.9f;
    m.version = 9; BAD(mlcl_metrics_compute_thresholds(&m, 2, 3, s, y, th), MLCL_EVERSION, "version");
}
static void t_metrics_choose_thresholds(void)
{
    float s[6] = { 0.1f, 0.9f, 0.3f, 0.4f, 0.5f, 0.6f }, th[3], g;
    uint8_t y[6] = { 0, 1, 0, 1, 1, 0 };
    BAD(mlcl_metrics_choose_thresholds(NULL, NULL, NULL, 2, 3, s, y), EINV, "all NULL");
    BAD(mlcl_metrics_choose_thresholds(th, &g, NULL, 2, -1, s, y), EINV, "c");
    BAD(mlcl_metrics_choose_thresholds(th, &g, NULL, 2, 3, NULL, y), EINV, "scores is NULL");
    BAD(mlcl_metrics_choose_thresholds(th, &g, NULL, 2, 3, s, NULL), EINV, "labels is NULL");
    y[2] = 3; BAD(mlcl_metrics_choose_thresholds(th, &g, NULL, 2, 3, s, y), EINV, "[0][2]"); y[2] = 0;
    s[4] = -INFINITY; BAD(mlcl_metrics_choose_thresholds(th, &g, NULL, 2, 3, s, y), MLCL_ENUMERIC, "[1][1]");
}
static void t_validation_options_init(void)
{
    mlcl_validation_options v;
    BAD(mlcl_validation_options_init(NULL, MLCL_VALIDATION_OPTIONS_VERSION), EINV, "opts is NULL");
    BAD(mlcl_validation_options_init(&v, 9), MLCL_EVERSION, "version");
}
static void t_trainer_set_validation(void)
{
    mlcl_dataset *ds = mk_dataset(16), *other = NULL; mlcl_trainer *t = mk_trainer(ds);
    ck_assert_ok(mlcl_dataset_create_from_arrays(&other, 4, FD - 1, FC, X, Y01));
    mlcl_validation_options v = MLCL_VALIDATION_OPTIONS_INIT;
    BAD(mlcl_trainer_set_validation(NULL, ds, &v), EINV, "trainer is NULL");
    BAD(mlcl_trainer_set_validation(t, other, &v), EINV, "features");
    v.select_metric = -2; BAD(mlcl_trainer_set_validation(t, ds, &v), EINV, "select_metric"); v.select_metric = MLCL_SELECT_NONE;
    v.patience = 3; BAD(mlcl_trainer_set_validation(t, ds, &v), EINV, "patience"); v.patience = 0;
    v.version = 5; BAD(mlcl_trainer_set_validation(t, ds, &v), MLCL_EVERSION, "version");
    mlcl_trainer_free(t); mlcl_dataset_free(ds); mlcl_dataset_free(other);
}
static void t_trainer_selection(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds); int e;
    BAD(mlcl_trainer_selection(NULL, &e, NULL, NULL, NULL), EINV, "trainer is NULL");
    BAD(mlcl_trainer_selection(t, &e, NULL, NULL, NULL), EINV, "no validation set");
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}
static void t_trainer_thresholds(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds); float th[FC];
    BAD(mlcl_trainer_thresholds(NULL, FC, th, NULL), EINV, "trainer is NULL");
    BAD(mlcl_trainer_thresholds(t, FC + 2, th, NULL), EINV, "c is");
    BAD(mlcl_trainer_thresholds(t, FC, th, NULL), EINV, "no validation set");
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}
static void t_trainer_evaluate_thresholds(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds);
    mlcl_metrics m = MLCL_METRICS_INIT;
    BAD(mlcl_trainer_evaluate_thresholds(NULL, ds, &m, NULL), EINV, "trainer is NULL");
    BAD(mlcl_trainer_evaluate_thresholds(t, NULL, &m, NULL), EINV, "test is NULL");
    BAD(mlcl_trainer_evaluate_thresholds(t, ds, NULL, NULL), EINV, "both NULL");
    BAD(mlcl_trainer_evaluate_thresholds(t, ds, NULL, &m), EINV, "no thresholds");
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}
static void t_set_num_threads_forced(void)
{
    BAD(mlcl_set_num_threads_forced(0), EINV, "n must be");
    BAD(mlcl_set_num_threads_forced(1025), EINV, "n must be");
}
static void t_get_num_threads(void) { BAD(mlcl_get_num_threads(NULL), EINV, "n is NULL"); }
static void t_trainer_save(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds);
    BAD(mlcl_trainer_save(NULL, "x.ckpt"), EINV, "trainer is NULL");
    BAD(mlcl_trainer_save(t, NULL), EINV, "path is NULL");
    BAD(mlcl_trainer_save(t, NOFILE), MLCL_EIO, "nonexistent-dir-mlcl");
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}
static void t_trainer_load(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds);
    BAD(mlcl_trainer_load(NULL, "x.ckpt"), EINV, "trainer is NULL");
    BAD(mlcl_trainer_load(t, NULL), EINV, "path is NULL");
    BAD(mlcl_trainer_load(t, NOFILE), MLCL_EIO, NOFILE);
    const char *p = tmpfile_path("garbage.ckpt", "MLCLCKPT garbage garbage garbage", 32);
    mlcl_clear_error();
    int rc = mlcl_trainer_load(t, p);
    ck_assert_msg(rc == MLCL_EFORMAT || rc == MLCL_ECHECKSUM || rc == MLCL_EVERSION, "%d %s", rc, mlcl_last_error());
    ck_assert_ptr_nonnull(strstr(mlcl_last_error(), "garbage.ckpt"));
    /* a checkpoint of a trainer with another shape */
    mlcl_dataset *ds2 = NULL;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds2, 16, FD - 1, FC, X, Y01));
    mlcl_trainer *t2 = mk_trainer(ds2);
    const char *p2 = tmpfile_path("other.ckpt", NULL, 0);
    ck_assert_ok(mlcl_trainer_save(t2, p2));
    mlcl_clear_error();
    rc = mlcl_trainer_load(t, p2);
    ck_assert_msg(rc == MLCL_EFORMAT || rc == EINV, "%d %s", rc, mlcl_last_error());
    ck_assert_ptr_nonnull(strstr(mlcl_last_error(), "other.ckpt"));
    mlcl_trainer_free(t2); mlcl_dataset_free(ds2);
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}
static void t_trainer_set_param(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds);
    BAD(mlcl_trainer_set_param(NULL, MLCL_TRAIN_PARAM_TAU, 0.1), EINV, "trainer is NULL");
    BAD(mlcl_trainer_set_param(t, (mlcl_train_param)99, 0.1), EINV, "param 99");
    BAD(mlcl_trainer_set_param(t, (mlcl_train_param)-1, 0.1), EINV, "param -1");
    BAD(mlcl_trainer_set_param(t, MLCL_TRAIN_PARAM_TAU, 0.0), EINV, "loss.tau");
    BAD(mlcl_trainer_set_param(t, MLCL_TRAIN_PARAM_MOMENTUM, 1.5), EINV, "momentum");
    BAD(mlcl_trainer_set_param(t, MLCL_TRAIN_PARAM_FINETUNE_LR, NAN), EINV, "finetune_lr");
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}
static void t_trainer_get_param(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds); double v;
    BAD(mlcl_trainer_get_param(NULL, MLCL_TRAIN_PARAM_TAU, &v), EINV, "trainer is NULL");
    BAD(mlcl_trainer_get_param(t, MLCL_TRAIN_PARAM_TAU, NULL), EINV, "value is NULL");
    BAD(mlcl_trainer_get_param(t, (mlcl_train_param)12, &v), EINV, "param 12");
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}
static void t_train_method_loss(void)
{
    mlcl_loss_options l;
    BAD(mlcl_train_method_loss(NULL, MLCL_METHOD_CLD), EINV, "out is NULL");
    BAD(mlcl_train_method_loss(&l, 6), EINV, "method 6");
    BAD(mlcl_train_method_loss(&l, -1), EINV, "method -1");
    ck_assert_ok(mlcl_train_method_loss(&l, MLCL_METHOD_SUPCON_ANY));
    ck_assert_int_eq(l.method, MLCL_LOSS_SUPCON);
    ck_assert_int_eq(l.mask, MLCL_MASK_ANY);
}
static void t_train_param_bounds(void)
{
    double lo, hi;
    BAD(mlcl_train_param_bounds((mlcl_train_param)12, &lo, &hi), EINV, "param 12");
    BAD(mlcl_train_param_bounds((mlcl_train_param)-3, &lo, &hi), EINV, "param -3");
    ck_assert_ok(mlcl_train_param_bounds(MLCL_TRAIN_PARAM_MOMENTUM, NULL, NULL));
}
static void t_moco_loss(void)
{
    mlcl_moco *m = mk_moco(); mlcl_loss *L;
    BAD(mlcl_moco_loss(NULL, &L), EINV, "moco is NULL");
    BAD(mlcl_moco_loss(m, NULL), EINV, "out is NULL");
    mlcl_moco_free(m);
}
static void t_trainer_moco(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds); mlcl_moco *m;
    BAD(mlcl_trainer_moco(NULL, &m), EINV, "trainer is NULL");
    BAD(mlcl_trainer_moco(t, NULL), EINV, "out is NULL");
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}

/* ------------------------------------------------------------- communicator (comm.h) */
static int one_f32(void *c, float *b, size_t n) { (void)c; (void)b; (void)n; return 0; }
static int one_f64(void *c, double *b, size_t n) { (void)c; (void)b; (void)n; return 0; }
static int one_gather(void *c, const void *s, size_t n, void *r) { (void)c; memcpy(r, s, n); return 0; }
static int one_bcast(void *c, void *b, size_t n, int root) { (void)c; (void)b; (void)n; (void)root; return 0; }
static int bad_bcast(void *c, void *b, size_t n, int root) { (void)c; (void)b; (void)n; (void)root; return 7; }
static mlcl_comm one_comm(void)
{
    mlcl_comm c = MLCL_COMM_INIT;
    c.allreduce_f32 = one_f32; c.allreduce_f64 = one_f64; c.allgather = one_gather; c.bcast = one_bcast;
    return c;
}
static void t_comm_init(void)
{
    mlcl_comm c;
    BAD(mlcl_comm_init(NULL, MLCL_COMM_VERSION), EINV, "comm is NULL");
    BAD(mlcl_comm_init(&c, 99), MLCL_EVERSION, "version 99");
}
static void t_comm_validate(void)
{
    mlcl_comm c = one_comm();
    ck_assert_ok(mlcl_comm_validate(&c));
    BAD(mlcl_comm_validate(NULL), EINV, "comm is NULL");
    c.version = 9; BAD(mlcl_comm_validate(&c), MLCL_EVERSION, "comm->version 9");
    c = one_comm(); c.size = 0; BAD(mlcl_comm_validate(&c), EINV, "comm->size");
    c = one_comm(); c.rank = 1; BAD(mlcl_comm_validate(&c), EINV, "comm->rank");
    c = one_comm(); c.rank = -1; BAD(mlcl_comm_validate(&c), EINV, "comm->rank");
    c = one_comm(); c.allreduce_f32 = NULL; BAD(mlcl_comm_validate(&c), EINV, "allreduce_f32 is NULL");
    c = one_comm(); c.allreduce_f64 = NULL; BAD(mlcl_comm_validate(&c), EINV, "allreduce_f64 is NULL");
    c = one_comm(); c.allgather = NULL; BAD(mlcl_comm_validate(&c), EINV, "allgather is NULL");
    c = one_comm(); c.bcast = NULL; BAD(mlcl_comm_validate(&c), EINV, "bcast is NULL");
}
static void t_encoder_set_comm(void)
{
    mlcl_encoder *e = mk_encoder();
    mlcl_comm c = one_comm();
    BAD(mlcl_encoder_set_comm(NULL, &c), EINV, "encoder is NULL");
    c.bcast = NULL; BAD(mlcl_encoder_set_comm(e, &c), EINV, "mlcl_encoder_set_comm: comm->bcast is NULL");
    c = one_comm(); c.version = 2; BAD(mlcl_encoder_set_comm(e, &c), MLCL_EVERSION, "mlcl_encoder_set_comm");
    ck_assert_ok(mlcl_encoder_set_comm(e, NULL));
    mlcl_encoder_free(e);
}
static void t_moco_set_comm(void)
{
    mlcl_moco *m = mk_moco();
    mlcl_comm c = one_comm();
    BAD(mlcl_moco_set_comm(NULL, &c), EINV, "moco is NULL");
    c.rank = 3; BAD(mlcl_moco_set_comm(m, &c), EINV, "mlcl_moco_set_comm: comm->rank");
    c = one_comm(); c.bcast = bad_bcast;
    BAD(mlcl_moco_set_comm(m, &c), MLCL_EBACKEND, "bcast of parameters");
    c = one_comm(); c.size = INT_MAX; c.rank = 0;
    BAD(mlcl_moco_set_comm(m, &c), MLCL_EOVERFLOW, "overflow");
    ck_assert_ok(mlcl_moco_set_comm(m, NULL));
    mlcl_moco_free(m);
}
static void t_trainer_set_comm(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds);
    mlcl_comm c = one_comm();
    BAD(mlcl_trainer_set_comm(NULL, &c), EINV, "trainer is NULL");
    c.allgather = NULL; BAD(mlcl_trainer_set_comm(t, &c), EINV, "mlcl_trainer_set_comm: comm->allgather is NULL");
    c = one_comm(); c.size = 3; c.rank = 2;
    BAD(mlcl_trainer_set_comm(t, &c), EINV, "multiple of the number of ranks (3)");
    ck_assert_ok(mlcl_trainer_set_comm(t, NULL));
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}

/* ------------------------------------------------------------- trained models (model.h) */
static mlcl_model *mk_model(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds); mlcl_model *m = NULL;
    ck_assert_ok(mlcl_trainer_export_model(t, &m));
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
    return m;
}
static void t_model_export_options_init(void)
{
    mlcl_model_export_options o;
    BAD(mlcl_model_export_options_init(NULL, MLCL_MODEL_EXPORT_OPTIONS_VERSION), EINV, "opts is NULL");
    BAD(mlcl_model_export_options_init(&o, 9), MLCL_EVERSION, "version 9");
}
static void t_trainer_export_model(void)
{
    mlcl_dataset *ds = mk_dataset(16); mlcl_trainer *t = mk_trainer(ds); mlcl_model *m;
    BAD(mlcl_trainer_export_model(NULL, &m), EINV, "trainer is NULL");
    BAD(mlcl_trainer_export_model(t, NULL), EINV, "out is NULL");
    mlcl_trainer_free(t); mlcl_dataset_free(ds);
}
static void t_trainer_export_model_ex(void)
{
    mlcl_dataset *ds = mk_dataset(16), *ds2 = mk_dataset(12); mlcl_trainer *t = mk_trainer(ds); mlcl_model *m;
    mlcl_model_export_options o = MLCL_MODEL_EXPORT_OPTIONS_INIT;
    float thr[FC] = { 0.5f, NAN, 0.5f };
    BAD(mlcl_trainer_export_model_ex(NULL, &m, &o), EINV, "trainer is NULL");
    o.train = ds2; BAD(mlcl_trainer_export_model_ex(t, &m, &o), EINV, "opts->train has 12 rows");
    o.train = NULL; o.thresholds = thr; BAD(mlcl_trainer_export_model_ex(t, &m, &o), EINV, "thresholds[1]");
    o.version = 3; BAD(mlcl_trainer_export_model_ex(t, &m, &o), MLCL_EVERSION, "version 3");
    mlcl_trainer_free(t); mlcl_dataset_free(ds); mlcl_dataset_free(ds2);
}
static void t_model_free(void) { mlcl_model_free(NULL); }
static void t_model_save(void)
{
    mlcl_model *m = mk_model();
    BAD(mlcl_model_save(NULL, "x.mlcl"), EINV, "model is NULL");
    BAD(mlcl_model_save(m, NULL), EINV, "path is NULL");
    BAD(mlcl_model_save(m, NOFILE), MLCL_EIO, "nonexistent-dir-mlcl");
    BAD(mlcl_model_save(m, TMPDIR_), EINV, "not a regular file");
    mlcl_model_free(m);
}
static void t_model_load(void)
{
    mlcl_model *m;
    BAD(mlcl_model_load(NULL, "x.mlcl"), EINV, "out is NULL");
    BAD(mlcl_model_load(&m, NULL), EINV, "path is NULL");
    BAD(mlcl_model_load(&m, NOFILE), MLCL_EIO, NOFILE);
    const char *p = tmpfile_path("garbage.mlcl", "MLCLMODL garbage garbage garbage garbage garbage", 48);
    mlcl_clear_error();
    int rc = mlcl_model_load(&m, p);
    ck_assert_msg(rc == MLCL_EFORMAT || rc == MLCL_ECHECKSUM, "%d %s", rc, mlcl_last_error());
    ck_assert_ptr_nonnull(strstr(mlcl_last_error(), "garbage.mlcl"));
    ck_assert_ptr_null(m);
}
static void t_model_workspace_create(void)
{
    mlcl_model *m = mk_model(); mlcl_model_workspace *ws;
    BAD(mlcl_model_workspace_create(NULL, m), EINV, "out is NULL");
    BAD(mlcl_model_workspace_create(&ws, NULL), EINV, "model is NULL");
    mlcl_model_free(m);
}
static void t_model_workspace_free(void) { mlcl_model_workspace_free(NULL); }
static void t_model_infer(void)
{
    mlcl_model *m = mk_model(), *m2 = mk_model(); mlcl_model_workspace *ws;
    ck_assert_ok(mlcl_model_workspace_create(&ws, m2));
    BAD(mlcl_model_infer(NULL, NULL, MLCL_MODEL_SCORES, 1, X, OUT), EINV, "model is NULL");
    BAD(mlcl_model_infer(m, NULL, 4, 1, X, OUT), EINV, "what = 4");
    BAD(mlcl_model_infer(m, NULL, MLCL_MODEL_SCORES, 0, X, OUT), EINV, "n must be > 0");
    BAD(mlcl_model_infer(m, NULL, MLCL_MODEL_SCORES, 1, NULL, OUT), EINV, "x is NULL");
    BAD(mlcl_model_infer(m, NULL, MLCL_MODEL_SCORES, 1, X, NULL), EINV, "out is NULL");
    BAD(mlcl_model_infer(m, NULL, MLCL_MODEL_SCORES, 2, XNAN, OUT), MLCL_ENUMERIC, "NaN");
    BAD(mlcl_model_infer(m, ws, MLCL_MODEL_SCORES, 1, X, OUT), EINV, "another model");
    mlcl_model_workspace_free(ws); mlcl_model_free(m); mlcl_model_free(m2);
}
static void t_model_predict(void)
{
    mlcl_model *m = mk_model();
    BAD(mlcl_model_predict(NULL, 1, X, OUT), EINV, "model is NULL");
    BAD(mlcl_model_predict(m, -1, X, OUT), EINV, "n must be > 0");
    BAD(mlcl_model_predict(m, 1, X, NULL), EINV, "scores is NULL");
    mlcl_model_free(m);
}
static void t_model_predict_labels(void)
{
    mlcl_model *m = mk_model(); uint8_t lab[FC];
    BAD(mlcl_model_predict_labels(NULL, 1, X, lab), EINV, "model is NULL");
    BAD(mlcl_model_predict_labels(m, 1, NULL, lab), EINV, "x is NULL");
    BAD(mlcl_model_predict_labels(m, 1, X, NULL), EINV, "labels is NULL");
    mlcl_model_free(m);
}
static void t_model_embed(void)
{
    mlcl_model *m = mk_model();
    BAD(mlcl_model_embed(NULL, 1, X, OUT), EINV, "model is NULL");
    BAD(mlcl_model_embed(m, 0, X, OUT), EINV, "n must be > 0");
    BAD(mlcl_model_embed(m, 1, X, NULL), EINV, "emb is NULL");
    mlcl_model_free(m);
}
static void t_model_distributions(void)
{
    mlcl_model *m = mk_model();
    BAD(mlcl_model_distributions(NULL, 1, X, OUT), EINV, "model is NULL");
    BAD(mlcl_model_distributions(m, 1, X, NULL), EINV, "dists is NULL");
    mlcl_model_free(m);
}
static void t_model_dims(void) { BAD(mlcl_model_dims(NULL, NULL, NULL, NULL), EINV, "model is NULL"); }
static void t_model_image_shape(void) { BAD(mlcl_model_image_shape(NULL, NULL, NULL, NULL, NULL, NULL), EINV, "model is NULL"); }
static void t_model_standardization(void)
{
    mlcl_model *m = mk_model(); float mean[FD];
    BAD(mlcl_model_standardization(NULL, NULL, NULL, NULL, FD), EINV, "model is NULL");
    BAD(mlcl_model_standardization(m, NULL, mean, NULL, FD + 1), EINV, "n_features = 6");
    mlcl_model_free(m);
}
static void t_model_architecture(void)
{
    mlcl_model *m = mk_model(); const char *s;
    BAD(mlcl_model_architecture(NULL, &s), EINV, "model is NULL");
    BAD(mlcl_model_architecture(m, NULL), EINV, "text is NULL");
    mlcl_model_free(m);
}
static void t_model_label_name(void)
{
    mlcl_model *m = mk_model(); const char *s;
    BAD(mlcl_model_label_name(NULL, 0, &s), EINV, "model is NULL");
    BAD(mlcl_model_label_name(m, FC, &s), EINV, "j = 3");
    BAD(mlcl_model_label_name(m, 0, NULL), EINV, "name is NULL");
    mlcl_model_free(m);
}
static void t_model_set_label_names(void)
{
    mlcl_model *m = mk_model(); const char *names[FC] = { "a", NULL, "c" };
    BAD(mlcl_model_set_label_names(NULL, FC, names), EINV, "model is NULL");
    BAD(mlcl_model_set_label_names(m, FC, NULL), EINV, "names is NULL");
    BAD(mlcl_model_set_label_names(m, FC - 1, names), EINV, "c = 2");
    BAD(mlcl_model_set_label_names(m, FC, names), EINV, "names[1] is NULL");
    mlcl_model_free(m);
}
static void t_model_thresholds(void)
{
    mlcl_model *m = mk_model(); float t[FC];
    BAD(mlcl_model_thresholds(NULL, FC, t), EINV, "model is NULL");
    BAD(mlcl_model_thresholds(m, FC, NULL), EINV, "thresholds is NULL");
    BAD(mlcl_model_thresholds(m, 0, t), EINV, "c = 0");
    mlcl_model_free(m);
}
static void t_model_set_thresholds(void)
{
    mlcl_model *m = mk_model(); float t[FC] = { 0.5f, INFINITY, 0.5f };
    BAD(mlcl_model_set_thresholds(NULL, FC, t), EINV, "model is NULL");
    BAD(mlcl_model_set_thresholds(m, FC, NULL), EINV, "thresholds is NULL");
    BAD(mlcl_model_set_thresholds(m, FC, t), EINV, "thresholds[1]");
    mlcl_model_free(m);
}
static void t_model_provenance_count(void)
{
    int n;
    BAD(mlcl_model_provenance_count(NULL, &n), EINV, "model is NULL");
}
static void t_model_provenance(void)
{
    mlcl_model *m = mk_model(); const char *k, *v;
    BAD(mlcl_model_provenance(NULL, 0, &k, &v), EINV, "model is NULL");
    BAD(mlcl_model_provenance(m, -1, &k, &v), EINV, "i = -1");
    mlcl_model_free(m);
}
static void t_model_provenance_get(void)
{
    mlcl_model *m = mk_model(); const char *v;
    BAD(mlcl_model_provenance_get(NULL, "seed", &v), EINV, "model is NULL");
    BAD(mlcl_model_provenance_get(m, NULL, &v), EINV, "key is NULL");
    BAD(mlcl_model_provenance_get(m, "seed", NULL), EINV, "value is NULL");
    mlcl_model_free(m);
}
static void t_model_set_provenance(void)
{
    mlcl_model *m = mk_model();
    BAD(mlcl_model_set_provenance(NULL, "k", "v"), EINV, "model is NULL");
    BAD(mlcl_model_set_provenance(m, NULL, "v"), EINV, "key is NULL");
    BAD(mlcl_model_set_provenance(m, "k", NULL), EINV, "value is NULL");
    BAD(mlcl_model_set_provenance(m, "", "v"), EINV, "key ''");
    BAD(mlcl_model_set_provenance(m, "k", "a\nb"), EINV, "newline");
    mlcl_model_free(m);
}

/* ------------------------------------------------------------- interop (safetensors, ONNX) */
static void t_model_create(void)
{
    mlcl_encoder *e = NULL; mlcl_model *m;
    ck_assert_ok(mlcl_encoder_create(&e, FD, NULL));
    BAD(mlcl_model_create(NULL, e, FC, 0), EINV, "out is NULL");
    BAD(mlcl_model_create(&m, NULL, FC, 0), EINV, "backbone is NULL");
    BAD(mlcl_model_create(&m, e, FC, 0), EINV, "no layer");
    ck_assert_ok(mlcl_encoder_add_linear(e, 4, 1));
    BAD(mlcl_model_create(&m, e, 0, 0), EINV, "n_labels = 0");
    BAD(mlcl_model_create(&m, e, -2, 0), EINV, "n_labels = -2");
    mlcl_encoder_free(e);
}
static void t_model_export_safetensors(void)
{
    mlcl_model *m = mk_model();
    BAD(mlcl_model_export_safetensors(NULL, "x.safetensors"), EINV, "model is NULL");
    BAD(mlcl_model_export_safetensors(m, NULL), EINV, "path is NULL");
    BAD(mlcl_model_export_safetensors(m, ""), EINV, "path is empty");
    BAD(mlcl_model_export_safetensors(m, TMPDIR_), EINV, "not a regular file");
    mlcl_model_free(m);
}
static void t_model_export_onnx(void)
{
    mlcl_model *m = mk_model();
    BAD(mlcl_model_export_onnx(NULL, "x.onnx"), EINV, "model is NULL");
    BAD(mlcl_model_export_onnx(m, NULL), EINV, "path is NULL");
    BAD(mlcl_model_export_onnx(m, ""), EINV, "path is empty");
    BAD(mlcl_model_export_onnx(m, TMPDIR_), EINV, "not a regular file");
    mlcl_model_free(m);
}
static void t_model_export_npz(void)
{
    mlcl_model *m = mk_model();
    BAD(mlcl_model_export_npz(NULL, "x.npz"), EINV, "model is NULL");
    BAD(mlcl_model_export_npz(m, NULL), EINV, "path is NULL");
    BAD(mlcl_model_export_npz(m, ""), EINV, "path is empty");
    BAD(mlcl_model_export_npz(m, TMPDIR_), EINV, "not a regular file");
    mlcl_model_free(m);
}
static void t_model_import_options_init(void)
{
    mlcl_model_import_options o;
    BAD(mlcl_model_import_options_init(NULL, MLCL_MODEL_IMPORT_OPTIONS_VERSION), EINV, "opts is NULL");
    BAD(mlcl_model_import_options_init(&o, 9), MLCL_EVERSION, "version 9");
}
static void t_model_import_safetensors(void)
{
    mlcl_model *m = mk_model();
    mlcl_model_import_options o = MLCL_MODEL_IMPORT_OPTIONS_INIT;
    BAD(mlcl_model_import_safetensors(NULL, "x.safetensors", NULL), EINV, "model is NULL");
    BAD(mlcl_model_import_safetensors(m, NULL, NULL), EINV, "path is NULL");
    BAD(mlcl_model_import_safetensors(m, NOFILE, NULL), MLCL_EIO, NOFILE);
    o.allow_unused = -1; BAD(mlcl_model_import_safetensors(m, NOFILE, &o), EINV, "allow_unused");
    o.allow_unused = 0; o.version = 4; BAD(mlcl_model_import_safetensors(m, NOFILE, &o), MLCL_EVERSION, "version 4");
    const char *p = tmpfile_path("garbage.safetensors", "\x10\0\0\0\0\0\0\0{not json at all", 24);
    BAD(mlcl_model_import_safetensors(m, p, NULL), MLCL_EFORMAT, "garbage.safetensors");
    mlcl_model_free(m);
}

/* ------------------------------------------------------------- readers.h (issue 16) */
static void t_csv_options_init(void)
{
    mlcl_csv_options o;
    BAD(mlcl_csv_options_init(NULL, MLCL_CSV_OPTIONS_VERSION), EINV, "o is NULL");
    BAD(mlcl_csv_options_init(&o, 999), MLCL_EVERSION, "version 999");
}
static void t_dataset_load_csv(void)
{
    mlcl_dataset *ds = NULL;
    mlcl_csv_options o = MLCL_CSV_OPTIONS_INIT;
    o.n_labels = 1;
    BAD(mlcl_dataset_load_csv(NULL, NOFILE, &o), EINV, "out is NULL");
    BAD(mlcl_dataset_load_csv(&ds, NULL, &o), EINV, "path is NULL");
    BAD(mlcl_dataset_load_csv(&ds, NOFILE, NULL), EINV, "o is NULL");
    BAD(mlcl_dataset_load_csv(&ds, NOFILE, &o), MLCL_EIO, NOFILE);
    o.n_labels = -1;
    BAD(mlcl_dataset_load_csv(&ds, NOFILE, &o), EINV, "n_labels");
    o.n_labels = 1; o.impute = 9;
    BAD(mlcl_dataset_load_csv(&ds, NOFILE, &o), EINV, "impute");
    o.impute = 0; o.version = 0;
    BAD(mlcl_dataset_load_csv(&ds, NOFILE, &o), MLCL_EVERSION, "version");
    ck_assert_ptr_null(ds);
}
static void t_image_read(void)
{
    float *px = NULL;
    int c, h, w;
    BAD(mlcl_image_read(NULL, &c, &h, &w, NOFILE, 3), EINV, "pixels is NULL");
    BAD(mlcl_image_read(&px, NULL, &h, &w, NOFILE, 3), EINV, "channels is NULL");
    BAD(mlcl_image_read(&px, &c, NULL, &w, NOFILE, 3), EINV, "height is NULL");
    BAD(mlcl_image_read(&px, &c, &h, NULL, NOFILE, 3), EINV, "width is NULL");
    BAD(mlcl_image_read(&px, &c, &h, &w, NULL, 3), EINV, "path is NULL");
    BAD(mlcl_image_read(&px, &c, &h, &w, NOFILE, 2), EINV, "want_channels");
    BAD(mlcl_image_read(&px, &c, &h, &w, NOFILE, 3), MLCL_EIO, NOFILE);
    ck_assert_ptr_null(px);
}
static void t_image_free(void) { mlcl_image_free(NULL); }
static void t_image_resize_crop(void)
{
    BAD(mlcl_image_resize_crop(NULL, 2, 2, X, 1, 4, 4), EINV, "dst is NULL");
    BAD(mlcl_image_resize_crop(OUT, 2, 2, NULL, 1, 4, 4), EINV, "src is NULL");
    BAD(mlcl_image_resize_crop(OUT, 0, 2, X, 1, 4, 4), EINV, "out_h");
    BAD(mlcl_image_resize_crop(OUT, 2, -1, X, 1, 4, 4), EINV, "out_w");
    BAD(mlcl_image_resize_crop(OUT, 2, 2, X, 0, 4, 4), EINV, "c must be");
    BAD(mlcl_image_resize_crop(OUT, 2, 2, X, 1, 0, 4), EINV, "h must be");
    BAD(mlcl_image_resize_crop(OUT, 2, 2, X, 1, 4, 0), EINV, "w must be");
    BAD(mlcl_image_resize_crop(OUT, 2, 2, X, 1, 1, INT_MAX), MLCL_EOVERFLOW, "too large");
}
static void t_manifest_options_init(void)
{
    mlcl_manifest_options o;
    BAD(mlcl_manifest_options_init(NULL, MLCL_MANIFEST_OPTIONS_VERSION), EINV, "o is NULL");
    BAD(mlcl_manifest_options_init(&o, 7), MLCL_EVERSION, "version 7");
}
/* the argument checks shared by the three manifest loaders */
static void manifest_bad_options(int (*load)(mlcl_dataset **, int *, const char *, const mlcl_manifest_options *))
{
    mlcl_dataset *ds = NULL;
    int sk;
    mlcl_manifest_options o = MLCL_MANIFEST_OPTIONS_INIT;
    BAD(load(NULL, &sk, NOFILE, &o), EINV, "out is NULL");
    BAD(load(&ds, &sk, NULL, &o), EINV, "path is NULL");
    BAD(load(&ds, NULL, NOFILE, &o), MLCL_EIO, NOFILE); /* skipped is nullable */
    o.height = 0; BAD(load(&ds, &sk, NOFILE, &o), EINV, "o->height");
    o.height = 8; o.channels = 4; BAD(load(&ds, &sk, NOFILE, &o), EINV, "o->channels");
    o.channels = 3; o.voc_difficult = 5; BAD(load(&ds, &sk, NOFILE, &o), EINV, "o->voc_difficult");
    o.voc_difficult = 0; o.n_label_names = 2; BAD(load(&ds, &sk, NOFILE, &o), EINV, "o->label_names is NULL");
    o.n_label_names = 0; o.threads = -1; BAD(load(&ds, &sk, NOFILE, &o), EINV, "o->threads");
    o.threads = 0; o.version = 3; BAD(load(&ds, &sk, NOFILE, &o), MLCL_EVERSION, "version");
    ck_assert_ptr_null(ds);
}
static void t_dataset_load_image_csv(void) { manifest_bad_options(mlcl_dataset_load_image_csv); }
static void t_dataset_load_coco(void) { manifest_bad_options(mlcl_dataset_load_coco); }
static void t_dataset_load_voc(void)
{
    mlcl_dataset *ds = NULL;
    BAD(mlcl_dataset_load_voc(&ds, NULL, NULL, "trainval", NULL), EINV, "root is NULL");
    BAD(mlcl_dataset_load_voc(&ds, NULL, NOFILE, NULL, NULL), EINV, "split is NULL");
    BAD(mlcl_dataset_load_voc(&ds, NULL, NOFILE, "a/b", NULL), EINV, "split 'a/b'");
    BAD(mlcl_dataset_load_voc(&ds, NULL, NOFILE, "trainval", NULL), MLCL_EIO, "ImageSets/Main");
}
static void t_data_guess_format(void)
{
    mlcl_data_format f;
    BAD(mlcl_data_guess_format(NULL, NOFILE), EINV, "format is NULL");
    BAD(mlcl_data_guess_format(&f, NULL), EINV, "path is NULL");
    BAD(mlcl_data_guess_format(&f, NOFILE), MLCL_EIO, NOFILE);
}

/* the streaming loader (mlcl/loader.h) */
static void t_image_list_create(void)
{
    mlcl_image_list *l = NULL;
    const char *p[1] = { "x.png" };
    const char *pn[1] = { NULL };
    uint8_t y[1] = { 1 };
    BAD(mlcl_image_list_create(NULL, 1, p, y, 1), EINV, "out is NULL");
    BAD(mlcl_image_list_create(&l, 0, p, y, 1), EINV, "n must be");
    BAD(mlcl_image_list_create(&l, 1, p, y, 0), EINV, "n_labels must be");
    BAD(mlcl_image_list_create(&l, 1, NULL, y, 1), EINV, "paths is NULL");
    BAD(mlcl_image_list_create(&l, 1, p, NULL, 1), EINV, "labels is NULL");
    BAD(mlcl_image_list_create(&l, 1, pn, y, 1), EINV, "paths[0] is NULL");
    ck_assert_ptr_null(l);
}
static void t_image_list_load_csv(void)
{
    mlcl_image_list *l = NULL;
    BAD(mlcl_image_list_load_csv(NULL, NOFILE, NULL), EINV, "out is NULL");
    BAD(mlcl_image_list_load_csv(&l, NULL, NULL), EINV, "path is NULL");
    BAD(mlcl_image_list_load_csv(&l, NOFILE, NULL), MLCL_EIO, NOFILE);
    ck_assert_ptr_null(l);
}
static void t_image_list_load_coco(void)
{
    mlcl_image_list *l = NULL;
    BAD(mlcl_image_list_load_coco(NULL, NOFILE, NULL), EINV, "out is NULL");
    BAD(mlcl_image_list_load_coco(&l, NULL, NULL), EINV, "path is NULL");
    BAD(mlcl_image_list_load_coco(&l, NOFILE, NULL), MLCL_EIO, NOFILE);
    ck_assert_ptr_null(l);
}
static void t_image_list_load_voc(void)
{
    mlcl_image_list *l = NULL;
    BAD(mlcl_image_list_load_voc(NULL, NOFILE, "trainval", NULL), EINV, "out is NULL");
    BAD(mlcl_image_list_load_voc(&l, NULL, "trainval", NULL), EINV, "root is NULL");
    BAD(mlcl_image_list_load_voc(&l, NOFILE, NULL, NULL), EINV, "split is NULL");
    BAD(mlcl_image_list_load_voc(&l, NOFILE, "trainval", NULL), MLCL_EIO, "ImageSets/Main");
    ck_assert_ptr_null(l);
}
static void t_image_list_free(void) { mlcl_image_list_free(NULL); }
static void t_image_list_size(void) { int n; BAD(mlcl_image_list_size(NULL, &n, NULL), EINV, "list is NULL"); }
static void t_image_list_label_name(void)
{
    const char *s = "x", *p[] = { "a.png" };
    const uint8_t y[] = { 1, 0 };
    BAD(mlcl_image_list_label_name(NULL, 0, &s), EINV, "list is NULL");
    mlcl_image_list *l = NULL;
    ck_assert_ok(mlcl_image_list_create(&l, 1, p, y, 2));
    BAD(mlcl_image_list_label_name(l, 0, NULL), EINV, "name is NULL");
    BAD(mlcl_image_list_label_name(l, 2, &s), EINV, "j = 2");
    ck_assert_ptr_null(s);
    BAD(mlcl_image_list_label_name(l, -1, &s), EINV, "j = -1");
    ck_assert_ok(mlcl_image_list_label_name(l, 1, &s));
    ck_assert_str_eq(s, "l2");
    mlcl_image_list_free(l);
}
static void t_loader_options_init(void)
{
    mlcl_loader_options o;
    BAD(mlcl_loader_options_init(NULL, MLCL_LOADER_OPTIONS_VERSION), EINV, "o is NULL");
    BAD(mlcl_loader_options_init(&o, 7), MLCL_EVERSION, "version 7");
}
static void t_loader_create(void)
{
    mlcl_loader *L = NULL;
    mlcl_image_list *l = NULL;
    const char *p[1] = { NOFILE };
    uint8_t y[1] = { 1 };
    BAD(mlcl_loader_create(NULL, NULL, NULL), EINV, "out is NULL");
    BAD(mlcl_loader_create(&L, NULL, NULL), EINV, "list is NULL");
    ck_assert_int_eq(mlcl_image_list_create(&l, 1, p, y, 1), MLCL_OK);
    mlcl_loader_options o = MLCL_LOADER_OPTIONS_INIT;
    o.batch = 0; BAD(mlcl_loader_create(&L, l, &o), EINV, "o->batch");
    o.batch = 1; o.channels = 2; BAD(mlcl_loader_create(&L, l, &o), EINV, "o->channels");
    o.channels = 3; o.threads = -1; BAD(mlcl_loader_create(&L, l, &o), EINV, "o->threads");
    o.threads = 1; o.normalize = 9; BAD(mlcl_loader_create(&L, l, &o), EINV, "o->normalize");
    o.normalize = 1; o.version = 9; BAD(mlcl_loader_create(&L, l, &o), MLCL_EVERSION, "version");
    ck_assert_ptr_null(L);
    mlcl_image_list_free(l);
}
static void t_loader_free(void) { mlcl_loader_free(NULL); }
static void t_loader_next(void) { mlcl_loader_batch b = MLCL_LOADER_BATCH_INIT; BAD(mlcl_loader_next(NULL, &b), EINV, "L is NULL"); }
static void t_loader_position(void) { int e; BAD(mlcl_loader_position(NULL, &e, NULL), EINV, "L is NULL"); }
static void t_loader_seek(void) { BAD(mlcl_loader_seek(NULL, 0, 0), EINV, "L is NULL"); }
static void t_loader_batches_per_epoch(void) { long long b; BAD(mlcl_loader_batches_per_epoch(NULL, &b), EINV, "L is NULL"); }
static void t_loader_stats_get(void) { mlcl_loader_stats s = MLCL_LOADER_STATS_INIT; BAD(mlcl_loader_stats_get(NULL, &s), EINV, "L is NULL"); }
static void t_trainer_create_stream(void)
{
    mlcl_trainer *t = NULL;
    mlcl_train_options o = MLCL_TRAIN_OPTIONS_INIT;
    BAD(mlcl_trainer_create_stream(NULL, &o, NULL, NULL, NULL), EINV, "out is NULL");
    BAD(mlcl_trainer_create_stream(&t, NULL, NULL, NULL, NULL), EINV, "opts is NULL");
    BAD(mlcl_trainer_create_stream(&t, &o, NULL, NULL, NULL), EINV, "pretrain is NULL");
    o.method = MLCL_METHOD_NONE;
    BAD(mlcl_trainer_create_stream(&t, &o, NULL, NULL, NULL), EINV, "finetune is NULL");
    o.version = 9;
    BAD(mlcl_trainer_create_stream(&t, &o, NULL, NULL, NULL), MLCL_EVERSION, "version");
    ck_assert_ptr_null(t);
}
static void t_loader_normalization(void) { float m[3], s[3]; BAD(mlcl_loader_normalization(NULL, m, s), EINV, "L is NULL"); }

/* per-handle thread counts (docs/abi.md "Thread counts"): 0 or 1..1024 */
#define BAD_THREADS(setter, getter, h, hname) do { int n_; \
    BAD(setter(NULL, 1), EINV, hname " is NULL"); \
    BAD(setter(h, -1), EINV, "n must be"); \
    BAD(setter(h, 1025), EINV, "1..1024"); \
    BAD(getter(NULL, &n_), EINV, hname " is NULL"); \
    BAD(getter(h, NULL), EINV, "n is NULL"); } while (0)
static void t_moco_set_threads(void) { mlcl_moco *m = mk_moco(); BAD_THREADS(mlcl_moco_set_threads, mlcl_moco_get_threads, m, "moco"); mlcl_moco_free(m); }
static void t_moco_get_threads(void) { t_moco_set_threads(); }
static void t_loss_set_threads(void) { mlcl_loss *l = mk_loss(); BAD_THREADS(mlcl_loss_set_threads, mlcl_loss_get_threads, l, "L"); mlcl_loss_free(l); }
static void t_loss_get_threads(void) { t_loss_set_threads(); }
static void t_encoder_set_threads(void) { mlcl_encoder *e = mk_encoder(); BAD_THREADS(mlcl_encoder_set_threads, mlcl_encoder_get_threads, e, "e"); mlcl_encoder_free(e); }
static void t_encoder_get_threads(void) { t_encoder_set_threads(); }
static void t_trainer_set_threads(void)
{
    mlcl_dataset *ds = mk_dataset(16);
    mlcl_trainer *t = mk_trainer(ds);
    BAD_THREADS(mlcl_trainer_set_threads, mlcl_trainer_get_threads, t, "trainer");
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
}
static void t_trainer_get_threads(void) { t_trainer_set_threads(); }

/* ------------------------------------------------------------- the table */
typedef struct { const char *name; void (*fn)(void); } entry;
#define E(f) { "mlcl_" #f, t_##f }
static const entry TABLE[] = {
    E(status_str), E(last_error), E(clear_error), E(version_number), E(version_string),
    E(set_allocator), E(allocator_init), E(set_num_threads), E(set_num_threads_forced), E(get_num_threads), E(rng_create), E(rng_free), E(rng_seed), E(rng_u32),
    E(rng_uniform), E(rng_normal), E(rng_get_state), E(rng_set_state),
    E(dataset_load_arff), E(dataset_load_libsvm), E(dataset_load_libsvm_sparse), E(dataset_load_arff_sparse), E(dataset_create_csr),
    E(dataset_is_sparse), E(dataset_csr), E(idx_load), E(idx_free),
    E(dataset_load_idx), E(dataset_set_image_shape), E(dataset_set_label_names), E(dataset_create_from_arrays), E(dataset_subset),
    E(dataset_split), E(dataset_free), E(dataset_dims), E(dataset_image_shape), E(dataset_features),
    E(dataset_labels), E(dataset_labels_packed), E(dataset_feature_name), E(dataset_label_name),
    E(dataset_gather), E(dataset_standardize_stats), E(dataset_standardize_apply), E(batcher_create),
    E(batcher_free), E(batcher_next), E(batcher_epoch), E(batcher_batches_per_epoch),
    E(batcher_get_state), E(batcher_set_state), E(augment_mask),
    E(simclr_options_init), E(image_simclr), E(image_resize), E(npy_read), E(npy_free),
    E(dataset_load_npy),
    E(encoder_options_init), E(mlp_spec_init), E(encoder_create), E(encoder_create_mlp), E(encoder_free),
    E(encoder_add_linear), E(encoder_add_relu), E(encoder_add_dropout), E(encoder_add_batchnorm),
    E(encoder_add_l2norm), E(encoder_add_softmax), E(encoder_forward), E(encoder_forward_csr), E(encoder_backward),
    E(encoder_zero_grad), E(encoder_set_training), E(encoder_get_training), E(encoder_set_threads), E(encoder_get_threads), E(encoder_in_dim),
    E(encoder_out_dim), E(encoder_num_layers), E(encoder_param_count), E(encoder_params_ptr),
    E(encoder_grads_ptr), E(encoder_get_params), E(encoder_set_params), E(encoder_state_count),
    E(encoder_get_state), E(encoder_set_state), E(encoder_copy_params), E(encoder_momentum_update),
    E(encoder_get_rng_state), E(encoder_set_rng_state), E(encoder_clone), E(resnet_spec_init), E(encoder_create_resnet),
    E(softmax_forward), E(softmax_backward),
    E(bce_with_logits), E(sigmoid), E(l2norm_forward), E(l2norm_backward),
    E(optim_options_init), E(optim_create), E(optim_free), E(optim_add_group), E(optim_num_groups),
    E(optim_set_lr), E(optim_set_weight_decay), E(optim_get_lr), E(optim_step), E(optim_zero_state), E(optim_state_count),
    E(optim_get_state), E(optim_set_state), E(optim_get_step), E(optim_set_step),
    E(sched_options_init), E(sched_lr),
    E(label_words), E(labels_pack), E(labels_unpack), E(queue_options_init), E(queue_create),
    E(queue_free), E(queue_enqueue), E(queue_reset), E(queue_size), E(queue_capacity), E(queue_head),
    E(queue_feat_dim), E(queue_n_labels), E(queue_features), E(queue_labels), E(queue_dists),
    E(queue_set_state), E(mask_build), E(mask_labelwise_counts),
    E(mask_labelwise),
    E(loss_options_init), E(loss_create), E(loss_free), E(loss_set_threads), E(loss_get_threads), E(loss_set_options), E(loss_get_options),
    E(loss_get_dims), E(loss_workspace_size), E(loss_compute), E(loss_parts_init), E(loss_inputs_init),
    E(moco_options_init), E(moco_create), E(moco_free), E(moco_step), E(moco_set_param), E(moco_get_param),
    E(moco_param_bounds), E(moco_set_threads), E(moco_get_threads), E(moco_encoder),
    E(moco_queue), E(moco_optim), E(moco_steps), E(moco_set_steps), E(moco_loss), E(trainer_create_ex), E(trainer_ex_options_init),
    E(comm_init), E(comm_validate), E(encoder_set_comm), E(moco_set_comm), E(trainer_set_comm),
    E(metrics_init), E(metrics_compute), E(metrics_sweep), E(metrics_average_precision),
    E(train_options_init), E(train_options_preset), E(trainer_create), E(trainer_free),
    E(trainer_set_callback), E(trainer_set_threads), E(trainer_get_threads), E(trainer_run), E(trainer_run_epochs), E(trainer_predict), E(trainer_predict_csr),
    E(trainer_distributions), E(trainer_evaluate), E(trainer_timing), E(trainer_position), E(trainer_in_use), E(check_output_path),
    E(metrics_compute_thresholds), E(metrics_choose_thresholds), E(validation_options_init), E(trainer_set_validation),
    E(trainer_selection), E(trainer_thresholds), E(trainer_evaluate_thresholds),
    E(trainer_save), E(trainer_load), E(trainer_moco), E(trainer_set_param), E(trainer_get_param), E(train_param_bounds), E(train_method_loss),
    E(model_export_options_init), E(trainer_export_model), E(trainer_export_model_ex), E(model_free),
    E(model_save), E(model_load), E(model_workspace_create), E(model_workspace_free), E(model_infer),
    E(model_predict), E(model_predict_labels), E(model_embed), E(model_distributions), E(model_dims),
    E(model_image_shape), E(model_standardization), E(model_architecture), E(model_label_name),
    E(model_set_label_names), E(model_thresholds), E(model_set_thresholds), E(model_provenance_count),
    E(model_provenance), E(model_provenance_get), E(model_set_provenance),
    E(model_create), E(model_export_safetensors), E(model_export_onnx), E(model_export_npz), E(model_import_options_init),
    E(model_import_safetensors),
    E(csv_options_init), E(dataset_load_csv), E(image_read), E(image_free), E(image_resize_crop),
    E(manifest_options_init), E(dataset_load_image_csv), E(dataset_load_coco), E(dataset_load_voc),
    E(data_guess_format),
    E(image_list_create), E(image_list_load_csv), E(image_list_load_coco), E(image_list_load_voc), E(image_list_free), E(image_list_size), E(image_list_label_name), E(loader_options_init), E(loader_batch_init), E(loader_stats_init),
    E(loader_create), E(loader_free), E(loader_next), E(loader_position), E(loader_seek), E(loader_batches_per_epoch),
    E(loader_stats_get), E(loader_normalization), E(trainer_create_stream),
};
#define NTABLE ((int)(sizeof TABLE / sizeof TABLE[0]))

static int in_table(const char *name)
{
    for (int i = 0; i < NTABLE; i++)
        if (strcmp(TABLE[i].name, name) == 0) return 1;
    return 0;
}

START_TEST(each_function)
{
    fill_fixtures();
    TABLE[_i].fn();
    mlcl_set_allocator(NULL);
}
END_TEST

/* Every function declared MLCL_API in include/mlcl/ has a table entry. */
START_TEST(covers_headers)
{
    /* every public header, whatever the split of the concepts into headers */
    const char *src = getenv("MLCL_SRC_DIR") ? getenv("MLCL_SRC_DIR") : ".";
    char pattern[1024];
    snprintf(pattern, sizeof pattern, "%s/include/mlcl/*.h", src);
    glob_t g;
    ck_assert_msg(glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc >= 10, "no headers in %s (set MLCL_SRC_DIR)", pattern);
    int seen = 0;
    char missing[4096] = "";
    for (size_t h = 0; h < g.gl_pathc; h++) {
        const char *path = g.gl_pathv[h];
        FILE *f = fopen(path, "r");
        ck_assert_msg(f != NULL, "cannot open %s (set MLCL_SRC_DIR)", path);
        /* read the whole header; find "MLCL_API" then the identifier before the next '(' */
        char *buf = NULL; size_t len = 0, cap = 0; int ch;
        while ((ch = fgetc(f)) != EOF) {
            if (len + 1 >= cap) { cap = cap ? 2 * cap : 65536; buf = realloc(buf, cap); }
            buf[len++] = (char)ch;
        }
        buf[len] = '\0';
        fclose(f);
        for (char *p = strstr(buf, "MLCL_API "); p; p = strstr(p + 1, "MLCL_API ")) {
            if (p > buf && p[-1] != '\n') continue; /* only declarations at the start of a line */
            char *par = strchr(p, '(');
            if (!par) continue;
            char *e = par;
            while (e > p && e[-1] == ' ') e--;
            char *b = e;
            while (b > p && (b[-1] == '_' || (b[-1] >= 'a' && b[-1] <= 'z') || (b[-1] >= '0' && b[-1] <= '9'))) b--;
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(e - b), b);
            seen++;
            if (!in_table(name) && strlen(missing) + strlen(name) + 2 < sizeof missing) {
                strcat(missing, name); strcat(missing, " ");
            }
        }
        free(buf);
    }
    globfree(&g);
    ck_assert_msg(missing[0] == '\0', "exported functions without a bad-argument entry: %s", missing);
    ck_assert_int_eq(seen, NTABLE);
}
END_TEST

/* Every mlcl_* symbol the shared library exports has a table entry. */
START_TEST(covers_shared_library)
{
    const char *so = getenv("MLCL_BADARGS_SHLIB") ? getenv("MLCL_BADARGS_SHLIB") : "lib/libmlcl.so.1";
    if (access(so, R_OK) != 0) return; /* not built: the header check above still runs */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s' 2>/dev/null", so);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    char line[512], missing[4096] = "";
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        char addr[64], type[8], name[256];
        if (sscanf(line, "%63s %7s %255s", addr, type, name) != 3 || strcmp(type, "T") != 0) continue;
        char *at = strchr(name, '@');
        if (at) *at = '\0';
        if (strncmp(name, "mlcl_", 5) != 0) continue;
        n++;
        if (!in_table(name) && strlen(missing) + strlen(name) + 2 < sizeof missing) {
            strcat(missing, name); strcat(missing, " ");
        }
    }
    pclose(p);
    ck_assert_msg(missing[0] == '\0', "%s exports functions without a bad-argument entry: %s", so, missing);
    ck_assert_int_gt(n, 0);
}
END_TEST

int main(void)
{
    snprintf(TMPDIR_, sizeof TMPDIR_, "/tmp/mlcl_badargs_%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", TMPDIR_);
    if (system(cmd) != 0) return 1;
    Suite *s = suite_create("badargs");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, each_function, 0, NTABLE);
    tcase_add_test(tc, covers_headers);
    tcase_add_test(tc, covers_shared_library);
    suite_add_tcase(s, tc);
    int rc = run_suite(s);
    snprintf(cmd, sizeof cmd, "rm -rf %s", TMPDIR_);
    if (system(cmd) != 0) return 1;
    return rc;
}
