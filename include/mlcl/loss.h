/**
 * @file
 * libmlcl: the contrastive and label-distribution losses with their exact
 * gradients (MATH.md, "Losses", items 1-8, and the options table).
 *
 * Candidates A(i) for anchor i are the n current keys followed by the F filled
 * queue entries (N = n + F; the anchor's own key is a candidate and, having
 * the same labels, a positive):
 *   s_{i,a} = q_i . k_a / tau,   l_{i,a} = s_{i,a} - log sum_{a'} exp(s_{i,a'})   (Eq. 10)
 *
 * Methods:
 *  - MLCL_LOSS_SUPCON (item 1, Eq. 5): L_i = -(1/|P(i)|) sum_{p in P(i)} l_{i,p},
 *    P(i) by the `mask` option; anchors with empty P(i) are skipped.
 *  - MLCL_LOSS_MULSUPCON (item 2, Eqs. 3-4):
 *    L_i = sum_{j: y_i^j=1} -(1/|P^j(i)|) sum_{p in P^j(i)} l_{i,p}.
 *  - MLCL_LOSS_LD (items 3-8, Eqs. 6-15), the default:
 *    L_i = -sum_{j: y_i^j=1} sum_{p in P^j(i)} d_p^j l_{i,p} [/|P^j(i)| with con_norm per_label]
 *          + G_i + alpha H_i + beta ||W||_F^2,
 *    G_i = sum_{p in P(i)} w_{i,p} ||d_i - d_p||^2 with w = exp(l) (CLD, default),
 *          l (CLD, cld_weight logprob) or exp(-||q_i - k_p||^2 / (2 sigma^2)) (RLD);
 *    H_i = sum_{p in P(i)} ||yhat_p - d_p||^2, yhat_p = y_p/|y_p| (or raw y_p; a candidate
 *          without labels has yhat_p = 0).
 *    Anchors with empty P(i) contribute nothing (their contrastive sum is empty too).
 *
 * Reduction (item 8):
 *  - SupCon and LD: MLCL_REDUCE_MEAN divides every per-anchor term by n (all n
 *    anchors, skipped ones included), so beta ||W||^2 appears once;
 *    MLCL_REDUCE_SUM is the plain sum over anchors, so beta ||W||^2 appears n times.
 *  - MulSupCon: MEAN gives sum_i L_i / sum_i |y_i| (Eq. 4; 0 when no anchor has a
 *    label), SUM gives sum_i L_i.
 *
 * Gradients (all ACCUMULATED, cblas beta = 1: the caller zeroes the buffers):
 *  into q through l (and through w when weight_grad is on); into the batch
 *  distributions d, both as the anchor's d_i and as a current-batch candidate's
 *  d_p, through G, H and (dweight_grad on) the weights d_p^j of the contrastive
 *  term; into W as 2 beta W times the reduction's factor. Keys and queue
 *  entries get no gradient. q need not be exactly normalised: the RBF distance
 *  is computed from the actual vectors (|q|^2 + |k|^2 - 2 q.k to find the pairs
 *  whose weight can be non-zero, then sum (q_j - k_j)^2 for those when sigma is
 *  small enough for the difference to matter).
 *
 * Thread-safety: one handle per thread at a time.
 */
#ifndef MLCL_LOSS_H
#define MLCL_LOSS_H

#include "core.h"
#include "mask.h"
#include "queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Which loss. */
typedef enum mlcl_loss_method {
    MLCL_LOSS_LD = 0,        /**< MulSupCon_LD, items 3-8 (default) */
    MLCL_LOSS_MULSUPCON = 1, /**< MulSupCon, item 2 */
    MLCL_LOSS_SUPCON = 2     /**< SupCon over the ANY/ALL mask, item 1 */
} mlcl_loss_method;

/** Which smoothness weight w the LD loss uses (item 4). */
typedef enum mlcl_ld_variant {
    MLCL_LD_CLD = 0, /**< w from the contrastive log-probability (default) */
    MLCL_LD_RLD = 1  /**< w = RBF kernel exp(-||q_i - k_p||^2 / (2 sigma^2)) */
} mlcl_ld_variant;

