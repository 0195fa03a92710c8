/* The oneDNN op layer (dnn_ops.h): engine/stream, threads, the primitive
 * and memory helpers shared by the plan builder, and execution. */
#include <string.h>
#include <dlfcn.h>
#include "dnn_internal.h"
#include "sigguard.h"

const char *const mlcl__cg_op_names[4] = { "convolution", "batch normalization", "pooling", "residual add" };

/* ------------------------------------------------------------------ engine, threads
 *
 * The one place that talks to OpenMP. libdnnl 2.x (Debian) is built with
 * DNNL_CPU_RUNTIME = OMP (dnnl_config.h, dnnl_version()->cpu_runtime): every
 * primitive runs on omp_get_max_threads() threads, i.e. the nthreads-var ICV
 * of the thread that executes it (and, for batch normalisation, of the thread
 * that created its descriptor). That ICV belongs to the calling thread (the
 * OpenMP spec's data-environment ICVs): setting it changes no other thread
 * and no process-wide state. The owner's thread count is applied by
 * thr_enter on the calling thread for the duration of one forward, backward
 * or plan build and restored by thr_leave before returning, so the caller's
 * thread finds its own value again. oneDNN 2.x has no per-primitive or
 * per-stream thread count for the OMP runtime (dnnl_threadpool_interop_* is
 * the THREADPOOL runtime only), so this is the narrowest scope available.
 * libgomp is found with dlsym (it is libdnnl's dependency, not ours): when it
 * is absent, oneDNN runs with its defaults and no thread count is applied. */

int mlcl__dnn_create(mlcl__dnn **out, int threads, const char *fn)
{
    *out = NULL;
    mlcl__dnn *d = mlcl__calloc(1, sizeof *d);
    if (!d) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    d->threads = threads > 0 ? threads : 1;
    dnnl_status_t s = dnnl_engine_create(&d->eng, dnnl_cpu, 0);
    if (s == dnnl_success) {
        s = dnnl_stream_create(&d->strm, d->eng, dnnl_stream_default_flags);
        if (s != dnnl_success) { dnnl_engine_destroy(d->eng); d->eng = NULL; }
    }
    if (s != dnnl_success) {
        mlcl__free(d);
        return mlcl__err(MLCL_EBACKEND, "%s: oneDNN CPU engine/stream creation failed: %s", fn, dnnl_status2str(s));
    }
    d->omp_get = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    d->omp_set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (!d->omp_get || !d->omp_set) d->omp_get = NULL, d->omp_set = NULL;
    *out = d;
    return MLCL_OK;
}

void mlcl__dnn_free(mlcl__dnn *d)
{
    if (!d) return;
    if (d->strm) dnnl_stream_destroy(d->strm);
    if (d->eng) dnnl_engine_destroy(d->eng);
    mlcl__free(d);
}

int mlcl__dnn_threads(const mlcl__dnn *d) { return d->threads; }
void mlcl__dnn_set_threads(mlcl__dnn *d, int threads) { d->threads = threads > 0 ? threads : 1; }

/* The owner's count on this thread; returns the value to restore. */
static int thr_enter(const mlcl__dnn *d)
{
    if (!d->omp_get) return 0;
    int prev = d->omp_get();
    if (prev != d->threads) d->omp_set(d->threads);
    return prev;
}
static void thr_leave(const mlcl__dnn *d, int prev)
{
    if (d->omp_get && prev != d->threads) d->omp_set(prev);
}
/* Inside thr_enter/leave: steps marked solo run on one thread. */
static void thr_solo(const mlcl__dnn *d, int solo)
{
    d->omp_set(solo ? 1 : d->threads);
}

/* Ops run on one thread (their primitives are made and executed with a
 * thread count of 1; oneDNN then runs them inline, no parallel region):
 * - BatchNorm: oneDNN's JIT batch normalisation synchronises its threads with
 *   spinning barriers (several per call on large tensors, where it splits the
 *   batch between threads). On a machine where a core is busy with another
 *   process, a descheduled thread stalls the other for a time slice per
 *   barrier (measured under load: 56x56 BN 100x slower on 2 threads than on
 *   1). Its thread count is fixed when the primitive descriptor is made. BN is
 *   a few per cent of a ResNet step.
 * - small ops (tiny images, as in the tests): waking a second thread costs
 *   more than it saves, and far more when the cores are shared. */
