/* The MoCo key/query pair: one call = one pretraining step (MATH.md "MoCo step"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mlcl/moco.h"
#include "mlcl/ops.h"
#include "kernels/gemm.h"
#include "kernels/par.h"
#include "cl/moco_internal.h"
#include "nn/nn_lib.h"
#include "kernels/vec.h"
#include "cl/loss_internal.h"
#include "dist/comm_lib.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")
#endif

int mlcl_moco_options_init(mlcl_moco_options *opts, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_moco_options_init", opts, version, MLCL_MOCO_OPTIONS_VERSION, mlcl_moco_options, MLCL_MOCO_OPTIONS_INIT);
}

int mlcl__moco_resolve(const mlcl_moco_options *o, mlcl__moco_conf *c, int read_widths, const char *fn)
{
    static const int default_widths[] = { 256, 512, 256 };
    static const mlcl_loss_options default_loss = MLCL_LOSS_OPTIONS_INIT;
    static const mlcl_optim_options default_optim = MLCL_MOCO_OPTIM_INIT;
    MLCL_CHECK_VERSION(fn, o, MLCL_MOCO_OPTIONS_VERSION);
    memset(c, 0, sizeof *c);
    if (!read_widths) { /* a caller's backbone: the MLP fields are not used (not even read) */
        c->n_hidden = 1;
        c->hidden[0] = 1;
    } else if (o->hidden) {
        if (o->n_hidden < 1 || o->n_hidden > MLCL_MLP_MAX_HIDDEN)
            return mlcl__err(MLCL_EINVAL, "%s: opts->n_hidden must be in 1..%d with opts->hidden set (got %d)", fn,
                             MLCL_MLP_MAX_HIDDEN, o->n_hidden);
        c->n_hidden = o->n_hidden;
        memcpy(c->hidden, o->hidden, sizeof(int) * (size_t)o->n_hidden);
    } else {
        if (o->n_hidden != 0)
            return mlcl__err(MLCL_EINVAL, "%s: opts->n_hidden = %d but opts->hidden is NULL (NULL: the default widths "
                             "256, 512, 256; set both or neither)", fn, o->n_hidden);
        c->n_hidden = (int)(sizeof default_widths / sizeof *default_widths);
        memcpy(c->hidden, default_widths, sizeof default_widths);
    }
    c->in_dim = o->in_dim;
    c->n_labels = o->n_labels;
    c->dropout = o->dropout;
    c->proj_dim = o->proj_dim;
    c->proj_dropout = o->proj_dropout;
    c->queue_size = o->queue_size;
    c->momentum = o->momentum;
    c->max_batch = o->max_batch ? o->max_batch : MLCL_MOCO_DEFAULT_MAX_BATCH;
    c->seed = o->seed;
    c->loss = o->loss ? *o->loss : default_loss;
    c->optim = o->optim ? *o->optim : default_optim;
    c->key_train_mode = o->key_train_mode;
    return MLCL_OK;
}

static int validate(const mlcl__moco_conf *o)
{
    const char *fn = "mlcl_moco_create";
    if (o->in_dim <= 0) return mlcl__err(MLCL_EINVAL, "%s: opts->in_dim must be > 0 (got %d)", fn, o->in_dim);
    if (o->n_labels <= 0) return mlcl__err(MLCL_EINVAL, "%s: opts->n_labels must be > 0 (got %d)", fn, o->n_labels);
    if (o->n_hidden < 1 || o->n_hidden > MLCL_MLP_MAX_HIDDEN)
        return mlcl__err(MLCL_EINVAL, "%s: opts->n_hidden must be in 1..%d (got %d)", fn, MLCL_MLP_MAX_HIDDEN, o->n_hidden);
    for (int i = 0; i < o->n_hidden; i++)
        if (o->hidden[i] <= 0) return mlcl__err(MLCL_EINVAL, "%s: opts->hidden[%d] must be > 0 (got %d)", fn, i, o->hidden[i]);
    if (!(o->dropout >= 0 && o->dropout < 1)) return mlcl__err(MLCL_EINVAL, "%s: opts->dropout must be in [0, 1)", fn);
    if (!(o->proj_dropout >= 0 && o->proj_dropout < 1)) return mlcl__err(MLCL_EINVAL, "%s: opts->proj_dropout must be in [0, 1)", fn);
    if (o->proj_dim <= 0) return mlcl__err(MLCL_EINVAL, "%s: opts->proj_dim must be > 0 (got %d)", fn, o->proj_dim);
    if (o->queue_size <= 0) return mlcl__err(MLCL_EINVAL, "%s: opts->queue_size must be > 0 (got %d)", fn, o->queue_size);
    if (!(o->momentum >= 0 && o->momentum <= 1)) return mlcl__err(MLCL_EINVAL, "%s: opts->momentum must be in [0, 1]", fn);
    if (o->max_batch < 2) return mlcl__err(MLCL_EINVAL, "%s: opts->max_batch must be 0 or >= 2 (got %d)", fn, o->max_batch);
    if (o->key_train_mode != 0 && o->key_train_mode != 1) return mlcl__err(MLCL_EINVAL, "%s: opts->key_train_mode must be 0 or 1 (got %d)", fn, o->key_train_mode);
    return MLCL_OK;
}

