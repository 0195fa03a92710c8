/* Data-parallel equivalence under mpirun (make check-mpi runs it on 2 ranks):
 *  1. MoCo: R ranks on n rows each for k steps reach the parameters of one
 *     process on the R n rows (float tolerance), for the LD (CLD and RLD),
 *     MulSupCon and SupCon losses, with dropout and synchronised BatchNorm;
 *     the loss parts match each step; the queue is byte-identical on every
 *     rank and matches the single process's; the parameters are
 *     byte-identical on every rank.
 *  2. Trainer: one pretraining + two fine-tuning epochs, sharded, against one
 *     process; rank 0 alone writes the checkpoint.
 *  3. Argument checks: unequal n across ranks fails on every rank (no hang).
 * --bench S: time per pretraining step on the Yeast shape (docs/distributed.md). */
#include "queue_get.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "mlcl.h"
#include "mlcl/comm.h"
#include "mlcl/mpi.h"

static int rank_, size_, fails;

#define FAIL(...) do { fprintf(stderr, "[rank %d] FAIL %s:%d: ", rank_, __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); fails++; } while (0)
#define OK(expr) do { int rc_ = (expr); if (rc_ != MLCL_OK) { FAIL("%s -> %d (%s)", #expr, rc_, mlcl_last_error()); \
    MPI_Abort(MPI_COMM_WORLD, 2); } } while (0)

static void fill(mlcl_rng *r, float *x, size_t n) { mlcl_rng_normal(r, x, n, 1.0f); }

static void rand_labels(mlcl_rng *r, uint8_t *y, int n, int c)
{
    uint32_t *u = malloc(sizeof(uint32_t) * (size_t)n * c);
    mlcl_rng_u32(r, u, (size_t)n * c);
    for (int i = 0; i < n * c; i++) y[i] = (u[i] % 3) == 0;
    free(u);
}

/* max |a - b| / (max |b| + 1e-3) over a parameter vector */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > md || d != d) md = d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / (mb + 1e-3);
}

/* The projection heads (networks 1 and 4) start with Linear(h, h) + BatchNorm1d:
 * the Linear bias has a gradient of exactly 0 in exact arithmetic (the
 * normalisation removes it), so it only sees round-off, which Adam rescales
 * to steps of up to lr. Those h entries (and the running means that add them)
 * are held to |diff| <= bound = 2 lr steps; everything else to rel 1e-5. */
static double net_diff(int net, const float *a, const float *b, size_t np, int h, double bound, int state)
{
    size_t lo = np, hi = np;
    if (bound > 0 && (net == 1 || net == 4)) {
        lo = state ? 0 : (size_t)h * h;
        hi = lo + (size_t)h;
    }
    for (size_t j = lo; j < hi; j++)
        if (!(fabs((double)a[j] - b[j]) <= bound)) return INFINITY;
    float *a2 = malloc(np * sizeof(float)), *b2 = malloc(np * sizeof(float));
    memcpy(a2, a, np * sizeof(float));
    memcpy(b2, b, np * sizeof(float));
    for (size_t j = lo; j < hi; j++) a2[j] = b2[j] = 0;
    double r = rel_diff(a2, b2, np);
    free(a2);
    free(b2);
    return r;
}

/* 1 when buf is byte-identical on every rank */
static int same_everywhere(const mlcl_comm *cm, const void *buf, size_t bytes)
{
    char *all = malloc(bytes * (size_t)size_);
    cm->allgather(cm->ctx, buf, bytes, all);
    int same = 1;
    for (int r = 1; r < size_; r++) same &= memcmp(all, all + (size_t)r * bytes, bytes) == 0;
    free(all);
    return same;
}

typedef struct cfg { const char *name; int method, variant, optim; float dropout; } cfg;

