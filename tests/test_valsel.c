/* Thresholds chosen on validation rows and fine-tuning epoch selection
 * (mlcl_metrics_choose_thresholds, mlcl_trainer_set_validation). */
#include "testutil.h"
#include <math.h>
#include <unistd.h>

/* ------------------------------------------------------------ fixtures */

/* a small synthetic multi-label set: c labels, features a noisy code of the labels */
static mlcl_dataset *synthetic(int n, int d, int c, uint64_t seed, float noise)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed));
    float *x = malloc(sizeof(float) * n * d), *u = malloc(sizeof(float) * n * c);
    uint8_t *y = malloc((size_t)n * c);
    ck_assert_ok(mlcl_rng_normal(r, x, (size_t)n * d, noise));
    ck_assert_ok(mlcl_rng_uniform(r, u, (size_t)n * c));
    for (int i = 0; i < n; i++) {
        int any = 0;
        for (int j = 0; j < c; j++) { y[i * c + j] = u[i * c + j] < 0.3f; any |= y[i * c + j]; }
        if (!any) y[i * c + (i % c)] = 1;
        for (int j = 0; j < c; j++)
            if (y[i * c + j]) x[(size_t)i * d + (j % d)] += 1.0f;
    }
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, n, d, c, x, y));
    free(x); free(u); free(y);
    mlcl_rng_free(r);
    return ds;
}

enum { D = 10, C = 5 };
static mlcl_dataset *TR, *VA, *TE;

static void setup(void)
{
    TR = synthetic(64, D, C, 101, 0.7f);
    VA = synthetic(80, D, C, 202, 0.7f);
    TE = synthetic(100, D, C, 303, 0.7f);
}

static void teardown(void)
{
    mlcl_dataset_free(TR); mlcl_dataset_free(VA); mlcl_dataset_free(TE);
}

static void small_opts(mlcl_train_options *o)
{
    ck_assert_ok(mlcl_train_options_init(o, MLCL_TRAIN_OPTIONS_VERSION));
    o->method = MLCL_METHOD_CLD;
    o->batch = 32;
    o->seed = 7;
    test_moco_of(o)->o.queue_size = 64;
    test_moco_of(o)->hidden[0] = 32; test_moco_of(o)->hidden[1] = 48; test_moco_of(o)->hidden[2] = 32;
    test_moco_of(o)->o.proj_dim = 16;
    o->pretrain_epochs = 1;
    o->finetune_epochs = 12;
    o->pretrain_T_0 = 2;
    o->finetune_T_0 = 3;
    o->pretrain_lr = 1e-3f;
    o->finetune_lr = 3e-2f; /* fast enough to overfit 64 noisy rows: the best epoch is not the last */
}

static mlcl_trainer *make(const mlcl_train_options *o, const mlcl_dataset *val, int metric, int patience)
{
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, o, TR));
    if (val) {
        mlcl_validation_options vo = MLCL_VALIDATION_OPTIONS_INIT;
        vo.select_metric = metric;
        vo.patience = patience;
        ck_assert_ok(mlcl_trainer_set_validation(t, val, &vo));
    }
    return t;
}

static float *predict(mlcl_trainer *t, const mlcl_dataset *ds)
{
    int n, d, c;
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    float *s = malloc(sizeof(float) * (size_t)n * c);
    ck_assert_ok(mlcl_trainer_predict(t, n, mlcl_dataset_features(ds), s));
    return s;
}

static int same_predictions(mlcl_trainer *a, mlcl_trainer *b, const mlcl_dataset *ds)
{
    int n;
    ck_assert_ok(mlcl_dataset_dims(ds, &n, NULL, NULL));
    float *pa = predict(a, ds), *pb = predict(b, ds);
    int same = memcmp(pa, pb, sizeof(float) * (size_t)n * C) == 0;
    free(pa); free(pb);
    return same;
}

