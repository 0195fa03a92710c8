/* The loss over the ranks' global batch (comm.h): the one implementation
 * behind mlcl_loss_compute with a queue (nb == n, off == 0). Internal. */
#ifndef MLCL_CL_LOSS_INTERNAL_H
#define MLCL_CL_LOSS_INTERNAL_H
#include "mlcl/loss.h"
#include "core/internal.h"

/* mlcl_loss_create with room for max_nb >= max_n batch candidates. */
MLCL_INTERNAL int mlcl__loss_create_ranks(mlcl_loss **out, int max_n, int max_nb, int max_queue, int m, int c,
                                          const mlcl_loss_options *opts);
/* mlcl_loss_compute with a queue for n local anchors q whose keys, labels and
 * distributions are rows off .. off+n-1 of the nb gathered batch candidates
 * (k, y, d; nb a multiple of n). grad_d is nb x c: it receives the gradients
 * of every batch candidate's distribution (sum it over the ranks, keep your
 * rows). The reduction factor is that of one process on all nb anchors times
 * nb / n, so that the average over the ranks of the gradients and of the
 * parts is the single-process result. nb == n, off == 0 is mlcl_loss_compute. */
MLCL_INTERNAL int mlcl__loss_compute_ranks(mlcl_loss *L, int n, int nb, int off, const float *q, const float *k,
                                           const uint64_t *y, const float *d, const mlcl_queue *queue,
                                           const float *W, int h, mlcl_loss_parts *parts, float *grad_q,
                                           float *grad_d, float *grad_W);
#endif
