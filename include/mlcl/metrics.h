/**
 * @file
 * libmlcl — metrics.h: the six multi-label metrics of the MulSupCon / C-GMVAE
 * evaluation (Hamming accuracy, example-based F1, micro F1, macro F1,
 * precision@1, mean average precision) and the paper's threshold sweep.
 *
 * Inputs everywhere: an n x c row-major matrix of scores (probabilities,
 * i.e. sigmoid(logits); any finite values are accepted) and an n x c
 * row-major matrix of 0/1 labels. A label is predicted when
 * `score >= threshold` (comparison in float).
 *
 * Definitions (docs: MATH.md "Metrics"):
 *  - HA   = 1 - mean over all n*c entries of xor(y, yhat).
 *  - ebF1 = mean over samples of 2|y & yhat| / (|y| + |yhat|); samples with
 *           |y| + |yhat| = 0 are left out (0 when every sample is left out).
 *  - miF1 = 2 sum tp / (2 sum tp + sum fp + sum fn) (0 when the denominator is 0).
 *  - maF1 = mean over all c labels of 2tp / (2tp + fp + fn); a label with a
 *           zero denominator scores 0 (the reference code's `+1e-6`).
 *  - p@1  = fraction of samples whose top-scored label is positive; on tied
 *           top scores the FIRST (lowest) label index wins. Every sample counts.
 *  - mAP  = mean over labels of scikit-learn's average_precision_score:
 *           sort scores descending, group equal scores into one threshold,
 *           AP = sum_k (R_k - R_{k-1}) P_k. Labels with no positive sample are
 *           left out and counted in map_labels_skipped (mAP is NaN when every
 *           label is skipped).
 *
 * These functions allocate a sort buffer per call (they are not meant for a
 * training hot loop).
 *
 * Thread-safety: every function is thread-safe; calls on distinct outputs
 * may run at once (the inputs may be shared).
 */
#ifndef MLCL_METRICS_H
#define MLCL_METRICS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the mlcl_metrics layout. */
#define MLCL_METRICS_VERSION 1u

/**
 * The six metrics (an output struct). The caller sets `version` (with
 * MLCL_METRICS_INIT or mlcl_metrics_init()) so that a newer library never
 * writes past an older caller's struct.
 */
typedef struct mlcl_metrics {
    unsigned int version;   /**< MLCL_METRICS_VERSION, set by the caller */
    double HA;              /**< Hamming accuracy, in [0, 1] */
    double ebF1;            /**< example-based F1 */
    double miF1;            /**< micro-averaged F1 */
    double maF1;            /**< macro-averaged F1 */
    double p_at_1;          /**< precision at 1 (threshold-free) */
    double mAP;             /**< mean average precision (threshold-free) */
    int map_labels_used;    /**< labels that entered mAP (had a positive) */
    int map_labels_skipped; /**< labels left out of mAP (no positive) */
    int ebf1_samples_skipped; /**< samples left out of ebF1 (|y|+|yhat| = 0) */
    float threshold;        /**< the threshold used (sweep: NaN, see best_t) */
} mlcl_metrics;

/** Static initialiser: `mlcl_metrics m = MLCL_METRICS_INIT;` */
#define MLCL_METRICS_INIT { MLCL_METRICS_VERSION, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0.0f }

/** Index of each thresholded metric in the `best_t` array of mlcl_metrics_sweep(). */
enum {
    MLCL_METRIC_HA = 0,   /**< best_t[0]: Hamming accuracy */
    MLCL_METRIC_EBF1 = 1, /**< best_t[1]: example-based F1 */
    MLCL_METRIC_MIF1 = 2, /**< best_t[2]: micro F1 */
    MLCL_METRIC_MAF1 = 3, /**< best_t[3]: macro F1 */
    MLCL_METRIC_P_AT_1 = 4, /**< precision@1 (threshold-free; model selection only) */
    MLCL_METRIC_MAP = 5   /**< mean average precision (threshold-free; model selection only) */
};

/**
 * Initialises @p m to zeros with the given layout version.
 * @param[out] m       the struct to initialise.
 * @param      version MLCL_METRICS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (m NULL) or MLCL_EVERSION (unknown version).
 */
MLCL_API int mlcl_metrics_init(mlcl_metrics *m, unsigned int version);