/* every parameter and BatchNorm statistic of the backbone and the LD head */
static int same_finetuned_state(mlcl_trainer *a, mlcl_trainer *b)
{
    int same = 1;
    int nets[2] = { 0, 2 }; /* query backbone, LD head (mlcl_moco_encoder) */
    for (int k = 0; k < 2; k++) {
        mlcl_moco *ma, *mb;
        mlcl_encoder *ea, *eb;
        ck_assert_ok(mlcl_trainer_moco(a, &ma));
        ck_assert_ok(mlcl_trainer_moco(b, &mb));
        ck_assert_ok(mlcl_moco_encoder(ma, nets[k], &ea));
        ck_assert_ok(mlcl_moco_encoder(mb, nets[k], &eb));
        size_t np, ns;
        ck_assert_ok(mlcl_encoder_param_count(ea, &np));
        ck_assert_ok(mlcl_encoder_state_count(ea, &ns));
        float *x = malloc(sizeof(float) * (np + ns + 1)), *y = malloc(sizeof(float) * (np + ns + 1));
        ck_assert_ok(mlcl_encoder_get_params(ea, x, np));
        ck_assert_ok(mlcl_encoder_get_params(eb, y, np));
        if (ns) {
            ck_assert_ok(mlcl_encoder_get_state(ea, x + np, ns));
            ck_assert_ok(mlcl_encoder_get_state(eb, y + np, ns));
        }
        same &= memcmp(x, y, sizeof(float) * (np + ns)) == 0;
        free(x); free(y);
    }
    return same;
}

/* ------------------------------------------------- thresholds: reference */

static void counts(int n, int c, const float *s, const uint8_t *y, int j, float t, long *tp, long *fp, long *fn_)
{
    *tp = *fp = *fn_ = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            if (j >= 0 && k != j) continue;
            int p = s[i * c + k] >= t, l = y[i * c + k];
            *tp += p && l; *fp += p && !l; *fn_ += !p && l;
        }
}

static double f1_at(int n, int c, const float *s, const uint8_t *y, int j, float t)
{
    long tp, fp, fn_;
    counts(n, c, s, y, j, t, &tp, &fp, &fn_);
    long den = 2 * tp + fp + fn_;
    return den ? 2.0 * tp / den : 0.0;
}

/* Brute force: every distinct score of the column (j >= 0) or of the whole
 * matrix (j < 0), and +inf (nothing predicted), as candidate thresholds;
 * returns the best F1 and, in *best_s, the highest score that reaches it. */
static double brute_best(int n, int c, const float *s, const uint8_t *y, int j, float *best_s)
{
    double best = f1_at(n, c, s, y, j, INFINITY); /* nothing predicted: 0 */
    *best_s = INFINITY;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            if (j >= 0 && k != j) continue;
            float t = s[i * c + k];
            double f = f1_at(n, c, s, y, j, t);
            if (f > best || (f == best && t > *best_s)) { best = f; *best_s = t; }
        }
    return best;
}

/* decisions at threshold a and at threshold b are the same on every entry considered */
static int same_decisions(int n, int c, const float *s, int j, float a, float b)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            if (j >= 0 && k != j) continue;
            if ((s[i * c + k] >= a) != (s[i * c + k] >= b)) return 0;
        }
    return 1;
}

START_TEST(thresholds_worked_example)
{
    /* one label: scores 0.9 0.8 0.3 0.2, labels 1 0 1 0. F1 at >= 0.9: 2/3, >= 0.8: 1/2,
     * >= 0.3: 4/5 (best), >= 0.2: 2/3 -> the threshold between 0.3 and 0.2 */
    float s[4] = { 0.9f, 0.8f, 0.3f, 0.2f };
    uint8_t y[4] = { 1, 0, 1, 0 };
    float t, g;
    double f1;
    ck_assert_ok(mlcl_metrics_choose_thresholds(&t, &g, &f1, 4, 1, s, y));
    ck_assert_float_eq(t, 0.5f * 0.3f + 0.5f * 0.2f);
    ck_assert_float_eq(g, t); /* one label: micro = per label */
    ck_assert_double_eq_tol(f1, 0.8, 1e-15);
    /* two labels, the second without a positive: it takes the global threshold */
    float s2[8] = { 0.9f, 0.1f, 0.8f, 0.7f, 0.3f, 0.2f, 0.2f, 0.6f };
    uint8_t y2[8] = { 1, 0, 0, 0, 1, 0, 0, 0 };
    float t2[2];
    double f2[2];
    ck_assert_ok(mlcl_metrics_choose_thresholds(t2, &g, f2, 4, 2, s2, y2));
    ck_assert_float_eq(t2[0], 0.5f * 0.3f + 0.5f * 0.2f);
    ck_assert_float_eq(t2[1], g);
    ck_assert(isnan(f2[1]));
    /* micro over all 8: sorted 0.9+ 0.8 0.7 0.6 0.3+ 0.2 0.2 0.1: best 4/(2+5)... at >= 0.9: 2/3;
     * at >= 0.3: tp 2, fp 3 -> 4/7; the best is >= 0.9, midpoint with 0.8 */
    ck_assert_float_eq(g, 0.5f * 0.9f + 0.5f * 0.8f);
    /* no positive anywhere: 0.5 */
    uint8_t z[4] = { 0, 0, 0, 0 };
    ck_assert_ok(mlcl_metrics_choose_thresholds(&t, &g, NULL, 4, 1, s, z));
    ck_assert_float_eq(g, 0.5f);
    ck_assert_float_eq(t, 0.5f);
}
END_TEST

