/* The CLD loss and its gradients on raw arrays: 4 anchors, a queue of 3. */
#include <stdio.h>
#include <mlcl.h>

#define N 4  /* batch */
#define M 8  /* embedding width */
#define C 3  /* labels */
#define HD 5 /* LD-head input width */

int main(void)
{
    float q[N * M], k[N * M], kq[3 * M], d[N * C], dq[3 * C], W[C * HD];
    uint8_t y01[N * C] = { 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1 }, yq01[3 * C] = { 1, 0, 1, 0, 1, 0, 0, 0, 1 };
    uint64_t y[N], yq[3]; /* one 64-bit word per row holds c <= 64 labels */
    mlcl_rng *rng;
    if (mlcl_rng_create(&rng, 42) != MLCL_OK) return 1;
    mlcl_rng_normal(rng, q, N * M, 1.0f);
    mlcl_rng_normal(rng, k, N * M, 1.0f);
    mlcl_rng_normal(rng, kq, 3 * M, 1.0f);
    mlcl_rng_normal(rng, W, C * HD, 0.1f);
    mlcl_rng_normal(rng, d, N * C, 1.0f);  /* logits, turned into distributions below */
    mlcl_rng_normal(rng, dq, 3 * C, 1.0f);
    mlcl_rng_free(rng);
    mlcl_softmax_forward(d, d, N, C);
    mlcl_softmax_forward(dq, dq, 3, C);
    mlcl_l2norm_forward(q, NULL, q, N, M); /* rows on the unit sphere */
    mlcl_l2norm_forward(k, NULL, k, N, M);
    mlcl_l2norm_forward(kq, NULL, kq, 3, M);
    mlcl_labels_pack(y, y01, N, C);
    mlcl_labels_pack(yq, yq01, 3, C);

    mlcl_loss_options opts = MLCL_LOSS_OPTIONS_INIT; /* CLD, ANY mask, alpha 0.1, beta 1, tau 0.1 */
    mlcl_loss *loss;
    if (mlcl_loss_create(&loss, N, 3, M, C, &opts) != MLCL_OK) {
        fprintf(stderr, "%s\n", mlcl_last_error());
        return 1;
    }
    float gq[N * M] = { 0 }, gd[N * C] = { 0 }, gW[C * HD] = { 0 }; /* gradients accumulate: start at 0 */
    mlcl_loss_parts parts = MLCL_LOSS_PARTS_INIT;
    int rc = mlcl_loss_compute(loss, &parts, gq, gd, gW, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = N, .q = q, .k = k, .y = y, .d = d, .F = 3, .kq = kq, .yq = yq, .dq = dq, .W = W, .h = HD });
    if (rc != MLCL_OK) {
        fprintf(stderr, "mlcl_loss_compute: %s\n", mlcl_last_error());
        mlcl_loss_free(loss);
        return 1;
    }
    printf("CLD loss %.5f = con %.5f + G %.5f + alpha H %.5f + beta|W|^2 %.5f\n", parts.total, parts.con, parts.G,
           opts.alpha * parts.H, parts.wreg);
    printf("dL/dq[0][0..2] = %.5f %.5f %.5f\n", gq[0], gq[1], gq[2]);
    /* a mistake is reported, never fatal */
    rc = mlcl_loss_compute(loss, &parts, gq, gd, gW, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = N + 1, .q = q, .k = k, .y = y, .d = d, .F = 3, .kq = kq, .yq = yq, .dq = dq, .W = W, .h = HD });
    printf("n too large: %s (%s)\n", mlcl_status_str(rc), mlcl_last_error());
    mlcl_loss_free(loss);
    return 0;
}
