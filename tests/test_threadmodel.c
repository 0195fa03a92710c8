/* The threading model (docs/abi.md "Thread counts"): one library-wide default
 * set only by mlcl_set_num_threads(), a per-handle count that the handle's
 * calls make current on the calling thread, fork-join workers that inherit
 * it, and no environment variable read inside the library. */
#include "testutil.h"
#include <math.h>
#include <pthread.h>
#include <cblas.h>
#include "kernels/par.h"
#include <sys/wait.h>
#include <unistd.h>
#include <signal.h>

enum { N = 128, F = 256, M = 32, C = 6, H = 8 };

/* One loss problem, fixed by its seed. */
typedef struct {
    float q[N * M], k[N * M], kq[F * M], d[N * C], dq[F * C], W[C * H];
    uint64_t y[N], yq[F];
} problem;

typedef struct {
    double total;
    float grad_q[N * M], grad_d[N * C], grad_W[C * H];
} result;

static void make_problem(problem *p, uint64_t seed)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed));
    mlcl_rng_normal(r, p->q, N * M, 1.0f);
    mlcl_rng_normal(r, p->k, N * M, 1.0f);
    mlcl_rng_normal(r, p->kq, F * M, 1.0f);
    mlcl_l2norm_forward(p->q, NULL, p->q, N, M);
    mlcl_l2norm_forward(p->k, NULL, p->k, N, M);
    mlcl_l2norm_forward(p->kq, NULL, p->kq, F, M);
    mlcl_rng_normal(r, p->d, N * C, 1.0f);
    mlcl_rng_normal(r, p->dq, F * C, 1.0f);
    mlcl_softmax_forward(p->d, p->d, N, C);
    mlcl_softmax_forward(p->dq, p->dq, F, C);
    mlcl_rng_normal(r, p->W, C * H, 0.1f);
    static uint8_t y8[(N + F) * C];
    float u[(N + F) * C];
    mlcl_rng_uniform(r, u, (N + F) * C);
    for (int i = 0; i < (N + F) * C; i++) y8[i] = u[i] < 0.4f;
    mlcl_labels_pack(p->y, y8, N, C);
    mlcl_labels_pack(p->yq, y8 + N * C, F, C);
    mlcl_rng_free(r);
}

static int run_loss(mlcl_loss *L, const problem *p, result *out)
{
    mlcl_loss_parts parts = MLCL_LOSS_PARTS_INIT;
    memset(out, 0, sizeof *out);
    mlcl_loss_inputs in = MLCL_LOSS_INPUTS_INIT;
    in.n = N; in.q = p->q; in.k = p->k; in.y = p->y; in.d = p->d;
    in.F = F; in.kq = p->kq; in.yq = p->yq; in.dq = p->dq; in.W = p->W; in.h = H;
    int rc = mlcl_loss_compute(L, &parts, out->grad_q, out->grad_d, out->grad_W, &in);
    out->total = parts.total;
    return rc;
}

static mlcl_loss *make_loss(int threads)
{
    mlcl_loss *L;
    mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
    o.method = MLCL_LOSS_LD;
    o.variant = MLCL_LD_CLD;
    ck_assert_ok(mlcl_loss_create(&L, N, F, M, C, &o));
    ck_assert_ok(mlcl_loss_set_threads(L, threads));
    return L;
}

static int same(const result *a, const result *b) { return memcmp(a, b, sizeof *a) == 0; }

static int cpus(void) { return mlcl__cpus_available(); }

/* the built-in default, before any mlcl_set_num_threads(): 2, at most the CPUs */
START_TEST(default_count)
{
    int n = -1, want = cpus() < 2 ? cpus() : 2;
    ck_assert_ok(mlcl_get_num_threads(&n));
    ck_assert_int_eq(n, want);
    ck_assert_int_eq(mlcl__threads_current(), want);
    ck_assert_ok(mlcl_set_num_threads(1));
    ck_assert_ok(mlcl_get_num_threads(&n));
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(mlcl__threads_current(), 1);
    /* the one place OpenBLAS's process-wide count is set: to 1 */
    openblas_set_num_threads(2);
    ck_assert_ok(mlcl_set_num_threads(2));
    ck_assert_int_eq(openblas_get_num_threads(), 1);
}
END_TEST