static void moco_equiv(const mlcl_comm *cm, const cfg *cf)
{
    const int n = 12, N = n * size_, d = 20, c = 7, steps = 6;
    mlcl_moco_options o = MLCL_MOCO_OPTIONS_INIT;
    o.in_dim = d;
    o.n_labels = c;
    o.n_hidden = 2;
    static const int widths[] = { 32, 24 };
    o.hidden = widths;
    o.dropout = cf->dropout;
    o.proj_dropout = cf->dropout / 2;
    o.proj_dim = 16;
    o.queue_size = 40; /* wraps around in the second step */
    o.momentum = 0.9f;
    o.seed = 7;
    mlcl_loss_options lo = MLCL_LOSS_OPTIONS_INIT;
    mlcl_optim_options oo = MLCL_MOCO_OPTIM_INIT;
    lo.method = cf->method;
    lo.variant = cf->variant;
    lo.sigma = 0.5f;
    oo.type = cf->optim;
    oo.lr = cf->optim == MLCL_OPTIM_SGD ? 0.05f : 1e-3f;
    oo.momentum = 0.9f;
    o.loss = &lo;
    o.optim = &oo;
    mlcl_moco *ref, *dist;
    o.max_batch = N;
    OK(mlcl_moco_create(&ref, &o));
    o.max_batch = n;
    OK(mlcl_moco_create(&dist, &o));
    OK(mlcl_moco_set_comm(dist, cm));
    mlcl_rng *r;
    OK(mlcl_rng_create(&r, 1234)); /* the same data on every rank */
    size_t words = mlcl_label_words(c);
    float *x0 = malloc(sizeof(float) * N * d), *x1 = malloc(sizeof(float) * N * d);
    uint8_t *y8 = malloc((size_t)N * c);
    uint64_t *y = malloc(sizeof(uint64_t) * N * words);
    double worst_loss = 0;
    for (int s = 0; s < steps; s++) {
        fill(r, x0, (size_t)N * d);
        fill(r, x1, (size_t)N * d);
        rand_labels(r, y8, N, c);
        OK(mlcl_labels_pack(y, y8, N, c));
        mlcl_loss_parts pr = MLCL_LOSS_PARTS_INIT, pd = MLCL_LOSS_PARTS_INIT;
        OK(mlcl_moco_step(ref, N, x0, x1, y, &pr));
        size_t off = (size_t)rank_ * n;
        OK(mlcl_moco_step(dist, n, x0 + off * d, x1 + off * d, y + off * words, &pd));
        double dl = fabs(pr.total - pd.total) / (fabs(pr.total) + 1e-6);
        if (dl > worst_loss) worst_loss = dl;
        if (dl > 1e-5 || fabs(pr.con - pd.con) > 1e-5 * (fabs(pr.con) + 1e-3) || fabs(pr.G - pd.G) > 1e-5 * (fabs(pr.G) + 1e-3) ||
            fabs(pr.H - pd.H) > 1e-5 * (fabs(pr.H) + 1e-3) || pr.n_anchors_used != pd.n_anchors_used)
            FAIL("%s step %d: loss %.9g vs %.9g (con %g/%g G %g/%g H %g/%g used %d/%d)", cf->name, s, pd.total, pr.total,
                 pd.con, pr.con, pd.G, pr.G, pd.H, pr.H, pd.n_anchors_used, pr.n_anchors_used);
    }
    double worst = 0;
    for (int i = 0; i < 5; i++) {
        mlcl_encoder *a, *b;
        float *pa, *pb;
        size_t np, ns;
        OK(mlcl_moco_encoder(dist, i, &a));
        OK(mlcl_moco_encoder(ref, i, &b));
        OK(mlcl_encoder_params_ptr(a, &pa));
        OK(mlcl_encoder_params_ptr(b, &pb));
        OK(mlcl_encoder_param_count(a, &np));
        double bound = cf->optim == MLCL_OPTIM_SGD ? 0.0 : 2.0 * steps * oo.lr;
        double rd = net_diff(i, pa, pb, np, o.hidden[1], bound, 0);
        if (rd > worst) worst = rd;
        if (rd > 1e-5) {
            size_t arg = 0; double md = 0;
            for (size_t j = 0; j < np; j++) if (fabs(pa[j] - pb[j]) > md) { md = fabs(pa[j] - pb[j]); arg = j; }
            FAIL("%s: network %d parameters differ from one process: rel %.3g (worst at %zu of %zu)", cf->name, i, rd, arg, np);
        }
        if (!same_everywhere(cm, pa, np * sizeof(float))) FAIL("%s: network %d parameters differ across ranks", cf->name, i);
        OK(mlcl_encoder_state_count(a, &ns));
        if (ns) {
            float *sa = malloc(ns * sizeof(float)), *sb = malloc(ns * sizeof(float));
            OK(mlcl_encoder_get_state(a, sa, ns));
            OK(mlcl_encoder_get_state(b, sb, ns));
            double rs = net_diff(i, sa, sb, ns, o.hidden[1], bound, 1);
            if (rs > 1e-5) FAIL("%s: network %d BatchNorm statistics differ: rel %.3g", cf->name, i, rs);
            if (!same_everywhere(cm, sa, ns * sizeof(float))) FAIL("%s: network %d statistics differ across ranks", cf->name, i);
            free(sa);
            free(sb);
        }
    }
    mlcl_queue *qa, *qb;
    OK(mlcl_moco_queue(dist, &qa));
    OK(mlcl_moco_queue(ref, &qb));
    int K = tq_capacity(qa), m = tq_feat_dim(qa);
    if (tq_size(qa) != tq_size(qb) || tq_head(qa) != tq_head(qb))
        FAIL("%s: queue size/head %d/%d vs %d/%d", cf->name, tq_size(qa), tq_head(qa),
             tq_size(qb), tq_head(qb));
    if (!same_everywhere(cm, tq_features(qa), sizeof(float) * K * m) ||
        !same_everywhere(cm, tq_labels(qa), sizeof(uint64_t) * K * words) ||
        !same_everywhere(cm, tq_dists(qa), sizeof(float) * K * c))
        FAIL("%s: the queue differs across ranks", cf->name);
    if (memcmp(tq_labels(qa), tq_labels(qb), sizeof(uint64_t) * K * words))
        FAIL("%s: queue labels differ from one process", cf->name);
    double rq = rel_diff(tq_features(qa), tq_features(qb), (size_t)K * m);
    double rdq = rel_diff(tq_dists(qa), tq_dists(qb), (size_t)K * c);
    if (rq > 1e-5 || rdq > 1e-5) FAIL("%s: queue keys / distributions differ from one process: %.3g %.3g", cf->name, rq, rdq);
    if (rank_ == 0)
        printf("moco %-22s %d ranks x %d rows, %d steps: params rel %.2e, loss rel %.2e, queue rel %.2e\n", cf->name,
               size_, n, steps, worst, worst_loss, rq);
    mlcl_moco_free(ref);
    mlcl_moco_free(dist);
    mlcl_rng_free(r);
    free(x0); free(x1); free(y8); free(y);
}

