/* The GEMM gateway (src/kernels/gemm.c): which engine runs the
 * single-precision GEMMs, and that both give the product. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cblas.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include "kernels/gemm.h"
#include "kernels/sigguard.h"

static const char *const generic[] = { "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai",
                                       "Coppermine", "Northwood", "Banias", "Barcelona", "Opteron", "Opteron_SSE3" };

START_TEST(engine_follows_openblas_core)
{
    const char *core = openblas_get_corename();
    int is_generic = 0;
    for (size_t i = 0; i < sizeof generic / sizeof *generic; i++) is_generic |= !strcasecmp(core, generic[i]);
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    mlcl__gemm_engine_force(0);
    int want = is_generic && avx2 ? MLCL__GEMM_ONEDNN : MLCL__GEMM_OPENBLAS;
    ck_assert_msg(mlcl__gemm_engine() == want, "OpenBLAS core %s, AVX2 %d: engine %d, want %d", core, avx2,
                  mlcl__gemm_engine(), want);
}
END_TEST

static uint32_t rs = 12345;
static float rnd(void)
{
    rs = rs * 1664525u + 1013904223u;
    return (float)((rs >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* C = alpha op(A) op(B) + beta C with padded leading dimensions, against a double loop */
static void check_shape(int engine, int ta, int tb, int M, int N, int K, float alpha, float beta)
{
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
    int ra = ta ? K : M, rb = tb ? N : K;
    float *A = malloc(sizeof(float) * (size_t)ra * lda), *B = malloc(sizeof(float) * (size_t)rb * ldb);
    float *C = malloc(sizeof(float) * (size_t)M * ldc), *C2 = malloc(sizeof(float) * (size_t)M * ldc);
    for (int i = 0; i < ra * lda; i++) A[i] = rnd();
    for (int i = 0; i < rb * ldb; i++) B[i] = rnd();
    for (int i = 0; i < M * ldc; i++) C[i] = C2[i] = rnd();
    mlcl__gemm_engine_force(engine);
    mlcl__sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            if (j >= N) { /* outside the N columns nothing is written */
                ck_assert_msg(C[(size_t)i * ldc + j] == C2[(size_t)i * ldc + j], "padding written");
                continue;
            }
            double s = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
                mag += fabs(a * b);
            }
            double want = alpha * s + (beta == 0.0f ? 0.0 : beta * (double)C2[(size_t)i * ldc + j]);
            double tol = 1e-5 * (fabs(alpha) * mag + fabs(beta) * fabs(C2[(size_t)i * ldc + j])) + 1e-6;
            ck_assert_msg(fabs(C[(size_t)i * ldc + j] - want) <= tol, "engine %d ta %d tb %d %dx%dx%d (%d,%d): %g vs %g",
                          engine, ta, tb, M, N, K, i, j, C[(size_t)i * ldc + j], want);
        }
    mlcl__gemm_engine_force(0);
    free(A); free(B); free(C); free(C2);
}

START_TEST(both_engines_compute_the_product)
{
    int shapes[][3] = { { 1, 1, 1 }, { 7, 5, 3 }, { 128, 256, 103 }, { 33, 17, 64 }, { 5, 9, 0 } };
    for (int e = MLCL__GEMM_OPENBLAS; e <= MLCL__GEMM_ONEDNN; e++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) {
                    check_shape(e, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 0.0f);
                    check_shape(e, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], -0.5f, 1.0f);
                }
}
END_TEST

START_TEST(each_engine_repeats_bit_for_bit)
{
    enum { M = 64, N = 96, K = 80 };
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++) A[i] = rnd();
    for (int i = 0; i < K * N; i++) B[i] = rnd();
    for (int e = MLCL__GEMM_OPENBLAS; e <= MLCL__GEMM_ONEDNN; e++) {
        mlcl__gemm_engine_force(e);
        mlcl__sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C1, N);
        mlcl__sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C2, N);
        ck_assert_msg(!memcmp(C1, C2, sizeof(float) * M * N), "engine %d: two calls differ", e);
    }
    mlcl__gemm_engine_force(0);
    free(A); free(B); free(C1); free(C2);
}
END_TEST


/* Signals during oneDNN's GEMM (sigguard.c). oneDNN 2.6's JIT f32 GEMM points
 * rsp at a heap workspace while it runs: a handler entered there writes its
 * frame over the heap. A thread hits this one with a no-op SIGUSR1 every
 * 20 us while it runs the MoCo step's GEMM shapes into fresh heap blocks:
 * every product must equal the one computed without signals, bit for bit,
 * and the heap must survive (without the hold this aborts with a corrupted
 * heap, or differs, in every run on this machine). */
