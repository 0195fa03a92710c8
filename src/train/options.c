/* Option resolution of the trainer: defaults, presets, checks, the loss the
 * method implies, the learning-rate schedule of a phase. */
#include <math.h>
#include <string.h>
#include "mlcl/train.h"
#include "train/trainer_internal.h"

int mlcl_train_options_init(mlcl_train_options *opts, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_train_options_init", opts, version, MLCL_TRAIN_OPTIONS_VERSION, mlcl_train_options, MLCL_TRAIN_OPTIONS_INIT);
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
    /* the presets' MoCo options: static, read-only, owned by the library */
    static const mlcl_moco_options scene = { MLCL_MOCO_OPTIONS_VERSION, 0, 0, 0, NULL, 0.2f, 256, 0.1f, 1024, 0.999f,
                                             0, 0, NULL, NULL, 1, NULL };
    if (!strcmp(preset, "yeast")) {
        d.batch = 128;
        d.moco = NULL; /* the defaults: queue 256 */
    } else if (!strcmp(preset, "scene")) {
        d.batch = 256;
        d.moco = &scene;
    } else {
        return mlcl__err(MLCL_EINVAL, "mlcl_train_options_preset: unknown preset '%s' (yeast, scene)", preset);
    }
    *opts = d;
    return MLCL_OK;
}

static int phase_valid(const mlcl__phase *p, const char *name, const char *fn)
{
    if (p->epochs < 0) return mlcl__err(MLCL_EINVAL, "%s: opts->%s_epochs must be >= 0 (got %d)", fn, name, p->epochs);
    if (!(p->lr >= 0 && isfinite(p->lr))) return mlcl__err(MLCL_EINVAL, "%s: opts->%s_lr must be finite and >= 0", fn, name);
    if (!(p->weight_decay >= 0 && isfinite(p->weight_decay))) return mlcl__err(MLCL_EINVAL, "%s: opts->%s_weight_decay must be finite and >= 0", fn, name);
    if (!(p->head_lr_scale >= 0 && isfinite(p->head_lr_scale))) return mlcl__err(MLCL_EINVAL, "%s: opts->%s_head_lr_scale must be finite and >= 0", fn, name);
    if (!(p->mask_p >= 0 && p->mask_p < 1)) return mlcl__err(MLCL_EINVAL, "%s: opts->%s_mask_p must be in [0, 1)", fn, name);
    if (p->optim < MLCL_OPTIM_SGD || p->optim > MLCL_OPTIM_ADAMW) return mlcl__err(MLCL_EINVAL, "%s: opts->%s_optim %d is not an MLCL_OPTIM_*", fn, name, p->optim);
    if (p->sched < MLCL_SCHED_CONSTANT || p->sched > MLCL_SCHED_COSINE_WARM_RESTARTS) return mlcl__err(MLCL_EINVAL, "%s: opts->%s_sched %d is not an MLCL_SCHED_*", fn, name, p->sched);
    if (p->T_0 <= 0 || p->T_mult < 1) return mlcl__err(MLCL_EINVAL, "%s: opts->%s_T_0 must be > 0 and %s_T_mult >= 1", fn, name, name);
    if (p->step_size <= 0) return mlcl__err(MLCL_EINVAL, "%s: opts->%s_step_size must be > 0 (got %d)", fn, name, p->step_size);
    if (!(p->gamma > 0 && isfinite(p->gamma))) return mlcl__err(MLCL_EINVAL, "%s: opts->%s_gamma must be finite and > 0", fn, name);
    return MLCL_OK;
}

