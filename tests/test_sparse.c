/* Sparse (CSR) features: the CSR LIBSVM reader, CSR datasets, the sparse
 * first layer against the dense one, a finite-difference check, the CSR
 * mask views, and a short training run sparse vs dense. */
#include <math.h>
#include <unistd.h>
#include "testutil.h"
#include "core/internal.h"
#include "data/sparse_lib.h"
#include "cl/moco_internal.h"
#include "kernels/pcgfill.h"

/* A Medical/Enron-shaped random set: n x d at the given density, values
 * tf-idf-like in (0, 1], c labels (2-4 per row); CSR and dense views. */
typedef struct {
    int n, d, c;
    int64_t *ptr;
    int *col;
    float *val, *x;
    uint8_t *y;
} gen;

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static void gen_make(gen *g, int n, int d, int c, double density, uint64_t seed)
{
    g->n = n; g->d = d; g->c = c;
    g->ptr = calloc((size_t)n + 1, sizeof *g->ptr);
    g->col = malloc((size_t)n * d * sizeof *g->col);
    g->val = malloc((size_t)n * d * sizeof *g->val);
    g->x = calloc((size_t)n * d, sizeof *g->x);
    g->y = calloc((size_t)n * c, 1);
    uint64_t s = seed;
    int64_t q = 0;
    uint64_t thr = (uint64_t)(density * 2147483648.0);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++)
            if (lcg(&s) < thr) {
                float v = (float)(1 + lcg(&s) % 1000) / 1000.0f;
                g->col[q] = j;
                g->val[q] = v;
                g->x[(size_t)i * d + j] = v;
                q++;
            }
        g->ptr[i + 1] = q;
        int nl = 2 + (int)(lcg(&s) % 3);
        for (int k = 0; k < nl; k++) g->y[(size_t)i * c + lcg(&s) % (uint64_t)c] = 1;
    }
}

static void gen_free(gen *g)
{
    free(g->ptr); free(g->col); free(g->val); free(g->x); free(g->y);
}

static double max_rel(const float *a, const float *b, size_t n, double floor)
{
    double m = 0;
    for (size_t k = 0; k < n; k++) {
        double e = fabs((double)a[k] - b[k]) / (fabs((double)b[k]) + floor);
        if (e > m) m = e;
    }
    return m;
}

static mlcl_encoder *make_mlp(int in, int h, int out_dim, float dropout, uint64_t seed)
{
    mlcl_mlp_spec sp = MLCL_MLP_SPEC_INIT;
    sp.in_dim = in;
    sp.n_hidden = 2;
    sp.hidden[0] = h;
    sp.hidden[1] = h / 2;
    sp.dropout = dropout;
    sp.out_dim = out_dim;
    mlcl_encoder_options eo = MLCL_ENCODER_OPTIONS_INIT;
    eo.seed = seed;
    mlcl_encoder *e = NULL;
    ck_assert_ok(mlcl_encoder_create_mlp(&e, &sp, &eo));
    return e;
}

/* Medical-shaped (1449 features, ~4 % dense, 45 labels; 64 rows so that some
 * columns are absent from the batch): the
 * sparse and the dense forward/backward through the whole MLP (with dropout:
 * the same masks on both) agree to float rounding. */
START_TEST(sparse_layer_matches_dense)
{
    gen g;
    gen_make(&g, 64, 1449, 45, 0.04, 7);
    mlcl_encoder *ed = make_mlp(g.d, 128, 45, 0.2f, 3), *es = NULL;
    ck_assert_ok(mlcl_encoder_clone(&es, ed));
    int n = g.n, c = 45;
    float *od = malloc(sizeof(float) * n * c), *os = malloc(sizeof(float) * n * c), *go = malloc(sizeof(float) * n * c);
    ck_assert_ok(mlcl_encoder_forward(ed, n, g.x, od));
    ck_assert_ok(mlcl_encoder_forward_csr(es, n, g.ptr, g.col, g.val, os));
    double e = max_rel(os, od, (size_t)n * c, 1e-3);
    ck_assert_msg(e < 1e-4, "forward differs: %g", e);
    uint64_t s = 11;
    for (int k = 0; k < n * c; k++) go[k] = ((float)(lcg(&s) % 2001) - 1000.0f) / 1000.0f;
    ck_assert_ok(mlcl_encoder_zero_grad(ed));
    ck_assert_ok(mlcl_encoder_zero_grad(es));
    ck_assert_ok(mlcl_encoder_backward(ed, n, go, NULL));
    ck_assert_ok(mlcl_encoder_backward(es, n, go, NULL));
    size_t np;
    float *gd, *gs;
    ck_assert_ok(mlcl_encoder_param_count(ed, &np));
    ck_assert_ok(mlcl_encoder_grads_ptr(ed, &gd));
    ck_assert_ok(mlcl_encoder_grads_ptr(es, &gs));
    double scale = 0;
    for (size_t k = 0; k < np; k++) scale = fmax(scale, fabs(gd[k]));
    ck_assert(scale > 0.1);
    double md = 0;
    for (size_t k = 0; k < np; k++) md = fmax(md, fabs((double)gd[k] - gs[k]));
    ck_assert_msg(md < 1e-5 * scale, "gradients differ by %g (scale %g)", md, scale);
    /* a column absent from the batch has an exactly zero weight gradient */
    int *seen = calloc((size_t)g.d, sizeof *seen), absent = -1;
    for (int64_t q = 0; q < g.ptr[n]; q++) seen[g.col[q]] = 1;
    for (int j = 0; j < g.d && absent < 0; j++)
        if (!seen[j]) absent = j;
    ck_assert_int_ge(absent, 0);
    for (int o = 0; o < 128; o++) ck_assert(gs[(size_t)o * g.d + absent] == 0.0f);
    /* no input gradient after a sparse forward */
    float *gi = malloc(sizeof(float) * n * g.d);
    ck_assert_status_msg(mlcl_encoder_backward(es, n, go, gi), MLCL_EINVAL, "grad_in = NULL");
    free(gi);
    free(seen);
    free(od); free(os); free(go);
    mlcl_encoder_free(ed);
    mlcl_encoder_free(es);
    gen_free(&g);
}
END_TEST