#define SOLO_FLOPS 2e6
#define SOLO_ELEMS 65536.0
int mlcl__dnn_op_solo(const mlcl__dnn *d, const mlcl__cg_graph *net, int n, int k)
{
    if (!d->omp_set || d->threads == 1) return 0;
    const mlcl__cg_op *op = &net->ops[k];
    const mlcl__cg_tensor *ti = &net->t[op->in], *to = &net->t[op->out];
    double out = (double)n * to->c * to->h * to->w, in = (double)n * ti->c * ti->h * ti->w;
    switch (op->type) {
    case MLCL__CG_BN: return 1;
    case MLCL__CG_CONV: return 2.0 * out * (ti->c / op->groups) * op->kh * op->kw < SOLO_FLOPS;
    default: return (in > out ? in : out) < SOLO_ELEMS;
    }
}
/* the output edge reorders: one thread when small */
int mlcl__dnn_out_solo(const mlcl__dnn *d, const mlcl__cg_graph *net, int n)
{
    const mlcl__cg_tensor *t = &net->t[net->nt - 1];
    return d->omp_set && d->threads > 1 && (double)n * t->c * t->h * t->w < SOLO_ELEMS;
}
void mlcl__dnn_solo_set(bctx *b, int solo)
{
    if (solo != b->solo) thr_solo(b->dnn, solo);
    b->solo = solo;
}

/* ------------------------------------------------------------------ plan helpers */

int mlcl__dnn_fail(bctx *b, const char *what, dnnl_status_t s)
{
    if (b->cur_op >= 0)
        return mlcl__err(MLCL_EBACKEND, "%s: oneDNN %s (op %d, %s) failed: %s", b->fn, what, b->cur_op,
                         mlcl__cg_op_names[b->net->ops[b->cur_op].type], dnnl_status2str(s));
    return mlcl__err(MLCL_EBACKEND, "%s: oneDNN %s failed: %s", b->fn, what, dnnl_status2str(s));
}

int mlcl__dnn_cap_fail(bctx *b) { return mlcl__err(MLCL_EBACKEND, "%s: convnet plan capacity exceeded (internal)", b->fn); }

void mlcl__dnn_plan_free(mlcl__dnn_plan *pl)
{
    if (!pl) return;
    for (int i = 0; i < pl->nprims; i++) dnnl_primitive_destroy(pl->prims[i]);
    for (int i = 0; i < pl->nbinds; i++) dnnl_memory_destroy(pl->binds[i].mem);
    for (int i = 0; i < pl->nbufs; i++) mlcl__free(pl->bufs[i]);
    if (pl->slotbuf)
        for (int i = 0; i < pl->nslots; i++) mlcl__free(pl->slotbuf[i]);
    for (int i = 0; i < NLISTS; i++) mlcl__free(pl->st[i]);
    for (int i = 0; i < pl->nfpds; i++) dnnl_primitive_desc_destroy(pl->fpds[i]);
    mlcl__free(pl->fpds); mlcl__free(pl->slotcap);
    mlcl__free(pl->tmd); mlcl__free(pl->tmem); mlcl__free(pl->tdiff); mlcl__free(pl->op);
    mlcl__free(pl->prims); mlcl__free(pl->binds); mlcl__free(pl->bufs);
    mlcl__free(pl->slot); mlcl__free(pl->slotbuf);
    mlcl__free(pl);
}

int mlcl__dnn_new_slot(bctx *b, size_t bytes)
{
    mlcl__dnn_plan *pl = b->pl;
    if (pl->nslots == pl->cap_slots) return -1;
    pl->slot[pl->nslots] = bytes;
    return pl->nslots++;
}

void mlcl__dnn_grow_slot(bctx *b, int s, size_t bytes)
{
    if (b->pl->slot[s] < bytes) b->pl->slot[s] = bytes;
}

