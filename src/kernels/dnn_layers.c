/* oneDNN primitives of each graph op (dnn_ops.h): convolution forward,
 * backward-data and backward-weights, batch normalisation (+ fused ReLU),
 * pooling, residual add (+ ReLU), with the reorders between formats. */
#include "dnn_internal.h"

/* ---- forward of one op: creates its pds, memories and forward steps */
int mlcl__dnn_build_fwd(bctx *b, int k)
{
    const mlcl__cg_graph *net = b->net;
    mlcl__dnn_plan *pl = b->pl;
    const mlcl__cg_op *op = &net->ops[k];
    cn_opplan *o = &pl->op[k];
    const mlcl__cg_tensor *ti = &net->t[op->in], *to = &net->t[op->out];
    int n = pl->n, in = op->in, out = op->out;
    dnnl_memory_desc_t any_out;
    mlcl__dnn_md_nchw(&any_out, n, to, dnnl_format_tag_any);
    switch (op->type) {
    case MLCL__CG_CONV: {
        dnnl_memory_desc_t src_any, wei_any, wuser;
        mlcl__dnn_md_nchw(&src_any, n, ti, dnnl_format_tag_any);
        int g = op->groups;
        if (g > 1) {
            dnnl_dims_t wd = { g, op->oc / g, ti->c / g, op->kh, op->kw };
            DN(dnnl_memory_desc_init_by_tag(&wei_any, 5, wd, dnnl_f32, dnnl_format_tag_any), "memory descriptor");
            DN(dnnl_memory_desc_init_by_tag(&wuser, 5, wd, dnnl_f32, dnnl_goihw), "memory descriptor");
        } else {
            dnnl_dims_t wd = { op->oc, ti->c, op->kh, op->kw };
            DN(dnnl_memory_desc_init_by_tag(&wei_any, 4, wd, dnnl_f32, dnnl_format_tag_any), "memory descriptor");
            DN(dnnl_memory_desc_init_by_tag(&wuser, 4, wd, dnnl_f32, dnnl_oihw), "memory descriptor");
        }
        dnnl_dims_t str = { op->sh, op->sw }, dil = { op->dh - 1, op->dw - 1 }, pad = { op->ph, op->pw };
        dnnl_convolution_desc_t cd;
        /* oneDNN picks the algorithm (direct, or Winograd F(4x4, 3x3) for 3x3
         * stride-1 convolutions at larger batches on AVX-512: its own heuristic,
         * deterministic per machine, thread count and shape); the backward
         * uses the forward's choice where oneDNN has it (else direct) */
        DN(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_auto, &src_any,
                                                      &wei_any, NULL, &any_out, str, dil, pad, pad),
           "convolution forward descriptor");
        MLCL_TRY(mlcl__dnn_mk_pd(b, &cd, b->attr, NULL, "convolution forward", &o->pd[1]));
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_weights_md, 0);
        pl->tmd[out] = *dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_dst_md, 0);
        MLCL_TRY(mlcl__dnn_mk_mem(b, &pl->tmd[out], -1, 0, &pl->tmem[out]));
        MLCL_TRY(mlcl__dnn_mk_mem(b, &wuser, B_PARAM, op->poff, &o->uwei));
        MLCL_TRY(mlcl__dnn_mk_mem(b, &wuser, B_GRAD, op->poff, &o->ugrad));
        for (int m = FW0; m <= FW1; m++) {
            if (!dnnl_memory_desc_equal(smd, &pl->tmd[in])) {
                if (m == FW0) MLCL_TRY(mlcl__dnn_mk_mem(b, smd, -1, 0, &o->src));
                MLCL_TRY(mlcl__dnn_add_reorder(b, m, 0, pl->tmem[in], &pl->tmd[in], o->src, smd, 0));
            } else o->src = pl->tmem[in];
            if (!dnnl_memory_desc_equal(wmd, &wuser)) {
                if (m == FW0) MLCL_TRY(mlcl__dnn_mk_mem(b, wmd, -1, 0, &o->wei));
                MLCL_TRY(mlcl__dnn_add_reorder(b, m, 0, o->uwei, &wuser, o->wei, wmd, 0));
            } else o->wei = o->uwei;
        }
        dnnl_primitive_t p;
        dnnl_memory_t sp;
        MLCL_TRY(mlcl__dnn_mk_prim(b, o->pd[1], "convolution forward primitive", &p, &sp));
        dnnl_exec_arg_t a[3] = { { DNNL_ARG_SRC, o->src }, { DNNL_ARG_WEIGHTS, o->wei }, { DNNL_ARG_DST, pl->tmem[out] } };
        MLCL_TRY(mlcl__dnn_add_step(b, FW0, ST_PRIM, 0, p, sp, 3, a));
        MLCL_TRY(mlcl__dnn_add_step(b, FW1, ST_PRIM, 0, p, sp, 3, a));
        return MLCL_OK;
    }
    case MLCL__CG_BN: {
        int c = ti->c;
        pl->tmd[out] = pl->tmd[in];
        MLCL_TRY(mlcl__dnn_mk_mem(b, &pl->tmd[out], -1, 0, &pl->tmem[out]));
        dnnl_memory_desc_t vmd;
        MLCL_TRY(mlcl__dnn_md_vec(b, &vmd, c));
        if (pl->nbufs == pl->cap_bufs) return mlcl__dnn_cap_fail(b);
        MLCL_TRY(mlcl__alloc_array((void **)&o->bnbuf, 4 * (size_t)c, sizeof(float), "batchnorm statistics"));
        pl->bufs[pl->nbufs++] = o->bnbuf;
        dnnl_memory_t *vm[4] = { &o->mean, &o->var, &o->dscale, &o->dshift };
        for (int i = 0; i < 4; i++) {
            if (pl->nbinds == pl->cap_binds) return mlcl__dnn_cap_fail(b);
            DN(dnnl_memory_create(vm[i], &vmd, b->dnn->eng, o->bnbuf + (size_t)i * c), "memory creation");
            pl->binds[pl->nbinds++] = (cn_bind){ *vm[i], -1, 0 };
        }
        MLCL_TRY(mlcl__dnn_mk_mem(b, &vmd, B_PARAM, op->poff, &o->scale));
        MLCL_TRY(mlcl__dnn_mk_mem(b, &vmd, B_PARAM, op->poff + (size_t)c, &o->shift));
        for (int m = 0; m < 2; m++) {
            unsigned fl = dnnl_use_scale | dnnl_use_shift | (op->relu ? dnnl_fuse_norm_relu : 0) |
                          (m == 0 ? dnnl_use_global_stats : 0);
            dnnl_batch_normalization_desc_t bd;
            DN(dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_training, &pl->tmd[in], op->eps, fl),
               "batch normalization forward descriptor");
            MLCL_TRY(mlcl__dnn_mk_pd(b, &bd, b->attr, NULL, "batch normalization forward", &o->pd[m]));
            o->ws[m] = NULL;
            if (op->relu) {
                const dnnl_memory_desc_t *wsmd = dnnl_primitive_desc_query_md(o->pd[m], dnnl_query_workspace_md, 0);
                if (wsmd && dnnl_memory_desc_get_size(wsmd) > 0) MLCL_TRY(mlcl__dnn_mk_mem(b, wsmd, -1, 0, &o->ws[m]));
            }
            dnnl_primitive_t p;
            dnnl_memory_t sp;
            MLCL_TRY(mlcl__dnn_mk_prim(b, o->pd[m], "batch normalization forward primitive", &p, &sp));
            dnnl_exec_arg_t a[7] = { { DNNL_ARG_SRC, pl->tmem[in] }, { DNNL_ARG_DST, pl->tmem[out] },
                                     { DNNL_ARG_MEAN, o->mean }, { DNNL_ARG_VARIANCE, o->var },
                                     { DNNL_ARG_SCALE, o->scale }, { DNNL_ARG_SHIFT, o->shift },
                                     { DNNL_ARG_WORKSPACE, o->ws[m] } };
            if (m == 0) MLCL_TRY(mlcl__dnn_add_step(b, FW0, ST_BN_GLOBAL, 0, NULL, NULL, 0, NULL));
            MLCL_TRY(mlcl__dnn_add_step(b, m == 0 ? FW0 : FW1, ST_PRIM, 0, p, sp, o->ws[m] ? 7 : 6, a));
            if (m == 1) MLCL_TRY(mlcl__dnn_add_step(b, FW1, ST_BN_RUN, 0, NULL, NULL, 0, NULL));
        }
        return MLCL_OK;
    }
    case MLCL__CG_POOL: {
        static const dnnl_alg_kind_t alg[3] = { dnnl_pooling_max, dnnl_pooling_avg_include_padding,
                                                dnnl_pooling_avg_exclude_padding };
        dnnl_dims_t str = { op->sh, op->sw }, ker = { op->kh, op->kw }, pad = { op->ph, op->pw };
        /* right padding so that the output size is PyTorch's floor rule */
        dnnl_dims_t padr = { (long)(to->h - 1) * op->sh + op->kh - ti->h - op->ph,
                             (long)(to->w - 1) * op->sw + op->kw - ti->w - op->pw };
        dnnl_pooling_desc_t pdsc;
        DN(dnnl_pooling_forward_desc_init(&pdsc, dnnl_forward_training, alg[op->pool], &pl->tmd[in], &any_out, str,
                                          ker, pad, padr),
           "pooling forward descriptor");
        MLCL_TRY(mlcl__dnn_mk_pd(b, &pdsc, b->attr, NULL, "pooling forward", &o->pd[1]));
        pl->tmd[out] = *dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_dst_md, 0);
        MLCL_TRY(mlcl__dnn_mk_mem(b, &pl->tmd[out], -1, 0, &pl->tmem[out]));
        o->ws[1] = NULL;
        const dnnl_memory_desc_t *wsmd = dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_workspace_md, 0);
        if (wsmd && dnnl_memory_desc_get_size(wsmd) > 0) MLCL_TRY(mlcl__dnn_mk_mem(b, wsmd, -1, 0, &o->ws[1]));
        dnnl_primitive_t p;
        dnnl_memory_t sp;
        MLCL_TRY(mlcl__dnn_mk_prim(b, o->pd[1], "pooling forward primitive", &p, &sp));
        dnnl_exec_arg_t a[3] = { { DNNL_ARG_SRC, pl->tmem[in] }, { DNNL_ARG_DST, pl->tmem[out] },
                                 { DNNL_ARG_WORKSPACE, o->ws[1] } };
        MLCL_TRY(mlcl__dnn_add_step(b, FW0, ST_PRIM, 0, p, sp, o->ws[1] ? 3 : 2, a));
        MLCL_TRY(mlcl__dnn_add_step(b, FW1, ST_PRIM, 0, p, sp, o->ws[1] ? 3 : 2, a));
        return MLCL_OK;
    }
    case MLCL__CG_ADD: {
        pl->tmd[out] = pl->tmd[in];
        MLCL_TRY(mlcl__dnn_mk_mem(b, &pl->tmd[out], -1, 0, &pl->tmem[out]));
        dnnl_binary_desc_t bd;
        DN(dnnl_binary_desc_init(&bd, dnnl_binary_add, &pl->tmd[in], &pl->tmd[op->in2], &pl->tmd[out]),
           "binary add descriptor");
        MLCL_TRY(mlcl__dnn_mk_pd(b, &bd, op->relu ? b->attr_relu : b->attr, NULL, "binary add", &o->pd[1]));
        dnnl_primitive_t p;
        dnnl_memory_t sp;
        MLCL_TRY(mlcl__dnn_mk_prim(b, o->pd[1], "binary add primitive", &p, &sp));
        dnnl_exec_arg_t a[3] = { { DNNL_ARG_SRC_0, pl->tmem[in] }, { DNNL_ARG_SRC_1, pl->tmem[op->in2] },
                                 { DNNL_ARG_DST, pl->tmem[out] } };
        MLCL_TRY(mlcl__dnn_add_step(b, FW0, ST_PRIM, 0, p, sp, 3, a));
        MLCL_TRY(mlcl__dnn_add_step(b, FW1, ST_PRIM, 0, p, sp, 3, a));
        return MLCL_OK;
    }
    }
    return MLCL_OK;
}