/* Bad CSR input is refused with the entry named; a dense-only first layer too. */
START_TEST(sparse_forward_errors)
{
    mlcl_encoder *e = make_mlp(10, 8, 3, 0.0f, 1);
    float out[2 * 3];
    int64_t ptr[3] = { 0, 2, 3 };
    int col_bad[3] = { 4, 2, 9 }, col_range[3] = { 1, 2, 10 }, col_ok[3] = { 1, 2, 9 };
    float val[3] = { 1, 2, 3 }, val_nan[3] = { 1, NAN, 3 };
    ck_assert_status_msg(mlcl_encoder_forward_csr(e, 2, ptr, col_bad, val, out), MLCL_EINVAL, "increase strictly");
    ck_assert_status_msg(mlcl_encoder_forward_csr(e, 2, ptr, col_range, val, out), MLCL_EINVAL, "cols[2] = 10");
    ck_assert_status_msg(mlcl_encoder_forward_csr(e, 2, ptr, col_ok, val_nan, out), MLCL_ENUMERIC, "vals[1]");
    int64_t ptr_down[3] = { 0, 2, 1 };
    ck_assert_status_msg(mlcl_encoder_forward_csr(e, 2, ptr_down, col_ok, val, out), MLCL_EINVAL, "row_ptr[2]");
    ck_assert_ok(mlcl_encoder_forward_csr(e, 2, ptr, col_ok, val, out));
    /* a slice: row_ptr[0] > 0 reads from there */
    int64_t ptr_s[2] = { 2, 3 };
    float o1[3], o2[3];
    ck_assert_ok(mlcl_encoder_forward_csr(e, 1, ptr_s, col_ok, val, o1));
    float xd[10] = { 0 };
    xd[9] = 3;
    ck_assert_ok(mlcl_encoder_forward(e, 1, xd, o2));
    for (int k = 0; k < 3; k++) ck_assert_float_eq_tol(o1[k], o2[k], 1e-6f);
    mlcl_encoder_free(e);
    mlcl_encoder *id = NULL;
    ck_assert_ok(mlcl_encoder_create(&id, 10, NULL));
    ck_assert_ok(mlcl_encoder_add_relu(id));
    ck_assert_status_msg(mlcl_encoder_forward_csr(id, 2, ptr, col_ok, val, out), MLCL_EINVAL, "Linear first layer");
    mlcl_encoder_free(id);
}
END_TEST

/* Finite differences: loss = sum(out .* R) of Linear(30,6)-ReLU-Linear(6,4)
 * on a sparse batch; d loss / d W1[o][j] for present columns j, and the bias. */
START_TEST(sparse_grad_finite_difference)
{
    gen g;
    gen_make(&g, 5, 30, 3, 0.2, 5);
    mlcl_encoder *e = NULL;
    ck_assert_ok(mlcl_encoder_create(&e, 30, NULL));
    ck_assert_ok(mlcl_encoder_add_linear(e, 6, 1));
    ck_assert_ok(mlcl_encoder_add_relu(e));
    ck_assert_ok(mlcl_encoder_add_linear(e, 4, 1));
    int n = g.n;
    float R[5 * 4], out[5 * 4];
    uint64_t s = 9;
    for (int k = 0; k < n * 4; k++) R[k] = ((float)(lcg(&s) % 2001) - 1000.0f) / 1000.0f;
    ck_assert_ok(mlcl_encoder_zero_grad(e));
    ck_assert_ok(mlcl_encoder_forward_csr(e, n, g.ptr, g.col, g.val, out));
    ck_assert_ok(mlcl_encoder_backward(e, n, R, NULL));
    float *p, *gr;
    size_t np;
    ck_assert_ok(mlcl_encoder_params_ptr(e, &p));
    ck_assert_ok(mlcl_encoder_grads_ptr(e, &gr));
    ck_assert_ok(mlcl_encoder_param_count(e, &np));
    float *ga = malloc(np * sizeof *ga);
    memcpy(ga, gr, np * sizeof *ga);
    int checked = 0;
    const float h = 1e-3f;
    for (size_t k = 0; k < 6 * 30 + 6; k++) { /* W1 and b1 */
        float keep = p[k];
        double lp = 0, lm = 0;
        p[k] = keep + h;
        ck_assert_ok(mlcl_encoder_forward_csr(e, n, g.ptr, g.col, g.val, out));
        for (int q = 0; q < n * 4; q++) lp += (double)out[q] * R[q];
        p[k] = keep - h;
        ck_assert_ok(mlcl_encoder_forward_csr(e, n, g.ptr, g.col, g.val, out));
        for (int q = 0; q < n * 4; q++) lm += (double)out[q] * R[q];
        p[k] = keep;
        double num = (lp - lm) / (2.0 * h);
        ck_assert_msg(fabs(num - ga[k]) <= 2e-3 + 2e-2 * fabs(num), "param %zu: numeric %g analytic %g", k, num,
                      (double)ga[k]);
        if (ga[k] != 0.0f) checked++;
    }
    ck_assert_int_gt(checked, 20);
    free(ga);
    mlcl_encoder_free(e);
    gen_free(&g);
}
END_TEST

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    ck_assert_int_eq(fclose(f), 0);
}

