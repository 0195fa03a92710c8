/* Data-parallel pieces without MPI (the MPI equivalence test is tests/mpi/):
 *  - the loss split over R "ranks" (mlcl__loss_compute_ranks on each rank's
 *    anchors against the whole batch) averages to the one-process loss, and
 *    its gradients (q rows, summed d rows, W) to the one-process gradients;
 *  - a one-rank communicator gives bit-identical MoCo steps and trainer runs. */
#include "testutil.h"
#include "queue_get.h"
#include <math.h>
#include <string.h>
#include "mlcl/comm.h"
#include "cl/loss_internal.h"

static int id_f32(void *c, float *b, size_t n) { (void)c; (void)b; (void)n; return 0; }
static int id_f64(void *c, double *b, size_t n) { (void)c; (void)b; (void)n; return 0; }
static int id_gather(void *c, const void *s, size_t n, void *r) { (*(int *)c)++; memcpy(r, s, n); return 0; }
static int id_bcast(void *c, void *b, size_t n, int root) { (void)c; (void)b; (void)n; (void)root; return 0; }

static mlcl_comm one_rank(int *calls)
{
    mlcl_comm c;
    ck_assert_ok(mlcl_comm_init(&c, MLCL_COMM_VERSION));
    c.ctx = calls;
    c.allreduce_f32 = id_f32; c.allreduce_f64 = id_f64; c.allgather = id_gather; c.bcast = id_bcast;
    return c;
}

static double maxrel(const float *a, const float *b, size_t n)
{
    double md = 0, mb = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > md || d != d) md = d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}

static void split_case(int method, int variant, int reduction, int dwg, int wg, int R)
{
    enum { n = 6, m = 8, c = 5, F = 9, h = 4 };
    const int N = n * R;
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 77 + method * 10 + variant));
    float q[24 * m], k[24 * m], d[24 * c], W[c * h], kq[F * m], dq[F * c];
    uint64_t y[24], yq[F];
    ck_assert_int_le(N, 24);
    ck_assert_ok(mlcl_rng_normal(r, q, (size_t)N * m, 0.5f));
    ck_assert_ok(mlcl_rng_normal(r, k, (size_t)N * m, 0.5f));
    ck_assert_ok(mlcl_rng_normal(r, kq, (size_t)F * m, 0.5f));
    ck_assert_ok(mlcl_rng_uniform(r, d, (size_t)N * c));
    ck_assert_ok(mlcl_rng_uniform(r, dq, (size_t)F * c));
    ck_assert_ok(mlcl_rng_normal(r, W, (size_t)c * h, 0.3f));
    uint32_t u[24 + F];
    ck_assert_ok(mlcl_rng_u32(r, u, (size_t)N + F));
    for (int i = 0; i < N; i++) y[i] = u[i] & 31u;
    for (int i = 0; i < F; i++) yq[i] = u[N + i] & 31u;
    mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
    o.method = method; o.variant = variant; o.reduction = reduction; o.dweight_grad = dwg; o.weight_grad = wg;
    o.sigma = 0.7f;
    mlcl_queue_options qo = MLCL_QUEUE_OPTIONS_INIT;
    qo.capacity = F; qo.feat_dim = m; qo.n_labels = c;
    mlcl_queue *Q;
    ck_assert_ok(mlcl_queue_create(&Q, &qo));
    ck_assert_ok(mlcl_queue_enqueue(Q, F, kq, yq, dq));
    mlcl_loss *L1, *L2;
    ck_assert_ok(mlcl_loss_create(&L1, N, F, m, c, &o));
    ck_assert_ok(mlcl__loss_create_ranks(&L2, n, N, F, m, c, &o));
    float gq1[24 * m] = {0}, gd1[24 * c] = {0}, gW1[c * h] = {0};
    mlcl_loss_parts p1 = MLCL_LOSS_PARTS_INIT;
    ck_assert_ok(mlcl_loss_compute(L1, &p1, gq1, gd1, gW1, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = N, .q = q, .k = k, .y = y, .d = d, .queue = Q, .W = W, .h = h }));
    float gq2[24 * m] = {0}, gd2[24 * c] = {0}, gW2[c * h] = {0};
    double tot = 0, con = 0, G = 0, H = 0;
    int used = 0;
    for (int rk = 0; rk < R; rk++) {
        float gq[n * m] = {0}, gd[24 * c] = {0}, gW[c * h] = {0};
        mlcl_loss_parts p = MLCL_LOSS_PARTS_INIT;
        ck_assert_ok(mlcl__loss_compute_ranks(L2, n, N, rk * n, q + (size_t)rk * n * m, k, y, d, Q, W, h, &p, gq, gd, gW));
        tot += p.total / R; con += p.con / R; G += p.G / R; H += p.H / R; used += p.n_anchors_used;
        /* parameter gradients are averaged over the ranks; d gradients summed then averaged */
        for (int j = 0; j < n * m; j++) gq2[rk * n * m + j] = gq[j] / R;
        for (int j = 0; j < N * c; j++) gd2[j] += gd[j] / R;
        for (int j = 0; j < c * h; j++) gW2[j] += gW[j] / R;
    }
    ck_assert_msg(fabs(tot - p1.total) <= 1e-5 * (fabs(p1.total) + 1e-3), "total %g vs %g", tot, p1.total);
    ck_assert_msg(fabs(con - p1.con) <= 1e-5 * (fabs(p1.con) + 1e-3), "con %g vs %g", con, p1.con);
    ck_assert_msg(fabs(G - p1.G) <= 1e-5 * (fabs(p1.G) + 1e-3) && fabs(H - p1.H) <= 1e-5 * (fabs(p1.H) + 1e-3),
                  "G %g/%g H %g/%g", G, p1.G, H, p1.H);
    ck_assert_int_eq(used, p1.n_anchors_used);
    ck_assert_msg(maxrel(gq2, gq1, (size_t)N * m) < 1e-5, "grad_q rel %g", maxrel(gq2, gq1, (size_t)N * m));
    if (method == MLCL_LOSS_LD) {
        ck_assert_msg(maxrel(gd2, gd1, (size_t)N * c) < 1e-5, "grad_d rel %g", maxrel(gd2, gd1, (size_t)N * c));
        ck_assert_msg(maxrel(gW2, gW1, (size_t)c * h) < 1e-5, "grad_W rel %g", maxrel(gW2, gW1, (size_t)c * h));
    }
    mlcl_loss_free(L1);
    mlcl_loss_free(L2);
    mlcl_queue_free(Q);
    mlcl_rng_free(r);
}

