/* NumPy .npz export (mlcl_model_export_npz): a zip archive of stored
 * (uncompressed) entries "<tensor name>.npy", as np.savez writes, plus
 * "__metadata__.npy", a 0-d unicode array holding the JSON metadata of the
 * safetensors export. No zip64: an archive of 4 GB or more, or of 65535
 * entries or more, is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "model_internal.h"
#include "core/outfile.h"

static const char FN[] = "mlcl_model_export_npz";

static void le16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void le32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }

/* The .npy v1.0 header of an array: magic, version, length, the dict padded to 64 bytes. */
static size_t npy_header(unsigned char *h, size_t cap, const char *descr, int ndim, const int64_t *shape)
{
    char dict[256], sh[160] = "";
    for (int k = 0; k < ndim; k++)
        snprintf(sh + strlen(sh), sizeof sh - strlen(sh), "%lld%s", (long long)shape[k], ndim == 1 ? "," : (k + 1 < ndim ? ", " : ""));
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, sh);
    size_t total = 10 + (size_t)n + 1;
    total = (total + 63) / 64 * 64;
    if (total > cap) return 0;
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    le16(h + 8, (unsigned)(total - 10));
    memcpy(h + 10, dict, (size_t)n);
    memset(h + 10 + n, ' ', total - 10 - (size_t)n - 1);
    h[total - 1] = '\n';
    return total;
}

typedef struct entry {
    char name[160];
    uint32_t crc, size, off;
} entry;

/* One stored zip entry: local header, then the bytes. */
static int put_entry(mlcl__outfile *o, entry *e, const unsigned char *data, size_t len, uint64_t *pos)
{
    size_t nl = strlen(e->name);
    if (len >= 0xffffffffu || *pos + 30 + nl + len >= 0xffffffffu)
        return mlcl__err(MLCL_EOVERFLOW, "%s: %s: the archive would reach 4 GB (zip64 is not written)", FN, o->path);
    e->crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)len);
    e->size = (uint32_t)len;
    e->off = (uint32_t)*pos;
    unsigned char h[30];
    le32(h, 0x04034b50u);
    le16(h + 4, 20);          /* version needed: 2.0 */
    le16(h + 6, 0);           /* flags */
    le16(h + 8, 0);           /* stored */
    le16(h + 10, 0);          /* time 00:00 */
    le16(h + 12, 0x21);       /* date 1980-01-01 */
    le32(h + 14, e->crc);
    le32(h + 18, e->size);
    le32(h + 22, e->size);
    le16(h + 26, (unsigned)nl);
    le16(h + 28, 0);
    mlcl__outfile_write(o, h, 30);
    mlcl__outfile_write(o, e->name, nl);
    mlcl__outfile_write(o, data, len);
    *pos += 30 + nl + len;
    return o->status;
}