/* The CSR reader: the same rows as the dense reader (unsorted indices
 * sorted), its errors name the file and line. */
START_TEST(libsvm_sparse_reader)
{
    char path[] = "/tmp/mlcl_sparse_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    write_text(path, "3 8 4\n0,2 5:0.5 1:2 7:-1\n\n3 0:1.5\n1 2:0 4:4\n");
    mlcl_dataset *ds = NULL, *dd = NULL;
    ck_assert_ok(mlcl_dataset_load_libsvm_sparse(&ds, path, 0, 0, MLCL_LIBSVM_INDEX_AUTO));
    ck_assert_ok(mlcl_dataset_load_libsvm(&dd, path, 0, 0, MLCL_LIBSVM_INDEX_AUTO));
    int sp = -1, n, d, c;
    ck_assert_ok(mlcl_dataset_is_sparse(ds, &sp));
    ck_assert_int_eq(sp, 1);
    ck_assert_ok(mlcl_dataset_is_sparse(dd, &sp));
    ck_assert_int_eq(sp, 0);
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    ck_assert(n == 3 && d == 8 && c == 4);
    ck_assert_ptr_null(mlcl_dataset_features(ds));
    const int64_t *ptr;
    const int *col;
    const float *val;
    int64_t nnz;
    ck_assert_ok(mlcl_dataset_csr(ds, &ptr, &col, &val, &nnz));
    ck_assert_int_eq(nnz, 6);
    static const int64_t eptr[4] = { 0, 3, 4, 6 };
    static const int ecol[6] = { 1, 5, 7, 0, 2, 4 };
    static const float eval[6] = { 2, 0.5f, -1, 1.5f, 0, 4 };
    for (int k = 0; k < 4; k++) ck_assert_int_eq(ptr[k], eptr[k]);
    for (int k = 0; k < 6; k++) {
        ck_assert_int_eq(col[k], ecol[k]);
        ck_assert_float_eq(val[k], eval[k]);
    }
    int rows[3] = { 0, 1, 2 };
    float xs[3 * 8];
    uint8_t ys[3 * 4];
    ck_assert_ok(mlcl_dataset_gather(xs, ys, NULL, ds, rows, 3));
    ck_assert_mem_eq(xs, mlcl_dataset_features(dd), sizeof xs);
    ck_assert_mem_eq(ys, mlcl_dataset_labels(dd), sizeof ys);
    ck_assert_mem_eq(mlcl_dataset_labels_packed(ds), mlcl_dataset_labels_packed(dd), 3 * sizeof(uint64_t));
    ck_assert_status_msg(mlcl_dataset_csr(dd, NULL, NULL, NULL, NULL), MLCL_EINVAL, "dense");
    float mu[8], sd[8];
    ck_assert_status_msg(mlcl_dataset_standardize_stats(mu, sd, ds), MLCL_EINVAL, "sparse");
    /* a subset stays sparse */
    mlcl_dataset *sub = NULL;
    int pick[2] = { 2, 0 };
    ck_assert_ok(mlcl_dataset_subset(&sub, ds, pick, 2));
    ck_assert_ok(mlcl_dataset_csr(sub, &ptr, &col, &val, &nnz));
    ck_assert_int_eq(nnz, 5);
    ck_assert(ptr[1] == 2 && col[0] == 2 && col[1] == 4 && col[2] == 1 && val[4] == -1.0f);
    mlcl_dataset_free(sub);
    mlcl_dataset_free(ds);
    mlcl_dataset_free(dd);

    /* errors name the file and the line */
    write_text(path, "3 8 4\n0 1:1\n1 3:1 2:2 3:5\n2 1:1\n");
    ck_assert_status_msg(mlcl_dataset_load_libsvm_sparse(&ds, path, 0, 0, MLCL_LIBSVM_INDEX_AUTO), MLCL_EFORMAT,
                         "line 3: feature index 3 appears twice");
    ck_assert_ptr_null(ds);
    ck_assert(strstr(mlcl_last_error(), path) != NULL);
    write_text(path, "2 8 4\n0 1:1\n1 8:1\n");
    ck_assert_status_msg(mlcl_dataset_load_libsvm_sparse(&ds, path, 0, 0, MLCL_LIBSVM_INDEX_AUTO), MLCL_EFORMAT,
                         "line 3: feature index 8 is beyond 8 features");
    write_text(path, "0 1:1\n1 2:x\n");
    ck_assert_status_msg(mlcl_dataset_load_libsvm_sparse(&ds, path, 0, 0, MLCL_LIBSVM_INDEX_AUTO), MLCL_EFORMAT,
                         "line 2: feature value 'x' is not a number");
    ck_assert_ptr_null(ds);
    unlink(path);
}
END_TEST

/* The sparse ARFF reader: the fixtures (sparse and dense rows, nominal
 * values, labels first) equal the dense reader's result; names kept; a
 * Medical-shaped generated file too; errors name the file and the line. */