/** Batch reduction (item 8). */
typedef enum mlcl_loss_reduction {
    MLCL_REDUCE_MEAN = 0, /**< divide by n (MulSupCon: by sum_i |y_i|) (default) */
    MLCL_REDUCE_SUM = 1   /**< sum over anchors (the paper's literal Eqs. 14-15) */
} mlcl_loss_reduction;

/** CLD weight (item 4). */
typedef enum mlcl_cld_weight {
    MLCL_CLD_WEIGHT_PROB = 0,   /**< w = exp(l), in (0, 1) (default) */
    MLCL_CLD_WEIGHT_LOGPROB = 1 /**< w = l <= 0, the literal C^(2) */
} mlcl_cld_weight;

/** Normalisation of the LD contrastive term (item 7). */
typedef enum mlcl_con_norm {
    MLCL_CON_NORM_NONE = 0,     /**< as written in Eq. 12 (default) */
    MLCL_CON_NORM_PER_LABEL = 1 /**< divided by |P^j(i)| as in Eq. 3 */
} mlcl_con_norm;

/** Target of the H term (item 5). */
typedef enum mlcl_h_target {
    MLCL_H_TARGET_NORMALISED = 0, /**< yhat = y / |y| (default) */
    MLCL_H_TARGET_RAW = 1         /**< the raw 0/1 vector y */
} mlcl_h_target;

/** Version of mlcl_loss_options. */
#define MLCL_LOSS_OPTIONS_VERSION 1

/** Loss options (MATH.md's table). Initialise with MLCL_LOSS_OPTIONS_INIT or mlcl_loss_options_init(). */
typedef struct mlcl_loss_options {
    unsigned int version; /**< MLCL_LOSS_OPTIONS_VERSION */
    int method;           /**< mlcl_loss_method (MLCL_LOSS_LD) */
    int variant;          /**< mlcl_ld_variant (MLCL_LD_CLD) */
    int mask;             /**< mlcl_mask_mode: P(i) for G, H and SupCon (MLCL_MASK_ANY) */
    float alpha;          /**< weight of H, >= 0 (0.1) */
    float beta;           /**< weight of ||W||_F^2, >= 0 (1.0) */
    float tau;            /**< temperature, > 0 (0.1) */
    float sigma;          /**< RBF width, > 0 (0.01) */
    int reduction;        /**< mlcl_loss_reduction (MLCL_REDUCE_MEAN) */
    int cld_weight;       /**< mlcl_cld_weight (MLCL_CLD_WEIGHT_PROB) */
    int weight_grad;      /**< 1: gradient through w of G into q (0) */
    int dweight_grad;     /**< 1: gradient through d_p^j of the contrastive term (0) */
    int con_norm;         /**< mlcl_con_norm (MLCL_CON_NORM_NONE) */
    int h_target;         /**< mlcl_h_target (MLCL_H_TARGET_NORMALISED) */
} mlcl_loss_options;

/** Static initialiser with the defaults listed in mlcl_loss_options. */
#define MLCL_LOSS_OPTIONS_INIT                                                        \
    { MLCL_LOSS_OPTIONS_VERSION, MLCL_LOSS_LD, MLCL_LD_CLD, MLCL_MASK_ANY, 0.1f, 1.0f, \
      0.1f, 0.01f, MLCL_REDUCE_MEAN, MLCL_CLD_WEIGHT_PROB, 0, 0, MLCL_CON_NORM_NONE,    \
      MLCL_H_TARGET_NORMALISED }

/**
 * Fills @p opts with the defaults (same bytes as MLCL_LOSS_OPTIONS_INIT).
 * @param[out] opts the options to initialise.
 * @param version MLCL_LOSS_OPTIONS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_loss_options_init(mlcl_loss_options *opts, unsigned int version);

/** Version of mlcl_loss_parts. */
#define MLCL_LOSS_PARTS_VERSION 1

/**
 * The loss and its parts, as returned by mlcl_loss_compute() and
 * mlcl_moco_step(). con, G and H are the reduced sums (each divided like the
 * total), and total = con + G + alpha * H + wreg. An output struct: the caller
 * sets `version` (MLCL_LOSS_PARTS_INIT or mlcl_loss_parts_init()), the library
 * checks it and fills the rest whole.
 */