/* ---- backward */

/* The memory op k's backward writes the diff of its input j into (md `want`),
 * plus a reorder (-sum) into the tensor's diff when it cannot write there
 * directly (*post = 1; then add diff_post()). */
static int diff_target(bctx *b, const dplan *d, int k, int j, const dnnl_memory_desc_t *want, dnnl_memory_t *m, int *post)
{
    mlcl__dnn_plan *pl = b->pl;
    const mlcl__cg_op *op = &b->net->ops[k];
    int u = j ? op->in2 : op->in;
    int mode = d->wmode[2 * k + j];
    *post = 0;
    if (mode == W_OVER && dnnl_memory_desc_equal(want, &pl->tmd[u])) { *m = pl->tdiff[u]; return MLCL_OK; }
    *post = 1;
    return mlcl__dnn_slot_mem(b, want, b->diff_slot, m);
}

static int diff_post(bctx *b, const dplan *d, int list, int skip, int k, int j, dnnl_memory_t m,
                     const dnnl_memory_desc_t *md)
{
    mlcl__dnn_plan *pl = b->pl;
    const mlcl__cg_op *op = &b->net->ops[k];
    int u = j ? op->in2 : op->in;
    return mlcl__dnn_add_reorder(b, list, skip, m, md, pl->tdiff[u], &pl->tmd[u], d->wmode[2 * k + j] == W_ACC);
}

