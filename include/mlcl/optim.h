/**
 * @file
 * libmlcl — optim.h: optimisers (SGD, Adam, AdamW with PyTorch 1.13's
 * update rules) over parameter groups, and learning-rate schedules (PyTorch's
 * closed forms).
 *
 * An optimiser updates groups of float parameters in place from gradient
 * buffers it does not own: mlcl_optim_add_group() keeps the two pointers,
 * which must stay valid (and not move) until the optimiser is freed. With an
 * encoder, pass mlcl_encoder_params_ptr() and mlcl_encoder_grads_ptr() and do not add
 * layers to it afterwards.
 *
 * Thread-safety: one optimiser must not be used by two threads at once.
 */
#ifndef MLCL_OPTIM_H
#define MLCL_OPTIM_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque optimiser. */
typedef struct mlcl_optim mlcl_optim;

/** Optimiser algorithms. */
typedef enum mlcl_optim_type {
    MLCL_OPTIM_SGD = 0,  /**< torch.optim.SGD: L2 weight decay, momentum, dampening, Nesterov */
    MLCL_OPTIM_ADAM = 1, /**< torch.optim.Adam: L2 weight decay added to the gradient */
    MLCL_OPTIM_ADAMW = 2 /**< torch.optim.AdamW: decoupled decay p *= 1 - lr wd first */
} mlcl_optim_type;

/** Version of mlcl_optim_options understood by this library. */
#define MLCL_OPTIM_OPTIONS_VERSION 1

/**
 * Optimiser hyper-parameters. lr and weight_decay are the defaults shown to
 * callers; each group carries its own (mlcl_optim_add_group()).
 */
typedef struct mlcl_optim_options {
    unsigned int version; /**< MLCL_OPTIM_OPTIONS_VERSION */
    int type;             /**< an mlcl_optim_type (default MLCL_OPTIM_ADAM) */
    float lr;             /**< default learning rate (1e-3) */
    float momentum;       /**< SGD momentum, >= 0 (0) */
    float dampening;      /**< SGD dampening (0) */
    int nesterov;         /**< SGD Nesterov momentum, needs momentum > 0 and dampening 0 (0) */
    float beta1;          /**< Adam(W) first-moment decay in [0,1) (0.9) */
    float beta2;          /**< Adam(W) second-moment decay in [0,1) (0.999) */
    float eps;            /**< Adam(W) denominator term, >= 0 (1e-8) */
    float weight_decay;   /**< default weight decay, >= 0 (0) */
} mlcl_optim_options;

/** Static initialiser with the defaults of mlcl_optim_options. */
#define MLCL_OPTIM_OPTIONS_INIT \
    { MLCL_OPTIM_OPTIONS_VERSION, MLCL_OPTIM_ADAM, 1e-3f, 0.0f, 0.0f, 0, 0.9f, 0.999f, 1e-8f, 0.0f }

/**
 * Fills @p opts with the defaults (the same bytes as MLCL_OPTIM_OPTIONS_INIT).
 * @param[out] opts the options to fill.
 * @param version must be MLCL_OPTIM_OPTIONS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_EVERSION.
 */
MLCL_API int mlcl_optim_options_init(mlcl_optim_options *opts, unsigned int version);

/**
 * Creates an optimiser with no group.
 * @param[out] out the new optimiser; free it with mlcl_optim_free().
 * @param opts hyper-parameters (validated here).
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION or MLCL_ENOMEM.
 */
MLCL_API int mlcl_optim_create(mlcl_optim **out, const mlcl_optim_options *opts);

/** Frees an optimiser (not the parameters it points to); NULL is a no-op. */
MLCL_API void mlcl_optim_free(mlcl_optim *o);

/**
 * Adds a parameter group. The optimiser keeps @p params and @p grads (it
 * does not copy them): both must stay valid until mlcl_optim_free(). Its
 * moment buffers are allocated here and start at zero, step count 0.
 * @param o the optimiser.
 * @param params @p n parameters, updated in place by mlcl_optim_step().
 * @param grads @p n gradients, read by mlcl_optim_step().
 * @param n elements, > 0.
 * @param lr the group's learning rate, finite and >= 0.
 * @param weight_decay the group's weight decay, finite and >= 0.
 * @param[out] group_id NULL, or receives the group index (0, 1, ...).
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENOMEM.
 */
MLCL_API int mlcl_optim_add_group(mlcl_optim *o, float *params, const float *grads, size_t n,
                                  float lr, float weight_decay, int *group_id);

/**
 * The number of groups.
 * @param o the optimiser.
 * @param[out] n the count.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_optim_num_groups(const mlcl_optim *o, int *n);

/**
 * Sets a group's learning rate (what a scheduler does each step or epoch).
 * @param o the optimiser.
 * @param group a group index, or -1 for every group.
 * @param lr finite, >= 0.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_optim_set_lr(mlcl_optim *o, int group, float lr);

/**
 * Sets a group's weight decay (as given to mlcl_optim_add_group()).
 * @param o the optimiser.
 * @param group a group index, or -1 for every group.
 * @param wd finite, >= 0.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_optim_set_weight_decay(mlcl_optim *o, int group, float wd);

/**
 * Reads a group's learning rate.
 * @param o the optimiser.
 * @param group a group index.
 * @param[out] lr the rate.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_optim_get_lr(const mlcl_optim *o, int group, float *lr);

/**
 * One update of every group (PyTorch 1.13, single-tensor path), with
 * g = grad:
 *  - SGD: g += wd p; if momentum: buf = g on the first step, else
 *    buf = momentum buf + (1 - dampening) g; g = nesterov ? g + momentum buf : buf;
 *    p -= lr g.
 *  - Adam: g += wd p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *    p -= lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps).
 *  - AdamW: p *= 1 - lr wd; then Adam's update without the L2 term.
 * All gradients are checked first: a non-finite one fails with MLCL_ENUMERIC
 * naming the group and the index, and nothing (parameters, moments, step
 * counts) is changed.
 * @param o the optimiser.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENUMERIC.
 */
