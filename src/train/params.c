/* Enum-keyed run-time settings of the trainer (mlcl_trainer_set_param). */
#include <math.h>
#include <string.h>
#include "mlcl/train.h"
#include "train/trainer_internal.h"

typedef struct param_info {
    const char *name;
    double lo, hi;
} param_info;

static const param_info PARAMS[] = {
    [MLCL_TRAIN_PARAM_PRETRAIN_LR] = { "pretrain_lr", 0.0, 100.0 },
    [MLCL_TRAIN_PARAM_PRETRAIN_WEIGHT_DECAY] = { "pretrain_weight_decay", 0.0, 100.0 },
    [MLCL_TRAIN_PARAM_PRETRAIN_HEAD_LR_SCALE] = { "pretrain_head_lr_scale", 0.0, 1000.0 },
    [MLCL_TRAIN_PARAM_PRETRAIN_MASK_P] = { "pretrain_mask_p", 0.0, 0.999 },
    [MLCL_TRAIN_PARAM_FINETUNE_LR] = { "finetune_lr", 0.0, 100.0 },
    [MLCL_TRAIN_PARAM_FINETUNE_WEIGHT_DECAY] = { "finetune_weight_decay", 0.0, 100.0 },
    [MLCL_TRAIN_PARAM_FINETUNE_HEAD_LR_SCALE] = { "finetune_head_lr_scale", 0.0, 1000.0 },
    [MLCL_TRAIN_PARAM_FINETUNE_MASK_P] = { "finetune_mask_p", 0.0, 0.999 },
    [MLCL_TRAIN_PARAM_MOMENTUM] = { "momentum", 0.0, 1.0 },
    [MLCL_TRAIN_PARAM_TAU] = { "loss.tau", 1e-6, 1e6 },
    [MLCL_TRAIN_PARAM_ALPHA] = { "loss.alpha", 0.0, 1e6 },
    [MLCL_TRAIN_PARAM_BETA] = { "loss.beta", 0.0, 1e6 },
};
#define N_PARAMS ((int)(sizeof PARAMS / sizeof *PARAMS))

static int known(int p) { return p >= 0 && p < N_PARAMS; }

int mlcl_train_param_bounds(mlcl_train_param param, double *lo, double *hi)
{
    if (!known((int)param))
        return mlcl__err(MLCL_EINVAL, "mlcl_train_param_bounds: param %d is not an mlcl_train_param (0..%d)", (int)param,
                         N_PARAMS - 1);
    if (lo) *lo = PARAMS[param].lo;
    if (hi) *hi = PARAMS[param].hi;
    return MLCL_OK;
}

/* the float behind a parameter in the trainer's options (t->o; the loss and
 * the momentum in the resolved MoCo options t->mo) */
static float *slot(mlcl_trainer *t, mlcl__phase *ph, int p)
{
    switch (p) {
    case MLCL_TRAIN_PARAM_PRETRAIN_LR: return &ph[0].lr;
    case MLCL_TRAIN_PARAM_PRETRAIN_WEIGHT_DECAY: return &ph[0].weight_decay;
    case MLCL_TRAIN_PARAM_PRETRAIN_HEAD_LR_SCALE: return &ph[0].head_lr_scale;
    case MLCL_TRAIN_PARAM_PRETRAIN_MASK_P: return &ph[0].mask_p;
    case MLCL_TRAIN_PARAM_FINETUNE_LR: return &ph[1].lr;
    case MLCL_TRAIN_PARAM_FINETUNE_WEIGHT_DECAY: return &ph[1].weight_decay;
    case MLCL_TRAIN_PARAM_FINETUNE_HEAD_LR_SCALE: return &ph[1].head_lr_scale;
    case MLCL_TRAIN_PARAM_FINETUNE_MASK_P: return &ph[1].mask_p;
    case MLCL_TRAIN_PARAM_MOMENTUM: return &t->mo.momentum;
    case MLCL_TRAIN_PARAM_TAU: return &t->mo.loss.tau;
    case MLCL_TRAIN_PARAM_ALPHA: return &t->mo.loss.alpha;
    default: return &t->mo.loss.beta;
    }
}

