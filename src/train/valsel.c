/* Validation: epoch selection, early stopping, thresholds. */
#include <math.h>
#include <string.h>
#include <zlib.h>
#include "mlcl/train.h"
#include "train/trainer_internal.h"

/* Copies the backbone and LD head (parameters, then BatchNorm statistics)
 * into t->snap, or back from it. */
static int snapshot_io(mlcl_trainer *t, int restore)
{
    mlcl_encoder *nets[2] = { t->net[NET_ENC_Q], t->net[NET_LD] };
    float *s = t->snap;
    for (int i = 0; i < 2; i++) {
        size_t np = t->snap_n[2 * i], ns = t->snap_n[2 * i + 1];
        if (restore) {
            MLCL_TRY(mlcl_encoder_set_params(nets[i], s, np));
            if (ns) MLCL_TRY(mlcl_encoder_set_state(nets[i], s + np, ns));
        } else {
            MLCL_TRY(mlcl_encoder_get_params(nets[i], s, np));
            if (ns) MLCL_TRY(mlcl_encoder_get_state(nets[i], s + np, ns));
        }
        s += np + ns;
    }
    return MLCL_OK;
}

int mlcl__trainer_selecting(const mlcl_trainer *t)
{
    return t->val && t->vo.select_metric != MLCL_SELECT_NONE;
}

/* The select metric of the current network on the validation rows. */
static int val_metric(mlcl_trainer *t, double *value, const char *fn)
{
    int c = t->c;
    MLCL_TRY(mlcl__trainer_infer_set(t, t->val, t->nv, t->vscores, fn));
    mlcl_metrics m = MLCL_METRICS_INIT;
    MLCL_TRY(mlcl_metrics_sweep(&m, NULL, t->nv, c, t->vscores, mlcl_dataset_labels(t->val)));
    switch (t->vo.select_metric) {
    case MLCL_METRIC_HA: *value = m.HA; break;
    case MLCL_METRIC_EBF1: *value = m.ebF1; break;
    case MLCL_METRIC_MIF1: *value = m.miF1; break;
    case MLCL_METRIC_MAF1: *value = m.maF1; break;
    case MLCL_METRIC_P_AT_1: *value = m.p_at_1; break;
    default: *value = m.mAP; break;
    }
    return MLCL_OK;
}

/* After fine-tuning epoch t->epoch: its validation value; a new best is copied. */
int mlcl__trainer_val_epoch_end(mlcl_trainer *t)
{
    const char *fn = "mlcl_trainer_run";
    if (mlcl__trainer_selecting(t)) {
        double v;
        int rc = val_metric(t, &v, fn);
        if (rc) return mlcl__err(rc, "fine-tuning epoch %d: validation: %s", t->epoch, mlcl_last_error());
        t->last_value = v;
        if (t->best_epoch < 0 || v > t->best_value) { /* NaN is never a new best */
            MLCL_TRY(snapshot_io(t, 0));
            t->best_epoch = t->epoch;
            t->best_value = v;
        }
    }
    t->vs_epochs = t->epoch + 1;
    return MLCL_OK;
}

/* Fine-tuning is over: the best epoch back, thresholds on validation. */
int mlcl__trainer_val_finish(mlcl_trainer *t)
{
    const char *fn = "mlcl_trainer_run";
    if (mlcl__trainer_selecting(t) && t->best_epoch >= 0) MLCL_TRY(snapshot_io(t, 1));
    if (t->vo.thresholds) {
        int rc = mlcl__trainer_infer_set(t, t->val, t->nv, t->vscores, fn);
        if (rc == MLCL_OK)
            rc = mlcl_metrics_choose_thresholds(t->thr, &t->thr_global, NULL, t->nv, t->c, t->vscores,
                                                mlcl_dataset_labels(t->val));
        if (rc) return mlcl__err(rc, "end of fine-tuning: choosing thresholds on validation: %s", mlcl_last_error());
        for (int j = 0; j < t->c; j++) /* sigmoid scores: already in [0, 1]; kept there for the model */
            t->thr[j] = t->thr[j] < 0 ? 0.0f : t->thr[j] > 1 ? 1.0f : t->thr[j];
        t->thr_global = t->thr_global < 0 ? 0.0f : t->thr_global > 1 ? 1.0f : t->thr_global;
        if (t->vo.thresholds == MLCL_THRESHOLDS_GLOBAL)
            for (int j = 0; j < t->c; j++) t->thr[j] = t->thr_global;
        t->thr_ready = 1;
    }
    return MLCL_OK;
}


