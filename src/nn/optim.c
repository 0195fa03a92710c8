/* SGD, Adam and AdamW with PyTorch 1.13's single-tensor update rules. */
#include <string.h>
#include "core/internal.h"
#include "kernels/vec.h"
#include "kernels/par.h"
#include "nn/nn_lib.h"
#include "mlcl/optim.h"

/* The update loops are written to vectorise. Adam's square root keeps
 * sqrtf's errno semantics under GCC (no vectorisation), so its loop uses SSE2
 * directly: sqrtps/divps are correctly rounded like the scalar operations and
 * the operation order is the scalar one, so results are bit-identical. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
/* With AVX2 (checked at run time) the same loop eight wide: the same
 * operations in the same order, so the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#define ADAM_AVX 1
__attribute__((target("avx2"))) static size_t adam_avx(size_t n, float *restrict P, float *restrict M1,
                                                      float *restrict M2, const float *restrict D, const float c[9],
                                                      int decoupled, int l2)
{
    const __m256 vb1 = _mm256_set1_ps(c[0]), vb2 = _mm256_set1_ps(c[1]), vob1 = _mm256_set1_ps(c[2]),
                 vob2 = _mm256_set1_ps(c[3]), vbc2 = _mm256_set1_ps(c[4]), veps = _mm256_set1_ps(c[5]),
                 vstep = _mm256_set1_ps(c[6]), vwd = _mm256_set1_ps(c[7]), vps = _mm256_set1_ps(c[8]);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 d = _mm256_loadu_ps(D + k), p = _mm256_loadu_ps(P + k);
        if (decoupled) p = _mm256_mul_ps(p, vps);
        else if (l2) d = _mm256_add_ps(d, _mm256_mul_ps(vwd, p));
        __m256 m = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(M1 + k), vb1), _mm256_mul_ps(d, vob1));
        __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(M2 + k), vb2), _mm256_mul_ps(_mm256_mul_ps(d, d), vob2));
        _mm256_storeu_ps(M1 + k, m);
        _mm256_storeu_ps(M2 + k, v);
        __m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), vbc2), veps);
        _mm256_storeu_ps(P + k, _mm256_sub_ps(p, _mm256_mul_ps(vstep, _mm256_div_ps(m, den))));
    }
    return k;
}
#endif

typedef struct optim_group {
    float *p;
    const float *g;
    size_t n;
    float lr, wd;
    int64_t step;
    float *m1; /* SGD momentum buffer, or Adam exp_avg */
    float *m2; /* Adam exp_avg_sq */
} optim_group;

struct mlcl_optim {
    mlcl_optim_options o;
    optim_group *G;
    int ng, cap;
};

int mlcl_optim_options_init(mlcl_optim_options *opts, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_optim_options_init", opts, version, MLCL_OPTIM_OPTIONS_VERSION, mlcl_optim_options, MLCL_OPTIM_OPTIONS_INIT);
}

static int finite_nonneg(float v) { return isfinite(v) && v >= 0.0f; }

