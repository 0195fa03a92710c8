/* Private to src/kernels/dnn_*.c: the oneDNN objects of a plan and the
 * helpers that build it (dnn_ops.c: memories, primitives, steps, threads;
 * dnn_layers.c: the primitives of each op; dnn_plan.c: diff buffers and the
 * whole plan). */
#ifndef MLCL_KERNELS_DNN_INTERNAL_H
#define MLCL_KERNELS_DNN_INTERNAL_H
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include "dnn_ops.h"

struct mlcl__dnn {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    int threads;
    /* OpenMP's per-thread nthreads-var (NULL when libdnnl runs without OpenMP) */
    int (*omp_get)(void);
    void (*omp_set)(int);
};

/* handles set at each call */
enum { B_X, B_Y, B_DY, B_DX, B_PARAM, B_GRAD, B_SLOT };
typedef struct cn_bind { dnnl_memory_t mem; int kind; size_t off; } cn_bind;

enum { ST_PRIM, ST_BN_GLOBAL, ST_BN_RUN, ST_BN_GRAD };
#define MAX_ARGS 12
typedef struct cn_step {
    int kind, op, skip_nodx, nargs;
    int solo; /* run on one thread (see op_solo) */
    dnnl_primitive_t prim;
    dnnl_exec_arg_t args[MAX_ARGS];
} cn_step;

typedef struct cn_opplan {
    dnnl_primitive_desc_t pd[2]; /* forward pds (BN: [0] eval, [1] train); owned by the plan's fpds */
    dnnl_memory_t src, wei, uwei, ugrad, ws[2], mean, var, scale, shift, dscale, dshift;
    float *bnbuf;                /* BN: mean, var, dscale, dshift (4c) */
} cn_opplan;

/* step lists: forward eval/train, backward eval/train */
enum { FW0, FW1, BW0, BW1, NLISTS };

struct mlcl__dnn_plan {
    int n;
    dnnl_memory_desc_t *tmd;
    dnnl_memory_t *tmem, *tdiff;
    cn_opplan *op;
    cn_step *st[NLISTS];
    int nst[NLISTS], cap_st;
    dnnl_primitive_t *prims;
    int nprims, cap_prims;
    cn_bind *binds;
    int nbinds, cap_binds;
    void **bufs;
    int nbufs, cap_bufs;
    size_t *slot;    /* slot sizes (bytes) */
    void **slotbuf;
    size_t *slotcap; /* allocated bytes of slotbuf[i] */
    int nslots, cap_slots, sp_slot;
    dnnl_memory_t ux, uy, udy; /* edge memories (NCHW) */
    dnnl_memory_desc_t ymd;
    float *dx_scratch;         /* input gradient when the caller passes none */
    int need_dx;
    /* the forward pds (hints of the backward pds), kept for the backward build */
    dnnl_primitive_desc_t *fpds;
    int nfpds;
    int bwd_built, bwd_rc;     /* backward half built; its build's error */
};

/* plan-build context */
typedef struct bctx {
    mlcl__dnn *dnn;
    const mlcl__cg_graph *net;
    struct mlcl__dnn_plan *pl;
    const char *fn;
    dnnl_primitive_attr_t attr, attr_sum, attr_relu;
    dnnl_primitive_desc_t *pds; /* every pd made, destroyed at the end of the build */
    int npds, cap_pds;
    int sp_slot, diff_slot, dw_slot;
    int cur_op;
    int solo; /* steps added now run on one thread */
} bctx;

/* backward diff buffers, shared by both modes (dnn_plan.c) */
enum { W_OVER, W_ACC, W_ALIAS };
typedef struct dplan {
    int *group;     /* tensor -> diff group (-1: none yet) */
    int *gslot;     /* group -> slot */
    int *gpend;     /* group -> members whose producer is not processed yet */
    int *freeslot;  /* free-list of slots */
    int nfree, ngroups;
    unsigned char *wmode; /* op -> 2 write modes (W_*) */
} dplan;