/* ------------------------------------------------------------ validation */

int mlcl_validation_options_init(mlcl_validation_options *opts, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_validation_options_init", opts, version, MLCL_VALIDATION_OPTIONS_VERSION, mlcl_validation_options, MLCL_VALIDATION_OPTIONS_INIT);
}

static int set_validation_inner(mlcl_trainer *t, const mlcl_dataset *val, const mlcl_validation_options *vo,
                                const char *fn)
{
    if (t->phase == 3 || (t->phase == 2 && (t->epoch > 0 || t->pos >= 0 || t->step > 0)))
        return mlcl__err(MLCL_EINVAL, "%s: fine-tuning has started (phase %d, epoch %d): the validation set must be "
                         "given before (and before mlcl_trainer_load() of a run that had one)", fn, t->phase, t->epoch);
    float *vs = NULL, *snap = NULL, *thr = NULL;
    mlcl_dataset *copy = NULL;
    size_t sn[4] = { 0, 0, 0, 0 };
    int nv = 0;
    uint32_t crc = 0;
    if (val) {
        int d, c;
        MLCL_TRY(mlcl_dataset_dims(val, &nv, &d, &c));
        int vsp = 0;
        MLCL_TRY(mlcl_dataset_is_sparse(val, &vsp));
        if (vsp && !t->sp_ptr && t->o.standardize)
            return mlcl__err(MLCL_EINVAL, "%s: val is sparse (CSR) but the trainer standardises dense rows (centring): "
                             "give dense rows", fn);
        if (d != t->d || c != t->c)
            return mlcl__err(MLCL_EINVAL, "%s: val has %d features and %d labels, the training set %d and %d", fn, d, c,
                             t->d, t->c);
        if (nv < 1) return mlcl__err(MLCL_EINVAL, "%s: val has no rows", fn);
        const float *x = mlcl_dataset_features(val); /* (NULL: CSR, whose values were checked when made) */
        if (x && !mlcl__all_finite(x, (size_t)nv * d))
            return mlcl__err(MLCL_ENUMERIC, "%s: the validation features contain NaN or Inf", fn);
        crc = !x ? mlcl__dataset_csr_crc(val)
                 : mlcl__crc32_bytes(mlcl__crc32_bytes((uint32_t)crc32(0L, Z_NULL, 0), x, (size_t)nv * d * sizeof(float)),
                             mlcl_dataset_labels(val), (size_t)nv * c);
        mlcl_encoder *nets[2] = { t->net[NET_ENC_Q], t->net[NET_LD] };
        for (int i = 0; i < 2; i++) {
            MLCL_TRY(mlcl_encoder_param_count(nets[i], &sn[2 * i]));
            MLCL_TRY(mlcl_encoder_state_count(nets[i], &sn[2 * i + 1]));
        }
        int rc = mlcl__alloc_array((void **)&vs, (size_t)nv * c, sizeof(float), fn);
        if (rc == MLCL_OK) rc = mlcl__alloc_array((void **)&thr, (size_t)c, sizeof(float), fn);
        if (rc == MLCL_OK && vo->select_metric != MLCL_SELECT_NONE)
            rc = mlcl__alloc_array((void **)&snap, sn[0] + sn[1] + sn[2] + sn[3] + 1, sizeof(float), fn);
        /* the trainer's own copy: val may be freed after this call */
        int *rows = NULL;
        if (rc == MLCL_OK) rc = mlcl__alloc_array((void **)&rows, (size_t)nv, sizeof(int), fn);
        if (rc == MLCL_OK) {
            for (int i = 0; i < nv; i++) rows[i] = i;
            rc = mlcl_dataset_subset(&copy, val, rows, nv);
        }
        mlcl__free(rows);
        if (rc != MLCL_OK) { mlcl__free(vs); mlcl__free(thr); mlcl__free(snap); return rc; }
    }
    mlcl__free(t->vscores); mlcl__free(t->snap); mlcl__free(t->thr);
    mlcl_dataset_free(t->val);
    t->vscores = vs; t->snap = snap; t->thr = thr;
    memcpy(t->snap_n, sn, sizeof sn);
    t->val = copy;
    t->nv = nv;
    t->val_crc = crc;
    t->vo = *vo;
    t->best_epoch = -1;
    t->best_value = t->last_value = NAN;
    t->vs_epochs = 0;
    t->thr_ready = 0;
    t->thr_global = 0.5f;
    return MLCL_OK;
}

