/* Small vector kernels shared by the hot loops (see vec.h). */
#include "vec.h"
#include "pcgfill.h"

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

/* ------------------------------------------------------------ PCG draws */

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#include <immintrin.h>
#include <pthread.h>
/* mlcl__pcg_fill_base's interleaved lanes, 32 of them in four AVX-512
 * vectors: lane j holds s_{t+j}, each advanced by 32 steps at once
 * (s' = A s + C, a 64-bit multiply per lane: AVX-512DQ; four independent
 * chains hide its latency); the output permutation per lane is
 * mlcl__pcg_out's: (((s >> 18) ^ s) >> 27) truncated to 32 bits, rotated
 * right by s >> 59. Integer operations only: the same draws in the same
 * order. */
#define PCG_WIDE 32
/* the outputs of two vectors of lanes (a's eight, then b's) as 16 32-bit
 * values: the 64-bit values' low halves gathered by one permute */
__attribute__((target("avx512f,avx512dq,avx512vl"))) static inline __m512i pcg_out16(__m512i a, __m512i b)
{
    const __m512i lo = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __m512i xa = _mm512_srli_epi64(_mm512_xor_si512(_mm512_srli_epi64(a, 18), a), 27);
    __m512i xb = _mm512_srli_epi64(_mm512_xor_si512(_mm512_srli_epi64(b, 18), b), 27);
    __m512i xs = _mm512_permutex2var_epi32(xa, lo, xb);
    __m512i rot = _mm512_permutex2var_epi32(_mm512_srli_epi64(a, 59), lo, _mm512_srli_epi64(b, 59));
    return _mm512_rorv_epi32(xs, rot);
}

/* a^j and c_j = 1 + a + ... + a^(j-1) (mod 2^64) for j = 0..PCG_WIDE: state
 * s_{t+j} = a^j s_t + c_j inc, so the lanes start from s_t in one step */
static uint64_t pcg_aj[PCG_WIDE + 1], pcg_cj[PCG_WIDE + 1];
static int pcg_avx512; /* mlcl__cpu_avx512(), found with the tables */
static pthread_once_t pcg_once = PTHREAD_ONCE_INIT;

static void pcg_wide_init(void)
{
    uint64_t a = 1, c = 0;
    for (int j = 0; j <= PCG_WIDE; j++) {
        pcg_aj[j] = a;
        pcg_cj[j] = c;
        c = c * PCGFILL_MULT + 1;
        a *= PCGFILL_MULT;
    }
    __builtin_cpu_init();
    pcg_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512vl");
}

__attribute__((target("avx512f,avx512dq,avx512vl"))) static void pcg_fill_avx512(mlcl__pcg *r, uint32_t *out, size_t n)
{
    const __m512i st = _mm512_set1_epi64((long long)r->state), inc = _mm512_set1_epi64((long long)r->inc);
    __m512i S[4];
    for (int v = 0; v < 4; v++)
        S[v] = _mm512_add_epi64(_mm512_mullo_epi64(_mm512_loadu_si512((const void *)(pcg_aj + 8 * v)), st),
                                _mm512_mullo_epi64(_mm512_loadu_si512((const void *)(pcg_cj + 8 * v)), inc));
    const __m512i VA = _mm512_set1_epi64((long long)pcg_aj[PCG_WIDE]);
    const __m512i VC = _mm512_set1_epi64((long long)(pcg_cj[PCG_WIDE] * r->inc));
    size_t k = 0;
    for (; k + PCG_WIDE <= n; k += PCG_WIDE) {
        _mm512_storeu_si512((void *)(out + k), pcg_out16(S[0], S[1]));
        _mm512_storeu_si512((void *)(out + k + 16), pcg_out16(S[2], S[3]));
        for (int v = 0; v < 4; v++) S[v] = _mm512_add_epi64(_mm512_mullo_epi64(S[v], VA), VC);
    }
    /* the state after the k draws: lane 0 of S[0] */
    r->state = (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(S[0]));
    for (; k < n; k++) {
        uint64_t old = r->state;
        r->state = old * PCGFILL_MULT + r->inc;
        out[k] = mlcl__pcg_out(old);
    }
}

int mlcl__cpu_avx512(void)
{
    pthread_once(&pcg_once, pcg_wide_init);
    return pcg_avx512;
}

void mlcl__pcg_fill_wide(mlcl__pcg *r, uint32_t *out, size_t n)
{
    if (mlcl__cpu_avx512() && n >= 2 * PCG_WIDE) pcg_fill_avx512(r, out, n);
    else mlcl__pcg_fill_base(r, out, n);
}
#else
int mlcl__cpu_avx512(void) { return 0; }
void mlcl__pcg_fill_wide(mlcl__pcg *r, uint32_t *out, size_t n) { mlcl__pcg_fill_base(r, out, n); }
#endif
