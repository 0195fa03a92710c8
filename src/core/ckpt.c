/* Checkpoint container.
 *
 * File layout (little-endian):
 *   "MLCLCKPT"  8 bytes magic
 *   u32 format version (MLCL_CKPT_FORMAT)
 *   u32 byte-order mark 0x01020304 as written by the host
 *   u64 payload size (uncompressed)
 *   u64 compressed size
 *   u32 CRC-32 of the uncompressed payload
 *   u32 CRC-32 of the 32 header bytes above
 *   compressed payload (zlib)
 * Payload: sections of { char tag[4]; u32 0; u64 length; bytes[length] }.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "ckpt.h"

static const char MAGIC[8] = { 'M', 'L', 'C', 'L', 'C', 'K', 'P', 'T' };
#define HDR 40

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t get32(const unsigned char *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = (v << 8) | p[i]; return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }

void mlcl__ckw_init(mlcl__ckw *w) { memset(w, 0, sizeof *w); }

void mlcl__ckw_free(mlcl__ckw *w)
{
    mlcl__free(w->buf);
    memset(w, 0, sizeof *w);
}

void mlcl__ckw_put(mlcl__ckw *w, const char tag[4], const void *data, size_t len)
{
    if (w->status) return;
    size_t need = w->len + 16 + len;
    if (need < w->len) { w->status = mlcl__err(MLCL_EOVERFLOW, "checkpoint: section too large"); return; }
    if (need > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < need) cap *= 2;
        unsigned char *nb = mlcl__malloc(cap);
        if (!nb) { w->status = mlcl__err(MLCL_ENOMEM, "checkpoint: cannot allocate %zu bytes", cap); return; }
        if (w->len) memcpy(nb, w->buf, w->len);
        mlcl__free(w->buf);
        w->buf = nb;
        w->cap = cap;
    }
    unsigned char *p = w->buf + w->len;
    memcpy(p, tag, 4);
    put32(p + 4, 0);
    put64(p + 8, len);
    if (len) memcpy(p + 16, data, len);
    w->len = need;
}

/* ---- sections of fields */

static void ckf_put(mlcl__ckf *f, uint64_t v, int bytes)
{
    if (f->len + (size_t)bytes > sizeof f->buf) { f->overflow = 1; return; }
    for (int i = 0; i < bytes; i++) f->buf[f->len++] = (unsigned char)(v >> (8 * i));
}

void mlcl__ckf_begin(mlcl__ckf *f, uint32_t version)
{
    f->len = 0;
    f->overflow = 0;
    ckf_put(f, version, 4);
}
void mlcl__ckf_i64(mlcl__ckf *f, int64_t v) { ckf_put(f, (uint64_t)v, 8); }
void mlcl__ckf_u64(mlcl__ckf *f, uint64_t v) { ckf_put(f, v, 8); }
void mlcl__ckf_f64(mlcl__ckf *f, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    ckf_put(f, u, 8);
}
void mlcl__ckf_f32(mlcl__ckf *f, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    ckf_put(f, u, 4);
}

void mlcl__ckw_put_fields(mlcl__ckw *w, const char tag[4], const mlcl__ckf *f)
{
    if (f->overflow && !w->status) w->status = mlcl__err(MLCL_EOVERFLOW, "checkpoint: section %.4s too large", tag);
    mlcl__ckw_put(w, tag, f->buf, f->len);
}

/* Header of model files and other containers (HDR2 = 48 bytes): the
 * checkpoint's fields, then the CRC-32 of the compressed bytes (so that every
 * bit of the file is under a CRC: a flipped bit deflate would decode to the
 * same payload is still caught), 4 reserved zero bytes, and the CRC-32 of
 * the first 44 header bytes. */
#define HDR2 48

/* Compresses the sections behind a header of hdr bytes (HDR: checkpoint,
 * HDR2: the others) and writes the file atomically; frees the buffer. */
static int commit_container(mlcl__ckw *w, const char *path, const char magic[8], uint32_t version, int level,
                            const char *what, size_t hdr)
{
    int rc = w->status;
    unsigned char *z = NULL;
    if (rc) goto out;
    uLongf zlen = compressBound((uLong)w->len);
    z = mlcl__malloc(hdr + zlen);
    if (!z) { rc = mlcl__err(MLCL_ENOMEM, "%s %s: out of memory", what, path); goto out; }
    if (compress2(z + hdr, &zlen, w->buf, (uLong)w->len, level) != Z_OK) {
        rc = mlcl__err(MLCL_ENOMEM, "%s %s: zlib compression failed", what, path);
        goto out;
    }
    memcpy(z, magic, 8);
    put32(z + 8, version);
    uint32_t bom = 0x01020304u;
    memcpy(z + 12, &bom, 4);
    put64(z + 16, w->len);
    put64(z + 24, zlen);
    put32(z + 32, (uint32_t)crc32(0L, w->buf, (uInt)w->len));
    if (hdr == HDR) {
        put32(z + 36, (uint32_t)crc32(0L, z, 36));
    } else {
        put32(z + 36, (uint32_t)crc32(0L, z + HDR2, (uInt)zlen));
        put32(z + 40, 0);
        put32(z + 44, (uint32_t)crc32(0L, z, 44));
    }
    const void *bufs[1] = { z };
    size_t lens[1] = { hdr + (size_t)zlen };
    rc = mlcl__write_atomic(path, what, bufs, lens, 1);
out:
    mlcl__free(z);
    mlcl__ckw_free(w);
    return rc;
}