START_TEST(thresholds_match_brute_force)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 4242));
    int checked_labels = 0, fallback_labels = 0;
    for (int trial = 0; trial < 300; trial++) {
        float u[3];
        ck_assert_ok(mlcl_rng_uniform(r, u, 3));
        int n = 1 + (int)(u[0] * 40), c = 1 + (int)(u[1] * 6);
        int quantise = trial % 3; /* 0: continuous, 1: 0.05 steps (ties), 2: 4 levels (many ties) */
        float *s = malloc(sizeof(float) * n * c), *v = malloc(sizeof(float) * n * c);
        uint8_t *y = malloc((size_t)n * c);
        ck_assert_ok(mlcl_rng_uniform(r, s, (size_t)n * c));
        ck_assert_ok(mlcl_rng_uniform(r, v, (size_t)n * c));
        float rate = 0.05f + 0.5f * u[2];
        for (int k = 0; k < n * c; k++) {
            if (quantise == 1) s[k] = roundf(s[k] * 20) / 20;
            if (quantise == 2) s[k] = roundf(s[k] * 3) / 3;
            y[k] = v[k] < rate;
            if (y[k] && trial % 2) s[k] = fminf(1.0f, s[k] + 0.3f); /* informative scores half the time */
        }
        float *t = malloc(sizeof(float) * c), g;
        double *f1 = malloc(sizeof(double) * c);
        ck_assert_ok(mlcl_metrics_choose_thresholds(t, &g, f1, n, c, s, y));
        /* global: micro-F1 over everything */
        float bs;
        double best = brute_best(n, c, s, y, -1, &bs);
        long npos = 0;
        for (int k = 0; k < n * c; k++) npos += y[k];
        if (npos) {
            ck_assert_msg(f1_at(n, c, s, y, -1, g) == best, "trial %d: global F1 %g, brute force %g", trial,
                          f1_at(n, c, s, y, -1, g), best);
            ck_assert_msg(same_decisions(n, c, s, -1, g, bs), "trial %d: global threshold %g does not act as score %g",
                          trial, (double)g, (double)bs);
        } else {
            ck_assert_float_eq(g, 0.5f);
        }
        for (int j = 0; j < c; j++) {
            long p = 0;
            for (int i = 0; i < n; i++) p += y[i * c + j];
            if (!p) { ck_assert_float_eq(t[j], g); ck_assert(isnan(f1[j])); fallback_labels++; continue; }
            double bj = brute_best(n, c, s, y, j, &bs);
            ck_assert_msg(f1_at(n, c, s, y, j, t[j]) == bj, "trial %d label %d: F1 %g at %g, brute force %g", trial, j,
                          f1_at(n, c, s, y, j, t[j]), (double)t[j], bj);
            ck_assert_double_eq(f1[j], bj);
            ck_assert_msg(same_decisions(n, c, s, j, t[j], bs), "trial %d label %d: tie not broken to the highest score",
                          trial, j);
            ck_assert(t[j] >= 0.0f && t[j] <= 1.0f);
            checked_labels++;
        }
        /* per-label thresholds in the metrics: the same as a fixed threshold when all are equal */
        mlcl_metrics a = MLCL_METRICS_INIT, b = MLCL_METRICS_INIT;
        for (int j = 0; j < c; j++) t[j] = 0.35f;
        ck_assert_ok(mlcl_metrics_compute_thresholds(&a, n, c, s, y, t));
        ck_assert_ok(mlcl_metrics_compute(&b, n, c, s, y, 0.35f));
        ck_assert(a.HA == b.HA && a.ebF1 == b.ebF1 && a.miF1 == b.miF1 && a.maF1 == b.maF1);
        ck_assert(a.mAP == b.mAP || (isnan(a.mAP) && isnan(b.mAP)));
        ck_assert(isnan(a.threshold));
        free(s); free(v); free(y); free(t); free(f1);
    }
    ck_assert_int_gt(checked_labels, 300);
    ck_assert_int_gt(fallback_labels, 5);
    mlcl_rng_free(r);
}
END_TEST