static void same_as_dense(mlcl_dataset *ds, mlcl_dataset *dd)
{
    int n, d, c, n2, d2, c2, sp;
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    ck_assert_ok(mlcl_dataset_dims(dd, &n2, &d2, &c2));
    ck_assert(n == n2 && d == d2 && c == c2);
    ck_assert_ok(mlcl_dataset_is_sparse(ds, &sp));
    ck_assert_int_eq(sp, 1);
    int *rows = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) rows[i] = i;
    float *x = malloc(sizeof(float) * (size_t)n * d);
    ck_assert_ok(mlcl_dataset_gather(x, NULL, NULL, ds, rows, n));
    ck_assert_mem_eq(x, mlcl_dataset_features(dd), sizeof(float) * (size_t)n * d);
    ck_assert_mem_eq(mlcl_dataset_labels(ds), mlcl_dataset_labels(dd), (size_t)n * c);
    for (int j = 0; j < d; j++) ck_assert_str_eq(ds_feature_name(ds, j), ds_feature_name(dd, j));
    for (int j = 0; j < c; j++) ck_assert_str_eq(ds_label_name(ds, j), ds_label_name(dd, j));
    const int64_t *ptr;
    const float *val;
    int64_t nnz;
    ck_assert_ok(mlcl_dataset_csr(ds, &ptr, NULL, &val, &nnz));
    for (int64_t q = 0; q < nnz; q++) ck_assert(val[q] != 0.0f || signbit(val[q])); /* (-0 kept) */
    free(rows);
    free(x);
}

START_TEST(arff_sparse_reader)
{
    const char *fx[] = { "tests/data/sparse.arff", "tests/data/dense.arff", "tests/data/labels_first.arff" };
    for (int k = 0; k < 3; k++) {
        mlcl_dataset *ds = NULL, *dd = NULL;
        ck_assert_ok(mlcl_dataset_load_arff_sparse(&ds, fx[k], 0, 0));
        ck_assert_ok(mlcl_dataset_load_arff(&dd, fx[k], 0, 0));
        same_as_dense(ds, dd);
        mlcl_dataset_free(ds);
        mlcl_dataset_free(dd);
    }
    /* Medical-shaped: 300 rows, 1,449 numeric features at ~4 %, 45 labels */
    char path[] = "/tmp/mlcl_sparse_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "@relation 'medical-like: -C 45'\n");
    for (int j = 0; j < 45; j++) fprintf(f, "@attribute L%d {0,1}\n", j);
    for (int j = 0; j < 1449; j++) fprintf(f, "@attribute w%d numeric\n", j);
    fprintf(f, "@data\n");
    uint64_t s = 5;
    for (int i = 0; i < 300; i++) {
        fputc('{', f);
        int first = 1;
        for (int j = 0; j < 45 + 1449; j++) {
            int on = j < 45 ? lcg(&s) % 20 == 0 : lcg(&s) % 25 == 0;
            if (!on) continue;
            fprintf(f, "%s%d %s", first ? "" : ",", j, j < 45 ? "1" : (lcg(&s) % 7 == 0 ? "0" : "0.5"));
            first = 0;
        }
        fprintf(f, "}\n");
    }
    ck_assert_int_eq(fclose(f), 0);
    mlcl_dataset *ds = NULL, *dd = NULL;
    ck_assert_ok(mlcl_dataset_load_arff_sparse(&ds, path, 0, 0));
    ck_assert_ok(mlcl_dataset_load_arff(&dd, path, 0, 0));
    same_as_dense(ds, dd);
    int64_t nnz;
    ck_assert_ok(mlcl_dataset_csr(ds, NULL, NULL, NULL, &nnz));
    ck_assert(nnz > 300 * 1449 / 40 && nnz < 300 * 1449 / 20); /* ~3.4 % kept (stored zeros dropped) */
    mlcl_dataset_free(ds);
    mlcl_dataset_free(dd);
    /* errors: the same messages as the dense reader */
    ck_assert_status_msg(mlcl_dataset_load_arff_sparse(&ds, "tests/data/bad_sparse.arff", 0, 0), MLCL_EFORMAT,
                         "bad_sparse.arff");
    char m1[512];
    snprintf(m1, sizeof m1, "%s", strstr(mlcl_last_error(), "bad_sparse.arff"));
    ck_assert_int_ne(mlcl_dataset_load_arff(&dd, "tests/data/bad_sparse.arff", 0, 0), MLCL_OK);
    ck_assert_str_eq(strstr(mlcl_last_error(), "bad_sparse.arff"), m1);
    ck_assert(strstr(m1, "line ") != NULL);
    ck_assert_ptr_null(ds);
    unlink(path);
}
END_TEST

/* Bounded allocation: 64 rows x 1,000,000 features is refused by the dense
 * reader (256 MB for a 1 kB file) and read by the CSR reader (memory follows
 * the non-zeros); dense labels beyond the budget are still refused. */