int mlcl_optim_create(mlcl_optim **out, const mlcl_optim_options *opts)
{
    static const char fn[] = "mlcl_optim_create";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, opts);
    MLCL_CHECK_VERSION(fn, opts, MLCL_OPTIM_OPTIONS_VERSION);
    if (opts->type < MLCL_OPTIM_SGD || opts->type > MLCL_OPTIM_ADAMW)
        return mlcl__err(MLCL_EINVAL, "%s: opts->type %d is not an mlcl_optim_type", fn, opts->type);
    if (!finite_nonneg(opts->lr))
        return mlcl__err(MLCL_EINVAL, "%s: opts->lr must be finite and >= 0 (got %g)", fn, (double)opts->lr);
    if (!finite_nonneg(opts->weight_decay))
        return mlcl__err(MLCL_EINVAL, "%s: opts->weight_decay must be finite and >= 0 (got %g)", fn, (double)opts->weight_decay);
    if (!finite_nonneg(opts->momentum))
        return mlcl__err(MLCL_EINVAL, "%s: opts->momentum must be finite and >= 0 (got %g)", fn, (double)opts->momentum);
    if (!isfinite(opts->dampening))
        return mlcl__err(MLCL_EINVAL, "%s: opts->dampening must be finite (got %g)", fn, (double)opts->dampening);
    if (opts->nesterov != 0 && opts->nesterov != 1)
        return mlcl__err(MLCL_EINVAL, "%s: opts->nesterov must be 0 or 1 (got %d)", fn, opts->nesterov);
    if (opts->nesterov && (opts->momentum <= 0.0f || opts->dampening != 0.0f))
        return mlcl__err(MLCL_EINVAL, "%s: opts->nesterov needs momentum > 0 and dampening 0 (got %g, %g)", fn,
                         (double)opts->momentum, (double)opts->dampening);
    if (!(opts->beta1 >= 0.0f && opts->beta1 < 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: opts->beta1 must be in [0, 1) (got %g)", fn, (double)opts->beta1);
    if (!(opts->beta2 >= 0.0f && opts->beta2 < 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: opts->beta2 must be in [0, 1) (got %g)", fn, (double)opts->beta2);
    if (!finite_nonneg(opts->eps))
        return mlcl__err(MLCL_EINVAL, "%s: opts->eps must be finite and >= 0 (got %g)", fn, (double)opts->eps);
    mlcl_optim *o = mlcl__calloc(1, sizeof *o);
    if (!o) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    o->o = *opts;
    *out = o;
    return MLCL_OK;
}

void mlcl_optim_free(mlcl_optim *o)
{
    if (!o) return;
    for (int i = 0; i < o->ng; i++) { mlcl__free(o->G[i].m1); mlcl__free(o->G[i].m2); }
    mlcl__free(o->G);
    mlcl__free(o);
}

/* floats of moment state per element of a group */
static size_t moments(const mlcl_optim *o)
{
    if (o->o.type == MLCL_OPTIM_SGD) return o->o.momentum != 0.0f ? 1 : 0;
    return 2;
}

int mlcl_optim_add_group(mlcl_optim *o, float *params, const float *grads, size_t n, float lr,
                         float weight_decay, int *group_id)
{
    static const char fn[] = "mlcl_optim_add_group";
    MLCL_CHECK_NULL(fn, o);
    MLCL_CHECK_NULL(fn, params);
    MLCL_CHECK_NULL(fn, grads);
    if (n == 0) return mlcl__err(MLCL_EINVAL, "%s: n must be > 0", fn);
    if (!finite_nonneg(lr)) return mlcl__err(MLCL_EINVAL, "%s: lr must be finite and >= 0 (got %g)", fn, (double)lr);
    if (!finite_nonneg(weight_decay))
        return mlcl__err(MLCL_EINVAL, "%s: weight_decay must be finite and >= 0 (got %g)", fn, (double)weight_decay);
    if (o->ng == o->cap) {
        int cap = o->cap ? 2 * o->cap : 4;
        optim_group *ng;
        MLCL_TRY(mlcl__alloc_array((void **)&ng, (size_t)cap, sizeof *ng, "optimiser groups"));
        if (o->ng) memcpy(ng, o->G, (size_t)o->ng * sizeof *ng);
        mlcl__free(o->G);
        o->G = ng;
        o->cap = cap;
    }
    optim_group g = { params, grads, n, lr, weight_decay, 0, NULL, NULL };
    size_t nm = moments(o);
    if (nm >= 1) MLCL_TRY(mlcl__alloc_array((void **)&g.m1, n, sizeof(float), "optimiser moments"));
    if (nm >= 2 && mlcl__alloc_array((void **)&g.m2, n, sizeof(float), "optimiser moments") < 0) {
        mlcl__free(g.m1);
        return MLCL_ENOMEM;
    }
    o->G[o->ng] = g;
    if (group_id) *group_id = o->ng;
    o->ng++;
    return MLCL_OK;
}

int mlcl_optim_num_groups(const mlcl_optim *o, int *n)
{
    MLCL_CHECK_NULL("mlcl_optim_num_groups", o);
    MLCL_CHECK_NULL("mlcl_optim_num_groups", n);
    *n = o->ng;
    return MLCL_OK;
}

static int check_group(const char *fn, const mlcl_optim *o, int group, int allow_all)
{
    if (group == -1 && allow_all) return MLCL_OK;
    if (group < 0 || group >= o->ng)
        return mlcl__err(MLCL_EINVAL, "%s: group %d does not exist (%d groups)", fn, group, o->ng);
    return MLCL_OK;
}

int mlcl_optim_set_lr(mlcl_optim *o, int group, float lr)
{
    static const char fn[] = "mlcl_optim_set_lr";
    MLCL_CHECK_NULL(fn, o);
    MLCL_TRY(check_group(fn, o, group, 1));
    if (!finite_nonneg(lr)) return mlcl__err(MLCL_EINVAL, "%s: lr must be finite and >= 0 (got %g)", fn, (double)lr);
    for (int i = 0; i < o->ng; i++)
        if (group == -1 || group == i) o->G[i].lr = lr;
    return MLCL_OK;
}

int mlcl_optim_set_weight_decay(mlcl_optim *o, int group, float wd)
{
    static const char fn[] = "mlcl_optim_set_weight_decay";
    MLCL_CHECK_NULL(fn, o);
    MLCL_TRY(check_group(fn, o, group, 1));
    if (!finite_nonneg(wd)) return mlcl__err(MLCL_EINVAL, "%s: wd must be finite and >= 0 (got %g)", fn, (double)wd);
    for (int i = 0; i < o->ng; i++)
        if (group == -1 || group == i) o->G[i].wd = wd;
    return MLCL_OK;
}

int mlcl_optim_get_lr(const mlcl_optim *o, int group, float *lr)
{
    static const char fn[] = "mlcl_optim_get_lr";
    MLCL_CHECK_NULL(fn, o);
    MLCL_CHECK_NULL(fn, lr);
    MLCL_TRY(check_group(fn, o, group, 0));
    *lr = o->G[group].lr;
    return MLCL_OK;
}

static void sgd_step(const mlcl_optim_options *op, optim_group *G, size_t k0, size_t k1)
{
    float lr = G->lr, wd = G->wd, mom = op->momentum;
    float omd = (float)(1.0 - (double)op->dampening);
    int first = G->step == 1;
    for (size_t k = k0; k < k1; k++) {
        float d = G->g[k];
        if (wd != 0.0f) d += wd * G->p[k];
        if (mom != 0.0f) {
            float b = first ? d : G->m1[k] * mom + d * omd;
            G->m1[k] = b;
            d = op->nesterov ? d + mom * b : b;
        }
        G->p[k] -= lr * d;
    }
}

static void adam_step(const mlcl_optim_options *op, optim_group *G, int decoupled, size_t k0, size_t k1)
{
    double b1 = op->beta1, b2 = op->beta2, t = (double)G->step;
    float fb1 = op->beta1, fb2 = op->beta2;
    float ob1 = (float)(1.0 - b1), ob2 = (float)(1.0 - b2);
    double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
    float step_size = (float)((double)G->lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float eps = op->eps, wd = G->wd;
    float decay = (float)(1.0 - (double)G->lr * (double)G->wd);
    float *restrict P = G->p + k0, *restrict M1 = G->m1 + k0, *restrict M2 = G->m2 + k0;
    const float *restrict D = G->g + k0;
    size_t n = k1 - k0, k = 0;
    /* Adam: d += wd p (L2 in the gradient); AdamW: p *= 1 - lr wd */
    int l2 = !decoupled && wd != 0.0f;
    float pscale = decoupled ? decay : 1.0f;
#if defined(ADAM_AVX)
    if (__builtin_cpu_supports("avx2")) {
        const float c[9] = { fb1, fb2, ob1, ob2, bc2_sqrt, eps, step_size, wd, pscale };
        k = adam_avx(n, P, M1, M2, D, c, decoupled, l2);
    }
#endif
#if defined(__SSE2__)
    const __m128 vb1 = _mm_set1_ps(fb1), vb2 = _mm_set1_ps(fb2), vob1 = _mm_set1_ps(ob1),
                 vob2 = _mm_set1_ps(ob2), vbc2 = _mm_set1_ps(bc2_sqrt), veps = _mm_set1_ps(eps),
                 vstep = _mm_set1_ps(step_size), vwd = _mm_set1_ps(wd), vps = _mm_set1_ps(pscale);
    for (; k + 4 <= n; k += 4) {
        __m128 d = _mm_loadu_ps(D + k), p = _mm_loadu_ps(P + k);
        if (decoupled) p = _mm_mul_ps(p, vps);
        else if (l2) d = _mm_add_ps(d, _mm_mul_ps(vwd, p));
        __m128 m = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(M1 + k), vb1), _mm_mul_ps(d, vob1));
        __m128 v = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(M2 + k), vb2), _mm_mul_ps(_mm_mul_ps(d, d), vob2));
        _mm_storeu_ps(M1 + k, m);
        _mm_storeu_ps(M2 + k, v);
        __m128 den = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(v), vbc2), veps);
        _mm_storeu_ps(P + k, _mm_sub_ps(p, _mm_mul_ps(vstep, _mm_div_ps(m, den))));
    }
