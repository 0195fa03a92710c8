/* Word operations on bit-packed label rows, shared by the masks and the losses. Internal. */
#ifndef MLCL_CL_LABELS_H
#define MLCL_CL_LABELS_H
#include <stddef.h>
#include <stdint.h>

/* Population count without a libgcc call (the library is built for baseline
 * x86-64, where __builtin_popcountll is a function call). */
static inline int mlcl__popc64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

/* y_a . y_i > 0 (ANY, Eq. 2) */
static inline int mlcl__lab_any(const uint64_t *a, const uint64_t *b, size_t words)
{
    for (size_t w = 0; w < words; w++)
        if (a[w] & b[w]) return 1;
    return 0;
}

/* y_a == y_i (ALL, Eq. 1) */
static inline int mlcl__lab_eq(const uint64_t *a, const uint64_t *b, size_t words)
{
    for (size_t w = 0; w < words; w++)
        if (a[w] != b[w]) return 0;
    return 1;
}

static inline int mlcl__lab_popcount(const uint64_t *a, size_t words)
{
    int s = 0;
    for (size_t w = 0; w < words; w++) s += mlcl__popc64(a[w]);
    return s;
}

/* Adds 1 to count[j] for every set bit j of the row. */
static inline void mlcl__lab_count_add(int *count, const uint64_t *a, size_t words)
{
    for (size_t w = 0; w < words; w++) {
        uint64_t x = a[w];
        while (x) {
            count[w * 64 + (size_t)__builtin_ctzll(x)]++;
            x &= x - 1;
        }
    }
}
#endif