int mlcl__ckw_commit(mlcl__ckw *w, const char *path)
{
    return commit_container(w, path, MAGIC, MLCL_CKPT_FORMAT, 1, "checkpoint", HDR);
}

int mlcl__ckw_commit_as(mlcl__ckw *w, const char *path, const char magic[8], uint32_t version, int level,
                        const char *what)
{
    return commit_container(w, path, magic, version, level, what, HDR2);
}

/* Section lengths need not be multiples of 8, so a section's data may sit at
 * any offset; readers use the data in place as float and uint64_t arrays.
 * Re-lays the (validated) chain so that every section starts 8-byte aligned,
 * inserting padding sections (tag "\0PAD", which no lookup matches). */
static int align_sections(mlcl__ckr *r)
{
    size_t nlen = 0;
    for (size_t off = 0; off < r->len;) {
        size_t l = (size_t)get64(r->buf + off + 8);
        if (nlen % 8) nlen += 16 + (8 - nlen % 8);
        nlen += 16 + l;
        off += 16 + l;
    }
    if (nlen == r->len) return MLCL_OK;
    unsigned char *nb = mlcl__malloc(nlen + 1);
    if (!nb) return mlcl__err(MLCL_ENOMEM, "checkpoint %s: out of memory", r->path);
    size_t noff = 0;
    for (size_t off = 0; off < r->len;) {
        size_t l = (size_t)get64(r->buf + off + 8);
        if (noff % 8) {
            size_t pad = 8 - noff % 8;
            memcpy(nb + noff, "\0PAD", 4);
            put32(nb + noff + 4, 0);
            put64(nb + noff + 8, pad);
            memset(nb + noff + 16, 0, pad);
            noff += 16 + pad;
        }
        memcpy(nb + noff, r->buf + off, 16 + l);
        noff += 16 + l;
        off += 16 + l;
    }
    mlcl__free(r->buf);
    r->buf = nb;
    r->len = nlen;
    return MLCL_OK;
}

int mlcl__ckr_get(const mlcl__ckr *r, const char tag[4], const void **data, size_t *len, size_t want)
{
    for (size_t off = 0; off < r->len;) {
        uint64_t l = get64(r->buf + off + 8);
        if (memcmp(r->buf + off, tag, 4) == 0) {
            if (want != (size_t)-1 && l != want)
                return mlcl__err(MLCL_EFORMAT, "checkpoint %s: section %.4s has %llu bytes, expected %zu (different options or data shape?)",
                                 r->path, tag, (unsigned long long)l, want);
            *data = r->buf + off + 16;
            if (len) *len = (size_t)l;
            return MLCL_OK;
        }
        off += 16 + (size_t)l;
    }
    return mlcl__err(MLCL_EFORMAT, "checkpoint %s: section %.4s missing", r->path, tag);
}

int mlcl__ckr_copy(const mlcl__ckr *r, const char tag[4], void *dst, size_t len)
{
    const void *p;
    MLCL_TRY(mlcl__ckr_get(r, tag, &p, NULL, len));
    if (len) memcpy(dst, p, len);
    return MLCL_OK;
}

static uint64_t ckfr_get(mlcl__ckfr *f, int bytes)
{
    if (f->len - f->off < (size_t)bytes) { f->bad = 1; f->off = f->len; return 0; }
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | f->p[f->off + (size_t)i];
    f->off += (size_t)bytes;
    return v;
}