#endif
    for (; k < n; k++) {
        float d = D[k], p = P[k];
        if (decoupled) p *= pscale;
        else if (l2) d += wd * p;
        float m = M1[k] * fb1 + d * ob1;
        float v = M2[k] * fb2 + d * d * ob2;
        M1[k] = m;
        M2[k] = v;
        float denom = sqrtf(v) / bc2_sqrt + eps;
        P[k] = p - step_size * (m / denom);
    }
}

/* the finiteness scan of half a large group, as a task of mlcl__par2 */
typedef struct finite_task { const float *g; size_t n; int ok; } finite_task;
static void finite_run(void *arg)
{
    finite_task *t = arg;
    t->ok = mlcl__vec_all_finite(t->g, t->n);
}
/* below this many elements a group is updated on one thread */
#define OPTIM_PAR_MIN 65536

static int group_finite(const optim_group *G)
{
    if (G->n >= OPTIM_PAR_MIN && mlcl__threads_current() >= 2) {
        size_t h = G->n / 2;
        finite_task a = { G->g + h, G->n - h, 0 }, b = { G->g, h, 0 };
        mlcl__par2(finite_run, &a, finite_run, &b);
        return a.ok && b.ok;
    }
    return mlcl__vec_all_finite(G->g, G->n);
}

