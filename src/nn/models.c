/* Encoder builders: the MLP of mlcl_mlp_spec and the ResNet of
 * mlcl_resnet_spec (on the container of encoder.c). */
#include <string.h>
#include "encoder_impl.h"

int mlcl_mlp_spec_init(mlcl_mlp_spec *spec, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_mlp_spec_init", spec, version, MLCL_MLP_SPEC_VERSION, mlcl_mlp_spec, MLCL_MLP_SPEC_INIT);
}

int mlcl_encoder_create_mlp(mlcl_encoder **out, const mlcl_mlp_spec *spec, const mlcl_encoder_options *opts)
{
    static const char fn[] = "mlcl_encoder_create_mlp";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, spec);
    MLCL_CHECK_VERSION(fn, spec, MLCL_MLP_SPEC_VERSION);
    if (spec->in_dim <= 0) return mlcl__err(MLCL_EINVAL, "%s: spec->in_dim must be > 0 (got %d)", fn, spec->in_dim);
    if (spec->n_hidden < 0 || spec->n_hidden > MLCL_MLP_MAX_HIDDEN)
        return mlcl__err(MLCL_EINVAL, "%s: spec->n_hidden must be in [0, %d] (got %d)", fn, MLCL_MLP_MAX_HIDDEN, spec->n_hidden);
    for (int i = 0; i < spec->n_hidden; i++)
        if (spec->hidden[i] <= 0)
            return mlcl__err(MLCL_EINVAL, "%s: spec->hidden[%d] must be > 0 (got %d)", fn, i, spec->hidden[i]);
    if (!(spec->dropout >= 0.0f && spec->dropout < 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: spec->dropout must be in [0, 1) (got %g)", fn, (double)spec->dropout);
    if (spec->batchnorm != 0 && spec->batchnorm != 1)
        return mlcl__err(MLCL_EINVAL, "%s: spec->batchnorm must be 0 or 1 (got %d)", fn, spec->batchnorm);
    if (spec->out_dim < 0) return mlcl__err(MLCL_EINVAL, "%s: spec->out_dim must be >= 0 (got %d)", fn, spec->out_dim);
    if (spec->out_act < MLCL_MLP_OUT_NONE || spec->out_act > MLCL_MLP_OUT_SOFTMAX)
        return mlcl__err(MLCL_EINVAL, "%s: spec->out_act %d is not an mlcl_mlp_out", fn, spec->out_act);
    mlcl_encoder *e;
    MLCL_TRY(mlcl_encoder_create(&e, spec->in_dim, opts));
    int rc = MLCL_OK;
    for (int i = 0; i < spec->n_hidden && rc == MLCL_OK; i++) {
        rc = mlcl_encoder_add_linear(e, spec->hidden[i], 1);
        if (rc == MLCL_OK && spec->batchnorm) rc = mlcl_encoder_add_batchnorm(e, 1e-5f, 0.1f);
        if (rc == MLCL_OK) rc = mlcl_encoder_add_relu(e);
        if (rc == MLCL_OK && spec->dropout > 0.0f) rc = mlcl_encoder_add_dropout(e, spec->dropout);
    }
    if (rc == MLCL_OK && spec->out_dim > 0) rc = mlcl_encoder_add_linear(e, spec->out_dim, 1);
    if (rc == MLCL_OK && spec->out_act == MLCL_MLP_OUT_L2NORM) rc = mlcl_encoder_add_l2norm(e);
    if (rc == MLCL_OK && spec->out_act == MLCL_MLP_OUT_SOFTMAX) rc = mlcl_encoder_add_softmax(e);
    if (rc < 0) { mlcl_encoder_free(e); return rc; }
    *out = e;
    return MLCL_OK;
}

int mlcl_resnet_spec_init(mlcl_resnet_spec *spec, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_resnet_spec_init", spec, version, MLCL_RESNET_SPEC_VERSION, mlcl_resnet_spec, MLCL_RESNET_SPEC_INIT);
}

int mlcl_encoder_create_resnet(mlcl_encoder **out, const mlcl_resnet_spec *spec, const mlcl_encoder_options *opts)
{
    static const char fn[] = "mlcl_encoder_create_resnet";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, spec);
    MLCL_CHECK_VERSION(fn, spec, MLCL_RESNET_SPEC_VERSION);
    if (spec->depth != 18 && spec->depth != 34 && spec->depth != 50)
        return mlcl__err(MLCL_EINVAL, "%s: spec->depth must be 18, 34 or 50 (got %d)", fn, spec->depth);
    if (spec->stem != MLCL_RESNET_STEM_IMAGENET && spec->stem != MLCL_RESNET_STEM_SMALL)
        return mlcl__err(MLCL_EINVAL, "%s: spec->stem %d is not an mlcl_resnet_stem", fn, spec->stem);
    if (spec->in_channels <= 0)
        return mlcl__err(MLCL_EINVAL, "%s: spec->in_channels must be > 0 (got %d)", fn, spec->in_channels);
    if (spec->height <= 0) return mlcl__err(MLCL_EINVAL, "%s: spec->height must be > 0 (got %d)", fn, spec->height);
    if (spec->width <= 0) return mlcl__err(MLCL_EINVAL, "%s: spec->width must be > 0 (got %d)", fn, spec->width);
    if (spec->base_width <= 0 || spec->base_width > 4096)
        return mlcl__err(MLCL_EINVAL, "%s: spec->base_width must be in [1, 4096] (got %d)", fn, spec->base_width);
    if (!(spec->bn_eps > 0.0f) || !isfinite(spec->bn_eps))
        return mlcl__err(MLCL_EINVAL, "%s: spec->bn_eps must be > 0 (got %g)", fn, (double)spec->bn_eps);
    if (!(spec->bn_momentum >= 0.0f && spec->bn_momentum <= 1.0f))
        return mlcl__err(MLCL_EINVAL, "%s: spec->bn_momentum must be in [0, 1] (got %g)", fn, (double)spec->bn_momentum);
    if (spec->zero_init_residual != 0 && spec->zero_init_residual != 1)
        return mlcl__err(MLCL_EINVAL, "%s: spec->zero_init_residual must be 0 or 1 (got %d)", fn,
                         spec->zero_init_residual);
    /* the widest activation: max(in_channels, base_width) channels at full size */
    size_t px, ch = (size_t)(spec->in_channels > spec->base_width ? spec->in_channels : spec->base_width);
    if (mlcl__mul_size((size_t)spec->height, (size_t)spec->width, &px) || mlcl__mul_size(px, ch, &px) ||
        px > (size_t)INT32_MAX)
        return mlcl__err(MLCL_EINVAL, "%s: spec->height x spec->width (%d x %d) is too large for %zu channels", fn,
                         spec->height, spec->width, ch);
    mlcl__convnet *cn;
    MLCL_TRY(mlcl__convnet_create_resnet(&cn, spec, 0));
    size_t in_dim, out_dim;
    mlcl__convnet_dims(cn, &in_dim, &out_dim);
    mlcl_encoder *e;
    int rc = mlcl_encoder_create(&e, (int)in_dim, opts);
    if (rc < 0) { mlcl__convnet_free(cn); return rc; }
    nn_layer *l;
    rc = mlcl__enc_push_layer(e, fn, L_CONVNET, (int)out_dim, mlcl__convnet_param_count(cn), mlcl__convnet_state_count(cn), &l);
    if (rc < 0) { mlcl__convnet_free(cn); mlcl_encoder_free(e); return rc; }
    l->cn = cn;
    l->rs = *spec;
    mlcl__convnet_init(cn, e->params + l->poff, e->state + l->soff, &e->init_rng);
    *out = e;
    return MLCL_OK;
}

