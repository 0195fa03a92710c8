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

/* y[i][o] = b[o] + sum_q val[q] W[o][col[q]]: four output units a pass over
 * the entries (each entry's index and value loaded once for four weight
 * rows, four independent sums); every unit sums its entries in order */
static void fwd_run(void *arg)
{
    const spmm_task *t = arg;
    const int64_t *ptr = t->ptr;
    const int *restrict col = t->col;
    const float *restrict val = t->val;
    const size_t in = (size_t)t->in, out = (size_t)t->out;
    int o = t->o0;
    for (; o + 4 <= t->o1; o += 4) {
        const float *restrict W0 = t->W + (size_t)o * in, *restrict W1 = W0 + in, *restrict W2 = W1 + in,
                    *restrict W3 = W2 + in;
        float b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        if (t->b) { b0 = t->b[o]; b1 = t->b[o + 1]; b2 = t->b[o + 2]; b3 = t->b[o + 3]; }
        for (int i = 0; i < t->n; i++) {
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
            for (int64_t q = ptr[i]; q < ptr[i + 1]; q++) {
                const int c = col[q];
                const float v = val[q];
                a0 += v * W0[c]; a1 += v * W1[c]; a2 += v * W2[c]; a3 += v * W3[c];
            }
            float *yi = t->y + (size_t)i * out + (size_t)o;
            yi[0] = b0 + a0; yi[1] = b1 + a1; yi[2] = b2 + a2; yi[3] = b3 + a3;
        }
    }
    for (; o < t->o1; o++) {
        const float *restrict Wo = t->W + (size_t)o * in;
        float bo = t->b ? t->b[o] : 0.0f;
        for (int i = 0; i < t->n; i++) {
            float acc = 0.0f;
            for (int64_t q = ptr[i]; q < ptr[i + 1]; q++) acc += val[q] * Wo[col[q]];
            t->y[(size_t)i * out + (size_t)o] = bo + acc;
        }
    }
}

/* gW[o][col[q]] += g[i][o] val[q];  gb[o] += sum_i g[i][o]; four units a pass
 * as forward (each gW row gets its additions in the same order as one at a time) */
static void bwd_run(void *arg)
{
    const spmm_task *t = arg;
    const int64_t *ptr = t->ptr;
    const int *restrict col = t->col;
    const float *restrict val = t->val;
    const size_t in = (size_t)t->in, out = (size_t)t->out;
    int o = t->o0;
    for (; o + 4 <= t->o1; o += 4) {
        float *restrict G0 = t->gW + (size_t)o * in, *restrict G1 = G0 + in, *restrict G2 = G1 + in,
              *restrict G3 = G2 + in;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int i = 0; i < t->n; i++) {
            const float *gi = t->g + (size_t)i * out + (size_t)o;
            const float g0 = gi[0], g1 = gi[1], g2 = gi[2], g3 = gi[3];
            s0 += g0; s1 += g1; s2 += g2; s3 += g3;
            if (g0 == 0.0f && g1 == 0.0f && g2 == 0.0f && g3 == 0.0f) continue; /* (ReLU zeros) */
            for (int64_t q = ptr[i]; q < ptr[i + 1]; q++) {
                const int c = col[q];
                const float v = val[q];
                G0[c] += g0 * v; G1[c] += g1 * v; G2[c] += g2 * v; G3[c] += g3 * v;
            }
        }
        if (t->gb) {
            t->gb[o] += (float)s0; t->gb[o + 1] += (float)s1; t->gb[o + 2] += (float)s2; t->gb[o + 3] += (float)s3;
        }
    }
    for (; o < t->o1; o++) {
        float *restrict gWo = t->gW + (size_t)o * in;
        double sb = 0.0;
        for (int i = 0; i < t->n; i++) {
            float gi = t->g[(size_t)i * out + (size_t)o];
            sb += gi;
            if (gi == 0.0f) continue;
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
    a.o0 = 0; a.o1 = (t->out / 2 + 3) & ~3;
    if (a.o1 > t->out) a.o1 = t->out;
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