typedef struct mlcl_loss_parts {
    unsigned int version; /**< MLCL_LOSS_PARTS_VERSION, set by the caller */
    double total;       /**< the minimised loss */
    double con;         /**< the contrastive part (SupCon / MulSupCon: the whole loss) */
    double G;           /**< smoothness, item 4 (0 unless LD) */
    double H;           /**< closeness to the labels, item 5, before alpha (0 unless LD) */
    double wreg;        /**< beta ||W||_F^2 as it enters the total (x n for REDUCE_SUM) */
    int n_anchors_used; /**< anchors with a non-empty positive set (MulSupCon: with a label) */
} mlcl_loss_parts;

/** Static initialiser: the version, zeros. */
#define MLCL_LOSS_PARTS_INIT { MLCL_LOSS_PARTS_VERSION, 0.0, 0.0, 0.0, 0.0, 0.0, 0 }

/**
 * Fills @p parts with MLCL_LOSS_PARTS_INIT (same bytes).
 * @param[out] parts the struct to fill.
 * @param version MLCL_LOSS_PARTS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_loss_parts_init(mlcl_loss_parts *parts, unsigned int version);

/** Version of mlcl_loss_inputs. */
#define MLCL_LOSS_INPUTS_VERSION 1

/**
 * The inputs of one mlcl_loss_compute() call (borrowed for the call only).
 * The queue part of the candidates comes either from a queue handle
 * (@c queue, read in place: its filled rows 0 .. mlcl_queue_size()-1) or,
 * with @c queue NULL, from the arrays @c kq, @c yq, @c dq of @c F rows.
 * Initialise with MLCL_LOSS_INPUTS_INIT or mlcl_loss_inputs_init().
 */
typedef struct mlcl_loss_inputs {
    unsigned int version;    /**< MLCL_LOSS_INPUTS_VERSION */
    int n;                   /**< anchors = current batch, 1 .. max_n */
    const float *q;          /**< n x m queries (normally L2-normalised), finite */
    const float *k;          /**< n x m current keys, finite */
    const uint64_t *y;       /**< n x mlcl_label_words(c) batch labels */
    const float *d;          /**< n x c batch distributions, finite; LD only (NULL otherwise) */
    const mlcl_queue *queue; /**< the queue candidates, or NULL for F / kq / yq / dq */
    int F;                   /**< queue entries in kq/yq/dq, 0 .. max_queue (queue NULL only) */
    const float *kq;         /**< F x m queue keys (NULL when F == 0), finite */
    const uint64_t *yq;      /**< F x words queue labels (NULL when F == 0) */
    const float *dq;         /**< F x c queue distributions (LD with F > 0) */
    const float *W;          /**< c x h LD-head weight; LD with beta != 0 only */
    int h;                   /**< columns of W (> 0 when W is used) */
} mlcl_loss_inputs;

/** Static initialiser: the version, everything else 0 / NULL. */
#define MLCL_LOSS_INPUTS_INIT { MLCL_LOSS_INPUTS_VERSION, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0 }

/**
 * Fills @p in with MLCL_LOSS_INPUTS_INIT (same bytes).
 * @param[out] in the struct to fill.
 * @param version MLCL_LOSS_INPUTS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_loss_inputs_init(mlcl_loss_inputs *in, unsigned int version);

/** The opaque loss workspace. */
typedef struct mlcl_loss mlcl_loss;

/**
 * Creates a loss workspace; every buffer compute needs is allocated here,
 * sized for max_n anchors and max_n + max_queue candidates.
 * @param[out] out the new workspace; free with mlcl_loss_free().
 * @param max_n largest batch n (> 0).
 * @param max_queue largest number of filled queue entries F (>= 0; the queue capacity K).
 * @param m embedding width (> 0).
 * @param c number of labels (> 0).
 * @param opts options (copied; NULL for the defaults).
 * @return MLCL_OK; MLCL_EINVAL, MLCL_EVERSION, MLCL_EOVERFLOW or MLCL_ENOMEM.
 */
MLCL_API int mlcl_loss_create(mlcl_loss **out, int max_n, int max_queue, int m, int c,
                              const mlcl_loss_options *opts);

