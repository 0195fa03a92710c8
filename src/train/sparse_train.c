/* The trainer on a sparse (CSR) training set: batches gathered as CSR rows,
 * mask views drawn with the dense path's draws (mlcl__csr_mask_rows), the
 * MoCo step and fine-tuning through the backbone's sparse first layer
 * (mlcl_encoder_forward_csr). Kept apart from trainer.c, which calls in. */
#include <string.h>
#include <zlib.h>
#include "mlcl/ops.h"
#include "train/trainer_internal.h"
#include "cl/moco_lib.h"
#include "data/sparse_lib.h"

int mlcl__trainer_sparse_setup(mlcl_trainer *t, const mlcl_dataset *train, const char *fn)
{
    const mlcl_train_options *o = &t->o;
    if (o->standardize)
        return mlcl__err(MLCL_EINVAL, "%s: the training set is sparse (CSR): standardisation would centre it "
                         "(dense); set opts->standardize = 0", fn);
    int64_t nnz;
    const int64_t *ptr;
    const int *col;
    const float *val;
    MLCL_TRY(mlcl_dataset_csr(train, &ptr, &col, &val, &nnz));
    /* copies: the dataset may be freed after create */
    MLCL_TRY(mlcl__alloc_array((void **)&t->sp_ptr, (size_t)t->n + 1, sizeof *t->sp_ptr, fn));
    MLCL_TRY(mlcl__alloc_array((void **)&t->sp_col, (size_t)nnz + 1, sizeof *t->sp_col, fn));
    MLCL_TRY(mlcl__alloc_array((void **)&t->sp_val, (size_t)nnz + 1, sizeof *t->sp_val, fn));
    memcpy(t->sp_ptr, ptr, ((size_t)t->n + 1) * sizeof *t->sp_ptr);
    memcpy(t->sp_col, col, (size_t)nnz * sizeof *t->sp_col);
    memcpy(t->sp_val, val, (size_t)nnz * sizeof *t->sp_val);
    int64_t longest = 1;
    for (int i = 0; i < t->n; i++)
        if (t->sp_ptr[i + 1] - t->sp_ptr[i] > longest) longest = t->sp_ptr[i + 1] - t->sp_ptr[i];
    size_t B = (size_t)t->batch, cap;
    if (mlcl__mul_size(B, (size_t)longest, &cap))
        return mlcl__err(MLCL_EOVERFLOW, "%s: batch %d x %lld entries overflow", fn, t->batch, (long long)longest);
    t->sb_cap = cap;
    MLCL_TRY(mlcl__alloc_array((void **)&t->sb_ptr, B + 1, sizeof *t->sb_ptr, fn));
    MLCL_TRY(mlcl__alloc_array((void **)&t->sb_col, cap, sizeof *t->sb_col, fn));
    MLCL_TRY(mlcl__alloc_array((void **)&t->sb_vr, cap, sizeof *t->sb_vr, fn));
    MLCL_TRY(mlcl__alloc_array((void **)&t->sb_v0, cap, sizeof *t->sb_v0, fn));
    MLCL_TRY(mlcl__alloc_array((void **)&t->sb_v1, cap, sizeof *t->sb_v1, fn));
    /* dense inference (mlcl_trainer_predict) in chunks of at most ~4 MB */
    int ch = (int)((size_t)1 << 20) / t->d;
    t->in_chunk = ch < 1 ? 1 : ch > t->batch ? t->batch : ch;
    return MLCL_OK;
}

void mlcl__trainer_sparse_free(mlcl_trainer *t)
{
    mlcl__free(t->sp_ptr); mlcl__free(t->sp_col); mlcl__free(t->sp_val);
    mlcl__free(t->sb_ptr); mlcl__free(t->sb_col);
    mlcl__free(t->sb_vr); mlcl__free(t->sb_v0); mlcl__free(t->sb_v1);
}

static uint32_t csr_crc(int n, int c, const int64_t *ptr, const int *col, const float *val, const uint8_t *y)
{
    size_t nnz = (size_t)ptr[n];
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    crc = mlcl__crc32_bytes(crc, ptr, ((size_t)n + 1) * sizeof *ptr);
    crc = mlcl__crc32_bytes(crc, col, nnz * sizeof *col);
    crc = mlcl__crc32_bytes(crc, val, nnz * sizeof *val);
    return mlcl__crc32_bytes(crc, y, (size_t)n * (size_t)c);
}

uint32_t mlcl__trainer_sparse_crc(const mlcl_trainer *t)
{
    return csr_crc(t->n, t->c, t->sp_ptr, t->sp_col, t->sp_val, t->y);
}

uint32_t mlcl__dataset_csr_crc(const mlcl_dataset *ds)
{
    int n, d, c;
    const int64_t *ptr;
    const int *col;
    const float *val;
    if (mlcl_dataset_dims(ds, &n, &d, &c) != MLCL_OK || mlcl_dataset_csr(ds, &ptr, &col, &val, NULL) != MLCL_OK)
        return 0;
    return csr_crc(n, c, ptr, col, val, mlcl_dataset_labels(ds));
}