void mlcl__moco_estimate(const mlcl__moco_conf *o, int hdim, size_t backbone_np, mlcl__mem_est *e)
{
    const double F = sizeof(float), B = o->max_batch, K = o->queue_size, m = o->proj_dim, c = o->n_labels;
    const double words = ceil(c / 64.0), hd = hdim;
    /* the queue's rows, the loss's n x (n + K) logits and weights and its per-candidate vectors */
    mlcl__est_add(e, K * (m * F + words * 8 + c * F) + B * (B + K) * F * 2 + (B + K) * (3 * F + 16),
                  "keys/labels/distributions and the loss workspace", "queue_size %d", o->queue_size);
    /* a query parameter has a value, a gradient and two moments; a key
     * parameter a value, a gradient and a rollback copy */
    if (backbone_np) {
        mlcl__est_add(e, (double)backbone_np * 7 * F, "the backbone's parameters", "a backbone of %zu parameters", backbone_np);
    } else {
        double in = o->in_dim, w0 = o->hidden[0], rest = 0, widths = 0;
        mlcl__est_add(e, (in * w0 + w0) * 7 * F + B * in * F * 4, "the first layer", "in_dim %d (x %d)",
                      o->in_dim, o->hidden[0]);
        for (int i = 0; i < o->n_hidden; i++) {
            widths += o->hidden[i];
            if (i) rest += (double)o->hidden[i - 1] * o->hidden[i] + o->hidden[i];
        }
        mlcl__est_add(e, rest * 7 * F, "the hidden layers", "the hidden widths");
        mlcl__est_add(e, B * widths * F * 12, "the backbone's activations", "max_batch %d", o->max_batch);
    }
    mlcl__est_add(e, (hd * hd + hd * m + 2 * hd + m) * 7 * F + B * (2 * hd + m) * F * 12,
                  "the projection heads", "proj_dim %d", o->proj_dim);
    mlcl__est_add(e, (hd * c + c) * 4 * F + B * c * F * 8, "the label head and distributions", "n_labels %d", o->n_labels);
    mlcl__est_add(e, B * (2 * hd + 3 * m + 4 * c + 2 * (hd > m ? hd : m)) * F, "the step's workspaces", "max_batch %d",
                  o->max_batch);
}

void mlcl_moco_free(mlcl_moco *mc)
{
    if (!mc) return;
    for (int i = 0; i < MOCO_NETS; i++) mlcl_encoder_free(mc->net[i]);
    mlcl_queue_free(mc->queue);
    mlcl_loss_free(mc->loss);
    mlcl_optim_free(mc->optim);
    float *bufs[] = { mc->h, mc->q, mc->k, mc->hk, mc->logits, mc->D, mc->grad_q, mc->grad_D,
                      mc->grad_logits, mc->grad_h, mc->grad_h2, mc->bak_params, mc->bak_state };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) mlcl__free(bufs[i]);
    mlcl__moco_gather_free(&mc->g);
    mlcl__free(mc);
}

static int build_proj(mlcl_encoder **out, const mlcl__moco_conf *o, int hdim, uint64_t seed)
{
    mlcl_encoder_options eo = MLCL_ENCODER_OPTIONS_INIT;
    eo.max_batch = o->max_batch;
    eo.seed = seed;
    MLCL_TRY(mlcl_encoder_create(out, hdim, &eo));
    MLCL_TRY(mlcl_encoder_add_linear(*out, hdim, 1));
    MLCL_TRY(mlcl_encoder_add_batchnorm(*out, 1e-5f, 0.1f));
    MLCL_TRY(mlcl_encoder_add_relu(*out));
    if (o->proj_dropout > 0) MLCL_TRY(mlcl_encoder_add_dropout(*out, o->proj_dropout));
    MLCL_TRY(mlcl_encoder_add_linear(*out, o->proj_dim, 1));
    MLCL_TRY(mlcl_encoder_add_l2norm(*out));
    return MLCL_OK;
}

