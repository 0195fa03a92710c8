/* ALL / ANY / label-wise positive sets on hand-worked cases and against a dense reference. */
#include "testutil.h"
#include <stdint.h>

/* Anchors (c = 4): a0 {0}, a1 {0,1}, a2 {}, a3 {2,3}.
 * Candidates: the anchors, then queue q0 {1}, q1 {0}, q2 {2,3}. */
static const uint8_t YA[4 * 4] = { 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1 };
static const uint8_t YQ[3 * 4] = { 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1 };

START_TEST(hand_worked)
{
    uint64_t ya[4], yq[3], yall[7];
    ck_assert_ok(mlcl_labels_pack(ya, YA, 4, 4));
    ck_assert_ok(mlcl_labels_pack(yq, YQ, 3, 4));
    memcpy(yall, ya, sizeof ya);
    memcpy(yall + 4, yq, sizeof yq);
    static const uint8_t any[4 * 7] = {
        1, 1, 0, 0, 0, 1, 0,  /* a0 {0}: a0, a1, q1 */
        1, 1, 0, 0, 1, 1, 0,  /* a1 {0,1}: a0, a1, q0, q1 */
        0, 0, 0, 0, 0, 0, 0,  /* a2 {}: no positive */
        0, 0, 0, 1, 0, 0, 1,  /* a3 {2,3}: a3, q2 */
    };
    static const uint8_t all[4 * 7] = {
        1, 0, 0, 0, 0, 1, 0,
        0, 1, 0, 0, 0, 0, 0,
        0, 0, 1, 0, 0, 0, 0,  /* the empty set equals itself (Eq. 1 as written) */
        0, 0, 0, 1, 0, 0, 1,
    };
    uint8_t mask[28];
    int cnt[4];
    ck_assert_ok(mlcl_mask_build(mask, cnt, MLCL_MASK_ANY, 4, ya, 4, ya, 3, yq, 4));
    ck_assert_mem_eq(mask, any, sizeof any);
    ck_assert(cnt[0] == 3 && cnt[1] == 4 && cnt[2] == 0 && cnt[3] == 2);
    ck_assert_ok(mlcl_mask_build(mask, cnt, MLCL_MASK_ALL, 4, ya, 7, yall, 0, NULL, 4));
    ck_assert_mem_eq(mask, all, sizeof all);
    ck_assert(cnt[0] == 2 && cnt[1] == 1 && cnt[2] == 1 && cnt[3] == 2);
    /* counts only */
    int cnt2[4];
    ck_assert_ok(mlcl_mask_build(NULL, cnt2, MLCL_MASK_ANY, 4, ya, 7, yall, 0, NULL, 4));
    ck_assert(cnt2[0] == 3 && cnt2[1] == 4 && cnt2[2] == 0 && cnt2[3] == 2);
    /* label-wise: label 0 in a0, a1, q1 -> 3; label 1 in a1, q0 -> 2; 2 and 3 in a3, q2 -> 2 */
    int cj[4];
    ck_assert_ok(mlcl_mask_labelwise_counts(cj, 7, yall, 0, NULL, 4));
    ck_assert(cj[0] == 3 && cj[1] == 2 && cj[2] == 2 && cj[3] == 2);
    int cj2[4];
    ck_assert_ok(mlcl_mask_labelwise_counts(cj2, 4, ya, 3, yq, 4));
    ck_assert_mem_eq(cj, cj2, sizeof cj);
    int full[16];
    ck_assert_ok(mlcl_mask_labelwise(full, 4, ya, 4, ya, 3, yq, 4));
    static const int expect[16] = { 3, 0, 0, 0, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2 };
    ck_assert_mem_eq(full, expect, sizeof expect);
    /* queue part only (N1 = 0) */
    ck_assert_ok(mlcl_mask_build(mask, cnt, MLCL_MASK_ANY, 4, ya, 0, NULL, 3, yq, 4));
    ck_assert(cnt[0] == 1 && cnt[1] == 2 && cnt[2] == 0 && cnt[3] == 1);
}
END_TEST

/* Random labels over several widths incl. c = 4096: masks against a dense
 * reference, ALL a subset of ANY for anchors with labels. */
