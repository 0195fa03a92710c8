/* safetensors export and import (https://github.com/huggingface/safetensors):
 *   u64 little-endian N, then N bytes of JSON
 *     {"__metadata__": {"k": "v", ...},
 *      "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
 *   then the data: tensor <name> is bytes [b, e) after the header, row-major,
 *   little-endian. The offsets index the whole data block without gaps or
 *   overlaps.
 * Tensor names are the state_dict() keys of the equivalent PyTorch module
 * (model_internal.h, docs/models.md). The JSON is written and parsed with
 * jansson; every size and offset read is checked against the file before it
 * is used, and nothing is allocated from a size the file gives beyond the
 * header itself (at most 100 MB, the reference implementation's limit). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "model_internal.h"
#include "core/outfile.h"
#include "nn/nn_lib.h"

#define ST_MAX_HEADER ((uint64_t)100 << 20)
#define ST_MAX_DIMS 8

/* ------------------------------------------------------------------ create */

static int create_inner(mlcl_model *m, const mlcl_encoder *bb, int c, uint64_t seed, const char *fn)
{
    int in, h;
    MLCL_TRY(mlcl_encoder_in_dim(bb, &in));
    MLCL_TRY(mlcl_encoder_out_dim(bb, &h));
    MLCL_TRY(mlcl__model_copy_backbone(m, bb, fn));
    m->d = m->dn = in;
    m->c = c;
    m->h = h;
    m->chunk = 256;
    if (m->L[0].kind == MLCL__ML_RESNET) {
        const mlcl_resnet_spec *s = &m->L[0].resnet;
        m->img = 1;
        m->ic = s->in_channels;
        m->ih = m->oh = s->height;
        m->iw = m->ow = s->width;
    }
    MLCL_TRY(mlcl__alloc_array((void **)&m->mean, (size_t)in, sizeof(float), fn));
    MLCL_TRY(mlcl__alloc_array((void **)&m->std, (size_t)in, sizeof(float), fn));
    for (int j = 0; j < in; j++) { m->mean[j] = 0.0f; m->std[j] = 1.0f; }
    /* the head: PyTorch's nn.Linear initialisation, drawn by an encoder */
    mlcl_encoder_options eo = MLCL_ENCODER_OPTIONS_INIT;
    eo.seed = seed;
    mlcl_encoder *head = NULL;
    size_t nh = (size_t)c * h + (size_t)c;
    int rc = mlcl_encoder_create(&head, h, &eo);
    if (rc == MLCL_OK) rc = mlcl_encoder_add_linear(head, c, 1);
    if (rc == MLCL_OK) rc = mlcl__alloc_array((void **)&m->head, nh, sizeof(float), fn);
    if (rc == MLCL_OK) rc = mlcl_encoder_get_params(head, m->head, nh);
    mlcl_encoder_free(head);
    MLCL_TRY(rc);
    MLCL_TRY(mlcl__alloc_array((void **)&m->thr, (size_t)c, sizeof(float), fn));
    MLCL_TRY(mlcl__alloc_array((void **)&m->labels, (size_t)c, sizeof(char *), fn));
    for (int j = 0; j < c; j++) {
        m->thr[j] = 0.5f;
        m->labels[j] = mlcl__malloc(24);
        if (!m->labels[j]) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
        snprintf(m->labels[j], 24, "label%d", j);
    }
    char v[64];
    snprintf(v, sizeof v, "libmlcl %s", mlcl_version_string());
    MLCL_TRY(mlcl__model_prov_set(m, "library", v));
    MLCL_TRY(mlcl__model_prov_set(m, "origin", "mlcl_model_create"));
    snprintf(v, sizeof v, "%llu", (unsigned long long)seed);
    MLCL_TRY(mlcl__model_prov_set(m, "seed", v));
    return mlcl__model_finish(m, fn);
}

