/* Metrics: hand-worked cases, ties, empty labels, the sweep, a plain second
 * implementation of AP, and a cross-check against scikit-learn. */
#include "testutil.h"
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#define TOL 1e-12

/* The directory of this source file (the build runs from the repository root). */
static void source_dir(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", __FILE__);
    char *s = strrchr(buf, '/');
    if (s) *s = '\0';
    else snprintf(buf, cap, ".");
}

/*
 * The 3 x 3 case worked by hand (threshold 0.5):
 *   row 0: s = .9 .2 .6   y = 1 0 0   yhat = 1 0 1   xor 1, |y&yh| 1, |y| 1, |yh| 2 -> 2/3
 *   row 1: s = .1 .8 .4   y = 0 1 1   yhat = 0 1 0   xor 1, 1, 2, 1 -> 2/3
 *   row 2: s = .3 .3 .7   y = 0 0 0   yhat = 0 0 1   xor 1, 0, 0, 1 -> 0
 *   HA = 1 - 3/9 = 2/3;  ebF1 = (2/3 + 2/3 + 0)/3 = 4/9
 *   label 0: tp 1 -> F1 1; label 1: tp 1 -> 1; label 2: tp 0 fp 2 fn 1 -> 0
 *   miF1 = 2*2 / (2*2 + 2 + 1) = 4/7;  maF1 = 2/3
 *   p@1: tops are labels 0 (pos), 1 (pos), 2 (neg) -> 2/3
 *   AP: label 0 ranks its positive first -> 1; label 1 -> 1;
 *       label 2 order .7(neg) .6(neg) .4(pos) -> R 0,0,1 P 0,0,1/3 -> 1/3
 *   mAP = (1 + 1 + 1/3)/3 = 7/9
 */
static const float S3[9] = {.9f, .2f, .6f, .1f, .8f, .4f, .3f, .3f, .7f};
static const uint8_t Y3[9] = {1, 0, 0, 0, 1, 1, 0, 0, 0};

START_TEST(hand_worked)
{
    mlcl_metrics m = MLCL_METRICS_INIT;
    ck_assert_ok(mlcl_metrics_compute(&m, 3, 3, S3, Y3, 0.5f));
    ck_assert_double_eq_tol(m.HA, 2.0 / 3, TOL);
    ck_assert_double_eq_tol(m.ebF1, 4.0 / 9, TOL);
    ck_assert_double_eq_tol(m.miF1, 4.0 / 7, TOL);
    ck_assert_double_eq_tol(m.maF1, 2.0 / 3, TOL);
    ck_assert_double_eq_tol(m.p_at_1, 2.0 / 3, TOL);
    ck_assert_double_eq_tol(m.mAP, 7.0 / 9, TOL);
    ck_assert_int_eq(m.map_labels_used, 3);
    ck_assert_int_eq(m.map_labels_skipped, 0);
    ck_assert_int_eq(m.ebf1_samples_skipped, 0);
    ck_assert(m.threshold == 0.5f);
    double ap[3];
    ck_assert_ok(mlcl_metrics_average_precision(ap, 3, 3, S3, Y3));
    ck_assert_double_eq_tol(ap[0], 1.0, TOL);
    ck_assert_double_eq_tol(ap[1], 1.0, TOL);
    ck_assert_double_eq_tol(ap[2], 1.0 / 3, TOL);
}
END_TEST

/*
 * Sweep on the same case:
 *   t = .8: yhat rows 100 / 010 / 000 -> xor 0+1+0: HA 8/9 (best; .7 predicts
 *           row 2's .7 -> 7/9, .9 drops row 1's .8 -> 7/9);
 *           ebF1 (1 + 2/3)/2 = 5/6 (row 2 skipped; best), miF1 4/(4+0+1) = 4/5 (best).
 *   t = .4: label F1s 1, 1, 2/(2+2+0) = 1/2 -> maF1 5/6 (best; at .5 label 2 scores 0).
 */
