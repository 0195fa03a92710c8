/* A *_lib.h header: functions a layer offers the layers above it inside the
 * library, no handle layout (docs/architecture.md, "Internal headers"). */
/* MoCo functions the other layers of the library call (the trainer): no
 * struct layout, not part of the public API. Internal. */
#ifndef MLCL_CL_MOCO_LIB_H
#define MLCL_CL_MOCO_LIB_H
#include "mlcl/moco.h"
#include "mlcl/models.h"
#include "core/internal.h"

/* mlcl_moco_step on views given as CSR rows: rows ptr[0..n] of (col, v0) are
 * the query view, of (col, v1) the key view (the mask views of
 * mlcl__csr_mask_rows keep the structure, so they share ptr and col). The
 * backbones run mlcl_encoder_forward_csr (their first layer must be a
 * Linear); everything else is the dense step. Single process only. */
MLCL_INTERNAL int mlcl__moco_step_csr(mlcl_moco *mc, int n, const int64_t *ptr, const int *col, const float *v0,
                                      const float *v1, const uint64_t *y, mlcl_loss_parts *parts);

/* mlcl_moco_options resolved: defaults in place of NULL and 0, the pointed-to
 * structs and widths copied (what the pair keeps). */
typedef struct mlcl__moco_conf {
    int in_dim, n_labels, n_hidden;
    int hidden[MLCL_MLP_MAX_HIDDEN];
    float dropout;
    int proj_dim;
    float proj_dropout;
    int queue_size;
    float momentum;
    int max_batch;
    uint64_t seed;
    mlcl_loss_options loss;
    mlcl_optim_options optim;
    int key_train_mode;
} mlcl__moco_conf;

/* The one reading of mlcl_moco_options (version, hidden pointer and count,
 * defaults); read_widths 0 (a caller's backbone): hidden and n_hidden are not
 * read. fn names the caller in messages. Values are checked at create. */
MLCL_INTERNAL int mlcl__moco_resolve(const mlcl_moco_options *o, mlcl__moco_conf *c, int read_widths, const char *fn);

/* Adds the memory the pair built from `o` will need to `e` (hdim: h's width;
 * backbone_np: parameters of a caller's backbone, 0 for the MLP of o). */
MLCL_INTERNAL void mlcl__moco_estimate(const mlcl__moco_conf *o, int hdim, size_t backbone_np, mlcl__mem_est *e);
#endif
