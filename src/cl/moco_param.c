/* The enum-keyed run-time settings of a MoCo pair (moco.h, as zstd's
 * ZSTD_CCtx_setParameter / ZSTD_cParam_getBounds). */
#include <float.h>
#include <string.h>
#include "cl/moco_internal.h"

typedef struct param_info {
    const char *name;
    double lo, hi;
} param_info;

static const param_info *info(mlcl_moco_param p)
{
    static const param_info t[] = {
        [MLCL_MOCO_PARAM_MOMENTUM] = { "MLCL_MOCO_PARAM_MOMENTUM (momentum)", 0.0, 1.0 },
        [MLCL_MOCO_PARAM_TAU] = { "MLCL_MOCO_PARAM_TAU (tau)", FLT_MIN, FLT_MAX },
        [MLCL_MOCO_PARAM_LR] = { "MLCL_MOCO_PARAM_LR (lr)", 0.0, FLT_MAX },
        [MLCL_MOCO_PARAM_ALPHA] = { "MLCL_MOCO_PARAM_ALPHA (alpha)", 0.0, FLT_MAX },
        [MLCL_MOCO_PARAM_BETA] = { "MLCL_MOCO_PARAM_BETA (beta)", 0.0, FLT_MAX },
        [MLCL_MOCO_PARAM_SIGMA] = { "MLCL_MOCO_PARAM_SIGMA (sigma)", FLT_MIN, FLT_MAX },
    };
    int i = (int)p;
    if (i < 1 || i >= (int)(sizeof t / sizeof *t)) return NULL;
    return &t[i];
}

int mlcl_moco_param_bounds(mlcl_moco_param param, double *lo, double *hi)
{
    static const char fn[] = "mlcl_moco_param_bounds";
    MLCL_CHECK_NULL(fn, lo);
    MLCL_CHECK_NULL(fn, hi);
    const param_info *pi = info(param);
    if (!pi) return mlcl__err(MLCL_EINVAL, "%s: param %d is not an mlcl_moco_param", fn, (int)param);
    *lo = pi->lo;
    *hi = pi->hi;
    return MLCL_OK;
}

int mlcl_moco_get_param(const mlcl_moco *mc, mlcl_moco_param param, double *value)
{
    static const char fn[] = "mlcl_moco_get_param";
    MLCL_CHECK_NULL_AS(fn, mc, "moco");
    MLCL_CHECK_NULL(fn, value);
    mlcl_loss_options lo;
    float lr;
    switch (param) {
    case MLCL_MOCO_PARAM_MOMENTUM: *value = mc->momentum; return MLCL_OK;
    case MLCL_MOCO_PARAM_LR:
        MLCL_TRY(mlcl_optim_get_lr(mc->optim, 0, &lr));
        *value = lr;
        return MLCL_OK;
    case MLCL_MOCO_PARAM_TAU:
    case MLCL_MOCO_PARAM_ALPHA:
    case MLCL_MOCO_PARAM_BETA:
    case MLCL_MOCO_PARAM_SIGMA:
        MLCL_TRY(mlcl_loss_get_options(mc->loss, &lo));
        *value = param == MLCL_MOCO_PARAM_TAU ? lo.tau : param == MLCL_MOCO_PARAM_ALPHA ? lo.alpha
               : param == MLCL_MOCO_PARAM_BETA ? lo.beta : lo.sigma;
        return MLCL_OK;
    }
    return mlcl__err(MLCL_EINVAL, "%s: param %d is not an mlcl_moco_param", fn, (int)param);
}

static int set_param(mlcl_moco *mc, mlcl_moco_param param, double v, const char *fn)
{
    mlcl_loss_options lo;
    switch (param) {
    case MLCL_MOCO_PARAM_MOMENTUM: mc->momentum = (float)v; return MLCL_OK;
    case MLCL_MOCO_PARAM_LR: return mlcl_optim_set_lr(mc->optim, -1, (float)v);
    case MLCL_MOCO_PARAM_TAU:
    case MLCL_MOCO_PARAM_ALPHA:
    case MLCL_MOCO_PARAM_BETA:
    case MLCL_MOCO_PARAM_SIGMA:
        MLCL_TRY(mlcl_loss_get_options(mc->loss, &lo));
        if (param == MLCL_MOCO_PARAM_TAU) lo.tau = (float)v;
        else if (param == MLCL_MOCO_PARAM_ALPHA) lo.alpha = (float)v;
        else if (param == MLCL_MOCO_PARAM_BETA) lo.beta = (float)v;
        else lo.sigma = (float)v;
        return mlcl_loss_set_options(mc->loss, &lo);
    }
    return mlcl__err(MLCL_EINVAL, "%s: param %d is not an mlcl_moco_param", fn, (int)param);
}

int mlcl_moco_set_param(mlcl_moco *mc, mlcl_moco_param param, double value)
{
    static const char fn[] = "mlcl_moco_set_param";
    MLCL_CHECK_NULL_AS(fn, mc, "moco");
    const param_info *pi = info(param);
    if (!pi) return mlcl__err(MLCL_EINVAL, "%s: param %d is not an mlcl_moco_param", fn, (int)param);
    if (!(value >= pi->lo && value <= pi->hi)) /* NaN fails too */
        return mlcl__err(MLCL_EINVAL, "%s: %s = %g is outside [%g, %g]", fn, pi->name, value, pi->lo, pi->hi);
    int idle = 0;
    if (!atomic_compare_exchange_strong(&mc->busy, &idle, 1))
        return mlcl__err(MLCL_EBUSY, "%s: the MoCo pair is in use by another call", fn);
    int rc = set_param(mc, param, value, fn);
    atomic_store(&mc->busy, 0);
    return rc;
}