int mlcl_model_create(mlcl_model **out, const mlcl_encoder *backbone, int n_labels, uint64_t seed)
{
    static const char fn[] = "mlcl_model_create";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, backbone);
    if (n_labels <= 0 || n_labels > MLCL__MODEL_MAX_DIM)
        return mlcl__err(MLCL_EINVAL, "%s: n_labels = %d outside 1..%d", fn, n_labels, MLCL__MODEL_MAX_DIM);
    mlcl_model *m;
    MLCL_TRY(mlcl__model_alloc(&m, fn));
    int rc = create_inner(m, backbone, n_labels, seed, fn);
    if (rc < 0) {
        /* the encoder came from this library: a layer it cannot describe is the caller's argument */
        if (rc == MLCL_EFORMAT) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", mlcl_last_error());
            rc = mlcl__err(MLCL_EINVAL, "%s: backbone: %s", fn, msg);
        }
        mlcl_model_free(m);
        return rc;
    }
    *out = m;
    return MLCL_OK;
}

/* ------------------------------------------------------------------ export */

static int set_str(json_t *obj, const char *key, const char *val)
{
    json_t *s = json_string(val);
    return s ? json_object_set_new(obj, key, s) : -1;
}

/* The header's __metadata__ (string to string, as the format requires). */
static int fill_metadata(const mlcl_model *m, json_t *md)
{
    char v[128];
    int e = set_str(md, "format", "pt");
    snprintf(v, sizeof v, "libmlcl %s", mlcl_version_string());
    e |= set_str(md, "producer", v);
    e |= set_str(md, "mlcl.architecture", m->arch ? m->arch : "");
    snprintf(v, sizeof v, "%d", m->d);
    e |= set_str(md, "mlcl.n_features", v);
    snprintf(v, sizeof v, "%d", m->c);
    e |= set_str(md, "mlcl.n_labels", v);
    snprintf(v, sizeof v, "%d", m->h);
    e |= set_str(md, "mlcl.embedding_dim", v);
    e |= set_str(md, "mlcl.standardized", m->standardize ? "1" : "0");
    if (m->img) {
        snprintf(v, sizeof v, "%d,%d,%d", m->ic, m->ih, m->iw);
        e |= set_str(md, "mlcl.image_shape", v);
        snprintf(v, sizeof v, "%d,%d", m->oh, m->ow);
        e |= set_str(md, "mlcl.network_input", v);
    }
    json_t *names = json_array();
    if (!names) return -1;
    for (int j = 0; j < m->c; j++) e |= json_array_append_new(names, json_string(m->labels[j]));
    char *s = e ? NULL : json_dumps(names, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(names);
    if (!s) return -1;
    e |= set_str(md, "mlcl.label_names", s);
    free(s);
    char key[300];
    for (int i = 0; i < m->nprov && !e; i++) {
        snprintf(key, sizeof key, "mlcl.provenance.%s", m->prov_key[i]);
        e |= set_str(md, key, m->prov_val[i]);
    }
    return e ? -1 : 0;
}

int mlcl__model_metadata_json(const mlcl_model *m, char **out, const char *fn)
{
    json_t *md = json_object();
    *out = NULL;
    if (md && fill_metadata(m, md) == 0) *out = json_dumps(md, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(md);
    return *out ? MLCL_OK : mlcl__err(MLCL_ENOMEM, "%s: out of memory for the metadata", fn);
}

static json_t *shape_json(const mlcl__model_tensor *t)
{
    json_t *a = json_array();
    for (int k = 0; a && k < t->ndim; k++)
        if (json_array_append_new(a, json_integer((json_int_t)t->shape[k]))) { json_decref(a); return NULL; }
    return a;
}

static size_t tensor_numel(const mlcl__model_tensor *t)
{
    size_t n = 1;
    for (int k = 0; k < t->ndim; k++) n *= (size_t)t->shape[k];
    return n;
}

int mlcl_model_export_safetensors(const mlcl_model *m, const char *path)
{
    static const char fn[] = "mlcl_model_export_safetensors";
    MLCL_CHECK_NULL_AS(fn, m, "model");
    MLCL_CHECK_NULL(fn, path);
    if (!path[0]) return mlcl__err(MLCL_EINVAL, "%s: path is empty", fn);
    mlcl__model_tensor *t = NULL;
    int nt = 0;
    MLCL_TRY(mlcl__model_tensors(m, &t, &nt));
    json_t *root = json_object(), *md = json_object();
    int e = !root || !md;
    if (!e) e = fill_metadata(m, md) != 0;
    if (!e) { e = json_object_set_new(root, "__metadata__", md) != 0; md = NULL; }
    uint64_t off = 0;
    for (int i = 0; i < nt && !e; i++) {
        json_t *o = json_object(), *sh = shape_json(&t[i]), *offs = json_array();
        uint64_t len = 4 * (uint64_t)tensor_numel(&t[i]);
        e = !o || !sh || !offs || set_str(o, "dtype", "F32") || json_array_append_new(offs, json_integer((json_int_t)off)) ||
            json_array_append_new(offs, json_integer((json_int_t)(off + len)));
        if (!e) { e = json_object_set_new(o, "shape", sh) || json_object_set_new(o, "data_offsets", offs); sh = offs = NULL; }
        if (!e) { e = json_object_set_new(root, t[i].name, o) != 0; o = NULL; }
        json_decref(o);
        json_decref(sh);
        json_decref(offs);
        off += len;
    }
    char *hdr = e ? NULL : json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(root);
    json_decref(md);
    if (!hdr) { mlcl__free(t); return mlcl__err(MLCL_ENOMEM, "%s: %s: cannot build the JSON header (out of memory)", fn, path); }
    /* pad the header with spaces so that the data starts 8-byte aligned */
    size_t hl = strlen(hdr), pad = (8 - hl % 8) % 8;
    uint64_t n = hl + pad;
    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)(n >> (8 * k));
    mlcl__outfile o;
    int rc = mlcl__outfile_open(&o, path, "safetensors");
    if (rc == MLCL_OK) {
        mlcl__outfile_write(&o, len8, 8);
        mlcl__outfile_write(&o, hdr, hl);
        mlcl__outfile_write(&o, "        ", pad);
        for (int i = 0; i < nt; i++) mlcl__outfile_write_f32le(&o, t[i].data, tensor_numel(&t[i]));
        rc = mlcl__outfile_commit(&o);
    }
    free(hdr);
    mlcl__free(t);
    return rc;
}

/* ------------------------------------------------------------------ reading the header */

typedef struct st_entry {
    const char *name;     /* borrowed from the JSON document */
    int dtype;            /* index into DTYPES */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t b, e;        /* data offsets */
    int used;
} st_entry;

typedef struct st_file {
    int fd;
    const char *path;
    uint64_t size, hlen, dsize; /* file, header and data bytes */
    json_t *root;
    st_entry *ent;
    int n;
} st_file;

static const struct { const char *name; int size; } DTYPES[] = {
    { "F32", 4 }, { "F64", 8 }, { "F16", 2 }, { "BF16", 2 }, { "I64", 8 }, { "I32", 4 }, { "I16", 2 },
    { "I8", 1 }, { "U64", 8 }, { "U32", 4 }, { "U16", 2 }, { "U8", 1 }, { "BOOL", 1 },
    { "F8_E4M3", 1 }, { "F8_E5M2", 1 }
};
#define DT_F32 0
#define DT_I64 4

static void st_close(st_file *f)
{
    if (f->fd >= 0) close(f->fd);
    json_decref(f->root);
    mlcl__free(f->ent);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

static int read_exact(int fd, void *buf, size_t n, uint64_t off)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    return x->e < y->e ? -1 : x->e > y->e;
}

/* A non-negative JSON integer, or -1. */
static int64_t json_uint(const json_t *v)
{
    if (!json_is_integer(v)) return -1;
    json_int_t i = json_integer_value(v);
    return i < 0 ? -1 : (int64_t)i;
}

static int parse_entry(st_file *f, const char *key, json_t *v, st_entry *en, const char *fn)
{
    const char *p = f->path;
    if (!json_is_object(v)) return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%.128s' is not a JSON object", fn, p, key);
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"), *of = json_object_get(v, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(of))
        return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%.128s' needs \"dtype\" (a string), \"shape\" and \"data_offsets\" (arrays)",
                         fn, p, key);
    en->name = key;
    en->dtype = -1;
    for (int k = 0; k < (int)(sizeof DTYPES / sizeof DTYPES[0]); k++)
        if (!strcmp(json_string_value(dt), DTYPES[k].name)) en->dtype = k;
    if (en->dtype < 0) return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%.128s' has unknown dtype '%.32s'", fn, p, key, json_string_value(dt));
    size_t nd = json_array_size(sh);
    if (nd > ST_MAX_DIMS) return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%.128s' has %zu dimensions (at most %d)", fn, p, key, nd, ST_MAX_DIMS);
    en->ndim = (int)nd;
    /* element count, checked against the data size as it grows (no overflow) */
    uint64_t numel = 1;
    int zero = 0;
    for (size_t k = 0; k < nd; k++) {
        int64_t s = json_uint(json_array_get(sh, k));
        if (s < 0) return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%.128s': shape[%zu] is not a non-negative integer", fn, p, key, k);
        en->shape[k] = s;
        if (s == 0) zero = 1;
        else if (!zero) {
            if ((uint64_t)s > f->dsize / numel) /* numel * s > dsize, without overflowing */
                return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%.128s' has more elements than the file has bytes", fn, p, key);
            numel *= (uint64_t)s;
        }
    }
    if (zero) numel = 0;
    if (json_array_size(of) != 2) return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%.128s': data_offsets must be [begin, end]", fn, p, key);
    int64_t b = json_uint(json_array_get(of, 0)), e = json_uint(json_array_get(of, 1));
    if (b < 0 || e < 0) return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%.128s': data_offsets are not non-negative integers", fn, p, key);
    if ((uint64_t)b > (uint64_t)e || (uint64_t)e > f->dsize)
        return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%.128s': data_offsets [%lld, %lld] outside the %llu data bytes", fn, p, key,
                         (long long)b, (long long)e, (unsigned long long)f->dsize);
    if ((uint64_t)(e - b) != numel * (uint64_t)DTYPES[en->dtype].size)
        return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%.128s': %lld bytes for %llu elements of %s", fn, p, key,
                         (long long)(e - b), (unsigned long long)numel, DTYPES[en->dtype].name);
    en->b = (uint64_t)b;
    en->e = (uint64_t)e;
    return MLCL_OK;
}