int mlcl__ckr_fields(const mlcl__ckr *r, const char tag[4], uint32_t version, mlcl__ckfr *f)
{
    const void *p;
    size_t len;
    memset(f, 0, sizeof *f);
    MLCL_TRY(mlcl__ckr_get(r, tag, &p, &len, (size_t)-1));
    f->p = p;
    f->len = len;
    uint32_t v = (uint32_t)ckfr_get(f, 4);
    if (f->bad) return mlcl__err(MLCL_EFORMAT, "checkpoint %s: section %.4s is empty", r->path, tag);
    if (v != version)
        return mlcl__err(MLCL_EVERSION, "checkpoint %s: section %.4s has version %u, this library reads %u", r->path, tag,
                         v, version);
    return MLCL_OK;
}
int64_t mlcl__ckfr_i64(mlcl__ckfr *f) { return (int64_t)ckfr_get(f, 8); }
uint64_t mlcl__ckfr_u64(mlcl__ckfr *f) { return ckfr_get(f, 8); }
double mlcl__ckfr_f64(mlcl__ckfr *f)
{
    uint64_t u = ckfr_get(f, 8);
    double v;
    memcpy(&v, &u, 8);
    return v;
}
float mlcl__ckfr_f32(mlcl__ckfr *f)
{
    uint32_t u = (uint32_t)ckfr_get(f, 4);
    float v;
    memcpy(&v, &u, 4);
    return v;
}
int mlcl__ckfr_end(const mlcl__ckr *r, const char tag[4], const mlcl__ckfr *f)
{
    if (f->bad || f->off != f->len)
        return mlcl__err(MLCL_EFORMAT, "checkpoint %s: section %.4s has %zu bytes, its fields %s", r->path, tag, f->len,
                         f->bad ? "need more" : "need fewer");
    return MLCL_OK;
}

void mlcl__ckr_close(mlcl__ckr *r)
{
    mlcl__free(r->buf);
    r->buf = NULL;
    r->len = 0;
}

/* ------------------------------------------------------------ reading */

/* Inflates z into a buffer that grows with the output, up to exactly plen bytes. */
static int inflate_bounded(const unsigned char *z, size_t zlen, size_t plen, unsigned char **out, const char *what,
                           const char *path)
{
    size_t cap = plen < zlen * 4 + 4096 ? plen : zlen * 4 + 4096;
    unsigned char *buf = mlcl__malloc(cap + 1);
    if (!buf) return mlcl__err(MLCL_ENOMEM, "%s %s: out of memory", what, path);
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit(&s) != Z_OK) { mlcl__free(buf); return mlcl__err(MLCL_ENOMEM, "%s %s: zlib initialisation failed", what, path); }
    int rc = MLCL_OK, zr = Z_OK;
    size_t in_off = 0, have = 0;
    unsigned char one;
    while (zr != Z_STREAM_END) {
        if (have == cap && cap < plen) {
            size_t ncap = cap * 2 < plen ? cap * 2 : plen;
            unsigned char *nb = mlcl__malloc(ncap + 1);
            if (!nb) { rc = mlcl__err(MLCL_ENOMEM, "%s %s: out of memory", what, path); break; }
            memcpy(nb, buf, have);
            mlcl__free(buf);
            buf = nb;
            cap = ncap;
        }
        size_t in_chunk = zlen - in_off > (1u << 30) ? (1u << 30) : zlen - in_off;
        size_t out_room = cap - have > (1u << 30) ? (1u << 30) : cap - have;
        s.next_in = (Bytef *)(z + in_off);
        s.avail_in = (uInt)in_chunk;
        /* with the buffer full, probe one byte: more output means a payload longer than declared */
        s.next_out = out_room ? buf + have : &one;
        s.avail_out = out_room ? (uInt)out_room : 1;
        zr = inflate(&s, Z_NO_FLUSH);
        in_off += in_chunk - s.avail_in;
        if (!out_room) {
            if (s.avail_out == 0 || zr != Z_STREAM_END) { rc = mlcl__err(MLCL_EFORMAT, "%s %s: the payload is longer than its declared %zu bytes", what, path, plen); break; }
        } else {
            have += out_room - s.avail_out;
        }
        if (zr == Z_STREAM_END) break;
        if (zr != Z_OK && zr != Z_BUF_ERROR) { rc = mlcl__err(MLCL_ECHECKSUM, "%s %s: compressed payload is corrupted", what, path); break; }
        if (zr == Z_BUF_ERROR && in_off == zlen && s.avail_in == 0 && have < cap) {
            rc = mlcl__err(MLCL_EFORMAT, "%s %s: compressed payload is truncated", what, path);
            break;
        }
    }
    inflateEnd(&s);
    if (rc == MLCL_OK && (have != plen || in_off != zlen))
        rc = mlcl__err(MLCL_EFORMAT, "%s %s: payload is %zu bytes from %zu of %zu compressed bytes, declared %zu", what, path,
                       have, in_off, zlen, plen);
    if (rc) { mlcl__free(buf); return rc; }
    *out = buf;
    return MLCL_OK;
}

/* The one reader of both header layouts: hdr HDR (checkpoints: CRC of the
 * first 36 header bytes) or HDR2 (model files: CRC of the compressed bytes
 * and of the first 44 header bytes). The file must be regular and exactly as
 * long as its header says; memory grows with the data actually inflated. */