START_TEST(per_label_thresholds_in_metrics)
{
    /* label 0 predicted at >= 0.5, label 1 at >= 0.15: by hand */
    float s[6] = { 0.6f, 0.2f, 0.4f, 0.1f, 0.7f, 0.16f };
    uint8_t y[6] = { 1, 1, 1, 0, 0, 1 };
    float t[2] = { 0.5f, 0.15f };
    mlcl_metrics m = MLCL_METRICS_INIT;
    ck_assert_ok(mlcl_metrics_compute_thresholds(&m, 3, 2, s, y, t));
    /* decisions: (1,1) (0,0) (1,1); label 0: tp1 fp1 fn1 -> F1 1/2; label 1: tp2 fn0 fp0 -> 1 */
    ck_assert_double_eq_tol(m.maF1, 0.75, 1e-12);
    ck_assert_double_eq_tol(m.miF1, 2.0 * 3 / (2.0 * 3 + 1 + 1), 1e-12);
    ck_assert_double_eq_tol(m.HA, 1.0 - 2.0 / 6, 1e-12);
    t[1] = NAN;
    ck_assert_status_msg(mlcl_metrics_compute_thresholds(&m, 3, 2, s, y, t), MLCL_EINVAL, "thresholds[1]");
    ck_assert_status_msg(mlcl_metrics_compute_thresholds(&m, 3, 2, s, y, NULL), MLCL_EINVAL, "thresholds");
    ck_assert_status_msg(mlcl_metrics_choose_thresholds(NULL, NULL, NULL, 3, 2, s, y), MLCL_EINVAL, "NULL");
    uint8_t bad[6] = { 0, 2, 0, 0, 0, 0 };
    ck_assert_status_msg(mlcl_metrics_choose_thresholds(t, NULL, NULL, 3, 2, s, bad), MLCL_EINVAL, "labels[0][1]");
}
END_TEST

/* -------------------------------------------------------- epoch selection */

static double epoch_values[64];
static int epoch_count;
static int record_values(const mlcl_progress *p, void *ctx)
{
    if (p->phase == 2 && p->end_of_epoch) {
        double last;
        ck_assert_ok(mlcl_trainer_selection((const mlcl_trainer *)ctx, NULL, NULL, &last, NULL));
        epoch_values[p->epoch] = last;
        epoch_count = p->epoch + 1;
    }
    return 0;
}

START_TEST(selection_restores_the_best_epoch)
{
    mlcl_train_options o;
    small_opts(&o);
    mlcl_trainer *a = make(&o, VA, MLCL_METRIC_MAP, 0);
    ck_assert_ok(mlcl_trainer_set_callback(a, record_values, a));
    ck_assert_ok(mlcl_trainer_run(a));
    int best, run;
    double bv;
    ck_assert_ok(mlcl_trainer_selection(a, &best, &bv, NULL, &run));
    ck_assert_int_eq(run, o.finetune_epochs);
    ck_assert_int_eq(epoch_count, o.finetune_epochs);
    /* the best by the values seen after every epoch, the earliest on ties */
    int want = 0;
    for (int e = 1; e < epoch_count; e++) if (epoch_values[e] > epoch_values[want]) want = e;
    ck_assert_int_eq(best, want);
    ck_assert(bv == epoch_values[want]);
    ck_assert_msg(best < o.finetune_epochs - 1, "the fixture should overfit: best epoch %d of %d", best, run);

    /* a run without validation stopped right after that epoch: the same network, bit for bit */
    mlcl_trainer *b = make(&o, NULL, 0, 0);
    int done;
    ck_assert_ok(mlcl_trainer_run_epochs(b, o.pretrain_epochs + best + 1, &done));
    ck_assert_int_eq(done, 0);
    ck_assert(same_predictions(a, b, TE));
    ck_assert(same_predictions(a, b, VA));
    ck_assert(same_finetuned_state(a, b));
    /* and its validation mAP is the recorded best value */
    float *sv = predict(b, VA);
    mlcl_metrics m = MLCL_METRICS_INIT;
    int nv;
    ck_assert_ok(mlcl_dataset_dims(VA, &nv, NULL, NULL));
    ck_assert_ok(mlcl_metrics_compute(&m, nv, C, sv, mlcl_dataset_labels(VA), 0.5f));
    ck_assert(m.mAP == bv);
    free(sv);
    /* the last epoch is another network: the restore did something */
    mlcl_trainer *last = make(&o, NULL, 0, 0);
    ck_assert_ok(mlcl_trainer_run(last));
    ck_assert(!same_predictions(a, last, TE));
    /* without selection, validation changes nothing in training */
    mlcl_trainer *nosel = make(&o, VA, MLCL_SELECT_NONE, 0);
    ck_assert_ok(mlcl_trainer_run(nosel));
    ck_assert(same_predictions(nosel, last, TE));
    mlcl_trainer_free(a); mlcl_trainer_free(b); mlcl_trainer_free(last); mlcl_trainer_free(nosel);
}
END_TEST

