/**
 * @file
 * libmlcl: the three ring-buffer queues of MoCo (labels packed as in labels.h).
 *
 * Queues. A queue of capacity K holds, per entry, a key feature k (m floats),
 * its labels y (packed) and its label distribution d (c floats): three ring
 * buffers that move in lock-step (MATH.md, "Notation"). Filling starts at
 * storage row 0 and wraps around, so the filled entries are always the
 * storage rows 0 .. size-1; the loss only needs the set of filled entries,
 * not their age, and reads them in place (no copy).
 *
 * Thread-safety: one queue must not be used by two threads at once.
 */
#ifndef MLCL_QUEUE_H
#define MLCL_QUEUE_H

#include "core.h"
#include "labels.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of mlcl_queue_options. */
#define MLCL_QUEUE_OPTIONS_VERSION 1

/** Shape of a queue. Initialise with MLCL_QUEUE_OPTIONS_INIT or mlcl_queue_options_init(). */
typedef struct mlcl_queue_options {
    unsigned int version; /**< MLCL_QUEUE_OPTIONS_VERSION */
    int capacity;         /**< K, entries (required, > 0; the paper: 256 Yeast, 1024 Scene) */
    int feat_dim;         /**< m, key width (required, > 0) */
    int n_labels;         /**< c, labels per entry (required, > 0) */
} mlcl_queue_options;

/** Static initialiser: every size 0 (must be set before mlcl_queue_create). */
#define MLCL_QUEUE_OPTIONS_INIT { MLCL_QUEUE_OPTIONS_VERSION, 0, 0, 0 }

/**
 * Fills @p opts with the defaults (same as MLCL_QUEUE_OPTIONS_INIT).
 * @param[out] opts the options to initialise.
 * @param version MLCL_QUEUE_OPTIONS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_queue_options_init(mlcl_queue_options *opts, unsigned int version);

/** The opaque queue: three ring buffers (features, packed labels, distributions). */
typedef struct mlcl_queue mlcl_queue;

/**
 * Creates an empty queue; all three buffers are allocated here and zeroed.
 * @param[out] out the new queue; free with mlcl_queue_free().
 * @param opts capacity, feature width and label count (copied).
 * @return MLCL_OK; MLCL_EINVAL, MLCL_EVERSION, MLCL_EOVERFLOW or MLCL_ENOMEM.
 */
MLCL_API int mlcl_queue_create(mlcl_queue **out, const mlcl_queue_options *opts);

/** Frees a queue; NULL is a no-op. @param q the queue. */
MLCL_API void mlcl_queue_free(mlcl_queue *q);

/**
 * Appends @p n entries at the head, wrapping around; when n > K only the
 * last K rows are written (at the positions ring semantics give them). The
 * size grows to at most K; the head advances by n modulo K.
 * @param q the queue.
 * @param n rows to append (> 0).
 * @param feats n x m keys (finite).
 * @param labels_packed n x mlcl_label_words(c) words.
 * @param dists n x c distributions (finite), or NULL to store zeros (plain
 *        MulSupCon / SupCon users).
 * @return MLCL_OK; MLCL_EINVAL for NULL/size errors; MLCL_ENUMERIC when feats
 *         or dists hold NaN/Inf (then nothing is written).
 */
MLCL_API int mlcl_queue_enqueue(mlcl_queue *q, int n, const float *feats,
                                const uint64_t *labels_packed, const float *dists);

/**
 * Empties the queue: size 0, head 0, the buffers zeroed.
 * @param q the queue.
 * @return MLCL_OK or MLCL_EINVAL (NULL).
 */
MLCL_API int mlcl_queue_reset(mlcl_queue *q);

/*
 * Getters: the queue first, the value written through the last argument;
 * each returns MLCL_OK or MLCL_EINVAL (a NULL argument, named in the message),
 * and leaves the output untouched on error.
 */

/** Filled entries F (0 .. K). @param q the queue. @param[out] size F. */
MLCL_API int mlcl_queue_size(const mlcl_queue *q, int *size);

/** Capacity K. @param q the queue. @param[out] capacity K. */
MLCL_API int mlcl_queue_capacity(const mlcl_queue *q, int *capacity);

/** The next storage row written (0 .. K-1). @param q the queue. @param[out] head the row. */
MLCL_API int mlcl_queue_head(const mlcl_queue *q, int *head);

/** Feature width m. @param q the queue. @param[out] feat_dim m. */
MLCL_API int mlcl_queue_feat_dim(const mlcl_queue *q, int *feat_dim);

/** Label count c. @param q the queue. @param[out] n_labels c. */
MLCL_API int mlcl_queue_n_labels(const mlcl_queue *q, int *n_labels);

/**
 * The key buffer, K x m floats, row-major; rows 0 .. size-1 are filled.
 * @param q the queue.
 * @param[out] feats borrowed pointer, valid until the queue is freed (contents
 *             change with enqueue/reset/set_state).
 */
MLCL_API int mlcl_queue_features(const mlcl_queue *q, const float **feats);

/**
 * The label buffer, K x mlcl_label_words(c) words; rows 0 .. size-1 are filled.
 * @param q the queue.
 * @param[out] labels borrowed pointer as for mlcl_queue_features().
 */
MLCL_API int mlcl_queue_labels(const mlcl_queue *q, const uint64_t **labels);

/**
 * The distribution buffer, K x c floats; rows 0 .. size-1 are filled.
 * @param q the queue.
 * @param[out] dists borrowed pointer as for mlcl_queue_features().
 */
MLCL_API int mlcl_queue_dists(const mlcl_queue *q, const float **dists);

/**
 * Restores a state (checkpoints): copies the full K-row buffers and sets size
 * and head. Rows >= size are stored as given (normally zeros).
 * @param q the queue.
 * @param size filled entries, 0 .. K.
 * @param head next write row, 0 .. K-1; when size < K it must equal size % K.
 * @param feats K x m floats (finite).
 * @param labels K x mlcl_label_words(c) words (padding bits must be 0).
 * @param dists K x c floats (finite), or NULL for zeros.
 * @return MLCL_OK; MLCL_EINVAL or MLCL_ENUMERIC (then the queue is unchanged).
 */
MLCL_API int mlcl_queue_set_state(mlcl_queue *q, int size, int head, const float *feats,
                                  const uint64_t *labels, const float *dists);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_QUEUE_H */
