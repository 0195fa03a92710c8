/* Bulk PCG-XSH-RR draws, bit-identical to calling mlcl__pcg_u32 n times.
 *
 * The generator's only serial dependency is the 64-bit LCG
 * s' = a s + c (a multiply-add per draw, ~4 cycles of latency). Running
 * PCGFILL_LANES interleaved copies of the stream, lane j at s_{t+j}, each
 * advanced by PCGFILL_LANES steps at once (s_{t+L} = A s_t + C with A = a^L,
 * C = c (a^{L-1} + ... + 1), all mod 2^64) produces exactly the same sequence
 * with independent chains, so the draws overlap in the pipeline. The output
 * permutation is the same function of the old state as in rng.c.
 *
 * Also the comparison "uniform u >= p" of mlcl__pcg_uniform done on integers:
 * u = (x >> 8) 2^-24 exactly, so u >= p  <=>  (x >> 8) >= ceil(p 2^24). */
#ifndef MLCL_KERNELS_PCGFILL_H
#define MLCL_KERNELS_PCGFILL_H
#include <math.h>
#include "core/internal.h"

#define PCGFILL_MULT 6364136223846793005ULL
#define PCGFILL_LANES 8
#define PCGFILL_CHUNK 512 /* draws per stack chunk used by the callers */

static inline uint32_t mlcl__pcg_out(uint64_t old)
{
    uint32_t xs = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xs >> rot) | (xs << ((32u - rot) & 31u));
}

/* out[0..n) = the next n draws of r; r advances by n (the portable code). */
static inline void mlcl__pcg_fill_base(mlcl__pcg *r, uint32_t *out, size_t n)
{
    size_t k = 0;
    if (n >= 2 * PCGFILL_LANES) {
        uint64_t s[PCGFILL_LANES], A = 1, C = 0, st = r->state;
        for (int j = 0; j < PCGFILL_LANES; j++) {
            s[j] = st;
            st = st * PCGFILL_MULT + r->inc;
            A *= PCGFILL_MULT;
            C = C * PCGFILL_MULT + r->inc;
        }
        for (; k + PCGFILL_LANES <= n; k += PCGFILL_LANES)
            for (int j = 0; j < PCGFILL_LANES; j++) {
                out[k + j] = mlcl__pcg_out(s[j]);
                s[j] = s[j] * A + C;
            }
        r->state = s[0]; /* lane 0 holds the state after the k draws */
    }
    for (; k < n; k++) {
        uint64_t old = r->state;
        r->state = old * PCGFILL_MULT + r->inc;
        out[k] = mlcl__pcg_out(old);
    }
}

/* The same draws, eight lanes per AVX-512 vector where the CPU has AVX-512
 * F/DQ/VL (a 64-bit multiply per lane), else mlcl__pcg_fill_base (vec.c). */
MLCL_INTERNAL void mlcl__pcg_fill_wide(mlcl__pcg *r, uint32_t *out, size_t n);

/* out[0..n) = the next n draws of r; r advances by n. */
static inline void mlcl__pcg_fill(mlcl__pcg *r, uint32_t *out, size_t n)
{
    if (n >= 4 * PCGFILL_LANES) mlcl__pcg_fill_wide(r, out, n);
    else mlcl__pcg_fill_base(r, out, n);
}

/* The integer threshold t with (x >> 8) >= t  <=>  mlcl__pcg_uniform-value >= p,
 * for p in [0, 1]. */
static inline uint32_t mlcl__pcg_threshold(float p)
{
    double t = ceil((double)p * 16777216.0);
    return t <= 0.0 ? 0u : t >= 16777216.0 ? 16777216u : (uint32_t)t;
}
/* Moves r forward by delta draws in O(log delta): s -> a^d s + c (a^{d-1} + ...
 * + 1), by squaring the affine map (Brown, "Random number generation with
 * arbitrary strides"); the dropout streams of data-parallel shares and the
 * masks of CSR rows skip the draws of rows or columns they do not hold. */
static inline void mlcl__pcg_advance(mlcl__pcg *r, uint64_t delta)
{
    uint64_t am = 1, ap = 0, cm = PCGFILL_MULT, cp = r->inc;
    while (delta) {
        if (delta & 1u) {
            am *= cm;
            ap = ap * cm + cp;
        }
        cp = (cm + 1) * cp;
        cm *= cm;
        delta >>= 1;
    }
    r->state = am * r->state + ap;
}

#endif