START_TEST(random_vs_dense)
{
    static const int cs[] = { 1, 7, 63, 64, 65, 130, 4096 };
    uint64_t s = 12345;
    for (size_t t = 0; t < sizeof cs / sizeof cs[0]; t++) {
        int c = cs[t], n = 9, F = 13, N = n + F;
        size_t w = mlcl_label_words(c);
        uint8_t *y = calloc((size_t)N * c, 1);
        for (int i = 0; i < N; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            int nl = (int)((s >> 33) % 3); /* 0, 1 or 2 labels from a small set */
            for (int k = 0; k < nl; k++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                int j = (int)((s >> 33) % 4);
                if (c > 64 && (s >> 40) % 2) j = c - 1 - j;
                if (j < c) y[(size_t)i * c + j] = 1;
            }
        }
        if (c >= 4) memcpy(y + (size_t)(n + 1) * c, y, (size_t)c); /* an exact duplicate in the queue */
        uint64_t *yp = malloc(sizeof(uint64_t) * N * w);
        ck_assert_ok(mlcl_labels_pack(yp, y, N, c));
        uint8_t *many = malloc((size_t)n * N), *mall = malloc((size_t)n * N);
        int cany[9], call[9], *cj = malloc(sizeof(int) * c);
        ck_assert_ok(mlcl_mask_build(many, cany, MLCL_MASK_ANY, n, yp, n, yp, F, yp + (size_t)n * w, c));
        ck_assert_ok(mlcl_mask_build(mall, call, MLCL_MASK_ALL, n, yp, n, yp, F, yp + (size_t)n * w, c));
        ck_assert_ok(mlcl_mask_labelwise_counts(cj, N, yp, 0, NULL, c));
        for (int j = 0; j < c; j++) {
            int e = 0;
            for (int a = 0; a < N; a++) e += y[(size_t)a * c + j];
            ck_assert_int_eq(cj[j], e);
        }
        for (int i = 0; i < n; i++) {
            int ea = 0, el = 0, nyi = 0;
            for (int j = 0; j < c; j++) nyi += y[(size_t)i * c + j];
            for (int a = 0; a < N; a++) {
                int dot = 0, eq = 1;
                for (int j = 0; j < c; j++) {
                    dot += y[(size_t)i * c + j] & y[(size_t)a * c + j];
                    eq &= y[(size_t)i * c + j] == y[(size_t)a * c + j];
                }
                ck_assert_int_eq(many[(size_t)i * N + a], dot > 0);
                ck_assert_int_eq(mall[(size_t)i * N + a], eq);
                if (nyi > 0 && mall[(size_t)i * N + a]) ck_assert(many[(size_t)i * N + a]); /* ALL within ANY */
                ea += dot > 0;
                el += eq;
            }
            ck_assert_int_eq(cany[i], ea);
            ck_assert_int_eq(call[i], el);
            ck_assert_int_ge(call[i], 1); /* the sample's own key */
            if (nyi > 0) ck_assert_int_ge(cany[i], 1);
            else ck_assert_int_eq(cany[i], 0);
        }
        free(y); free(yp); free(many); free(mall); free(cj);
    }
}
END_TEST

START_TEST(mask_bad)
{
    uint64_t y[2] = { 1, 2 };
    uint8_t m[4];
    int cnt[2], cj[3];
    ck_assert_status_msg(mlcl_mask_build(NULL, NULL, MLCL_MASK_ANY, 2, y, 2, y, 0, NULL, 3), MLCL_EINVAL, "both NULL");
    ck_assert_status_msg(mlcl_mask_build(m, cnt, (mlcl_mask_mode)7, 2, y, 2, y, 0, NULL, 3), MLCL_EINVAL, "mode 7");
    ck_assert_status_msg(mlcl_mask_build(m, cnt, MLCL_MASK_ANY, 0, y, 2, y, 0, NULL, 3), MLCL_EINVAL, "n must be");
    ck_assert_status_msg(mlcl_mask_build(m, cnt, MLCL_MASK_ANY, 2, NULL, 2, y, 0, NULL, 3), MLCL_EINVAL, "y_anchor");
    ck_assert_status_msg(mlcl_mask_build(m, cnt, MLCL_MASK_ANY, 2, y, 0, y, 0, NULL, 3), MLCL_EINVAL, "N1 + N2 must be");
    ck_assert_status_msg(mlcl_mask_build(m, cnt, MLCL_MASK_ANY, 2, y, 2, NULL, 0, NULL, 3), MLCL_EINVAL, "y_c1 is NULL");
    ck_assert_status_msg(mlcl_mask_build(m, cnt, MLCL_MASK_ANY, 2, y, 2, y, 0, NULL, 0), MLCL_EINVAL, "c must be");
    ck_assert_status_msg(mlcl_mask_build(m, cnt, MLCL_MASK_ANY, 2, y, -1, y, 2, y, 3), MLCL_EINVAL, "N1");
    ck_assert_status_msg(mlcl_mask_build(m, cnt, MLCL_MASK_ANY, 2, y, 1, y, 1, NULL, 3), MLCL_EINVAL, "y_c2");
    ck_assert_status_msg(mlcl_mask_build(m, cnt, MLCL_MASK_ANY, 2, y, 0, NULL, 0, NULL, 3), MLCL_EINVAL, "N1 + N2");
    ck_assert_status_msg(mlcl_mask_labelwise_counts(NULL, 2, y, 0, NULL, 3), MLCL_EINVAL, "count_j");
    ck_assert_status_msg(mlcl_mask_labelwise_counts(cj, 2, NULL, 0, NULL, 3), MLCL_EINVAL, "y_c1 is NULL");
    ck_assert_status_msg(mlcl_mask_labelwise(NULL, 2, y, 2, y, 0, NULL, 3), MLCL_EINVAL, "counts");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mask");
    TCase *tc = tcase_create("mask");
    tcase_add_test(tc, hand_worked);
    tcase_add_test(tc, random_vs_dense);
    tcase_add_test(tc, mask_bad);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
