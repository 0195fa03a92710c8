/* The oneDNN plans' lazy backward half (src/kernels/dnn_plan.c): a plan
 * builds its backward primitives and gradient buffers at its first backward
 * only, so forward-only nets (MoCo key encoders, evaluation) never make
 * them, and the results do not depend on when that half was built. */
#include "testutil.h"
#include "nn/convnet.h"

enum { N = 4 };

static mlcl__convnet *small_resnet(int threads)
{
    mlcl_resnet_spec sp = MLCL_RESNET_SPEC_INIT;
    sp.depth = 18;
    sp.stem = MLCL_RESNET_STEM_SMALL;
    sp.in_channels = 3;
    sp.height = sp.width = 16;
    sp.base_width = 8;
    mlcl__convnet *net = NULL;
    ck_assert_ok(mlcl__convnet_create_resnet(&net, &sp, threads));
    return net;
}

typedef struct bufs { float *params, *state, *x, *dy, *y, *grads, *dx; size_t np, ns, nx, ny; } bufs;

static bufs make_bufs(mlcl__convnet *net)
{
    bufs b;
    mlcl__convnet_dims(net, &b.nx, &b.ny);
    b.nx *= N;
    b.ny *= N;
    b.np = mlcl__convnet_param_count(net);
    b.ns = mlcl__convnet_state_count(net);
    b.params = calloc(b.np, sizeof(float)); b.grads = calloc(b.np, sizeof(float));
    b.state = calloc(b.ns, sizeof(float));
    b.x = calloc(b.nx, sizeof(float)); b.dx = calloc(b.nx, sizeof(float));
    b.y = calloc(b.ny, sizeof(float)); b.dy = calloc(b.ny, sizeof(float));
    ck_assert(b.params && b.grads && b.state && b.x && b.dx && b.y && b.dy);
    mlcl__pcg rng;
    mlcl__pcg_seed(&rng, 5, 2);
    mlcl__convnet_init(net, b.params, b.state, &rng);
    for (size_t i = 0; i < b.nx; i++) b.x[i] = 2.0f * mlcl__pcg_uniform(&rng) - 1.0f;
    for (size_t i = 0; i < b.ny; i++) b.dy[i] = 2.0f * mlcl__pcg_uniform(&rng) - 1.0f;
    return b;
}

static void free_bufs(bufs *b)
{
    free(b->params); free(b->grads); free(b->state); free(b->x); free(b->dx); free(b->y); free(b->dy);
}

START_TEST(forward_only_builds_no_backward)
{
    for (int threads = 1; threads <= 2; threads++) {
        mlcl__convnet *net = small_resnet(threads);
        bufs b = make_bufs(net);
        for (int i = 0; i < 3; i++) ck_assert_ok(mlcl__convnet_forward(net, "test", N, i != 1, b.params, b.state, b.x, b.y));
        ck_assert_ok(mlcl__convnet_forward(net, "test", 2, 1, b.params, b.state, b.x, b.y));
        ck_assert_int_eq(mlcl__convnet_plans_built(net), 2);
        ck_assert_int_eq(mlcl__convnet_bwd_built(net), 0);
        /* the first backward of a batch size builds its half, once */
        ck_assert_ok(mlcl__convnet_backward(net, "test", 2, b.params, b.grads, b.dy, b.dx));
        ck_assert_int_eq(mlcl__convnet_bwd_built(net), 1);
        ck_assert_ok(mlcl__convnet_forward(net, "test", 2, 1, b.params, b.state, b.x, b.y));
        ck_assert_ok(mlcl__convnet_backward(net, "test", 2, b.params, b.grads, b.dy, NULL));
        ck_assert_int_eq(mlcl__convnet_bwd_built(net), 1);
        /* the other cached size builds its own */
        ck_assert_ok(mlcl__convnet_forward(net, "test", N, 1, b.params, b.state, b.x, b.y));
        ck_assert_ok(mlcl__convnet_backward(net, "test", N, b.params, b.grads, b.dy, b.dx));
        ck_assert_int_eq(mlcl__convnet_bwd_built(net), 2);
        ck_assert_int_eq(mlcl__convnet_plans_built(net), 2);
        free_bufs(&b);
        mlcl__convnet_free(net);
    }
}
END_TEST

/* a backward built after several forwards (both modes) gives what a
 * backward right after the first forward gives, bit for bit */
START_TEST(late_backward_same_results)
{
    for (int threads = 1; threads <= 2; threads++) {
        mlcl__convnet *a = small_resnet(threads), *c = small_resnet(threads);
        bufs ba = make_bufs(a), bc = make_bufs(c);
        ck_assert_ok(mlcl__convnet_forward(a, "test", N, 1, ba.params, ba.state, ba.x, ba.y));
        ck_assert_ok(mlcl__convnet_backward(a, "test", N, ba.params, ba.grads, ba.dy, ba.dx));
        /* c: evaluation forwards first (they leave the running statistics alone) */
        for (int i = 0; i < 2; i++) ck_assert_ok(mlcl__convnet_forward(c, "test", N, 0, bc.params, bc.state, bc.x, bc.y));
        ck_assert_ok(mlcl__convnet_forward(c, "test", N, 1, bc.params, bc.state, bc.x, bc.y));
        ck_assert_int_eq(mlcl__convnet_bwd_built(c), 0);
        ck_assert_ok(mlcl__convnet_backward(c, "test", N, bc.params, bc.grads, bc.dy, bc.dx));
        ck_assert_int_eq(memcmp(ba.y, bc.y, ba.ny * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(ba.grads, bc.grads, ba.np * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(ba.dx, bc.dx, ba.nx * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(ba.state, bc.state, ba.ns * sizeof(float)), 0);
        /* gradients are real: not all zero */
        int nz = 0;
        for (size_t i = 0; i < ba.np; i++) nz += ba.grads[i] != 0.0f;
        ck_assert_int_gt(nz, (int)(ba.np / 2));
        free_bufs(&ba); free_bufs(&bc);
        mlcl__convnet_free(a);
        mlcl__convnet_free(c);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dnn_plan");
    TCase *t = tcase_create("lazy_backward");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, forward_only_builds_no_backward);
    tcase_add_test(t, late_backward_same_results);
    suite_add_tcase(s, t);
    return run_suite(s);
}