static int open_container(mlcl__ckr *r, const char *path, const char magic[8], uint32_t version, size_t hdr,
                          size_t max_payload, const char *what)
{
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    FILE *f = fopen(path, "rb");
    if (!f) return mlcl__err(MLCL_EIO, "%s %s: cannot open: %s", what, path, strerror(errno));
    unsigned char h[HDR2];
    int rc = MLCL_OK;
    unsigned char *z = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) { rc = mlcl__err(MLCL_EIO, "%s %s: not a regular file", what, path); goto out; }
    if (fread(h, 1, hdr, f) != hdr) { rc = mlcl__err(MLCL_EFORMAT, "%s %s: truncated header (%lld bytes)", what, path, (long long)st.st_size); goto out; }
    if (memcmp(h, magic, 8) != 0) { rc = mlcl__err(MLCL_EFORMAT, "%s %s: not a libmlcl %s file (bad magic)", what, path, what); goto out; }
    if ((uint32_t)crc32(0L, h, (uInt)hdr - 4) != get32(h + hdr - 4)) { rc = mlcl__err(MLCL_ECHECKSUM, "%s %s: header checksum mismatch", what, path); goto out; }
    if (get32(h + 8) != version) {
        rc = hdr == HDR && get32(h + 8) < version
                 ? mlcl__err(MLCL_EVERSION, "%s %s: format %u was written by an older libmlcl; this library reads "
                             "format %u only (train again)", what, path, get32(h + 8), version)
                 : mlcl__err(MLCL_EVERSION, "%s %s: format %u, this library reads format %u", what, path, get32(h + 8), version);
        goto out;
    }
    uint32_t bom;
    memcpy(&bom, h + 12, 4);
    if (bom != 0x01020304u) { rc = mlcl__err(MLCL_EFORMAT, "%s %s: written on a host of other byte order", what, path); goto out; }
    uint64_t plen = get64(h + 16), zlen = get64(h + 24);
    uint64_t fsz = (uint64_t)st.st_size;
    if (zlen != fsz - hdr) {
        rc = mlcl__err(MLCL_EFORMAT, "%s %s: %s (file has %llu bytes, header says %llu)", what, path,
                       zlen > fsz - hdr ? "truncated" : "trailing bytes after the end of the payload",
                       (unsigned long long)fsz, (unsigned long long)(zlen + hdr));
        goto out;
    }
    /* zlib cannot expand more than 1032:1; max_payload caps the rest */
    if (plen > max_payload || plen / 1032 > zlen + 1) {
        rc = mlcl__err(MLCL_EFORMAT, "%s %s: implausible payload size %llu for %llu compressed bytes", what, path,
                       (unsigned long long)plen, (unsigned long long)zlen);
        goto out;
    }
    z = mlcl__malloc((size_t)zlen + 1);
    if (!z) { rc = mlcl__err(MLCL_ENOMEM, "%s %s: out of memory", what, path); goto out; }
    if (fread(z, 1, (size_t)zlen, f) != zlen) { rc = mlcl__err(MLCL_EIO, "%s %s: read failed", what, path); goto out; }
    if (hdr == HDR2 && (uint32_t)crc32(0L, z, (uInt)zlen) != get32(h + 36)) { rc = mlcl__err(MLCL_ECHECKSUM, "%s %s: compressed payload checksum mismatch", what, path); goto out; }
    rc = inflate_bounded(z, (size_t)zlen, (size_t)plen, &r->buf, what, path);
    if (rc) goto out;
    if ((uint32_t)crc32(0L, r->buf, (uInt)plen) != get32(h + 32)) { rc = mlcl__err(MLCL_ECHECKSUM, "%s %s: payload checksum mismatch", what, path); goto out; }
    r->len = (size_t)plen;
    /* validate the section chain once so lookups can trust it */
    for (size_t off = 0; off < r->len;) {
        if (r->len - off < 16) { rc = mlcl__err(MLCL_EFORMAT, "%s %s: broken section table", what, path); goto out; }
        uint64_t l = get64(r->buf + off + 8);
        if (l > r->len - off - 16) { rc = mlcl__err(MLCL_EFORMAT, "%s %s: section overruns the file", what, path); goto out; }
        off += 16 + (size_t)l;
    }
    rc = align_sections(r);
out:
    fclose(f);
    mlcl__free(z);
    if (rc) mlcl__ckr_close(r);
    return rc;
}

int mlcl__ckr_open(mlcl__ckr *r, const char *path)
{
    return open_container(r, path, MAGIC, MLCL_CKPT_FORMAT, HDR, (size_t)1 << 40, "checkpoint");
}

int mlcl__ckr_open_as(mlcl__ckr *r, const char *path, const char magic[8], uint32_t version, size_t max_payload,
                      const char *what)
{
    return open_container(r, path, magic, version, HDR2, max_payload, what);
}