START_TEST(selection_by_each_metric)
{
    /* every select metric picks the epoch where its own value was highest */
    mlcl_train_options o;
    small_opts(&o);
    o.finetune_epochs = 5;
    for (int metric = MLCL_METRIC_HA; metric <= MLCL_METRIC_MAP; metric++) {
        mlcl_trainer *a = make(&o, VA, metric, 0);
        ck_assert_ok(mlcl_trainer_set_callback(a, record_values, a));
        epoch_count = 0;
        ck_assert_ok(mlcl_trainer_run(a));
        int best;
        ck_assert_ok(mlcl_trainer_selection(a, &best, NULL, NULL, NULL));
        int want = 0;
        for (int e = 1; e < epoch_count; e++) if (epoch_values[e] > epoch_values[want]) want = e;
        ck_assert_int_eq(best, want);
        for (int e = 0; e < epoch_count; e++) ck_assert(epoch_values[e] >= 0 && epoch_values[e] <= 1);
        mlcl_trainer_free(a);
    }
}
END_TEST

START_TEST(patience_stops_early)
{
    mlcl_train_options o;
    small_opts(&o);
    mlcl_trainer *full = make(&o, VA, MLCL_METRIC_MAP, 0);
    ck_assert_ok(mlcl_trainer_set_callback(full, record_values, full));
    ck_assert_ok(mlcl_trainer_run(full));
    double vals[64];
    memcpy(vals, epoch_values, sizeof vals);
    int stopped_somewhere = 0;
    for (int patience = 1; patience <= 3; patience++) {
        /* where patience must stop, from the full run's values */
        int best = 0, stop = o.finetune_epochs;
        for (int e = 1; e < o.finetune_epochs; e++) {
            if (vals[e] > vals[best]) best = e;
            if (e - best >= patience) { stop = e + 1; break; }
        }
        mlcl_trainer *p = make(&o, VA, MLCL_METRIC_MAP, patience);
        ck_assert_ok(mlcl_trainer_run(p));
        int pb, run, phase;
        ck_assert_ok(mlcl_trainer_selection(p, &pb, NULL, NULL, &run));
        ck_assert_ok(mlcl_trainer_position(p, &phase, NULL));
        ck_assert_int_eq(phase, 3);
        ck_assert_int_eq(run, stop);
        ck_assert_int_eq(pb, best);
        stopped_somewhere |= stop < o.finetune_epochs;
        /* the kept network is that epoch's: equal to a plain run stopped there */
        mlcl_trainer *b = make(&o, NULL, 0, 0);
        ck_assert_ok(mlcl_trainer_run_epochs(b, o.pretrain_epochs + pb + 1, NULL));
        ck_assert(same_predictions(p, b, TE));
        mlcl_trainer_free(p); mlcl_trainer_free(b);
    }
    ck_assert_msg(stopped_somewhere, "patience 1..3 never stopped early on this fixture");
    mlcl_trainer_free(full);
}
END_TEST

static int stop_ft_epoch, stop_ft_at_end;
/* stops fine-tuning epoch stop_ft_epoch after its first step, or at its end */
static int stop_in_finetune(const mlcl_progress *p, void *ctx)
{
    (void)ctx;
    return p->phase == 2 && p->epoch == stop_ft_epoch && p->end_of_epoch == stop_ft_at_end;
}

