/**
 * @file
 * libmlcl: the MoCo key/query pair.
 *
 * A query side (backbone encoder -> projection head -> L2 normalise = q;
 * backbone -> LD head -> softmax = D) and a key side (momentum copies of the
 * backbone and projection head -> k), the three ring-buffer queues, the loss
 * workspace and an optimiser, so that one call, mlcl_moco_step(), performs a
 * whole pretraining step in MATH.md's order:
 *   1. momentum update of the key side, 2. forward of both views,
 *   3. loss against the current keys and the queue as it was,
 *   4. backward and optimiser step on the query side, 5. enqueue (k, y, D).
 *
 * Users who bring their own encoder use the pieces instead: mlcl_loss_compute()
 * with q, k and D they computed, then mlcl_queue_enqueue() (see loss.h, queue.h).
 *
 * Thread-safety: one handle per thread; distinct handles are independent.
 */
#ifndef MLCL_MOCO_H
#define MLCL_MOCO_H

#include "comm.h"
#include "core.h"
#include "loss.h"
#include "encoder.h"
#include "optim.h"
#include "queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of mlcl_moco_options (2: loss, optim, hidden and backbone by pointer; max_batch 0 = default). */
#define MLCL_MOCO_OPTIONS_VERSION 2

/** mlcl_moco_options.max_batch 0 means this many rows (outside a trainer). */
#define MLCL_MOCO_DEFAULT_MAX_BATCH 256

/**
 * How the MoCo pair is built. Initialise with MLCL_MOCO_OPTIONS_INIT or
 * mlcl_moco_options_init(). The pointed-to structs and widths are read (and
 * copied) by mlcl_moco_create() only: they need not outlive the call.
 */
typedef struct mlcl_moco_options {
    unsigned int version;   /**< MLCL_MOCO_OPTIONS_VERSION */
    int in_dim;             /**< input width d_in (required, > 0; 0 in a trainer: from the data) */
    int n_labels;           /**< number of labels c (required, > 0; 0 in a trainer: from the data) */
    int n_hidden;           /**< number of widths in @c hidden, 1 .. MLCL_MLP_MAX_HIDDEN; 0 with hidden NULL */
    const int *hidden;      /**< the backbone widths (the last is h's width); NULL (default): 256, 512, 256 */
    float dropout;          /**< backbone dropout (0.2) */
    int proj_dim;           /**< projection width m (256) */
    float proj_dropout;     /**< projection-head dropout (0.1) */
    int queue_size;         /**< K (256) */
    float momentum;         /**< key-side momentum m (0.999) */
    int max_batch;          /**< largest batch passed to mlcl_moco_step; 0 (default): MLCL_MOCO_DEFAULT_MAX_BATCH,
                                 in a trainer its batch size */
    uint64_t seed;          /**< initialisation and dropout seed (0; in a trainer 0 or the trainer's seed) */
    const mlcl_loss_options *loss;   /**< the contrastive / label-distribution loss; NULL (default):
                                          MLCL_LOSS_OPTIONS_INIT. In a trainer its method, variant and mask
                                          must be those of mlcl_train_options.method */
    const mlcl_optim_options *optim; /**< optimiser of the query side; NULL (default): MLCL_MOCO_OPTIM_INIT
                                          (AdamW lr 4e-5 wd 1e-4). Must be NULL in a trainer (its pretrain_*
                                          fields set it) */
    int key_train_mode;     /**< 1 (default): key side in train mode (dropout, batch statistics) */
    const mlcl_encoder *backbone; /**< NULL (default): the MLP described by n_hidden, hidden and dropout.
                                       Otherwise the caller's backbone (e.g. mlcl_encoder_create_resnet(), or
                                       any sequential encoder), copied at create (mlcl_moco_create()). Must be
                                       NULL in a trainer (mlcl_trainer_ex_options.backbone sets it) */
} mlcl_moco_options;

/** Static initialiser with the defaults listed in mlcl_moco_options. */
#define MLCL_MOCO_OPTIONS_INIT                                                       \
    { MLCL_MOCO_OPTIONS_VERSION, 0, 0, 0, NULL, 0.2f, 256, 0.1f, 256, 0.999f, 0, 0, NULL, NULL, 1, NULL }

