/* Label packing and the three lock-step ring buffers. */
#include "testutil.h"
#include "queue_get.h"
#include <math.h>
#include <stdint.h>

START_TEST(label_words)
{
    ck_assert_uint_eq(mlcl_label_words(1), 1);
    ck_assert_uint_eq(mlcl_label_words(64), 1);
    ck_assert_uint_eq(mlcl_label_words(65), 2);
    ck_assert_uint_eq(mlcl_label_words(4096), 64);
    ck_assert_uint_eq(mlcl_label_words(0), 0);
    ck_assert_uint_eq(mlcl_label_words(-3), 0);
}
END_TEST

START_TEST(pack_unpack)
{
    /* hand-worked: c = 70, row 0 labels {0, 63, 64, 69}, row 1 {5} */
    enum { C = 70 };
    uint8_t y[2 * C] = { 0 };
    y[0] = y[63] = y[64] = y[69] = 1;
    y[C + 5] = 1;
    uint64_t p[4];
    memset(p, 0xFF, sizeof p);
    ck_assert_ok(mlcl_labels_pack(p, y, 2, C));
    ck_assert_uint_eq(p[0], (UINT64_C(1) << 63) | 1u);
    ck_assert_uint_eq(p[1], 1u | (1u << 5)); /* labels 64, 69; padding bits zero */
    ck_assert_uint_eq(p[2], 1u << 5);
    ck_assert_uint_eq(p[3], 0);
    uint8_t back[2 * C];
    ck_assert_ok(mlcl_labels_unpack(back, p, 2, C));
    ck_assert_mem_eq(back, y, sizeof y);
    /* c = 4096 round trip */
    enum { N = 3, BIG = 4096 };
    uint8_t *yb = calloc(N * BIG, 1), *bb = malloc(N * BIG);
    uint64_t *pb = malloc(N * 64 * sizeof(uint64_t));
    for (int i = 0; i < N * BIG; i++) yb[i] = (uint8_t)((i * 2654435761u >> 7) & 1u);
    ck_assert_ok(mlcl_labels_pack(pb, yb, N, BIG));
    ck_assert_ok(mlcl_labels_unpack(bb, pb, N, BIG));
    ck_assert_mem_eq(bb, yb, N * BIG);
    free(yb); free(bb); free(pb);
}
END_TEST

START_TEST(pack_bad)
{
    uint8_t y[6] = { 0, 1, 0, 1, 2, 0 };
    uint64_t p[2] = { 7, 7 };
    ck_assert_status_msg(mlcl_labels_pack(p, y, 2, 3), MLCL_EINVAL, "y01[1][1] = 2");
    ck_assert_uint_eq(p[0], 7); /* untouched on error */
    ck_assert_status_msg(mlcl_labels_pack(NULL, y, 2, 3), MLCL_EINVAL, "out");
    ck_assert_status_msg(mlcl_labels_pack(p, NULL, 2, 3), MLCL_EINVAL, "y01");
    ck_assert_status_msg(mlcl_labels_pack(p, y, 0, 3), MLCL_EINVAL, "n");
    ck_assert_status_msg(mlcl_labels_pack(p, y, 2, -1), MLCL_EINVAL, "c");
    ck_assert_status_msg(mlcl_labels_unpack(NULL, p, 2, 3), MLCL_EINVAL, "out");
    ck_assert_status_msg(mlcl_labels_unpack(y, NULL, 2, 3), MLCL_EINVAL, "packed");
    ck_assert_status_msg(mlcl_labels_unpack(y, p, 2, 0), MLCL_EINVAL, "c");
}
END_TEST

static mlcl_queue *mkq(int K, int m, int c)
{
    mlcl_queue_options o;
    ck_assert_ok(mlcl_queue_options_init(&o, MLCL_QUEUE_OPTIONS_VERSION));
    o.capacity = K; o.feat_dim = m; o.n_labels = c;
    mlcl_queue *q;
    ck_assert_ok(mlcl_queue_create(&q, &o));
    return q;
}

/* entry with id v: features (v, v+.5), labels {v % 70}, dists (v, -v, 0...) */
static void entries(float *f, uint64_t *y, float *d, int first, int n, int m, int c)
{
    size_t w = mlcl_label_words(c);
    memset(y, 0, sizeof(uint64_t) * n * w);
    memset(d, 0, sizeof(float) * n * c);
    for (int r = 0; r < n; r++) {
        int v = first + r;
        for (int j = 0; j < m; j++) f[r * m + j] = (float)v + 0.5f * j;
        int lab = v % c;
        y[r * w + lab / 64] |= UINT64_C(1) << (lab % 64);
        d[r * c] = (float)v;
        d[r * c + 1] = (float)-v;
    }
}

