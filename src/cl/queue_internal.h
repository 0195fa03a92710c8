/* The queue's fields at once, for the library's own readers (the loss, the
 * MoCo broadcast). Internal. */
#ifndef MLCL_CL_QUEUE_INTERNAL_H
#define MLCL_CL_QUEUE_INTERNAL_H
#include "mlcl/queue.h"
#include "core/internal.h"

typedef struct mlcl__queue_view_t {
    int size, K, head, m, c;
    const float *feats;
    const uint64_t *labels;
    const float *dists;
} mlcl__queue_view_t;

/* Fills v from q (not NULL). */
MLCL_INTERNAL void mlcl__queue_view(const mlcl_queue *q, mlcl__queue_view_t *v);
#endif