START_TEST(resume_with_selection_is_bit_identical)
{
    char path[] = "/tmp/mlcl_test_valsel_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    mlcl_train_options o;
    small_opts(&o);
    o.finetune_epochs = 8;
    mlcl_trainer *a = make(&o, VA, MLCL_METRIC_MAP, 3);
    ck_assert_ok(mlcl_trainer_run(a));
    int ab, arun;
    double av;
    float at[C], ag;
    ck_assert_ok(mlcl_trainer_selection(a, &ab, &av, NULL, &arun));
    ck_assert_ok(mlcl_trainer_thresholds(a, C, at, &ag));
    /* stopped mid-epoch (after the first step of fine-tuning epoch 5) and at the end of epoch 4,
     * both after the best epoch (3 on this fixture): the kept copy must come from the checkpoint */
    int where[2][2] = { { 5, 0 }, { 4, 1 } };
    for (int k = 0; k < 2; k++) {
        mlcl_trainer *b = make(&o, VA, MLCL_METRIC_MAP, 3);
        stop_ft_epoch = where[k][0];
        stop_ft_at_end = where[k][1];
        ck_assert_ok(mlcl_trainer_set_callback(b, stop_in_finetune, NULL));
        ck_assert_status_msg(mlcl_trainer_run(b), MLCL_EINTERRUPTED, "callback");
        int bb;
        ck_assert_ok(mlcl_trainer_selection(b, &bb, NULL, NULL, NULL));
        ck_assert_int_ge(bb, 0);
        ck_assert_int_eq(bb, ab); /* the best epoch is behind the interruption */
        ck_assert_ok(mlcl_trainer_save(b, path));
        mlcl_trainer *c = make(&o, VA, MLCL_METRIC_MAP, 3);
        ck_assert_ok(mlcl_trainer_load(c, path));
        ck_assert_ok(mlcl_trainer_run(c));
        int cb, crun;
        double cv;
        float ct[C], cg;
        ck_assert_ok(mlcl_trainer_selection(c, &cb, &cv, NULL, &crun));
        ck_assert_ok(mlcl_trainer_thresholds(c, C, ct, &cg));
        ck_assert_int_eq(cb, ab);
        ck_assert_int_eq(crun, arun);
        ck_assert(cv == av);
        ck_assert(memcmp(ct, at, sizeof at) == 0 && cg == ag);
        ck_assert(same_predictions(a, c, TE));
        ck_assert(same_finetuned_state(a, c));
        mlcl_trainer_free(b); mlcl_trainer_free(c);
    }
    /* the checkpoint names its validation settings: other settings are refused */
    mlcl_trainer *n = make(&o, NULL, 0, 0);
    ck_assert_status_msg(mlcl_trainer_load(n, path), MLCL_EINVAL, "validation.rows");
    mlcl_trainer *m = make(&o, VA, MLCL_METRIC_MIF1, 3);
    ck_assert_status_msg(mlcl_trainer_load(m, path), MLCL_EINVAL, "validation.select_metric");
    mlcl_trainer *q = make(&o, VA, MLCL_METRIC_MAP, 2);
    ck_assert_status_msg(mlcl_trainer_load(q, path), MLCL_EINVAL, "validation.patience");
    mlcl_trainer *w = make(&o, TE, MLCL_METRIC_MAP, 3);
    ck_assert_status_msg(mlcl_trainer_load(w, path), MLCL_EINVAL, "validation.");
    /* a checkpoint without validation does not load into a trainer with one */
    mlcl_trainer *plain = make(&o, NULL, 0, 0);
    ck_assert_ok(mlcl_trainer_run_epochs(plain, 2, NULL));
    ck_assert_ok(mlcl_trainer_save(plain, path));
    mlcl_trainer *v = make(&o, VA, MLCL_METRIC_MAP, 3);
    ck_assert_status_msg(mlcl_trainer_load(v, path), MLCL_EINVAL, "validation.rows");
    /* a finished run with a selected epoch cannot grow its fine-tuning */
    ck_assert_ok(mlcl_trainer_save(a, path));
    mlcl_train_options o2 = o;
    o2.finetune_epochs = 10;
    mlcl_trainer *g = make(&o2, VA, MLCL_METRIC_MAP, 3);
    ck_assert_status_msg(mlcl_trainer_load(g, path), MLCL_EINVAL, "selected");
    unlink(path);
    mlcl_trainer_free(a); mlcl_trainer_free(n); mlcl_trainer_free(m); mlcl_trainer_free(q); mlcl_trainer_free(w);
    mlcl_trainer_free(plain); mlcl_trainer_free(v); mlcl_trainer_free(g);
}
END_TEST

