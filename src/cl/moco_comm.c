/* The communicator of a MoCo pair (comm.h): the built-in single-rank one by
 * default, or the caller's (mlcl_moco_set_comm); the gather buffers of the
 * global batch; the broadcast of rank 0's state; the gradient average. The
 * step itself (moco.c) is one code path for every number of ranks. */
#include <stdlib.h>
#include <string.h>
#include "cl/moco_internal.h"
#include "cl/loss_internal.h"
#include "cl/queue_internal.h"
#include "nn/nn_lib.h"

void mlcl__moco_gather_free(mlcl__moco_gather *g)
{
    mlcl__free(g->kg);
    mlcl__free(g->Dg);
    mlcl__free(g->grad_Dg);
    mlcl__free(g->yg);
    mlcl__free(g->hs);
    memset(g, 0, sizeof *g);
}

int mlcl__moco_gather_alloc(const mlcl_moco *mc, size_t ranks, mlcl__moco_gather *g, const char *fn)
{
    size_t rows = ranks * (size_t)mc->max_batch;
    int rc;
    memset(g, 0, sizeof *g);
    if ((rc = mlcl__alloc_array((void **)&g->kg, rows * mc->m, sizeof(float), fn)) ||
        (rc = mlcl__alloc_array((void **)&g->Dg, rows * mc->c, sizeof(float), fn)) ||
        (rc = mlcl__alloc_array((void **)&g->grad_Dg, rows * mc->c, sizeof(float), fn)) ||
        (rc = mlcl__alloc_array((void **)&g->yg, rows * mc->words, sizeof(uint64_t), fn)) ||
        (rc = mlcl__alloc_array((void **)&g->hs, 2 * ranks, sizeof(long long), fn)))
        mlcl__moco_gather_free(g);
    return rc;
}

const mlcl_comm *mlcl__moco_comm(const mlcl_moco *mc) { return mc && mc->has_comm ? &mc->comm : NULL; }

static int bcast_f(const mlcl_comm *c, float *buf, size_t n, const char *fn, const char *what)
{
    return n ? mlcl__comm_bcast(c, buf, n * sizeof(float), fn, what) : MLCL_OK;
}

int mlcl__moco_bcast(mlcl_moco *mc, const char *fn)
{
    if (!mc->has_comm) return MLCL_OK; /* one process: nothing to share */
    const mlcl_comm *c = &mc->comm;
    for (int i = 0; i < MOCO_NETS; i++) {
        float *p;
        size_t np, ns;
        uint64_t rs[2];
        MLCL_TRY(mlcl_encoder_params_ptr(mc->net[i], &p));
        MLCL_TRY(mlcl_encoder_param_count(mc->net[i], &np));
        MLCL_TRY(bcast_f(c, p, np, fn, "parameters"));
        MLCL_TRY(mlcl_encoder_state_count(mc->net[i], &ns));
        if (ns) { /* bak_state holds every network's state: room for one */
            MLCL_TRY(mlcl_encoder_get_state(mc->net[i], mc->bak_state, ns));
            MLCL_TRY(bcast_f(c, mc->bak_state, ns, fn, "BatchNorm statistics"));
            MLCL_TRY(mlcl_encoder_set_state(mc->net[i], mc->bak_state, ns));
        }
        MLCL_TRY(mlcl_encoder_get_rng_state(mc->net[i], rs));
        MLCL_TRY(mlcl__comm_bcast(c, rs, sizeof rs, fn, "dropout generator"));
        MLCL_TRY(mlcl_encoder_set_rng_state(mc->net[i], rs));
    }
    mlcl__queue_view_t v;
    mlcl__queue_view(mc->queue, &v);
    int hdr[2] = { v.size, v.head };
    MLCL_TRY(mlcl__comm_bcast(c, hdr, sizeof hdr, fn, "queue size"));
    if (hdr[0] == 0) return mlcl_queue_reset(mc->queue);
    size_t K = (size_t)v.K, fm = K * (size_t)mc->m, fc = K * (size_t)mc->c,
           fw = K * (size_t)mc->words;
    float *f = NULL, *dd = NULL;
    uint64_t *yy = NULL;
    int rc;
    if ((rc = mlcl__alloc_array((void **)&f, fm, sizeof(float), fn)) == MLCL_OK &&
        (rc = mlcl__alloc_array((void **)&dd, fc, sizeof(float), fn)) == MLCL_OK)
        rc = mlcl__alloc_array((void **)&yy, fw, sizeof(uint64_t), fn);
    if (rc) {
        mlcl__free(f);
        mlcl__free(dd);
        return rc;
    }
    memcpy(f, v.feats, fm * sizeof(float));
    memcpy(yy, v.labels, fw * sizeof(uint64_t));
    const float *qd = v.dists;
    if (qd) memcpy(dd, qd, fc * sizeof(float));
    else memset(dd, 0, fc * sizeof(float));
    if ((rc = bcast_f(c, f, fm, fn, "queue keys")) == MLCL_OK &&
        (rc = mlcl__comm_bcast(c, yy, fw * sizeof(uint64_t), fn, "queue labels")) == MLCL_OK &&
        (rc = bcast_f(c, dd, fc, fn, "queue distributions")) == MLCL_OK)
        rc = mlcl_queue_set_state(mc->queue, hdr[0], hdr[1], f, yy, dd);
    mlcl__free(f);
    mlcl__free(dd);
    mlcl__free(yy);
    return rc;
}

