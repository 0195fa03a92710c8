/* Checkpoints of the trainer: the options record and the state sections. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mlcl/train.h"
#include "core/ckpt.h"
#include "train/trainer_internal.h"

/* ------------------------------------------------------------ checkpoints */

typedef struct ck_pos {
    int64_t phase, epoch, step, pos, n, d, c, batch, K, method, ep_batches, ep_samples;
    double ep[5], t_pre, t_fin;
    uint64_t rng[2];
    float pre_lr;
    int64_t moco_steps;
    int64_t end_step[2];
} ck_pos;

/* ---- the options record (section OPTS): one "name=value" line per option
 * that affects the run, after the resolution create made (batch capped by
 * the rows, the loss the method implies, ...). Text, so that a future
 * version can add options and still name what changed. */

#define OPTS_HEADER "mlcl-train-options 1"

typedef struct optbuf { char *p; size_t len, cap; } optbuf;

static void opt_put(optbuf *b, const char *name, const char *fmt, ...) MLCL_PRINTF(3, 4);
static void opt_put(optbuf *b, const char *name, const char *fmt, ...)
{
    if (b->len >= b->cap) return;
    int k = snprintf(b->p + b->len, b->cap - b->len, "%s=", name);
    if (k > 0) b->len += (size_t)k;
    if (b->len >= b->cap) { b->len = b->cap; return; }
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (k > 0) b->len += (size_t)k;
    if (b->len + 1 >= b->cap) { b->len = b->cap; return; }
    b->p[b->len++] = '\n';
    b->p[b->len] = '\0';
}

/* the shortest decimal that reads back as the same float */
static const char *fstr(char *buf, float v)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, 32, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    return buf;
}

static void opt_f(optbuf *b, const char *name, float v)
{
    char tmp[32];
    opt_put(b, name, "%s", fstr(tmp, v));
}

static void opt_phase(optbuf *b, const char *ph, const mlcl__phase *p)
{
    char name[48];
#define PH(field) (snprintf(name, sizeof name, "%s.%s", ph, field), name)
    opt_put(b, PH("epochs"), "%d", p->epochs);
    opt_put(b, PH("optim"), "%d", p->optim);
    opt_f(b, PH("lr"), p->lr);
    opt_f(b, PH("weight_decay"), p->weight_decay);
    opt_f(b, PH("head_lr_scale"), p->head_lr_scale);
    opt_put(b, PH("sched"), "%d", p->sched);
    opt_put(b, PH("T_0"), "%d", p->T_0);
    opt_put(b, PH("T_mult"), "%d", p->T_mult);
    opt_f(b, PH("eta_min"), p->eta_min);
    opt_put(b, PH("step_size"), "%d", p->step_size);
    opt_f(b, PH("gamma"), p->gamma);
    opt_f(b, PH("mask_p"), p->mask_p);
#undef PH
}

static void opt_views(optbuf *b, const char *v, const mlcl_simclr_options *s)
{
    char name[48];
#define VW(field) (snprintf(name, sizeof name, "%s.%s", v, field), name)
    opt_put(b, VW("out"), "%dx%d", s->out_h, s->out_w);
    opt_f(b, VW("crop_p"), s->crop_p);
    opt_f(b, VW("scale_min"), s->scale_min);
    opt_f(b, VW("scale_max"), s->scale_max);
    opt_f(b, VW("ratio_min"), s->ratio_min);
    opt_f(b, VW("ratio_max"), s->ratio_max);
    opt_f(b, VW("flip_p"), s->flip_p);
    opt_f(b, VW("jitter_p"), s->jitter_p);
    opt_f(b, VW("brightness"), s->brightness);
    opt_f(b, VW("contrast"), s->contrast);
    opt_f(b, VW("saturation"), s->saturation);
    opt_f(b, VW("hue"), s->hue);
    opt_f(b, VW("gray_p"), s->gray_p);
    opt_f(b, VW("blur_p"), s->blur_p);
    opt_f(b, VW("blur_sigma_min"), s->blur_sigma_min);
    opt_f(b, VW("blur_sigma_max"), s->blur_sigma_max);
    opt_put(b, VW("blur_kernel"), "%d", s->blur_kernel);
#undef VW
}

/* Writes the record of t into buf (cap bytes); returns its length, or 0 when
 * it does not fit. */