/* scopes nest, 0 inherits, leave restores; the fork-join's workers run with
 * the forking thread's count */
static void record(void *p) { *(int *)p = mlcl__threads_current(); }
static void record_t(void *p, int t) { ((int *)p)[t] = mlcl__threads_current(); }
START_TEST(scopes_nest_and_reach_workers)
{
    ck_assert_ok(mlcl_set_num_threads_forced(3));
    ck_assert_int_eq(mlcl__threads_current(), 3);
    int outer = mlcl__threads_enter(5);
    ck_assert_int_eq(mlcl__threads_current(), 5);
    int inner = mlcl__threads_enter(0); /* a handle without its own count */
    ck_assert_int_eq(mlcl__threads_current(), 5);
    int a = 0, b = 0;
    mlcl__par2(record, &a, record, &b);
    ck_assert_int_eq(a, 5); /* the new thread */
    ck_assert_int_eq(b, 5);
    int seen[4] = { 0 };
    mlcl__par_for(4, record_t, seen);
    for (int t = 0; t < 4; t++) ck_assert_int_eq(seen[t], 5);
    int in2 = mlcl__threads_enter(2);
    ck_assert_int_eq(mlcl__threads_current(), 2);
    mlcl__threads_leave(in2);
    mlcl__threads_leave(inner);
    ck_assert_int_eq(mlcl__threads_current(), 5);
    mlcl__threads_leave(outer);
    ck_assert_int_eq(mlcl__threads_current(), 3);
    ck_assert_ok(mlcl_set_num_threads(1));
}
END_TEST

/* mlcl__par_for runs every task once, whatever T */
static void count_t(void *p, int t) { __atomic_fetch_add(&((int *)p)[t], 1, __ATOMIC_RELAXED); }
START_TEST(par_for_runs_each_task_once)
{
    for (int T = 0; T <= 9; T++) {
        int hits[16] = { 0 };
        mlcl__par_for(T, count_t, hits);
        for (int t = 0; t < 16; t++) ck_assert_int_eq(hits[t], t < T ? 1 : 0);
    }
}
END_TEST


/* the workers are persistent (par.c): a worker runs many fork-joins, nested
 * and concurrent fork-joins each get their own, and a child process after
 * fork() (which inherits none of the parent's workers) still fork-joins */
static void whoami(void *p) { *(pthread_t *)p = pthread_self(); }
static void nested(void *p)
{
    int *hits = p;
    mlcl__par_for(3, count_t, hits);
}
START_TEST(persistent_workers)
{
    ck_assert_ok(mlcl_set_num_threads_forced(2));
    pthread_t w1, w2, me1, me2;
    mlcl__par2(whoami, &w1, whoami, &me1);
    mlcl__par2(whoami, &w2, whoami, &me2);
    ck_assert(pthread_equal(me1, pthread_self()) && pthread_equal(me2, pthread_self()));
    ck_assert(!pthread_equal(w1, pthread_self()));
    ck_assert_msg(pthread_equal(w1, w2), "the second fork-join did not reuse the idle worker");
    int ha[16] = { 0 }, hb[16] = { 0 };
    mlcl__par2(nested, ha, nested, hb); /* a fork-join inside each task */
    for (int t = 0; t < 16; t++) {
        ck_assert_int_eq(ha[t], t < 3);
        ck_assert_int_eq(hb[t], t < 3);
    }
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        alarm(3); /* a fork-join waiting for a worker that did not cross the fork hangs: SIGALRM */
        int hits[16] = { 0 };
        pthread_t cw, cme;
        mlcl__par2(whoami, &cw, whoami, &cme);
        mlcl__par_for(5, count_t, hits);
        int ok = !pthread_equal(cw, cme);
        for (int t = 0; t < 16; t++) ok &= hits[t] == (t < 5);
        _exit(ok ? 0 : 3);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's fork-joins failed (status %d)", st);
    ck_assert_ok(mlcl_set_num_threads(1));
}
END_TEST

/* a handle's count is the one its call uses: the loss's row pass splits over
 * it, and its partial sums make the bits depend on it */