static int create_inner(mlcl_moco *mc, const mlcl_encoder *backbone)
{
    const mlcl__moco_conf *o = &mc->o;
    mlcl_encoder_options eo = MLCL_ENCODER_OPTIONS_INIT;
    eo.max_batch = o->max_batch;
    if (backbone) {
        /* the caller's backbone: the query side is a copy of it, the key side another */
        MLCL_TRY(mlcl_encoder_clone(&mc->net[MOCO_ENC_Q], backbone));
        MLCL_TRY(mlcl_encoder_clone(&mc->net[MOCO_ENC_K], backbone));
        MLCL_TRY(mlcl_encoder_set_training(mc->net[MOCO_ENC_Q], 1));
        MLCL_TRY(mlcl_encoder_set_training(mc->net[MOCO_ENC_K], 1));
        MLCL_TRY(mlcl_encoder_out_dim(backbone, &mc->hdim));
    } else {
        mlcl_mlp_spec spec = MLCL_MLP_SPEC_INIT;
        spec.in_dim = o->in_dim;
        spec.n_hidden = o->n_hidden;
        memcpy(spec.hidden, o->hidden, sizeof spec.hidden);
        spec.dropout = o->dropout;
        /* distinct streams per network; the key side gets its own dropout stream */
        eo.seed = o->seed * 8 + 1;
        MLCL_TRY(mlcl_encoder_create_mlp(&mc->net[MOCO_ENC_Q], &spec, &eo));
        eo.seed = o->seed * 8 + 4;
        MLCL_TRY(mlcl_encoder_create_mlp(&mc->net[MOCO_ENC_K], &spec, &eo));
        mc->hdim = o->hidden[o->n_hidden - 1];
    }
    MLCL_TRY(build_proj(&mc->net[MOCO_PROJ_Q], o, mc->hdim, o->seed * 8 + 2));
    MLCL_TRY(build_proj(&mc->net[MOCO_PROJ_K], o, mc->hdim, o->seed * 8 + 5));
    eo.seed = o->seed * 8 + 3;
    MLCL_TRY(mlcl_encoder_create(&mc->net[MOCO_LD], mc->hdim, &eo));
    MLCL_TRY(mlcl_encoder_add_linear(mc->net[MOCO_LD], o->n_labels, 1));
    /* the key side starts as an exact copy of the query side */
    MLCL_TRY(mlcl_encoder_copy_params(mc->net[MOCO_ENC_K], mc->net[MOCO_ENC_Q]));
    MLCL_TRY(mlcl_encoder_copy_params(mc->net[MOCO_PROJ_K], mc->net[MOCO_PROJ_Q]));
    if (!o->key_train_mode) {
        MLCL_TRY(mlcl_encoder_set_training(mc->net[MOCO_ENC_K], 0));
        MLCL_TRY(mlcl_encoder_set_training(mc->net[MOCO_PROJ_K], 0));
    }

    mlcl_queue_options qo = MLCL_QUEUE_OPTIONS_INIT;
    qo.capacity = o->queue_size;
    qo.feat_dim = o->proj_dim;
    qo.n_labels = o->n_labels;
    MLCL_TRY(mlcl_queue_create(&mc->queue, &qo));
    MLCL_TRY(mlcl_loss_create(&mc->loss, o->max_batch, o->queue_size, o->proj_dim, o->n_labels, &o->loss));
    /* the built-in single-rank communicator until the caller installs one */
    mlcl__comm_single(&mc->comm);
    MLCL_TRY(mlcl__moco_gather_alloc(mc, 1, &mc->g, "mlcl_moco_create"));
    MLCL_TRY(mlcl_optim_create(&mc->optim, &o->optim));
    for (int i = MOCO_ENC_Q; i <= MOCO_LD; i++) {
        float *p, *g;
        size_t np;
        MLCL_TRY(mlcl_encoder_param_count(mc->net[i], &np));
        MLCL_TRY(mlcl_encoder_params_ptr(mc->net[i], &p));
        MLCL_TRY(mlcl_encoder_grads_ptr(mc->net[i], &g));
        MLCL_TRY(mlcl_optim_add_group(mc->optim, p, g, np, o->optim.lr, o->optim.weight_decay, NULL));
    }
    size_t nb = (size_t)o->max_batch;
    int wmax = mc->hdim > o->proj_dim ? mc->hdim : o->proj_dim;
    struct { float **p; size_t n; } bufs[] = {
        { &mc->h, nb * mc->hdim }, { &mc->hk, nb * mc->hdim }, { &mc->q, nb * o->proj_dim },
        { &mc->k, nb * o->proj_dim }, { &mc->logits, nb * o->n_labels }, { &mc->D, nb * o->n_labels },
        { &mc->grad_q, nb * o->proj_dim }, { &mc->grad_D, nb * o->n_labels },
        { &mc->grad_logits, nb * o->n_labels }, { &mc->grad_h, nb * wmax }, { &mc->grad_h2, nb * wmax },
    };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        MLCL_TRY(mlcl__alloc_array((void **)bufs[i].p, bufs[i].n, sizeof(float), "mlcl_moco_create"));
    size_t n1, n2, s = 0, st;
    MLCL_TRY(mlcl_encoder_param_count(mc->net[MOCO_ENC_K], &n1));
    MLCL_TRY(mlcl_encoder_param_count(mc->net[MOCO_PROJ_K], &n2));
    mc->bak_params_n = n1 + n2;
    for (int i = 0; i < MOCO_NETS; i++) { MLCL_TRY(mlcl_encoder_state_count(mc->net[i], &st)); s += st; }
    mc->bak_state_n = s;
    MLCL_TRY(mlcl__alloc_array((void **)&mc->bak_params, mc->bak_params_n + 1, sizeof(float), "mlcl_moco_create"));
    MLCL_TRY(mlcl__alloc_array((void **)&mc->bak_state, mc->bak_state_n + 1, sizeof(float), "mlcl_moco_create"));
    return MLCL_OK;
}

