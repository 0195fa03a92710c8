/**
 * @file
 * libmlcl: bit-packed label rows.
 *
 * A label row over c classes is mlcl_label_words(c) = (c + 63) / 64
 * uint64_t words; label j is bit (j % 64) of word j / 64; the unused high bits
 * of the last word are 0. Every label array of the library (datasets' packed
 * labels, batch labels, queue labels, mask builders, losses) uses this layout,
 * row-major, one row after the other.
 */
#ifndef MLCL_LABELS_H
#define MLCL_LABELS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Number of uint64_t words of one packed label row over @p c labels.
 * @param c number of labels.
 * @return (c + 63) / 64, or 0 when c <= 0.
 */
MLCL_API size_t mlcl_label_words(int c);

/**
 * Packs a dense 0/1 label matrix into bit rows.
 * @param[out] out n x mlcl_label_words(c) words (fully overwritten, padding bits 0).
 * @param y01 n x c bytes, row-major, each 0 or 1.
 * @param n rows (> 0).
 * @param c labels per row (> 0).
 * @return MLCL_OK; MLCL_EINVAL for NULL pointers, non-positive sizes, or a
 *         value other than 0/1 (the message names the row and column);
 *         MLCL_EOVERFLOW when n x c overflows.
 */
MLCL_API int mlcl_labels_pack(uint64_t *out, const uint8_t *y01, int n, int c);

/**
 * Unpacks bit rows into a dense 0/1 byte matrix.
 * @param[out] out n x c bytes, each 0 or 1.
 * @param packed n x mlcl_label_words(c) words.
 * @param n rows (> 0).
 * @param c labels per row (> 0).
 * @return MLCL_OK; MLCL_EINVAL for NULL pointers or non-positive sizes.
 */
MLCL_API int mlcl_labels_unpack(uint8_t *out, const uint64_t *packed, int n, int c);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_LABELS_H */