static size_t options_text(const mlcl_trainer *t, char *buf, size_t cap)
{
    optbuf b = { buf, 0, cap };
    const mlcl_train_options *o = &t->o_user;
    const mlcl__moco_conf *mo = &t->mo; /* as resolved by create */
    const mlcl_loss_options *l = &mo->loss;
    opt_put(&b, "format", "%s", OPTS_HEADER);
    opt_put(&b, "rows", "%d", t->n);
    opt_put(&b, "features", "%d", t->d);
    opt_put(&b, "labels", "%d", t->c);
    opt_put(&b, "data_crc32", "%08x", (unsigned)t->data_crc);
    opt_put(&b, "standardize", "%d", t->img ? 0 : o->standardize);
    opt_put(&b, "method", "%d", o->method);
    opt_put(&b, "batch", "%d", t->batch);
    opt_put(&b, "seed", "%llu", (unsigned long long)o->seed);
    opt_put(&b, "stop_on_nonfinite", "%d", o->stop_on_nonfinite);
    if (t->backbone_np) {
        int bin = 0, bout = 0;
        mlcl_encoder_in_dim(t->net[NET_ENC_Q], &bin);
        mlcl_encoder_out_dim(t->net[NET_ENC_Q], &bout);
        opt_put(&b, "encoder", "custom %d -> %d, %zu parameters", bin, bout, t->backbone_np);
    } else {
        char w[MLCL_MLP_MAX_HIDDEN * 12] = "";
        size_t k = 0;
        for (int i = 0; i < mo->n_hidden && i < MLCL_MLP_MAX_HIDDEN; i++)
            k += (size_t)snprintf(w + k, sizeof w - k, i ? ",%d" : "%d", mo->hidden[i]);
        opt_put(&b, "encoder", "mlp %d -> %s", mo->in_dim, w);
        opt_f(&b, "dropout", mo->dropout);
    }
    opt_put(&b, "proj_dim", "%d", mo->proj_dim);
    opt_f(&b, "proj_dropout", mo->proj_dropout);
    opt_put(&b, "queue_size", "%d", mo->queue_size);
    opt_f(&b, "momentum", mo->momentum);
    opt_put(&b, "key_train_mode", "%d", mo->key_train_mode);
    opt_put(&b, "loss.method", "%d", l->method);
    opt_put(&b, "loss.variant", "%d", l->variant);
    opt_put(&b, "loss.mask", "%d", l->mask);
    opt_f(&b, "loss.alpha", l->alpha);
    opt_f(&b, "loss.beta", l->beta);
    opt_f(&b, "loss.tau", l->tau);
    opt_f(&b, "loss.sigma", l->sigma);
    opt_put(&b, "loss.reduction", "%d", l->reduction);
    opt_put(&b, "loss.cld_weight", "%d", l->cld_weight);
    opt_put(&b, "loss.weight_grad", "%d", l->weight_grad);
    opt_put(&b, "loss.dweight_grad", "%d", l->dweight_grad);
    opt_put(&b, "loss.con_norm", "%d", l->con_norm);
    opt_put(&b, "loss.h_target", "%d", l->h_target);
    opt_f(&b, "pretrain.optim.momentum", mo->optim.momentum);
    opt_f(&b, "pretrain.optim.dampening", mo->optim.dampening);
    opt_put(&b, "pretrain.optim.nesterov", "%d", mo->optim.nesterov);
    opt_f(&b, "pretrain.optim.beta1", mo->optim.beta1);
    opt_f(&b, "pretrain.optim.beta2", mo->optim.beta2);
    opt_f(&b, "pretrain.optim.eps", mo->optim.eps);
    opt_phase(&b, "pretrain", &t->ph_user[0]);
    opt_phase(&b, "finetune", &t->ph_user[1]);
    if (t->img) {
        opt_put(&b, "image", "%dx%dx%d", t->ic, t->ih, t->iw);
        opt_views(&b, "pretrain_views", &t->pre_v);
        if (t->ft_aug) opt_views(&b, "finetune_views", &t->ft_v);
        else opt_put(&b, "finetune_views", "none");
    } else {
        opt_put(&b, "image", "none");
    }
    if (t->val) { /* absent without a validation set: older checkpoints still load */
        opt_put(&b, "validation.rows", "%d", t->nv);
        opt_put(&b, "validation.data_crc32", "%08x", (unsigned)t->val_crc);
        opt_put(&b, "validation.select_metric", "%d", t->vo.select_metric);
        opt_put(&b, "validation.patience", "%d", t->vo.patience);
        opt_put(&b, "validation.thresholds", "%d", t->vo.thresholds);
    }
    return b.len < cap ? b.len : 0;
}

/* the value of `name` in a record (NULL when absent); *vlen its length */
static const char *opt_find(const char *rec, size_t len, const char *name, size_t nlen, size_t *vlen)
{
    for (size_t off = 0; off < len;) {
        const char *line = rec + off, *nl = memchr(line, '\n', len - off);
        size_t ll = nl ? (size_t)(nl - line) : len - off;
        if (ll > nlen && line[nlen] == '=' && memcmp(line, name, nlen) == 0) {
            *vlen = ll - nlen - 1;
            return line + nlen + 1;
        }
        off += ll + 1;
    }
    return NULL;
}