START_TEST(libsvm_sparse_budget)
{
    char path[] = "/tmp/mlcl_sparse_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char *text = malloc(64 * 64 + 1), *p = text;
    for (int i = 0; i < 64; i++) p += sprintf(p, "%d %d:1 %d:0.5\n", i % 3, 1 + i, 999000 + i);
    write_text(path, text);
    mlcl_dataset *ds = NULL;
    ck_assert_status_msg(mlcl_dataset_load_libsvm(&ds, path, 1000000, 0, 1), MLCL_EFORMAT, "(dense)");
    ck_assert_ptr_null(ds);
    ck_assert_ok(mlcl_dataset_load_libsvm_sparse(&ds, path, 1000000, 0, 1));
    int n, d, c;
    int64_t nnz;
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    ck_assert(n == 64 && d == 1000000 && c == 3);
    ck_assert_ok(mlcl_dataset_csr(ds, NULL, NULL, NULL, &nnz));
    ck_assert_int_eq(nnz, 128);
    mlcl_dataset_free(ds);
    /* the labels stay dense: 64 rows x 4,000,000 labels would be 256 MB */
    ck_assert_status_msg(mlcl_dataset_load_libsvm_sparse(&ds, path, 1000000, 4000000, 1), MLCL_EFORMAT,
                         "CSR) and 4000000 labels would need");
    ck_assert_ptr_null(ds);
    free(text);
    unlink(path);
}
END_TEST

START_TEST(create_csr_checks)
{
    int64_t ptr[3] = { 0, 2, 3 };
    int col[3] = { 3, 1, 0 };
    float val[3] = { 1, 2, 3 };
    uint8_t y[4] = { 1, 0, 0, 1 };
    mlcl_dataset *ds = NULL;
    ck_assert_status_msg(mlcl_dataset_create_csr(&ds, 2, 4, 2, ptr, col, val, y), MLCL_EINVAL,
                         "row 0: columns must increase strictly");
    col[0] = 1; col[1] = 4;
    ck_assert_status_msg(mlcl_dataset_create_csr(&ds, 2, 4, 2, ptr, col, val, y), MLCL_EINVAL, "cols[1] = 4");
    col[1] = 3;
    y[2] = 2;
    ck_assert_status_msg(mlcl_dataset_create_csr(&ds, 2, 4, 2, ptr, col, val, y), MLCL_EINVAL, "y[2] = 2");
    y[2] = 0;
    val[2] = INFINITY;
    ck_assert_status_msg(mlcl_dataset_create_csr(&ds, 2, 4, 2, ptr, col, val, y), MLCL_ENUMERIC, "vals[2]");
    val[2] = 3;
    ck_assert_ok(mlcl_dataset_create_csr(&ds, 2, 4, 2, ptr, col, val, y));
    float x[8];
    int rows[2] = { 1, 0 };
    ck_assert_ok(mlcl_dataset_gather(x, NULL, NULL, ds, rows, 2));
    static const float ex[8] = { 3, 0, 0, 0, 0, 1, 0, 2 };
    ck_assert_mem_eq(x, ex, sizeof ex);
    mlcl_dataset_free(ds);
}
END_TEST

/* The dense mask view of the trainer (src/train/trainer.c, mask_view): one
 * draw per element, zeroed iff (u >> 8) < threshold(p). */
static void dense_mask(mlcl__pcg *r, float *dst, const float *src, size_t len, float p)
{
    uint32_t thr = mlcl__pcg_threshold(p), u[PCGFILL_CHUNK];
    for (size_t k0 = 0; k0 < len; k0 += PCGFILL_CHUNK) {
        size_t m = len - k0 < PCGFILL_CHUNK ? len - k0 : PCGFILL_CHUNK;
        mlcl__pcg_fill(r, u, m);
        for (size_t i = 0; i < m; i++) dst[k0 + i] = (u[i] >> 8) < thr ? 0.0f : src[k0 + i];
    }
}

/* The CSR mask uses the dense draws of the same columns: equal values,
 * equal generator state afterwards. */
START_TEST(csr_mask_equals_dense)
{
    gen g;
    gen_make(&g, 40, 1000, 5, 0.03, 21);
    mlcl__pcg r1, r2;
    mlcl__pcg_seed(&r1, 1234, 77);
    r2 = r1;
    float *xd = malloc(sizeof(float) * 40 * 1000), *vs = malloc(sizeof(float) * (size_t)g.ptr[40]);
    for (int rep = 0; rep < 2; rep++) { /* twice: the state carries over */
        for (int i = 0; i < 40; i++) dense_mask(&r1, xd + (size_t)i * 1000, g.x + (size_t)i * 1000, 1000, 0.3f);
        mlcl__csr_mask_rows(&r2, 40, 1000, g.ptr, g.col, g.val, 0.3f, vs);
        ck_assert(r1.state == r2.state && r1.inc == r2.inc);
        int zeroed = 0;
        for (int i = 0; i < 40; i++)
            for (int64_t q = g.ptr[i]; q < g.ptr[i + 1]; q++) {
                ck_assert(vs[q] == xd[(size_t)i * 1000 + g.col[q]]);
                zeroed += vs[q] == 0.0f;
            }
        /* ~30 % of the ~1200 stored values */
        ck_assert_int_gt(zeroed, (int)(0.2 * g.ptr[40]));
        ck_assert_int_lt(zeroed, (int)(0.4 * g.ptr[40]));
    }
    /* a slice of rows (ptr[0] > 0) */
    mlcl__csr_mask_rows(&r2, 3, 1000, g.ptr + 5, g.col, g.val, 0.3f, vs);
    for (int i = 5; i < 8; i++) dense_mask(&r1, xd + (size_t)i * 1000, g.x + (size_t)i * 1000, 1000, 0.3f);
    ck_assert(r1.state == r2.state);
    for (int i = 5; i < 8; i++)
        for (int64_t q = g.ptr[i]; q < g.ptr[i + 1]; q++) ck_assert(vs[q - g.ptr[5]] == xd[(size_t)i * 1000 + g.col[q]]);
    free(xd); free(vs);
    gen_free(&g);
}
END_TEST

