/* The trainer's epochs and steps: pretraining (mlcl_moco_step) and fine-tuning. */
#include <math.h>
#include <string.h>
#include "mlcl/train.h"
#include "train/trainer_internal.h"
#include "nn/nn_lib.h"
#include "kernels/gemm.h"
#include "mlcl/loader.h"

static int report(mlcl_trainer *t, int end_of_epoch, const mlcl_loss_parts *lp, double loss, float lr, double elapsed)
{
    if (!t->cb) return 0;
    mlcl_progress p;
    memset(&p, 0, sizeof p);
    p.version = MLCL_PROGRESS_VERSION;
    p.phase = t->phase;
    p.epoch = t->epoch;
    p.epochs = t->ph[t->phase == 1 ? 0 : 1].epochs;
    p.step = t->step;
    p.end_of_epoch = end_of_epoch;
    double nb = t->ep_batches > 0 ? (double)t->ep_batches : 1.0;
    if (end_of_epoch) {
        p.loss = t->ep_loss / nb; p.con = t->ep_con / nb; p.G = t->ep_G / nb; p.H = t->ep_H / nb; p.wreg = t->ep_W / nb;
    } else {
        p.loss = loss;
        if (lp) { p.con = lp->con; p.G = lp->G; p.H = lp->H; p.wreg = lp->wreg; }
    }
    p.lr = lr;
    p.samples_per_s = elapsed > 0 ? (double)t->ep_samples / elapsed : 0.0;
    uintptr_t prev = atomic_exchange(&t->cb_thread, mlcl__trainer_thread_id());
    int r = t->cb(&p, t->cb_ctx);
    atomic_store(&t->cb_thread, prev);
    return r;
}

/* the dense batch: the backbone on rows lo .. hi-1 of x0 */
static int forward_dense(mlcl_trainer *t, int lo, int hi)
{
    /* on both threads by rows where that gives the same values (mlcl__encoder_set_split) */
    mlcl__encoder_set_split(t->net[NET_ENC_Q], 1);
    int rc = mlcl_encoder_forward(t->net[NET_ENC_Q], hi - lo, t->x0 + (size_t)lo * t->dn, t->h);
    mlcl__encoder_set_split(t->net[NET_ENC_Q], 0);
    return rc;
}

/* One fine-tuning step, single-process and data-parallel alike: this rank
 * trains on rows lo .. hi-1 of the k rows (all of them with the built-in
 * single-rank communicator); the BCE mean's gradient of the share is
 * weighted by its share of the batch (1 for one rank) and summed over the
 * ranks, which gives the gradient of the mean over the whole batch. */
