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

#include "core.h"
#include "loss.h"
#include "encoder.h"
#include "optim.h"
#include "queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of mlcl_moco_options. */
#define MLCL_MOCO_OPTIONS_VERSION 1

/** How the MoCo pair is built. Initialise with MLCL_MOCO_OPTIONS_INIT or mlcl_moco_options_init(). */
typedef struct mlcl_moco_options {
    unsigned int version;   /**< MLCL_MOCO_OPTIONS_VERSION */
    int in_dim;             /**< input width d_in (required, > 0) */
    int n_labels;           /**< number of labels c (required, > 0) */
    int n_hidden;           /**< backbone hidden layers (default 3) */
    int hidden[8];          /**< backbone widths (default 256, 512, 256); the last is h's width */
    float dropout;          /**< backbone dropout (0.2) */
    int proj_dim;           /**< projection width m (256) */
    float proj_dropout;     /**< projection-head dropout (0.1) */
    int queue_size;         /**< K (256) */
    float momentum;         /**< key-side momentum m (0.999) */
    int max_batch;          /**< largest batch passed to mlcl_moco_step (256) */
    uint64_t seed;          /**< initialisation and dropout seed (0) */
    mlcl_loss_options loss; /**< the contrastive / label-distribution loss */
    mlcl_optim_options optim; /**< optimiser of the query side (AdamW lr 4e-5 wd 1e-4) */
    int key_train_mode;     /**< 1 (default): key side in train mode (dropout, batch statistics) */
} mlcl_moco_options;

/** Static initialiser with the defaults listed in mlcl_moco_options. */
#define MLCL_MOCO_OPTIONS_INIT                                                       \
    { MLCL_MOCO_OPTIONS_VERSION, 0, 0, 3, { 256, 512, 256, 0, 0, 0, 0, 0 }, 0.2f, 256, \
      0.1f, 256, 0.999f, 256, 0, MLCL_LOSS_OPTIONS_INIT, MLCL_MOCO_OPTIM_INIT, 1 }

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
 * @param[out] out the new handle; free with mlcl_moco_free().
 * @param opts options (copied).
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION, or MLCL_ENOMEM (also when the
 *         sizes would need more memory than the process may use, checked
 *         before allocating; the message names the size and the amount).
 */
MLCL_API int mlcl_moco_create(mlcl_moco **out, const mlcl_moco_options *opts);

/**
 * Creates the pair around the caller's backbone (for example a residual
 * network from mlcl_encoder_create_resnet(), or any sequential encoder)
 * instead of the MLP described by opts->n_hidden, hidden and dropout, which
 * are then ignored. The query backbone is a copy of @p backbone (parameters,
 * state, generator state), the key backbone another copy; @p backbone itself
 * is not used afterwards and stays the caller's. h's width is the backbone's
 * output width; the projection and LD heads are built as in mlcl_moco_create().
 * @param[out] out the new handle; free with mlcl_moco_free().
 * @param opts options (copied); opts->in_dim must be 0 or the backbone's input width.
 * @param backbone the backbone to copy, or NULL for mlcl_moco_create()'s MLP.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION, MLCL_ENOMEM or MLCL_EBACKEND.
 */
MLCL_API int mlcl_moco_create_with_backbone(mlcl_moco **out, const mlcl_moco_options *opts,
                                            const mlcl_encoder *backbone);

/** Frees the pair; NULL is a no-op. */
MLCL_API void mlcl_moco_free(mlcl_moco *moco);

/**
 * One whole pretraining step (MATH.md "MoCo step").
 * @param moco the pair.
 * @param n batch size, 1 <= n <= max_batch (n >= 2 for batch normalisation).
 * @param x0 n x in_dim, the query view.
 * @param x1 n x in_dim, the key view.
 * @param y n x mlcl_label_words(c) bit-packed labels.
 * @param[out] parts the loss and its parts (nullable).
 * @return MLCL_OK; MLCL_ENUMERIC when the loss or a gradient is not finite
 *         (nothing is updated then: parameters, moments and queues stay as they were);
 *         MLCL_EBUSY when another step runs on @p moco at the same time.
 */
MLCL_API int mlcl_moco_step(mlcl_moco *moco, int n, const float *x0, const float *x1,
                            const uint64_t *y, mlcl_loss_parts *parts);

/** Sets the learning rate of the query-side optimiser (all groups). */
MLCL_API int mlcl_moco_set_lr(mlcl_moco *moco, float lr);

/**
 * Borrowed handles of the parts, valid until mlcl_moco_free().
 * @param moco the pair.
 * @param which 0 query backbone, 1 query projection head, 2 LD head,
 *              3 key backbone, 4 key projection head.
 * @param[out] out the borrowed encoder.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_moco_encoder(mlcl_moco *moco, int which, mlcl_encoder **out);

/** The borrowed queue handle (features, labels, distributions). */
MLCL_API int mlcl_moco_queue(mlcl_moco *moco, mlcl_queue **out);

/** The borrowed optimiser handle of the query side. */
MLCL_API int mlcl_moco_optim(mlcl_moco *moco, mlcl_optim **out);

/** The number of steps taken so far. */
MLCL_API int mlcl_moco_steps(const mlcl_moco *moco, long long *steps);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_MOCO_H */