START_TEST(loss_split)
{
    for (int R = 2; R <= 4; R++) {
        for (int red = 0; red < 2; red++) {
            split_case(MLCL_LOSS_LD, MLCL_LD_CLD, red, 0, 0, R);
            split_case(MLCL_LOSS_LD, MLCL_LD_CLD, red, 1, 1, R);
            split_case(MLCL_LOSS_LD, MLCL_LD_RLD, red, 1, 1, R);
            split_case(MLCL_LOSS_MULSUPCON, 0, red, 0, 0, R);
            split_case(MLCL_LOSS_SUPCON, 0, red, 0, 0, R);
        }
    }
}
END_TEST

static void moco_opts(mlcl_moco_options *o)
{
    ck_assert_ok(mlcl_moco_options_init(o, MLCL_MOCO_OPTIONS_VERSION));
    static const int w[] = { 16, 12 };
    static mlcl_optim_options opt = MLCL_MOCO_OPTIM_INIT;
    o->in_dim = 9; o->n_labels = 4; o->n_hidden = 2; o->hidden = w;
    o->proj_dim = 8; o->queue_size = 20; o->max_batch = 10; o->seed = 4;
    opt.lr = 1e-3f;
    o->optim = &opt;
}

static void same_nets(mlcl_moco *a, mlcl_moco *b)
{
    for (int i = 0; i < 5; i++) {
        mlcl_encoder *ea, *eb;
        float *pa, *pb;
        size_t np;
        ck_assert_ok(mlcl_moco_encoder(a, i, &ea));
        ck_assert_ok(mlcl_moco_encoder(b, i, &eb));
        ck_assert_ok(mlcl_encoder_params_ptr(ea, &pa));
        ck_assert_ok(mlcl_encoder_params_ptr(eb, &pb));
        ck_assert_ok(mlcl_encoder_param_count(ea, &np));
        ck_assert_msg(memcmp(pa, pb, np * sizeof(float)) == 0, "network %d differs", i);
    }
}