static int st_open(st_file *f, const char *path, const char *fn)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    /* O_NONBLOCK: a FIFO must be refused below, not wait for a writer (no effect on regular files) */
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f->fd < 0) return mlcl__err(MLCL_EIO, "%s: cannot open %s: %s", fn, path, strerror(errno));
    struct stat st;
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) return mlcl__err(MLCL_EIO, "%s: %s is not a regular file", fn, path);
    f->size = (uint64_t)st.st_size;
    unsigned char l8[8];
    if (f->size < 8 || read_exact(f->fd, l8, 8, 0))
        return mlcl__err(MLCL_EFORMAT, "%s: %s: too short for a safetensors file (%llu bytes)", fn, path, (unsigned long long)f->size);
    for (int k = 7; k >= 0; k--) f->hlen = (f->hlen << 8) | l8[k];
    if (f->hlen < 2 || f->hlen > ST_MAX_HEADER || f->hlen > f->size - 8)
        return mlcl__err(MLCL_EFORMAT, "%s: %s: header length %llu does not fit (file %llu bytes, header at most %llu)", fn, path,
                         (unsigned long long)f->hlen, (unsigned long long)f->size, (unsigned long long)ST_MAX_HEADER);
    f->dsize = f->size - 8 - f->hlen;
    char *hdr = mlcl__malloc((size_t)f->hlen + 1);
    if (!hdr) return mlcl__err(MLCL_ENOMEM, "%s: %s: out of memory for a %llu-byte header", fn, path, (unsigned long long)f->hlen);
    if (read_exact(f->fd, hdr, (size_t)f->hlen, 8)) {
        mlcl__free(hdr);
        return mlcl__err(MLCL_EIO, "%s: %s: cannot read the header", fn, path);
    }
    json_error_t je;
    f->root = json_loadb(hdr, (size_t)f->hlen, JSON_REJECT_DUPLICATES, &je);
    mlcl__free(hdr);
    if (!f->root) return mlcl__err(MLCL_EFORMAT, "%s: %s: header is not valid JSON (byte %d: %.120s)", fn, path, je.position, je.text);
    if (!json_is_object(f->root)) return mlcl__err(MLCL_EFORMAT, "%s: %s: header is not a JSON object", fn, path);
    size_t cnt = json_object_size(f->root);
    f->ent = mlcl__calloc(cnt ? cnt : 1, sizeof *f->ent);
    if (!f->ent) return mlcl__err(MLCL_ENOMEM, "%s: %s: out of memory", fn, path);
    const char *key;
    json_t *v;
    json_object_foreach(f->root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(v)) return mlcl__err(MLCL_EFORMAT, "%s: %s: __metadata__ is not a JSON object", fn, path);
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv)
                if (!json_is_string(mv)) return mlcl__err(MLCL_EFORMAT, "%s: %s: __metadata__ '%.128s' is not a string", fn, path, mk);
            continue;
        }
        MLCL_TRY(parse_entry(f, key, v, &f->ent[f->n], fn));
        f->n++;
    }
    /* the tensors tile the data block: sorted by offset, each starts where the previous ended */
    st_entry *s = mlcl__malloc((f->n ? (size_t)f->n : 1) * sizeof *s);
    if (!s) return mlcl__err(MLCL_ENOMEM, "%s: %s: out of memory", fn, path);
    if (f->n) memcpy(s, f->ent, (size_t)f->n * sizeof *s);
    qsort(s, (size_t)f->n, sizeof *s, cmp_entry);
    uint64_t at = 0;
    int rc = MLCL_OK;
    for (int i = 0; i < f->n && rc == MLCL_OK; i++) {
        if (s[i].b < at)
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%.128s' overlaps '%.128s'", fn, path, s[i].name, s[i - 1].name);
        else if (s[i].b > at)
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: %llu unindexed data bytes before tensor '%.128s'", fn, path,
                           (unsigned long long)(s[i].b - at), s[i].name);
        at = s[i].e;
    }
    if (rc == MLCL_OK && at != f->dsize)
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: the tensors index %llu of the %llu data bytes", fn, path, (unsigned long long)at,
                       (unsigned long long)f->dsize);
    mlcl__free(s);
    return rc;
}

