/* oneDNN plans (dnn_ops.h): the diff buffers of the backward pass and the
 * whole plan of a graph at one batch size. */
#include <string.h>
#include "dnn_internal.h"

/* ---- backward: diff buffers, shared by both modes */

static int grab_slot(bctx *b, dplan *d, size_t need)
{
    int best = -1;
    for (int i = 0; i < d->nfree; i++) {
        size_t sz = b->pl->slot[d->freeslot[i]];
        if (best < 0) { best = i; continue; }
        size_t bs = b->pl->slot[d->freeslot[best]];
        /* smallest that fits, else the largest */
        if ((sz >= need && (bs < need || sz < bs)) || (bs < need && sz > bs)) best = i;
    }
    if (best >= 0) {
        int s = d->freeslot[best];
        d->freeslot[best] = d->freeslot[--d->nfree];
        mlcl__dnn_grow_slot(b, s, need);
        return s;
    }
    return mlcl__dnn_new_slot(b, need);
}

/* Assigns the diff of every tensor (> 0) to a slot, reusing slots whose
 * tensors' gradients are dead, and decides for each op input whether its
 * backward overwrites, accumulates into or aliases (residual add) the diff. */
static int plan_diffs(bctx *b, dplan *d)
{
    const mlcl__cg_graph *net = b->net;
    mlcl__dnn_plan *pl = b->pl;
    int last = net->nt - 1;
    for (int t = 0; t < net->nt; t++) d->group[t] = -1;
    /* the output's diff is written from dy first */
    int g0 = d->ngroups++;
    d->group[last] = g0;
    d->gpend[g0] = 1;
    if ((d->gslot[g0] = grab_slot(b, d, dnnl_memory_desc_get_size(&pl->tmd[last]))) < 0) return mlcl__dnn_cap_fail(b);
    for (int k = net->nops - 1; k >= 0; k--) {
        const mlcl__cg_op *op = &net->ops[k];
        int ins[2] = { op->in, op->type == MLCL__CG_ADD ? op->in2 : -1 };
        int alias_a = 0;
        for (int j = 0; j < 2; j++) {
            int u = ins[j];
            if (u < 0) continue;
            unsigned char mode;
            if (u == 0) {
                /* the input gradient: the caller's buffer */
                mode = d->group[0] == -2 ? W_ACC : W_OVER;
                d->group[0] = -2;
            } else if (d->group[u] >= 0) {
                mode = W_ACC;
            } else {
                int alias = 0;
                if (op->type == MLCL__CG_ADD && dnnl_memory_desc_equal(&pl->tmd[u], &pl->tmd[op->out]) && !(j == 1 && u == ins[0])) {
                    if (j == 0) alias = alias_a = net->t[u].nuse == 1;
                    else if (net->t[u].nuse == 1) alias = 1;
                    else if (alias_a) {
                        /* u's other consumers accumulate into the shared buffer:
                         * they must run (backward order) after a's producer */
                        alias = 1;
                        for (int c = 0; c < k; c++) {
                            const mlcl__cg_op *q = &net->ops[c];
                            if ((q->in == u || (q->type == MLCL__CG_ADD && q->in2 == u)) && c > net->t[ins[0]].producer) alias = 0;
                        }
                    } else alias = 1;
                }
                if (alias) {
                    mode = W_ALIAS;
                    d->group[u] = d->group[op->out];
                    d->gpend[d->group[u]]++;
                } else {
                    mode = W_OVER;
                    int g = d->ngroups++;
                    d->group[u] = g;
                    d->gpend[g] = 1;
                    if ((d->gslot[g] = grab_slot(b, d, dnnl_memory_desc_get_size(&pl->tmd[u]))) < 0) return mlcl__dnn_cap_fail(b);
                }
            }
            d->wmode[2 * k + j] = mode;
        }
        /* op k was the producer of out: its gradient is consumed */
        int g = d->group[op->out];
        if (--d->gpend[g] == 0) d->freeslot[d->nfree++] = d->gslot[g];
    }
    return MLCL_OK;
}

/* the attributes of a build: user scratchpad; + sum; + ReLU post-op */
static int attrs_make(bctx *b)
{
    DN(dnnl_primitive_attr_create(&b->attr), "attribute creation");
    DN(dnnl_primitive_attr_set_scratchpad_mode(b->attr, dnnl_scratchpad_mode_user), "attribute");
    DN(dnnl_primitive_attr_clone(&b->attr_sum, b->attr), "attribute creation");
    DN(dnnl_primitive_attr_clone(&b->attr_relu, b->attr), "attribute creation");
    dnnl_post_ops_t po;
    DN(dnnl_post_ops_create(&po), "post-ops creation");
    dnnl_status_t s = dnnl_post_ops_append_sum(po, 1.0f);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(b->attr_sum, po);
    dnnl_post_ops_destroy(po);
    DN(s, "sum post-op");
    DN(dnnl_post_ops_create(&po), "post-ops creation");
    s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(b->attr_relu, po);
    dnnl_post_ops_destroy(po);
    DN(s, "ReLU post-op");
    return MLCL_OK;
}

