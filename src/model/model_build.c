/* The model layer's builder (model_lib.h): a model from the parts a trainer hands over. */
#include <stdio.h>
#include <string.h>
#include "model_internal.h"
#include "model_lib.h"

static int fill(mlcl_model *m, const mlcl__model_parts *p, const char *fn)
{
    m->d = p->d;
    m->c = p->c;
    m->h = p->h;
    m->dn = p->dn;
    m->chunk = p->chunk;
    m->img = p->img;
    if (p->img) { m->ic = p->ic; m->ih = p->ih; m->iw = p->iw; m->oh = p->oh; m->ow = p->ow; }
    m->standardize = p->mean != NULL;
    if (m->standardize) {
        MLCL_TRY(mlcl__alloc_array((void **)&m->mean, (size_t)m->d, sizeof(float), fn));
        MLCL_TRY(mlcl__alloc_array((void **)&m->std, (size_t)m->d, sizeof(float), fn));
        memcpy(m->mean, p->mean, (size_t)m->d * sizeof(float));
        memcpy(m->std, p->std, (size_t)m->d * sizeof(float));
    }
    MLCL_TRY(mlcl__model_copy_backbone(m, p->backbone, fn));
    size_t nh;
    MLCL_TRY(mlcl_encoder_param_count(p->ld_head, &nh));
    if (nh != (size_t)m->c * m->h + (size_t)m->c)
        return mlcl__err(MLCL_EINVAL, "%s: the LD head holds %zu parameters, not Linear(%d, %d)", fn, nh, m->h, m->c);
    MLCL_TRY(mlcl__alloc_array((void **)&m->head, nh, sizeof(float), fn));
    MLCL_TRY(mlcl_encoder_get_params(p->ld_head, m->head, nh));
    MLCL_TRY(mlcl__alloc_array((void **)&m->thr, (size_t)m->c, sizeof(float), fn));
    memcpy(m->thr, p->thresholds, (size_t)m->c * sizeof(float));
    /* default label names label<j>; mlcl_model_set_label_names replaces them */
    MLCL_TRY(mlcl__alloc_array((void **)&m->labels, (size_t)m->c, sizeof(char *), fn));
    for (int j = 0; j < m->c; j++) {
        char buf[32];
        snprintf(buf, sizeof buf, "label%d", j);
        size_t len = strlen(buf) + 1;
        m->labels[j] = mlcl__malloc(len);
        if (!m->labels[j]) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
        memcpy(m->labels[j], buf, len);
    }
    return MLCL_OK;
}

int mlcl__model_build(mlcl_model **out, const mlcl__model_parts *p, const char *fn)
{
    *out = NULL;
    mlcl_model *m;
    MLCL_TRY(mlcl__model_alloc(&m, fn));
    int rc = fill(m, p, fn);
    if (rc != MLCL_OK) { mlcl_model_free(m); return rc; }
    *out = m;
    return MLCL_OK;
}
