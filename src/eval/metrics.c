/* The six multi-label metrics and the paper's threshold sweep (MATH.md "Metrics"). */
#include <stdlib.h>
#include <string.h>
#include "core/internal.h"
#include "mlcl/metrics.h"

int mlcl_metrics_init(mlcl_metrics *m, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_metrics_init", m, version, MLCL_METRICS_VERSION, mlcl_metrics, MLCL_METRICS_INIT);
}

/* Common validation of (n, c, scores, labels). */
static int check_inputs(const char *fn, int n, int c, const float *scores, const uint8_t *labels)
{
    if (n <= 0) return mlcl__err(MLCL_EINVAL, "%s: n must be > 0 (got %d)", fn, n);
    if (c <= 0) return mlcl__err(MLCL_EINVAL, "%s: c must be > 0 (got %d)", fn, c);
    if (!scores) return mlcl__err(MLCL_EINVAL, "%s: scores is NULL", fn);
    if (!labels) return mlcl__err(MLCL_EINVAL, "%s: labels is NULL", fn);
    size_t total;
    if (mlcl__mul_size((size_t)n, (size_t)c, &total) != 0)
        return mlcl__err(MLCL_EOVERFLOW, "%s: n x c overflows", fn);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < c; j++) {
            size_t k = (size_t)i * (size_t)c + (size_t)j;
            if (!isfinite(scores[k]))
                return mlcl__err(MLCL_ENUMERIC, "%s: scores[%d][%d] is not finite", fn, i, j);
            if (labels[k] > 1)
                return mlcl__err(MLCL_EINVAL, "%s: labels[%d][%d] = %u is not 0 or 1", fn, i, j,
                                 (unsigned)labels[k]);
        }
    return MLCL_OK;
}

typedef struct { float s; uint8_t y; } score_label;

/* Descending by score; ties are grouped afterwards, so order among them is irrelevant. */
static int cmp_desc(const void *a, const void *b)
{
    float x = ((const score_label *)a)->s, y = ((const score_label *)b)->s;
    return (x < y) - (x > y);
}

/* Per-label AP with scikit-learn's tie handling; NaN for a label without positives. */
static int average_precision(const char *fn, double *ap, int n, int c, const float *scores,
                             const uint8_t *labels)
{
    score_label *buf = NULL;
    MLCL_TRY(mlcl__alloc_array((void **)&buf, (size_t)n, sizeof *buf, fn));
    for (int j = 0; j < c; j++) {
        long npos = 0;
        for (int i = 0; i < n; i++) {
            size_t k = (size_t)i * (size_t)c + (size_t)j;
            buf[i].s = scores[k];
            buf[i].y = labels[k];
            npos += labels[k];
        }
        if (npos == 0) { ap[j] = NAN; continue; }
        qsort(buf, (size_t)n, sizeof *buf, cmp_desc);
        long tp = 0, fp = 0;
        double sum = 0.0, r_prev = 0.0;
        for (int i = 0; i < n;) {
            int g = i;
            /* one threshold per distinct score: the whole group enters at once */
            while (g < n && buf[g].s == buf[i].s) { tp += buf[g].y; fp += !buf[g].y; g++; }
            double r = (double)tp / (double)npos;
            double p = (double)tp / (double)(tp + fp);
            sum += (r - r_prev) * p;
            r_prev = r;
            i = g;
        }
        ap[j] = sum;
    }
    mlcl__free(buf);
    return MLCL_OK;
}

/* HA, ebF1, miF1, maF1 at one threshold t, or at thresholds tv[j] when tv is not NULL. */
static void threshold_metrics(mlcl_metrics *m, int n, int c, const float *scores,
                              const uint8_t *labels, float t, const float *tv, long *tp, long *fp, long *fn_)
{
    long wrong = 0, stp = 0, sfp = 0, sfn = 0, eb_used = 0;
    double eb_sum = 0.0;
    memset(tp, 0, (size_t)c * sizeof *tp);
    memset(fp, 0, (size_t)c * sizeof *fp);
    memset(fn_, 0, (size_t)c * sizeof *fn_);
    for (int i = 0; i < n; i++) {
        const float *s = scores + (size_t)i * (size_t)c;
        const uint8_t *y = labels + (size_t)i * (size_t)c;
        long inter = 0, ny = 0, nh = 0;
        for (int j = 0; j < c; j++) {
            int yh = s[j] >= (tv ? tv[j] : t);
            int yy = y[j];
            inter += yh && yy;
            ny += yy;
            nh += yh;
            tp[j] += yh && yy;
            fp[j] += yh && !yy;
            fn_[j] += !yh && yy;
        }
        wrong += ny + nh - 2 * inter; /* |y xor yhat| */
        if (ny + nh > 0) {
            eb_sum += 2.0 * (double)inter / (double)(ny + nh);
            eb_used++;
        }
    }
    double maf1 = 0.0;
    for (int j = 0; j < c; j++) {
        stp += tp[j]; sfp += fp[j]; sfn += fn_[j];
        long den = 2 * tp[j] + fp[j] + fn_[j];
        if (den > 0) maf1 += 2.0 * (double)tp[j] / (double)den;
    }
    long den = 2 * stp + sfp + sfn;
    m->HA = 1.0 - (double)wrong / ((double)n * (double)c);
    m->ebF1 = eb_used > 0 ? eb_sum / (double)eb_used : 0.0;
    m->ebf1_samples_skipped = (int)(n - eb_used);
    m->miF1 = den > 0 ? 2.0 * (double)stp / (double)den : 0.0;
    m->maF1 = maf1 / (double)c;
    m->threshold = t;
}

