/* Bit-packed labels and the three lock-step ring buffers (MATH.md, "Notation"). */
#include <string.h>
#include "core/internal.h"
#include "mlcl/queue.h"
#include "cl/queue_internal.h"

struct mlcl_queue {
    int K, m, c;
    size_t words;
    int size, head;
    float *feats;      /* K x m */
    uint64_t *labels;  /* K x words */
    float *dists;      /* K x c */
};

int mlcl_queue_options_init(mlcl_queue_options *opts, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_queue_options_init", opts, version, MLCL_QUEUE_OPTIONS_VERSION, mlcl_queue_options, MLCL_QUEUE_OPTIONS_INIT);
}

int mlcl_queue_create(mlcl_queue **out, const mlcl_queue_options *opts)
{
    static const char fn[] = "mlcl_queue_create";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, opts);
    MLCL_CHECK_VERSION(fn, opts, MLCL_QUEUE_OPTIONS_VERSION);
    MLCL_CHECK_POS(fn, opts->capacity);
    MLCL_CHECK_POS(fn, opts->feat_dim);
    MLCL_CHECK_POS(fn, opts->n_labels);
    size_t K = (size_t)opts->capacity, words = mlcl_label_words(opts->n_labels), a, b, e;
    if (mlcl__mul_size(K, (size_t)opts->feat_dim, &a) || mlcl__mul_size(K, words, &b) ||
        mlcl__mul_size(K, (size_t)opts->n_labels, &e) || mlcl__mul_size(a, sizeof(float), &a) ||
        mlcl__mul_size(e, sizeof(float), &e) || mlcl__mul_size(b, sizeof(uint64_t), &b))
        return mlcl__err(MLCL_EOVERFLOW, "%s: capacity %d x width overflows", fn, opts->capacity);
    mlcl_queue *q = mlcl__calloc(1, sizeof *q);
    if (!q) return mlcl__err(MLCL_ENOMEM, "%s: out of memory for the handle", fn);
    q->K = opts->capacity;
    q->m = opts->feat_dim;
    q->c = opts->n_labels;
    q->words = words;
    int rc;
    if ((rc = mlcl__alloc_array((void **)&q->feats, K * (size_t)q->m, sizeof(float), "mlcl_queue_create: features")) ||
        (rc = mlcl__alloc_array((void **)&q->labels, K * words, sizeof(uint64_t), "mlcl_queue_create: labels")) ||
        (rc = mlcl__alloc_array((void **)&q->dists, K * (size_t)q->c, sizeof(float), "mlcl_queue_create: distributions"))) {
        mlcl_queue_free(q);
        return rc;
    }
    *out = q;
    return MLCL_OK;
}

void mlcl_queue_free(mlcl_queue *q)
{
    if (!q) return;
    mlcl__free(q->feats);
    mlcl__free(q->labels);
    mlcl__free(q->dists);
    mlcl__free(q);
}

/* Padding bits above label c-1 must be zero: the masks compare whole words. */
static int labels_padding_ok(const uint64_t *labels, size_t rows, size_t words, int c)
{
    if ((c & 63) == 0) return 1;
    uint64_t pad = ~((UINT64_C(1) << (c & 63)) - 1);
    for (size_t i = 0; i < rows; i++)
        if (labels[i * words + words - 1] & pad) return 0;
    return 1;
}

int mlcl_queue_enqueue(mlcl_queue *q, int n, const float *feats, const uint64_t *labels_packed,
                       const float *dists)
{
    static const char fn[] = "mlcl_queue_enqueue";
    MLCL_CHECK_NULL(fn, q);
    MLCL_CHECK_POS(fn, n);
    MLCL_CHECK_NULL(fn, feats);
    MLCL_CHECK_NULL(fn, labels_packed);
    size_t m = (size_t)q->m, c = (size_t)q->c, words = q->words;
    if (!mlcl__all_finite(feats, (size_t)n * m))
        return mlcl__err(MLCL_ENUMERIC, "%s: feats holds NaN or Inf", fn);
    if (dists && !mlcl__all_finite(dists, (size_t)n * c))
        return mlcl__err(MLCL_ENUMERIC, "%s: dists holds NaN or Inf", fn);
    if (!labels_padding_ok(labels_packed, (size_t)n, words, q->c))
        return mlcl__err(MLCL_EINVAL, "%s: labels_packed has bits set above label %d", fn, q->c - 1);
    /* with n > K only the last K rows survive; they land where the ring puts them */
    int skip = n > q->K ? n - q->K : 0;
    int pos = (int)(((long long)q->head + skip) % q->K);
    for (int r = skip; r < n; r++) {
        memcpy(q->feats + (size_t)pos * m, feats + (size_t)r * m, m * sizeof(float));
        memcpy(q->labels + (size_t)pos * words, labels_packed + (size_t)r * words, words * sizeof(uint64_t));
        if (dists) memcpy(q->dists + (size_t)pos * c, dists + (size_t)r * c, c * sizeof(float));
        else memset(q->dists + (size_t)pos * c, 0, c * sizeof(float));
        if (++pos == q->K) pos = 0;
    }
    q->head = pos;
    long long sz = (long long)q->size + n;
    q->size = sz > q->K ? q->K : (int)sz;
    return MLCL_OK;
}

