/* The GEMM gateway (src/kernels/gemm.c): which engine runs the
 * single-precision GEMMs, and that both give the product. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cblas.h>
#include "kernels/gemm.h"

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

int main(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_add_test(tc, engine_follows_openblas_core);
    tcase_add_test(tc, both_engines_compute_the_product);
    tcase_add_test(tc, each_engine_repeats_bit_for_bit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int f = srunner_ntests_failed(sr);
    srunner_free(sr);
    return f ? 1 : 0;
}
