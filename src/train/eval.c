/* Inference, prediction and evaluation with the trainer's networks. */
#include <math.h>
#include <string.h>
#include "mlcl/ops.h"
#include "mlcl/train.h"
#include "train/trainer_internal.h"
#include "nn/nn_lib.h"


/* Sigmoid scores of a dataset's rows, dense or sparse (CSR). */
int mlcl__trainer_infer_set(mlcl_trainer *t, const mlcl_dataset *ds, int n, float *out, const char *fn)
{
    const float *x = mlcl_dataset_features(ds);
    return x ? mlcl__trainer_infer(t, n, x, out, 0, fn) : mlcl__trainer_sparse_scores(t, ds, out, fn);
}

int mlcl__trainer_infer(mlcl_trainer *t, int n, const float *x, float *out, int dists, const char *fn)
{
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    MLCL_CHECK_NULL(fn, x);
    MLCL_CHECK_NULL_AS(fn, out, dists ? "dists" : "scores");
    if (n <= 0) return mlcl__err(MLCL_EINVAL, "%s: n must be > 0 (got %d)", fn, n);
    mlcl_encoder *enc = t->net[NET_ENC_Q], *ld = t->net[NET_LD];
    int tr_enc, tr_ld;
    mlcl_encoder_get_training(enc, &tr_enc);
    mlcl_encoder_get_training(ld, &tr_ld);
    mlcl_encoder_set_training(enc, 0);
    mlcl_encoder_set_training(ld, 0);
    int rc = MLCL_OK;
    size_t d = (size_t)t->d, c = (size_t)t->c;
    const int chunk = t->sp_ptr ? t->in_chunk : t->batch; /* (x0's rows) */
    for (int s = 0; s < n && rc == MLCL_OK; s += chunk) {
        int k = n - s < chunk ? n - s : chunk;
        if (t->img) {
            if (!mlcl__all_finite(x + (size_t)s * d, (size_t)k * d)) { rc = mlcl__err(MLCL_ENUMERIC, "%s: x has NaN or Inf in rows %d..%d", fn, s, s + k - 1); break; }
            if (t->oh != t->ih || t->ow != t->iw)
                rc = mlcl_image_resize(t->x0, t->oh, t->ow, x + (size_t)s * d, k, t->ic, t->ih, t->iw);
            else
                memcpy(t->x0, x + (size_t)s * d, (size_t)k * d * sizeof(float));
            if (rc != MLCL_OK) break;
            if (t->stream) /* the loaders' normalisation (d = dn here) */
                for (int i = 0; i < k; i++)
                    for (size_t j = 0; j < d; j++) t->x0[i * d + j] = (t->x0[i * d + j] - t->mean[j]) / t->std[j];
        } else {
        for (int i = 0; i < k; i++)
            for (size_t j = 0; j < d; j++) t->x0[i * d + j] = (x[(size_t)(s + i) * d + j] - t->mean[j]) / t->std[j];
        if (!mlcl__all_finite(t->x0, (size_t)k * d)) { rc = mlcl__err(MLCL_ENUMERIC, "%s: x has NaN or Inf in rows %d..%d", fn, s, s + k - 1); break; }
        }
        mlcl__encoder_set_split(enc, 1); /* (this thread is no fork-join task) */
        rc = mlcl_encoder_forward(enc, k, t->x0, t->h);
        mlcl__encoder_set_split(enc, 0);
        if (rc == MLCL_OK) rc = mlcl_encoder_forward(ld, k, t->h, out + (size_t)s * c);
        if (rc == MLCL_OK)
            rc = dists ? mlcl_softmax_forward(out + (size_t)s * c, out + (size_t)s * c, k, (int)c)
                       : mlcl_sigmoid(out + (size_t)s * c, out + (size_t)s * c, (size_t)k * c);
    }
    mlcl_encoder_set_training(enc, tr_enc);
    mlcl_encoder_set_training(ld, tr_ld);
    return rc;
}

