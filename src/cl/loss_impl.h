/* The loss handle's layout and the row pass, shared by loss.c (options,
 * workspaces, the GEMM stages, the entry points) and loss_rows.c (the row
 * pass: masks, log-sum-exp, the contrastive and LD terms per anchor). Internal. */
#ifndef MLCL_CL_LOSS_IMPL_H
#define MLCL_CL_LOSS_IMPL_H
#include "mlcl/loss.h"
#include "core/internal.h"

#define MAX_THREADS 4
/* below this many pairs a second thread costs more than it saves */
#define THREAD_MIN_PAIRS 32768

struct mlcl_loss {
    mlcl_loss_options o;
    int max_n, max_nb, max_q, m, c, nthreads; /* max_nb: batch candidates (max_n unless distributed) */
    int threads; /* mlcl_loss_set_threads; 0: the enclosing/library count */
    size_t words, bytes;
    float *S;      /* max_n x max_N (max_N = max_nb + max_q): logits, then dL/dS */
    float *DW;     /* max_n x max_N: d_i . d_a, then the scaled G weights */
    float *knorm;  /* max_N |k_a|^2 */
    float *dnorm;  /* max_N |d_a|^2 */
    double *hval;  /* max_N ||yhat_a - d_a||^2 */
    float *inv;    /* c: 1/|P^j| or 1 */
    float *cval;   /* LD: d_a^j inv_j beside lidx's a, label j's list (lidx_cap) */
    int *cnt;      /* c: |P^j| */
    float *qnorm;  /* max_n |q_i|^2 */
    float *rdiag;  /* max_n: coefficient of q_i in grad_q_i (RBF weight gradient) */
    float *rws;    /* max_n: sum_a of the G weights of row i */
    double *con_i, *G_i, *H_i; /* max_n each */
    int *used_i;   /* max_n */
    float *rowbuf[MAX_THREADS]; /* max_N */
    float *colw[MAX_THREADS];   /* max_nb: column sums of the G weights over the batch candidates */
    float *colcnt[MAX_THREADS]; /* max_nb: anchors having batch candidate a in P(i) */
    float *gdw[MAX_THREADS];    /* max_nb x c: sparse d gradients of the batch candidates */
    float *cbuf[MAX_THREADS];   /* max_N, kept zero between rows: label-wise coefficients of one anchor */
    float *wbuf[MAX_THREADS];   /* max_N, kept zero between rows: LD's G weights of one anchor */
    uint64_t *bmap[MAX_THREADS]; /* max_N bits, kept zero between rows: the candidates touched in cbuf */
    int *tlist[MAX_THREADS];    /* max_N: the touched candidates of one anchor, increasing */
    float *dbuf[MAX_THREADS];   /* max_N: LD, the distribution distances of one anchor's touched pairs */
    int *flist[MAX_THREADS];    /* max_N: LD, which of them are summed again from the differences */
    int *loff;     /* c + 1: start of label j's candidates in lidx */
    int *lidx;     /* the candidates holding label j, increasing, per label (MulSupCon, LD; grown on demand) */
    size_t lidx_cap;
    /* LD's dense row pass (CLD, few labels, AVX-512; loss_rows.c): allocated
     * when c <= LD_DENSE_MAX_C on a CPU with AVX-512, else NULL */
    int Np;          /* max_N rounded up to 16 */
    float *dT;       /* c x Np: the candidates' distributions, transposed (zero padded) */
    uint16_t *lb16;  /* c x Np/16: per label, which candidates hold it, 16 to a word */
    double *dterm[MAX_THREADS]; /* 4 x max_N: one anchor's con, G, H and sumA terms in candidate order */
    float *fterm[MAX_THREADS];  /* max_N: its row weight terms */
};

/* the largest label count of the dense LD row pass */
#define LD_DENSE_MAX_C 32

/* One call's constants for the row pass. */
typedef struct rowctx {
    const mlcl_loss *L;
    int n, F, N, c, method, variant, mask, cldw, wgrad, dwgrad, need_gq, need_gd, lazy;
    int nb, off; /* batch candidates (n unless distributed); the anchors are batch rows off .. off+n-1 */
    size_t words;
    float tau, sigma, s; /* s = reduction factor */
    const uint64_t *y, *yq;
    const float *d, *dq;
    const float *q, *k, *kq; /* RLD: anchors n x m, batch keys nb x m, queue keys F x m */
    int m;
    float rbf_lim, rbf_slack; /* RLD: weights vanish beyond rbf_lim; error bound of the GEMM form per |q|^2+|k|^2 */
    float rbf_keep;           /* RLD: distances below which the weight is not negligible (> e^-30) */
    /* the GEMM stages run beside the row pass, each thread on its own anchors' rows */
    int T;         /* threads; anchors n t / T .. n (t+1) / T go to thread t */
    int do_S;      /* S rows = q k^T / tau first (else S is already there) */
    int do_DW;     /* DW rows = d_i [D; Dq]^T before the row pass (LD, dense G path) */
    float *grad_q; /* += dL/dS [k; kq] / tau after the row pass (NULL: none) */
    float *gda;    /* the anchors' grad_d rows: += -2 DW [D; Dq] after the row pass (NULL: none) */
    const float *da0; /* the anchors' distributions */
    size_t *alive; /* RLD, S-only stage: per thread, pairs whose RBF weight can be non-zero */
    int dense;     /* LD: L->dT and L->lb16 hold this call's candidates (the dense row pass may run) */
} rowctx;

/* The RBF weights (RLD) are recomputed from the differences above this value
 * of (|q|^2 + |k|^2) / (2 sigma^2) (see loss_rows.c). */
#define RBF_DIRECT 25.0f

/* The row pass over the n anchors of x on x->T threads (the caller's one of
 * them), each thread on its own anchors: the S (and DW) rows by GEMM if asked,
 * per anchor its terms (con_i, G_i, H_i, used_i, rws, rdiag), dL/dS written
 * over S and the G weights over DW, per-thread column sums, then its rows of
 * grad_q (and of the anchors' grad_d) by GEMM. A thread's GEMMs cover exactly
 * its rows, so with one thread they are the unsplit GEMMs. */
MLCL_INTERNAL void mlcl__loss_run_rows(const rowctx *x);
/* RLD's first stage on x->T threads: the S rows and the count of pairs whose
 * RBF weight can be non-zero (x->alive[t]). */
MLCL_INTERNAL void mlcl__loss_run_logits(const rowctx *x);
#endif