START_TEST(thresholds_from_validation_reach_the_model)
{
    char path[] = "/tmp/mlcl_test_valsel_model_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    mlcl_train_options o;
    small_opts(&o);
    o.finetune_epochs = 4;
    mlcl_trainer *a = make(&o, VA, MLCL_METRIC_MAP, 0);
    float t[C], g;
    ck_assert_status_msg(mlcl_trainer_thresholds(a, C, t, &g), MLCL_EINVAL, "fine-tuning has not finished");
    ck_assert_ok(mlcl_trainer_run(a));
    ck_assert_ok(mlcl_trainer_thresholds(a, C, t, &g));
    /* they are mlcl_metrics_choose_thresholds() on the validation scores of the final network */
    int nv, nt;
    ck_assert_ok(mlcl_dataset_dims(VA, &nv, NULL, NULL));
    ck_assert_ok(mlcl_dataset_dims(TE, &nt, NULL, NULL));
    float *sv = predict(a, VA), want[C], wg;
    ck_assert_ok(mlcl_metrics_choose_thresholds(want, &wg, NULL, nv, C, sv, mlcl_dataset_labels(VA)));
    ck_assert(memcmp(want, t, sizeof t) == 0 && wg == g);
    int not_half = 0;
    for (int j = 0; j < C; j++) not_half |= t[j] != 0.5f;
    ck_assert(not_half);
    /* the honest evaluation uses them on the test set */
    float *st = predict(a, TE);
    mlcl_metrics h = MLCL_METRICS_INIT, ref = MLCL_METRICS_INIT, hg = MLCL_METRICS_INIT, refg = MLCL_METRICS_INIT;
    ck_assert_ok(mlcl_trainer_evaluate_thresholds(a, TE, &h, &hg));
    ck_assert_ok(mlcl_metrics_compute_thresholds(&ref, nt, C, st, mlcl_dataset_labels(TE), t));
    ck_assert_ok(mlcl_metrics_compute(&refg, nt, C, st, mlcl_dataset_labels(TE), g));
    ck_assert(memcmp(&h, &ref, sizeof h) == 0);
    ck_assert(memcmp(&hg, &refg, sizeof hg) == 0);
    ck_assert(hg.miF1 != h.miF1 || hg.maF1 != h.maF1);
    /* the exported model carries them, also through a file */
    mlcl_model *m, *m2;
    ck_assert_ok(mlcl_trainer_export_model(a, &m));
    float mt[C];
    ck_assert_ok(mlcl_model_thresholds(m, C, mt));
    ck_assert(memcmp(mt, t, sizeof t) == 0);
    ck_assert_ok(mlcl_model_save(m, path));
    ck_assert_ok(mlcl_model_load(&m2, path));
    ck_assert_ok(mlcl_model_thresholds(m2, C, mt));
    ck_assert(memcmp(mt, t, sizeof t) == 0);
    uint8_t *lab = malloc((size_t)nt * C);
    ck_assert_ok(mlcl_model_predict_labels(m2, nt, mlcl_dataset_features(TE), lab));
    for (int k = 0; k < nt * C; k++) ck_assert_int_eq(lab[k], st[k] >= t[k % C]);
    /* explicit export thresholds still win */
    mlcl_model_export_options eo = MLCL_MODEL_EXPORT_OPTIONS_INIT;
    float mine[C] = { 0.1f, 0.2f, 0.3f, 0.4f, 0.5f };
    eo.thresholds = mine;
    mlcl_model *m3;
    ck_assert_ok(mlcl_trainer_export_model_ex(a, &m3, &eo));
    ck_assert_ok(mlcl_model_thresholds(m3, C, mt));
    ck_assert(memcmp(mt, mine, sizeof mine) == 0);
    /* MLCL_THRESHOLDS_GLOBAL: the same training, the global threshold for every label */
    mlcl_trainer *gt;
    ck_assert_ok(mlcl_trainer_create(&gt, &o, TR));
    mlcl_validation_options vg = MLCL_VALIDATION_OPTIONS_INIT;
    vg.select_metric = MLCL_METRIC_MAP;
    vg.thresholds = MLCL_THRESHOLDS_GLOBAL;
    ck_assert_ok(mlcl_trainer_set_validation(gt, VA, &vg));
    ck_assert_ok(mlcl_trainer_run(gt));
    float gtt[C], gg;
    ck_assert_ok(mlcl_trainer_thresholds(gt, C, gtt, &gg));
    ck_assert(gg == g);
    for (int j = 0; j < C; j++) ck_assert(gtt[j] == g);
    mlcl_metrics hg2 = MLCL_METRICS_INIT;
    ck_assert_ok(mlcl_trainer_evaluate_thresholds(gt, TE, &hg2, NULL));
    ck_assert(hg2.miF1 == refg.miF1 && hg2.maF1 == refg.maF1 && hg2.HA == refg.HA && hg2.ebF1 == refg.ebF1);
    mlcl_model *m5;
    ck_assert_ok(mlcl_trainer_export_model(gt, &m5));
    ck_assert_ok(mlcl_model_thresholds(m5, C, mt));
    for (int j = 0; j < C; j++) ck_assert(mt[j] == g);
    mlcl_model_free(m5);
    mlcl_trainer_free(gt);
    /* without validation: 0.5 */
    mlcl_trainer *b = make(&o, NULL, 0, 0);
    ck_assert_ok(mlcl_trainer_run(b));
    mlcl_model *m4;
    ck_assert_ok(mlcl_trainer_export_model(b, &m4));
    ck_assert_ok(mlcl_model_thresholds(m4, C, mt));
    for (int j = 0; j < C; j++) ck_assert_float_eq(mt[j], 0.5f);
    ck_assert_status_msg(mlcl_trainer_evaluate_thresholds(b, TE, &h, NULL), MLCL_EINVAL, "no validation set");
    free(sv); free(st); free(lab);
    mlcl_model_free(m); mlcl_model_free(m2); mlcl_model_free(m3); mlcl_model_free(m4);
    mlcl_trainer_free(a); mlcl_trainer_free(b);
    unlink(path);
}
END_TEST