int mlcl_moco_create(mlcl_moco **out, const mlcl_moco_options *opts_in)
{
    const char *fn = "mlcl_moco_create";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    if (!opts_in) return mlcl__err(MLCL_EINVAL, "%s: opts is NULL", fn);
    if (opts_in->version != MLCL_MOCO_OPTIONS_VERSION) /* (before reading backbone) */
        return mlcl__err(MLCL_EVERSION, "%s: opts->version %u is not %u", fn, opts_in->version, MLCL_MOCO_OPTIONS_VERSION);
    const mlcl_encoder *backbone = opts_in->backbone; /* NULL: the MLP of opts */
    mlcl__moco_conf o2, *opts = &o2;
    MLCL_TRY(mlcl__moco_resolve(opts_in, opts, backbone == NULL, fn));
    if (backbone) {
        int bin, bout;
        MLCL_TRY(mlcl_encoder_in_dim(backbone, &bin));
        MLCL_TRY(mlcl_encoder_out_dim(backbone, &bout));
        if (opts->in_dim != 0 && opts->in_dim != bin)
            return mlcl__err(MLCL_EINVAL, "%s: opts->in_dim = %d differs from opts->backbone's input width %d "
                             "(set it to 0 or to %d)", fn, opts->in_dim, bin, bin);
        opts->in_dim = bin;
        /* the MLP fields are not used: make them valid for the checks below */
        opts->n_hidden = 1;
        opts->hidden[0] = bout;
        opts->dropout = 0;
    }
    MLCL_TRY(validate(opts));
    {
        mlcl__mem_est est = { 0 };
        size_t bnp = 0;
        if (backbone) MLCL_TRY(mlcl_encoder_param_count(backbone, &bnp));
        mlcl__moco_estimate(opts, backbone ? opts->hidden[0] : opts->hidden[opts->n_hidden - 1], bnp + (backbone != NULL), &est);
        MLCL_TRY(mlcl__mem_check(&est, fn));
    }
    mlcl_moco *mc = mlcl__calloc(1, sizeof *mc);
    if (!mc) return mlcl__err(MLCL_ENOMEM, "mlcl_moco_create: out of memory");
    mc->o = *opts;
    mc->in_dim = opts->in_dim;
    mc->m = opts->proj_dim;
    mc->c = opts->n_labels;
    mc->words = (int)mlcl_label_words(opts->n_labels);
    mc->max_batch = opts->max_batch;
    mc->momentum = opts->momentum;
    mc->use_ld = opts->loss.method == MLCL_LOSS_LD;
    /* Threads of the step (docs/performance.md): OpenBLAS runs single-threaded
     * inside it (its spin-waiting workers cost more than they give on these
     * GEMM sizes, and far more when other processes share the CPUs). With
     * a thread count >= 2 (the default on 2+ CPUs) and batches of at least
     * PAR_MIN_BATCH rows the key and query branches run side by side and each
     * Linear backward splits dW / dx over two threads (same
     * GEMMs, same results); the loss's row pass then also uses two threads,
     * whose partial sums make the result depend on the count: results are
     * deterministic for a seed and thread count. */
    mc->parallel = 1;
    /* a caller's backbone (e.g. a residual network on oneDNN) parallelises
     * inside its own kernels: the branches then run one after the other */
    if (backbone) mc->parallel = 0;
    int rc = create_inner(mc, backbone);
    if (rc != MLCL_OK) { mlcl_moco_free(mc); return rc; }

    *out = mc;
    return MLCL_OK;
}

/* The key parameters are not copied here: the momentum update copies them
 * into bak_params as it reads them (key_branch), one pass instead of two. */
void mlcl__moco_backup(mlcl_moco *mc)
{
    size_t off = 0;
    mc->bak_keys = 0;
    for (int i = 0; i < MOCO_NETS; i++) {
        size_t st;
        mlcl_encoder_state_count(mc->net[i], &st);
        if (st) mlcl_encoder_get_state(mc->net[i], mc->bak_state + off, st);
        off += st;
        mlcl_encoder_get_rng_state(mc->net[i], mc->bak_rng[i]);
    }
}

void mlcl__moco_restore(mlcl_moco *mc)
{
    size_t n1, off = 0;
    mlcl_encoder_param_count(mc->net[MOCO_ENC_K], &n1);
    if (mc->bak_keys >= 1) mlcl_encoder_set_params(mc->net[MOCO_ENC_K], mc->bak_params, n1);
    if (mc->bak_keys >= 2) mlcl_encoder_set_params(mc->net[MOCO_PROJ_K], mc->bak_params + n1, mc->bak_params_n - n1);
    mc->bak_keys = 0;
    for (int i = 0; i < MOCO_NETS; i++) {
        size_t st;
        mlcl_encoder_state_count(mc->net[i], &st);
        if (st) mlcl_encoder_set_state(mc->net[i], mc->bak_state + off, st);
        off += st;
        mlcl_encoder_set_rng_state(mc->net[i], mc->bak_rng[i]);
    }
}

/* half t of each query network's gradients finite: ok[t] */
typedef struct fin_job { mlcl_moco *mc; int ok[2]; } fin_job;
static void finite_share(void *arg, int t)
{
    fin_job *j = arg;
    int ok = 1;
    for (int i = MOCO_ENC_Q; i <= MOCO_LD; i++) {
        float *g;
        size_t n;
        mlcl_encoder_grads_ptr(j->mc->net[i], &g);
        mlcl_encoder_param_count(j->mc->net[i], &n);
        size_t lo = n * (size_t)t / 2, hi = n * (size_t)(t + 1) / 2;
        ok &= mlcl__vec_all_finite(g + lo, hi - lo);
    }
    j->ok[t] = ok;
}

static int grads_finite(mlcl_moco *mc, int par, const char **which, size_t *index)
{
    static const char *names[] = { "query backbone", "projection head", "LD head" };
    if (par) { /* the scan on both threads; the search for the culprit below only on failure */
        fin_job j = { mc, { 0, 0 } };
        mlcl__par_for(2, finite_share, &j);
        if (j.ok[0] && j.ok[1]) return 1;
    }
    for (int i = MOCO_ENC_Q; i <= MOCO_LD; i++) {
        float *g;
        size_t n;
        mlcl_encoder_grads_ptr(mc->net[i], &g);
        mlcl_encoder_param_count(mc->net[i], &n);
        if (mlcl__vec_all_finite(g, n)) continue;
        for (size_t j = 0; j < n; j++)
            if (!isfinite(g[j])) { *which = names[i]; *index = j; return 0; }
    }
    return 1;
}

/* Step 4's end, shared by the one-process and the distributed step: refuse
 * non-finite gradients (naming the network and parameter), then the
 * optimiser. grads_finite covers every group the pair created; a group a
 * caller added through mlcl_moco_optim gets the optimiser's own check. */