int mlcl_optim_step(mlcl_optim *o)
{
    static const char fn[] = "mlcl_optim_step";
    MLCL_CHECK_NULL(fn, o);
    for (int i = 0; i < o->ng; i++) {
        const optim_group *G = &o->G[i];
        if (group_finite(G)) continue;
        for (size_t k = 0; k < G->n; k++)
            if (!isfinite(G->g[k]))
                return mlcl__err(MLCL_ENUMERIC, "%s: gradient of group %d, index %zu is %g; no parameter was changed",
                                 fn, i, k, (double)G->g[k]);
    }
    mlcl__optim_step_checked(o);
    return MLCL_OK;
}

/* Elements k0 .. k1-1 of group G (its step already counted). */
static void group_range(const mlcl_optim *o, optim_group *G, size_t k0, size_t k1)
{
    switch (o->o.type) {
    case MLCL_OPTIM_SGD: sgd_step(&o->o, G, k0, k1); break;
    case MLCL_OPTIM_ADAM: adam_step(&o->o, G, 0, k0, k1); break;
    default: adam_step(&o->o, G, 1, k0, k1); break;
    }
}

/* Half of a large group, as a task of mlcl__par2: the update of an element
 * reads nothing but that element, so where the range is split does not
 * change any bit. */
typedef struct range_task { const mlcl_optim *o; optim_group *G; size_t k0, k1; } range_task;
static void range_run(void *arg)
{
    range_task *t = arg;
    group_range(t->o, t->G, t->k0, t->k1);
}
void mlcl__optim_step_checked(mlcl_optim *o)
{
    int par = mlcl__threads_current() >= 2;
    for (int i = 0; i < o->ng; i++) {
        optim_group *G = &o->G[i];
        G->step++;
        if (par && G->n >= OPTIM_PAR_MIN) {
            size_t h = (G->n / 2) & ~(size_t)15;
            range_task a = { o, G, h, G->n }, b = { o, G, 0, h };
            mlcl__par2(range_run, &a, range_run, &b);
        } else {
            group_range(o, G, 0, G->n);
        }
    }
}