START_TEST(sweep_hand_worked)
{
    mlcl_metrics m = MLCL_METRICS_INIT;
    float bt[4];
    ck_assert_ok(mlcl_metrics_sweep(&m, bt, 3, 3, S3, Y3));
    ck_assert_double_eq_tol(m.HA, 8.0 / 9, TOL);
    ck_assert_double_eq_tol(m.ebF1, 5.0 / 6, TOL);
    ck_assert_double_eq_tol(m.miF1, 4.0 / 5, TOL);
    ck_assert_double_eq_tol(m.maF1, 5.0 / 6, TOL);
    ck_assert_double_eq_tol(m.p_at_1, 2.0 / 3, TOL);
    ck_assert_double_eq_tol(m.mAP, 7.0 / 9, TOL);
    ck_assert(bt[MLCL_METRIC_HA] == 0.8f);
    ck_assert(bt[MLCL_METRIC_EBF1] == 0.8f);
    ck_assert(bt[MLCL_METRIC_MIF1] == 0.8f);
    ck_assert(bt[MLCL_METRIC_MAF1] == 0.4f);
    ck_assert_int_eq(m.ebf1_samples_skipped, 1);
    ck_assert(isnan(m.threshold));
    ck_assert_ok(mlcl_metrics_sweep(&m, NULL, 3, 3, S3, Y3)); /* best_t nullable */
}
END_TEST

/* The sweep equals the best of compute() over t = 0.1..0.9 (a plain loop). */
START_TEST(sweep_matches_compute_loop)
{
    enum { N = 300, C = 9 };
    static float s[N * C];
    static uint8_t y[N * C];
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 11));
    ck_assert_ok(mlcl_rng_uniform(r, s, N * C));
    uint32_t u[N * C];
    ck_assert_ok(mlcl_rng_u32(r, u, N * C));
    for (int k = 0; k < N * C; k++) y[k] = (u[k] % 100) < 30 + 40 * s[k];
    mlcl_metrics best = MLCL_METRICS_INIT, m = MLCL_METRICS_INIT;
    float bt[4];
    ck_assert_ok(mlcl_metrics_sweep(&best, bt, N, C, s, y));
    double b[4] = {-1, -1, -1, -1};
    float t_of[4] = {0};
    for (int k = 1; k <= 9; k++) {
        float t = (float)(k / 10.0);
        ck_assert_ok(mlcl_metrics_compute(&m, N, C, s, y, t));
        double v[4] = {m.HA, m.ebF1, m.miF1, m.maF1};
        for (int q = 0; q < 4; q++)
            if (v[q] > b[q]) { b[q] = v[q]; t_of[q] = t; }
        ck_assert(m.mAP == best.mAP);
        ck_assert(m.p_at_1 == best.p_at_1);
    }
    ck_assert(best.HA == b[0]);
    ck_assert(best.ebF1 == b[1]);
    ck_assert(best.miF1 == b[2]);
    ck_assert(best.maF1 == b[3]);
    for (int q = 0; q < 4; q++) ck_assert(bt[q] == t_of[q]);
    mlcl_rng_free(r);
}
END_TEST

/*
 * Ties. AP with scores .5(pos) .5(neg) .2(pos) .2(neg): the .5 group enters at
 * once -> R 1/2, P 1/2; then .2 -> R 1, P 1/2: AP = 1/4 + 1/4 = 1/2 (ranking the
 * positive first inside each group would give 3/4 + ... — ties must be grouped).
 * p@1 with a tie between labels 0 and 1: the first index (0) is taken.
 */