static int check_and_update(mlcl_moco *mc, const char *fn, const mlcl_loss_parts *lp, int par)
{
    const char *which;
    size_t idx;
    if (!grads_finite(mc, par, &which, &idx))
        return mlcl__err(MLCL_ENUMERIC, "%s: step %lld: non-finite gradient in the %s (parameter %zu); loss con %g G %g H %g",
                         fn, mc->steps, which, idx, lp->con, lp->G, lp->H);
    int ng = 0;
    mlcl_optim_num_groups(mc->optim, &ng);
    if (ng == MOCO_LD + 1) {
        mlcl__optim_step_checked(mc->optim);
        return MLCL_OK;
    }
    return mlcl_optim_step(mc->optim);
}

/* Step 1 and the key half of step 2: momentum update, then k = proj_k(enc_k(x1)).
 * It shares nothing writable with the query branch (the query parameters are
 * only read), so it runs concurrently with it. */
typedef struct key_job {
    mlcl_moco *mc;
    int n, rc;
    const float *x1;
    int momentum_done; /* the update already ran (momentum_share) */
    char msg[512];     /* the error message: mlcl__err records it per thread */
} key_job;

/* The momentum update in two shares over the key parameters (backbone, then
 * projection head, as laid out in bak_params), one per thread, before the
 * branches: element-wise, so the shares give the same bits as one pass. The
 * pair's shapes and momentum were checked when it was created. */
static void momentum_share(void *arg, int t)
{
    mlcl_moco *mc = arg;
    mlcl_encoder **net = mc->net;
    /* and half of each query network's gradients zeroed (mlcl_encoder_zero_grad) */
    for (int i = MOCO_ENC_Q; i <= MOCO_LD; i++) {
        float *g;
        size_t np;
        mlcl_encoder_grads_ptr(net[i], &g);
        mlcl_encoder_param_count(net[i], &np);
        size_t lo = np * (size_t)t / 2, hi = np * (size_t)(t + 1) / 2;
        if (hi > lo) memset(g + lo, 0, (hi - lo) * sizeof *g);
    }
    size_t n1, ntot = mc->bak_params_n;
    mlcl_encoder_param_count(net[MOCO_ENC_K], &n1);
    size_t lo = ntot * (size_t)t / 2, hi = ntot * (size_t)(t + 1) / 2;
    if (lo < n1)
        mlcl__encoder_momentum_range(net[MOCO_ENC_K], net[MOCO_ENC_Q], mc->momentum, mc->bak_params + lo, lo,
                                     hi < n1 ? hi : n1);
    if (hi > n1) {
        size_t a = lo > n1 ? lo : n1;
        mlcl__encoder_momentum_range(net[MOCO_PROJ_K], net[MOCO_PROJ_Q], mc->momentum, mc->bak_params + a, a - n1,
                                     hi - n1);
    }
}

static void key_branch(void *arg)
{
    key_job *j = arg;
    mlcl_moco *mc = j->mc;
    mlcl_encoder **net = mc->net;
    size_t n1;
    int rc;
    mlcl_encoder_param_count(net[MOCO_ENC_K], &n1);
    /* the key parameters before the update go to bak_params (the rollback) */
    if ((!j->momentum_done &&
         ((rc = mlcl__encoder_momentum_update_keep(net[MOCO_ENC_K], net[MOCO_ENC_Q], mc->momentum, mc->bak_params)) ||
          (mc->bak_keys = 1,
           rc = mlcl__encoder_momentum_update_keep(net[MOCO_PROJ_K], net[MOCO_PROJ_Q], mc->momentum,
                                                   mc->bak_params + n1)))) ||
        (mc->bak_keys = 2, 0) ||
        (rc = j->mc->csr_ptr ? mlcl_encoder_forward_csr(net[MOCO_ENC_K], j->n, j->mc->csr_ptr, j->mc->csr_col,
                                                         j->mc->csr_v1, j->mc->hk)
                             : mlcl_encoder_forward(net[MOCO_ENC_K], j->n, j->x1, j->mc->hk)) ||
        (rc = mlcl_encoder_forward(net[MOCO_PROJ_K], j->n, j->mc->hk, j->mc->k)))
        snprintf(j->msg, sizeof j->msg, "%s", mlcl_last_error());
    j->rc = rc;
}

/* The query half of step 2: h = enc_q(x0), q = proj_q(h), D = softmax(fc(h)). */
static int query_branch(mlcl_moco *mc, int n, const float *x0)
{
    mlcl_encoder **net = mc->net;
    if (mc->csr_ptr) MLCL_TRY(mlcl_encoder_forward_csr(net[MOCO_ENC_Q], n, mc->csr_ptr, mc->csr_col, mc->csr_v0, mc->h));
    else MLCL_TRY(mlcl_encoder_forward(net[MOCO_ENC_Q], n, x0, mc->h));
    MLCL_TRY(mlcl_encoder_forward(net[MOCO_PROJ_Q], n, mc->h, mc->q));
    if (mc->use_ld) {
        MLCL_TRY(mlcl_encoder_forward(net[MOCO_LD], n, mc->h, mc->logits));
        MLCL_TRY(mlcl_softmax_forward(mc->D, mc->logits, n, mc->c));
    }
    return MLCL_OK;
}

/* Step 4's backward: through both heads into the backbone, each network's
 * gradients averaged over the ranks as soon as its backward is done (with the
 * built-in single-rank communicator the average is the identity). The
 * distribution gradients grad_D are this rank's rows. */