/**
 * Computes all six metrics at one fixed threshold (the honest protocol uses
 * 0.5).
 * @param[out] out       results; out->version must be MLCL_METRICS_VERSION.
 * @param      n         samples, > 0.
 * @param      c         labels, > 0.
 * @param[in]  scores    n x c row-major scores; must be finite.
 * @param[in]  labels    n x c row-major 0/1 labels.
 * @param      threshold predict label j of sample i when scores[i*c+j] >= threshold; finite.
 * @return MLCL_OK; MLCL_EINVAL (bad argument, a label not 0/1 — row and
 *         column named); MLCL_ENUMERIC (a non-finite score, row and column
 *         named); MLCL_EVERSION; MLCL_ENOMEM.
 */
MLCL_API int mlcl_metrics_compute(mlcl_metrics *out, int n, int c, const float *scores,
                                  const uint8_t *labels, float threshold);

/**
 * The paper protocol: each of HA, ebF1, miF1 and maF1 is the best value over
 * the thresholds t = 0.1, 0.2, ..., 0.9 (each t is the float nearest k/10),
 * chosen separately per metric; on equal values the smallest t wins. p@1 and
 * mAP are threshold-free. out->threshold is set to NaN and
 * out->ebf1_samples_skipped refers to the threshold that gave the best ebF1.
 * @param[out] best   results; best->version must be MLCL_METRICS_VERSION.
 * @param[out] best_t nullable; 4 floats receiving the threshold that gave
 *                    HA, ebF1, miF1, maF1 (indices MLCL_METRIC_*).
 * @param      n, c, scores, labels as in mlcl_metrics_compute().
 * @return as mlcl_metrics_compute().
 */
MLCL_API int mlcl_metrics_sweep(mlcl_metrics *best, float best_t[4], int n, int c,
                                const float *scores, const uint8_t *labels);

/**
 * Average precision of every label (scikit-learn's average_precision_score
 * per column, ties grouped).
 * @param[out] ap     c doubles; NaN for a label with no positive sample.
 * @param      n, c, scores, labels as in mlcl_metrics_compute().
 * @return as mlcl_metrics_compute().
 */
MLCL_API int mlcl_metrics_average_precision(double *ap, int n, int c, const float *scores,
                                            const uint8_t *labels);

/**
 * The six metrics with one threshold per label: label j of sample i is
 * predicted when scores[i*c+j] >= thresholds[j] (the "honest" protocol with
 * thresholds chosen on validation rows, mlcl_metrics_choose_thresholds()).
 * out->threshold is set to NaN.
 * @param[out] out        results; out->version must be MLCL_METRICS_VERSION.
 * @param      n, c, scores, labels as in mlcl_metrics_compute().
 * @param[in]  thresholds c finite thresholds.
 * @return as mlcl_metrics_compute(); MLCL_EINVAL for a non-finite threshold (index named).
 */
MLCL_API int mlcl_metrics_compute_thresholds(mlcl_metrics *out, int n, int c, const float *scores,
                                             const uint8_t *labels, const float *thresholds);

/**
 * Chooses decision thresholds on validation rows (never on the test set).
 *
 * Global threshold: the one maximising micro-F1 over all n x c entries.
 * Per-label threshold j: the one maximising label j's F1 over its n rows; a
 * label with no positive row gets the global threshold.
 *
 * Only thresholds that change a decision are candidates: predicting with
 * `score >= t`, every distinct score s of the column (or of the whole matrix)
 * gives one candidate set of decisions. F1 = 2tp / (2tp + fp + fn) is compared
 * exactly (integer cross-multiplication); on ties the HIGHEST score wins (the
 * fewest positive predictions). The returned threshold lies between the
 * chosen score s and the next lower distinct score s' (their midpoint,
 * computed in float; s itself when the midpoint rounds onto s', or when s is
 * the lowest score), so the decisions on these rows are exactly the chosen
 * ones. With sigmoid scores in [0, 1] the thresholds are in [0, 1].
 *
 * @param[out] per_label c floats (nullable).
 * @param[out] global    the global threshold (nullable).
 * @param[out] f1        nullable; c doubles: each label's F1 on these rows at
 *                       its threshold (labels without positives: NaN).
 * @param      n, c, scores, labels as in mlcl_metrics_compute().
 * @return as mlcl_metrics_compute(); MLCL_EINVAL when every output is NULL.
 *         When no entry at all is positive, the global threshold is 0.5 (F1 is
 *         0 whatever the threshold), and so is every label's.
 */
MLCL_API int mlcl_metrics_choose_thresholds(float *per_label, float *global, double *f1, int n, int c,
                                            const float *scores, const uint8_t *labels);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_METRICS_H */