START_TEST(validation_bad_arguments)
{
    mlcl_validation_options a = MLCL_VALIDATION_OPTIONS_INIT, b;
    memset(&b, 0xab, sizeof b);
    ck_assert_ok(mlcl_validation_options_init(&b, MLCL_VALIDATION_OPTIONS_VERSION));
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
    ck_assert_status_msg(mlcl_validation_options_init(&b, 99), MLCL_EVERSION, "99");
    mlcl_train_options o;
    small_opts(&o);
    o.finetune_epochs = 2;
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, TR));
    ck_assert_status_msg(mlcl_trainer_set_validation(NULL, VA, NULL), MLCL_EINVAL, "trainer");
    mlcl_validation_options vo = MLCL_VALIDATION_OPTIONS_INIT;
    vo.select_metric = 6;
    ck_assert_status_msg(mlcl_trainer_set_validation(t, VA, &vo), MLCL_EINVAL, "select_metric");
    vo.select_metric = MLCL_SELECT_NONE;
    vo.patience = 2;
    ck_assert_status_msg(mlcl_trainer_set_validation(t, VA, &vo), MLCL_EINVAL, "patience");
    vo.patience = -1;
    vo.select_metric = MLCL_METRIC_MAP;
    ck_assert_status_msg(mlcl_trainer_set_validation(t, VA, &vo), MLCL_EINVAL, "patience");
    vo.patience = 0;
    vo.thresholds = 3;
    ck_assert_status_msg(mlcl_trainer_set_validation(t, VA, &vo), MLCL_EINVAL, "thresholds");
    vo.thresholds = 1;
    vo.version = 77;
    ck_assert_status_msg(mlcl_trainer_set_validation(t, VA, &vo), MLCL_EVERSION, "version");
    mlcl_dataset *other = synthetic(20, D + 1, C, 9, 0.5f);
    ck_assert_status_msg(mlcl_trainer_set_validation(t, other, NULL), MLCL_EINVAL, "features");
    ck_assert_status_msg(mlcl_trainer_selection(t, NULL, NULL, NULL, NULL), MLCL_EINVAL, "validation");
    /* after fine-tuning has started: refused; NULL removes before */
    ck_assert_ok(mlcl_trainer_set_validation(t, VA, NULL));
    ck_assert_ok(mlcl_trainer_set_validation(t, NULL, NULL));
    ck_assert_status_msg(mlcl_trainer_selection(t, NULL, NULL, NULL, NULL), MLCL_EINVAL, "validation");
    ck_assert_ok(mlcl_trainer_run_epochs(t, o.pretrain_epochs + 1, NULL));
    ck_assert_status_msg(mlcl_trainer_set_validation(t, VA, NULL), MLCL_EINVAL, "fine-tuning has started");
    float th[C];
    ck_assert_status_msg(mlcl_trainer_thresholds(t, C + 1, th, NULL), MLCL_EINVAL, "labels");
    mlcl_dataset_free(other);
    mlcl_trainer_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("valsel");
    TCase *tc = tcase_create("valsel");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, thresholds_worked_example);
    tcase_add_test(tc, thresholds_match_brute_force);
    tcase_add_test(tc, per_label_thresholds_in_metrics);
    tcase_add_test(tc, selection_restores_the_best_epoch);
    tcase_add_test(tc, selection_by_each_metric);
    tcase_add_test(tc, patience_stops_early);
    tcase_add_test(tc, resume_with_selection_is_bit_identical);
    tcase_add_test(tc, thresholds_from_validation_reach_the_model);
    tcase_add_test(tc, validation_bad_arguments);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