START_TEST(per_handle_count)
{
    if (cpus() < 2) return; /* one CPU: every count is capped at 1 */
    static problem p;
    static result r1, r2, r_def, r_h1, r_h2;
    make_problem(&p, 11);
    ck_assert_ok(mlcl_set_num_threads(1));
    mlcl_loss *L = make_loss(0);
    ck_assert_ok(run_loss(L, &p, &r1)); /* the default, 1 */
    ck_assert_ok(mlcl_set_num_threads(2));
    ck_assert_ok(run_loss(L, &p, &r2)); /* the default, 2 */
    ck_assert_msg(!same(&r1, &r2), "the probe cannot tell 1 thread from 2 (results equal)");
    /* two handles with their own counts, against the default (2 now) */
    mlcl_loss *L1 = make_loss(1), *L2 = make_loss(2);
    int n;
    ck_assert_ok(mlcl_loss_get_threads(L1, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_ok(run_loss(L1, &p, &r_h1));
    ck_assert(same(&r_h1, &r1));
    ck_assert_ok(run_loss(L2, &p, &r_h2));
    ck_assert(same(&r_h2, &r2));
    /* the handle's count does not leak into the caller's thread */
    ck_assert_int_eq(mlcl__threads_current(), 2);
    ck_assert_ok(mlcl_set_num_threads(1));
    ck_assert_ok(run_loss(L2, &p, &r_def));
    ck_assert(same(&r_def, &r2)); /* L2 keeps 2 under a default of 1 */
    ck_assert_ok(run_loss(L, &p, &r_def));
    ck_assert(same(&r_def, &r1)); /* L follows the default */
    mlcl_loss_free(L);
    mlcl_loss_free(L1);
    mlcl_loss_free(L2);
}
END_TEST

/* two handles with different counts used at the same time from two threads */
typedef struct { mlcl_loss *L; const problem *p; result r[6]; int rc; } job;
static void *job_run(void *arg)
{
    job *j = arg;
    for (int i = 0; i < 6 && !j->rc; i++) j->rc = run_loss(j->L, j->p, &j->r[i]);
    return NULL;
}
START_TEST(two_handles_concurrently)
{
    if (cpus() < 2) return;
    static problem p;
    static result r1, r2;
    make_problem(&p, 12);
    ck_assert_ok(mlcl_set_num_threads(2));
    mlcl_loss *L1 = make_loss(1), *L2 = make_loss(2);
    ck_assert_ok(run_loss(L1, &p, &r1));
    ck_assert_ok(run_loss(L2, &p, &r2));
    ck_assert(!same(&r1, &r2));
    static job a, b;
    a.L = L1; a.p = &p; a.rc = 0;
    b.L = L2; b.p = &p; b.rc = 0;
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, job_run, &a), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, job_run, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    ck_assert_ok(a.rc);
    ck_assert_ok(b.rc);
    for (int i = 0; i < 6; i++) {
        ck_assert(same(&a.r[i], &r1));
        ck_assert(same(&b.r[i], &r2));
    }
    mlcl_loss_free(L1);
    mlcl_loss_free(L2);
}
END_TEST

/* MLCL_NUM_THREADS in the environment changes nothing inside the library */
START_TEST(environment_ignored)
{
    if (cpus() < 2) return;
    static problem p;
    static result r1, r2, r_env;
    make_problem(&p, 13);
    ck_assert_ok(mlcl_set_num_threads(1));
    mlcl_loss *L = make_loss(0);
    ck_assert_ok(run_loss(L, &p, &r1));
    ck_assert_ok(mlcl_set_num_threads(2));
    ck_assert_ok(run_loss(L, &p, &r2));
    ck_assert(!same(&r1, &r2));
    setenv("MLCL_NUM_THREADS", "1", 1);
    int n;
    ck_assert_ok(mlcl_get_num_threads(&n));
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(mlcl__threads_current(), 2);
    mlcl_loss *Lenv = make_loss(0); /* created with the variable set */
    ck_assert_ok(run_loss(Lenv, &p, &r_env));
    ck_assert(same(&r_env, &r2));
    ck_assert_ok(run_loss(L, &p, &r_env));
    ck_assert(same(&r_env, &r2));
    unsetenv("MLCL_NUM_THREADS");
    mlcl_loss_free(L);
    mlcl_loss_free(Lenv);
}
END_TEST

/* a trainer's opts->threads is that trainer's count: it no longer changes the
 * library default (it used to call mlcl_set_num_threads at create) */
START_TEST(trainer_count_is_its_own)
{
    enum { TN = 48, TD = 6, TC = 4 };
    float x[TN * TD];
    uint8_t y[TN * TC];
    for (int i = 0; i < TN; i++) {
        for (int j = 0; j < TC; j++) y[i * TC + j] = (uint8_t)(((i * 5 + j * 3) % 7) < 3);
        y[i * TC + i % TC] = 1;
        for (int f = 0; f < TD; f++) x[i * TD + f] = (float)((i * 11 + f * 5) % 9) / 9.0f;
    }
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, TN, TD, TC, x, y));
    ck_assert_ok(mlcl_set_num_threads(1));
    mlcl_train_options o = MLCL_TRAIN_OPTIONS_INIT;
    o.batch = 16;
    test_moco_of(&o)->o.queue_size = 32;
    test_moco_of(&o)->o.max_batch = 16;
    o.pretrain_epochs = 1;
    o.finetune_epochs = 1;
    o.threads = cpus() >= 2 ? 2 : 1;
    /* the caller's OpenBLAS setting survives create and run (no flipping) */
    openblas_set_num_threads(cpus() >= 2 ? 2 : 1);
    int ob = openblas_get_num_threads();
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    ck_assert_int_eq(openblas_get_num_threads(), ob);
    int n;
    ck_assert_ok(mlcl_get_num_threads(&n));
    ck_assert_int_eq(n, 1); /* the default is untouched */
    ck_assert_ok(mlcl_trainer_get_threads(t, &n));
    ck_assert_int_eq(n, o.threads);
    ck_assert_ok(mlcl_trainer_set_threads(t, 0));
    ck_assert_ok(mlcl_trainer_get_threads(t, &n));
    ck_assert_int_eq(n, 0);
    ck_assert_status_msg(mlcl_trainer_set_threads(t, -2), MLCL_EINVAL, "n must be");
    ck_assert_ok(mlcl_trainer_run(t));
    ck_assert_int_eq(mlcl__threads_current(), 1);
    ck_assert_int_eq(openblas_get_num_threads(), ob);
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
}
END_TEST

