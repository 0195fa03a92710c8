/* PCG-XSH-RR 64/32 (O'Neill 2014): small state, same stream everywhere. */
#include <string.h>
#include "internal.h"

#define PCG_MULT 6364136223846793005ULL

uint32_t mlcl__pcg_u32(mlcl__pcg *r)
{
    uint64_t old = r->state;
    r->state = old * PCG_MULT + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

void mlcl__pcg_seed(mlcl__pcg *r, uint64_t seed, uint64_t stream)
{
    r->state = 0u;
    r->inc = (stream << 1u) | 1u;
    (void)mlcl__pcg_u32(r);
    r->state += seed;
    (void)mlcl__pcg_u32(r);
}

uint32_t mlcl__pcg_bounded(mlcl__pcg *r, uint32_t bound)
{
    if (bound <= 1) return 0;
    uint32_t threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        uint32_t v = mlcl__pcg_u32(r);
        if (v >= threshold) return v % bound;
    }
}

/* Box-Muller in double, so the stream of normals is platform independent
 * up to libm's log/cos/sin rounding. */
float mlcl__pcg_normal(mlcl__pcg *r)
{
    double u1 = ((double)(mlcl__pcg_u32(r) >> 8) + 1.0) / 16777217.0;
    double u2 = (double)(mlcl__pcg_u32(r) >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void mlcl__pcg_permutation(mlcl__pcg *r, int *perm, int n)
{
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)mlcl__pcg_bounded(r, (uint32_t)(i + 1));
        int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
}

int mlcl_rng_create(mlcl_rng **out, uint64_t seed)
{
    MLCL_CHECK_NULL("mlcl_rng_create", out);
    *out = NULL;
    mlcl_rng *r = mlcl__malloc(sizeof *r);
    if (!r) return mlcl__err(MLCL_ENOMEM, "mlcl_rng_create: out of memory");
    mlcl__pcg_seed(&r->pcg, seed, 0x6d6c636cULL);
    *out = r;
    return MLCL_OK;
}

void mlcl_rng_free(mlcl_rng *rng) { mlcl__free(rng); }

int mlcl_rng_seed(mlcl_rng *rng, uint64_t seed)
{
    MLCL_CHECK_NULL("mlcl_rng_seed", rng);
    mlcl__pcg_seed(&rng->pcg, seed, 0x6d6c636cULL);
    return MLCL_OK;
}

int mlcl_rng_u32(mlcl_rng *rng, uint32_t *out, size_t n)
{
    MLCL_CHECK_NULL("mlcl_rng_u32", rng);
    if (n && !out) return mlcl__err(MLCL_EINVAL, "mlcl_rng_u32: out is NULL");
    for (size_t i = 0; i < n; i++) out[i] = mlcl__pcg_u32(&rng->pcg);
    return MLCL_OK;
}

int mlcl_rng_uniform(mlcl_rng *rng, float *out, size_t n)
{
    MLCL_CHECK_NULL("mlcl_rng_uniform", rng);
    if (n && !out) return mlcl__err(MLCL_EINVAL, "mlcl_rng_uniform: out is NULL");
    for (size_t i = 0; i < n; i++) out[i] = mlcl__pcg_uniform(&rng->pcg);
    return MLCL_OK;
}

int mlcl_rng_normal(mlcl_rng *rng, float *out, size_t n, float stddev)
{
    MLCL_CHECK_NULL("mlcl_rng_normal", rng);
    if (n && !out) return mlcl__err(MLCL_EINVAL, "mlcl_rng_normal: out is NULL");
    if (!isfinite(stddev)) return mlcl__err(MLCL_EINVAL, "mlcl_rng_normal: stddev is not finite");
    for (size_t i = 0; i < n; i++) out[i] = stddev * mlcl__pcg_normal(&rng->pcg);
    return MLCL_OK;
}

int mlcl_rng_get_state(const mlcl_rng *rng, uint64_t state[2])
{
    MLCL_CHECK_NULL("mlcl_rng_get_state", rng);
    MLCL_CHECK_NULL("mlcl_rng_get_state", state);
    state[0] = rng->pcg.state;
    state[1] = rng->pcg.inc;
    return MLCL_OK;
}

int mlcl_rng_set_state(mlcl_rng *rng, const uint64_t state[2])
{
    MLCL_CHECK_NULL("mlcl_rng_set_state", rng);
    MLCL_CHECK_NULL("mlcl_rng_set_state", state);
    if ((state[1] & 1u) == 0)
        return mlcl__err(MLCL_EINVAL, "mlcl_rng_set_state: state[1] (increment) must be odd");
    rng->pcg.state = state[0];
    rng->pcg.inc = state[1];
    return MLCL_OK;
}
