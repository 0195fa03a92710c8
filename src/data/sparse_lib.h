/* A *_lib.h header: functions a layer offers the layers above it inside the
 * library, no handle layout (docs/architecture.md, "Internal headers"). */
/* Internal: masked views of CSR rows (contrastive pretraining of MLPs). */
#ifndef MLCL_DATA_SPARSE_LIB_H
#define MLCL_DATA_SPARSE_LIB_H
#include "core/internal.h"

/* The "mask" view of k CSR rows of width d: every stored value is zeroed
 * independently with probability p, with exactly the draws the dense view
 * (one uniform per element of the n x d rows, in row-major order, zeroed iff
 * u < p: mask_view in src/train/trainer.c) makes for the same columns: r
 * skips the draws of the absent columns in O(log gap), so the cost is
 * O(nnz log d), not O(k d), and the result equals densify-then-mask.
 * Structure (ptr, col) is unchanged; out_val[q - ptr[0]] is the value of
 * entry q (zeros are kept as stored zeros). */
MLCL_INTERNAL void mlcl__csr_mask_rows(mlcl__pcg *r, int k, int d, const int64_t *ptr, const int *col,
                                       const float *val, float p, float *out_val);

/* MLCL_EINVAL "fn: <what> is sparse (CSR) ..." for a sparse dataset (the
 * trainer and the model export take dense rows), else MLCL_OK. */
struct mlcl_dataset;
MLCL_INTERNAL int mlcl__dataset_need_dense(const struct mlcl_dataset *ds, const char *fn, const char *what);
#endif