/* MoCo and encoder handles: the setter's bounds and getter */
START_TEST(moco_and_encoder_setters)
{
    test_moco tm;
    mlcl_moco_options mo = *test_moco_init(&tm);
    mo.in_dim = 10;
    mo.n_labels = 4;
    mo.queue_size = 32;
    mo.max_batch = 16;
    mo.n_hidden = 1;
    tm.hidden[0] = 16;
    mo.proj_dim = 8;
    mlcl_moco *mc;
    ck_assert_ok(mlcl_moco_create(&mc, &mo));
    int n = -1;
    ck_assert_ok(mlcl_moco_get_threads(mc, &n));
    ck_assert_int_eq(n, 0);
    ck_assert_ok(mlcl_moco_set_threads(mc, 1));
    ck_assert_ok(mlcl_moco_get_threads(mc, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_ok(mlcl_moco_set_threads(mc, 1024)); /* capped at the CPUs */
    ck_assert_ok(mlcl_moco_get_threads(mc, &n));
    ck_assert_int_eq(n, cpus());
    ck_assert_status_msg(mlcl_moco_set_threads(mc, 1025), MLCL_EINVAL, "1..1024");
    mlcl_encoder *e;
    ck_assert_ok(mlcl_moco_encoder(mc, MLCL_MOCO_QUERY_BACKBONE, &e));
    ck_assert_ok(mlcl_encoder_set_threads(e, 1));
    ck_assert_ok(mlcl_encoder_get_threads(e, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_ok(mlcl_encoder_set_threads(e, 0));
    mlcl_moco_free(mc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threadmodel");
    TCase *tc = tcase_create("threadmodel");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, default_count); /* first: before any set (CK_FORK: each test in its own process) */
    tcase_add_test(tc, scopes_nest_and_reach_workers);
    tcase_add_test(tc, par_for_runs_each_task_once);
    tcase_add_test(tc, persistent_workers);
    tcase_add_test(tc, per_handle_count);
    tcase_add_test(tc, two_handles_concurrently);
    tcase_add_test(tc, environment_ignored);
    tcase_add_test(tc, trainer_count_is_its_own);
    tcase_add_test(tc, moco_and_encoder_setters);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