START_TEST(ties)
{
    const float s[4] = {.5f, .5f, .2f, .2f};
    const uint8_t y[4] = {1, 0, 1, 0};
    double ap;
    ck_assert_ok(mlcl_metrics_average_precision(&ap, 4, 1, s, y));
    ck_assert_double_eq_tol(ap, 0.5, TOL);
    const uint8_t y2[4] = {0, 1, 0, 1}; /* same groups, positives second: same AP */
    ck_assert_ok(mlcl_metrics_average_precision(&ap, 4, 1, s, y2));
    ck_assert_double_eq_tol(ap, 0.5, TOL);
    /* all scores equal: AP = prevalence */
    const float e[4] = {.3f, .3f, .3f, .3f};
    const uint8_t y3[4] = {1, 0, 0, 0};
    ck_assert_ok(mlcl_metrics_average_precision(&ap, 4, 1, e, y3));
    ck_assert_double_eq_tol(ap, 0.25, TOL);

    const float t[6] = {.5f, .5f, .1f, .7f, .2f, .7f};
    const uint8_t ya[6] = {0, 1, 0, 1, 0, 0}; /* row 0: tie 0/1 -> label 0 (neg); row 1: tie 0/2 -> label 0 (pos) */
    mlcl_metrics m = MLCL_METRICS_INIT;
    ck_assert_ok(mlcl_metrics_compute(&m, 2, 3, t, ya, 0.5f));
    ck_assert_double_eq_tol(m.p_at_1, 0.5, TOL);
    /* a score equal to the threshold is predicted: row 0 yhat = 1 1 0, row 1 = 1 0 1
     * xor: row 0 {0}, row 1 {2} -> HA = 1 - 2/6 */
    ck_assert_double_eq_tol(m.HA, 2.0 / 3, TOL);
}
END_TEST

/*
 * A label with no positive, all-zero predictions, and the fully empty case.
 * scores all .1 (nothing predicted at .5); labels
 *   row 0: 1 0 0, row 1: 1 1 0, row 2: 0 0 0, row 3: 0 1 0  (label 2 has no positive)
 *   HA = 1 - 4/12 = 2/3; ebF1: rows 0, 1, 3 score 0, row 2 skipped -> 0;
 *   miF1 = 0 (tp 0, fn 4); maF1 = 0; p@1: all tied -> label 0: rows 0, 1 -> 1/2;
 *   AP of labels 0 and 1 with all scores tied = prevalence 1/2; label 2 skipped.
 */
START_TEST(empty_labels_and_predictions)
{
    float s[12];
    for (int k = 0; k < 12; k++) s[k] = .1f;
    const uint8_t y[12] = {1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0};
    mlcl_metrics m = MLCL_METRICS_INIT;
    ck_assert_ok(mlcl_metrics_compute(&m, 4, 3, s, y, 0.5f));
    ck_assert_double_eq_tol(m.HA, 2.0 / 3, TOL);
    ck_assert_double_eq_tol(m.ebF1, 0.0, TOL);
    ck_assert_int_eq(m.ebf1_samples_skipped, 1);
    ck_assert_double_eq_tol(m.miF1, 0.0, TOL);
    ck_assert_double_eq_tol(m.maF1, 0.0, TOL);
    ck_assert_double_eq_tol(m.p_at_1, 0.5, TOL);
    ck_assert_double_eq_tol(m.mAP, 0.5, TOL);
    ck_assert_int_eq(m.map_labels_used, 2);
    ck_assert_int_eq(m.map_labels_skipped, 1);
    double ap[3];
    ck_assert_ok(mlcl_metrics_average_precision(ap, 4, 3, s, y));
    ck_assert(isnan(ap[2]));

    /* nothing to predict and nothing predicted: HA 1, the F1s 0 by convention, mAP NaN */
    const uint8_t z[12] = {0};
    ck_assert_ok(mlcl_metrics_compute(&m, 4, 3, s, z, 0.5f));
    ck_assert_double_eq_tol(m.HA, 1.0, TOL);
    ck_assert_double_eq_tol(m.ebF1, 0.0, TOL);
    ck_assert_int_eq(m.ebf1_samples_skipped, 4);
    ck_assert_double_eq_tol(m.miF1, 0.0, TOL);
    ck_assert_double_eq_tol(m.maF1, 0.0, TOL);
    ck_assert(isnan(m.mAP));
    ck_assert_int_eq(m.map_labels_skipped, 3);

    /* perfect predictions: every metric 1 */
    float p[12];
    for (int k = 0; k < 12; k++) p[k] = y[k] ? .9f : .1f;
    ck_assert_ok(mlcl_metrics_compute(&m, 4, 3, p, y, 0.5f));
    ck_assert_double_eq_tol(m.HA, 1.0, TOL);
    ck_assert_double_eq_tol(m.ebF1, 1.0, TOL);
    ck_assert_double_eq_tol(m.miF1, 1.0, TOL);
    /* label 2: nothing to count -> 0, so maF1 = 2/3 (the reference's +1e-6) */
    ck_assert_double_eq_tol(m.maF1, 2.0 / 3, TOL);
    ck_assert_double_eq_tol(m.mAP, 1.0, TOL);
    /* p@1: row 2 has no positive, its top (tie -> label 0) is negative */
    ck_assert_double_eq_tol(m.p_at_1, 0.75, TOL);
}
END_TEST