/* A memory of md bound at call time (kind, off) or to slot `off` (B_SLOT) or
 * to an owned buffer (kind = -1: allocated now). */
int mlcl__dnn_mk_mem(bctx *b, const dnnl_memory_desc_t *md, int kind, size_t off, dnnl_memory_t *m)
{
    mlcl__dnn_plan *pl = b->pl;
    if (pl->nbinds == pl->cap_binds) return mlcl__dnn_cap_fail(b);
    void *h = DNNL_MEMORY_NONE;
    if (kind < 0) {
        if (pl->nbufs == pl->cap_bufs) return mlcl__dnn_cap_fail(b);
        size_t sz = dnnl_memory_desc_get_size(md);
        MLCL_TRY(mlcl__alloc_array(&h, sz ? sz : 1, 1, "convnet buffer"));
        pl->bufs[pl->nbufs++] = h;
    }
    DN(dnnl_memory_create(m, md, b->dnn->eng, h), "memory creation");
    pl->binds[pl->nbinds++] = (cn_bind){ *m, kind < 0 ? -1 : kind, off };
    return MLCL_OK;
}

/* a memory in a (possibly shared) slot, the slot grown to fit md */
int mlcl__dnn_slot_mem(bctx *b, const dnnl_memory_desc_t *md, int slot, dnnl_memory_t *m)
{
    mlcl__dnn_grow_slot(b, slot, dnnl_memory_desc_get_size(md));
    return mlcl__dnn_mk_mem(b, md, B_SLOT, (size_t)slot, m);
}

int mlcl__dnn_keep_pd(bctx *b, dnnl_primitive_desc_t pd)
{
    if (b->npds == b->cap_pds) { dnnl_primitive_desc_destroy(pd); return mlcl__dnn_cap_fail(b); }
    b->pds[b->npds++] = pd;
    return MLCL_OK;
}

/* Creates the pd of op_desc (kept until the build ends). */
int mlcl__dnn_mk_pd(bctx *b, const void *desc, dnnl_primitive_attr_t attr, dnnl_primitive_desc_t hint,
                 const char *what, dnnl_primitive_desc_t *pd)
{
    DN(dnnl_primitive_desc_create(pd, desc, attr, b->dnn->eng, hint), what);
    return mlcl__dnn_keep_pd(b, *pd);
}

/* The primitive of pd and its scratchpad memory (NULL when none). */
int mlcl__dnn_mk_prim(bctx *b, dnnl_primitive_desc_t pd, const char *what, dnnl_primitive_t *p, dnnl_memory_t *sp)
{
    mlcl__dnn_plan *pl = b->pl;
    if (pl->nprims == pl->cap_prims) return mlcl__dnn_cap_fail(b);
    DN(dnnl_primitive_create(p, pd), what);
    pl->prims[pl->nprims++] = *p;
    *sp = NULL;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd) > 0) MLCL_TRY(mlcl__dnn_slot_mem(b, smd, b->sp_slot, sp));
    return MLCL_OK;
}

int mlcl__dnn_add_step(bctx *b, int list, int kind, int skip, dnnl_primitive_t p, dnnl_memory_t sp, int nargs,
                    const dnnl_exec_arg_t *args)
{
    mlcl__dnn_plan *pl = b->pl;
    if (pl->nst[list] == pl->cap_st || nargs + 1 > MAX_ARGS) return mlcl__dnn_cap_fail(b);
    cn_step *s = &pl->st[list][pl->nst[list]++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->op = b->cur_op;
    s->skip_nodx = skip;
    s->solo = b->solo;
    s->prim = p;
    s->nargs = nargs;
    if (nargs) memcpy(s->args, args, (size_t)nargs * sizeof *args);
    if (sp) s->args[s->nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, sp };
    return MLCL_OK;
}

/* A reorder src -> dst (accumulating when sum) as a step of `list`. */
int mlcl__dnn_add_reorder(bctx *b, int list, int skip, dnnl_memory_t src, const dnnl_memory_desc_t *smd,
                       dnnl_memory_t dst, const dnnl_memory_desc_t *dmd, int sum)
{
    dnnl_primitive_desc_t pd;
    DN(dnnl_reorder_primitive_desc_create(&pd, smd, b->dnn->eng, dmd, b->dnn->eng, sum ? b->attr_sum : b->attr),
       sum ? "accumulating reorder" : "reorder");
    MLCL_TRY(mlcl__dnn_keep_pd(b, pd));
    dnnl_primitive_t p;
    dnnl_memory_t sp;
    MLCL_TRY(mlcl__dnn_mk_prim(b, pd, "reorder primitive", &p, &sp));
    dnnl_exec_arg_t a[2] = { { DNNL_ARG_FROM, src }, { DNNL_ARG_TO, dst } };
    return mlcl__dnn_add_step(b, list, ST_PRIM, skip, p, sp, 2, a);
}

void mlcl__dnn_md_nchw(dnnl_memory_desc_t *md, int n, const mlcl__cg_tensor *t, dnnl_format_tag_t tag)
{
    dnnl_dims_t d = { n, t->c, t->h, t->w };
    dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, tag);
}