/* unequal batch sizes: every rank gets MLCL_EINVAL, nobody hangs, nothing changes */
static void bad_n(const mlcl_comm *cm)
{
    mlcl_moco_options o = MLCL_MOCO_OPTIONS_INIT;
    static const int w8[] = { 8 };
    o.in_dim = 5; o.n_labels = 3; o.n_hidden = 1; o.hidden = w8; o.proj_dim = 4; o.queue_size = 8; o.max_batch = 8;
    mlcl_moco *mc;
    OK(mlcl_moco_create(&mc, &o));
    OK(mlcl_moco_set_comm(mc, cm));
    float x[8 * 5];
    for (int i = 0; i < 40; i++) x[i] = (float)((i * 7) % 11) / 11.0f;
    uint64_t y[8] = { 1, 2, 3, 4, 5, 6, 7, 1 };
    int n = 4 + (rank_ & 1);
    int rc = mlcl_moco_step(mc, n, x, x, y, NULL);
    if (size_ > 1 && (rc != MLCL_EINVAL || !strstr(mlcl_last_error(), "same n")))
        FAIL("unequal n: %d '%s'", rc, mlcl_last_error());
    float bad[8 * 5];
    memcpy(bad, x, sizeof bad);
    if (rank_ == size_ - 1) bad[3] = NAN;
    rc = mlcl_moco_step(mc, 4, bad, x, y, NULL);
    if (rc != MLCL_ENUMERIC) FAIL("NaN input on the last rank: %d '%s'", rc, mlcl_last_error());
    long long st;
    OK(mlcl_moco_steps(mc, &st));
    if (st != (size_ > 1 ? 0 : 1)) FAIL("a failed step counted");
    OK(mlcl_moco_step(mc, 4, x, x, y, NULL));
    mlcl_moco_free(mc);
}