/* Compares the checkpoint's record with the trainer's. The epoch counts may
 * grow (reported in *grow_pre / *grow_fin as the checkpoint's counts); any
 * other difference is an error naming the option and both values. */
static int options_compare(const mlcl_trainer *t, const char *path, const char *ck, size_t cklen, const ck_pos *p,
                           int *fin_old)
{
    const char *fn = "mlcl_trainer_load";
    char *mine = malloc(16384);
    if (!mine) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    size_t mlen = options_text(t, mine, 16384);
    int rc = MLCL_OK;
    if (mlen == 0) { free(mine); return mlcl__err(MLCL_ENOMEM, "%s: the options record does not fit", fn); }
    size_t hv;
    const char *h = opt_find(ck, cklen, "format", 6, &hv);
    if (!h || hv != strlen(OPTS_HEADER) || memcmp(h, OPTS_HEADER, hv) != 0) {
        rc = mlcl__err(MLCL_EVERSION, "%s: checkpoint %s: options record '%.*s' is not '%s'", fn, path,
                       h ? (int)(hv < 64 ? hv : 64) : 0, h ? h : "", OPTS_HEADER);
        goto out;
    }
    *fin_old = -1;
    /* every option of this trainer must be recorded with the same value */
    for (size_t off = 0; off < mlen && rc == MLCL_OK;) {
        const char *line = mine + off, *nl = memchr(line, '\n', mlen - off), *eq = memchr(line, '=', (size_t)(nl - line));
        size_t nlen = (size_t)(eq - line), vlen = (size_t)(nl - eq - 1), cvl;
        off += (size_t)(nl - line) + 1;
        const char *cv = opt_find(ck, cklen, line, nlen, &cvl);
        if (!cv) {
            rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s does not record %.*s (this trainer has %.*s %.*s)", fn, path,
                           (int)nlen, line, (int)nlen, line, (int)vlen, eq + 1);
            break;
        }
        if (cvl == vlen && memcmp(cv, eq + 1, vlen) == 0) continue;
        int is_pre = nlen == 15 && !memcmp(line, "pretrain.epochs", 15);
        int is_fin = nlen == 15 && !memcmp(line, "finetune.epochs", 15);
        if (is_pre || is_fin) {
            long old = strtol(cv, NULL, 10), now = strtol(eq + 1, NULL, 10);
            if (now < old) {
                rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s was trained with %.*s %ld, this trainer has %ld: "
                               "epoch counts may grow, not shrink", fn, path, (int)nlen, line, old, now);
            } else if (is_pre && p->phase >= 2) {
                rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s has finished its %ld pretraining epochs; "
                               "pretrain.epochs cannot grow to %ld", fn, path, old, now);
            } else if (is_fin) {
                *fin_old = (int)old;
            }
            continue;
        }
        rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s was trained with %.*s %.*s, this trainer has %.*s %.*s", fn, path,
                       (int)nlen, line, (int)(cvl < 100 ? cvl : 100), cv, (int)nlen, line, (int)vlen, eq + 1);
    }
    /* and the checkpoint records nothing this trainer lacks */
    for (size_t off = 0; off < cklen && rc == MLCL_OK;) {
        const char *line = ck + off, *nl = memchr(line, '\n', cklen - off);
        size_t ll = nl ? (size_t)(nl - line) : cklen - off;
        const char *eq = memchr(line, '=', ll);
        off += ll + 1;
        if (ll == 0) continue;
        if (!eq) { rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s: malformed options record", fn, path); break; }
        size_t nlen = (size_t)(eq - line), vl;
        if (!opt_find(mine, mlen, line, nlen, &vl))
            rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s was trained with %.*s, which this trainer does not have", fn,
                           path, (int)(ll < 160 ? ll : 160), line);
    }
out:
    free(mine);
    return rc;
}

/* the selection state (section TVSL, with VTHR and VSNP) */
typedef struct vsel_pos {
    int64_t best_epoch, epochs, thr_ready;
    double best_value, last_value, thr_global;
} vsel_pos;

size_t mlcl__trainer_snap_len(const mlcl_trainer *t)
{
    return t->snap_n[0] + t->snap_n[1] + t->snap_n[2] + t->snap_n[3];
}

static const char NET_TAGS[NET_COUNT][2][4] = {
    { {'P','E','Q','0'}, {'S','E','Q','0'} }, { {'P','P','Q','0'}, {'S','P','Q','0'} }, { {'P','L','D','0'}, {'S','L','D','0'} },
    { {'P','E','K','0'}, {'S','E','K','0'} }, { {'P','P','K','0'}, {'S','P','K','0'} } };

/* a section of n 64-bit integers (version 1) */
static void put_ints(mlcl__ckw *w, const char tag[4], const int64_t *v, int n)
{
    mlcl__ckf f;
    mlcl__ckf_begin(&f, 1);
    for (int i = 0; i < n; i++) mlcl__ckf_i64(&f, v[i]);
    mlcl__ckw_put_fields(w, tag, &f);
}

