/* The per-handle thread count of the oneDNN layer (src/kernels/dnn_ops.c,
 * mlcl__convnet_set_threads / mlcl__encoder_set_threads): a net whose count
 * is changed computes bit for bit what a net created with that count does,
 * its plans are rebuilt, and the calling thread's OpenMP thread count
 * (nthreads-var, a per-thread ICV) is the caller's again after every call. */
#include <dlfcn.h>
#include "testutil.h"
#include "nn/convnet.h"
#include "nn/nn_lib.h"

enum { N = 4 };

static mlcl__convnet *small_resnet(int threads)
{
    mlcl_resnet_spec sp = MLCL_RESNET_SPEC_INIT;
    sp.depth = 18;
    sp.stem = MLCL_RESNET_STEM_SMALL;
    sp.in_channels = 3;
    sp.height = sp.width = 32;
    sp.base_width = 16;
    mlcl__convnet *net = NULL;
    ck_assert_ok(mlcl__convnet_create_resnet(&net, &sp, threads));
    return net;
}

typedef struct run_out { float *y, *grads, *dx, *state; size_t ny, np, nx, ns; } run_out;

/* one training forward + backward from the same parameters, input and dy */
static run_out run_once(mlcl__convnet *net)
{
    run_out r;
    mlcl__convnet_dims(net, &r.nx, &r.ny);
    r.nx *= N;
    r.ny *= N;
    r.np = mlcl__convnet_param_count(net);
    r.ns = mlcl__convnet_state_count(net);
    float *params = calloc(r.np, sizeof(float)), *x = calloc(r.nx, sizeof(float)), *dy = calloc(r.ny, sizeof(float));
    r.y = calloc(r.ny, sizeof(float));
    r.grads = calloc(r.np, sizeof(float));
    r.dx = calloc(r.nx, sizeof(float));
    r.state = calloc(r.ns, sizeof(float));
    ck_assert(params && x && dy && r.y && r.grads && r.dx && r.state);
    mlcl__pcg rng;
    mlcl__pcg_seed(&rng, 11, 1);
    mlcl__convnet_init(net, params, r.state, &rng);
    for (size_t i = 0; i < r.nx; i++) x[i] = 2.0f * mlcl__pcg_uniform(&rng) - 1.0f;
    for (size_t i = 0; i < r.ny; i++) dy[i] = 2.0f * mlcl__pcg_uniform(&rng) - 1.0f;
    ck_assert_ok(mlcl__convnet_forward(net, "test", N, 1, params, r.state, x, r.y));
    ck_assert_ok(mlcl__convnet_backward(net, "test", N, params, r.grads, dy, r.dx));
    free(params); free(x); free(dy);
    return r;
}

static void same(const run_out *a, const run_out *b)
{
    ck_assert(a->ny == b->ny && a->np == b->np && a->nx == b->nx && a->ns == b->ns);
    ck_assert_int_eq(memcmp(a->y, b->y, a->ny * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a->grads, b->grads, a->np * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a->dx, b->dx, a->nx * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a->state, b->state, a->ns * sizeof(float)), 0);
}

static void drop(run_out *r) { free(r->y); free(r->grads); free(r->dx); free(r->state); }

START_TEST(set_threads_equals_created_with)
{
    for (int want = 1; want <= 2; want++) {
        mlcl__convnet *ref = small_resnet(want), *other = small_resnet(3 - want);
        ck_assert_int_eq(mlcl__convnet_threads(ref), want);
        run_out a = run_once(ref), b0 = run_once(other);
        ck_assert_int_eq(mlcl__convnet_plans_built(other), 1);
        mlcl__convnet_set_threads(other, want);
        ck_assert_int_eq(mlcl__convnet_threads(other), want);
        /* the backward of the forward before the change is gone */
        ck_assert_status_msg(mlcl__convnet_backward(other, "test", N, b0.grads, b0.grads, b0.y, NULL), MLCL_ESTATE,
                             "no forward");
        run_out b = run_once(other);
        ck_assert_int_eq(mlcl__convnet_plans_built(other), 2); /* rebuilt for the new count */
        same(&a, &b);
        /* the same count again: the plan is kept */
        mlcl__convnet_set_threads(other, want);
        run_out c = run_once(other);
        ck_assert_int_eq(mlcl__convnet_plans_built(other), 2);
        same(&a, &c);
        drop(&a); drop(&b0); drop(&b); drop(&c);
        mlcl__convnet_free(ref);
        mlcl__convnet_free(other);
    }
}
END_TEST

