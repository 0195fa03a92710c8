/* Small vector kernels shared by the hot loops (see vec.h). */
#include "vec.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")
#endif

MLCL_VEC_CLONES int mlcl__vec_all_finite(const float *x, size_t n)
{
    /* x - x is 0 for a finite x and NaN for Inf/NaN; an int AND-reduction
     * per block of 1024 vectorises, and a bad block ends the scan early */
    size_t k = 0;
    while (k < n) {
        size_t e = n - k > 1024 ? k + 1024 : n;
        int ok = 1;
        for (size_t i = k; i < e; i++) ok &= (x[i] - x[i]) == 0.0f;
        if (!ok) return 0;
        k = e;
    }
    return 1;
}