static int get_ints(const mlcl__ckr *r, const char tag[4], int64_t *v, int n)
{
    mlcl__ckfr f;
    MLCL_TRY(mlcl__ckr_fields(r, tag, 1, &f));
    for (int i = 0; i < n; i++) v[i] = mlcl__ckfr_i64(&f);
    return mlcl__ckfr_end(r, tag, &f);
}

/* The step counters of an optimiser with `groups` groups (section stag):
 * checked before anything is applied. */
static int steps_check(const mlcl__ckr *r, const char stag[4], int groups)
{
    mlcl__ckfr f;
    MLCL_TRY(mlcl__ckr_fields(r, stag, 1, &f));
    int64_t g = mlcl__ckfr_i64(&f);
    if (g != groups)
        return mlcl__err(MLCL_EFORMAT, "checkpoint %s: section %.4s has %lld optimiser groups, expected %d", r->path, stag,
                         (long long)g, groups);
    for (int i = 0; i < groups; i++)
        if (mlcl__ckfr_i64(&f) < 0) return mlcl__err(MLCL_EFORMAT, "checkpoint %s: a negative step count in %.4s", r->path, stag);
    return mlcl__ckfr_end(r, stag, &f);
}

/* the position (section TPOS, version 1): every field of ck_pos in order */
static void pos_write(mlcl__ckw *w, const ck_pos *p)
{
    mlcl__ckf f;
    mlcl__ckf_begin(&f, 1);
    const int64_t iv[] = { p->phase, p->epoch, p->step, p->pos, p->n, p->d, p->c, p->batch, p->K, p->method,
                           p->ep_batches, p->ep_samples };
    for (size_t i = 0; i < sizeof iv / sizeof *iv; i++) mlcl__ckf_i64(&f, iv[i]);
    for (int i = 0; i < 5; i++) mlcl__ckf_f64(&f, p->ep[i]);
    mlcl__ckf_f64(&f, p->t_pre);
    mlcl__ckf_f64(&f, p->t_fin);
    mlcl__ckf_u64(&f, p->rng[0]);
    mlcl__ckf_u64(&f, p->rng[1]);
    mlcl__ckf_f32(&f, p->pre_lr);
    mlcl__ckf_i64(&f, p->moco_steps);
    mlcl__ckf_i64(&f, p->end_step[0]);
    mlcl__ckf_i64(&f, p->end_step[1]);
    mlcl__ckw_put_fields(w, "TPOS", &f);
}

static int pos_read(const mlcl__ckr *r, ck_pos *p)
{
    mlcl__ckfr f;
    MLCL_TRY(mlcl__ckr_fields(r, "TPOS", 1, &f));
    int64_t *iv[] = { &p->phase, &p->epoch, &p->step, &p->pos, &p->n, &p->d, &p->c, &p->batch, &p->K, &p->method,
                      &p->ep_batches, &p->ep_samples };
    for (size_t i = 0; i < sizeof iv / sizeof *iv; i++) *iv[i] = mlcl__ckfr_i64(&f);
    for (int i = 0; i < 5; i++) p->ep[i] = mlcl__ckfr_f64(&f);
    p->t_pre = mlcl__ckfr_f64(&f);
    p->t_fin = mlcl__ckfr_f64(&f);
    p->rng[0] = mlcl__ckfr_u64(&f);
    p->rng[1] = mlcl__ckfr_u64(&f);
    p->pre_lr = mlcl__ckfr_f32(&f);
    p->moco_steps = mlcl__ckfr_i64(&f);
    p->end_step[0] = mlcl__ckfr_i64(&f);
    p->end_step[1] = mlcl__ckfr_i64(&f);
    return mlcl__ckfr_end(r, "TPOS", &f);
}

/* the selection state (section TVSL, version 1) */
static void vsel_write(mlcl__ckw *w, const vsel_pos *v)
{
    mlcl__ckf f;
    mlcl__ckf_begin(&f, 1);
    mlcl__ckf_i64(&f, v->best_epoch);
    mlcl__ckf_i64(&f, v->epochs);
    mlcl__ckf_i64(&f, v->thr_ready);
    mlcl__ckf_f64(&f, v->best_value);
    mlcl__ckf_f64(&f, v->last_value);
    mlcl__ckf_f64(&f, v->thr_global);
    mlcl__ckw_put_fields(w, "TVSL", &f);
}