int mlcl_optim_zero_state(mlcl_optim *o)
{
    MLCL_CHECK_NULL("mlcl_optim_zero_state", o);
    for (int i = 0; i < o->ng; i++) {
        optim_group *G = &o->G[i];
        G->step = 0;
        if (G->m1) memset(G->m1, 0, G->n * sizeof(float));
        if (G->m2) memset(G->m2, 0, G->n * sizeof(float));
    }
    return MLCL_OK;
}

static size_t state_total(const mlcl_optim *o)
{
    size_t s = 0, nm = moments(o);
    for (int i = 0; i < o->ng; i++) s += nm * o->G[i].n;
    return s;
}

int mlcl_optim_state_count(const mlcl_optim *o, size_t *n)
{
    MLCL_CHECK_NULL("mlcl_optim_state_count", o);
    MLCL_CHECK_NULL("mlcl_optim_state_count", n);
    *n = state_total(o);
    return MLCL_OK;
}

int mlcl_optim_get_state(const mlcl_optim *o, float *dst, size_t n)
{
    static const char fn[] = "mlcl_optim_get_state";
    MLCL_CHECK_NULL(fn, o);
    size_t have = state_total(o);
    if (n != have) return mlcl__err(MLCL_EINVAL, "%s: n = %zu does not match the optimiser's state count %zu", fn, n, have);
    if (n == 0) return MLCL_OK;
    MLCL_CHECK_NULL(fn, dst);
    for (int i = 0; i < o->ng; i++) {
        const optim_group *G = &o->G[i];
        if (G->m1) { memcpy(dst, G->m1, G->n * sizeof(float)); dst += G->n; }
        if (G->m2) { memcpy(dst, G->m2, G->n * sizeof(float)); dst += G->n; }
    }
    return MLCL_OK;
}

int mlcl_optim_set_state(mlcl_optim *o, const float *src, size_t n)
{
    static const char fn[] = "mlcl_optim_set_state";
    MLCL_CHECK_NULL(fn, o);
    size_t have = state_total(o);
    if (n != have) return mlcl__err(MLCL_EINVAL, "%s: n = %zu does not match the optimiser's state count %zu", fn, n, have);
    if (n == 0) return MLCL_OK;
    MLCL_CHECK_NULL(fn, src);
    for (size_t k = 0; k < n; k++)
        if (!isfinite(src[k])) return mlcl__err(MLCL_ENUMERIC, "%s: src[%zu] is not finite", fn, k);
    const float *s = src;
    for (int i = 0; i < o->ng; i++) {
        const optim_group *G = &o->G[i];
        if (G->m1) s += G->n;
        if (G->m2) {
            for (size_t k = 0; k < G->n; k++)
                if (s[k] < 0.0f)
                    return mlcl__err(MLCL_EINVAL, "%s: exp_avg_sq of group %d, index %zu is negative", fn, i, k);
            s += G->n;
        }
    }
    for (int i = 0; i < o->ng; i++) {
        optim_group *G = &o->G[i];
        if (G->m1) { memcpy(G->m1, src, G->n * sizeof(float)); src += G->n; }
        if (G->m2) { memcpy(G->m2, src, G->n * sizeof(float)); src += G->n; }
    }
    return MLCL_OK;
}

int mlcl_optim_get_step(const mlcl_optim *o, int group, int64_t *step)
{
    static const char fn[] = "mlcl_optim_get_step";
    MLCL_CHECK_NULL(fn, o);
    MLCL_CHECK_NULL(fn, step);
    MLCL_TRY(check_group(fn, o, group, 0));
    *step = o->G[group].step;
    return MLCL_OK;
}