float mlcl__train_phase_lr(const mlcl__phase *p, int epoch)
{
    mlcl_sched_options s = MLCL_SCHED_OPTIONS_INIT;
    s.type = p->sched;
    s.base_lr = p->lr;
    s.T_0 = p->T_0;
    s.T_mult = p->T_mult;
    s.T_max = p->T_0;
    s.step_size = p->step_size;
    s.gamma = p->gamma;
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


int mlcl_train_method_loss(mlcl_loss_options *out, int method)
{
    static const char fn[] = "mlcl_train_method_loss";
    MLCL_CHECK_NULL(fn, out);
    if (method < MLCL_METHOD_NONE || method > MLCL_METHOD_SUPCON_ANY)
        return mlcl__err(MLCL_EINVAL, "%s: method %d is not an mlcl_method", fn, method);
    static const mlcl_loss_options d = MLCL_LOSS_OPTIONS_INIT;
    *out = d;
    loss_for_method(out, method);
    return MLCL_OK;
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
    mlcl__phase ph[2];
    mlcl__train_phases(o, ph);
    MLCL_TRY(phase_valid(&ph[0], "pretrain", fn));
    MLCL_TRY(phase_valid(&ph[1], "finetune", fn));
    return MLCL_OK;
}

void mlcl__train_phases(const mlcl_train_options *o, mlcl__phase ph[2])
{
    const mlcl__phase pre = { o->pretrain_epochs, o->pretrain_optim, o->pretrain_lr, o->pretrain_weight_decay,
                              o->pretrain_head_lr_scale, o->pretrain_sched, o->pretrain_T_0, o->pretrain_T_mult,
                              o->pretrain_eta_min, o->pretrain_step_size, o->pretrain_gamma, o->pretrain_mask_p };
    const mlcl__phase fin = { o->finetune_epochs, o->finetune_optim, o->finetune_lr, o->finetune_weight_decay,
                              o->finetune_head_lr_scale, o->finetune_sched, o->finetune_T_0, o->finetune_T_mult,
                              o->finetune_eta_min, o->finetune_step_size, o->finetune_gamma, o->finetune_mask_p };
    ph[0] = pre;
    ph[1] = fin;
}

int mlcl__train_moco_options(const mlcl_train_options *o, int in_dim, int n_labels, int batch, mlcl__moco_conf *mo,
                             const char *fn)
{
    static const mlcl_moco_options defaults = MLCL_MOCO_OPTIONS_INIT;
    const mlcl_moco_options *m = o->moco ? o->moco : &defaults;
    MLCL_TRY(mlcl__moco_resolve(m, mo, 1, fn));
    if (m->in_dim != 0 && m->in_dim != in_dim)
        return mlcl__err(MLCL_EINVAL, "%s: opts->moco->in_dim = %d but the data give rows of %d (the data set it: "
                         "leave 0)", fn, m->in_dim, in_dim);
    if (m->n_labels != 0 && m->n_labels != n_labels)
        return mlcl__err(MLCL_EINVAL, "%s: opts->moco->n_labels = %d but the data have %d labels (the data set it: "
                         "leave 0)", fn, m->n_labels, n_labels);
    if (m->max_batch != 0 && m->max_batch != o->batch)
        return mlcl__err(MLCL_EINVAL, "%s: opts->moco->max_batch = %d but opts->batch = %d (the batch sets it: leave 0)",
                         fn, m->max_batch, o->batch);
    if (m->seed != 0 && m->seed != o->seed)
        return mlcl__err(MLCL_EINVAL, "%s: opts->moco->seed = %llu but opts->seed = %llu (opts->seed sets it: leave 0)",
                         fn, (unsigned long long)m->seed, (unsigned long long)o->seed);
    if (m->backbone)
        return mlcl__err(MLCL_EINVAL, "%s: opts->moco->backbone is set, but a trainer's backbone is "
                         "mlcl_trainer_ex_options.backbone (mlcl_trainer_create_ex) or the backbone argument of "
                         "mlcl_trainer_create_stream: leave opts->moco->backbone NULL", fn);
    if (m->optim)
        return mlcl__err(MLCL_EINVAL, "%s: opts->moco->optim is set, but opts->pretrain_optim, pretrain_lr and "
                         "pretrain_weight_decay set the query-side optimiser of a trainer: leave it NULL", fn);
    if (m->loss) {
        mlcl_loss_options implied = *m->loss;
        loss_for_method(&implied, o->method);
        if (implied.method != m->loss->method || implied.variant != m->loss->variant || implied.mask != m->loss->mask)
            return mlcl__err(MLCL_EINVAL, "%s: opts->moco->loss has method %d, variant %d, mask %d but opts->method %d "
                             "implies method %d, variant %d, mask %d (opts->method sets them)", fn, m->loss->method,
                             m->loss->variant, m->loss->mask, o->method, implied.method, implied.variant, implied.mask);
    }
    mo->in_dim = in_dim;
    mo->n_labels = n_labels;
    mo->max_batch = batch;
    mo->seed = o->seed;
    loss_for_method(&mo->loss, o->method);
    mo->optim.type = o->pretrain_optim;
    mo->optim.lr = o->pretrain_lr;
    mo->optim.weight_decay = o->pretrain_weight_decay;
    return MLCL_OK;
}

void mlcl__train_moco_public(const mlcl__moco_conf *c, mlcl_moco_options *pub)
{
    const mlcl_moco_options p = { MLCL_MOCO_OPTIONS_VERSION, c->in_dim, c->n_labels, c->n_hidden, c->hidden, c->dropout,
                                  c->proj_dim, c->proj_dropout, c->queue_size, c->momentum, c->max_batch, c->seed,
                                  &c->loss, &c->optim, c->key_train_mode, NULL };
    *pub = p;
}