static int vsel_read(const mlcl__ckr *r, vsel_pos *v)
{
    mlcl__ckfr f;
    MLCL_TRY(mlcl__ckr_fields(r, "TVSL", 1, &f));
    v->best_epoch = mlcl__ckfr_i64(&f);
    v->epochs = mlcl__ckfr_i64(&f);
    v->thr_ready = mlcl__ckfr_i64(&f);
    v->best_value = mlcl__ckfr_f64(&f);
    v->last_value = mlcl__ckfr_f64(&f);
    v->thr_global = mlcl__ckfr_f64(&f);
    return mlcl__ckfr_end(r, "TVSL", &f);
}

static int put_optim(mlcl__ckw *w, mlcl_optim *o, const char tag[4], const char stag[4])
{
    size_t n;
    int groups;
    MLCL_TRY(mlcl_optim_state_count(o, &n));
    MLCL_TRY(mlcl_optim_num_groups(o, &groups));
    float *buf;
    MLCL_TRY(mlcl__alloc_array((void **)&buf, n + 1, sizeof(float), "mlcl_trainer_save"));
    int rc = mlcl_optim_get_state(o, buf, n);
    if (rc == MLCL_OK) mlcl__ckw_put(w, tag, buf, n * sizeof(float));
    mlcl__free(buf);
    mlcl__ckf f;
    mlcl__ckf_begin(&f, 1);
    mlcl__ckf_i64(&f, groups);
    for (int g = 0; g < groups; g++) {
        int64_t st = 0;
        mlcl_optim_get_step(o, g, &st);
        mlcl__ckf_i64(&f, st);
    }
    mlcl__ckw_put_fields(w, stag, &f);
    return rc;
}

static int save_local(const mlcl_trainer *tc, const char *path)
{
    const char *fn = "mlcl_trainer_save";
    MLCL_CHECK_NULL_AS(fn, tc, "trainer");
    MLCL_CHECK_NULL(fn, path);
    mlcl_trainer *t = (mlcl_trainer *)tc;
    mlcl__ckw w;
    mlcl__ckw_init(&w);
    ck_pos p;
    memset(&p, 0, sizeof p);
    p.phase = t->phase; p.epoch = t->epoch; p.step = t->step; p.pos = t->pos;
    p.n = t->n; p.d = t->d; p.c = t->c; p.batch = t->batch; p.K = t->mo.queue_size; p.method = t->o.method;
    p.ep_batches = t->ep_batches; p.ep_samples = t->ep_samples;
    p.ep[0] = t->ep_loss; p.ep[1] = t->ep_con; p.ep[2] = t->ep_G; p.ep[3] = t->ep_H; p.ep[4] = t->ep_W;
    p.t_pre = t->t_pre; p.t_fin = t->t_fin;
    p.rng[0] = t->rng.state; p.rng[1] = t->rng.inc;
    p.pre_lr = t->ph[0].lr;
    { long long ms = 0; mlcl_moco_steps(t->moco, &ms); p.moco_steps = ms; }
    p.end_step[0] = t->end_step[0]; p.end_step[1] = t->end_step[1];
    pos_write(&w, &p);
    {
        char *rec = malloc(16384);
        size_t rlen = rec ? options_text(t, rec, 16384) : 0;
        if (!rlen) { free(rec); mlcl__ckw_free(&w); return mlcl__err(MLCL_ENOMEM, "%s: cannot record the options", fn); }
        mlcl__ckw_put(&w, "OPTS", rec, rlen);
        free(rec);
    }
    mlcl__ckw_put(&w, "PERM", t->perm, sizeof(int) * (size_t)t->n);
    int64_t aug_state[2] = { (int64_t)t->aug.pcg.state, (int64_t)t->aug.pcg.inc };
    if (t->img) put_ints(&w, "RAUG", aug_state, 2);
    int rc = MLCL_OK;
    for (int i = 0; i < NET_COUNT && rc == MLCL_OK; i++) {
        mlcl_encoder *e = t->net[i];
        float *pp;
        size_t np, ns;
        uint64_t rs[2];
        mlcl_encoder_param_count(e, &np);
        mlcl_encoder_params_ptr(e, &pp);
        mlcl__ckw_put(&w, NET_TAGS[i][0], pp, np * sizeof(float));
        mlcl_encoder_state_count(e, &ns);
        float *st = NULL;
        rc = mlcl__alloc_array((void **)&st, ns + 1, sizeof(float), fn);
        if (rc == MLCL_OK) rc = mlcl_encoder_get_state(e, st, ns);
        if (rc == MLCL_OK) mlcl__ckw_put(&w, NET_TAGS[i][1], st, ns * sizeof(float));
        mlcl__free(st);
        mlcl_encoder_get_rng_state(e, rs);
        char rtag[4] = { 'R', NET_TAGS[i][0][1], NET_TAGS[i][0][2], '0' };
        int64_t rv[2] = { (int64_t)rs[0], (int64_t)rs[1] };
        put_ints(&w, rtag, rv, 2);
    }
    if (rc == MLCL_OK) rc = put_optim(&w, t->popt, "OPT1", "OST1");
    if (rc == MLCL_OK) rc = put_optim(&w, t->ft, "OPT2", "OST2");
    if (rc == MLCL_OK) {
        mlcl_queue *q = t->queue;
        int qsz = 0, qhd = 0, qcap = 0;
        const float *qf = NULL, *qd = NULL;
        const uint64_t *ql = NULL;
        mlcl_queue_size(q, &qsz); mlcl_queue_head(q, &qhd); mlcl_queue_capacity(q, &qcap); /* q is not NULL */
        mlcl_queue_features(q, &qf); mlcl_queue_labels(q, &ql); mlcl_queue_dists(q, &qd);
        int64_t qs[2] = { qsz, qhd };
        size_t K = (size_t)qcap;
        put_ints(&w, "QST0", qs, 2);
        mlcl__ckw_put(&w, "QFT0", qf, K * t->mo.proj_dim * sizeof(float));
        mlcl__ckw_put(&w, "QLB0", ql, K * t->words * sizeof(uint64_t));
        mlcl__ckw_put(&w, "QDS0", qd, K * t->c * sizeof(float));
    }
    if (rc == MLCL_OK && t->val) {
        vsel_pos v = { t->best_epoch, t->vs_epochs, t->thr_ready, t->best_value, t->last_value, t->thr_global };
        vsel_write(&w, &v);
        mlcl__ckw_put(&w, "VTHR", t->thr, (size_t)t->c * sizeof(float));
        if (mlcl__trainer_selecting(t)) mlcl__ckw_put(&w, "VSNP", t->snap, mlcl__trainer_snap_len(t) * sizeof(float));
    }
    if (rc != MLCL_OK) { mlcl__ckw_free(&w); return rc; }
    return mlcl__ckw_commit(&w, path);
}

