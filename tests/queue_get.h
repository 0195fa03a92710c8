/* Value-returning wrappers of the queue getters for the tests (the library's
 * return a status and write through an out-param): -1 / NULL on failure. */
#ifndef MLCL_TESTS_QUEUE_GET_H
#define MLCL_TESTS_QUEUE_GET_H
#include <mlcl.h>

#define TQ_INT(name)                                           \
    static inline int tq_##name(const mlcl_queue *q)           \
    {                                                          \
        int v = -1;                                            \
        return mlcl_queue_##name(q, &v) == MLCL_OK ? v : -1;   \
    }
#define TQ_PTR(name, type)                                     \
    static inline type tq_##name(const mlcl_queue *q)          \
    {                                                          \
        type v = NULL;                                         \
        return mlcl_queue_##name(q, &v) == MLCL_OK ? v : NULL; \
    }
TQ_INT(size)
TQ_INT(capacity)
TQ_INT(head)
TQ_INT(feat_dim)
TQ_INT(n_labels)
TQ_PTR(features, const float *)
TQ_PTR(labels, const uint64_t *)
TQ_PTR(dists, const float *)
#undef TQ_INT
#undef TQ_PTR
#endif
