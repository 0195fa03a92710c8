/* Trainer -> model (mlcl_trainer_export_model): the query backbone, the LD
 * head, the standardisation and image settings, label names, thresholds and
 * provenance. Nothing of the key side, the queue or the optimisers. */
#include <stdio.h>
#include <string.h>
#include "train/trainer_internal.h"
#include "data/sparse_lib.h"
#include "model/model_lib.h"
#include "nn/nn_lib.h"

static const char FN[] = "mlcl_trainer_export_model";

int mlcl_model_export_options_init(mlcl_model_export_options *opts, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_model_export_options_init", opts, version, MLCL_MODEL_EXPORT_OPTIONS_VERSION, mlcl_model_export_options, MLCL_MODEL_EXPORT_OPTIONS_INIT);
}

static const char *method_name(int m)
{
    switch (m) {
    case MLCL_METHOD_NONE: return "none";
    case MLCL_METHOD_MULSUPCON: return "mulsupcon";
    case MLCL_METHOD_RLD: return "rld";
    case MLCL_METHOD_CLD: return "cld";
    case MLCL_METHOD_SUPCON_ALL: return "supcon-all";
    case MLCL_METHOD_SUPCON_ANY: return "supcon-any";
    default: return "unknown";
    }
}

/* FNV-1a 64 over the features as little-endian float32, then the 0/1 label bytes */
static uint64_t fnv_bytes(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ULL; }
    return h;
}

static uint64_t dataset_hash(const mlcl_dataset *ds, int n, int d, int c)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const float *x = mlcl_dataset_features(ds);
    size_t nd = (size_t)n * d;
    for (size_t i = 0; i < nd; i++) {
        uint32_t v;
        memcpy(&v, &x[i], 4);
        unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24) };
        h = fnv_bytes(h, b, 4);
    }
    return fnv_bytes(h, mlcl_dataset_labels(ds), (size_t)n * c);
}

static int prov(mlcl_model *m, const char *key, const char *fmt, ...) MLCL_PRINTF(3, 4);
static int prov(mlcl_model *m, const char *key, const char *fmt, ...)
{
    char v[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    return mlcl__model_prov_set(m, key, v);
}

static int prov_metrics(mlcl_model *m, const char *pre, const mlcl_metrics *x)
{
    char k[64];
    const char *names[6] = { "HA", "ebF1", "miF1", "maF1", "p_at_1", "mAP" };
    double v[6] = { x->HA, x->ebF1, x->miF1, x->maF1, x->p_at_1, x->mAP };
    for (int i = 0; i < 6; i++) {
        snprintf(k, sizeof k, "%s_%s", pre, names[i]);
        MLCL_TRY(prov(m, k, "%.17g", v[i]));
    }
    return MLCL_OK;
}

static int export_inner(const mlcl_trainer *t, mlcl_model *m, const mlcl_model_export_options *o)
{
    const int c = t->c;
    const int standardize = (t->o.standardize && !t->img) || t->stream; /* stream: the loaders' normalisation */
    /* label names: the options', else the dataset's, else label<j> */
    {
        char buf[32];
        const char **names = NULL;
        MLCL_TRY(mlcl__alloc_array((void **)&names, (size_t)c, sizeof(char *), FN));
        char *def = mlcl__malloc((size_t)c * 32);
        int rc = def ? MLCL_OK : mlcl__err(MLCL_ENOMEM, "%s: out of memory", FN);
        for (int j = 0; j < c && rc == MLCL_OK; j++) {
            const char *s = o && o->label_names ? o->label_names[j] : NULL;
            if (!s && o && o->train) (void)mlcl_dataset_label_name(o->train, j, &s); /* s stays NULL: unnamed */
            if (!s) {
                snprintf(buf, sizeof buf, "label%d", j);
                memcpy(def + (size_t)j * 32, buf, sizeof buf);
                s = def + (size_t)j * 32;
            }
            names[j] = s;
        }
        /* the public setter validates and copies; it replaces m->labels */
        if (rc == MLCL_OK) {
            rc = mlcl_model_set_label_names(m, c, names);
            if (rc == MLCL_EINVAL) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", mlcl_last_error());
                rc = mlcl__err(MLCL_EINVAL, "%s: label names (from %s): %s", FN,
                               o && o->label_names ? "opts->label_names" : "opts->train", msg);
            }
        }
        mlcl__free(def);
        mlcl__free(names);
        MLCL_TRY(rc);
    }
    /* provenance */
    const mlcl_train_options *to = &t->o;
    const mlcl_loss_options *lo = &t->mo.loss;
    MLCL_TRY(prov(m, "library", "libmlcl %s", mlcl_version_string()));
    MLCL_TRY(prov(m, "method", "%s", method_name(to->method)));
    MLCL_TRY(prov(m, "seed", "%llu", (unsigned long long)to->seed));
    MLCL_TRY(prov(m, "batch", "%d", t->batch));
    MLCL_TRY(prov(m, "pretrain_epochs", "%d", t->ph[0].epochs));
    MLCL_TRY(prov(m, "finetune_epochs", "%d", t->ph[1].epochs));
    MLCL_TRY(prov(m, "queue_size", "%d", t->mo.queue_size));
    MLCL_TRY(prov(m, "loss", "method %d variant %d mask %d alpha %g beta %g tau %g sigma %g reduction %d cld_weight %d",
                  lo->method, lo->variant, lo->mask, (double)lo->alpha, (double)lo->beta, (double)lo->tau,
                  (double)lo->sigma, lo->reduction, lo->cld_weight));
    MLCL_TRY(prov(m, "standardize", "%d", standardize));
    MLCL_TRY(prov(m, "exported_at", "phase %d epoch %d%s", t->phase, t->epoch, t->phase >= 3 ? " (finished)" : ""));
    MLCL_TRY(prov(m, "train_rows", "%d", t->n));
    if (t->thr_ready && !(o && o->thresholds))
        MLCL_TRY(prov(m, "thresholds", "chosen on %d validation rows (%s; global micro-F1 %.9g)", t->nv,
                      t->vo.thresholds == MLCL_THRESHOLDS_GLOBAL ? "the global one for every label" : "per-label F1",
                      (double)t->thr_global));
    if (t->val && t->vo.select_metric != MLCL_SELECT_NONE)
        MLCL_TRY(prov(m, "selected_epoch", "%d of %d fine-tuning epochs run (validation %s = %.17g)", t->best_epoch,
                      t->vs_epochs, (const char *const[]){ "HA", "ebF1", "miF1", "maF1", "p@1", "mAP" }[t->vo.select_metric % 6],
                      t->best_value));
    if (o && o->train_path) MLCL_TRY(prov(m, "train_file", "%s", o->train_path));
    if (o && o->test_path) MLCL_TRY(prov(m, "test_file", "%s", o->test_path));
    if (o && o->train) MLCL_TRY(prov(m, "train_hash", "fnv1a64:%016llx", (unsigned long long)dataset_hash(o->train, t->n, t->d, t->c)));
    if (o && o->test_paper) MLCL_TRY(prov_metrics(m, "test_paper", o->test_paper));
    if (o && o->test_t05) MLCL_TRY(prov_metrics(m, "test_t05", o->test_t05));
    return mlcl__model_finish(m, FN);
}