/* A deliberately plain AP: for each distinct score v (descending), P and R of
 * "score >= v", counted from scratch. O(n^2). */
static double plain_ap(int n, int c, int j, const float *s, const uint8_t *y)
{
    int npos = 0;
    for (int i = 0; i < n; i++) npos += y[i * c + j];
    if (!npos) return NAN;
    double ap = 0, rprev = 0;
    float prev = INFINITY;
    for (;;) {
        float v = -INFINITY;
        for (int i = 0; i < n; i++)
            if (s[i * c + j] < prev && s[i * c + j] > v) v = s[i * c + j];
        if (v == -INFINITY) break;
        int tp = 0, all = 0;
        for (int i = 0; i < n; i++)
            if (s[i * c + j] >= v) { all++; tp += y[i * c + j]; }
        double r = (double)tp / npos;
        ap += (r - rprev) * ((double)tp / all);
        rprev = r;
        prev = v;
    }
    return ap;
}

/* Random case: scores rounded to `dec` decimals (heavy ties), label 3 never positive. */
static void random_case(int n, int c, uint64_t seed, int dec, float *s, uint8_t *y)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed));
    ck_assert_ok(mlcl_rng_uniform(r, s, (size_t)n * c));
    uint32_t *u = malloc((size_t)n * c * sizeof *u);
    ck_assert_ok(mlcl_rng_u32(r, u, (size_t)n * c));
    double q = pow(10, dec);
    for (int k = 0; k < n * c; k++) {
        /* labels correlated with the score so AP is informative */
        y[k] = (k % c) != 3 && (u[k] % 1000) < 100 + 700 * s[k];
        if (dec > 0) s[k] = (float)(round(s[k] * q) / q);
    }
    free(u);
    mlcl_rng_free(r);
}

START_TEST(ap_matches_plain_implementation)
{
    enum { N = 400, C = 6 };
    static float s[N * C];
    static uint8_t y[N * C];
    for (int dec = 0; dec <= 2; dec++) {
        random_case(N, C, 100 + dec, dec == 0 ? 0 : dec, s, y);
        double ap[C];
        ck_assert_ok(mlcl_metrics_average_precision(ap, N, C, s, y));
        for (int j = 0; j < C; j++) {
            double ref = plain_ap(N, C, j, s, y);
            if (isnan(ref)) ck_assert(isnan(ap[j]));
            else ck_assert_double_eq_tol(ap[j], ref, 1e-12);
        }
    }
}
END_TEST

static int have_sklearn(void)
{
    return system("/usr/bin/python3 -c 'import sklearn' >/dev/null 2>&1") == 0;
}