int mlcl__dnn_md_vec(bctx *b, dnnl_memory_desc_t *md, int c)
{
    dnnl_dims_t d = { c };
    DN(dnnl_memory_desc_init_by_tag(md, 1, d, dnnl_f32, dnnl_x), "memory descriptor");
    return MLCL_OK;
}


/* ------------------------------------------------------------------ execution */

typedef struct run_ctx {
    const float *params, *x, *dy;
    float *state, *grads, *y, *dx;
} run_ctx;

static int bind_all(const char *fn, mlcl__dnn_plan *pl, const run_ctx *r, int bwd)
{
    for (int i = 0; i < pl->nbinds; i++) {
        const cn_bind *bd = &pl->binds[i];
        void *h;
        switch (bd->kind) {
        case B_X: h = (void *)r->x; break;
        case B_Y: if (bwd) continue; h = r->y; break;
        case B_DY: if (!bwd) continue; h = (void *)r->dy; break;
        case B_DX: if (!bwd) continue; h = r->dx ? r->dx : pl->dx_scratch; break;
        case B_PARAM: h = (void *)(r->params + bd->off); break;
        case B_GRAD: if (!bwd) continue; h = r->grads + bd->off; break;
        default: continue;
        }
        if (!h) continue;
        dnnl_status_t s = dnnl_memory_set_data_handle(bd->mem, h);
        if (s != dnnl_success)
            return mlcl__err(MLCL_EBACKEND, "%s: oneDNN memory handle failed: %s", fn, dnnl_status2str(s));
    }
    return MLCL_OK;
}

/* BN running statistics and parameter gradients: plain C between primitives */
static void bn_host_step(const mlcl__cg_graph *net, const mlcl__dnn_plan *pl, const cn_step *s, const run_ctx *r)
{
    const mlcl__cg_op *op = &net->ops[s->op];
    const cn_opplan *o = &pl->op[s->op];
    size_t c = op->np / 2;
    float *mean = o->bnbuf, *var = mean + c, *ds = var + c, *dsh = ds + c;
    if (s->kind == ST_BN_GLOBAL) {
        memcpy(mean, r->state + op->soff, c * sizeof(float));
        memcpy(var, r->state + op->soff + c, c * sizeof(float));
    } else if (s->kind == ST_BN_RUN) {
        const mlcl__cg_tensor *t = &net->t[op->in];
        double cnt = (double)pl->n * t->h * t->w, unb = cnt / (cnt - 1.0);
        float m = op->momentum, *rm = r->state + op->soff, *rv = rm + c;
        for (size_t j = 0; j < c; j++) {
            rm[j] = (1.0f - m) * rm[j] + m * mean[j];
            rv[j] = (1.0f - m) * rv[j] + m * (float)(var[j] * unb);
        }
    } else if (s->kind == ST_BN_GRAD) {
        float *gg = r->grads + op->poff, *gb = gg + c;
        for (size_t j = 0; j < c; j++) { gg[j] += ds[j]; gb[j] += dsh[j]; }
    }
}