static int write_archive(mlcl__outfile *o, const mlcl_model *m, const mlcl__model_tensor *t, int nt, const char *meta,
                         entry *ents)
{
    uint64_t pos = 0;
    unsigned char *buf = NULL;
    int rc = MLCL_OK;
    for (int i = 0; i <= nt && rc == MLCL_OK; i++) {
        unsigned char h[512];
        size_t hl, n;
        if (i < nt) {
            n = 1;
            for (int k = 0; k < t[i].ndim; k++) n *= (size_t)t[i].shape[k];
            hl = npy_header(h, sizeof h, "<f4", t[i].ndim, t[i].shape);
            snprintf(ents[i].name, sizeof ents[i].name, "%s.npy", t[i].name);
            n *= 4;
        } else {
            /* 0-d unicode array: UTF-32LE of the (ASCII) JSON */
            char descr[32];
            n = strlen(meta);
            snprintf(descr, sizeof descr, "<U%zu", n);
            hl = npy_header(h, sizeof h, descr, 0, NULL);
            snprintf(ents[i].name, sizeof ents[i].name, "__metadata__.npy");
            n *= 4;
        }
        if (!hl) { rc = mlcl__err(MLCL_EINVAL, "%s: tensor %d: shape too long for an .npy header", FN, i); break; }
        mlcl__free(buf);
        buf = mlcl__malloc(hl + n + 1);
        if (!buf) { rc = mlcl__err(MLCL_ENOMEM, "%s: %s: out of memory", FN, o->path); break; }
        memcpy(buf, h, hl);
        if (i < nt) {
            for (size_t k = 0; k < n / 4; k++) {
                uint32_t v;
                memcpy(&v, &t[i].data[k], 4);
                le32(buf + hl + 4 * k, v);
            }
        } else {
            for (size_t k = 0; k < n / 4; k++) le32(buf + hl + 4 * k, (uint32_t)(unsigned char)meta[k]);
        }
        rc = put_entry(o, &ents[i], buf, hl + n, &pos);
    }
    mlcl__free(buf);
    if (rc != MLCL_OK) return rc;
    /* central directory, then its end record */
    uint64_t cd = pos, cdlen = 0;
    for (int i = 0; i <= nt; i++) {
        unsigned char h[46];
        size_t nl = strlen(ents[i].name);
        le32(h, 0x02014b50u);
        le16(h + 4, 20);
        le16(h + 6, 20);
        le16(h + 8, 0);
        le16(h + 10, 0);
        le16(h + 12, 0);
        le16(h + 14, 0x21);
        le32(h + 16, ents[i].crc);
        le32(h + 20, ents[i].size);
        le32(h + 24, ents[i].size);
        le16(h + 28, (unsigned)nl);
        le16(h + 30, 0);
        le16(h + 32, 0);
        le16(h + 34, 0);
        le16(h + 36, 0);
        le32(h + 38, 0);
        le32(h + 42, ents[i].off);
        mlcl__outfile_write(o, h, 46);
        mlcl__outfile_write(o, ents[i].name, nl);
        cdlen += 46 + nl;
    }
    if (cd + cdlen >= 0xffffffffu) return mlcl__err(MLCL_EOVERFLOW, "%s: %s: the archive would reach 4 GB", FN, o->path);
    unsigned char e[22];
    le32(e, 0x06054b50u);
    le16(e + 4, 0);
    le16(e + 6, 0);
    le16(e + 8, (unsigned)(nt + 1));
    le16(e + 10, (unsigned)(nt + 1));
    le32(e + 12, (uint32_t)cdlen);
    le32(e + 16, (uint32_t)cd);
    le16(e + 20, 0);
    mlcl__outfile_write(o, e, 22);
    (void)m;
    return o->status;
}

int mlcl_model_export_npz(const mlcl_model *m, const char *path)
{
    MLCL_CHECK_NULL_AS(FN, m, "model");
    MLCL_CHECK_NULL(FN, path);
    if (!path[0]) return mlcl__err(MLCL_EINVAL, "%s: path is empty", FN);
    mlcl__model_tensor *t = NULL;
    int nt = 0;
    MLCL_TRY(mlcl__model_tensors(m, &t, &nt));
    if (nt + 1 >= 0xffff) { mlcl__free(t); return mlcl__err(MLCL_EOVERFLOW, "%s: %d tensors: more than a zip without zip64 holds", FN, nt); }
    char *meta = NULL;
    entry *ents = mlcl__calloc((size_t)nt + 1, sizeof *ents);
    int rc = ents ? mlcl__model_metadata_json(m, &meta, FN) : mlcl__err(MLCL_ENOMEM, "%s: out of memory", FN);
    if (rc == MLCL_OK) {
        mlcl__outfile o;
        rc = mlcl__outfile_open(&o, path, "npz");
        if (rc == MLCL_OK) {
            rc = write_archive(&o, m, t, nt, meta, ents);
            if (rc == MLCL_OK) rc = mlcl__outfile_commit(&o);
            else mlcl__outfile_abort(&o);
        }
    }
    free(meta);
    mlcl__free(ents);
    mlcl__free(t);
    return rc;
}
