/* Small vector kernels shared by the hot loops. Internal. */
#ifndef MLCL_KERNELS_VEC_H
#define MLCL_KERNELS_VEC_H
#include "core/internal.h"

/* Element-wise loops compiled twice, for AVX2 and for the baseline (SSE2),
 * the copy picked once at load by the CPU (GCC's target_clones, an ifunc).
 * Only for loops whose every element goes through the same IEEE operations
 * in the same order (no reductions re-associated, no FMA contraction: the
 * library is built -std=c11, i.e. -ffp-contract=off), so both copies give
 * the same bits and the choice does not change any result. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
#define MLCL_VEC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MLCL_VEC_CLONES
#endif

/* 1 when the CPU has AVX-512 F, DQ and VL (found once): the hand-written
 * AVX-512 kernels (PCG draws here, the loss's row pass) run only then; their
 * portable versions give the same bits. 0 under AddressSanitizer builds. */
MLCL_INTERNAL int mlcl__cpu_avx512(void);

/* 1 when all n values are finite; branch-free over blocks so it vectorises
 * (mlcl__all_finite's early-exit loop does not). */
MLCL_INTERNAL int mlcl__vec_all_finite(const float *x, size_t n);
#endif