static int run_list(mlcl__dnn *d, const mlcl__cg_graph *net, const char *fn, mlcl__dnn_plan *pl, int list,
                    const run_ctx *r)
{
    const cn_step *st = pl->st[list];
    int solo = 0; /* steps with solo set run on one thread (set at plan build only when omp_set exists) */
    for (int i = 0; i < pl->nst[list]; i++) {
        const cn_step *s = &st[i];
        if (s->skip_nodx && !r->dx) continue;
        if (s->kind == ST_PRIM) {
            if (s->solo != solo) {
                thr_solo(d, s->solo);
                solo = s->solo;
            }
            dnnl_status_t e = dnnl_primitive_execute(s->prim, d->strm, s->nargs, s->args);
            if (e != dnnl_success && solo) thr_solo(d, 0);
            if (e != dnnl_success)
                return mlcl__err(MLCL_EBACKEND, "%s: oneDNN execution of op %d (%s) failed: %s", fn, s->op,
                                 s->op >= 0 ? mlcl__cg_op_names[net->ops[s->op].type] : "edge reorder",
                                 dnnl_status2str(e));
            continue;
        }
        dnnl_stream_wait(d->strm);
        bn_host_step(net, pl, s, r);
    }
    if (solo) thr_solo(d, 0);
    dnnl_status_t e = dnnl_stream_wait(d->strm);
    if (e != dnnl_success) return mlcl__err(MLCL_EBACKEND, "%s: oneDNN stream wait failed: %s", fn, dnnl_status2str(e));
    return MLCL_OK;
}

static int run(mlcl__dnn *d, const mlcl__cg_graph *g, mlcl__dnn_plan *pl, const char *fn, int list, const run_ctx *r)
{
    int bwd = list == BW0 || list == BW1;
    if (bwd && pl->bwd_rc)
        return mlcl__err(pl->bwd_rc, "%s: the backward primitives of batch size %d failed to build before", fn, pl->n);
    mlcl__sig_guard sg; /* oneDNN's JIT code may move rsp onto the heap: no signal frame there (sigguard.c) */
    mlcl__sig_hold(&sg);
    int prev = thr_enter(d), rc = MLCL_OK;
    if (bwd && !pl->bwd_built) rc = mlcl__dnn_plan_build_bwd_here(d, g, fn, pl);
    if (rc == MLCL_OK) rc = bind_all(fn, pl, r, bwd);
    if (rc == MLCL_OK) rc = run_list(d, g, fn, pl, list, r);
    thr_leave(d, prev);
    mlcl__sig_release(&sg);
    return rc;
}

int mlcl__dnn_forward(mlcl__dnn *d, const mlcl__cg_graph *g, mlcl__dnn_plan *pl, const char *fn, int training,
                      const float *params, float *state, const float *x, float *y)
{
    run_ctx r = { .params = params, .x = x, .state = state, .y = y };
    return run(d, g, pl, fn, training ? FW1 : FW0, &r);
}

int mlcl__dnn_backward(mlcl__dnn *d, const mlcl__cg_graph *g, mlcl__dnn_plan *pl, const char *fn, int training,
                       const float *params, float *grads, const float *dy, float *dx)
{
    run_ctx r = { .params = params, .grads = grads, .dy = dy, .dx = dx };
    return run(d, g, pl, fn, training ? BW1 : BW0, &r);
}

/* Plans are built on the owner's thread count (BN fixes it at descriptor
 * creation); see dnn_plan.c. */


int mlcl__dnn_plan_build(mlcl__dnn *d, const mlcl__cg_graph *g, const char *fn, int n, mlcl__dnn_plan **out)
{
    mlcl__sig_guard sg;
    mlcl__sig_hold(&sg);
    int prev = thr_enter(d);
    int rc = mlcl__dnn_plan_build_here(d, g, fn, n, out);
    thr_leave(d, prev);
    mlcl__sig_release(&sg);
    return rc;
}

int mlcl__dnn_plan_n(const mlcl__dnn_plan *pl) { return pl->n; }
int mlcl__dnn_plan_bwd_built(const mlcl__dnn_plan *pl) { return pl->bwd_built; }