static int finetune_step(mlcl_trainer *t, int k, mlcl__ft_forward fwd, double *loss_out, mlcl_loss_parts *lp)
{
    const char *fn = "mlcl_trainer_run";
    mlcl_encoder *enc = t->net[NET_ENC_Q], *ld = t->net[NET_LD];
    const int R = t->comm.size, r = t->comm.rank;
    int lo = (int)((long long)k * r / R), hi = (int)((long long)k * (r + 1) / R), kn = hi - lo;
    size_t c = (size_t)t->c;
    for (int i = lo; i < hi; i++)
        for (size_t j = 0; j < c; j++) t->tgt[(i - lo) * c + j] = (float)t->y[(size_t)t->rows[i] * c + j];
    MLCL_TRY(mlcl_encoder_zero_grad(enc));
    MLCL_TRY(mlcl_encoder_zero_grad(ld));
    /* dropout draws of rows lo .. hi-1 of the global batch (no skip on one rank) */
    mlcl__encoder_set_rows(enc, lo, k);
    mlcl__encoder_set_rows(ld, lo, k);
    float loss = 0;
    int rc = MLCL_OK;
    if (kn > 0) {
        if ((rc = fwd(t, lo, hi)) == MLCL_OK && (rc = mlcl_encoder_forward(ld, kn, t->h, t->logits)) == MLCL_OK) {
            memset(t->grad_logits, 0, sizeof(float) * kn * c);
            rc = mlcl_bce_with_logits(&loss, t->grad_logits, t->logits, t->tgt, kn, (int)c);
        }
    }
    /* (one rank: loss * k / k is the float loss exactly) */
    double red[2] = { rc == MLCL_OK ? (double)loss * kn / k : 0.0, rc != MLCL_OK };
    MLCL_TRY(mlcl__comm_sum_f64(&t->comm, red, 2, fn, "fine-tuning loss"));
    if (rc) return mlcl__err(rc, "fine-tuning epoch %d step %lld: %s", t->epoch, t->step, mlcl_last_error());
    if (red[1] != 0) return mlcl__err(MLCL_ENUMERIC, "fine-tuning epoch %d step %lld: another rank failed", t->epoch, t->step);
    if (!isfinite(red[0])) return mlcl__err(MLCL_ENUMERIC, "fine-tuning epoch %d step %lld: BCE loss is not finite", t->epoch, t->step);
    if (kn > 0) {
        if (kn != k) {
            float wgt = (float)kn / (float)k;
            for (size_t i = 0; i < (size_t)kn * c; i++) t->grad_logits[i] *= wgt;
        }
        MLCL_TRY(mlcl_encoder_backward(ld, kn, t->grad_logits, t->grad_h));
        MLCL_TRY(mlcl_encoder_backward(enc, kn, t->grad_h, NULL));
    }
    mlcl_encoder *nets[2] = { ld, enc };
    for (int i = 0; i < 2; i++) {
        float *g;
        size_t np;
        MLCL_TRY(mlcl_encoder_grads_ptr(nets[i], &g));
        MLCL_TRY(mlcl_encoder_param_count(nets[i], &np));
        if (np) MLCL_TRY(mlcl__comm_sum_f32(&t->comm, g, np, fn, i ? "backbone gradients" : "LD head gradients"));
    }
    rc = mlcl_optim_step(t->ft);
    if (rc) return mlcl__err(rc, "fine-tuning epoch %d step %lld: %s", t->epoch, t->step, mlcl_last_error());
    *loss_out = red[0];
    *lp = (mlcl_loss_parts)MLCL_LOSS_PARTS_INIT;
    lp->total = red[0];
    return MLCL_OK;
}

int mlcl__trainer_finetune_step(mlcl_trainer *t, int k, mlcl__ft_forward fwd, double *loss_out, mlcl_loss_parts *lp)
{
    int rc = finetune_step(t, k, fwd, loss_out, lp);
    /* the rows are those of this batch only (a later pretraining step, e.g.
     * after mlcl_trainer_load, draws its own) */
    mlcl__encoder_set_rows(t->net[NET_ENC_Q], 0, 0);
    mlcl__encoder_set_rows(t->net[NET_LD], 0, 0);
    return rc;
}

/* One batch of the current phase. */
static int train_batch(mlcl_trainer *t, int k, double *loss_out, mlcl_loss_parts *lp)
{
    if (t->sp_ptr) return mlcl__trainer_sparse_batch(t, k, loss_out, lp);
    MLCL_TRY(mlcl__trainer_views(t, k));
    if (t->phase == 2) return mlcl__trainer_finetune_step(t, k, forward_dense, loss_out, lp);
    mlcl__trainer_gather(t, k);
    /* every rank built the whole batch (same generators); it trains on its
     * share (the whole batch on one rank) */
    int kn = k / t->comm.size, off = t->comm.rank * kn;
    int rc = mlcl_moco_step(t->moco, kn, t->x0 + (size_t)off * t->dn, t->x1 + (size_t)off * t->dn,
                            t->yb + (size_t)off * t->words, lp);
    if (rc == MLCL_ENUMERIC)
        return mlcl__err(rc, "pretraining epoch %d step %lld: %s", t->epoch, t->step, mlcl_last_error());
    *loss_out = lp->total;
    return rc;
}

void mlcl__trainer_set_phase_lr(mlcl_trainer *t)
{
    const mlcl__phase *ph = &t->ph[t->phase == 1 ? 0 : 1];
    float lr = mlcl__train_phase_lr(ph, t->epoch);
    mlcl_optim *o = t->phase == 1 ? t->popt : t->ft;
    int groups;
    mlcl_optim_num_groups(o, &groups);
    mlcl_optim_set_lr(o, 0, lr);
    for (int g = 1; g < groups; g++) mlcl_optim_set_lr(o, g, lr * ph->head_lr_scale);
}