MLCL_INTERNAL int mlcl__dnn_fail(bctx *b, const char *what, dnnl_status_t s);
#define DN(call, what) do { dnnl_status_t s_ = (call); if (s_ != dnnl_success) return mlcl__dnn_fail(b, what, s_); } while (0)
MLCL_INTERNAL int mlcl__dnn_cap_fail(bctx *b);
MLCL_INTERNAL int mlcl__dnn_new_slot(bctx *b, size_t bytes);
MLCL_INTERNAL void mlcl__dnn_grow_slot(bctx *b, int s, size_t bytes);
/* A memory of md bound at call time (kind B_*, off) or to slot `off` (B_SLOT)
 * or to an owned buffer (kind = -1: allocated now). */
MLCL_INTERNAL int mlcl__dnn_mk_mem(bctx *b, const dnnl_memory_desc_t *md, int kind, size_t off, dnnl_memory_t *m);
/* a memory in a (possibly shared) slot, the slot grown to fit md */
MLCL_INTERNAL int mlcl__dnn_slot_mem(bctx *b, const dnnl_memory_desc_t *md, int slot, dnnl_memory_t *m);
MLCL_INTERNAL int mlcl__dnn_keep_pd(bctx *b, dnnl_primitive_desc_t pd);
/* Creates the pd of op_desc (kept until the build ends). */
MLCL_INTERNAL int mlcl__dnn_mk_pd(bctx *b, const void *desc, dnnl_primitive_attr_t attr, dnnl_primitive_desc_t hint,
                                  const char *what, dnnl_primitive_desc_t *pd);
/* The primitive of pd and its scratchpad memory (NULL when none). */
MLCL_INTERNAL int mlcl__dnn_mk_prim(bctx *b, dnnl_primitive_desc_t pd, const char *what, dnnl_primitive_t *p,
                                    dnnl_memory_t *sp);
MLCL_INTERNAL int mlcl__dnn_add_step(bctx *b, int list, int kind, int skip, dnnl_primitive_t p, dnnl_memory_t sp,
                                     int nargs, const dnnl_exec_arg_t *args);
/* A reorder src -> dst (accumulating when sum) as a step of `list`. */
MLCL_INTERNAL int mlcl__dnn_add_reorder(bctx *b, int list, int skip, dnnl_memory_t src, const dnnl_memory_desc_t *smd,
                                        dnnl_memory_t dst, const dnnl_memory_desc_t *dmd, int sum);
MLCL_INTERNAL void mlcl__dnn_md_nchw(dnnl_memory_desc_t *md, int n, const mlcl__cg_tensor *t, dnnl_format_tag_t tag);
MLCL_INTERNAL int mlcl__dnn_md_vec(bctx *b, dnnl_memory_desc_t *md, int c);

/* dnn_plan.c: mlcl__dnn_plan_build without the thread setting (dnn_ops.c
 * applies it around this call) */
MLCL_INTERNAL int mlcl__dnn_plan_build_here(mlcl__dnn *dnn, const mlcl__cg_graph *net, const char *fn, int n,
                                            mlcl__dnn_plan **out);
/* the backward half of pl, made at its first backward */
MLCL_INTERNAL int mlcl__dnn_plan_build_bwd_here(mlcl__dnn *dnn, const mlcl__cg_graph *net, const char *fn,
                                                mlcl__dnn_plan *pl);
/* dnn_layers.c: forward / backward primitives and steps of op k */
MLCL_INTERNAL int mlcl__dnn_build_fwd(bctx *b, int k);
MLCL_INTERNAL int mlcl__dnn_build_bwd(bctx *b, const dplan *d, int k);

/* threads (dnn_ops.c): 1 when op k at batch n runs on one thread; switches
 * the steps added next to one thread (solo = 1) or back. */
MLCL_INTERNAL int mlcl__dnn_op_solo(const mlcl__dnn *d, const mlcl__cg_graph *net, int n, int k);
MLCL_INTERNAL int mlcl__dnn_out_solo(const mlcl__dnn *d, const mlcl__cg_graph *net, int n);
MLCL_INTERNAL void mlcl__dnn_solo_set(bctx *b, int solo);
#endif