static int infer_guarded(mlcl_trainer *t, int n, const float *x, float *out, int dists, const char *fn)
{
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 1, &held, fn));
    int rc = mlcl__trainer_infer(t, n, x, out, dists, fn);
    mlcl__trainer_leave(t, held);
    return rc;
}

int mlcl_trainer_predict(mlcl_trainer *t, int n, const float *x, float *scores)
{
    return infer_guarded(t, n, x, scores, 0, "mlcl_trainer_predict");
}

int mlcl_trainer_distributions(mlcl_trainer *t, int n, const float *x, float *dists)
{
    return infer_guarded(t, n, x, dists, 1, "mlcl_trainer_distributions");
}

int mlcl_trainer_evaluate(mlcl_trainer *t, const mlcl_dataset *test, mlcl_metrics *paper, mlcl_metrics *t05)
{
    const char *fn = "mlcl_trainer_evaluate";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    MLCL_CHECK_NULL(fn, test);
    /* the caller's structs say which version they are (never overwritten) */
    if (paper) MLCL_CHECK_VERSION(fn, paper, MLCL_METRICS_VERSION);
    if (t05) MLCL_CHECK_VERSION(fn, t05, MLCL_METRICS_VERSION);
    int n, d, c;
    MLCL_TRY(mlcl_dataset_dims(test, &n, &d, &c));
    if (d != t->d || c != t->c)
        return mlcl__err(MLCL_EINVAL, "%s: test has %d features and %d labels, the trainer %d and %d", fn, d, c, t->d, t->c);
    float *scores;
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 1, &held, fn));
    int rc = mlcl__alloc_array((void **)&scores, (size_t)n * c, sizeof(float), fn);
    if (rc != MLCL_OK) { mlcl__trainer_leave(t, held); return rc; }
    rc = mlcl__trainer_infer_set(t, test, n, scores, fn);
    if (rc == MLCL_OK && paper) {
        rc = mlcl_metrics_sweep(paper, NULL, n, c, scores, mlcl_dataset_labels(test));
    }
    if (rc == MLCL_OK && t05) {
        rc = mlcl_metrics_compute(t05, n, c, scores, mlcl_dataset_labels(test), 0.5f);
    }
    mlcl__free(scores);
    mlcl__trainer_leave(t, held);
    return rc;
}

int mlcl_trainer_evaluate_thresholds(mlcl_trainer *t, const mlcl_dataset *test, mlcl_metrics *per_label,
                                     mlcl_metrics *global)
{
    const char *fn = "mlcl_trainer_evaluate_thresholds";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    MLCL_CHECK_NULL(fn, test);
    if (!per_label && !global) return mlcl__err(MLCL_EINVAL, "%s: per_label and global are both NULL", fn);
    if (per_label) MLCL_CHECK_VERSION(fn, per_label, MLCL_METRICS_VERSION);
    if (global) MLCL_CHECK_VERSION(fn, global, MLCL_METRICS_VERSION);
    MLCL_TRY(mlcl_trainer_thresholds(t, t->c, NULL, NULL));
    int n, d, c;
    MLCL_TRY(mlcl_dataset_dims(test, &n, &d, &c));
    if (d != t->d || c != t->c)
        return mlcl__err(MLCL_EINVAL, "%s: test has %d features and %d labels, the trainer %d and %d", fn, d, c, t->d, t->c);
    float *scores;
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 1, &held, fn));
    int rc = mlcl__alloc_array((void **)&scores, (size_t)n * c, sizeof(float), fn);
    if (rc == MLCL_OK) {
        const uint8_t *y = mlcl_dataset_labels(test);
        rc = mlcl__trainer_infer_set(t, test, n, scores, fn);
        if (rc == MLCL_OK && per_label) rc = mlcl_metrics_compute_thresholds(per_label, n, c, scores, y, t->thr);
        if (rc == MLCL_OK && global) rc = mlcl_metrics_compute(global, n, c, scores, y, t->thr_global);
        mlcl__free(scores);
    }
    mlcl__trainer_leave(t, held);
    return rc;
}
