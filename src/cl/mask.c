/* ALL / ANY / label-wise positive sets from bit-packed labels (MATH.md, "Positive sets"). */
#include <string.h>
#include "core/internal.h"
#include "mlcl/mask.h"
#include "mlcl/queue.h"
#include "cl/labels.h"

static int check_parts(const char *fn, int N1, const uint64_t *y_c1, int N2, const uint64_t *y_c2)
{
    if (N1 < 0) return mlcl__err(MLCL_EINVAL, "%s: N1 must be >= 0 (got %d)", fn, N1);
    if (N2 < 0) return mlcl__err(MLCL_EINVAL, "%s: N2 must be >= 0 (got %d)", fn, N2);
    if ((long long)N1 + N2 <= 0 || (long long)N1 + N2 > INT32_MAX)
        return mlcl__err(MLCL_EINVAL, "%s: N1 + N2 must be in [1, %d] (got %lld)", fn, INT32_MAX, (long long)N1 + N2);
    if (N1 > 0 && !y_c1) return mlcl__err(MLCL_EINVAL, "%s: y_c1 is NULL", fn);
    if (N2 > 0 && !y_c2) return mlcl__err(MLCL_EINVAL, "%s: y_c2 is NULL", fn);
    return MLCL_OK;
}

static void build(uint8_t *mask, int *count, int mode, int n, const uint64_t *ya, int N1,
                  const uint64_t *y1, int N2, const uint64_t *y2, size_t words)
{
    size_t N = (size_t)N1 + (size_t)N2;
    for (int i = 0; i < n; i++) {
        const uint64_t *yi = ya + (size_t)i * words;
        uint8_t *row = mask ? mask + (size_t)i * N : NULL;
        int cnt = 0;
        for (size_t a = 0; a < N; a++) {
            const uint64_t *yc = a < (size_t)N1 ? y1 + a * words : y2 + (a - (size_t)N1) * words;
            int pos = mode == MLCL_MASK_ALL ? mlcl__lab_eq(yi, yc, words) : mlcl__lab_any(yi, yc, words);
            cnt += pos;
            if (row) row[a] = (uint8_t)pos;
        }
        if (count) count[i] = cnt;
    }
}

int mlcl_mask_build(uint8_t *mask, int *count, mlcl_mask_mode mode, int n, const uint64_t *y_anchor, int N1,
                    const uint64_t *y_c1, int N2, const uint64_t *y_c2, int c)
{
    static const char fn[] = "mlcl_mask_build";
    if (!mask && !count) return mlcl__err(MLCL_EINVAL, "%s: mask and count are both NULL", fn);
    MLCL_CHECK_NULL(fn, y_anchor);
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_POS(fn, c);
    if (mode != MLCL_MASK_ANY && mode != MLCL_MASK_ALL)
        return mlcl__err(MLCL_EINVAL, "%s: mode %d is neither MLCL_MASK_ANY nor MLCL_MASK_ALL", fn, (int)mode);
    MLCL_TRY(check_parts(fn, N1, y_c1, N2, y_c2));
    size_t tot;
    if (mlcl__mul_size((size_t)n, (size_t)N1 + (size_t)N2, &tot))
        return mlcl__err(MLCL_EOVERFLOW, "%s: n x N overflows", fn);
    build(mask, count, mode, n, y_anchor, N1, y_c1, N2, y_c2, mlcl_label_words(c));
    return MLCL_OK;
}

int mlcl_mask_labelwise_counts(int *count_j, int N1, const uint64_t *y_c1, int N2,
                               const uint64_t *y_c2, int c)
{
    static const char fn[] = "mlcl_mask_labelwise_counts";
    MLCL_CHECK_NULL(fn, count_j);
    MLCL_CHECK_POS(fn, c);
    MLCL_TRY(check_parts(fn, N1, y_c1, N2, y_c2));
    size_t words = mlcl_label_words(c);
    memset(count_j, 0, (size_t)c * sizeof *count_j);
    for (int a = 0; a < N1; a++) mlcl__lab_count_add(count_j, y_c1 + (size_t)a * words, words);
    for (int a = 0; a < N2; a++) mlcl__lab_count_add(count_j, y_c2 + (size_t)a * words, words);
    return MLCL_OK;
}

int mlcl_mask_labelwise(int *counts, int n, const uint64_t *y_anchor, int N1, const uint64_t *y_c1,
                        int N2, const uint64_t *y_c2, int c)
{
    static const char fn[] = "mlcl_mask_labelwise";
    MLCL_CHECK_NULL(fn, counts);
    MLCL_CHECK_NULL(fn, y_anchor);
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_POS(fn, c);
    size_t tot;
    if (mlcl__mul_size((size_t)n, (size_t)c, &tot))
        return mlcl__err(MLCL_EOVERFLOW, "%s: n x c overflows", fn);
    MLCL_TRY(mlcl_mask_labelwise_counts(counts, N1, y_c1, N2, y_c2, c));
    /* row 0 holds the column counts; fill rows n-1 .. 0 from it (row 0 last) */
    size_t words = mlcl_label_words(c);
    for (int i = n - 1; i >= 0; i--) {
        const uint64_t *yi = y_anchor + (size_t)i * words;
        int *row = counts + (size_t)i * c;
        for (int j = 0; j < c; j++)
            row[j] = ((yi[j >> 6] >> (j & 63)) & 1u) ? counts[j] : 0;
    }
    return MLCL_OK;
}