/* query_branch as a task of mlcl__par2 (on the calling thread: its error
 * message stays recorded there) */
typedef struct query_job {
    mlcl_moco *mc;
    int n;
    const float *x0;
    int rc;
} query_job;

static void query_run(void *arg)
{
    query_job *j = arg;
    j->rc = query_branch(j->mc, j->n, j->x0);
}

static int backward_q(mlcl_moco *mc, int n, const char *fn)
{
    mlcl_encoder **net = mc->net;
    MLCL_TRY(mlcl_encoder_backward(net[MOCO_PROJ_Q], n, mc->grad_q, mc->grad_h));
    MLCL_TRY(mlcl__moco_average_grads(mc, MOCO_PROJ_Q, fn));
    if (mc->use_ld) {
        memset(mc->grad_logits, 0, sizeof(float) * (size_t)n * mc->c);
        MLCL_TRY(mlcl_softmax_backward(mc->grad_logits, mc->D, mc->grad_D, n, mc->c));
        MLCL_TRY(mlcl_encoder_backward(net[MOCO_LD], n, mc->grad_logits, mc->grad_h2));
        size_t nh = (size_t)n * mc->hdim;
        for (size_t i = 0; i < nh; i++) mc->grad_h[i] += mc->grad_h2[i];
    }
    MLCL_TRY(mlcl__moco_average_grads(mc, MOCO_LD, fn));
    MLCL_TRY(mlcl_encoder_backward(net[MOCO_ENC_Q], n, mc->grad_h, NULL));
    return mlcl__moco_average_grads(mc, MOCO_ENC_Q, fn);
}

/* the branches run side by side at every batch size: with par.c's polling
 * workers a hand-off costs about a microsecond, and the step gains from
 * both cores down to n = 4 (bench/step --n 4..64: 1.01 -> 0.77 ms at n = 4,
 * 3.3 -> 2.3-2.6 ms at n = 64; it was 128 when each hand-off woke a
 * sleeping thread). The results are the same either way. */
#define PAR_MIN_BATCH 2

static int step(mlcl_moco *mc, int n, const float *x0, const float *x1, const uint64_t *y, mlcl_loss_parts *parts);

int mlcl_moco_step(mlcl_moco *mc, int n, const float *x0, const float *x1, const uint64_t *y,
                   mlcl_loss_parts *parts)
{
    MLCL_CHECK_NULL_AS("mlcl_moco_step", mc, "moco");
    if (parts) MLCL_CHECK_VERSION("mlcl_moco_step", parts, MLCL_LOSS_PARTS_VERSION);
    int idle = 0;
    if (!atomic_compare_exchange_strong(&mc->busy, &idle, 1))
        return mlcl__err(MLCL_EBUSY, "mlcl_moco_step: the MoCo pair is in use by another call");
    int tok = mlcl__threads_enter(mc->threads);
    int rc = step(mc, n, x0, x1, y, parts);
    mlcl__threads_leave(tok);
    atomic_store(&mc->busy, 0);
    return rc;
}

int mlcl__moco_step_csr(mlcl_moco *mc, int n, const int64_t *ptr, const int *col, const float *v0, const float *v1,
                        const uint64_t *y, mlcl_loss_parts *parts)
{
    static const char fn[] = "mlcl_moco_step";
    MLCL_CHECK_NULL_AS(fn, mc, "moco");
    MLCL_CHECK_NULL(fn, ptr);
    MLCL_CHECK_NULL(fn, v0);
    MLCL_CHECK_NULL(fn, v1);
    if (parts) MLCL_CHECK_VERSION(fn, parts, MLCL_LOSS_PARTS_VERSION);
    if (mc->has_comm) return mlcl__err(MLCL_EINVAL, "%s: sparse (CSR) views are not supported data-parallel", fn);
    int idle = 0;
    if (!atomic_compare_exchange_strong(&mc->busy, &idle, 1))
        return mlcl__err(MLCL_EBUSY, "%s: the MoCo pair is in use by another call", fn);
    /* set while the pair is held: no other step can see them */
    mc->csr_ptr = ptr; mc->csr_col = col; mc->csr_v0 = v0; mc->csr_v1 = v1;
    int tok = mlcl__threads_enter(mc->threads);
    int rc = step(mc, n, NULL, NULL, y, parts);
    mlcl__threads_leave(tok);
    mc->csr_ptr = NULL; mc->csr_col = NULL; mc->csr_v0 = mc->csr_v1 = NULL;
    atomic_store(&mc->busy, 0);
    return rc;
}

/* The inputs of one rank, checked; the status goes through the handshake. */
static int check_inputs(mlcl_moco *mc, int n, const float *x0, const float *x1, const uint64_t *y, const char *fn)
{
    const int R = mc->comm.size;
    if (!mc->csr_ptr) { /* (CSR views: checked by mlcl_encoder_forward_csr) */
        MLCL_CHECK_NULL(fn, x0);
        MLCL_CHECK_NULL(fn, x1);
    }
    MLCL_CHECK_NULL(fn, y);
    if (R == 1 && (n < 2 || n > mc->max_batch))
        return mlcl__err(MLCL_EINVAL, "%s: n must be in 2..max_batch=%d (got %d)", fn, mc->max_batch, n);
    if (n < 1 || n > mc->max_batch || (long long)n * R < 2)
        return mlcl__err(MLCL_EINVAL, "%s: n must be in 1..max_batch=%d with n x ranks >= 2 (got %d)", fn, mc->max_batch, n);
    if (!mc->csr_ptr) {
        if (!mlcl__vec_all_finite(x0, (size_t)n * (size_t)mc->o.in_dim)) return mlcl__err(MLCL_ENUMERIC, "%s: x0 holds NaN or Inf", fn);
        if (!mlcl__vec_all_finite(x1, (size_t)n * (size_t)mc->o.in_dim)) return mlcl__err(MLCL_ENUMERIC, "%s: x1 holds NaN or Inf", fn);
    }
    return MLCL_OK;
}

