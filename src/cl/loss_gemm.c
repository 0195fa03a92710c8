/*
 * The loss's GEMMs (loss_rows.c, loss.c): one entry point, so that the loss's
 * products all go through the library's GEMM gateway (kernels/gemm.c), which
 * runs them on OpenBLAS, or on oneDNN's dnnl_sgemm when OpenBLAS runs a
 * generic core on a CPU it does not know. Each call runs on the calling
 * thread (the loss splits its anchors' rows over its own threads), so a
 * result depends only on the arguments, the engine and the thread count.
 */
#include "kernels/gemm.h"
#include "cl/loss_impl.h"

void mlcl__loss_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                      int ldb, float beta, float *C, int ldc)
{
    mlcl__sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
