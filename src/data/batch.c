/* Seeded epoch-wise mini-batches and the masking augmentation. */
#include <string.h>
#include "data/data_internal.h"
#include "kernels/pcgfill.h"

#define BATCHER_STREAM 0x6261746368ULL /* "batch" */

struct mlcl_batcher {
    int n, bs, drop_last;
    int limit;       /* rows served per epoch */
    int epoch;       /* completed epochs */
    int pos;         /* next position in perm */
    int started;     /* perm holds the current epoch's order */
    mlcl__pcg pcg;   /* live generator */
    mlcl__pcg base;  /* generator state before the current epoch's permutation */
    int *perm;
};

int mlcl_batcher_create(mlcl_batcher **out, int n_rows, int batch_size, int drop_last, uint64_t seed)
{
    static const char fn[] = "mlcl_batcher_create";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_POS(fn, n_rows);
    MLCL_CHECK_POS(fn, batch_size);
    if (drop_last && batch_size > n_rows)
        return mlcl__err(MLCL_EINVAL, "%s: with drop_last, batch_size %d must be <= n_rows %d", fn, batch_size, n_rows);
    mlcl_batcher *b = mlcl__calloc(1, sizeof *b);
    if (!b) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    int rc = mlcl__alloc_array((void **)&b->perm, (size_t)n_rows, sizeof *b->perm, fn);
    if (rc < 0) { mlcl__free(b); return rc; }
    b->n = n_rows;
    b->bs = batch_size;
    b->drop_last = drop_last != 0;
    b->limit = b->drop_last ? n_rows / batch_size * batch_size : n_rows;
    mlcl__pcg_seed(&b->pcg, seed, BATCHER_STREAM);
    *out = b;
    return MLCL_OK;
}

void mlcl_batcher_free(mlcl_batcher *b)
{
    if (!b) return;
    mlcl__free(b->perm);
    mlcl__free(b);
}

int mlcl_batcher_next(mlcl_batcher *b, const int **rows, int *count)
{
    static const char fn[] = "mlcl_batcher_next";
    MLCL_CHECK_NULL(fn, b);
    MLCL_CHECK_NULL(fn, rows);
    MLCL_CHECK_NULL(fn, count);
    if (!b->started) {
        b->base = b->pcg;
        mlcl__pcg_permutation(&b->pcg, b->perm, b->n);
        b->pos = 0;
        b->started = 1;
    }
    if (b->pos >= b->limit) {
        b->started = 0;
        b->epoch++;
        *rows = NULL;
        *count = 0;
        return MLCL_OK;
    }
    int k = b->limit - b->pos < b->bs ? b->limit - b->pos : b->bs;
    *rows = b->perm + b->pos;
    *count = k;
    b->pos += k;
    return MLCL_OK;
}

int mlcl_batcher_epoch(const mlcl_batcher *b, int *epoch)
{
    MLCL_CHECK_NULL("mlcl_batcher_epoch", b);
    MLCL_CHECK_NULL("mlcl_batcher_epoch", epoch);
    *epoch = b->epoch;
    return MLCL_OK;
}

int mlcl_batcher_batches_per_epoch(const mlcl_batcher *b, int *batches)
{
    MLCL_CHECK_NULL("mlcl_batcher_batches_per_epoch", b);
    MLCL_CHECK_NULL("mlcl_batcher_batches_per_epoch", batches);
    *batches = (b->limit + b->bs - 1) / b->bs;
    return MLCL_OK;
}

/* state: [0] generator state before the current epoch's permutation, [1] its
 * increment, [2] completed epochs, [3] position, [4] started flag, [5] n_rows
 * | batch_size << 32. */
int mlcl_batcher_get_state(const mlcl_batcher *b, uint64_t state[MLCL_BATCHER_STATE_WORDS])
{
    MLCL_CHECK_NULL("mlcl_batcher_get_state", b);
    MLCL_CHECK_NULL("mlcl_batcher_get_state", state);
    const mlcl__pcg *g = b->started ? &b->base : &b->pcg;
    state[0] = g->state;
    state[1] = g->inc;
    state[2] = (uint64_t)b->epoch;
    state[3] = b->started ? (uint64_t)b->pos : 0;
    state[4] = (uint64_t)b->started;
    state[5] = (uint64_t)(uint32_t)b->n | (uint64_t)(uint32_t)b->bs << 32;
    return MLCL_OK;
}

int mlcl_batcher_set_state(mlcl_batcher *b, const uint64_t state[MLCL_BATCHER_STATE_WORDS])
{
    static const char fn[] = "mlcl_batcher_set_state";
    MLCL_CHECK_NULL(fn, b);
    MLCL_CHECK_NULL(fn, state);
    uint64_t shape = (uint64_t)(uint32_t)b->n | (uint64_t)(uint32_t)b->bs << 32;
    if (state[5] != shape)
        return mlcl__err(MLCL_EINVAL, "%s: state is of a batcher with n_rows %u, batch_size %u (this one: %d, %d)",
                         fn, (unsigned)(uint32_t)state[5], (unsigned)(state[5] >> 32), b->n, b->bs);
    if ((state[1] & 1u) == 0 || state[2] > (uint64_t)INT32_MAX || state[4] > 1 ||
        state[3] > (uint64_t)b->limit || (state[4] == 0 && state[3] != 0))
        return mlcl__err(MLCL_EINVAL, "%s: state is corrupt", fn);
    b->pcg.state = state[0];
    b->pcg.inc = state[1];
    b->epoch = (int)state[2];
    b->started = (int)state[4];
    b->pos = 0;
    if (b->started) {
        /* regenerate the current epoch's order from the saved generator */
        b->base = b->pcg;
        mlcl__pcg_permutation(&b->pcg, b->perm, b->n);
        b->pos = (int)state[3];
    }
    return MLCL_OK;
}

int mlcl_augment_mask(float *out, const float *x, int n, int d, float p, mlcl_rng *rng)
{
    static const char fn[] = "mlcl_augment_mask";
    MLCL_CHECK_NULL(fn, rng);
    if (n < 0 || d < 0) return mlcl__err(MLCL_EINVAL, "%s: n and d must be >= 0 (got %d, %d)", fn, n, d);
    if (!(p >= 0.0f && p <= 1.0f)) return mlcl__err(MLCL_EINVAL, "%s: p must be in [0, 1] (got %g)", fn, (double)p);
    size_t total;
    if (mlcl__mul_size((size_t)n, (size_t)d, &total)) return mlcl__err(MLCL_EOVERFLOW, "%s: n x d overflows", fn);
    if (total && (!x || !out)) return mlcl__err(MLCL_EINVAL, "%s: %s is NULL", fn, x ? "out" : "x");
    /* u < p with u uniform on the 2^24 grid of [0, 1): P(masked) = p up to 2^-24 */
    uint32_t thr = mlcl__pcg_threshold(p), u[PCGFILL_CHUNK]; /* u < p on integers */
    for (size_t k0 = 0; k0 < total; k0 += PCGFILL_CHUNK) {
        size_t m = total - k0 < PCGFILL_CHUNK ? total - k0 : PCGFILL_CHUNK;
        mlcl__pcg_fill(&rng->pcg, u, m);
        for (size_t k = 0; k < m; k++) out[k0 + k] = (u[k] >> 8) < thr ? 0.0f : x[k0 + k];
    }
    return MLCL_OK;
}