static void expect_row(const mlcl_queue *q, int row, int v, int m, int c)
{
    size_t w = mlcl_label_words(c);
    const float *f = tq_features(q) + (size_t)row * m;
    const uint64_t *y = tq_labels(q) + (size_t)row * w;
    const float *d = tq_dists(q) + (size_t)row * c;
    for (int j = 0; j < m; j++) ck_assert_float_eq(f[j], (float)v + 0.5f * j);
    int lab = v % c;
    for (size_t k = 0; k < w; k++)
        ck_assert_uint_eq(y[k], k == (size_t)lab / 64 ? UINT64_C(1) << (lab % 64) : 0);
    ck_assert_float_eq(d[0], (float)v);
    ck_assert_float_eq(d[1], (float)-v);
}

START_TEST(fill_and_wrap)
{
    enum { K = 5, M = 2, C = 70 };
    mlcl_queue *q = mkq(K, M, C);
    ck_assert_int_eq(tq_size(q), 0);
    ck_assert_int_eq(tq_capacity(q), K);
    ck_assert_int_eq(tq_feat_dim(q), M);
    ck_assert_int_eq(tq_n_labels(q), C);
    float f[20 * M], d[20 * C];
    uint64_t y[20 * 2];
    /* partly filled: 3 rows */
    entries(f, y, d, 0, 3, M, C);
    ck_assert_ok(mlcl_queue_enqueue(q, 3, f, y, d));
    ck_assert_int_eq(tq_size(q), 3);
    ck_assert_int_eq(tq_head(q), 3);
    for (int r = 0; r < 3; r++) expect_row(q, r, r, M, C);
    /* across the end: 4 more (ids 3..6) -> rows 3, 4, 0, 1 */
    entries(f, y, d, 3, 4, M, C);
    ck_assert_ok(mlcl_queue_enqueue(q, 4, f, y, d));
    ck_assert_int_eq(tq_size(q), K);
    ck_assert_int_eq(tq_head(q), 2);
    expect_row(q, 3, 3, M, C); expect_row(q, 4, 4, M, C);
    expect_row(q, 0, 5, M, C); expect_row(q, 1, 6, M, C); expect_row(q, 2, 2, M, C);
    /* more than the capacity at once: ids 7..18 (12 rows), head 2 -> only 14..18
     * survive; ring order puts id 7+t at row (2+t) % 5 */
    entries(f, y, d, 7, 12, M, C);
    ck_assert_ok(mlcl_queue_enqueue(q, 12, f, y, d));
    ck_assert_int_eq(tq_size(q), K);
    ck_assert_int_eq(tq_head(q), (2 + 12) % K);
    for (int t = 7; t < 12; t++) expect_row(q, (2 + t) % K, 7 + t, M, C);
    /* dists NULL -> zeros, in lock-step */
    entries(f, y, d, 40, 1, M, C);
    ck_assert_ok(mlcl_queue_enqueue(q, 1, f, y, NULL));
    ck_assert_float_eq(tq_dists(q)[4 * C], 0.0f);
    ck_assert_float_eq(tq_features(q)[4 * M], 40.0f);
    ck_assert_int_eq(tq_head(q), 0);
    /* reset */
    ck_assert_ok(mlcl_queue_reset(q));
    ck_assert_int_eq(tq_size(q), 0);
    ck_assert_int_eq(tq_head(q), 0);
    ck_assert_float_eq(tq_features(q)[0], 0.0f);
    mlcl_queue_free(q);
    mlcl_queue_free(NULL);
}
END_TEST

START_TEST(state_round_trip)
{
    enum { K = 4, M = 3, C = 6 };
    mlcl_queue *a = mkq(K, M, C), *b = mkq(K, M, C);
    float f[6 * M], d[6 * C];
    uint64_t y[6];
    entries(f, y, d, 10, 6, M, C);
    ck_assert_ok(mlcl_queue_enqueue(a, 6, f, y, d));
    ck_assert_ok(mlcl_queue_set_state(b, tq_size(a), tq_head(a), tq_features(a),
                                      tq_labels(a), tq_dists(a)));
    ck_assert_int_eq(tq_size(b), K);
    ck_assert_int_eq(tq_head(b), 2);
    /* continuing both gives the same buffers */
    entries(f, y, d, 50, 3, M, C);
    ck_assert_ok(mlcl_queue_enqueue(a, 3, f, y, d));
    ck_assert_ok(mlcl_queue_enqueue(b, 3, f, y, d));
    ck_assert_mem_eq(tq_features(a), tq_features(b), sizeof(float) * K * M);
    ck_assert_mem_eq(tq_labels(a), tq_labels(b), sizeof(uint64_t) * K);
    ck_assert_mem_eq(tq_dists(a), tq_dists(b), sizeof(float) * K * C);
    ck_assert_int_eq(tq_head(a), tq_head(b));
    /* bad states leave the queue unchanged */
    ck_assert_status_msg(mlcl_queue_set_state(b, 5, 0, f, y, d), MLCL_EINVAL, "size 5");
    ck_assert_status_msg(mlcl_queue_set_state(b, 2, 4, f, y, d), MLCL_EINVAL, "head 4");
    ck_assert_status_msg(mlcl_queue_set_state(b, 2, 1, f, y, d), MLCL_EINVAL, "head 1 != size 2");
    f[2] = NAN;
    ck_assert_status_msg(mlcl_queue_set_state(b, 4, 1, f, y, d), MLCL_ENUMERIC, "feats");
    ck_assert_int_eq(tq_head(b), tq_head(a));
    mlcl_queue_free(a);
    mlcl_queue_free(b);
}
END_TEST