int mlcl_moco_set_comm(mlcl_moco *mc, const mlcl_comm *comm)
{
    static const char fn[] = "mlcl_moco_set_comm";
    MLCL_CHECK_NULL_AS(fn, mc, "moco");
    if (comm) MLCL_TRY(mlcl__comm_check(comm, fn));
    size_t ranks = comm ? (size_t)comm->size : 1, rows, t;
    if (mlcl__mul_size(ranks, (size_t)mc->max_batch, &rows) || rows > INT32_MAX / 2 ||
        mlcl__mul_size(rows, (size_t)(mc->m > mc->c ? mc->m : mc->c), &t))
        return mlcl__err(MLCL_EOVERFLOW, "%s: %zu ranks x max_batch %d overflow", fn, ranks, mc->max_batch);
    /* everything that can fail first; the handle changes only on success */
    mlcl__moco_gather g;
    mlcl_loss *L = NULL;
    mlcl_loss_options lo;
    int rc;
    MLCL_TRY(mlcl_loss_get_options(mc->loss, &lo));
    if ((rc = mlcl__loss_create_ranks(&L, mc->max_batch, (int)rows, mc->o.queue_size, mc->m, mc->c, &lo))) return rc;
    if ((rc = mlcl__moco_gather_alloc(mc, ranks, &g, fn))) {
        mlcl_loss_free(L);
        return rc;
    }
    for (int i = 0; i < MOCO_NETS; i++) {
        mlcl_encoder_set_comm(mc->net[i], comm); /* validated above: cannot fail */
        mlcl__encoder_set_rows(mc->net[i], 0, 0);
    }
    mlcl_loss_free(mc->loss);
    mc->loss = L;
    mlcl__moco_gather_free(&mc->g);
    mc->g = g;
    if (comm) mc->comm = *comm;
    else mlcl__comm_single(&mc->comm);
    mc->has_comm = comm != NULL;
    return mlcl__moco_bcast(mc, fn);
}

int mlcl__moco_average_grads(mlcl_moco *mc, int i, const char *fn)
{
    const mlcl_comm *c = &mc->comm;
    float *g;
    size_t n;
    MLCL_TRY(mlcl_encoder_grads_ptr(mc->net[i], &g));
    MLCL_TRY(mlcl_encoder_param_count(mc->net[i], &n));
    if (n == 0) return MLCL_OK;
    static const char *what[] = { "query backbone gradients", "projection head gradients", "LD head gradients" };
    MLCL_TRY(mlcl__comm_sum_f32(c, g, n, fn, what[i]));
    if (c->size > 1) {
        float inv = 1.0f / (float)c->size;
        for (size_t j = 0; j < n; j++) g[j] *= inv;
    }
    return MLCL_OK;
}