START_TEST(matches_sklearn)
{
    if (!have_sklearn()) {
        printf("matches_sklearn: skipped (python3 with scikit-learn not found)\n");
        return;
    }
    char dir[1024];
    source_dir(dir, sizeof dir);
    static const struct { int n, c, dec; uint64_t seed; float t; } cases[] = {
        {50, 5, 1, 1, 0.5f}, {200, 7, 1, 2, 0.3f}, {1000, 4, 1, 3, 0.7f},
        {300, 6, 0, 4, 0.5f}, {120, 8, 2, 5, 0.4f}, {7, 4, 1, 6, 0.5f},
    };
    enum { NCASES = sizeof cases / sizeof cases[0] };
    float *s[NCASES];
    uint8_t *y[NCASES];
    char paths[NCASES][32];
    char cmd[4096];
    int len = snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/sklearn_map.py", dir);
    for (int q = 0; q < NCASES; q++) {
        int n = cases[q].n, c = cases[q].c;
        s[q] = malloc((size_t)n * c * sizeof *s[q]);
        y[q] = malloc((size_t)n * c);
        random_case(n, c, cases[q].seed, cases[q].dec, s[q], y[q]);
        snprintf(paths[q], sizeof paths[q], "/tmp/mlcl_metrics_XXXXXX");
        int fd = mkstemp(paths[q]);
        ck_assert_int_ge(fd, 0);
        FILE *f = fdopen(fd, "w");
        fprintf(f, "%d %d %.9g\n", n, c, (double)cases[q].t);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < c; j++) fprintf(f, "%.9g%c", (double)s[q][i * c + j], j + 1 < c ? ' ' : '\n');
        for (int i = 0; i < n; i++)
            for (int j = 0; j < c; j++) fprintf(f, "%d%c", y[q][i * c + j], j + 1 < c ? ' ' : '\n');
        fclose(f);
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %s", paths[q]);
    }
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    for (int q = 0; q < NCASES; q++) {
        int n = cases[q].n, c = cases[q].c;
        double ref[16], rha, rmi, rma;
        for (int j = 0; j < c; j++) ck_assert_int_eq(fscanf(p, "%lf", &ref[j]), 1);
        ck_assert_int_eq(fscanf(p, "%lf %lf %lf", &rha, &rmi, &rma), 3);
        double ap[16];
        ck_assert_ok(mlcl_metrics_average_precision(ap, n, c, s[q], y[q]));
        double sum = 0;
        int used = 0;
        for (int j = 0; j < c; j++) {
            if (j == 3) { ck_assert(isnan(ref[j]) && isnan(ap[j])); continue; }
            ck_assert_msg(fabs(ap[j] - ref[j]) < 1e-6, "case %d label %d: AP %.10f, sklearn %.10f", q, j, ap[j], ref[j]);
            sum += ref[j];
            used++;
        }
        mlcl_metrics m = MLCL_METRICS_INIT;
        ck_assert_ok(mlcl_metrics_compute(&m, n, c, s[q], y[q], cases[q].t));
        ck_assert_double_eq_tol(m.mAP, sum / used, 1e-6);
        ck_assert_int_eq(m.map_labels_skipped, 1);
        ck_assert_double_eq_tol(m.HA, rha, 1e-9);
        ck_assert_double_eq_tol(m.miF1, rmi, 1e-9);
        ck_assert_double_eq_tol(m.maF1, rma, 1e-9);
        free(s[q]);
        free(y[q]);
        unlink(paths[q]);
    }
    ck_assert_int_eq(pclose(p), 0);
}
END_TEST