/* the end of a build: the pds made (unless kept by the plan) and attributes */
static void bctx_done(bctx *b)
{
    mlcl__dnn_solo_set(b, 0);
    if (b->pds)
        for (int i = 0; i < b->npds; i++) dnnl_primitive_desc_destroy(b->pds[i]);
    if (b->attr) dnnl_primitive_attr_destroy(b->attr);
    if (b->attr_sum) dnnl_primitive_attr_destroy(b->attr_sum);
    if (b->attr_relu) dnnl_primitive_attr_destroy(b->attr_relu);
    mlcl__free(b->pds);
}

/* (Re)allocates the slots that grew and binds every slot memory. Slot
 * contents do not live across calls (scratchpads, gradients of one
 * backward), so a slot can move. */
static int slots_alloc(bctx *b)
{
    mlcl__dnn_plan *pl = b->pl;
    for (int s = 0; s < pl->nslots; s++) {
        size_t need = pl->slot[s] ? pl->slot[s] : 1;
        if (pl->slotcap[s] >= need) continue;
        mlcl__free(pl->slotbuf[s]);
        pl->slotbuf[s] = NULL;
        pl->slotcap[s] = 0;
        MLCL_TRY(mlcl__alloc_array(&pl->slotbuf[s], need, 1, "convnet buffer"));
        pl->slotcap[s] = need;
    }
    for (int i = 0; i < pl->nbinds; i++)
        if (pl->binds[i].kind == B_SLOT)
            DN(dnnl_memory_set_data_handle(pl->binds[i].mem, pl->slotbuf[pl->binds[i].off]), "memory handle");
    return MLCL_OK;
}

/* The forward half of a plan: tensors, forward steps, output edge. The
 * backward half is built at the first backward (mlcl__dnn_plan_build_bwd):
 * a net that only runs forward (a MoCo key encoder, evaluation) never
 * creates backward primitives or gradient buffers. */
int mlcl__dnn_plan_build_here(mlcl__dnn *dnn, const mlcl__cg_graph *net, const char *fn, int n, mlcl__dnn_plan **out)
{
    *out = NULL;
    mlcl__dnn_plan *pl = mlcl__calloc(1, sizeof *pl);
    if (!pl) return mlcl__err(MLCL_ENOMEM, "%s: out of memory (convnet plan)", fn);
    pl->n = n;
    int nt = net->nt, nops = net->nops;
    bctx bc = { .dnn = dnn, .net = net, .pl = pl, .fn = fn, .cur_op = -1 }, *b = &bc;
    int rc;
    pl->cap_st = 8 * nops + 8;
    pl->cap_prims = 16 * nops + 8;
    pl->cap_binds = 24 * nops + 8;
    pl->cap_bufs = 8 * nops + 8;
    pl->cap_slots = nt + 8;
    b->cap_pds = 4 * nops + 8;
#define AL(p, cnt, what) if ((rc = mlcl__alloc_array((void **)&(p), (size_t)(cnt), sizeof *(p), what)) < 0) goto done
    AL(pl->tmd, nt, "convnet plan");
    AL(pl->tmem, nt, "convnet plan");
    AL(pl->tdiff, nt, "convnet plan");
    AL(pl->op, nops, "convnet plan");
    for (int i = 0; i < NLISTS; i++) AL(pl->st[i], pl->cap_st, "convnet plan");
    AL(pl->prims, pl->cap_prims, "convnet plan");
    AL(pl->binds, pl->cap_binds, "convnet plan");
    AL(pl->bufs, pl->cap_bufs, "convnet plan");
    AL(pl->slot, pl->cap_slots, "convnet plan");
    AL(pl->slotbuf, pl->cap_slots, "convnet plan");
    AL(pl->slotcap, pl->cap_slots, "convnet plan");
    AL(b->pds, b->cap_pds, "convnet plan");
#undef AL
#define TRY(call) do { if ((rc = (call)) < 0) goto done; } while (0)
    TRY(attrs_make(b));
    pl->sp_slot = b->sp_slot = mlcl__dnn_new_slot(b, 0);
    /* edges: tensor 0 is the caller's NCHW input */
    mlcl__dnn_md_nchw(&pl->tmd[0], n, &net->t[0], dnnl_nchw);
    TRY(mlcl__dnn_mk_mem(b, &pl->tmd[0], B_X, 0, &pl->tmem[0]));
    TRY(mlcl__dnn_mk_mem(b, &pl->tmd[0], B_DX, 0, &pl->tdiff[0]));
    for (int k = 0; k < nops; k++) {
        b->cur_op = k;
        mlcl__dnn_solo_set(b, mlcl__dnn_op_solo(dnn, net, n, k));
        rc = mlcl__dnn_build_fwd(b, k);
        mlcl__dnn_solo_set(b, 0);
        if (rc < 0) goto done;
        if (net->ops[k].in == 0 && net->ops[k].type != MLCL__CG_CONV) pl->need_dx = 1;
    }
    b->cur_op = -1;
    int last = nt - 1;
    mlcl__dnn_md_nchw(&pl->ymd, n, &net->t[last], dnnl_nchw);
    TRY(mlcl__dnn_mk_mem(b, &pl->ymd, B_Y, 0, &pl->uy));
    /* the output edge: one thread when small */
    mlcl__dnn_solo_set(b, mlcl__dnn_out_solo(dnn, net, n));
    TRY(mlcl__dnn_add_reorder(b, FW0, 0, pl->tmem[last], &pl->tmd[last], pl->uy, &pl->ymd, 0));
    TRY(mlcl__dnn_add_reorder(b, FW1, 0, pl->tmem[last], &pl->tmd[last], pl->uy, &pl->ymd, 0));
    mlcl__dnn_solo_set(b, 0);
    TRY(slots_alloc(b));
    /* the forward pds are the hints of the backward ones: the plan keeps them */
    pl->fpds = b->pds;
    pl->nfpds = b->npds;
    b->pds = NULL;
    b->npds = 0;
    rc = MLCL_OK;
done:
    bctx_done(b);
    if (rc < 0) {
        mlcl__dnn_plan_free(pl);
        return rc;
    }
    *out = pl;
    return MLCL_OK;
}

