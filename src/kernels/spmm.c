/* Sparse x dense kernels of the sparse first layer (spmm.h).
 *
 * Both run over the output units o: row o of W (and of gW) is contiguous, and
 * within a CSR row the columns increase, so the gathers (forward) and the
 * scatters (backward) walk each weight row forward. Output units are
 * independent: the range is split over two threads (mlcl__par2) when the
 * work is large, with the same result either way (each o is summed by one
 * thread in the same order). */
#include "kernels/spmm.h"
#include "kernels/par.h"

/* below this many multiply-adds a thread start costs more than it saves */
#define SPMM_PAR_MIN 1000000.0

typedef struct spmm_task {
    int n, in, out, o0, o1;
    const int64_t *ptr;
    const int *col;
    const float *val, *W, *b, *g;
    float *y, *gW, *gb;
} spmm_task;

/* y[i][o] = b[o] + sum_q val[q] W[o][col[q]] */
static void fwd_run(void *arg)
{
    const spmm_task *t = arg;
    const int64_t *ptr = t->ptr;
    const int *restrict col = t->col;
    const float *restrict val = t->val;
    for (int o = t->o0; o < t->o1; o++) {
        const float *restrict Wo = t->W + (size_t)o * (size_t)t->in;
        float bo = t->b ? t->b[o] : 0.0f;
        for (int i = 0; i < t->n; i++) {
            float acc = 0.0f;
            for (int64_t q = ptr[i]; q < ptr[i + 1]; q++) acc += val[q] * Wo[col[q]];
            t->y[(size_t)i * (size_t)t->out + (size_t)o] = bo + acc;
        }
    }
}

/* gW[o][col[q]] += g[i][o] val[q];  gb[o] += sum_i g[i][o] */
static void bwd_run(void *arg)
{
    const spmm_task *t = arg;
    const int64_t *ptr = t->ptr;
    const int *restrict col = t->col;
    const float *restrict val = t->val;
    for (int o = t->o0; o < t->o1; o++) {
        float *restrict gWo = t->gW + (size_t)o * (size_t)t->in;
        double sb = 0.0;
        for (int i = 0; i < t->n; i++) {
            float gi = t->g[(size_t)i * (size_t)t->out + (size_t)o];
            sb += gi;
            if (gi == 0.0f) continue; /* (ReLU zeros: nothing to add) */
            for (int64_t q = ptr[i]; q < ptr[i + 1]; q++) gWo[col[q]] += gi * val[q];
        }
        if (t->gb) t->gb[o] += (float)sb;
    }
}

static void run_split(void (*f)(void *), spmm_task *t)
{
    double work = (double)(t->ptr[t->n] - t->ptr[0]) * t->out;
    if (work < SPMM_PAR_MIN || t->out < 2) {
        t->o0 = 0;
        t->o1 = t->out;
        f(t);
        return;
    }
    spmm_task a = *t, b = *t;
    a.o0 = 0; a.o1 = t->out / 2;
    b.o0 = a.o1; b.o1 = t->out;
    mlcl__par2(f, &a, f, &b);
}

void mlcl__spmm_fwd(int n, int in, int out, const int64_t *ptr, const int *col, const float *val, const float *W,
                    const float *b, float *y)
{
    spmm_task t = { n, in, out, 0, out, ptr, col, val, W, b, NULL, y, NULL, NULL };
    run_split(fwd_run, &t);
}

void mlcl__spmm_bwd_w(int n, int in, int out, const int64_t *ptr, const int *col, const float *val, const float *g,
                      float *gW, float *gb)
{
    spmm_task t = { n, in, out, 0, out, ptr, col, val, NULL, NULL, g, NULL, gW, gb };
    run_split(bwd_run, &t);
}