/* MoCo pretraining on CSR rows: mask views drawn with the dense path's
 * draws, then mlcl__moco_step_csr; against dense masks and mlcl_moco_step on
 * the densified rows (CLD, queue, dropout on both sides): 4 steps give the
 * same losses and backbone parameters to float rounding. */
START_TEST(moco_step_sparse_equals_dense)
{
    enum { N = 48, D = 600, C = 10, B = 16 };
    gen g;
    gen_make(&g, N, D, C, 0.03, 31);
    mlcl_moco_options o = MLCL_MOCO_OPTIONS_INIT;
    static const int w[] = { 64, 32 };
    o.in_dim = D; o.n_labels = C; o.n_hidden = 2; o.hidden = w;
    o.proj_dim = 16; o.queue_size = 32; o.max_batch = B; o.seed = 4;
    mlcl_moco *md = NULL, *ms = NULL;
    ck_assert_ok(mlcl_moco_create(&md, &o));
    ck_assert_ok(mlcl_moco_create(&ms, &o));
    mlcl__pcg rd, rs;
    mlcl__pcg_seed(&rd, 8, 3);
    rs = rd;
    float *x0 = malloc(sizeof(float) * B * D), *x1 = malloc(sizeof(float) * B * D);
    float *v0 = malloc(sizeof(float) * (size_t)g.ptr[N] + 4), *v1 = malloc(sizeof(float) * (size_t)g.ptr[N] + 4);
    uint64_t y[B];
    for (int step = 0; step < 4; step++) {
        int r0 = (step * B) % (N - B + 1);
        for (int i = 0; i < B; i++) dense_mask(&rd, x0 + (size_t)i * D, g.x + (size_t)(r0 + i) * D, D, 0.2f);
        for (int i = 0; i < B; i++) dense_mask(&rd, x1 + (size_t)i * D, g.x + (size_t)(r0 + i) * D, D, 0.2f);
        int64_t off = g.ptr[r0]; /* the views are stored at the rows' own offsets */
        mlcl__csr_mask_rows(&rs, B, D, g.ptr + r0, g.col, g.val, 0.2f, v0 + off);
        mlcl__csr_mask_rows(&rs, B, D, g.ptr + r0, g.col, g.val, 0.2f, v1 + off);
        ck_assert_ok(mlcl_labels_pack(y, g.y + (size_t)r0 * C, B, C));
        mlcl_loss_parts pd = MLCL_LOSS_PARTS_INIT, ps = MLCL_LOSS_PARTS_INIT;
        ck_assert_ok(mlcl_moco_step(md, B, x0, x1, y, &pd));
        ck_assert_ok(mlcl__moco_step_csr(ms, B, g.ptr + r0, g.col, v0, v1, y, &ps));
        ck_assert_msg(fabs(pd.total - ps.total) < 1e-5 * fabs(pd.total) + 1e-6, "step %d: loss %g vs %g", step,
                      pd.total, ps.total);
    }
    float *pd, *ps;
    size_t np;
    ck_assert_ok(mlcl_encoder_params_ptr(md->net[MOCO_ENC_Q], &pd));
    ck_assert_ok(mlcl_encoder_params_ptr(ms->net[MOCO_ENC_Q], &ps));
    ck_assert_ok(mlcl_encoder_param_count(md->net[MOCO_ENC_Q], &np));
    double m = 0;
    for (size_t k = 0; k < np; k++) m = fmax(m, fabs((double)pd[k] - ps[k]));
    ck_assert_msg(m < 1e-5, "backbone parameters differ by %g", m);
    /* the key side took its sparse forward too */
    ck_assert_ok(mlcl_encoder_params_ptr(md->net[MOCO_ENC_K], &pd));
    ck_assert_ok(mlcl_encoder_params_ptr(ms->net[MOCO_ENC_K], &ps));
    m = 0;
    for (size_t k = 0; k < np; k++) m = fmax(m, fabs((double)pd[k] - ps[k]));
    ck_assert_msg(m < 1e-5, "key parameters differ by %g", m);
    free(x0); free(x1); free(v0); free(v1);
    mlcl_moco_free(md);
    mlcl_moco_free(ms);
    gen_free(&g);
}
END_TEST

/* The trainer on a CSR training set, Medical-shaped (978 x 1,449 at 4 %, 45
 * labels): the same run as on the dense rows (standardize 0; CLD pretraining
 * with mask views, then fine-tuning with mask views), sparse or dense test
 * set, with and without a validation set: equal scores and metrics. */
static mlcl_trainer *run_trainer_val(const mlcl_dataset *train, int standardize, int *rc_create,
                                     const mlcl_dataset *val);
static mlcl_trainer *run_trainer(const mlcl_dataset *train, int standardize, int *rc_create)
{
    return run_trainer_val(train, standardize, rc_create, NULL);
}