static int same_mask(const sigset_t *a, const sigset_t *b) /* the kernel fills only the first 64 signals */
{
    for (int i = 1; i < 65; i++)
        if (sigismember(a, i) != sigismember(b, i)) return 0;
    return 1;
}
static volatile sig_atomic_t usr1_seen;
static volatile int spam_stop;
static void on_usr1(int sig) { (void)sig; usr1_seen++; }
static void *spam(void *arg)
{
    pthread_t target = *(pthread_t *)arg;
    struct timespec ts = { 0, 20000 };
    while (!spam_stop) {
        pthread_kill(target, SIGUSR1);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

START_TEST(signals_during_gemm_change_nothing)
{
    /* M, N, K, ta, tb: encoder forward, its weight and input gradients, the loss's logits */
    static const int sh[][5] = { { 128, 256, 103, 0, 1 }, { 256, 103, 128, 1, 0 }, { 128, 103, 256, 0, 0 },
                                 { 128, 256, 256, 0, 1 }, { 128, 1152, 64, 0, 1 }, { 1152, 64, 128, 1, 0 } };
    enum { NS = sizeof sh / sizeof *sh, REPS = 60 };
    float *A[NS], *B[NS], *R[NS];
    for (int s = 0; s < NS; s++) {
        size_t M = sh[s][0], N = sh[s][1], K = sh[s][2];
        A[s] = malloc(sizeof(float) * M * K);
        B[s] = malloc(sizeof(float) * K * N);
        R[s] = malloc(sizeof(float) * M * N);
        for (size_t i = 0; i < M * K; i++) A[s][i] = rnd();
        for (size_t i = 0; i < K * N; i++) B[s][i] = rnd();
    }
    mlcl__gemm_engine_force(MLCL__GEMM_ONEDNN);
#define LD_A(s) (sh[s][3] ? sh[s][0] : sh[s][2])
#define LD_B(s) (sh[s][4] ? sh[s][2] : sh[s][1])
    for (int s = 0; s < NS; s++)
        mlcl__sgemm(sh[s][3], sh[s][4], sh[s][0], sh[s][1], sh[s][2], 1.0f, A[s], LD_A(s), B[s], LD_B(s), 0.0f, R[s], sh[s][1]);

    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, &old_sa), 0);
    sigset_t before, after;
    pthread_sigmask(SIG_SETMASK, NULL, &before);
    pthread_t self = pthread_self(), th;
    usr1_seen = 0;
    spam_stop = 0;
    ck_assert_int_eq(pthread_create(&th, NULL, spam, &self), 0);
    int differ = 0;
    for (int r = 0; r < REPS; r++)
        for (int s = 0; s < NS; s++) {
            size_t mn = (size_t)sh[s][0] * sh[s][1];
            float *C = malloc(sizeof(float) * mn);
            ck_assert_ptr_nonnull(C);
            mlcl__sgemm(sh[s][3], sh[s][4], sh[s][0], sh[s][1], sh[s][2], 1.0f, A[s], LD_A(s), B[s], LD_B(s), 0.0f, C, sh[s][1]);
            differ += memcmp(C, R[s], sizeof(float) * mn) != 0;
            free(C);
        }
    spam_stop = 1;
    pthread_join(th, NULL);
    pthread_sigmask(SIG_SETMASK, NULL, &after);
    sigaction(SIGUSR1, &old_sa, NULL);
    mlcl__gemm_engine_force(0);
    ck_assert_msg(differ == 0, "%d of %d products differ from the ones computed without signals", differ, REPS * NS);
    ck_assert_msg(usr1_seen > 50, "only %d signals handled: the test did not exercise the GEMM", (int)usr1_seen);
    ck_assert_msg(same_mask(&before, &after), "the signal mask was not restored");
    for (int s = 0; s < NS; s++) { free(A[s]); free(B[s]); free(R[s]); }
#undef LD_A
#undef LD_B
}
END_TEST

/* holds nest: the inner pair leaves the mask alone, the outer one restores it */
START_TEST(signal_holds_nest)
{
    sigset_t m0, m1, m2, m3;
    pthread_sigmask(SIG_SETMASK, NULL, &m0);
    mlcl__sig_guard a, b;
    mlcl__sig_hold(&a);
    pthread_sigmask(SIG_SETMASK, NULL, &m1);
    ck_assert(sigismember(&m1, SIGTERM) && sigismember(&m1, SIGINT) && sigismember(&m1, SIGUSR1));
    ck_assert(!sigismember(&m1, SIGSEGV) && !sigismember(&m1, SIGFPE) && !sigismember(&m1, SIGBUS));
    mlcl__sig_hold(&b);
    mlcl__sig_release(&b);
    pthread_sigmask(SIG_SETMASK, NULL, &m2);
    ck_assert(sigismember(&m2, SIGTERM));
    mlcl__sig_release(&a);
    pthread_sigmask(SIG_SETMASK, NULL, &m3);
    ck_assert(same_mask(&m0, &m3));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_add_test(tc, engine_follows_openblas_core);
    tcase_add_test(tc, both_engines_compute_the_product);
    tcase_add_test(tc, each_engine_repeats_bit_for_bit);
    tcase_add_test(tc, signals_during_gemm_change_nothing);
    tcase_add_test(tc, signal_holds_nest);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int f = srunner_ntests_failed(sr);
    srunner_free(sr);
    return f ? 1 : 0;
}