int mlcl_trainer_set_validation(mlcl_trainer *t, const mlcl_dataset *val, const mlcl_validation_options *opts)
{
    static const char fn[] = "mlcl_trainer_set_validation";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    mlcl_validation_options vo = MLCL_VALIDATION_OPTIONS_INIT;
    if (opts) {
        MLCL_CHECK_VERSION(fn, opts, MLCL_VALIDATION_OPTIONS_VERSION);
        vo = *opts;
    }
    if (vo.select_metric < MLCL_SELECT_NONE || vo.select_metric > MLCL_METRIC_MAP)
        return mlcl__err(MLCL_EINVAL, "%s: opts->select_metric %d is not MLCL_SELECT_NONE or an MLCL_METRIC_* (0..5)", fn,
                         vo.select_metric);
    if (vo.patience < 0) return mlcl__err(MLCL_EINVAL, "%s: opts->patience must be >= 0 (got %d)", fn, vo.patience);
    if (vo.patience > 0 && vo.select_metric == MLCL_SELECT_NONE)
        return mlcl__err(MLCL_EINVAL, "%s: opts->patience %d needs opts->select_metric (the metric that must improve)", fn,
                         vo.patience);
    if (vo.thresholds < MLCL_THRESHOLDS_NONE || vo.thresholds > MLCL_THRESHOLDS_GLOBAL)
        return mlcl__err(MLCL_EINVAL, "%s: opts->thresholds must be MLCL_THRESHOLDS_NONE, _PER_LABEL or _GLOBAL (0..2; got %d)",
                         fn, vo.thresholds);
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 0, &held, fn));
    int rc = set_validation_inner(t, val, &vo, fn);
    mlcl__trainer_leave(t, held);
    return rc;
}

int mlcl_trainer_selection(const mlcl_trainer *t, int *best_epoch, double *best_value, double *last_value,
                           int *epochs_run)
{
    static const char fn[] = "mlcl_trainer_selection";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    if (!t->val) return mlcl__err(MLCL_EINVAL, "%s: the trainer has no validation set (mlcl_trainer_set_validation)", fn);
    if (best_epoch) *best_epoch = t->best_epoch;
    if (best_value) *best_value = t->best_value;
    if (last_value) *last_value = t->last_value;
    if (epochs_run) *epochs_run = t->vs_epochs;
    return MLCL_OK;
}

int mlcl_trainer_thresholds(const mlcl_trainer *t, int c, float *per_label, float *global)
{
    static const char fn[] = "mlcl_trainer_thresholds";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    if (c != t->c) return mlcl__err(MLCL_EINVAL, "%s: c is %d, the trainer has %d labels", fn, c, t->c);
    if (!t->thr_ready)
        return mlcl__err(MLCL_EINVAL, "%s: no thresholds were chosen (%s)", fn,
                         !t->val ? "no validation set: mlcl_trainer_set_validation" :
                         !t->vo.thresholds ? "the validation options have thresholds = MLCL_THRESHOLDS_NONE" : "fine-tuning has not finished");
    if (per_label) memcpy(per_label, t->thr, (size_t)c * sizeof(float));
    if (global) *global = t->thr_global;
    return MLCL_OK;
}