int mlcl_queue_reset(mlcl_queue *q)
{
    MLCL_CHECK_NULL("mlcl_queue_reset", q);
    memset(q->feats, 0, (size_t)q->K * q->m * sizeof(float));
    memset(q->labels, 0, (size_t)q->K * q->words * sizeof(uint64_t));
    memset(q->dists, 0, (size_t)q->K * q->c * sizeof(float));
    q->size = q->head = 0;
    return MLCL_OK;
}

#define QUEUE_GETTER(name, type, field)                        \
    int mlcl_queue_##name(const mlcl_queue *q, type *name)     \
    {                                                          \
        MLCL_CHECK_NULL("mlcl_queue_" #name, q);               \
        MLCL_CHECK_NULL("mlcl_queue_" #name, name);            \
        *name = q->field;                                      \
        return MLCL_OK;                                        \
    }
QUEUE_GETTER(size, int, size)
QUEUE_GETTER(capacity, int, K)
QUEUE_GETTER(head, int, head)
QUEUE_GETTER(feat_dim, int, m)
QUEUE_GETTER(n_labels, int, c)
QUEUE_GETTER(features, const float *, feats)
QUEUE_GETTER(labels, const uint64_t *, labels)
QUEUE_GETTER(dists, const float *, dists)

void mlcl__queue_view(const mlcl_queue *q, mlcl__queue_view_t *v)
{
    v->size = q->size;
    v->K = q->K;
    v->head = q->head;
    v->m = q->m;
    v->c = q->c;
    v->feats = q->feats;
    v->labels = q->labels;
    v->dists = q->dists;
}

int mlcl_queue_set_state(mlcl_queue *q, int size, int head, const float *feats,
                         const uint64_t *labels, const float *dists)
{
    static const char fn[] = "mlcl_queue_set_state";
    MLCL_CHECK_NULL(fn, q);
    MLCL_CHECK_NULL(fn, feats);
    MLCL_CHECK_NULL(fn, labels);
    if (size < 0 || size > q->K)
        return mlcl__err(MLCL_EINVAL, "%s: size %d is not in [0, %d]", fn, size, q->K);
    if (head < 0 || head >= q->K)
        return mlcl__err(MLCL_EINVAL, "%s: head %d is not in [0, %d)", fn, head, q->K);
    if (size < q->K && head != size)
        return mlcl__err(MLCL_EINVAL, "%s: head %d != size %d for a partly filled queue", fn, head, size);
    size_t K = (size_t)q->K;
    if (!mlcl__all_finite(feats, K * q->m))
        return mlcl__err(MLCL_ENUMERIC, "%s: feats holds NaN or Inf", fn);
    if (dists && !mlcl__all_finite(dists, K * q->c))
        return mlcl__err(MLCL_ENUMERIC, "%s: dists holds NaN or Inf", fn);
    if (!labels_padding_ok(labels, K, q->words, q->c))
        return mlcl__err(MLCL_EINVAL, "%s: labels has bits set above label %d", fn, q->c - 1);
    memcpy(q->feats, feats, K * q->m * sizeof(float));
    memcpy(q->labels, labels, K * q->words * sizeof(uint64_t));
    if (dists) memcpy(q->dists, dists, K * q->c * sizeof(float));
    else memset(q->dists, 0, K * q->c * sizeof(float));
    q->size = size;
    q->head = head;
    return MLCL_OK;
}