int mlcl__dnn_build_bwd(bctx *b, const dplan *d, int k)
{
    const mlcl__cg_graph *net = b->net;
    mlcl__dnn_plan *pl = b->pl;
    const mlcl__cg_op *op = &net->ops[k];
    cn_opplan *o = &pl->op[k];
    const mlcl__cg_tensor *ti = &net->t[op->in];
    int in = op->in, out = op->out;
    int skipd = in == 0; /* the input gradient is skipped when not wanted */
    dnnl_primitive_t p;
    dnnl_memory_t sp, tgt;
    int post;
    switch (op->type) {
    case MLCL__CG_CONV: {
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *fwmd = dnnl_primitive_desc_query_md(o->pd[1], dnnl_query_weights_md, 0);
        dnnl_memory_desc_t wany = *fwmd, sany;
        int g = op->groups, nd = g > 1 ? 5 : 4;
        dnnl_dims_t wd;
        if (g > 1) { wd[0] = g; wd[1] = op->oc / g; wd[2] = ti->c / g; wd[3] = op->kh; wd[4] = op->kw; }
        else { wd[0] = op->oc; wd[1] = ti->c; wd[2] = op->kh; wd[3] = op->kw; }
        DN(dnnl_memory_desc_init_by_tag(&wany, nd, wd, dnnl_f32, dnnl_format_tag_any), "memory descriptor");
        mlcl__dnn_md_nchw(&sany, pl->n, ti, dnnl_format_tag_any);
        dnnl_dims_t str = { op->sh, op->sw }, dil = { op->dh - 1, op->dw - 1 }, pad = { op->ph, op->pw };
        dnnl_memory_desc_t uw;
        DN(dnnl_memory_desc_init_by_tag(&uw, nd, wd, dnnl_f32, g > 1 ? dnnl_goihw : dnnl_oihw), "memory descriptor");
        /* weight gradient: dw (chosen format) then accumulated into OIHW grads */
        const dnnl_convolution_desc_t *fd = NULL;
        DN(dnnl_primitive_desc_query(o->pd[1], dnnl_query_convolution_d, 0, &fd), "convolution query");
        dnnl_alg_kind_t alg = fd->alg_kind;
        dnnl_convolution_desc_t cw;
        dnnl_primitive_desc_t pdw = NULL;
        for (int tries = 0; !pdw; tries++) {
            dnnl_alg_kind_t a = tries ? dnnl_convolution_direct : alg;
            DN(dnnl_dilated_convolution_backward_weights_desc_init(&cw, a, smd, &wany, NULL, &pl->tmd[out], str, dil,
                                                                   pad, pad),
               "convolution backward-weights descriptor");
            if (a != dnnl_convolution_direct &&
                dnnl_primitive_desc_create(&pdw, &cw, b->attr, b->dnn->eng, o->pd[1]) == dnnl_success)
                MLCL_TRY(mlcl__dnn_keep_pd(b, pdw));
            else if (a == dnnl_convolution_direct)
                MLCL_TRY(mlcl__dnn_mk_pd(b, &cw, b->attr, o->pd[1], "convolution backward weights", &pdw));
        }
        const dnnl_memory_desc_t *dwmd = dnnl_primitive_desc_query_md(pdw, dnnl_query_diff_weights_md, 0);
        const dnnl_memory_desc_t *wsrc = dnnl_primitive_desc_query_md(pdw, dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *wdd = dnnl_primitive_desc_query_md(pdw, dnnl_query_diff_dst_md, 0);
        if (!dnnl_memory_desc_equal(wsrc, smd) || !dnnl_memory_desc_equal(wdd, &pl->tmd[out]))
            return mlcl__err(MLCL_EBACKEND, "%s: oneDNN convolution backward weights (op %d) changed a format", b->fn, k);
        dnnl_memory_t dw;
        MLCL_TRY(mlcl__dnn_slot_mem(b, dwmd, b->dw_slot, &dw));
        MLCL_TRY(mlcl__dnn_mk_prim(b, pdw, "convolution backward-weights primitive", &p, &sp));
        dnnl_exec_arg_t aw[3] = { { DNNL_ARG_SRC, o->src }, { DNNL_ARG_DIFF_DST, pl->tdiff[out] },
                                  { DNNL_ARG_DIFF_WEIGHTS, dw } };
        /* input gradient */
        dnnl_convolution_desc_t cdd;
        dnnl_primitive_desc_t pdd = NULL;
        for (int tries = 0; !pdd; tries++) {
            dnnl_alg_kind_t a = tries ? dnnl_convolution_direct : alg;
            DN(dnnl_dilated_convolution_backward_data_desc_init(&cdd, a, &sany, &wany, &pl->tmd[out], str, dil, pad,
                                                                pad),
               "convolution backward-data descriptor");
            if (a != dnnl_convolution_direct &&
                dnnl_primitive_desc_create(&pdd, &cdd, b->attr, b->dnn->eng, o->pd[1]) == dnnl_success)
                MLCL_TRY(mlcl__dnn_keep_pd(b, pdd));
            else if (a == dnnl_convolution_direct)
                MLCL_TRY(mlcl__dnn_mk_pd(b, &cdd, b->attr, o->pd[1], "convolution backward data", &pdd));
        }
        const dnnl_memory_desc_t *dsmd = dnnl_primitive_desc_query_md(pdd, dnnl_query_diff_src_md, 0);
        const dnnl_memory_desc_t *bwmd = dnnl_primitive_desc_query_md(pdd, dnnl_query_weights_md, 0);
        const dnnl_memory_desc_t *ddmd = dnnl_primitive_desc_query_md(pdd, dnnl_query_diff_dst_md, 0);
        if (!dnnl_memory_desc_equal(ddmd, &pl->tmd[out]))
            return mlcl__err(MLCL_EBACKEND, "%s: oneDNN convolution backward data (op %d) changed a format", b->fn, k);
        dnnl_memory_t bw = o->wei;
        int wre = !dnnl_memory_desc_equal(bwmd, fwmd);
        if (wre) MLCL_TRY(mlcl__dnn_mk_mem(b, bwmd, -1, 0, &bw));
        MLCL_TRY(diff_target(b, d, k, 0, dsmd, &tgt, &post));
        dnnl_primitive_t pd_;
        dnnl_memory_t spd;
        MLCL_TRY(mlcl__dnn_mk_prim(b, pdd, "convolution backward-data primitive", &pd_, &spd));
        dnnl_exec_arg_t ad[3] = { { DNNL_ARG_DIFF_DST, pl->tdiff[out] }, { DNNL_ARG_WEIGHTS, bw },
                                  { DNNL_ARG_DIFF_SRC, tgt } };
        for (int m = BW0; m <= BW1; m++) {
            MLCL_TRY(mlcl__dnn_add_step(b, m, ST_PRIM, 0, p, sp, 3, aw));
            MLCL_TRY(mlcl__dnn_add_reorder(b, m, 0, dw, dwmd, o->ugrad, &uw, 1));
            if (wre) MLCL_TRY(mlcl__dnn_add_reorder(b, m, skipd, o->uwei, &uw, bw, bwmd, 0));
            MLCL_TRY(mlcl__dnn_add_step(b, m, ST_PRIM, skipd, pd_, spd, 3, ad));
            if (post) MLCL_TRY(diff_post(b, d, m, skipd, k, 0, tgt, dsmd));
        }
        return MLCL_OK;
    }
    case MLCL__CG_BN: {
        for (int m = 0; m < 2; m++) {
            unsigned fl = dnnl_use_scale | dnnl_use_shift | (op->relu ? dnnl_fuse_norm_relu : 0) |
                          (m == 0 ? dnnl_use_global_stats : 0);
            dnnl_batch_normalization_desc_t bd;
            DN(dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &pl->tmd[out], &pl->tmd[in], op->eps, fl),
               "batch normalization backward descriptor");
            dnnl_primitive_desc_t pdb;
            MLCL_TRY(mlcl__dnn_mk_pd(b, &bd, b->attr, o->pd[m], "batch normalization backward", &pdb));
            MLCL_TRY(mlcl__dnn_mk_prim(b, pdb, "batch normalization backward primitive", &p, &sp));
            MLCL_TRY(diff_target(b, d, k, 0, &pl->tmd[in], &tgt, &post));
            dnnl_exec_arg_t a[10] = { { DNNL_ARG_SRC, pl->tmem[in] }, { DNNL_ARG_MEAN, o->mean },
                                      { DNNL_ARG_VARIANCE, o->var }, { DNNL_ARG_DIFF_DST, pl->tdiff[out] },
                                      { DNNL_ARG_SCALE, o->scale }, { DNNL_ARG_SHIFT, o->shift },
                                      { DNNL_ARG_DIFF_SRC, tgt }, { DNNL_ARG_DIFF_SCALE, o->dscale },
                                      { DNNL_ARG_DIFF_SHIFT, o->dshift }, { DNNL_ARG_WORKSPACE, o->ws[m] } };
            int list = m == 0 ? BW0 : BW1;
            MLCL_TRY(mlcl__dnn_add_step(b, list, ST_PRIM, 0, p, sp, o->ws[m] ? 10 : 9, a));
            MLCL_TRY(mlcl__dnn_add_step(b, list, ST_BN_GRAD, 0, NULL, NULL, 0, NULL));
            if (post) MLCL_TRY(diff_post(b, d, list, 0, k, 0, tgt, &pl->tmd[in]));
        }
        return MLCL_OK;
    }
    case MLCL__CG_POOL: {
        static const dnnl_alg_kind_t alg[3] = { dnnl_pooling_max, dnnl_pooling_avg_include_padding,
                                                dnnl_pooling_avg_exclude_padding };
        const mlcl__cg_tensor *to = &net->t[out];
        dnnl_dims_t str = { op->sh, op->sw }, ker = { op->kh, op->kw }, pad = { op->ph, op->pw };
        dnnl_dims_t padr = { (long)(to->h - 1) * op->sh + op->kh - ti->h - op->ph,
                             (long)(to->w - 1) * op->sw + op->kw - ti->w - op->pw };
        dnnl_pooling_desc_t pdsc;
        DN(dnnl_pooling_backward_desc_init(&pdsc, alg[op->pool], &pl->tmd[in], &pl->tmd[out], str, ker, pad, padr),
           "pooling backward descriptor");
        dnnl_primitive_desc_t pdb;
        MLCL_TRY(mlcl__dnn_mk_pd(b, &pdsc, b->attr, o->pd[1], "pooling backward", &pdb));
        MLCL_TRY(mlcl__dnn_mk_prim(b, pdb, "pooling backward primitive", &p, &sp));
        MLCL_TRY(diff_target(b, d, k, 0, &pl->tmd[in], &tgt, &post));
        dnnl_exec_arg_t a[3] = { { DNNL_ARG_DIFF_DST, pl->tdiff[out] }, { DNNL_ARG_DIFF_SRC, tgt },
                                 { DNNL_ARG_WORKSPACE, o->ws[1] } };
        for (int m = BW0; m <= BW1; m++) {
            MLCL_TRY(mlcl__dnn_add_step(b, m, ST_PRIM, 0, p, sp, o->ws[1] ? 3 : 2, a));
            if (post) MLCL_TRY(diff_post(b, d, m, 0, k, 0, tgt, &pl->tmd[in]));
        }
        return MLCL_OK;
    }
    case MLCL__CG_ADD: {
        if (op->relu) {
            dnnl_eltwise_desc_t ef, eb;
            DN(dnnl_eltwise_forward_desc_init(&ef, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd,
                                              &pl->tmd[out], 0.0f, 0.0f),
               "eltwise forward descriptor");
            dnnl_primitive_desc_t pdf, pdb;
            MLCL_TRY(mlcl__dnn_mk_pd(b, &ef, b->attr, NULL, "eltwise forward", &pdf));
            DN(dnnl_eltwise_backward_desc_init(&eb, dnnl_eltwise_relu_use_dst_for_bwd, &pl->tmd[out], &pl->tmd[out],
                                               0.0f, 0.0f),
               "eltwise backward descriptor");
            MLCL_TRY(mlcl__dnn_mk_pd(b, &eb, b->attr, pdf, "eltwise backward", &pdb));
            MLCL_TRY(mlcl__dnn_mk_prim(b, pdb, "eltwise backward primitive", &p, &sp));
            /* in place on the output gradient */
            dnnl_exec_arg_t a[3] = { { DNNL_ARG_DST, pl->tmem[out] }, { DNNL_ARG_DIFF_DST, pl->tdiff[out] },
                                     { DNNL_ARG_DIFF_SRC, pl->tdiff[out] } };
            for (int m = BW0; m <= BW1; m++) MLCL_TRY(mlcl__dnn_add_step(b, m, ST_PRIM, 0, p, sp, 3, a));
        }
        for (int j = 0; j < 2; j++) {
            int mode = d->wmode[2 * k + j];
            if (mode == W_ALIAS) continue;
            int u = j ? op->in2 : op->in;
            for (int m = BW0; m <= BW1; m++)
                MLCL_TRY(mlcl__dnn_add_reorder(b, m, 0, pl->tdiff[out], &pl->tmd[out], pl->tdiff[u], &pl->tmd[u], mode == W_ACC));
        }
        return MLCL_OK;
    }
    }
    return MLCL_OK;
}