static mlcl_trainer *run_trainer_val(const mlcl_dataset *train, int standardize, int *rc_create,
                                     const mlcl_dataset *val)
{
    mlcl_train_options o = MLCL_TRAIN_OPTIONS_INIT;
    o.standardize = standardize;
    o.batch = 64;
    o.seed = 5;
    test_moco_of(&o)->o.n_hidden = 2; test_moco_of(&o)->hidden[0] = 64; test_moco_of(&o)->hidden[1] = 32;
    test_moco_of(&o)->o.proj_dim = 16; test_moco_of(&o)->o.queue_size = 64;
    o.pretrain_epochs = 2; o.pretrain_mask_p = 0.2f;
    o.finetune_epochs = 2; o.finetune_mask_p = 0.1f;
    mlcl_trainer *t = NULL;
    *rc_create = mlcl_trainer_create(&t, &o, train);
    if (*rc_create) return NULL;
    if (val) {
        mlcl_validation_options vo = MLCL_VALIDATION_OPTIONS_INIT;
        vo.select_metric = MLCL_METRIC_MAP;
        ck_assert_ok(mlcl_trainer_set_validation(t, val, &vo));
    }
    ck_assert_ok(mlcl_trainer_run(t));
    return t;
}

START_TEST(trainer_sparse_equals_dense)
{
    enum { N = 978, D = 1449, C = 45, NT = 200 }; /* Medical's shape (978 training rows) */
    gen g, gt;
    gen_make(&g, N, D, C, 0.04, 41);
    gen_make(&gt, NT, D, C, 0.04, 42);
    mlcl_dataset *dd = NULL, *ds = NULL, *td = NULL, *ts = NULL;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&dd, N, D, C, g.x, g.y));
    ck_assert_ok(mlcl_dataset_create_csr(&ds, N, D, C, g.ptr, g.col, g.val, g.y));
    ck_assert_ok(mlcl_dataset_create_from_arrays(&td, NT, D, C, gt.x, gt.y));
    ck_assert_ok(mlcl_dataset_create_csr(&ts, NT, D, C, gt.ptr, gt.col, gt.val, gt.y));
    int rc;
    ck_assert_ptr_null(run_trainer(ds, 1, &rc));
    ck_assert_int_eq(rc, MLCL_EINVAL);
    ck_assert(strstr(mlcl_last_error(), "standardize = 0") != NULL);
    mlcl_trainer *a = run_trainer(dd, 0, &rc), *b = run_trainer(ds, 0, &rc);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    float *sa = malloc(sizeof(float) * NT * C), *sb = malloc(sizeof(float) * NT * C);
    ck_assert_ok(mlcl_trainer_predict(a, NT, gt.x, sa));
    ck_assert_ok(mlcl_trainer_predict(b, NT, gt.x, sb)); /* dense rows into the sparse-trained network */
    double m = 0, spread = 0;
    for (int k = 0; k < NT * C; k++) {
        m = fmax(m, fabs((double)sa[k] - sb[k]));
        spread = fmax(spread, fabs((double)sa[k] - sa[0]));
    }
    ck_assert_msg(m < 1e-5, "scores differ by %g", m);
    /* the same rows as CSR through the public CSR scoring */
    float *sc = malloc(sizeof(float) * NT * C);
    ck_assert_ok(mlcl_trainer_predict_csr(b, NT, gt.ptr, gt.col, gt.val, sc));
    for (int k = 0; k < NT * C; k++) ck_assert_msg(fabsf(sc[k] - sb[k]) < 1e-6f, "predict_csr [%d]: %g vs %g", k, sc[k], sb[k]);
    free(sc);
    if (getenv("MLCL_TEST_VERBOSE")) fprintf(stderr, "trainer scores: max diff %g, spread %g\n", m, spread);
    ck_assert(spread > 1e-3); /* not a constant output */
    mlcl_metrics ma = MLCL_METRICS_INIT, mb = MLCL_METRICS_INIT, mc = MLCL_METRICS_INIT;
    ck_assert_ok(mlcl_trainer_evaluate(a, td, &ma, NULL));
    ck_assert_ok(mlcl_trainer_evaluate(b, ts, &mb, NULL)); /* sparse test set */
    ck_assert_ok(mlcl_trainer_evaluate(b, td, &mc, NULL));
    ck_assert_msg(fabs(ma.mAP - mb.mAP) < 1e-4 && fabs(ma.mAP - mc.mAP) < 1e-4, "mAP %g %g %g", ma.mAP, mb.mAP, mc.mAP);
    ck_assert_msg(fabs(ma.HA - mb.HA) < 1e-3, "HA %g %g", ma.HA, mb.HA);
    /* validation (epoch selection, thresholds) on a sparse set equals the dense one */
    mlcl_trainer *va = run_trainer_val(dd, 0, &rc, td), *vb = run_trainer_val(ds, 0, &rc, ts);
    int ea, eb;
    double ba, bb;
    ck_assert_ok(mlcl_trainer_selection(va, &ea, &ba, NULL, NULL));
    ck_assert_ok(mlcl_trainer_selection(vb, &eb, &bb, NULL, NULL));
    ck_assert_int_eq(ea, eb);
    ck_assert_msg(fabs(ba - bb) < 1e-4 && ba > 0, "validation mAP %g vs %g", ba, bb);
    ck_assert_ok(mlcl_trainer_predict(va, NT, gt.x, sa));
    ck_assert_ok(mlcl_trainer_predict(vb, NT, gt.x, sb));
    m = 0;
    for (int k = 0; k < NT * C; k++) m = fmax(m, fabs((double)sa[k] - sb[k]));
    ck_assert_msg(m < 1e-5, "scores after selection differ by %g", m);
    mlcl_trainer_free(va);
    mlcl_trainer_free(vb);
    /* a sparse test set against a standardising (dense-trained) trainer is refused */
    mlcl_trainer *s1 = run_trainer(dd, 1, &rc);
    ck_assert_status_msg(mlcl_trainer_evaluate(s1, ts, &ma, NULL), MLCL_EINVAL, "standardises");
    mlcl_trainer_free(s1);
    mlcl_train_options o1 = MLCL_TRAIN_OPTIONS_INIT; /* (before any training) */
    ck_assert_ok(mlcl_trainer_create(&s1, &o1, dd));
    mlcl_validation_options vo = MLCL_VALIDATION_OPTIONS_INIT;
    ck_assert_status_msg(mlcl_trainer_set_validation(s1, ts, &vo), MLCL_EINVAL, "standardises");
    mlcl_trainer_free(s1);
    free(sa); free(sb);
    mlcl_trainer_free(a);
    mlcl_trainer_free(b);
    mlcl_dataset_free(dd); mlcl_dataset_free(ds); mlcl_dataset_free(td); mlcl_dataset_free(ts);
    gen_free(&g);
    gen_free(&gt);
}
END_TEST