static int load_optim(const mlcl__ckr *r, mlcl_optim *o, const char tag[4], const char stag[4])
{
    size_t n;
    int groups;
    const void *p;
    MLCL_TRY(mlcl_optim_state_count(o, &n));
    MLCL_TRY(mlcl_optim_num_groups(o, &groups));
    MLCL_TRY(mlcl__ckr_get(r, tag, &p, NULL, n * sizeof(float)));
    MLCL_TRY(mlcl_optim_set_state(o, (const float *)p, n));
    MLCL_TRY(steps_check(r, stag, groups));
    mlcl__ckfr f;
    MLCL_TRY(mlcl__ckr_fields(r, stag, 1, &f));
    mlcl__ckfr_i64(&f);
    for (int g = 0; g < groups; g++) MLCL_TRY(mlcl_optim_set_step(o, g, mlcl__ckfr_i64(&f)));
    return MLCL_OK;
}

static int load_inner(mlcl_trainer *t, const char *path)
{
    const char *fn = "mlcl_trainer_load";
    mlcl__ckr r;
    MLCL_TRY(mlcl__ckr_open(&r, path));
    ck_pos p;
    int fin_old = -1;
    const void *rec = NULL;
    size_t rlen = 0;
    int rc = pos_read(&r, &p);
    if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "OPTS", &rec, &rlen, (size_t)-1);
    if (rc == MLCL_OK) rc = options_compare(t, path, rec, rlen, &p, &fin_old);
    if (rc == MLCL_OK && (p.n != t->n || p.d != t->d || p.c != t->c || p.batch != t->batch ||
                          p.K != t->mo.queue_size || p.method != t->o.method))
        rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s was written for %lld rows x %lld features x %lld labels, batch %lld, "
                       "queue %lld, method %lld; this trainer has %d x %d x %d, batch %d, queue %d, method %d",
                       fn, path, (long long)p.n, (long long)p.d, (long long)p.c, (long long)p.batch, (long long)p.K,
                       (long long)p.method, t->n, t->d, t->c, t->batch, t->mo.queue_size, t->o.method);
    if (rc == MLCL_OK && (p.phase < 1 || p.phase > 3 || p.pos < -1 || p.pos > p.n || p.epoch < 0 || (p.rng[1] & 1) == 0))
        rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s holds an impossible position", fn, path);
    const void *perm = NULL;
    int64_t aug_state[2] = { 0, 1 };
    if (rc == MLCL_OK && t->img) {
        rc = get_ints(&r, "RAUG", aug_state, 2);
        if (rc == MLCL_OK && (aug_state[1] & 1) == 0)
            rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s holds an impossible augmentation generator", fn, path);
    }
    if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "PERM", &perm, NULL, sizeof(int) * (size_t)t->n);
    if (rc == MLCL_OK) {
        const int *pv = perm;
        for (int i = 0; i < t->n; i++)
            if (pv[i] < 0 || pv[i] >= t->n) { rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s: bad permutation entry", fn, path); break; }
    }
    /* validate every section's size before changing anything */
    size_t npar[NET_COUNT], nst[NET_COUNT];
    for (int i = 0; i < NET_COUNT && rc == MLCL_OK; i++) {
        const void *q;
        mlcl_encoder_param_count(t->net[i], &npar[i]);
        mlcl_encoder_state_count(t->net[i], &nst[i]);
        rc = mlcl__ckr_get(&r, NET_TAGS[i][0], &q, NULL, npar[i] * sizeof(float));
        if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, NET_TAGS[i][1], &q, NULL, nst[i] * sizeof(float));
    }
    mlcl_queue *q = t->queue;
    int qcap = 0;
    mlcl_queue_capacity(q, &qcap); /* q is not NULL */
    size_t K = (size_t)qcap;
    const void *qf = NULL, *ql = NULL, *qd = NULL;
    int64_t qs[2] = { 0, 0 };
    if (rc == MLCL_OK) rc = get_ints(&r, "QST0", qs, 2);
    if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "QFT0", &qf, NULL, K * t->mo.proj_dim * sizeof(float));
    if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "QLB0", &ql, NULL, K * t->words * sizeof(uint64_t));
    if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "QDS0", &qd, NULL, K * t->c * sizeof(float));
    if (rc == MLCL_OK) {
        size_t n1, n2;
        const void *x;
        mlcl_optim_state_count(t->popt, &n1);
        mlcl_optim_state_count(t->ft, &n2);
        rc = mlcl__ckr_get(&r, "OPT1", &x, NULL, n1 * sizeof(float));
        if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "OPT2", &x, NULL, n2 * sizeof(float));
        int g1 = 0, g2 = 0;
        mlcl_optim_num_groups(t->popt, &g1);
        mlcl_optim_num_groups(t->ft, &g2);
        if (rc == MLCL_OK) rc = steps_check(&r, "OST1", g1);
        if (rc == MLCL_OK) rc = steps_check(&r, "OST2", g2);
    }
    /* contents the setters below would reject: check them first, so that a
     * corrupt but CRC-valid file cannot leave the trainer half loaded */
    for (int i = 0; i < NET_COUNT && rc == MLCL_OK; i++) {
        const void *pp, *ss;
        mlcl__ckr_get(&r, NET_TAGS[i][0], &pp, NULL, npar[i] * sizeof(float));
        mlcl__ckr_get(&r, NET_TAGS[i][1], &ss, NULL, nst[i] * sizeof(float));
        if (!mlcl__all_finite(pp, npar[i]) || !mlcl__all_finite(ss, nst[i]))
            rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s: non-finite parameters or statistics", fn, path);
    }
    /* the selection state */
    vsel_pos vp = { -1, 0, 0, NAN, NAN, 0.5 };
    const void *vthr = NULL, *vsnap = NULL;
    if (rc == MLCL_OK && t->val) {
        rc = vsel_read(&r, &vp);
        if (rc == MLCL_OK) rc = mlcl__ckr_get(&r, "VTHR", &vthr, NULL, (size_t)t->c * sizeof(float));
        if (rc == MLCL_OK && mlcl__trainer_selecting(t)) rc = mlcl__ckr_get(&r, "VSNP", &vsnap, NULL, mlcl__trainer_snap_len(t) * sizeof(float));
        if (rc == MLCL_OK && (vp.best_epoch < -1 || vp.best_epoch >= vp.epochs || vp.epochs < 0 ||
                              vp.epochs > 1000000000 || (vp.thr_ready != 0 && vp.thr_ready != 1) ||
                              !(vp.thr_global >= 0 && vp.thr_global <= 1) ||
                              (vsnap && !mlcl__all_finite(vsnap, mlcl__trainer_snap_len(t))) ||
                              !mlcl__all_finite(vthr, (size_t)t->c)))
            rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s: impossible validation selection state", fn, path);
        if (rc == MLCL_OK && fin_old >= 0 && p.phase == 3 && mlcl__trainer_selecting(t) && vp.best_epoch >= 0)
            rc = mlcl__err(MLCL_EINVAL, "%s: checkpoint %s is a finished run whose fine-tuning epoch %lld was selected on "
                           "validation; it cannot continue with more fine-tuning epochs", fn, path,
                           (long long)vp.best_epoch);
    }
    if (rc == MLCL_OK && (qs[0] < 0 || (size_t)qs[0] > K || qs[1] < 0 || (size_t)qs[1] >= K ||
                          ((size_t)qs[0] < K && qs[1] != qs[0]) || !mlcl__all_finite(qf, K * (size_t)t->mo.proj_dim) ||
                          !mlcl__all_finite(qd, K * (size_t)t->c)))
        rc = mlcl__err(MLCL_EFORMAT, "%s: checkpoint %s: bad queue state", fn, path);
    /* apply */
    for (int i = 0; i < NET_COUNT && rc == MLCL_OK; i++) {
        const void *pp, *ss;
        uint64_t rs[2];
        char rtag[4] = { 'R', NET_TAGS[i][0][1], NET_TAGS[i][0][2], '0' };
        mlcl__ckr_get(&r, NET_TAGS[i][0], &pp, NULL, npar[i] * sizeof(float));
        mlcl__ckr_get(&r, NET_TAGS[i][1], &ss, NULL, nst[i] * sizeof(float));
        rc = mlcl_encoder_set_params(t->net[i], pp, npar[i]);
        if (rc == MLCL_OK && nst[i]) rc = mlcl_encoder_set_state(t->net[i], ss, nst[i]);
        int64_t rv[2] = { 0, 0 };
        if (rc == MLCL_OK) rc = get_ints(&r, rtag, rv, 2);
        rs[0] = (uint64_t)rv[0];
        rs[1] = (uint64_t)rv[1];
        if (rc == MLCL_OK) rc = mlcl_encoder_set_rng_state(t->net[i], rs);
    }
    if (rc == MLCL_OK) rc = mlcl_queue_set_state(q, qs[0], qs[1], qf, ql, qd);
    if (rc == MLCL_OK) rc = load_optim(&r, t->popt, "OPT1", "OST1");
    if (rc == MLCL_OK) rc = load_optim(&r, t->ft, "OPT2", "OST2");
    if (rc == MLCL_OK) {
        memcpy(t->perm, perm, sizeof(int) * (size_t)t->n);
        t->phase = (int)p.phase; t->epoch = (int)p.epoch; t->step = p.step; t->pos = (int)p.pos;
        t->ep_batches = p.ep_batches; t->ep_samples = p.ep_samples;
        t->ep_loss = p.ep[0]; t->ep_con = p.ep[1]; t->ep_G = p.ep[2]; t->ep_H = p.ep[3]; t->ep_W = p.ep[4];
        t->t_pre = p.t_pre; t->t_fin = p.t_fin;
        t->rng.state = p.rng[0]; t->rng.inc = p.rng[1];
        if (t->img) { t->aug.pcg.state = (uint64_t)aug_state[0]; t->aug.pcg.inc = (uint64_t)aug_state[1]; }
        t->ph[0].lr = p.pre_lr;
        mlcl_moco_set_steps(t->moco, p.moco_steps);
        t->end_step[0] = p.end_step[0]; t->end_step[1] = p.end_step[1];
        if (t->val) {
            t->best_epoch = (int)vp.best_epoch; t->vs_epochs = (int)vp.epochs; t->thr_ready = (int)vp.thr_ready;
            t->best_value = vp.best_value; t->last_value = vp.last_value; t->thr_global = (float)vp.thr_global;
            memcpy(t->thr, vthr, (size_t)t->c * sizeof(float));
            if (vsnap) memcpy(t->snap, vsnap, mlcl__trainer_snap_len(t) * sizeof(float));
        }
        if (fin_old >= 0 && t->phase == 3) {
            t->thr_ready = 0; /* chosen again at the new end */
            /* a finished run with more fine-tuning epochs: continue after the last one */
            t->phase = 2;
            t->epoch = fin_old;
            t->step = t->end_step[1];
            t->pos = -1;
        }
    }
    mlcl__ckr_close(&r);
    return rc;
}