/* One step on this rank's n rows, for any number of ranks: the candidates are
 * the keys, labels and distributions of the global batch (gathered in rank
 * order), BatchNorm is synchronised (the encoders hold the caller's
 * communicator), the gradients are averaged. With the built-in single-rank
 * communicator every collective is the identity or a copy: the single-process
 * step. Every rank goes through the same collectives in the same order; a
 * failure on one rank is made known to all through the handshake and the
 * reduced loss parts, so they all roll back together. */
static int step(mlcl_moco *mc, int n, const float *x0, const float *x1, const uint64_t *y, mlcl_loss_parts *parts)
{
    const char *fn = "mlcl_moco_step";
    mlcl__moco_gather *gg = &mc->g;
    const mlcl_comm *cm = &mc->comm;
    const int R = cm->size, me = cm->rank;
    int st = check_inputs(mc, n, x0, x1, y, fn);
    /* handshake: every rank's n and input status */
    long long mine[2] = { n, st };
    MLCL_TRY(mlcl__comm_gather(cm, mine, sizeof mine, gg->hs, fn, "batch sizes"));
    if (st) return st;
    for (int r = 0; r < R; r++)
        if (gg->hs[2 * r + 1] != MLCL_OK)
            return mlcl__err((int)gg->hs[2 * r + 1], "%s: rank %d rejected its inputs (status %lld)", fn, r, gg->hs[2 * r + 1]);
    for (int r = 0; r < R; r++)
        if (gg->hs[2 * r] != n)
            return mlcl__err(MLCL_EINVAL, "%s: every rank must pass the same n: rank %d passed %lld, rank %d %d", fn, r,
                             gg->hs[2 * r], me, n);
    const int nb = R * n, off = me * n;
    mlcl_encoder **net = mc->net;
    mlcl_loss_parts lp = MLCL_LOSS_PARTS_INIT;
    mlcl__moco_backup(mc);
    /* 1. momentum update of the key side, then 2. forward: q and D share one
     * backbone pass (one dropout mask). The key branch (momentum update, key
     * encoder) and the query branch touch disjoint state, so with
     * a thread count >= 2 they run at the same time, and each Linear backward splits dW / dx
     * over two threads; every network keeps its own dropout stream, so the
     * result does not depend on whether they ran in parallel. With a caller's
     * communicator the branches run one after the other: the synchronised
     * BatchNorm calls the collectives from this thread only. */
    int par = mc->parallel && n >= PAR_MIN_BATCH && !mc->has_comm && mlcl__threads_current() >= 2;
    /* with two threads the gradients are zeroed in the momentum shares below */
    if (!par)
        for (int i = MOCO_ENC_Q; i <= MOCO_LD; i++) MLCL_TRY(mlcl_encoder_zero_grad(net[i]));
    for (int i = 0; i < MOCO_NETS; i++) {
        if (mc->has_comm) mlcl__encoder_set_rows(net[i], off, nb);
        mlcl__encoder_set_par(net[i], i <= MOCO_LD && par);
    }
    key_job kj = { mc, n, MLCL_OK, x1, 0, { 0 } };
    int rc;
    if (par) {
        query_job qj = { mc, n, x0, MLCL_OK };
        /* the update on both threads first: the key branch is the longer one */
        mlcl__par_for(2, momentum_share, mc);
        kj.momentum_done = 1;
        mlcl__par2(key_branch, &kj, query_run, &qj);
        rc = qj.rc;
    } else {
        rc = query_branch(mc, n, x0);
        if (rc == MLCL_OK) key_branch(&kj);
    }
    /* the query branch's error comes first (as in the sequential order); the
     * key branch's message is re-recorded in this thread */
    if (rc == MLCL_OK && kj.rc != MLCL_OK) rc = mlcl__err(kj.rc, "%s", kj.msg);
    if (rc) goto fail;
    /* the global batch: keys, labels, distributions of all ranks in rank order */
    if ((rc = mlcl__comm_gather(cm, mc->k, sizeof(float) * (size_t)n * mc->m, gg->kg, fn, "keys")) ||
        (rc = mlcl__comm_gather(cm, y, sizeof(uint64_t) * (size_t)n * mc->words, gg->yg, fn, "labels")) ||
        (mc->use_ld && (rc = mlcl__comm_gather(cm, mc->D, sizeof(float) * (size_t)n * mc->c, gg->Dg, fn, "distributions"))))
        goto fail;
    const float *W = NULL;
    float *gW = NULL;
    if (mc->use_ld) {
        float *p;
        mlcl_encoder_params_ptr(net[MOCO_LD], &p);
        W = p; /* weight (c x hdim) comes first in the layout */
        mlcl_encoder_grads_ptr(net[MOCO_LD], &gW);
        memset(gg->grad_Dg, 0, sizeof(float) * (size_t)nb * mc->c);
    }
    /* 3. the local anchors against the global batch and the queue as it was */
    memset(mc->grad_q, 0, sizeof(float) * (size_t)n * mc->m);
    int lrc = mlcl__loss_compute_ranks(mc->loss, n, nb, off, mc->q, gg->kg, gg->yg, mc->use_ld ? gg->Dg : NULL,
                                       mc->queue, W, mc->hdim, &lp, mc->grad_q, mc->use_ld ? gg->grad_Dg : NULL, gW);
    /* the parts of the global batch (each rank's are scaled so that their mean is it) and the failure flag */
    double red[7] = { lp.total, lp.con, lp.G, lp.H, lp.wreg, lp.n_anchors_used, lrc != MLCL_OK };
    if (lrc) for (int j = 0; j < 6; j++) red[j] = 0;
    if ((rc = mlcl__comm_sum_f64(cm, red, 7, fn, "loss parts"))) goto fail;
    if (lrc) { rc = lrc; goto fail; }
    if (red[6] != 0) { rc = mlcl__err(MLCL_ENUMERIC, "%s: step %lld: the loss failed on another rank", fn, mc->steps); goto fail; }
    lp.total = red[0] / R; lp.con = red[1] / R; lp.G = red[2] / R; lp.H = red[3] / R; lp.wreg = red[4] / R;
    lp.n_anchors_used = (int)red[5];
    if (!isfinite(lp.total)) {
        rc = mlcl__err(MLCL_ENUMERIC, "%s: step %lld: the loss is not finite (con %g, G %g, H %g, W %g)", fn,
                       mc->steps, lp.con, lp.G, lp.H, lp.wreg);
        goto fail;
    }
    if (mc->use_ld) {
        /* every rank's anchors put gradient on every batch candidate's d: sum, keep ours */
        if ((rc = mlcl__comm_sum_f32(cm, gg->grad_Dg, (size_t)nb * mc->c, fn, "distribution gradients"))) goto fail;
        memcpy(mc->grad_D, gg->grad_Dg + (size_t)off * mc->c, sizeof(float) * (size_t)n * mc->c);
    }
    /* 4. backward (gradients averaged over the ranks), then the optimiser;
     * the averaged gradients are the same on every rank: so is the check */
    if ((rc = backward_q(mc, n, fn))) goto fail;
    if ((rc = check_and_update(mc, fn, &lp, par))) goto fail;
    /* 5. enqueue the global batch (k, y, D), detached: the queue is the same on every rank */
    if ((rc = mlcl_queue_enqueue(mc->queue, nb, gg->kg, gg->yg, mc->use_ld ? gg->Dg : NULL))) goto fail;
    mc->steps++;
    if (parts) *parts = lp;
    return MLCL_OK;
fail:
    mlcl__moco_restore(mc);
    if (parts) *parts = lp;
    return rc;
}