int mlcl_trainer_export_model_ex(const mlcl_trainer *trainer, mlcl_model **out, const mlcl_model_export_options *opts)
{
    MLCL_CHECK_NULL(FN, out);
    *out = NULL;
    MLCL_CHECK_NULL_AS(FN, trainer, "trainer");
    if (opts) MLCL_CHECK_VERSION(FN, opts, MLCL_MODEL_EXPORT_OPTIONS_VERSION);
    if (opts && opts->train) {
        int n, d, c;
        MLCL_TRY(mlcl_dataset_dims(opts->train, &n, &d, &c));
        MLCL_TRY(mlcl__dataset_need_dense(opts->train, FN, "opts->train"));
        if (n != trainer->n || d != trainer->d || c != trainer->c)
            return mlcl__err(MLCL_EINVAL, "%s: opts->train has %d rows x %d features x %d labels, the trainer's data %d x %d x %d",
                             FN, n, d, c, trainer->n, trainer->d, trainer->c);
    }
    if (opts && opts->label_names)
        for (int j = 0; j < trainer->c; j++)
            if (!opts->label_names[j]) return mlcl__err(MLCL_EINVAL, "%s: opts->label_names[%d] is NULL", FN, j);
    const mlcl_trainer *t = trainer;
    /* the caller's thresholds, else those chosen on validation (mlcl_trainer_set_validation), else 0.5 */
    float *thr = NULL;
    MLCL_TRY(mlcl__alloc_array((void **)&thr, (size_t)t->c, sizeof(float), FN));
    for (int j = 0; j < t->c; j++) thr[j] = opts && opts->thresholds ? opts->thresholds[j] : t->thr_ready ? t->thr[j] : 0.5f;
    for (int j = 0; j < t->c; j++)
        if (!(thr[j] >= 0.0f && thr[j] <= 1.0f)) {
            double bad = (double)thr[j];
            mlcl__free(thr);
            return mlcl__err(MLCL_EINVAL, "%s: opts->thresholds[%d] = %g is outside [0, 1]", FN, j, bad);
        }
    const int standardize = (t->o.standardize && !t->img) || t->stream;
    mlcl__model_parts parts = { t->d, t->c, t->hdim, t->dn, t->batch, t->img, t->ic, t->ih, t->iw, t->oh, t->ow,
                                standardize ? t->mean : NULL, standardize ? t->std : NULL,
                                t->net[NET_ENC_Q], t->net[NET_LD], thr };
    mlcl_model *m;
    int rc = mlcl__model_build(&m, &parts, FN);
    mlcl__free(thr);
    if (rc != MLCL_OK) return rc;
    rc = export_inner(trainer, m, opts);
    if (rc < 0) {
        /* a template that cannot be rebuilt from the trainer's own state is not the caller's fault */
        mlcl_model_free(m);
        return rc;
    }
    *out = m;
    return MLCL_OK;
}

int mlcl_trainer_export_model(const mlcl_trainer *trainer, mlcl_model **out)
{
    return mlcl_trainer_export_model_ex(trainer, out, NULL);
}