static void enter_phase_modes(mlcl_trainer *t)
{
    mlcl_encoder_set_training(t->net[NET_ENC_Q], 1);
    mlcl_encoder_set_training(t->net[NET_PROJ_Q], 1);
    mlcl_encoder_set_training(t->net[NET_LD], 1);
}

/* The batches of one epoch from the phase's loader (mlcl_trainer_create_stream);
 * t->pos counts the loader's batches. Mirrors the loop of run_epoch(). */
static int stream_batches(mlcl_trainer *t, float lr, double t0)
{
    mlcl_loader *L = t->src[t->phase - 1];
    long long nb, lb;
    int le;
    MLCL_TRY(mlcl_loader_batches_per_epoch(L, &nb));
    MLCL_TRY(mlcl_loader_position(L, &le, &lb));
    if (le != t->epoch || lb != t->pos) MLCL_TRY(mlcl_loader_seek(L, t->epoch, t->pos)); /* resumed, or a new phase */
    size_t dn = (size_t)t->dn;
    while (t->pos < nb) {
        mlcl_loader_batch b = MLCL_LOADER_BATCH_INIT;
        int rc = mlcl_loader_next(L, &b);
        if (rc) return mlcl__err(rc, "mlcl_trainer_run: phase %d epoch %d batch %d: %s", t->phase, t->epoch, t->pos,
                                 mlcl_last_error());
        int k = b.n;
        if (k < 2 || (t->phase == 1 && k < t->batch) || k < t->comm.size) { t->pos++; continue; }
        memcpy(t->rows, b.rows, sizeof(int) * (size_t)k);
        memcpy(t->x0, b.x, (size_t)k * dn * sizeof(float));
        if (t->phase == 1) memcpy(t->x1, b.x2, (size_t)k * dn * sizeof(float));
        double loss = 0;
        mlcl_loss_parts lp = MLCL_LOSS_PARTS_INIT;
        rc = train_batch(t, k, &loss, &lp);
        if (rc) {
            if (rc == MLCL_ENUMERIC && !t->o.stop_on_nonfinite && t->phase == 1) {
                t->ph[0].lr *= 0.5f;
                mlcl__trainer_set_phase_lr(t);
                t->pos++;
                continue;
            }
            return rc;
        }
        t->pos++;
        t->step++;
        t->ep_loss += loss; t->ep_con += lp.con; t->ep_G += lp.G; t->ep_H += lp.H; t->ep_W += lp.wreg;
        t->ep_batches++;
        t->ep_samples += k;
        if (report(t, 0, &lp, loss, lr, mlcl__now_s() - t0)) {
            if (t->phase == 1) t->t_pre += mlcl__now_s() - t0; else t->t_fin += mlcl__now_s() - t0;
            return mlcl__err(MLCL_EINTERRUPTED, "mlcl_trainer_run: stopped by the progress callback at phase %d epoch %d step %lld",
                             t->phase, t->epoch, t->step);
        }
    }
    return MLCL_OK;
}