START_TEST(one_rank_moco_bit_identical)
{
    mlcl_moco_options o;
    moco_opts(&o);
    mlcl_moco *a, *b;
    ck_assert_ok(mlcl_moco_create(&a, &o));
    ck_assert_ok(mlcl_moco_create(&b, &o));
    int calls = 0;
    mlcl_comm c = one_rank(&calls);
    ck_assert_ok(mlcl_moco_set_comm(b, &c));
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 5));
    float x0[10 * 9], x1[10 * 9];
    uint64_t y[10];
    for (int s = 0; s < 4; s++) {
        ck_assert_ok(mlcl_rng_normal(r, x0, 90, 1.0f));
        ck_assert_ok(mlcl_rng_normal(r, x1, 90, 1.0f));
        for (int i = 0; i < 10; i++) y[i] = (uint64_t)((i * 5 + s) % 16);
        mlcl_loss_parts pa = MLCL_LOSS_PARTS_INIT, pb = MLCL_LOSS_PARTS_INIT;
        ck_assert_ok(mlcl_moco_step(a, 10, x0, x1, y, &pa));
        ck_assert_ok(mlcl_moco_step(b, 10, x0, x1, y, &pb));
        ck_assert_msg(pa.total == pb.total, "step %d: %.9g vs %.9g", s, pa.total, pb.total);
    }
    ck_assert_int_eq(calls, 4 * 4); /* handshake, keys, labels, distributions per step */
    same_nets(a, b);
    mlcl_queue *qa, *qb;
    ck_assert_ok(mlcl_moco_queue(a, &qa));
    ck_assert_ok(mlcl_moco_queue(b, &qb));
    ck_assert(memcmp(tq_features(qa), tq_features(qb), sizeof(float) * 20 * 8) == 0);
    /* unequal n cannot happen on one rank; bad n still names itself */
    ck_assert_status_msg(mlcl_moco_step(b, 11, x0, x1, y, NULL), MLCL_EINVAL, "max_batch=10");
    /* and back to single-process */
    ck_assert_ok(mlcl_moco_set_comm(b, NULL));
    ck_assert_ok(mlcl_moco_step(a, 10, x0, x1, y, NULL));
    ck_assert_ok(mlcl_moco_step(b, 10, x0, x1, y, NULL));
    same_nets(a, b);
    mlcl_moco_free(a);
    mlcl_moco_free(b);
    mlcl_rng_free(r);
}
END_TEST

START_TEST(one_rank_trainer_bit_identical)
{
    enum { n = 40, d = 7, c = 4 };
    float x[n * d];
    uint8_t y[n * c];
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 8));
    ck_assert_ok(mlcl_rng_normal(r, x, n * d, 1.0f));
    for (int i = 0; i < n * c; i++) y[i] = (uint8_t)((i * 7 + i / 3) % 3 == 0);
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, n, d, c, x, y));
    mlcl_train_options o;
    ck_assert_ok(mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION));
    o.batch = 8; test_moco_of(&o)->o.n_hidden = 1; test_moco_of(&o)->hidden[0] = 12; test_moco_of(&o)->o.proj_dim = 6; test_moco_of(&o)->o.queue_size = 16;
    o.pretrain_epochs = 1; o.finetune_epochs = 1;
    mlcl_trainer *ta, *tb;
    ck_assert_ok(mlcl_trainer_create(&ta, &o, ds));
    ck_assert_ok(mlcl_trainer_create(&tb, &o, ds));
    int calls = 0;
    mlcl_comm cm = one_rank(&calls);
    ck_assert_ok(mlcl_trainer_set_comm(tb, &cm));
    ck_assert_ok(mlcl_trainer_run(ta));
    ck_assert_ok(mlcl_trainer_run(tb));
    ck_assert_int_gt(calls, 0);
    mlcl_moco *ma, *mb;
    ck_assert_ok(mlcl_trainer_moco(ta, &ma));
    ck_assert_ok(mlcl_trainer_moco(tb, &mb));
    same_nets(ma, mb);
    mlcl_trainer_free(ta);
    mlcl_trainer_free(tb);
    mlcl_dataset_free(ds);
    mlcl_rng_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("dist");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, loss_split);
    tcase_add_test(tc, one_rank_moco_bit_identical);
    tcase_add_test(tc, one_rank_trainer_bit_identical);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