START_TEST(queue_bad)
{
    mlcl_queue_options o = MLCL_QUEUE_OPTIONS_INIT, o2;
    ck_assert_ok(mlcl_queue_options_init(&o2, MLCL_QUEUE_OPTIONS_VERSION));
    ck_assert_mem_eq(&o, &o2, sizeof o);
    ck_assert_status_msg(mlcl_queue_options_init(&o2, 2), MLCL_EVERSION, "version");
    mlcl_queue *q = (mlcl_queue *)&o;
    ck_assert_status_msg(mlcl_queue_create(&q, &o), MLCL_EINVAL, "capacity");
    ck_assert(q == NULL);
    o.capacity = 4;
    ck_assert_status_msg(mlcl_queue_create(&q, &o), MLCL_EINVAL, "feat_dim");
    o.feat_dim = 2;
    ck_assert_status_msg(mlcl_queue_create(&q, &o), MLCL_EINVAL, "n_labels");
    o.n_labels = 3;
    o.version = 9;
    ck_assert_status_msg(mlcl_queue_create(&q, &o), MLCL_EVERSION, "version");
    o.version = MLCL_QUEUE_OPTIONS_VERSION;
    ck_assert_status_msg(mlcl_queue_create(NULL, &o), MLCL_EINVAL, "out");
    ck_assert_status_msg(mlcl_queue_create(&q, NULL), MLCL_EINVAL, "opts");
    o.capacity = 1 << 30; o.feat_dim = 1 << 30; /* 4 EiB: fails cleanly */
    ck_assert_status_msg(mlcl_queue_create(&q, &o), MLCL_ENOMEM, "features: cannot allocate");
    ck_assert(q == NULL);
    o.capacity = 4; o.feat_dim = 2;
    ck_assert_ok(mlcl_queue_create(&q, &o));
    float f[4] = { 1, 2, 3, 4 }, d[6] = { 0 };
    uint64_t y[2] = { 1, 2 };
    ck_assert_status_msg(mlcl_queue_enqueue(NULL, 2, f, y, d), MLCL_EINVAL, "q");
    ck_assert_status_msg(mlcl_queue_enqueue(q, 0, f, y, d), MLCL_EINVAL, "n");
    ck_assert_status_msg(mlcl_queue_enqueue(q, 2, NULL, y, d), MLCL_EINVAL, "feats");
    ck_assert_status_msg(mlcl_queue_enqueue(q, 2, f, NULL, d), MLCL_EINVAL, "labels_packed");
    y[1] = 8; /* label 3 of c = 3 */
    ck_assert_status_msg(mlcl_queue_enqueue(q, 2, f, y, d), MLCL_EINVAL, "above label 2");
    y[1] = 2;
    d[4] = INFINITY;
    ck_assert_status_msg(mlcl_queue_enqueue(q, 2, f, y, d), MLCL_ENUMERIC, "dists");
    f[0] = NAN;
    ck_assert_status_msg(mlcl_queue_enqueue(q, 2, f, y, NULL), MLCL_ENUMERIC, "feats");
    ck_assert_int_eq(tq_size(q), 0); /* nothing written */
    int sz = 5;
    const float *fp = f;
    ck_assert_status_msg(mlcl_queue_size(NULL, &sz), MLCL_EINVAL, "mlcl_queue_size: q is NULL");
    ck_assert_status_msg(mlcl_queue_size(q, NULL), MLCL_EINVAL, "mlcl_queue_size: size is NULL");
    ck_assert_status_msg(mlcl_queue_features(NULL, &fp), MLCL_EINVAL, "mlcl_queue_features: q is NULL");
    ck_assert_int_eq(sz, 5); /* untouched on error */
    ck_assert_ptr_eq(fp, f);
    ck_assert_status_msg(mlcl_queue_reset(NULL), MLCL_EINVAL, "q");
    mlcl_queue_free(q);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("queue");
    tcase_add_test(tc, label_words);
    tcase_add_test(tc, pack_unpack);
    tcase_add_test(tc, pack_bad);
    tcase_add_test(tc, fill_and_wrap);
    tcase_add_test(tc, state_round_trip);
    tcase_add_test(tc, queue_bad);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
