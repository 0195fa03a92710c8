/**
 * @file
 * libmlcl: positive sets (MATH.md, "Positive sets").
 *
 * Anchors are the n batch samples; candidates A(i) are the n current keys
 * followed by the F filled queue entries (N = n + F). Labels are bit-packed
 * rows (see queue.h: mlcl_label_words()).
 *   ALL (Eq. 1):        P(i)   = { a : y_a == y_i }
 *   ANY (Eq. 2):        P(i)   = { a : y_a . y_i > 0 }
 *   label-wise (Eq. 3): P^j(i) = { a : y_a^j = 1 } for each j with y_i^j = 1,
 *                       so |P^j(i)| is the number of candidates with label j,
 *                       the same for every anchor carrying label j.
 * Everything is computed with word operations on the packed rows.
 *
 * Candidates kept in two buffers (the batch labels and a queue's label
 * buffer, mlcl_queue_labels()) are passed to the *_2 variants without
 * copying; the one-array functions are the *_2 ones with an empty second part.
 *
 * Thread-safety: pure functions of their arguments.
 */
#ifndef MLCL_MASK_H
#define MLCL_MASK_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Positive-set rule. */
typedef enum mlcl_mask_mode {
    MLCL_MASK_ANY = 0, /**< Eq. 2: at least one shared label (the default) */
    MLCL_MASK_ALL = 1  /**< Eq. 1: identical label sets */
} mlcl_mask_mode;

/**
 * Builds the n x (N1+N2) positive mask of anchors against candidates given in
 * two parts: N1 rows of @p y_c1 (typically the batch) then N2 rows of @p y_c2
 * (typically the filled queue entries, mlcl_queue_labels() with N2 from
 * mlcl_queue_size(); 0 and NULL for one part). The mask's columns are in that
 * order.
 * @param[out] mask n x (N1+N2) bytes, row-major: 1 when candidate a is in
 *             P(i), else 0 (nullable when only the counts are wanted).
 * @param[out] count n ints: |P(i)| (nullable). An anchor with no positive gets 0.
 * @param mode MLCL_MASK_ANY or MLCL_MASK_ALL.
 * @param n anchors (> 0).
 * @param y_anchor n x words packed anchor labels.
 * @param N1 rows of the first part (>= 0).
 * @param y_c1 N1 x words (may be NULL when N1 == 0).
 * @param N2 rows of the second part (>= 0; N1 + N2 > 0).
 * @param y_c2 N2 x words (may be NULL when N2 == 0).
 * @param c number of labels (> 0).
 * @return MLCL_OK; MLCL_EINVAL for NULL inputs, bad sizes or an unknown mode
 *         (mask and count both NULL is also an error).
 */
MLCL_API int mlcl_mask_build(uint8_t *mask, int *count, mlcl_mask_mode mode, int n, const uint64_t *y_anchor,
                             int N1, const uint64_t *y_c1, int N2, const uint64_t *y_c2, int c);

/**
 * Label-wise counts (Eq. 3): count_j[j] = number of candidates with label j,
 * which is |P^j(i)| for every anchor i with y_i^j = 1; the candidates in two
 * parts as for mlcl_mask_build().
 * @param[out] count_j c ints (overwritten).
 * @param N1 rows of the first part (>= 0).
 * @param y_c1 N1 x words (may be NULL when N1 == 0).
 * @param N2 rows of the second part (>= 0; N1 + N2 > 0).
 * @param y_c2 N2 x words (may be NULL when N2 == 0).
 * @param c number of labels (> 0).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_mask_labelwise_counts(int *count_j, int N1, const uint64_t *y_c1, int N2,
                                        const uint64_t *y_c2, int c);

/**
 * The full label-wise count matrix |P^j(i)| for every anchor and label:
 * counts[i*c + j] = count_j[j] when y_i^j = 1, else 0 (P^j(i) is only defined
 * for the anchor's own labels).
 * @param[out] counts n x c ints (overwritten).
 * @param n anchors (> 0).
 * @param y_anchor n x words.
 * @param N1 rows of the first candidate part (>= 0).
 * @param y_c1 N1 x words (may be NULL when N1 == 0).
 * @param N2 rows of the second part (>= 0; N1 + N2 > 0).
 * @param y_c2 N2 x words (may be NULL when N2 == 0).
 * @param c number of labels (> 0).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_mask_labelwise(int *counts, int n, const uint64_t *y_anchor, int N1,
                                 const uint64_t *y_c1, int N2, const uint64_t *y_c2, int c);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_MASK_H */