/** Frees a workspace; NULL is a no-op. @param L the workspace. */
MLCL_API void mlcl_loss_free(mlcl_loss *L);

/**
 * Sets the threads this workspace's calls use (the row pass over the anchors,
 * up to 4), for this handle only; 0 (the initial value) follows the count in
 * force: the enclosing handle's (a MoCo step) or mlcl_set_num_threads()'s
 * default. Results are bit-identical for a given count.
 * @param L the workspace.
 * @param n 0, or 1..1024 (a count above the CPUs available is lowered to it).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_loss_set_threads(mlcl_loss *L, int n);

/**
 * The count set by mlcl_loss_set_threads() (0: the count in force).
 * @param L the workspace.
 * @param[out] n the count.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_loss_get_threads(const mlcl_loss *L, int *n);

/**
 * Replaces the options (validated first; on error the old ones stay).
 * @param L the workspace.
 * @param opts new options.
 * @return MLCL_OK, MLCL_EINVAL (NULL, value out of range; the message names the field) or MLCL_EVERSION.
 */
MLCL_API int mlcl_loss_set_options(mlcl_loss *L, const mlcl_loss_options *opts);

/**
 * Copies the current options out.
 * @param L the workspace.
 * @param[out] opts receives the options.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_loss_get_options(const mlcl_loss *L, mlcl_loss_options *opts);

/**
 * The sizes the workspace was created for (any pointer may be NULL).
 * @param L the workspace.
 * @param[out] max_n largest batch.
 * @param[out] max_queue largest F.
 * @param[out] m embedding width.
 * @param[out] c number of labels.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_loss_get_dims(const mlcl_loss *L, int *max_n, int *max_queue, int *m, int *c);

/**
 * Bytes of workspace held by @p L (all allocated at create).
 * @param L the workspace.
 * @param[out] bytes the bytes (untouched on error).
 * @return MLCL_OK or MLCL_EINVAL (NULL).
 */
MLCL_API int mlcl_loss_workspace_size(const mlcl_loss *L, size_t *bytes);

/**
 * Computes the loss of the options' method and, for the non-NULL gradient
 * buffers, ACCUMULATES its exact gradients (the caller zeroes them).
 *
 * Outputs first: the workspace, then what is written, then the inputs.
 * @param L the workspace.
 * @param[out] parts the loss and its parts (nullable; parts->version must be
 *             MLCL_LOSS_PARTS_VERSION).
 * @param[in,out] grad_q n x m, += dL/dq (nullable).
 * @param[in,out] grad_d n x c, += dL/dd (nullable; LD only, untouched otherwise).
 * @param[in,out] grad_W c x h, += dL/dW (nullable; LD with W only).
 * @param in the inputs (mlcl_loss_inputs; the messages name its fields, e.g. "in->q is NULL").
 * @return MLCL_OK; MLCL_EINVAL (NULL pointer, size out of range, W missing, a
 *         queue whose feature width, label count or size does not fit the
 *         workspace, e.g. "feature width 128 != 256"); MLCL_EVERSION (in or parts);
 *         MLCL_ENUMERIC (NaN/Inf in q, k, d, kq, dq or W: the message names the array).
 *         On error no output is touched.
 */
MLCL_API int mlcl_loss_compute(mlcl_loss *L, mlcl_loss_parts *parts, float *grad_q, float *grad_d, float *grad_W,
                               const mlcl_loss_inputs *in);

/* ---- binary cross-entropy (owned by src/nn/functional.c) ---------------- */

/**
 * Binary cross-entropy with logits, mean over the n*c elements (PyTorch's
 * default reduction): loss = mean(max(x,0) - x t + log1p(exp(-|x|))).
 * Stateless and thread-safe; outputs first, then inputs, then sizes.
 * @param[out] loss the mean loss.
 * @param[in,out] grad_logits NULL, or n x c ACCUMULATED with (sigmoid(x) - t) / (n c).
 * @param[in] logits n x c, finite.
 * @param[in] targets n x c, in [0, 1].
 * @param n rows, > 0.
 * @param c columns, > 0.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENUMERIC.
 */
MLCL_API int mlcl_bce_with_logits(float *loss, float *grad_logits, const float *logits, const float *targets,
                                  int n, int c);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_LOSS_H */