int mlcl_trainer_load(mlcl_trainer *t, const char *path)
{
    const char *fn = "mlcl_trainer_load";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    MLCL_CHECK_NULL(fn, path);
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 0, &held, fn));
    int rc = load_inner(t, path);
    mlcl__trainer_leave(t, held);
    return rc;
}

/* Rank 0 writes, every rank returns rank 0's status (one rank: the status). */
static int save_inner(const mlcl_trainer *tc, const char *path)
{
    const char *fn = "mlcl_trainer_save";
    int rc = tc->comm.rank == 0 ? save_local(tc, path) : MLCL_OK;
    double st = rc;
    MLCL_TRY(mlcl__comm_sum_f64(&tc->comm, &st, 1, fn, "the save status"));
    if (tc->comm.rank != 0 && st != 0)
        return mlcl__err((int)st, "%s: rank 0 could not write '%s'", fn, path ? path : "(null)");
    return rc;
}

int mlcl_trainer_save(const mlcl_trainer *tc, const char *path)
{
    const char *fn = "mlcl_trainer_save";
    MLCL_CHECK_NULL_AS(fn, tc, "trainer");
    MLCL_CHECK_NULL(fn, path);
    mlcl_trainer *t = (mlcl_trainer *)tc; /* the busy flag only */
    int held;
    MLCL_TRY(mlcl__trainer_enter(t, 1, &held, fn));
    int rc = save_inner(tc, path);
    mlcl__trainer_leave(t, held);
    return rc;
}