MLCL_API int mlcl_optim_step(mlcl_optim *o);

/**
 * Resets every moment buffer to zero and every step count to 0 (a fresh
 * optimiser over the same groups, keeping their learning rates).
 * @param o the optimiser.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_optim_zero_state(mlcl_optim *o);

/**
 * The number of floats of optimiser state (for checkpoints): per group in
 * order, SGD with momentum > 0: the momentum buffer (n); SGD without: nothing;
 * Adam/AdamW: exp_avg (n) then exp_avg_sq (n). Step counts are not included:
 * read them with mlcl_optim_get_step().
 * @param o the optimiser.
 * @param[out] n the count.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_optim_state_count(const mlcl_optim *o, size_t *n);

/**
 * Copies the moment buffers out (layout of mlcl_optim_state_count()).
 * @param o the optimiser.
 * @param[out] dst @p n floats.
 * @param n must equal mlcl_optim_state_count().
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_optim_get_state(const mlcl_optim *o, float *dst, size_t n);

/**
 * Restores the moment buffers (layout of mlcl_optim_state_count()).
 * @param o the optimiser.
 * @param[in] src @p n finite floats (second moments >= 0).
 * @param n must equal mlcl_optim_state_count().
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENUMERIC (nothing is changed).
 */
MLCL_API int mlcl_optim_set_state(mlcl_optim *o, const float *src, size_t n);

/**
 * A group's step count (the t of Adam's bias correction; for SGD, 0 means
 * the momentum buffer is not initialised yet).
 * @param o the optimiser.
 * @param group a group index.
 * @param[out] step the count.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_optim_get_step(const mlcl_optim *o, int group, int64_t *step);

/**
 * Sets a group's step count (restoring a checkpoint).
 * @param o the optimiser.
 * @param group a group index, or -1 for every group.
 * @param step >= 0.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_optim_set_step(mlcl_optim *o, int group, int64_t step);

/* ------------------------------------------------------------------------ */
/* Learning-rate schedules.                                                  */

/** Schedules (PyTorch's closed forms). */
typedef enum mlcl_sched_type {
    MLCL_SCHED_CONSTANT = 0,            /**< lr = base_lr */
    MLCL_SCHED_STEP = 1,                /**< StepLR: base_lr gamma^floor(epoch/step_size) */
    MLCL_SCHED_COSINE = 2,              /**< CosineAnnealingLR: eta_min + (base_lr-eta_min)(1+cos(pi epoch/T_max))/2 */
    MLCL_SCHED_COSINE_WARM_RESTARTS = 3 /**< CosineAnnealingWarmRestarts (SGDR), as step(epoch) */
} mlcl_sched_type;

/** Version of mlcl_sched_options understood by this library. */
#define MLCL_SCHED_OPTIONS_VERSION 1

/** A learning-rate schedule. */
typedef struct mlcl_sched_options {
    unsigned int version; /**< MLCL_SCHED_OPTIONS_VERSION */
    int type;             /**< an mlcl_sched_type (default MLCL_SCHED_CONSTANT) */
    float base_lr;        /**< the initial rate, >= 0 (1e-3) */
    int step_size;        /**< STEP: epochs per decay, > 0 (30) */
    float gamma;          /**< STEP: decay factor, >= 0 (0.1) */
    int T_max;            /**< COSINE: half period in epochs, > 0 (100) */
    int T_0;              /**< COSINE_WARM_RESTARTS: first period, > 0 (50) */
    int T_mult;           /**< COSINE_WARM_RESTARTS: period growth, >= 1 (2) */
    float eta_min;        /**< COSINE*: the minimum rate, >= 0 (0) */
} mlcl_sched_options;

/** Static initialiser with the defaults of mlcl_sched_options. */
#define MLCL_SCHED_OPTIONS_INIT \
    { MLCL_SCHED_OPTIONS_VERSION, MLCL_SCHED_CONSTANT, 1e-3f, 30, 0.1f, 100, 50, 2, 0.0f }

/**
 * Fills @p opts with the defaults (the same bytes as MLCL_SCHED_OPTIONS_INIT).
 * @param[out] opts the options to fill.
 * @param version must be MLCL_SCHED_OPTIONS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_EVERSION.
 */
MLCL_API int mlcl_sched_options_init(mlcl_sched_options *opts, unsigned int version);

/**
 * The learning rate at @p epoch (fractional epochs allowed: epoch + i/iters
 * for the i-th step of an epoch, as PyTorch's CosineAnnealingWarmRestarts
 * documents). For COSINE_WARM_RESTARTS: with T_mult = 1, T_cur = epoch mod
 * T_0, T_i = T_0; with T_mult > 1 the restart index k is the largest with
 * T_0 (T_mult^k - 1)/(T_mult - 1) <= epoch (computed exactly in integers
 * where PyTorch uses a float logarithm; the two agree except where that
 * logarithm rounds across an integer), T_cur = epoch - T_0 (T_mult^k -
 * 1)/(T_mult - 1), T_i = T_0 T_mult^k; lr = eta_min + (base_lr -
 * eta_min)(1 + cos(pi T_cur/T_i))/2.
 * Computed in double, rounded to float once.
 * @param opts the schedule.
 * @param epoch >= 0, finite.
 * @param[out] lr the rate.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_EVERSION.
 */
MLCL_API int mlcl_sched_lr(const mlcl_sched_options *opts, double epoch, float *lr);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_OPTIM_H */