int mlcl_moco_encoder(mlcl_moco *mc, mlcl_moco_part part, mlcl_encoder **out)
{
    MLCL_CHECK_NULL_AS("mlcl_moco_encoder", mc, "moco");
    MLCL_CHECK_NULL("mlcl_moco_encoder", out);
    if ((int)part < 0 || (int)part >= MOCO_NETS)
        return mlcl__err(MLCL_EINVAL, "mlcl_moco_encoder: part must be an mlcl_moco_part, 0..4 (got %d)", (int)part);
    *out = mc->net[part];
    return MLCL_OK;
}

int mlcl_moco_queue(mlcl_moco *mc, mlcl_queue **out)
{
    MLCL_CHECK_NULL_AS("mlcl_moco_queue", mc, "moco");
    MLCL_CHECK_NULL("mlcl_moco_queue", out);
    *out = mc->queue;
    return MLCL_OK;
}

int mlcl_moco_optim(mlcl_moco *mc, mlcl_optim **out)
{
    MLCL_CHECK_NULL_AS("mlcl_moco_optim", mc, "moco");
    MLCL_CHECK_NULL("mlcl_moco_optim", out);
    *out = mc->optim;
    return MLCL_OK;
}

int mlcl_moco_steps(const mlcl_moco *mc, long long *steps)
{
    MLCL_CHECK_NULL_AS("mlcl_moco_steps", mc, "moco");
    MLCL_CHECK_NULL("mlcl_moco_steps", steps);
    *steps = mc->steps;
    return MLCL_OK;
}

int mlcl_moco_set_threads(mlcl_moco *mc, int n)
{
    MLCL_CHECK_NULL_AS("mlcl_moco_set_threads", mc, "moco");
    return mlcl__threads_check_handle("mlcl_moco_set_threads", n, &mc->threads);
}

int mlcl_moco_get_threads(const mlcl_moco *mc, int *n)
{
    MLCL_CHECK_NULL_AS("mlcl_moco_get_threads", mc, "moco");
    MLCL_CHECK_NULL("mlcl_moco_get_threads", n);
    *n = mc->threads;
    return MLCL_OK;
}

int mlcl_moco_set_steps(mlcl_moco *mc, long long steps)
{
    MLCL_CHECK_NULL_AS("mlcl_moco_set_steps", mc, "moco");
    if (steps < 0) return mlcl__err(MLCL_EINVAL, "mlcl_moco_set_steps: steps must be >= 0 (got %lld)", steps);
    mc->steps = steps;
    return MLCL_OK;
}

int mlcl_moco_loss(mlcl_moco *mc, mlcl_loss **out)
{
    MLCL_CHECK_NULL_AS("mlcl_moco_loss", mc, "moco");
    MLCL_CHECK_NULL("mlcl_moco_loss", out);
    *out = mc->loss;
    return MLCL_OK;
}