START_TEST(bad_arguments)
{
    mlcl_metrics m = MLCL_METRICS_INIT;
    float s[4] = {.1f, .2f, .3f, .4f};
    uint8_t y[4] = {0, 1, 0, 1};
    ck_assert_status_msg(mlcl_metrics_compute(NULL, 2, 2, s, y, .5f), MLCL_EINVAL, "out");
    ck_assert_status_msg(mlcl_metrics_compute(&m, 0, 2, s, y, .5f), MLCL_EINVAL, "n must be > 0");
    ck_assert_status_msg(mlcl_metrics_compute(&m, 2, -1, s, y, .5f), MLCL_EINVAL, "c must be > 0");
    ck_assert_status_msg(mlcl_metrics_compute(&m, 2, 2, NULL, y, .5f), MLCL_EINVAL, "scores");
    ck_assert_status_msg(mlcl_metrics_compute(&m, 2, 2, s, NULL, .5f), MLCL_EINVAL, "labels");
    ck_assert_status_msg(mlcl_metrics_compute(&m, 2, 2, s, y, NAN), MLCL_EINVAL, "threshold");
    s[3] = NAN;
    ck_assert_status_msg(mlcl_metrics_compute(&m, 2, 2, s, y, .5f), MLCL_ENUMERIC, "scores[1][1]");
    ck_assert_status_msg(mlcl_metrics_sweep(&m, NULL, 2, 2, s, y), MLCL_ENUMERIC, "mlcl_metrics_sweep");
    s[3] = .4f;
    y[2] = 2;
    ck_assert_status_msg(mlcl_metrics_compute(&m, 2, 2, s, y, .5f), MLCL_EINVAL, "labels[1][0]");
    double ap[2];
    ck_assert_status_msg(mlcl_metrics_average_precision(ap, 2, 2, s, y), MLCL_EINVAL, "labels[1][0]");
    ck_assert_status_msg(mlcl_metrics_average_precision(NULL, 2, 2, s, y), MLCL_EINVAL, "ap");
    y[2] = 0;
    m.version = 99;
    ck_assert_status_msg(mlcl_metrics_compute(&m, 2, 2, s, y, .5f), MLCL_EVERSION, "version");
    ck_assert_status_msg(mlcl_metrics_init(&m, 99), MLCL_EVERSION, "version");
    ck_assert_status_msg(mlcl_metrics_init(NULL, MLCL_METRICS_VERSION), MLCL_EINVAL, "m");
}
END_TEST

START_TEST(init_macro_equals_function)
{
    mlcl_metrics a = MLCL_METRICS_INIT, b;
    memset(&b, 0xab, sizeof b);
    ck_assert_ok(mlcl_metrics_init(&b, MLCL_METRICS_VERSION));
    ck_assert_uint_eq(b.version, MLCL_METRICS_VERSION);
    ck_assert(a.version == b.version && a.HA == b.HA && a.mAP == b.mAP && a.threshold == b.threshold &&
              a.map_labels_used == b.map_labels_used && a.ebf1_samples_skipped == b.ebf1_samples_skipped);
}
END_TEST

/* Out-of-memory is reported cleanly through the allocator hooks. */
static void *failing_alloc(size_t size, void *ctx) { (void)size; (void)ctx; return NULL; }
static void failing_free(void *p, void *ctx) { (void)p; (void)ctx; }

START_TEST(out_of_memory)
{
    mlcl_allocator a = { MLCL_ALLOCATOR_VERSION, failing_alloc, failing_free, NULL};
    ck_assert_ok(mlcl_set_allocator(&a));
    mlcl_metrics m = MLCL_METRICS_INIT;
    int rc = mlcl_metrics_compute(&m, 3, 3, S3, Y3, 0.5f);
    ck_assert_ok(mlcl_set_allocator(NULL));
    ck_assert_int_eq(rc, MLCL_ENOMEM);
    ck_assert(strstr(mlcl_last_error(), "mlcl_metrics_compute") != NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hand_worked);
    tcase_add_test(tc, sweep_hand_worked);
    tcase_add_test(tc, sweep_matches_compute_loop);
    tcase_add_test(tc, ties);
    tcase_add_test(tc, empty_labels_and_predictions);
    tcase_add_test(tc, ap_matches_plain_implementation);
    tcase_add_test(tc, matches_sklearn);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, init_macro_equals_function);
    tcase_add_test(tc, out_of_memory);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