static void trainer_equiv(const mlcl_comm *cm)
{
    const int n = 70, d = 12, c = 5;
    mlcl_rng *r;
    OK(mlcl_rng_create(&r, 99));
    float *x = malloc(sizeof(float) * n * d);
    uint8_t *y = malloc((size_t)n * c);
    fill(r, x, (size_t)n * d);
    rand_labels(r, y, n, c);
    mlcl_dataset *ds;
    OK(mlcl_dataset_create_from_arrays(&ds, n, d, c, x, y));
    mlcl_train_options o = MLCL_TRAIN_OPTIONS_INIT;
    o.batch = 8 * size_;
    o.seed = 5;
    static const int widths2[] = { 24, 16 };
    static mlcl_moco_options mo = MLCL_MOCO_OPTIONS_INIT;
    mo.n_hidden = 2; mo.hidden = widths2; mo.proj_dim = 8; mo.queue_size = 24;
    o.moco = &mo;
    o.pretrain_epochs = 1; o.pretrain_lr = 1e-3f;
    o.finetune_epochs = 2; o.finetune_lr = 1e-3f;
    mlcl_trainer *ta, *tb;
    OK(mlcl_trainer_create(&ta, &o, ds));
    OK(mlcl_trainer_create(&tb, &o, ds));
    OK(mlcl_trainer_set_comm(ta, cm));
    OK(mlcl_trainer_run(ta));
    OK(mlcl_trainer_run(tb));
    mlcl_moco *ma, *mb;
    OK(mlcl_trainer_moco(ta, &ma));
    OK(mlcl_trainer_moco(tb, &mb));
    double worst = 0;
    for (int i = 0; i < 5; i++) {
        mlcl_encoder *a, *b;
        float *pa, *pb;
        size_t np;
        OK(mlcl_moco_encoder(ma, i, &a));
        OK(mlcl_moco_encoder(mb, i, &b));
        OK(mlcl_encoder_params_ptr(a, &pa));
        OK(mlcl_encoder_params_ptr(b, &pb));
        OK(mlcl_encoder_param_count(a, &np));
        double rd = net_diff(i, pa, pb, np, widths2[1], 2.0 * 5 * o.pretrain_lr, 0);
        if (rd > worst) worst = rd;
        if (rd > 1e-5) FAIL("trainer: network %d differs from one process: rel %.3g", i, rd);
        if (!same_everywhere(cm, pa, np * sizeof(float))) FAIL("trainer: network %d differs across ranks", i);
    }
    mlcl_metrics ma_ = MLCL_METRICS_INIT, mb_ = MLCL_METRICS_INIT;
    memset(&ma_, 0, sizeof ma_);
    memset(&mb_, 0, sizeof mb_);
    ma_.version = mb_.version = MLCL_METRICS_VERSION;
    OK(mlcl_trainer_evaluate(ta, ds, NULL, &ma_));
    OK(mlcl_trainer_evaluate(tb, ds, NULL, &mb_));
    if (fabs(ma_.mAP - mb_.mAP) > 1e-4) FAIL("trainer: mAP %g vs %g", ma_.mAP, mb_.mAP);
    /* checkpoints: rank 0 writes, everyone gets its status */
    char path[256];
    snprintf(path, sizeof path, "/tmp/mlcl_mpi_ckpt_%d_%d", (int)getppid(), rank_);
    unlink(path);
    OK(mlcl_trainer_save(ta, path));
    int exists = access(path, F_OK) == 0;
    if (exists != (rank_ == 0)) FAIL("checkpoint file on rank %d: exists %d", rank_, exists);
    unlink(path);
    int rc = mlcl_trainer_save(ta, "/nonexistent-dir/x.ckpt");
    if (rc != MLCL_EIO) FAIL("save into a missing directory: %d on rank %d (%s)", rc, rank_, mlcl_last_error());
    if (rank_ == 0) printf("trainer 1+2 epochs, %d ranks: params rel %.2e, mAP %.6f vs %.6f\n", size_, worst, ma_.mAP, mb_.mAP);
    mlcl_trainer_free(ta);
    mlcl_trainer_free(tb);
    mlcl_dataset_free(ds);
    mlcl_rng_free(r);
    free(x);
    free(y);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* a proxy communicator that counts calls, payload bytes and time */
typedef struct meter { const mlcl_comm *in; long long calls; double bytes, secs; } meter;
static double now(void);
static int m_f32(void *c, float *b, size_t n)
{ meter *m = c; double t = now(); int r = m->in->allreduce_f32(m->in->ctx, b, n); m->secs += now() - t; m->calls++; m->bytes += 4.0 * n; return r; }
static int m_f64(void *c, double *b, size_t n)
{ meter *m = c; double t = now(); int r = m->in->allreduce_f64(m->in->ctx, b, n); m->secs += now() - t; m->calls++; m->bytes += 8.0 * n; return r; }
static int m_gat(void *c, const void *s, size_t n, void *r_)
{ meter *m = c; double t = now(); int r = m->in->allgather(m->in->ctx, s, n, r_); m->secs += now() - t; m->calls++; m->bytes += (double)n; return r; }
static int m_bc(void *c, void *b, size_t n, int root)
{ meter *m = c; double t = now(); int r = m->in->bcast(m->in->ctx, b, n, root); m->secs += now() - t; m->calls++; m->bytes += (double)n; return r; }

/* ms per pretraining step, the Yeast shape: d 103, c 14, global batch 128, K 256, defaults */
static void bench(const mlcl_comm *cm, int steps)
{
    const int N = 128, n = N / size_, d = 103, c = 14;
    mlcl_moco_options o = MLCL_MOCO_OPTIONS_INIT;
    o.in_dim = d; o.n_labels = c; o.max_batch = n;
    mlcl_moco *mc;
    OK(mlcl_moco_create(&mc, &o));
    meter mt = { cm, 0, 0, 0 };
    mlcl_comm pc = *cm;
    pc.ctx = &mt;
    pc.allreduce_f32 = m_f32;
    pc.allreduce_f64 = m_f64;
    pc.allgather = m_gat;
    pc.bcast = m_bc;
    if (size_ > 1) OK(mlcl_moco_set_comm(mc, &pc));
    mlcl_rng *r;
    OK(mlcl_rng_create(&r, 3));
    size_t words = mlcl_label_words(c);
    float *x0 = malloc(sizeof(float) * N * d), *x1 = malloc(sizeof(float) * N * d);
    uint8_t *y8 = malloc((size_t)N * c);
    uint64_t *y = malloc(sizeof(uint64_t) * N * words);
    fill(r, x0, (size_t)N * d);
    fill(r, x1, (size_t)N * d);
    rand_labels(r, y8, N, c);
    OK(mlcl_labels_pack(y, y8, N, c));
    size_t off = (size_t)rank_ * n;
    for (int s = 0; s < 5; s++) OK(mlcl_moco_step(mc, n, x0 + off * d, x1 + off * d, y + off * words, NULL));
    MPI_Barrier(MPI_COMM_WORLD);
    mt.calls = 0;
    mt.bytes = mt.secs = 0;
    double t0 = now(), tc = 0;
    for (int s = 0; s < steps; s++) OK(mlcl_moco_step(mc, n, x0 + off * d, x1 + off * d, y + off * words, NULL));
    MPI_Barrier(MPI_COMM_WORLD);
    double el = now() - t0;
    (void)tc;
    size_t np = 0;
    for (int i = 0; i < 3; i++) {
        mlcl_encoder *e;
        size_t k;
        mlcl_moco_encoder(mc, i, &e);
        mlcl_encoder_param_count(e, &k);
        np += k;
    }
    if (rank_ == 0)
        printf("bench: %d rank(s), global batch %d (%d per rank), %zu query parameters: %.2f ms/step; "
               "per step %.1f collectives, %.0f payload bytes, %.2f ms inside them\n", size_, N, n, np,
               1e3 * el / steps, (double)mt.calls / steps, mt.bytes / steps, 1e3 * mt.secs / steps);
    mlcl_moco_free(mc);
    mlcl_rng_free(r);
    free(x0); free(x1); free(y8); free(y);
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    mlcl_comm *cm;
    OK(mlcl_mpi_comm_create(&cm, MPI_COMM_WORLD));
    if (cm->rank != rank_ || cm->size != size_) FAIL("rank/size %d/%d vs %d/%d", cm->rank, cm->size, rank_, size_);
    if (argc > 2 && !strcmp(argv[1], "--bench")) {
        bench(cm, atoi(argv[2]));
    } else {
        static const cfg cfgs[] = {
            { "LD-CLD adamw dropout", MLCL_LOSS_LD, MLCL_LD_CLD, MLCL_OPTIM_ADAMW, 0.2f },
            { "LD-CLD sgd", MLCL_LOSS_LD, MLCL_LD_CLD, MLCL_OPTIM_SGD, 0.0f },
            { "LD-RLD sgd dropout", MLCL_LOSS_LD, MLCL_LD_RLD, MLCL_OPTIM_SGD, 0.2f },
            { "MulSupCon adamw", MLCL_LOSS_MULSUPCON, 0, MLCL_OPTIM_ADAMW, 0.1f },
            { "SupCon sgd", MLCL_LOSS_SUPCON, 0, MLCL_OPTIM_SGD, 0.1f },
        };
        for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) moco_equiv(cm, &cfgs[i]);
        bad_n(cm);
        trainer_equiv(cm);
    }
    mlcl_mpi_comm_free(cm);
    int all = 0;
    MPI_Allreduce(&fails, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank_ == 0) printf("%s: %d failure(s) over %d ranks\n", all ? "FAILED" : "passed", all, size_);
    MPI_Finalize();
    return all != 0;
}