/* p@1 and mAP. */
static int ranking_metrics(const char *fn, mlcl_metrics *m, int n, int c, const float *scores,
                           const uint8_t *labels)
{
    long hits = 0;
    for (int i = 0; i < n; i++) {
        const float *s = scores + (size_t)i * (size_t)c;
        int best = 0;
        for (int j = 1; j < c; j++)
            if (s[j] > s[best]) best = j; /* strict: the first maximum wins */
        hits += labels[(size_t)i * (size_t)c + (size_t)best];
    }
    m->p_at_1 = (double)hits / (double)n;

    double *ap = NULL;
    MLCL_TRY(mlcl__alloc_array((void **)&ap, (size_t)c, sizeof *ap, fn));
    int rc = average_precision(fn, ap, n, c, scores, labels);
    if (rc < 0) { mlcl__free(ap); return rc; }
    double sum = 0.0;
    int used = 0;
    for (int j = 0; j < c; j++)
        if (!isnan(ap[j])) { sum += ap[j]; used++; }
    m->mAP = used > 0 ? sum / used : NAN;
    m->map_labels_used = used;
    m->map_labels_skipped = c - used;
    mlcl__free(ap);
    return MLCL_OK;
}

static int alloc_counts(const char *fn, long **buf, int c)
{
    return mlcl__alloc_array((void **)buf, (size_t)c * 3u, sizeof **buf, fn);
}

int mlcl_metrics_compute(mlcl_metrics *out, int n, int c, const float *scores,
                         const uint8_t *labels, float threshold)
{
    static const char fn[] = "mlcl_metrics_compute";
    MLCL_CHECK_NULL(fn, out);
    MLCL_CHECK_VERSION(fn, out, MLCL_METRICS_VERSION);
    if (!isfinite(threshold))
        return mlcl__err(MLCL_EINVAL, "%s: threshold is not finite", fn);
    MLCL_TRY(check_inputs(fn, n, c, scores, labels));
    mlcl_metrics m = MLCL_METRICS_INIT;
    long *cnt = NULL;
    MLCL_TRY(alloc_counts(fn, &cnt, c));
    threshold_metrics(&m, n, c, scores, labels, threshold, NULL, cnt, cnt + c, cnt + 2 * (size_t)c);
    mlcl__free(cnt);
    MLCL_TRY(ranking_metrics(fn, &m, n, c, scores, labels));
    *out = m;
    return MLCL_OK;
}

int mlcl_metrics_sweep(mlcl_metrics *best, float best_t[4], int n, int c, const float *scores,
                       const uint8_t *labels)
{
    static const char fn[] = "mlcl_metrics_sweep";
    MLCL_CHECK_NULL(fn, best);
    MLCL_CHECK_VERSION(fn, best, MLCL_METRICS_VERSION);
    MLCL_TRY(check_inputs(fn, n, c, scores, labels));
    mlcl_metrics b = MLCL_METRICS_INIT, m = MLCL_METRICS_INIT;
    float bt[4] = {0};
    long *cnt = NULL;
    MLCL_TRY(alloc_counts(fn, &cnt, c));
    for (int k = 1; k <= 9; k++) {
        /* the float nearest k/10, as torch/numpy compare a float32 tensor with 0.k */
        float t = (float)(k / 10.0);
        threshold_metrics(&m, n, c, scores, labels, t, NULL, cnt, cnt + c, cnt + 2 * (size_t)c);
        if (k == 1 || m.HA > b.HA) { b.HA = m.HA; bt[MLCL_METRIC_HA] = t; }
        if (k == 1 || m.ebF1 > b.ebF1) {
            b.ebF1 = m.ebF1; bt[MLCL_METRIC_EBF1] = t;
            b.ebf1_samples_skipped = m.ebf1_samples_skipped;
        }
        if (k == 1 || m.miF1 > b.miF1) { b.miF1 = m.miF1; bt[MLCL_METRIC_MIF1] = t; }
        if (k == 1 || m.maF1 > b.maF1) { b.maF1 = m.maF1; bt[MLCL_METRIC_MAF1] = t; }
    }
    mlcl__free(cnt);
    MLCL_TRY(ranking_metrics(fn, &b, n, c, scores, labels));
    b.threshold = NAN;
    *best = b;
    if (best_t) memcpy(best_t, bt, sizeof bt);
    return MLCL_OK;
}