static st_entry *st_find(st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->ent[i].name, name)) return &f->ent[i];
    return NULL;
}

/* Reads tensor `name` (F32, the given shape) into dst. */
static int st_read_f32(st_file *f, const char *name, int ndim, const int64_t *shape, float *dst, const char *fn)
{
    st_entry *en = st_find(f, name);
    if (!en) return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%s' is missing", fn, f->path, name);
    if (en->dtype != DT_F32)
        return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%s' is %s; only F32 is read (convert with tensor.float())", fn, f->path,
                         name, DTYPES[en->dtype].name);
    int same = en->ndim == ndim;
    for (int k = 0; same && k < ndim; k++) same = en->shape[k] == shape[k];
    if (!same) {
        char a[160] = "", b[160] = "";
        for (int k = 0; k < en->ndim; k++) snprintf(a + strlen(a), sizeof a - strlen(a), "%s%lld", k ? ", " : "", (long long)en->shape[k]);
        for (int k = 0; k < ndim; k++) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%lld", k ? ", " : "", (long long)shape[k]);
        return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%s' has shape [%s], the model needs [%s]", fn, f->path, name, a, b);
    }
    en->used = 1;
    size_t n = (size_t)((en->e - en->b) / 4);
    unsigned char buf[4096];
    uint64_t off = 8 + f->hlen + en->b;
    for (size_t i = 0; i < n;) {
        size_t k = n - i < sizeof buf / 4 ? n - i : sizeof buf / 4;
        if (read_exact(f->fd, buf, 4 * k, off + 4 * (uint64_t)i))
            return mlcl__err(MLCL_EIO, "%s: %s: cannot read tensor '%s' (file changed?)", fn, f->path, name);
        for (size_t j = 0; j < k; j++) {
            uint32_t v = (uint32_t)buf[4 * j] | (uint32_t)buf[4 * j + 1] << 8 | (uint32_t)buf[4 * j + 2] << 16 |
                         (uint32_t)buf[4 * j + 3] << 24;
            memcpy(&dst[i + j], &v, 4);
        }
        i += k;
    }
    if (!mlcl__all_finite(dst, n)) return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%s' has NaN or Inf", fn, f->path, name);
    return MLCL_OK;
}

