/* Model files: the checkpoint container (src/train/ckpt.c) under the magic
 * "MLCLMODL", format 1; sections are described in docs/formats.md ("Model
 * files"). Every number is little-endian and written field by field; a tag
 * whose first letter is upper-case is required (a reader that does not know
 * it refuses the file), a lower-case one optional (skipped when unknown). */
#include <string.h>
#include "model_internal.h"
#include "core/ckpt.h"

static const char MODEL_MAGIC[8] = { 'M', 'L', 'C', 'L', 'M', 'O', 'D', 'L' };
#define MODEL_FORMAT 1u
#define MODEL_MAX_PAYLOAD ((size_t)1 << 31)
#define HDR_BYTES 96
#define LAYER_BYTES 64

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t get32(const unsigned char *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = (v << 8) | p[i]; return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }
static void putf(unsigned char *p, float f) { uint32_t v; memcpy(&v, &f, 4); put32(p, v); }
static float getf(const unsigned char *p) { uint32_t v = get32(p); float f; memcpy(&f, &v, 4); return f; }
static int32_t geti(const unsigned char *p) { uint32_t v = get32(p); int32_t i; memcpy(&i, &v, 4); return i; }

/* The tags this library knows. */
static const char *const KNOWN[] = { "MHDR", "ARCH", "BPAR", "BSTA", "HEAD", "SCAL", "THRS", "LBLS", "prov" };

/* Encodes n floats little-endian into a fresh buffer (4n bytes). */
static unsigned char *floats_le(const float *x, size_t n)
{
    unsigned char *b = mlcl__malloc(n * 4 + 1);
    if (b) for (size_t i = 0; i < n; i++) putf(b + 4 * i, x[i]);
    return b;
}

static void put_floats(mlcl__ckw *w, const char tag[4], const float *x, size_t n)
{
    if (w->status) return;
    unsigned char *b = floats_le(x, n);
    if (!b) { w->status = mlcl__err(MLCL_ENOMEM, "mlcl_model_save: out of memory"); return; }
    mlcl__ckw_put(w, tag, b, n * 4);
    mlcl__free(b);
}

/* strings: u32 count, then per string u32 length and the bytes (no NUL) */
static void put_strings(mlcl__ckw *w, const char tag[4], char *const *a, char *const *b, int n)
{
    if (w->status) return;
    size_t len = 4;
    for (int i = 0; i < n; i++) len += 4 + strlen(a[i]) + (b ? 4 + strlen(b[i]) : 0);
    unsigned char *buf = mlcl__malloc(len + 1), *p = buf;
    if (!buf) { w->status = mlcl__err(MLCL_ENOMEM, "mlcl_model_save: out of memory"); return; }
    put32(p, (uint32_t)n);
    p += 4;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < (b ? 2 : 1); k++) {
            const char *s = k ? b[i] : a[i];
            size_t l = strlen(s);
            put32(p, (uint32_t)l);
            memcpy(p + 4, s, l);
            p += 4 + l;
        }
    mlcl__ckw_put(w, tag, buf, len);
    mlcl__free(buf);
}

