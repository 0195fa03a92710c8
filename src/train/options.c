/* Option resolution of the trainer: defaults, presets, checks, the loss the
 * method implies, the learning-rate schedule of a phase. */
#include <math.h>
#include <string.h>
#include "mlcl/train.h"
#include "train/trainer_internal.h"

int mlcl_train_options_init(mlcl_train_options *opts, unsigned int version)
{
    MLCL_CHECK_NULL("mlcl_train_options_init", opts);
    if (version != MLCL_TRAIN_OPTIONS_VERSION)
        return mlcl__err(MLCL_EVERSION, "mlcl_train_options_init: version %u is not %u", version, MLCL_TRAIN_OPTIONS_VERSION);
    static const mlcl_train_options d = MLCL_TRAIN_OPTIONS_INIT;
    memcpy(opts, &d, sizeof d); /* padding included: equals the _INIT bytes */
    return MLCL_OK;
}

int mlcl_train_options_preset(mlcl_train_options *opts, const char *preset)
{
    MLCL_CHECK_NULL("mlcl_train_options_preset", opts);
    MLCL_CHECK_NULL("mlcl_train_options_preset", preset);
    MLCL_CHECK_VERSION("mlcl_train_options_preset", opts, MLCL_TRAIN_OPTIONS_VERSION);
    mlcl_train_options d = MLCL_TRAIN_OPTIONS_INIT;
    d.method = opts->method;
    d.seed = opts->seed;
    d.threads = opts->threads;
    if (!strcmp(preset, "yeast")) {
        d.batch = 128;
        d.moco.queue_size = 256;
    } else if (!strcmp(preset, "scene")) {
        d.batch = 256;
        d.moco.queue_size = 1024;
    } else {
        return mlcl__err(MLCL_EINVAL, "mlcl_train_options_preset: unknown preset '%s' (yeast, scene)", preset);
    }
    *opts = d;
    return MLCL_OK;
}

static int phase_valid(const mlcl_phase_options *p, const char *name, const char *fn)
{
    if (p->epochs < 0) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.epochs must be >= 0 (got %d)", fn, name, p->epochs);
    if (!(p->lr >= 0 && isfinite(p->lr))) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.lr must be finite and >= 0", fn, name);
    if (!(p->weight_decay >= 0 && isfinite(p->weight_decay))) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.weight_decay must be finite and >= 0", fn, name);
    if (!(p->head_lr_scale >= 0 && isfinite(p->head_lr_scale))) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.head_lr_scale must be finite and >= 0", fn, name);
    if (!(p->mask_p >= 0 && p->mask_p < 1)) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.mask_p must be in [0, 1)", fn, name);
    if (p->optim < MLCL_OPTIM_SGD || p->optim > MLCL_OPTIM_ADAMW) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.optim %d is not an MLCL_OPTIM_*", fn, name, p->optim);
    if (p->sched < MLCL_SCHED_CONSTANT || p->sched > MLCL_SCHED_COSINE_WARM_RESTARTS) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.sched %d is not an MLCL_SCHED_*", fn, name, p->sched);
    if (p->T_0 <= 0 || p->T_mult < 1) return mlcl__err(MLCL_EINVAL, "%s: opts->%s.T_0 must be > 0 and T_mult >= 1", fn, name);
    return MLCL_OK;
}

float mlcl__train_phase_lr(const mlcl_phase_options *p, int epoch)
{
    mlcl_sched_options s = MLCL_SCHED_OPTIONS_INIT;
    s.type = p->sched;
    s.base_lr = p->lr;
    s.T_0 = p->T_0;
    s.T_mult = p->T_mult;
    s.T_max = p->T_0;
    s.step_size = p->T_0;
    s.gamma = 0.1f;
    s.eta_min = p->eta_min;
    float lr = p->lr;
    if (mlcl_sched_lr(&s, (double)epoch, &lr) != MLCL_OK) lr = p->lr;
    return lr;
}

static void loss_for_method(mlcl_loss_options *l, int method)
{
    switch (method) {
    case MLCL_METHOD_MULSUPCON: l->method = MLCL_LOSS_MULSUPCON; break;
    case MLCL_METHOD_RLD: l->method = MLCL_LOSS_LD; l->variant = MLCL_LD_RLD; break;
    case MLCL_METHOD_SUPCON_ALL: l->method = MLCL_LOSS_SUPCON; l->mask = MLCL_MASK_ALL; break;
    case MLCL_METHOD_SUPCON_ANY: l->method = MLCL_LOSS_SUPCON; l->mask = MLCL_MASK_ANY; break;
    case MLCL_METHOD_NONE: /* the LD head is still needed for fine-tuning */
    case MLCL_METHOD_CLD:
    default: l->method = MLCL_LOSS_LD; l->variant = MLCL_LD_CLD; break;
    }
}


int mlcl__train_check(const mlcl_train_options *o, const char *fn)
{
    if (o->method < MLCL_METHOD_NONE || o->method > MLCL_METHOD_SUPCON_ANY)
        return mlcl__err(MLCL_EINVAL, "%s: opts->method %d is not an mlcl_method", fn, o->method);
    if (o->batch < 2) return mlcl__err(MLCL_EINVAL, "%s: opts->batch must be >= 2 (got %d)", fn, o->batch);
    if (o->threads < 0 || o->threads > MLCL_MAX_THREADS)
        return mlcl__err(MLCL_EINVAL, "%s: opts->threads must be in 0..%d (got %d)", fn, MLCL_MAX_THREADS, o->threads);
    if (o->standardize != 0 && o->standardize != 1)
        return mlcl__err(MLCL_EINVAL, "%s: opts->standardize must be 0 or 1 (got %d)", fn, o->standardize);
    if (o->stop_on_nonfinite != 0 && o->stop_on_nonfinite != 1)
        return mlcl__err(MLCL_EINVAL, "%s: opts->stop_on_nonfinite must be 0 or 1 (got %d)", fn, o->stop_on_nonfinite);
    MLCL_TRY(phase_valid(&o->pretrain, "pretrain", fn));
    MLCL_TRY(phase_valid(&o->finetune, "finetune", fn));
    return MLCL_OK;
}

void mlcl__train_moco_options(const mlcl_train_options *o, int in_dim, int n_labels, int batch, mlcl_moco_options *mo)
{
    *mo = o->moco;
    mo->in_dim = in_dim;
    mo->n_labels = n_labels;
    mo->max_batch = batch;
    mo->seed = o->seed;
    loss_for_method(&mo->loss, o->method);
    mo->optim.type = o->pretrain.optim;
    mo->optim.lr = o->pretrain.lr;
    mo->optim.weight_decay = o->pretrain.weight_decay;
}