/* A short training run (Enron-shaped: 1001 features, 3 % dense, 53
 * labels): MLP + BCE, 6 SGD-momentum steps of 64 rows, sparse vs dense. */
static void train_run(const gen *g, int sparse, float *params_out, double *losses)
{
    int c = g->c, B = 64;
    mlcl_encoder *e = make_mlp(g->d, 64, c, 0.0f, 5);
    mlcl_optim_options oo = MLCL_OPTIM_OPTIONS_INIT;
    oo.type = MLCL_OPTIM_SGD;
    oo.lr = 0.5f;
    oo.momentum = 0.9f;
    mlcl_optim *opt = NULL;
    ck_assert_ok(mlcl_optim_create(&opt, &oo));
    float *p, *gr;
    size_t np;
    ck_assert_ok(mlcl_encoder_params_ptr(e, &p));
    ck_assert_ok(mlcl_encoder_grads_ptr(e, &gr));
    ck_assert_ok(mlcl_encoder_param_count(e, &np));
    ck_assert_ok(mlcl_optim_add_group(opt, p, gr, np, 0.5f, 0.0f, NULL));
    float *out = malloc(sizeof(float) * B * c), *tgt = malloc(sizeof(float) * B * c), *go = malloc(sizeof(float) * B * c);
    for (int step = 0; step < 6; step++) {
        int r0 = (step * B) % (g->n - B);
        for (int k = 0; k < B * c; k++) tgt[k] = g->y[(size_t)r0 * c + k];
        ck_assert_ok(mlcl_encoder_zero_grad(e));
        if (sparse) ck_assert_ok(mlcl_encoder_forward_csr(e, B, g->ptr + r0, g->col, g->val, out));
        else ck_assert_ok(mlcl_encoder_forward(e, B, g->x + (size_t)r0 * g->d, out));
        float loss;
        memset(go, 0, sizeof(float) * B * c);
        ck_assert_ok(mlcl_bce_with_logits(&loss, go, out, tgt, B, c));
        losses[step] = loss;
        ck_assert_ok(mlcl_encoder_backward(e, B, go, NULL));
        ck_assert_ok(mlcl_optim_step(opt));
    }
    memcpy(params_out, p, np * sizeof(float));
    free(out); free(tgt); free(go);
    mlcl_optim_free(opt);
    mlcl_encoder_free(e);
}

START_TEST(training_sparse_equals_dense)
{
    gen g;
    gen_make(&g, 1123, 1001, 53, 0.03, 99); /* Enron's shape (1,123 training rows) */
    size_t np = (size_t)1001 * 64 + 64 + 64 * 32 + 32 + 32 * 53 + 53;
    float *pd = malloc(np * sizeof(float)), *ps = malloc(np * sizeof(float));
    double ld[6], ls[6];
    train_run(&g, 0, pd, ld);
    train_run(&g, 1, ps, ls);
    for (int s = 0; s < 6; s++) ck_assert_msg(fabs(ld[s] - ls[s]) < 1e-5 * fabs(ld[s]), "step %d: %g vs %g", s, ld[s], ls[s]);
    ck_assert_msg(ld[5] < ld[0] - 0.02, "the loss did not go down: %g -> %g", ld[0], ld[5]);
    double md = 0, moved = 0;
    for (size_t k = 0; k < np; k++) md = fmax(md, fabs((double)pd[k] - ps[k]));
    ck_assert_msg(md < 1e-5, "parameters differ by %g", md);
    free(pd); free(ps);
    gen_free(&g);
    (void)moved;
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sparse");
    TCase *tc = tcase_create("sparse");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sparse_layer_matches_dense);
    tcase_add_test(tc, sparse_forward_errors);
    tcase_add_test(tc, sparse_grad_finite_difference);
    tcase_add_test(tc, libsvm_sparse_reader);
    tcase_add_test(tc, libsvm_sparse_budget);
    tcase_add_test(tc, arff_sparse_reader);
    tcase_add_test(tc, create_csr_checks);
    tcase_add_test(tc, csr_mask_equals_dense);
    tcase_add_test(tc, training_sparse_equals_dense);
    tcase_add_test(tc, moco_step_sparse_equals_dense);
    tcase_add_test(tc, trainer_sparse_equals_dense);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