START_TEST(default_count)
{
    mlcl__convnet *net = small_resnet(0);
    ck_assert_int_eq(mlcl__convnet_threads(net), mlcl__convnet_threads_default());
    mlcl__convnet_set_threads(net, 1);
    ck_assert_int_eq(mlcl__convnet_threads(net), 1);
    mlcl__convnet_set_threads(net, -5);
    ck_assert_int_eq(mlcl__convnet_threads(net), mlcl__convnet_threads_default());
    mlcl__convnet_free(net);
}
END_TEST

/* libdnnl (Debian, DNNL_CPU_RUNTIME = OMP) brings libgomp into the process */
START_TEST(caller_openmp_count_untouched)
{
    int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    ck_assert_msg(get && set, "libgomp is not loaded");
    set(5);
    mlcl__convnet *net = small_resnet(2);
    run_out a = run_once(net); /* plan build + forward + backward */
    ck_assert_int_eq(get(), 5);
    run_out b = run_once(net);
    ck_assert_int_eq(get(), 5);
    drop(&a); drop(&b);
    mlcl__convnet_free(net);
}
END_TEST

START_TEST(encoder_set_threads)
{
    mlcl_resnet_spec sp = MLCL_RESNET_SPEC_INIT;
    sp.stem = MLCL_RESNET_STEM_SMALL;
    sp.in_channels = 3;
    sp.height = sp.width = 16;
    sp.base_width = 8;
    mlcl_encoder *e[2];
    float *y[2];
    int id, od;
    for (int k = 0; k < 2; k++) {
        mlcl_encoder_options o = MLCL_ENCODER_OPTIONS_INIT;
        o.max_batch = N;
        ck_assert_ok(mlcl_encoder_create_resnet(&e[k], &sp, &o));
        mlcl__encoder_set_threads(e[k], k + 1);
    }
    ck_assert_ok(mlcl_encoder_in_dim(e[0], &id));
    ck_assert_ok(mlcl_encoder_out_dim(e[0], &od));
    float *x = calloc((size_t)N * id, sizeof(float));
    for (int i = 0; i < N * id; i++) x[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    for (int k = 0; k < 2; k++) {
        y[k] = calloc((size_t)N * od, sizeof(float));
        ck_assert_ok(mlcl_encoder_forward(e[k], N, x, y[k]));
    }
    mlcl__encoder_set_threads(e[1], 1);
    /* a pending backward is invalid after the change */
    ck_assert_status_msg(mlcl_encoder_backward(e[1], N, y[1], NULL), MLCL_ESTATE, "forward");
    float *y1 = calloc((size_t)N * od, sizeof(float));
    /* both ran one training forward, so their BN statistics may differ in the
     * last bits: compare in evaluation mode from equal states */
    float *st = NULL;
    size_t ns;
    ck_assert_ok(mlcl_encoder_state_count(e[0], &ns));
    st = calloc(ns, sizeof(float));
    ck_assert_ok(mlcl_encoder_get_state(e[0], st, ns));
    ck_assert_ok(mlcl_encoder_set_state(e[1], st, ns));
    ck_assert_ok(mlcl_encoder_set_training(e[0], 0));
    ck_assert_ok(mlcl_encoder_set_training(e[1], 0));
    ck_assert_ok(mlcl_encoder_forward(e[0], N, x, y[0]));
    ck_assert_ok(mlcl_encoder_forward(e[1], N, x, y1));
    ck_assert_int_eq(memcmp(y[0], y1, (size_t)N * od * sizeof(float)), 0);
    free(st); free(y1); free(x);
    for (int k = 0; k < 2; k++) { free(y[k]); mlcl_encoder_free(e[k]); }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dnn_threads");
    TCase *t = tcase_create("threads");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, set_threads_equals_created_with);
    tcase_add_test(t, default_count);
    tcase_add_test(t, caller_openmp_count_untouched);
    tcase_add_test(t, encoder_set_threads);
    suite_add_tcase(s, t);
    return run_suite(s);
}
