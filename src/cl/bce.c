/* Binary cross-entropy with logits (the fine-tuning loss; loss.h). */
#include <math.h>
#include "core/internal.h"
#include "mlcl/loss.h"

int mlcl_bce_with_logits(float *loss, float *grad_logits, const float *logits, const float *targets, int n,
                         int c)
{
    static const char fn[] = "mlcl_bce_with_logits";
    if (n <= 0) return mlcl__err(MLCL_EINVAL, "%s: n must be > 0 (got %d)", fn, n);
    if (c <= 0) return mlcl__err(MLCL_EINVAL, "%s: c must be > 0 (got %d)", fn, c);
    size_t t = (size_t)n * (size_t)c;
    MLCL_CHECK_NULL(fn, logits);
    MLCL_CHECK_NULL(fn, targets);
    MLCL_CHECK_NULL(fn, loss);
    for (size_t k = 0; k < t; k++) {
        if (!isfinite(logits[k]))
            return mlcl__err(MLCL_ENUMERIC, "%s: logits[%zu] is not finite", fn, k);
        if (!(targets[k] >= 0.0f && targets[k] <= 1.0f))
            return mlcl__err(MLCL_EINVAL, "%s: targets[%zu] = %g is not in [0, 1]", fn, k, (double)targets[k]);
    }
    /* l = max(x,0) - x t + log1p(exp(-|x|)); dl/dx = sigmoid(x) - t */
    double s = 0.0, inv = 1.0 / (double)t;
    for (size_t k = 0; k < t; k++) {
        double x = logits[k], y = targets[k];
        s += (x > 0 ? x : 0.0) - x * y + log1p(exp(-fabs(x)));
        if (grad_logits) {
            double sg = x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
            grad_logits[k] += (float)((sg - y) * inv);
        }
    }
    *loss = (float)(s * inv);
    return MLCL_OK;
}