/** The query-side optimiser default: AdamW, lr 4e-5, weight decay 1e-4. */
#define MLCL_MOCO_OPTIM_INIT                                                         \
    { MLCL_OPTIM_OPTIONS_VERSION, MLCL_OPTIM_ADAMW, 4e-5f, 0.0f, 0.0f, 0, 0.9f, 0.999f, 1e-8f, 1e-4f }

/**
 * Fills @p opts with the defaults.
 * @param[out] opts the options to fill.
 * @param version MLCL_MOCO_OPTIONS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_moco_options_init(mlcl_moco_options *opts, unsigned int version);

/** The opaque MoCo pair. */
typedef struct mlcl_moco mlcl_moco;

/**
 * Creates the pair: query and key networks (the key side starts as an exact
 * copy of the query side), the three queues, the loss workspace and the optimiser.
 *
 * With opts->backbone set, the pair is built around the caller's backbone
 * instead of the MLP described by opts->n_hidden, hidden and dropout, which
 * are then not used (not even read). The query backbone is a copy of it
 * (parameters, state, generator state), the key backbone another copy; the
 * backbone itself is not used afterwards and stays the caller's. h's width is
 * the backbone's output width; the projection and LD heads are built as for
 * the MLP; opts->in_dim must be 0 or the backbone's input width.
 * @param[out] out the new handle; free with mlcl_moco_free().
 * @param opts options (copied, with the structs they point to and the backbone).
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION, MLCL_EBACKEND (a backbone's
 *         copy), or MLCL_ENOMEM (also when the sizes would need more memory
 *         than the process may use, checked before allocating; the message
 *         names the size and the amount).
 */
MLCL_API int mlcl_moco_create(mlcl_moco **out, const mlcl_moco_options *opts);

/** Frees the pair; NULL is a no-op. */
MLCL_API void mlcl_moco_free(mlcl_moco *moco);

/**
 * One whole pretraining step (MATH.md "MoCo step").
 * @param moco the pair.
 * @param n batch size, 1 <= n <= max_batch (n >= 2 for batch normalisation).
 * @param x0 n x in_dim, the query view.
 * @param x1 n x in_dim, the key view.
 * @param y n x mlcl_label_words(c) bit-packed labels.
 * @param[out] parts the loss and its parts (nullable; parts->version must be
 *             MLCL_LOSS_PARTS_VERSION).
 * @return MLCL_OK; MLCL_EVERSION (parts); MLCL_ENUMERIC when the loss or a gradient is not finite
 *         (nothing is updated then: parameters, moments and queues stay as they were);
 *         MLCL_EBUSY when another step runs on @p moco at the same time.
 */
MLCL_API int mlcl_moco_step(mlcl_moco *moco, int n, const float *x0, const float *x1,
                            const uint64_t *y, mlcl_loss_parts *parts);

/** The networks of the pair (mlcl_moco_encoder()). */
typedef enum mlcl_moco_part {
    MLCL_MOCO_QUERY_BACKBONE = 0, /**< the query backbone (the encoder kept after pretraining) */
    MLCL_MOCO_QUERY_PROJ = 1,     /**< the query projection head */
    MLCL_MOCO_LD_HEAD = 2,        /**< the label-distribution head (fc + softmax) */
    MLCL_MOCO_KEY_BACKBONE = 3,   /**< the key backbone (momentum copy) */
    MLCL_MOCO_KEY_PROJ = 4        /**< the key projection head (momentum copy) */
} mlcl_moco_part;

/** The run-time settings of a pair (mlcl_moco_set_param(), as zstd's ZSTD_cParameter). */
typedef enum mlcl_moco_param {
    MLCL_MOCO_PARAM_MOMENTUM = 1, /**< momentum of the key update, [0, 1] */
    MLCL_MOCO_PARAM_TAU = 2,      /**< the loss's temperature, > 0 */
    MLCL_MOCO_PARAM_LR = 3,       /**< learning rate of every query-side optimiser group, >= 0
                                       (read back: group 0's) */
    MLCL_MOCO_PARAM_ALPHA = 4,    /**< weight of the LD loss's H term, >= 0 */
    MLCL_MOCO_PARAM_BETA = 5,     /**< weight of the LD loss's ||W||^2 term, >= 0 */
    MLCL_MOCO_PARAM_SIGMA = 6     /**< RBF width of RLD, > 0 */
} mlcl_moco_param;