int mlcl_optim_set_step(mlcl_optim *o, int group, int64_t step)
{
    static const char fn[] = "mlcl_optim_set_step";
    MLCL_CHECK_NULL(fn, o);
    MLCL_TRY(check_group(fn, o, group, 1));
    if (step < 0) return mlcl__err(MLCL_EINVAL, "%s: step must be >= 0 (got %lld)", fn, (long long)step);
    for (int i = 0; i < o->ng; i++)
        if (group == -1 || group == i) o->G[i].step = step;
    return MLCL_OK;
}

/* ------------------------------------------------------------------ schedules */

int mlcl_sched_options_init(mlcl_sched_options *opts, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_sched_options_init", opts, version, MLCL_SCHED_OPTIONS_VERSION, mlcl_sched_options, MLCL_SCHED_OPTIONS_INIT);
}

int mlcl_sched_lr(const mlcl_sched_options *opts, double epoch, float *lr)
{
    static const char fn[] = "mlcl_sched_lr";
    static const double pi = 3.14159265358979323846;
    MLCL_CHECK_NULL(fn, opts);
    MLCL_CHECK_NULL(fn, lr);
    MLCL_CHECK_VERSION(fn, opts, MLCL_SCHED_OPTIONS_VERSION);
    if (!(isfinite(epoch) && epoch >= 0.0))
        return mlcl__err(MLCL_EINVAL, "%s: epoch must be finite and >= 0 (got %g)", fn, epoch);
    if (!finite_nonneg(opts->base_lr))
        return mlcl__err(MLCL_EINVAL, "%s: opts->base_lr must be finite and >= 0 (got %g)", fn, (double)opts->base_lr);
    double base = opts->base_lr, emin = opts->eta_min;
    switch (opts->type) {
    case MLCL_SCHED_CONSTANT:
        *lr = opts->base_lr;
        return MLCL_OK;
    case MLCL_SCHED_STEP:
        if (opts->step_size <= 0)
            return mlcl__err(MLCL_EINVAL, "%s: opts->step_size must be > 0 (got %d)", fn, opts->step_size);
        if (!finite_nonneg(opts->gamma))
            return mlcl__err(MLCL_EINVAL, "%s: opts->gamma must be finite and >= 0 (got %g)", fn, (double)opts->gamma);
        *lr = (float)(base * pow((double)opts->gamma, floor(epoch / opts->step_size)));
        return MLCL_OK;
    case MLCL_SCHED_COSINE:
    case MLCL_SCHED_COSINE_WARM_RESTARTS:
        if (!finite_nonneg(opts->eta_min))
            return mlcl__err(MLCL_EINVAL, "%s: opts->eta_min must be finite and >= 0 (got %g)", fn, (double)opts->eta_min);
        break;
    default:
        return mlcl__err(MLCL_EINVAL, "%s: opts->type %d is not an mlcl_sched_type", fn, opts->type);
    }
    double tcur, ti;
    if (opts->type == MLCL_SCHED_COSINE) {
        if (opts->T_max <= 0) return mlcl__err(MLCL_EINVAL, "%s: opts->T_max must be > 0 (got %d)", fn, opts->T_max);
        tcur = epoch;
        ti = opts->T_max;
    } else {
        if (opts->T_0 <= 0) return mlcl__err(MLCL_EINVAL, "%s: opts->T_0 must be > 0 (got %d)", fn, opts->T_0);
        if (opts->T_mult < 1) return mlcl__err(MLCL_EINVAL, "%s: opts->T_mult must be >= 1 (got %d)", fn, opts->T_mult);
        double t0 = opts->T_0;
        if (epoch < t0) {
            tcur = epoch;
            ti = t0;
        } else if (opts->T_mult == 1) {
            tcur = fmod(epoch, t0);
            ti = t0;
        } else {
            /* restart k starts at T_0 (T_mult^k - 1)/(T_mult - 1): walk the
             * periods exactly instead of taking a float logarithm */
            double start = 0.0, len = t0;
            while (start + len <= epoch) { start += len; len *= opts->T_mult; }
            tcur = epoch - start;
            ti = len;
        }
    }
    *lr = (float)(emin + (base - emin) * (1.0 + cos(pi * tcur / ti)) / 2.0);
    return MLCL_OK;
}