/* rows t->rows[0..k) as one CSR batch (raw values in sb_vr) */
static void gather_csr(mlcl_trainer *t, int k)
{
    int64_t q = 0;
    t->sb_ptr[0] = 0;
    for (int i = 0; i < k; i++) {
        int r = t->rows[i];
        int64_t a = t->sp_ptr[r], b = t->sp_ptr[r + 1];
        memcpy(t->sb_col + q, t->sp_col + a, (size_t)(b - a) * sizeof *t->sb_col);
        memcpy(t->sb_vr + q, t->sp_val + a, (size_t)(b - a) * sizeof *t->sb_vr);
        q += b - a;
        t->sb_ptr[i + 1] = q;
    }
}

/* the CSR batch: the backbone's sparse first layer on rows lo .. hi-1 */
static int forward_csr(mlcl_trainer *t, int lo, int hi)
{
    return mlcl_encoder_forward_csr(t->net[NET_ENC_Q], hi - lo, t->sb_ptr + lo, t->sb_col, t->sb_v0, t->h);
}

int mlcl__trainer_sparse_batch(mlcl_trainer *t, int k, double *loss_out, mlcl_loss_parts *lp)
{
    const char *fn = "mlcl_trainer_run";
    if (t->comm.size > 1)
        return mlcl__err(MLCL_EINVAL, "%s: a sparse (CSR) training set is not supported data-parallel", fn);
    const mlcl__phase *ph = &t->ph[t->phase == 1 ? 0 : 1];
    gather_csr(t, k);
    /* the dense order of draws: the query view of every row, then the key view */
    mlcl__csr_mask_rows(&t->rng, k, t->d, t->sb_ptr, t->sb_col, t->sb_vr, ph->mask_p, t->sb_v0);
    if (t->phase == 1) {
        mlcl__csr_mask_rows(&t->rng, k, t->d, t->sb_ptr, t->sb_col, t->sb_vr, ph->mask_p, t->sb_v1);
        for (int i = 0; i < k; i++)
            memcpy(t->yb + (size_t)i * t->words, t->yp + (size_t)t->rows[i] * t->words, sizeof(uint64_t) * t->words);
        int rc = mlcl__moco_step_csr(t->moco, k, t->sb_ptr, t->sb_col, t->sb_v0, t->sb_v1, t->yb, lp);
        if (rc == MLCL_ENUMERIC)
            return mlcl__err(rc, "pretraining epoch %d step %lld: %s", t->epoch, t->step, mlcl_last_error());
        *loss_out = lp->total;
        return rc;
    }
    return mlcl__trainer_finetune_step(t, k, forward_csr, loss_out, lp);
}

/* sigmoid scores of n CSR rows in chunks of the batch size, eval mode */
static int csr_scores(mlcl_trainer *t, int n, const int64_t *ptr, const int *col, const float *val, float *scores,
                      const char *fn)
{
    if (!t->sp_ptr && t->o.standardize)
        return mlcl__err(MLCL_EINVAL, "%s: the rows are sparse (CSR) but the trainer standardises dense rows "
                         "(centring): give dense rows", fn);
    const size_t c = (size_t)t->c;
    mlcl_encoder *enc = t->net[NET_ENC_Q], *ld = t->net[NET_LD];
    int tr_enc, tr_ld;
    mlcl_encoder_get_training(enc, &tr_enc);
    mlcl_encoder_get_training(ld, &tr_ld);
    mlcl_encoder_set_training(enc, 0);
    mlcl_encoder_set_training(ld, 0);
    int rc = MLCL_OK;
    for (int s = 0; s < n && rc == MLCL_OK; s += t->batch) {
        int k = n - s < t->batch ? n - s : t->batch;
        float *out = scores + (size_t)s * c;
        rc = mlcl_encoder_forward_csr(enc, k, ptr + s, col, val, t->h);
        if (rc != MLCL_OK) rc = mlcl__err(rc, "%s: rows %d..%d: %s", fn, s, s + k - 1, mlcl_last_error());
        if (rc == MLCL_OK) rc = mlcl_encoder_forward(ld, k, t->h, out);
        if (rc == MLCL_OK) rc = mlcl_sigmoid(out, out, (size_t)k * c);
    }
    mlcl_encoder_set_training(enc, tr_enc);
    mlcl_encoder_set_training(ld, tr_ld);
    return rc;
}

int mlcl__trainer_sparse_scores(mlcl_trainer *t, const mlcl_dataset *ds, float *scores, const char *fn)
{
    int n, d, c;
    const int64_t *ptr;
    const int *col;
    const float *val;
    MLCL_TRY(mlcl_dataset_dims(ds, &n, &d, &c));
    MLCL_TRY(mlcl_dataset_csr(ds, &ptr, &col, &val, NULL));
    return csr_scores(t, n, ptr, col, val, scores, fn);
}

int mlcl_trainer_predict_csr(mlcl_trainer *t, int n, const int64_t *row_ptr, const int *cols, const float *vals,
                             float *scores)
{
    static const char fn[] = "mlcl_trainer_predict_csr";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    if (n <= 0) return mlcl__err(MLCL_EINVAL, "%s: n must be > 0 (got %d)", fn, n);
    MLCL_CHECK_NULL(fn, row_ptr);
    MLCL_CHECK_NULL(fn, scores);
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 1, &held, fn));
    int rc = csr_scores(t, n, row_ptr, cols, vals, scores, fn);
    mlcl__trainer_leave(t, held);
    return rc;
}
