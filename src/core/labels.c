/* Bit-packed label rows (include/mlcl/labels.h): the layout every label array of the library uses. */
#include <string.h>
#include "core/internal.h"
#include "mlcl/labels.h"

size_t mlcl_label_words(int c) { return c > 0 ? ((size_t)c + 63) / 64 : 0; }

int mlcl_labels_pack(uint64_t *out, const uint8_t *y01, int n, int c)
{
    static const char fn[] = "mlcl_labels_pack";
    MLCL_CHECK_NULL(fn, out);
    MLCL_CHECK_NULL(fn, y01);
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_POS(fn, c);
    size_t words = mlcl_label_words(c), tot;
    if (mlcl__mul_size((size_t)n, words, &tot) || mlcl__mul_size((size_t)n, (size_t)c, &tot))
        return mlcl__err(MLCL_EOVERFLOW, "%s: n %d x c %d overflows", fn, n, c);
    /* validate first so that out is untouched on error */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < c; j++) {
            uint8_t v = y01[(size_t)i * c + j];
            if (v > 1)
                return mlcl__err(MLCL_EINVAL, "%s: y01[%d][%d] = %u is not 0 or 1", fn, i, j, (unsigned)v);
        }
    for (int i = 0; i < n; i++) {
        uint64_t *row = out + (size_t)i * words;
        const uint8_t *src = y01 + (size_t)i * c;
        memset(row, 0, words * sizeof *row);
        for (int j = 0; j < c; j++)
            row[j >> 6] |= (uint64_t)src[j] << (j & 63);
    }
    return MLCL_OK;
}

int mlcl_labels_unpack(uint8_t *out, const uint64_t *packed, int n, int c)
{
    static const char fn[] = "mlcl_labels_unpack";
    MLCL_CHECK_NULL(fn, out);
    MLCL_CHECK_NULL(fn, packed);
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_POS(fn, c);
    size_t words = mlcl_label_words(c), tot;
    if (mlcl__mul_size((size_t)n, words, &tot) || mlcl__mul_size((size_t)n, (size_t)c, &tot))
        return mlcl__err(MLCL_EOVERFLOW, "%s: n %d x c %d overflows", fn, n, c);
    for (int i = 0; i < n; i++) {
        const uint64_t *row = packed + (size_t)i * words;
        uint8_t *dst = out + (size_t)i * c;
        for (int j = 0; j < c; j++) dst[j] = (uint8_t)((row[j >> 6] >> (j & 63)) & 1u);
    }
    return MLCL_OK;
}