int mlcl_model_save(const mlcl_model *m, const char *path)
{
    static const char fn[] = "mlcl_model_save";
    MLCL_CHECK_NULL_AS(fn, m, "model");
    MLCL_CHECK_NULL(fn, path);
    if (!path[0]) return mlcl__err(MLCL_EINVAL, "%s: path is empty", fn);
    mlcl__ckw w;
    mlcl__ckw_init(&w);
    unsigned char h[HDR_BYTES];
    memset(h, 0, sizeof h);
    int32_t f[16] = { m->d, m->c, m->h, m->dn, m->chunk, m->img, m->ic, m->ih, m->iw, m->oh, m->ow, m->standardize, m->nl };
    for (int i = 0; i < 16; i++) put32(h + 4 * i, (uint32_t)f[i]);
    put64(h + 64, m->bnp);
    put64(h + 72, m->bns);
    mlcl__ckw_put(&w, "MHDR", h, sizeof h);
    unsigned char *arch = mlcl__calloc((size_t)m->nl, LAYER_BYTES);
    if (!arch) { mlcl__ckw_free(&w); return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); }
    for (int i = 0; i < m->nl; i++) {
        const mlcl__mlayer *l = &m->L[i];
        unsigned char *p = arch + (size_t)i * LAYER_BYTES;
        put32(p, (uint32_t)l->kind); put32(p + 4, (uint32_t)l->in); put32(p + 8, (uint32_t)l->out);
        put32(p + 12, (uint32_t)l->bias); putf(p + 16, l->p); putf(p + 20, l->eps); putf(p + 24, l->momentum);
        if (l->kind == MLCL__ML_RESNET) {
            const mlcl_resnet_spec *s = &l->resnet;
            put32(p + 28, (uint32_t)s->depth); put32(p + 32, (uint32_t)s->stem); put32(p + 36, (uint32_t)s->in_channels);
            put32(p + 40, (uint32_t)s->height); put32(p + 44, (uint32_t)s->width); put32(p + 48, (uint32_t)s->base_width);
            putf(p + 52, s->bn_eps); putf(p + 56, s->bn_momentum); put32(p + 60, (uint32_t)s->zero_init_residual);
        }
    }
    mlcl__ckw_put(&w, "ARCH", arch, (size_t)m->nl * LAYER_BYTES);
    mlcl__free(arch);
    put_floats(&w, "BPAR", m->bparams, m->bnp);
    put_floats(&w, "BSTA", m->bstate, m->bns);
    put_floats(&w, "HEAD", m->head, (size_t)m->c * m->h + (size_t)m->c);
    if (m->standardize && !w.status) {
        /* SCAL: mean (d floats) then std (d floats) */
        float *ms = mlcl__malloc((size_t)m->d * 2 * sizeof(float));
        if (!ms) w.status = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
        else {
            memcpy(ms, m->mean, (size_t)m->d * sizeof(float));
            memcpy(ms + m->d, m->std, (size_t)m->d * sizeof(float));
            put_floats(&w, "SCAL", ms, (size_t)m->d * 2);
            mlcl__free(ms);
        }
    }
    put_floats(&w, "THRS", m->thr, (size_t)m->c);
    put_strings(&w, "LBLS", m->labels, NULL, m->c);
    put_strings(&w, "prov", m->prov_key, m->prov_val, m->nprov);
    return mlcl__ckw_commit_as(&w, path, MODEL_MAGIC, MODEL_FORMAT, 6, "model");
}

/* ------------------------------------------------------------------ load */

static int get_floats(const mlcl__ckr *r, const char tag[4], float **dst, size_t n, const char *fn)
{
    const void *p;
    size_t bytes;
    if (mlcl__mul_size(n, 4, &bytes)) return mlcl__err(MLCL_EFORMAT, "%s: %s: section %.4s too large", fn, r->path, tag);
    MLCL_TRY(mlcl__ckr_get(r, tag, &p, NULL, bytes));
    MLCL_TRY(mlcl__alloc_array((void **)dst, n ? n : 1, sizeof(float), fn));
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) (*dst)[i] = getf(b + 4 * i);
    return MLCL_OK;
}

/* Parses a strings section of exactly `pairs` ? 2n : n strings; n must equal want (want < 0: any, up to max). */
static int get_strings(const mlcl__ckr *r, const char tag[4], int pairs, int want, int max, char ***a, char ***b, int *count,
                       const char *fn)
{
    const void *pv;
    size_t len;
    MLCL_TRY(mlcl__ckr_get(r, tag, &pv, &len, (size_t)-1));
    const unsigned char *p = pv;
    if (len < 4) return mlcl__err(MLCL_EFORMAT, "%s: %s: section %.4s too short", fn, r->path, tag);
    uint32_t n = get32(p);
    if ((want >= 0 && n != (uint32_t)want) || (want < 0 && n > (uint32_t)max))
        return mlcl__err(MLCL_EFORMAT, "%s: %s: section %.4s holds %u entries, expected %d", fn, r->path, tag, n, want >= 0 ? want : max);
    /* each entry needs at least 4 bytes per string: bound n by the section before allocating */
    if ((uint64_t)n * (pairs ? 8 : 4) > len - 4) return mlcl__err(MLCL_EFORMAT, "%s: %s: section %.4s is shorter than its %u entries", fn, r->path, tag, n);
    char **sa = mlcl__calloc(n ? n : 1, sizeof *sa), **sb = pairs ? mlcl__calloc(n ? n : 1, sizeof *sb) : NULL;
    *a = sa;
    if (b) *b = sb;
    *count = 0;
    if (!sa || (pairs && !sb)) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    size_t off = 4;
    for (uint32_t i = 0; i < n; i++) {
        for (int k = 0; k < (pairs ? 2 : 1); k++) {
            if (len - off < 4) return mlcl__err(MLCL_EFORMAT, "%s: %s: section %.4s truncated", fn, r->path, tag);
            uint32_t l = get32(p + off);
            off += 4;
            if (l > MLCL__MODEL_MAX_NAME || l > len - off) return mlcl__err(MLCL_EFORMAT, "%s: %s: section %.4s: string %u overruns", fn, r->path, tag, i);
            char *s = mlcl__malloc((size_t)l + 1);
            if (!s) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
            memcpy(s, p + off, l);
            s[l] = '\0';
            off += l;
            if (k) sb[i] = s; else sa[i] = s;
            if (strlen(s) != l || strchr(s, '\n') || strchr(s, '\r'))
                return mlcl__err(MLCL_EFORMAT, "%s: %s: section %.4s: string %u has a NUL or a newline", fn, r->path, tag, i);
        }
        *count = (int)i + 1;
    }
    if (off != len) return mlcl__err(MLCL_EFORMAT, "%s: %s: section %.4s has %zu trailing bytes", fn, r->path, tag, len - off);
    return MLCL_OK;
}

