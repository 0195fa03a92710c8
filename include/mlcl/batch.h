/**
 * @file
 * libmlcl — batch.h: seeded epoch-wise mini-batches of row indices.
 *
 * Thread-safety: one batcher must not be used by two threads at once;
 * distinct batchers are independent.
 */
#ifndef MLCL_BATCH_H
#define MLCL_BATCH_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque epoch-wise shuffler of row indices. */
typedef struct mlcl_batcher mlcl_batcher;

/** Number of words of a batcher state (mlcl_batcher_get_state()). */
#define MLCL_BATCHER_STATE_WORDS 6

/**
 * Creates a batcher over rows 0..n_rows-1: each epoch is a fresh seeded
 * permutation cut into batches of @p batch_size (the last one smaller, or
 * dropped when @p drop_last).
 * @param[out] out        the new batcher; free with mlcl_batcher_free().
 * @param      n_rows     > 0.
 * @param      batch_size > 0; with drop_last it must be <= n_rows.
 * @param      drop_last  nonzero: drop the last incomplete batch.
 * @param      seed       RNG seed.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENOMEM.
 */
MLCL_API int mlcl_batcher_create(mlcl_batcher **out, int n_rows, int batch_size, int drop_last,
                                 uint64_t seed);

/** Frees a batcher; NULL is a no-op. */
MLCL_API void mlcl_batcher_free(mlcl_batcher *b);

/**
 * The next mini-batch of the current epoch. When the epoch is exhausted it
 * returns *count = 0 and *rows = NULL once, and counts the epoch as done; the
 * next call shuffles again and starts the next epoch:
 *
 *     while (mlcl_batcher_next(b, &rows, &k) == MLCL_OK && k > 0) { ... }
 *
 * @param      b     the batcher.
 * @param[out] rows  borrowed, *count row indices, valid until the next call.
 * @param[out] count rows in the batch, 0 at the end of an epoch.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_batcher_next(mlcl_batcher *b, const int **rows, int *count);

/**
 * The number of completed epochs (end-of-epoch markers returned).
 * @param      b     the batcher.
 * @param[out] epoch the count.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_batcher_epoch(const mlcl_batcher *b, int *epoch);

/**
 * Batches per epoch.
 * @param      b       the batcher.
 * @param[out] batches ceil(n_rows / batch_size), or floor(...) with drop_last.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_batcher_batches_per_epoch(const mlcl_batcher *b, int *batches);

/**
 * The position of the batcher, for checkpoints: restoring it with
 * mlcl_batcher_set_state() on a batcher created with the same n_rows and
 * batch_size continues the same sequence of batches.
 * @param      b     the batcher.
 * @param[out] state MLCL_BATCHER_STATE_WORDS words.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_batcher_get_state(const mlcl_batcher *b,
                                    uint64_t state[MLCL_BATCHER_STATE_WORDS]);

/**
 * Restores a state from mlcl_batcher_get_state().
 * @param b     the batcher.
 * @param state MLCL_BATCHER_STATE_WORDS words.
 * @return MLCL_OK or MLCL_EINVAL (state of a batcher of another size, or corrupt).
 */
MLCL_API int mlcl_batcher_set_state(mlcl_batcher *b,
                                    const uint64_t state[MLCL_BATCHER_STATE_WORDS]);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_BATCH_H */