/**
 * Sets a run-time parameter; it applies from the next mlcl_moco_step().
 * @param moco the pair.
 * @param param which setting.
 * @param value the new value, within mlcl_moco_param_bounds().
 * @return MLCL_OK; MLCL_EINVAL (NULL, unknown param, value out of bounds or
 *         not finite: the message names the parameter and the bounds), the
 *         old value kept; MLCL_EBUSY during a step.
 */
MLCL_API int mlcl_moco_set_param(mlcl_moco *moco, mlcl_moco_param param, double value);

/**
 * Reads a run-time parameter.
 * @param moco the pair.
 * @param param which setting.
 * @param[out] value its current value.
 * @return MLCL_OK or MLCL_EINVAL (NULL, unknown param).
 */
MLCL_API int mlcl_moco_get_param(const mlcl_moco *moco, mlcl_moco_param param, double *value);

/**
 * The inclusive bounds mlcl_moco_set_param() accepts for @p param (an open
 * bound such as tau > 0 is given as the smallest positive float, FLT_MIN;
 * "no upper bound" as FLT_MAX).
 * @param param which setting.
 * @param[out] lo the lowest accepted value.
 * @param[out] hi the highest accepted value.
 * @return MLCL_OK or MLCL_EINVAL (NULL, unknown param).
 */
MLCL_API int mlcl_moco_param_bounds(mlcl_moco_param param, double *lo, double *hi);

/**
 * Sets the threads this MoCo pair's steps use (its fork-join: the two
 * branches, the Linear backward, the loss's row pass), for this handle only;
 * 0 (the initial value) follows mlcl_set_num_threads()'s default. Results are
 * bit-identical for a given seed and count. Not while a step runs on the pair.
 * @param moco the pair.
 * @param n 0, or 1..1024 (a count above the CPUs available is lowered to it).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_moco_set_threads(mlcl_moco *moco, int n);

/**
 * The count set by mlcl_moco_set_threads() (0: the library default).
 * @param moco the pair.
 * @param[out] n the count.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_moco_get_threads(const mlcl_moco *moco, int *n);

/**
 * Borrowed handles of the parts, valid until mlcl_moco_free().
 * @param moco the pair.
 * @param part which network (mlcl_moco_part).
 * @param[out] out the borrowed encoder.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_moco_encoder(mlcl_moco *moco, mlcl_moco_part part, mlcl_encoder **out);

/** The borrowed queue handle (features, labels, distributions). */
MLCL_API int mlcl_moco_queue(mlcl_moco *moco, mlcl_queue **out);

/** The borrowed optimiser handle of the query side. */
MLCL_API int mlcl_moco_optim(mlcl_moco *moco, mlcl_optim **out);

/** The number of steps taken so far. */
MLCL_API int mlcl_moco_steps(const mlcl_moco *moco, long long *steps);

/**
 * Sets the step counter (a checkpoint restored by the caller, e.g. the trainer).
 * @param moco the pair.
 * @param steps >= 0.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_moco_set_steps(mlcl_moco *moco, long long steps);

/**
 * The borrowed loss handle of the pair (mlcl_loss_get_options() /
 * mlcl_loss_set_options() change the loss's settings for the next steps;
 * mlcl_moco_set_param() is the bounds-checked way for tau, alpha, beta, sigma), valid until
 * mlcl_moco_set_comm() or mlcl_moco_free().
 * @param moco the pair.
 * @param[out] out the borrowed loss.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_moco_loss(mlcl_moco *moco, mlcl_loss **out);

/**
 * Makes mlcl_moco_step() data-parallel: each rank passes its own n rows (n
 * equal on all ranks); keys, labels and distributions are all-gathered so
 * that the candidates and the queue are those of the global batch on every
 * rank; the batch-candidate distribution gradients are all-reduced; the
 * query-side gradients are averaged (one all-reduce per network, after its
 * backward); BatchNorm1d of both projection heads is synchronised; the loss
 * parts come out as the global batch's. The parameters, BatchNorm statistics
 * and queue of rank 0 are broadcast to all ranks here (collective call).
 * @param moco the pair.
 * @param comm the communicator (copied), or NULL for single-process.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION, MLCL_ENOMEM or MLCL_EBACKEND.
 */
MLCL_API int mlcl_moco_set_comm(mlcl_moco *moco, const mlcl_comm *comm);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_MOCO_H */