int mlcl_metrics_average_precision(double *ap, int n, int c, const float *scores,
                                   const uint8_t *labels)
{
    static const char fn[] = "mlcl_metrics_average_precision";
    MLCL_CHECK_NULL(fn, ap);
    MLCL_TRY(check_inputs(fn, n, c, scores, labels));
    return average_precision(fn, ap, n, c, scores, labels);
}

int mlcl_metrics_compute_thresholds(mlcl_metrics *out, int n, int c, const float *scores,
                                    const uint8_t *labels, const float *thresholds)
{
    static const char fn[] = "mlcl_metrics_compute_thresholds";
    MLCL_CHECK_NULL(fn, out);
    MLCL_CHECK_VERSION(fn, out, MLCL_METRICS_VERSION);
    MLCL_TRY(check_inputs(fn, n, c, scores, labels));
    MLCL_CHECK_NULL(fn, thresholds);
    for (int j = 0; j < c; j++)
        if (!isfinite(thresholds[j])) return mlcl__err(MLCL_EINVAL, "%s: thresholds[%d] is not finite", fn, j);
    mlcl_metrics m = MLCL_METRICS_INIT;
    long *cnt = NULL;
    MLCL_TRY(alloc_counts(fn, &cnt, c));
    threshold_metrics(&m, n, c, scores, labels, 0.0f, thresholds, cnt, cnt + c, cnt + 2 * (size_t)c);
    mlcl__free(cnt);
    MLCL_TRY(ranking_metrics(fn, &m, n, c, scores, labels));
    m.threshold = NAN;
    *out = m;
    return MLCL_OK;
}

/* a/b > c/d for non-negative integers with b, d > 0, exactly */
static int frac_gt(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
#ifdef __SIZEOF_INT128__
    return (unsigned __int128)a * d > (unsigned __int128)c * b;
#else
    return (long double)a * (long double)d > (long double)c * (long double)b;
#endif
}

/* The F1-maximising threshold of the m pairs in buf (sorted descending), with
 * npos > 0 positives: see mlcl_metrics_choose_thresholds(). *f1 its F1. */
static float best_f1_threshold(const score_label *buf, size_t m, uint64_t npos, double *f1)
{
    uint64_t tp = 0, fp = 0, bnum = 0, bden = 1;
    size_t best_end = 0; /* index after the chosen group; 0: none yet */
    for (size_t i = 0; i < m;) {
        size_t g = i;
        while (g < m && buf[g].s == buf[i].s) { tp += buf[g].y; fp += !buf[g].y; g++; }
        /* predict the rows 0 .. g-1: F1 = 2tp / (tp + fp + npos) */
        uint64_t num = 2 * tp, den = tp + fp + npos;
        if (best_end == 0 || frac_gt(num, den, bnum, bden)) { bnum = num; bden = den; best_end = g; }
        i = g;
    }
    *f1 = (double)bnum / (double)bden;
    float s = buf[best_end - 1].s;
    if (best_end >= m) return s;
    float lo = buf[best_end].s;
    float mid = 0.5f * s + 0.5f * lo;
    return (mid > lo && mid <= s) ? mid : s;
}

int mlcl_metrics_choose_thresholds(float *per_label, float *global, double *f1, int n, int c,
                                   const float *scores, const uint8_t *labels)
{
    static const char fn[] = "mlcl_metrics_choose_thresholds";
    if (!per_label && !global && !f1)
        return mlcl__err(MLCL_EINVAL, "%s: per_label, global and f1 are all NULL (nothing to compute)", fn);
    MLCL_TRY(check_inputs(fn, n, c, scores, labels));
    size_t total = (size_t)n * (size_t)c;
    score_label *buf = NULL;
    MLCL_TRY(mlcl__alloc_array((void **)&buf, total, sizeof *buf, fn));
    /* global: micro-F1 over every entry */
    uint64_t npos = 0;
    for (size_t k = 0; k < total; k++) { buf[k].s = scores[k]; buf[k].y = labels[k]; npos += labels[k]; }
    float g = 0.5f;
    double f1v;
    if (npos > 0) {
        qsort(buf, total, sizeof *buf, cmp_desc);
        g = best_f1_threshold(buf, total, npos, &f1v);
    }
    if (global) *global = g;
    for (int j = 0; j < c; j++) {
        uint64_t p = 0;
        for (int i = 0; i < n; i++) {
            size_t k = (size_t)i * (size_t)c + (size_t)j;
            buf[i].s = scores[k];
            buf[i].y = labels[k];
            p += labels[k];
        }
        float t = g;
        f1v = NAN;
        if (p > 0) {
            qsort(buf, (size_t)n, sizeof *buf, cmp_desc);
            t = best_f1_threshold(buf, (size_t)n, p, &f1v);
        }
        if (per_label) per_label[j] = t;
        if (f1) f1[j] = f1v;
    }
    mlcl__free(buf);
    return MLCL_OK;
}