static int run_epoch(mlcl_trainer *t)
{
    const mlcl__phase *ph = &t->ph[t->phase == 1 ? 0 : 1];
    if (t->pos < 0) {
        if (!t->stream) mlcl__pcg_permutation(&t->rng, t->perm, t->n);
        t->pos = 0;
        t->ep_loss = t->ep_con = t->ep_G = t->ep_H = t->ep_W = 0;
        t->ep_batches = t->ep_samples = 0;
    }
    enter_phase_modes(t);
    mlcl__trainer_set_phase_lr(t);
    float lr;
    mlcl_optim_get_lr(t->phase == 1 ? t->popt : t->ft, 0, &lr);
    double t0 = mlcl__now_s(), base_elapsed = 0;
    if (t->stream) MLCL_TRY(stream_batches(t, lr, t0));
    else
    while (t->n - t->pos >= 2) { /* a last batch of one row is dropped (batch statistics need 2) */
        int k = t->n - t->pos < t->batch ? t->n - t->pos : t->batch;
        if (t->phase == 1 && k < t->batch && t->pos > 0) break; /* pretraining drops the ragged tail */
        if (k < t->comm.size) break; /* a tail smaller than the ranks: dropped */
        memcpy(t->rows, t->perm + t->pos, sizeof(int) * k);
        double loss = 0;
        mlcl_loss_parts lp = MLCL_LOSS_PARTS_INIT;
        int rc = train_batch(t, k, &loss, &lp);
        if (rc) {
            if (rc == MLCL_ENUMERIC && !t->o.stop_on_nonfinite && t->phase == 1) {
                /* roll back (done by mlcl_moco_step) and halve the learning rate */
                t->ph[0].lr *= 0.5f;
                mlcl__trainer_set_phase_lr(t);
                t->pos += k;
                continue;
            }
            return rc;
        }
        t->pos += k;
        t->step++;
        t->ep_loss += loss; t->ep_con += lp.con; t->ep_G += lp.G; t->ep_H += lp.H; t->ep_W += lp.wreg;
        t->ep_batches++;
        t->ep_samples += k;
        double el = mlcl__now_s() - t0 + base_elapsed;
        if (report(t, 0, &lp, loss, lr, el)) {
            if (t->phase == 1) t->t_pre += mlcl__now_s() - t0; else t->t_fin += mlcl__now_s() - t0;
            return mlcl__err(MLCL_EINTERRUPTED, "mlcl_trainer_run: stopped by the progress callback at phase %d epoch %d step %lld",
                             t->phase, t->epoch, t->step);
        }
    }
    double el = mlcl__now_s() - t0;
    if (t->phase == 1) t->t_pre += el; else t->t_fin += el;
    int ft = t->phase == 2;
    if (ft && t->val) MLCL_TRY(mlcl__trainer_val_epoch_end(t)); /* before the report: the callback may read it */
    int stop = report(t, 1, NULL, 0, lr, el);
    /* advance */
    t->pos = -1;
    t->epoch++;
    /* early stopping: patience epochs without a new best */
    int early = ft && mlcl__trainer_selecting(t) && t->vo.patience > 0 && t->epoch < ph->epochs &&
                t->epoch - 1 - t->best_epoch >= t->vo.patience;
    if (t->epoch >= ph->epochs || early) {
        t->end_step[t->phase - 1] = t->step;
        t->epoch = 0;
        t->step = 0;
        t->phase++;
        if (t->phase == 2 && t->ph[1].epochs == 0) t->phase = 3;
        if (t->phase == 3 && t->val) MLCL_TRY(mlcl__trainer_val_finish(t));
    }
    if (stop)
        return mlcl__err(MLCL_EINTERRUPTED, "mlcl_trainer_run: stopped by the progress callback after an epoch");
    return MLCL_OK;
}

int mlcl_trainer_run_epochs(mlcl_trainer *t, int epochs, int *done)
{
    const char *fn = "mlcl_trainer_run_epochs";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    if (epochs < 0) return mlcl__err(MLCL_EINVAL, "%s: epochs must be >= 0 (got %d)", fn, epochs);
    int held, rc = MLCL_OK;
    MLCL_TRY(mlcl__trainer_enter(t, 0, &held, fn));
    for (int e = 0; e < epochs && t->phase < 3 && rc == MLCL_OK; e++) rc = run_epoch(t);
    if (rc == MLCL_OK && done) *done = t->phase >= 3;
    mlcl__trainer_leave(t, held);
    return rc;
}

int mlcl_trainer_run(mlcl_trainer *t)
{
    const char *fn = "mlcl_trainer_run";
    MLCL_CHECK_NULL_AS(fn, t, "trainer");
    int held, rc = MLCL_OK;
    MLCL_TRY(mlcl__trainer_enter(t, 0, &held, fn));
    while (t->phase < 3 && rc == MLCL_OK) rc = run_epoch(t);
    mlcl__trainer_leave(t, held);
    return rc;
}

