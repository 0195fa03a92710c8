/* Kill during save: a child saves a trainer checkpoint over and over,
 * alternating between two distinguishable states; the parent SIGKILLs it at
 * random moments (100 times) and after each kill loads the surviving file and
 * checks it holds exactly the old or the new state, bit for bit (every
 * encoder's parameters, BatchNorm state and the trainer's position). */
#include "testutil.h"
#include <errno.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { KN = 64, KD = 6, KC = 3 };

static mlcl_dataset *toy(void)
{
    float x[KN * KD];
    uint8_t y[KN * KC];
    for (int i = 0; i < KN; i++) {
        for (int j = 0; j < KD; j++) x[i * KD + j] = (float)((i * 31 + j * 7) % 13) / 13.0f;
        for (int j = 0; j < KC; j++) y[i * KC + j] = (uint8_t)(((i >> j) & 1) != 0);
        y[i * KC + (i % KC)] = 1;
    }
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, KN, KD, KC, x, y));
    return ds;
}

static mlcl_trainer *mk(const mlcl_dataset *ds)
{
    mlcl_train_options o;
    ck_assert_ok(mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION));
    o.batch = 16; o.seed = 5;
    test_moco_of(&o)->o.n_hidden = 2; test_moco_of(&o)->hidden[0] = 64; test_moco_of(&o)->hidden[1] = 64; test_moco_of(&o)->o.proj_dim = 32;
    test_moco_of(&o)->o.queue_size = 64; test_moco_of(&o)->o.max_batch = 16;
    o.pretrain_epochs = 4; o.finetune_epochs = 2; o.pretrain_T_0 = 2; o.finetune_T_0 = 2;
    o.pretrain_lr = 1e-2f;
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    return t;
}

/* Everything compared: params and state of the five encoders, then phase/epoch. */
static float *snapshot(mlcl_trainer *t, size_t *len)
{
    mlcl_moco *m;
    ck_assert_ok(mlcl_trainer_moco(t, &m));
    size_t total = 2, off = 0;
    for (int w = 0; w < 5; w++) {
        mlcl_encoder *e; size_t np, ns;
        ck_assert_ok(mlcl_moco_encoder(m, w, &e));
        ck_assert_ok(mlcl_encoder_param_count(e, &np));
        ck_assert_ok(mlcl_encoder_state_count(e, &ns));
        total += np + ns;
    }
    float *buf = malloc(total * sizeof(float));
    for (int w = 0; w < 5; w++) {
        mlcl_encoder *e; size_t np, ns;
        ck_assert_ok(mlcl_moco_encoder(m, w, &e));
        ck_assert_ok(mlcl_encoder_param_count(e, &np));
        ck_assert_ok(mlcl_encoder_state_count(e, &ns));
        ck_assert_ok(mlcl_encoder_get_params(e, buf + off, np)); off += np;
        if (ns) { ck_assert_ok(mlcl_encoder_get_state(e, buf + off, ns)); off += ns; }
    }
    int ph, ep;
    ck_assert_ok(mlcl_trainer_position(t, &ph, &ep));
    buf[off++] = (float)ph; buf[off++] = (float)ep;
    *len = total;
    return buf;
}

static void remove_tmps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

START_TEST(kill_during_save)
{
    const int rounds = getenv("MLCL_VALGRIND") ? 10 : 100;
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "/tmp/mlcl_killsave_%d", (int)getpid());
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/ck.bin", dir);

    mlcl_dataset *ds = toy();
    /* state A: the fresh trainer; state B: after two epochs */
    mlcl_trainer *ta = mk(ds), *tb = mk(ds);
    int done;
    ck_assert_ok(mlcl_trainer_run_epochs(tb, 2, &done));
    size_t la, lb;
    float *sa = snapshot(ta, &la), *sb = snapshot(tb, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_msg(memcmp(sa, sb, la * sizeof(float)) != 0, "the two states must differ");

    /* time one save, to spread the kills over whole save cycles */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_ok(mlcl_trainer_save(ta, path));
    ck_assert_ok(mlcl_trainer_save(tb, path));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long cycle_us = ((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000) + 200;
    if (cycle_us > 200000) cycle_us = 200000;

    int n_a = 0, n_b = 0;
    unsigned seed = 12345;
    for (int r = 0; r < rounds; r++) {
        int pfd[2];
        ck_assert_int_eq(pipe(pfd), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(pfd[0]);
            int first = 1;
            for (unsigned long i = 0;; i++) {
                if (mlcl_trainer_save((i & 1) ? tb : ta, path) != MLCL_OK) _exit(3);
                if (first) { first = 0; if (write(pfd[1], "x", 1) != 1) _exit(4); }
            }
        }
        close(pfd[1]);
        char c;
        ck_assert_int_eq(read(pfd[0], &c, 1), 1); /* the first save is complete */
        close(pfd[0]);
        seed = seed * 1103515245u + 12345u;
        long delay = (long)((seed >> 8) % (unsigned)(3 * cycle_us));
        struct timespec ts = { delay / 1000000L, (delay % 1000000L) * 1000L };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "round %d: child exited (%d) before the kill", r, st);

        mlcl_trainer *tl = mk(ds);
        int rc = mlcl_trainer_load(tl, path);
        ck_assert_msg(rc == MLCL_OK, "round %d (kill after %ld us): load failed: %s", r, delay, mlcl_last_error());
        size_t ll;
        float *sl = snapshot(tl, &ll);
        ck_assert_uint_eq(ll, la);
        int is_a = memcmp(sl, sa, la * sizeof(float)) == 0, is_b = memcmp(sl, sb, la * sizeof(float)) == 0;
        ck_assert_msg(is_a || is_b, "round %d: the checkpoint holds neither state", r);
        n_a += is_a; n_b += is_b;
        free(sl);
        mlcl_trainer_free(tl);
    }
    fprintf(stderr, "killsave: %d rounds, %d old-state A and %d state B survivors, save cycle %ld us\n",
            rounds, n_a, n_b, cycle_us);
    free(sa); free(sb);
    mlcl_trainer_free(ta); mlcl_trainer_free(tb);
    mlcl_dataset_free(ds);
    remove_tmps(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("killsave");
    TCase *tc = tcase_create("kill");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, kill_during_save);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
