/* A *_lib.h header: functions a layer offers the layers above it inside the
 * library, no handle layout (docs/architecture.md, "Internal headers"). */
/* Internal row kernels shared by the encoder layers and the public
 * stand-alone functions (no argument checks here). */
#ifndef MLCL_NN_LIB_H
#define MLCL_NN_LIB_H
#include "core/internal.h"

#define MLCL__L2_EPS 1e-12f

/* prob = softmax(logits) row-wise; in place allowed. */
MLCL_INTERNAL void mlcl__softmax_rows(int n, int c, const float *logits, float *prob);
/* gl (+)= p (g - <g,p>); accumulate = 0 overwrites. */
MLCL_INTERNAL void mlcl__softmax_rows_bwd(int n, int c, const float *prob, const float *g,
                                          float *gl, int accumulate);
/* out = x / max(||x||, eps) row-wise, norms (nullable) = ||x||. */
MLCL_INTERNAL void mlcl__l2norm_rows(int n, int m, const float *x, float *out, float *norms);
MLCL_INTERNAL void mlcl__l2norm_rows_bwd(int n, int m, const float *out, const float *norms,
                                         const float *g, float *gx, int accumulate);
/* Linear backward runs its weight-gradient GEMM on a second thread, next to
 * the input-gradient GEMM (the caller makes OpenBLAS single-threaded around
 * it, e.g. the MoCo step). Results are the same either way. */
struct mlcl_encoder;
MLCL_INTERNAL void mlcl__encoder_set_par(struct mlcl_encoder *e, int on);
/* The next forwards may run on two threads, each on half of the rows, when
 * the thread count in force is >= 2, every layer works row by row (Linear,
 * ReLU, Dropout, L2 norm, softmax: no BatchNorm, no oneDNN network) and the
 * GEMMs run on oneDNN's sgemm, whose rows do not depend on how the rows are
 * split as long as every call has at least 16 rows (checked bit for bit for
 * 32-4200 rows on nine widths, and on 704 shapes; below 16 rows it rounds
 * differently, and OpenBLAS's rows depend on the split: there the forward
 * stays on one thread; fewer than 32 rows are not split). Each half draws its own rows' dropout masks
 * from the stream's right place. The same results either way. For a caller
 * that is not itself a task of mlcl__par2 / mlcl__par_for (e.g. the
 * trainer's fine-tuning and evaluation; not the MoCo branches). */
MLCL_INTERNAL void mlcl__encoder_set_split(struct mlcl_encoder *e, int on);
/* mlcl_encoder_momentum_update that also copies the key's parameters as they
 * were into old (param_count floats), in the same pass over memory. */
MLCL_INTERNAL int mlcl__encoder_momentum_update_keep(struct mlcl_encoder *key, const struct mlcl_encoder *query,
                                                     float m, float *old);
/* The same for parameters lo .. hi-1 (old[0] gets parameter lo's old value);
 * shapes and m as checked by a call of the above on the same pair. */
MLCL_INTERNAL void mlcl__encoder_momentum_range(struct mlcl_encoder *key, const struct mlcl_encoder *query, float m,
                                                float *old, size_t lo, size_t hi);
/* mlcl_optim_step without its gradient check, for a caller that has just
 * checked every group's gradients itself (the MoCo step). */
/* Data-parallel dropout: this rank's rows are rows off .. off+n-1 of a global
 * batch of `total` rows; each Dropout layer skips the draws of the other rows
 * so that the masks equal those of one process on the whole batch (total 0: off). */
MLCL_INTERNAL void mlcl__encoder_set_rows(struct mlcl_encoder *e, long long off, long long total);
/* Per-handle thread count of the encoder's oneDNN (ResNet) layers: threads
 * >= 1, or <= 0 for the library default. Takes effect at the next forward
 * (the plans are rebuilt; a pending backward is invalidated). The one hook
 * for a caller that owns a per-handle count (trainer, MoCo). */
MLCL_INTERNAL void mlcl__encoder_set_threads(struct mlcl_encoder *e, int threads);
struct mlcl_optim;
MLCL_INTERNAL void mlcl__optim_step_checked(struct mlcl_optim *o);

/* A description of layer i of an encoder (for the model export, src/model/). */
#include "mlcl/models.h"
enum { MLCL__LAYER_LINEAR = 1, MLCL__LAYER_RELU, MLCL__LAYER_DROPOUT, MLCL__LAYER_BN1D, MLCL__LAYER_L2NORM,
       MLCL__LAYER_SOFTMAX, MLCL__LAYER_RESNET };
typedef struct mlcl__layer_info {
    int kind, in, out, bias;
    float p, eps, momentum;
    size_t np, ns;
    mlcl_resnet_spec resnet; /* MLCL__LAYER_RESNET */
} mlcl__layer_info;
MLCL_INTERNAL int mlcl__encoder_layer_info(const struct mlcl_encoder *e, int i, mlcl__layer_info *out);
#endif