/* Applies the value to the live objects; nothing is changed on error. */
static int apply(mlcl_trainer *t, int p, float v, const char *fn)
{
    switch (p) {
    case MLCL_TRAIN_PARAM_PRETRAIN_WEIGHT_DECAY: return mlcl_optim_set_weight_decay(t->popt, -1, v);
    case MLCL_TRAIN_PARAM_FINETUNE_WEIGHT_DECAY: return mlcl_optim_set_weight_decay(t->ft, -1, v);
    /* the pair's own enum-keyed setters (mlcl_moco_set_param) */
    case MLCL_TRAIN_PARAM_MOMENTUM: return mlcl_moco_set_param(t->moco, MLCL_MOCO_PARAM_MOMENTUM, v);
    case MLCL_TRAIN_PARAM_TAU: return mlcl_moco_set_param(t->moco, MLCL_MOCO_PARAM_TAU, v);
    case MLCL_TRAIN_PARAM_ALPHA: return mlcl_moco_set_param(t->moco, MLCL_MOCO_PARAM_ALPHA, v);
    case MLCL_TRAIN_PARAM_BETA: return mlcl_moco_set_param(t->moco, MLCL_MOCO_PARAM_BETA, v);
    default: return MLCL_OK; /* learning rates and mask_p: read at every step or epoch */
    }
}

int mlcl_trainer_set_param(mlcl_trainer *t, mlcl_train_param param, double value)
{
    static const char fn[] = "mlcl_trainer_set_param";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    const int p = (int)param;
    if (!known(p)) return mlcl__err(MLCL_EINVAL, "%s: param %d is not an mlcl_train_param (0..%d)", fn, p, N_PARAMS - 1);
    const param_info *pi = &PARAMS[p];
    if (!(value >= pi->lo && value <= pi->hi))
        return mlcl__err(MLCL_EINVAL, "%s: %s = %g is outside [%g, %g]", fn, pi->name, value, pi->lo, pi->hi);
    int held;
    /* between two steps, also from the progress callback */
    MLCL_TRY(mlcl__trainer_enter(t, 1, &held, fn));
    const float v = (float)value;
    int rc = apply(t, p, v, fn);
    if (rc == MLCL_OK) {
        *slot(t, t->ph, p) = v;
        if (p <= MLCL_TRAIN_PARAM_FINETUNE_MASK_P) *slot(t, t->ph_user, p) = v; /* the options record */
        if ((p == MLCL_TRAIN_PARAM_PRETRAIN_LR || p == MLCL_TRAIN_PARAM_PRETRAIN_HEAD_LR_SCALE) && t->phase == 1)
            mlcl__trainer_set_phase_lr(t);
        if ((p == MLCL_TRAIN_PARAM_FINETUNE_LR || p == MLCL_TRAIN_PARAM_FINETUNE_HEAD_LR_SCALE) && t->phase == 2)
            mlcl__trainer_set_phase_lr(t);
    }
    mlcl__trainer_leave(t, held);
    return rc;
}

int mlcl_trainer_get_param(const mlcl_trainer *tc, mlcl_train_param param, double *value)
{
    static const char fn[] = "mlcl_trainer_get_param";
    MLCL_CHECK_NULL_AS(fn, tc, "trainer");
    MLCL_CHECK_NULL(fn, value);
    const int p = (int)param;
    if (!known(p)) return mlcl__err(MLCL_EINVAL, "%s: param %d is not an mlcl_train_param (0..%d)", fn, p, N_PARAMS - 1);
    mlcl_trainer *t = (mlcl_trainer *)tc;
    *value = (double)*slot(t, t->ph, p);
    return MLCL_OK;
}