/* ------------------------------------------------------------------ import */

int mlcl_model_import_options_init(mlcl_model_import_options *opts, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_model_import_options_init", opts, version, MLCL_MODEL_IMPORT_OPTIONS_VERSION, mlcl_model_import_options, MLCL_MODEL_IMPORT_OPTIONS_INIT);
}

/* The new values, read before anything of the model changes. */
typedef struct staged {
    float *bparams, *bstate, *head, *mean, *std, *thr;
    int standardize;
} staged;

static void staged_free(staged *s)
{
    mlcl__free(s->bparams);
    mlcl__free(s->bstate);
    mlcl__free(s->head);
    mlcl__free(s->mean);
    mlcl__free(s->std);
    mlcl__free(s->thr);
}

static void swap_in(mlcl_model *m, staged *s)
{
    float *t;
    int i;
#define SWAP(a, b) (t = (a), (a) = (b), (b) = t)
    SWAP(m->bparams, s->bparams);
    SWAP(m->bstate, s->bstate);
    SWAP(m->head, s->head);
    SWAP(m->mean, s->mean);
    SWAP(m->std, s->std);
    SWAP(m->thr, s->thr);
#undef SWAP
    i = m->standardize; m->standardize = s->standardize; s->standardize = i;
}

static int dup_floats(float **dst, const float *src, size_t n, const char *fn)
{
    MLCL_TRY(mlcl__alloc_array((void **)dst, n ? n : 1, sizeof(float), fn));
    if (n) memcpy(*dst, src, n * sizeof(float));
    return MLCL_OK;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int import_inner(mlcl_model *m, st_file *f, const mlcl_model_import_options *o, staged *s, const char *fn)
{
    const char *bpre = o->backbone_prefix ? o->backbone_prefix : "backbone.";
    const char *hpre = o->head_prefix ? o->head_prefix : "head.";
    size_t nh = (size_t)m->c * m->h + (size_t)m->c;
    MLCL_TRY(dup_floats(&s->bparams, m->bparams, m->bnp, fn));
    MLCL_TRY(dup_floats(&s->bstate, m->bstate, m->bns, fn));
    MLCL_TRY(dup_floats(&s->head, m->head, nh, fn));
    MLCL_TRY(dup_floats(&s->mean, m->mean, (size_t)m->d, fn));
    MLCL_TRY(dup_floats(&s->std, m->std, (size_t)m->d, fn));
    MLCL_TRY(dup_floats(&s->thr, m->thr, (size_t)m->c, fn));
    s->standardize = m->standardize;
    mlcl__model_tensor *t = NULL;
    int nt = 0;
    MLCL_TRY(mlcl__model_tensors(m, &t, &nt));
    int rc = MLCL_OK;
    char name[512];
    for (int i = 0; i < nt && rc == MLCL_OK; i++) {
        const mlcl__model_tensor *x = &t[i];
        float *dst;
        if (!strncmp(x->name, "backbone.", 9)) {
            snprintf(name, sizeof name, "%s%s", bpre, x->name + 9);
            dst = x->is_state ? s->bstate + (x->data - m->bstate) : s->bparams + (x->data - m->bparams);
        } else if (o->backbone_only) {
            continue;
        } else if (!strncmp(x->name, "head.", 5)) {
            snprintf(name, sizeof name, "%s%s", hpre, x->name + 5);
            dst = s->head + (x->data - m->head);
        } else if (!strcmp(x->name, "thresholds")) {
            if (!st_find(f, "thresholds")) continue; /* optional */
            snprintf(name, sizeof name, "thresholds");
            dst = s->thr;
        } else {
            continue; /* the scaler, below */
        }
        rc = st_read_f32(f, name, x->ndim, x->shape, dst, fn);
    }
    mlcl__free(t);
    MLCL_TRY(rc);
    if (!o->backbone_only && !m->img) {
        int64_t sd[1] = { m->d };
        int have = (st_find(f, "scaler.mean") != NULL) + (st_find(f, "scaler.std") != NULL);
        if (m->standardize || have) {
            if (have == 1 && !m->standardize)
                return mlcl__err(MLCL_EFORMAT, "%s: %s: 'scaler.mean' and 'scaler.std' come together", fn, f->path);
            MLCL_TRY(st_read_f32(f, "scaler.mean", 1, sd, s->mean, fn));
            MLCL_TRY(st_read_f32(f, "scaler.std", 1, sd, s->std, fn));
            s->standardize = 1;
        }
    }
    for (int i = 0; i < f->n; i++) {
        st_entry *en = &f->ent[i];
        if (en->used) continue;
        /* BatchNorm's step counter: PyTorch reads it only with momentum=None */
        if (ends_with(en->name, ".num_batches_tracked") && en->dtype == DT_I64 && (en->ndim == 0 || (en->ndim == 1 && en->shape[0] == 1)))
            continue;
        if (!o->allow_unused)
            return mlcl__err(MLCL_EFORMAT, "%s: %s: tensor '%.128s' is not part of the model (prefixes \"%s\" / \"%s\"%s; "
                             "set allow_unused to ignore it)", fn, f->path, en->name, bpre, hpre,
                             o->backbone_only ? ", backbone only" : "");
    }
    return MLCL_OK;
}

int mlcl_model_import_safetensors(mlcl_model *m, const char *path, const mlcl_model_import_options *opts)
{
    static const char fn[] = "mlcl_model_import_safetensors";
    MLCL_CHECK_NULL_AS(fn, m, "model");
    MLCL_CHECK_NULL(fn, path);
    mlcl_model_import_options o = MLCL_MODEL_IMPORT_OPTIONS_INIT;
    if (opts) {
        MLCL_CHECK_VERSION(fn, opts, MLCL_MODEL_IMPORT_OPTIONS_VERSION);
        o = *opts;
    }
    if ((o.backbone_only != 0 && o.backbone_only != 1) || (o.allow_unused != 0 && o.allow_unused != 1))
        return mlcl__err(MLCL_EINVAL, "%s: opts->backbone_only and opts->allow_unused must be 0 or 1", fn);
    if ((o.backbone_prefix && strlen(o.backbone_prefix) > 255) || (o.head_prefix && strlen(o.head_prefix) > 255))
        return mlcl__err(MLCL_EINVAL, "%s: a prefix is longer than 255 bytes", fn);
    st_file f;
    staged s;
    memset(&s, 0, sizeof s);
    int rc = st_open(&f, path, fn);
    if (rc == MLCL_OK) rc = import_inner(m, &f, &o, &s, fn);
    st_close(&f);
    if (rc == MLCL_OK) {
        swap_in(m, &s);
        rc = mlcl__model_finish(m, fn);
        if (rc != MLCL_OK) {
            /* values the network rejects (e.g. a negative running variance): put the old ones back */
            char msg[512];
            snprintf(msg, sizeof msg, "%s", mlcl_last_error());
            swap_in(m, &s);
            int r2 = mlcl__model_finish(m, fn);
            rc = mlcl__err(rc == MLCL_ENOMEM || rc == MLCL_EBACKEND ? rc : MLCL_EFORMAT, "%s: %s: %s%s", fn, path, msg,
                           r2 == MLCL_OK ? "" : " (and the model could not be restored)");
        }
    }
    staged_free(&s);
    return rc;
}