static int check_tags(const mlcl__ckr *r, const char *fn)
{
    for (size_t off = 0; off < r->len;) {
        const unsigned char *t = r->buf + off;
        uint64_t l = get64(t + 8);
        int known = t[0] == '\0'; /* the container's alignment padding */
        for (size_t k = 0; k < sizeof KNOWN / sizeof *KNOWN && !known; k++) known = !memcmp(t, KNOWN[k], 4);
        if (!known && t[0] >= 'A' && t[0] <= 'Z')
            return mlcl__err(MLCL_EVERSION, "%s: %s: required section '%.4s' is unknown to this library (%s): written by a newer one?",
                             fn, r->path, (const char *)t, mlcl_version_string());
        off += 16 + (size_t)l;
    }
    return MLCL_OK;
}

static int load_inner(mlcl_model *m, const mlcl__ckr *r, const char *fn)
{
    const char *path = r->path;
    MLCL_TRY(check_tags(r, fn));
    const void *pv;
    size_t hl;
    MLCL_TRY(mlcl__ckr_get(r, "MHDR", &pv, &hl, (size_t)-1));
    if (hl < HDR_BYTES) return mlcl__err(MLCL_EFORMAT, "%s: %s: header section has %zu bytes, expected >= %d", fn, path, hl, HDR_BYTES);
    const unsigned char *h = pv;
    int32_t f[16];
    for (int i = 0; i < 16; i++) f[i] = geti(h + 4 * i);
    m->d = f[0]; m->c = f[1]; m->h = f[2]; m->dn = f[3]; m->chunk = f[4]; m->img = f[5];
    m->ic = f[6]; m->ih = f[7]; m->iw = f[8]; m->oh = f[9]; m->ow = f[10]; m->standardize = f[11];
    int nl = f[12];
    uint64_t bnp = get64(h + 64), bns = get64(h + 72);
    if (m->d <= 0 || m->d > MLCL__MODEL_MAX_DIM * 16 || m->c <= 0 || m->c > MLCL__MODEL_MAX_DIM || m->h <= 0 ||
        m->h > MLCL__MODEL_MAX_DIM || m->dn <= 0 || m->dn > MLCL__MODEL_MAX_DIM * 16)
        return mlcl__err(MLCL_EFORMAT, "%s: %s: widths out of range (features %d, labels %d, embedding %d)", fn, path, m->d, m->c, m->h);
    if (nl <= 0 || nl > MLCL__MODEL_MAX_LAYERS) return mlcl__err(MLCL_EFORMAT, "%s: %s: %d backbone layers", fn, path, nl);
    /* sizes from the header must match the sections' before anything is allocated from them */
    const void *ap;
    MLCL_TRY(mlcl__ckr_get(r, "ARCH", &ap, NULL, (size_t)nl * LAYER_BYTES));
    const void *q;
    size_t ql;
    MLCL_TRY(mlcl__ckr_get(r, "BPAR", &q, &ql, (size_t)-1));
    if (bnp > ql / 4 || ql != bnp * 4) return mlcl__err(MLCL_EFORMAT, "%s: %s: section BPAR has %zu bytes for %llu parameters", fn, path, ql, (unsigned long long)bnp);
    MLCL_TRY(mlcl__ckr_get(r, "BSTA", &q, &ql, (size_t)-1));
    if (bns > ql / 4 || ql != bns * 4) return mlcl__err(MLCL_EFORMAT, "%s: %s: section BSTA has %zu bytes for %llu statistics", fn, path, ql, (unsigned long long)bns);
    size_t nh = (size_t)m->c * (size_t)m->h + (size_t)m->c;
    MLCL_TRY(mlcl__ckr_get(r, "HEAD", &q, &ql, (size_t)-1));
    if (ql != nh * 4) return mlcl__err(MLCL_EFORMAT, "%s: %s: section HEAD has %zu bytes, %d labels x %d need %zu", fn, path, ql, m->c, m->h, nh * 4);
    MLCL_TRY(mlcl__ckr_get(r, "THRS", &q, NULL, (size_t)m->c * 4));
    if (m->standardize) MLCL_TRY(mlcl__ckr_get(r, "SCAL", &q, NULL, (size_t)m->d * 8));
    else if (mlcl__ckr_get(r, "SCAL", &q, NULL, (size_t)-1) == MLCL_OK)
        return mlcl__err(MLCL_EFORMAT, "%s: %s: section SCAL in a model without standardisation", fn, path);
    MLCL_TRY(mlcl__alloc_array((void **)&m->L, (size_t)nl, sizeof *m->L, fn));
    m->nl = nl;
    const unsigned char *a = ap;
    for (int i = 0; i < nl; i++) {
        const unsigned char *p = a + (size_t)i * LAYER_BYTES;
        mlcl__mlayer *l = &m->L[i];
        l->kind = geti(p); l->in = geti(p + 4); l->out = geti(p + 8); l->bias = geti(p + 12);
        l->p = getf(p + 16); l->eps = getf(p + 20); l->momentum = getf(p + 24);
        if (l->kind == MLCL__ML_RESNET) {
            mlcl_resnet_spec *s = &l->resnet;
            s->version = MLCL_RESNET_SPEC_VERSION;
            s->depth = geti(p + 28); s->stem = geti(p + 32); s->in_channels = geti(p + 36);
            s->height = geti(p + 40); s->width = geti(p + 44); s->base_width = geti(p + 48);
            s->bn_eps = getf(p + 52); s->bn_momentum = getf(p + 56); s->zero_init_residual = geti(p + 60);
        }
    }
    m->bnp = (size_t)bnp;
    m->bns = (size_t)bns;
    MLCL_TRY(get_floats(r, "BPAR", &m->bparams, m->bnp, fn));
    MLCL_TRY(get_floats(r, "BSTA", &m->bstate, m->bns, fn));
    MLCL_TRY(get_floats(r, "HEAD", &m->head, nh, fn));
    MLCL_TRY(get_floats(r, "THRS", &m->thr, (size_t)m->c, fn));
    if (m->standardize) {
        /* the section's size was checked above: these allocations are bounded by the file */
        float *ms = NULL;
        MLCL_TRY(get_floats(r, "SCAL", &ms, (size_t)m->d * 2, fn));
        int rc0 = mlcl__alloc_array((void **)&m->mean, (size_t)m->d, sizeof(float), fn);
        if (rc0 == MLCL_OK) rc0 = mlcl__alloc_array((void **)&m->std, (size_t)m->d, sizeof(float), fn);
        if (rc0 == MLCL_OK) {
            memcpy(m->mean, ms, (size_t)m->d * sizeof(float));
            memcpy(m->std, ms + m->d, (size_t)m->d * sizeof(float));
        }
        mlcl__free(ms);
        MLCL_TRY(rc0);
    }
    int nlab = 0;
    int rc = get_strings(r, "LBLS", 0, m->c, 0, &m->labels, NULL, &nlab, fn);
    if (rc < 0) {
        /* labels is freed over m->c entries: the unparsed ones are NULL (calloc) */
        return rc;
    }
    /* provenance is optional */
    const void *pp;
    size_t pl;
    if (mlcl__ckr_get(r, "prov", &pp, &pl, (size_t)-1) == MLCL_OK) {
        char **k = NULL, **v = NULL;
        int np = 0;
        rc = get_strings(r, "prov", 1, -1, MLCL__MODEL_MAX_PROV, &k, &v, &np, fn);
        m->prov_key = k;
        m->prov_val = v;
        m->nprov = np;
        if (rc < 0) {
            /* free the half-parsed pair beyond np */
            if (k && v) {
                uint32_t n = get32((const unsigned char *)pp);
                if (n > MLCL__MODEL_MAX_PROV) n = 0;
                for (uint32_t i = (uint32_t)np; i < n; i++) { mlcl__free(k[i]); mlcl__free(v[i]); }
            }
            return rc;
        }
    }
    return mlcl__model_finish(m, fn);
}

int mlcl_model_load(mlcl_model **out, const char *path)
{
    static const char fn[] = "mlcl_model_load";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, path);
    mlcl__ckr r;
    MLCL_TRY(mlcl__ckr_open_as(&r, path, MODEL_MAGIC, MODEL_FORMAT, MODEL_MAX_PAYLOAD, "model"));
    mlcl_model *m;
    int rc = mlcl__model_alloc(&m, fn);
    if (rc == MLCL_OK) rc = load_inner(m, &r, fn);
    mlcl__ckr_close(&r);
    if (rc < 0) {
        mlcl_model_free(m);
        return rc;
    }
    *out = m;
    return MLCL_OK;
}