/* The backward half of pl (see above). On failure the backward lists stay
 * empty and pl->bwd_rc remembers the error: the plan's objects made so far
 * are freed with it. */
int mlcl__dnn_plan_build_bwd_here(mlcl__dnn *dnn, const mlcl__cg_graph *net, const char *fn, mlcl__dnn_plan *pl)
{
    int nt = net->nt, nops = net->nops, n = pl->n, rc;
    bctx bc = { .dnn = dnn, .net = net, .pl = pl, .fn = fn, .cur_op = -1 }, *b = &bc;
    dplan d = { 0 };
    b->cap_pds = 12 * nops + 8;
#define AL(p, cnt, what) if ((rc = mlcl__alloc_array((void **)&(p), (size_t)(cnt), sizeof *(p), what)) < 0) goto done
    AL(b->pds, b->cap_pds, "convnet plan");
    AL(d.group, nt, "convnet plan");
    AL(d.gslot, nt + 1, "convnet plan");
    AL(d.gpend, nt + 1, "convnet plan");
    AL(d.freeslot, pl->cap_slots, "convnet plan");
    AL(d.wmode, 2 * (size_t)nops, "convnet plan");
#undef AL
    TRY(attrs_make(b));
    b->sp_slot = pl->sp_slot;
    if ((b->diff_slot = mlcl__dnn_new_slot(b, 0)) < 0 || (b->dw_slot = mlcl__dnn_new_slot(b, 0)) < 0) {
        rc = mlcl__dnn_cap_fail(b);
        goto done;
    }
    int last = nt - 1;
    TRY(mlcl__dnn_mk_mem(b, &pl->ymd, B_DY, 0, &pl->udy));
    TRY(plan_diffs(b, &d));
    for (int t = 1; t < nt; t++) TRY(mlcl__dnn_mk_mem(b, &pl->tmd[t], B_SLOT, (size_t)d.gslot[d.group[t]], &pl->tdiff[t]));
    int solo_y = mlcl__dnn_out_solo(dnn, net, n);
    mlcl__dnn_solo_set(b, solo_y);
    TRY(mlcl__dnn_add_reorder(b, BW0, 0, pl->udy, &pl->ymd, pl->tdiff[last], &pl->tmd[last], 0));
    TRY(mlcl__dnn_add_reorder(b, BW1, 0, pl->udy, &pl->ymd, pl->tdiff[last], &pl->tmd[last], 0));
    mlcl__dnn_solo_set(b, 0);
    for (int k = nops - 1; k >= 0; k--) {
        b->cur_op = k;
        mlcl__dnn_solo_set(b, mlcl__dnn_op_solo(dnn, net, n, k));
        rc = mlcl__dnn_build_bwd(b, &d, k);
        mlcl__dnn_solo_set(b, 0);
        if (rc < 0) goto done;
    }
    b->cur_op = -1;
    if (pl->need_dx) {
        size_t cnt = (size_t)n * net->t[0].c * net->t[0].h * net->t[0].w;
        if (pl->nbufs == pl->cap_bufs) { rc = mlcl__dnn_cap_fail(b); goto done; }
        TRY(mlcl__alloc_array((void **)&pl->dx_scratch, cnt, sizeof(float), "convnet input gradient"));
        pl->bufs[pl->nbufs++] = pl->dx_scratch;
    }
    TRY(slots_alloc(b));
    pl->bwd_built = 1;
    rc = MLCL_OK;
#undef TRY
done:
    bctx_done(b);
    mlcl__free(d.group); mlcl__free(d.gslot); mlcl__free(d.gpend); mlcl__free(d.freeslot); mlcl__free(d.wmode);
    if (rc < 0) {
        pl->nst[BW0] = pl->nst[BW1] = 0;
        pl->bwd_rc = rc;
    }
    return rc;
}
