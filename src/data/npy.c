/* NumPy .npy reader (format versions 1-3) and .npz archives (zip: stored or
 * deflated entries, CRC-32 checked, zip64), converted to float; the dataset
 * loader built on it. No size read from a file is trusted: every size is
 * checked against the file size (or the zip entry size) before use. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include "data/data_internal.h"

#define CHUNK 65536
/* npy headers are short (numpy caps them at 10000 bytes by default). */
#define MAX_HEADER (1u << 20)
/* deflate cannot expand by more than ~1032:1 */
#define MAX_DEFLATE_RATIO 1040u

/* A byte source: a plain file region or a deflated zip entry. */
typedef struct bsrc {
    FILE *f;
    const char *fn, *path, *key; /* for messages; key NULL for .npy */
    int deflated;
    uint64_t in_left;   /* bytes of the file region not yet read */
    uint64_t out_left;  /* bytes the entry still holds (uncompressed) */
    uint32_t crc, want_crc;
    int check_crc;
    z_stream z;
    int z_init, z_end;
    unsigned char *inbuf; /* CHUNK bytes, deflated only */
} bsrc;

static int src_err(const bsrc *s, int status, const char *fmt, ...) MLCL_PRINTF(3, 4);
static int src_err(const bsrc *s, int status, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->key) return mlcl__err(status, "%s: %s: entry '%s.npy': %s", s->fn, s->path, s->key, msg);
    return mlcl__err(status, "%s: %s: %s", s->fn, s->path, msg);
}

/* Reads exactly n bytes (n <= the bytes the source still holds, else EFORMAT). */
static int src_read(bsrc *s, void *buf, size_t n)
{
    if ((uint64_t)n > s->out_left) return src_err(s, MLCL_EFORMAT, "truncated (needs %zu more bytes, %llu left)", n, (unsigned long long)s->out_left);
    if (n == 0) return MLCL_OK;
    if (!s->deflated) {
        size_t got = fread(buf, 1, n, s->f);
        if (got != n) {
            if (ferror(s->f)) return src_err(s, MLCL_EIO, "read error: %s", strerror(errno));
            return src_err(s, MLCL_EFORMAT, "truncated file");
        }
        s->in_left -= n;
    } else {
        s->z.next_out = buf;
        s->z.avail_out = (uInt)n;
        while (s->z.avail_out > 0) {
            if (s->z_end) return src_err(s, MLCL_EFORMAT, "deflate stream ends early");
            if (s->z.avail_in == 0 && s->in_left > 0) {
                size_t want = s->in_left < CHUNK ? (size_t)s->in_left : CHUNK;
                size_t got = fread(s->inbuf, 1, want, s->f);
                if (got != want) {
                    if (ferror(s->f)) return src_err(s, MLCL_EIO, "read error: %s", strerror(errno));
                    return src_err(s, MLCL_EFORMAT, "truncated file");
                }
                s->in_left -= got;
                s->z.next_in = s->inbuf;
                s->z.avail_in = (uInt)got;
            }
            uInt before_in = s->z.avail_in, before_out = s->z.avail_out;
            int zr = inflate(&s->z, Z_NO_FLUSH);
            if (zr == Z_STREAM_END) s->z_end = 1;
            else if (zr == Z_BUF_ERROR && before_in == s->z.avail_in && before_out == s->z.avail_out) {
                return src_err(s, MLCL_EFORMAT, "deflate stream truncated");
            } else if (zr != Z_OK) {
                return src_err(s, MLCL_EFORMAT, "corrupt deflate stream (%s)", s->z.msg ? s->z.msg : "zlib error");
            }
        }
    }
    if (s->check_crc) s->crc = (uint32_t)crc32(s->crc, buf, (uInt)n);
    s->out_left -= n;
    return MLCL_OK;
}

static inline int mlcl__little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static inline uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

/* ------------------------------------------------------------------------ */
/* The npy header */

typedef struct npy_hdr {
    char kind;      /* 'f', 'u', 'i', 'b' */
    int size;       /* item size in bytes */
    int big;        /* big-endian */
    int ndim;
    int64_t shape[MLCL_NPY_MAX_DIMS];
} npy_hdr;

static const char *skip_sp(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Parses a quoted string; on success out and len describe it (inside the header). */
static const char *parse_str(const char *p, const char *e, const char **out, size_t *len)
{
    if (p >= e || (*p != '\'' && *p != '"')) return NULL;
    char q = *p++;
    const char *s = p;
    while (p < e && *p != q) {
        if (*p == '\\') return NULL;
        p++;
    }
    if (p >= e) return NULL;
    *out = s;
    *len = (size_t)(p - s);
    return p + 1;
}

static int parse_descr(bsrc *s, npy_hdr *h, const char *d, size_t len)
{
    if (len < 3 || len > 4) goto bad;
    char bo = d[0];
    if (bo != '<' && bo != '>' && bo != '|' && bo != '=') goto bad;
    char kind = d[1];
    int size = 0;
    for (size_t i = 2; i < len; i++) {
        if (d[i] < '0' || d[i] > '9') goto bad;
        size = size * 10 + (d[i] - '0');
    }
    int ok = (kind == 'f' && (size == 4 || size == 8)) ||
             ((kind == 'u' || kind == 'i') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
             (kind == 'b' && size == 1);
    if (!ok) goto bad;
    if (bo == '|' && size != 1) goto bad;
    h->kind = kind;
    h->size = size;
    h->big = bo == '>';
    return MLCL_OK;
bad:
    return src_err(s, MLCL_EFORMAT, "unsupported dtype '%.*s' (supported: f4, f8, u1..u8, i1..i8, b1)",
                   (int)(len > 16 ? 16 : len), d);
}

static int parse_header(bsrc *s, npy_hdr *h, const char *p, const char *e)
{
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    p = skip_sp(p, e);
    if (p >= e || *p != '{') return src_err(s, MLCL_EFORMAT, "header is not a dict");
    p++;
    for (;;) {
        p = skip_sp(p, e);
        if (p < e && *p == '}') { p++; break; }
        const char *k;
        size_t klen;
        p = parse_str(p, e, &k, &klen);
        if (!p) return src_err(s, MLCL_EFORMAT, "bad header dict (expected a quoted key)");
        p = skip_sp(p, e);
        if (p >= e || *p != ':') return src_err(s, MLCL_EFORMAT, "bad header dict (expected ':')");
        p = skip_sp(p + 1, e);
        if (klen == 5 && memcmp(k, "descr", 5) == 0) {
            const char *d;
            size_t dlen;
            if (have_descr) return src_err(s, MLCL_EFORMAT, "bad header dict (descr repeated)");
            const char *q = parse_str(p, e, &d, &dlen);
            if (!q) return src_err(s, MLCL_EFORMAT, "unsupported dtype (descr is not a simple type string)");
            MLCL_TRY(parse_descr(s, h, d, dlen));
            p = q;
            have_descr = 1;
        } else if (klen == 13 && memcmp(k, "fortran_order", 13) == 0) {
            if (have_fortran) return src_err(s, MLCL_EFORMAT, "bad header dict (fortran_order repeated)");
            if (e - p >= 4 && memcmp(p, "True", 4) == 0)
                return src_err(s, MLCL_EFORMAT, "fortran_order is True (only C order is supported)");
            if (!(e - p >= 5 && memcmp(p, "False", 5) == 0))
                return src_err(s, MLCL_EFORMAT, "bad header dict (fortran_order is not True/False)");
            p += 5;
            have_fortran = 1;
        } else if (klen == 5 && memcmp(k, "shape", 5) == 0) {
            if (have_shape) return src_err(s, MLCL_EFORMAT, "bad header dict (shape repeated)");
            if (p >= e || *p != '(') return src_err(s, MLCL_EFORMAT, "bad header dict (shape is not a tuple)");
            p++;
            h->ndim = 0;
            for (;;) {
                p = skip_sp(p, e);
                if (p < e && *p == ')') { p++; break; }
                if (p >= e || *p < '0' || *p > '9')
                    return src_err(s, MLCL_EFORMAT, "bad header dict (shape entry is not a non-negative integer)");
                int64_t v = 0;
                while (p < e && *p >= '0' && *p <= '9') {
                    if (v > (INT64_MAX - 9) / 10) return src_err(s, MLCL_EOVERFLOW, "shape entry too large");
                    v = v * 10 + (*p - '0');
                    p++;
                }
                if (p < e && *p == 'L') p++;
                if (h->ndim >= MLCL_NPY_MAX_DIMS)
                    return src_err(s, MLCL_EFORMAT, "more than %d dimensions", MLCL_NPY_MAX_DIMS);
                h->shape[h->ndim++] = v;
                p = skip_sp(p, e);
                if (p < e && *p == ',') { p++; continue; }
                if (p < e && *p == ')') { p++; break; }
                return src_err(s, MLCL_EFORMAT, "bad header dict (shape tuple)");
            }
            have_shape = 1;
        } else {
            return src_err(s, MLCL_EFORMAT, "bad header dict (unknown key '%.*s')", (int)(klen > 32 ? 32 : klen), k);
        }
        p = skip_sp(p, e);
        if (p < e && *p == ',') { p++; continue; }
        if (p < e && *p == '}') { p++; break; }
        return src_err(s, MLCL_EFORMAT, "bad header dict (expected ',' or '}')");
    }
    p = skip_sp(p, e);
    if (p != e) return src_err(s, MLCL_EFORMAT, "bad header (text after the dict)");
    if (!have_descr || !have_fortran || !have_shape)
        return src_err(s, MLCL_EFORMAT, "bad header dict (missing %s)",
                       !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    return MLCL_OK;
}

/* Reads the magic, version and header of an npy stream. */
static int read_npy_header(bsrc *s, npy_hdr *h)
{
    unsigned char m[12];
    memset(h, 0, sizeof *h);
    if (s->out_left < 10) return src_err(s, MLCL_EFORMAT, "too short for an npy file");
    MLCL_TRY(src_read(s, m, 8));
    if (memcmp(m, "\x93NUMPY", 6) != 0) return src_err(s, MLCL_EFORMAT, "bad magic (not an npy file)");
    int major = m[6];
    uint32_t hlen;
    if (major == 1) {
        MLCL_TRY(src_read(s, m + 8, 2));
        hlen = rd16(m + 8);
    } else if (major == 2 || major == 3) {
        MLCL_TRY(src_read(s, m + 8, 4));
        hlen = rd32(m + 8);
    } else {
        return src_err(s, MLCL_EFORMAT, "unsupported npy format version %d.%d", major, m[7]);
    }
    if (hlen > MAX_HEADER || hlen > s->out_left)
        return src_err(s, MLCL_EFORMAT, "header length %u exceeds the file", (unsigned)hlen);
    char stackbuf[1024];
    char *hb = stackbuf;
    if (hlen > sizeof stackbuf) {
        hb = mlcl__malloc(hlen);
        if (!hb) return src_err(s, MLCL_ENOMEM, "cannot allocate the %u-byte header", (unsigned)hlen);
    }
    int rc = src_read(s, hb, hlen);
    if (rc == MLCL_OK) {
        const char *e = hb + hlen;
        if (hlen == 0 || e[-1] != '\n') rc = src_err(s, MLCL_EFORMAT, "bad header (not terminated by a newline)");
        else if (memchr(hb, 0, hlen)) rc = src_err(s, MLCL_EFORMAT, "bad header (NUL byte)");
        else rc = parse_header(s, h, hb, e);
    }
    if (hb != stackbuf) mlcl__free(hb);
    return rc;
}

/* Converts count items of the header's type from raw to float. */
/* Where an element is, for messages: "element 12" or "row 3, column 4" when
 * the array is read as n rows of `row` elements. */
static void where(char *buf, size_t len, size_t e, size_t row)
{
    if (row) snprintf(buf, len, "row %zu, column %zu", e / row, e % row);
    else snprintf(buf, len, "element %zu", e);
}

/* Converts count items of the header's type from raw to float. With
 * check_mag, |v| > MLCL_DATA_MAX_ABS is an error (the dataset loader). */
static int convert(bsrc *s, const npy_hdr *h, const unsigned char *raw, size_t count, float *out,
                   size_t base, int scale_u8, int check_mag, size_t row)
{
    const int sz = h->size;
    for (size_t i = 0; i < count; i++) {
        unsigned char b[8];
        const unsigned char *p = raw + i * (size_t)sz;
        if (h->big) for (int t = 0; t < sz; t++) b[t] = p[sz - 1 - t];
        else memcpy(b, p, (size_t)sz);
        float v;
        switch (h->kind) {
        case 'f':
            if (sz == 4) { memcpy(&v, b, 4); }
            else { double dv; memcpy(&dv, b, 8); v = (float)dv; }
            if (!isfinite(v))
                return src_err(s, MLCL_ENUMERIC, "element %zu is not finite (or overflows float)", base + i);
            break;
        case 'b':
            if (b[0] > 1) return src_err(s, MLCL_EFORMAT, "bool element %zu is %u (not 0/1)", base + i, b[0]);
            v = (float)b[0];
            break;
        case 'u': {
            uint64_t u = 0;
            for (int t = sz - 1; t >= 0; t--) u = (u << 8) | b[t];
            v = (sz == 1 && scale_u8) ? (float)((double)u / 255.0) : (float)u;
            break;
        }
        default: { /* 'i' */
            uint64_t u = 0;
            for (int t = sz - 1; t >= 0; t--) u = (u << 8) | b[t];
            int shift = 64 - 8 * sz;
            int64_t sv = (int64_t)(u << shift) >> shift;
            v = (float)sv;
            break;
        }
        }
        if (check_mag && !mlcl__value_ok(v)) {
            char w[64];
            where(w, sizeof w, base + i, row);
            return src_err(s, MLCL_ENUMERIC, "%s: %g exceeds the magnitude limit %g (MLCL_DATA_MAX_ABS)", w, (double)v,
                           MLCL_DATA_MAX_ABS);
        }
        out[i] = v;
    }
    return MLCL_OK;
}

/* Reads the npy stream of s (header + data) into a new float array, the
 * only copy of the data: converted chunk by chunk as it is read or inflated
 * (a little-endian float32 array is read straight into it). The array is
 * budgeted against the file's size before it is allocated. */
static int read_npy(bsrc *s, float **data, int *ndim, int64_t shape[MLCL_NPY_MAX_DIMS], int scale_u8,
                    uint64_t fsize, int check_mag)
{
    npy_hdr h;
    MLCL_TRY(read_npy_header(s, &h));
    uint64_t count = 1;
    for (int i = 0; i < h.ndim; i++) {
        uint64_t d = (uint64_t)h.shape[i];
        if (d != 0 && count > UINT64_MAX / d) return src_err(s, MLCL_EOVERFLOW, "shape product overflows");
        count *= d;
    }
    for (int i = 0; i < h.ndim; i++)
        if (h.shape[i] == 0) count = 0;
    if (count > UINT64_MAX / (uint64_t)h.size) return src_err(s, MLCL_EOVERFLOW, "data size overflows");
    uint64_t bytes = count * (uint64_t)h.size;
    if (bytes != s->out_left)
        return src_err(s, MLCL_EFORMAT, "%s: the shape needs %llu data bytes, the file holds %llu",
                       bytes > s->out_left ? "truncated" : "trailing data",
                       (unsigned long long)bytes, (unsigned long long)s->out_left);
    if (count > SIZE_MAX / sizeof(float)) return src_err(s, MLCL_EOVERFLOW, "array too large");
    const size_t budget = mlcl__data_budget(fsize);
    if ((double)count * sizeof(float) > (double)budget) {
        char a[32], b[32], c[32];
        return src_err(s, MLCL_EFORMAT, "%llu elements would need %s as float32, more than the %s a file of %s may "
                       "make a reader allocate (%d x its size, at least 128 MiB; docs/formats.md, Limits)",
                       (unsigned long long)count, mlcl__fmt_bytes(a, (double)count * sizeof(float)),
                       mlcl__fmt_bytes(b, (double)budget), mlcl__fmt_bytes(c, (double)fsize), MLCL_DATA_BUDGET_RATIO);
    }
    const size_t row = h.ndim >= 2 && h.shape[0] > 0 ? (size_t)(count / (uint64_t)h.shape[0]) : 0;
    float *x = NULL;
    if (count > 0) {
        x = mlcl__malloc((size_t)count * sizeof(float));
        if (!x) return src_err(s, MLCL_ENOMEM, "cannot allocate %llu floats", (unsigned long long)count);
        const int direct = h.kind == 'f' && h.size == 4 && !h.big && mlcl__little_endian();
        unsigned char *raw = direct ? NULL : mlcl__malloc(CHUNK);
        if (!direct && !raw) {
            mlcl__free(x);
            return src_err(s, MLCL_ENOMEM, "cannot allocate the read buffer");
        }
        const size_t per = CHUNK / (size_t)h.size;
        int rc = MLCL_OK;
        for (size_t done = 0; done < count && rc == MLCL_OK;) {
            size_t k = count - done < per ? (size_t)(count - done) : per;
            unsigned char *dst = direct ? (unsigned char *)(x + done) : raw;
            rc = src_read(s, dst, k * (size_t)h.size);
            if (rc == MLCL_OK) rc = convert(s, &h, dst, k, x + done, done, scale_u8, check_mag, row);
            done += k;
        }
        mlcl__free(raw);
        if (rc < 0) {
            mlcl__free(x);
            return rc;
        }
    }
    *data = x;
    *ndim = h.ndim;
    for (int i = 0; i < MLCL_NPY_MAX_DIMS; i++) shape[i] = i < h.ndim ? h.shape[i] : 0;
    return MLCL_OK;
}

/* ------------------------------------------------------------------------ */
/* Zip */

static int file_seek(bsrc *s, uint64_t off)
{
    if (off > (uint64_t)INT64_MAX || fseeko(s->f, (off_t)off, SEEK_SET) != 0)
        return src_err(s, MLCL_EIO, "cannot seek to %llu: %s", (unsigned long long)off, strerror(errno));
    return MLCL_OK;
}

static int file_read_at(bsrc *s, uint64_t off, void *buf, size_t n)
{
    MLCL_TRY(file_seek(s, off));
    if (fread(buf, 1, n, s->f) != n) {
        if (ferror(s->f)) return src_err(s, MLCL_EIO, "read error: %s", strerror(errno));
        return src_err(s, MLCL_EFORMAT, "truncated file");
    }
    return MLCL_OK;
}

typedef struct zentry {
    uint16_t flags, method;
    uint32_t crc;
    uint64_t csize, usize, local;
} zentry;

/* Finds "<key>.npy" in the central directory of the zip archive of size fsize. */
static int zip_find(bsrc *s, uint64_t fsize, const char *key, zentry *ze)
{
    if (fsize < 22) return src_err(s, MLCL_EFORMAT, "not a zip archive (too short)");
    size_t tail = fsize < 22 + 65535 ? (size_t)fsize : 22 + 65535;
    unsigned char *tb = mlcl__malloc(tail);
    if (!tb) return src_err(s, MLCL_ENOMEM, "cannot allocate the zip tail buffer");
    int rc = file_read_at(s, fsize - tail, tb, tail);
    if (rc < 0) { mlcl__free(tb); return rc; }
    long eocd = -1;
    for (long i = (long)tail - 22; i >= 0; i--)
        if (rd32(tb + i) == 0x06054b50u && (size_t)i + 22 + rd16(tb + i + 20) == tail) { eocd = i; break; }
    if (eocd < 0) {
        mlcl__free(tb);
        return src_err(s, MLCL_EFORMAT, "not a zip archive (no end of central directory record)");
    }
    const unsigned char *E = tb + eocd;
    uint64_t eocd_off = fsize - tail + (uint64_t)eocd;
    uint64_t nent = rd16(E + 10), cdsize = rd32(E + 12), cdoff = rd32(E + 16);
    int disk = rd16(E + 4), cddisk = rd16(E + 6);
    mlcl__free(tb);
    if (nent == 0xFFFF || cdsize == 0xFFFFFFFFu || cdoff == 0xFFFFFFFFu) {
        /* zip64: the locator is just before the end record */
        unsigned char L[20], Z[56];
        if (eocd_off < 20) return src_err(s, MLCL_EFORMAT, "bad zip64 archive (no locator)");
        MLCL_TRY(file_read_at(s, eocd_off - 20, L, 20));
        if (rd32(L) != 0x07064b50u) return src_err(s, MLCL_EFORMAT, "bad zip64 archive (no locator)");
        uint64_t z64 = rd64(L + 8);
        if (z64 > eocd_off - 20 || eocd_off - 20 - z64 < 56)
            return src_err(s, MLCL_EFORMAT, "bad zip64 archive (end record offset out of range)");
        MLCL_TRY(file_read_at(s, z64, Z, 56));
        if (rd32(Z) != 0x06064b50u) return src_err(s, MLCL_EFORMAT, "bad zip64 archive (bad end record)");
        disk = (int)rd32(Z + 16);
        cddisk = (int)rd32(Z + 20);
        nent = rd64(Z + 32);
        cdsize = rd64(Z + 40);
        cdoff = rd64(Z + 48);
        eocd_off = z64;
    }
    if (disk != 0 || cddisk != 0) return src_err(s, MLCL_EFORMAT, "multi-disk zip archives are not supported");
    if (cdoff > eocd_off || cdsize > eocd_off - cdoff)
        return src_err(s, MLCL_EFORMAT, "zip central directory out of range");
    if (cdsize > (64u << 20)) return src_err(s, MLCL_EFORMAT, "zip central directory too large");
    unsigned char *cd = mlcl__malloc(cdsize ? (size_t)cdsize : 1);
    if (!cd) return src_err(s, MLCL_ENOMEM, "cannot allocate the zip central directory");
    rc = file_read_at(s, cdoff, cd, (size_t)cdsize);
    if (rc < 0) { mlcl__free(cd); return rc; }
    size_t klen = strlen(key);
    size_t pos = 0;
    int found = 0;
    for (uint64_t i = 0; i < nent; i++) {
        if (cdsize - pos < 46 || rd32(cd + pos) != 0x02014b50u) {
            rc = src_err(s, MLCL_EFORMAT, "bad zip central directory (entry %llu)", (unsigned long long)i);
            break;
        }
        const unsigned char *C = cd + pos;
        size_t nlen = rd16(C + 28), xlen = rd16(C + 30), clen = rd16(C + 32);
        if (cdsize - pos - 46 < nlen + xlen + clen) {
            rc = src_err(s, MLCL_EFORMAT, "bad zip central directory (entry %llu overruns it)", (unsigned long long)i);
            break;
        }
        const unsigned char *name = C + 46;
        if (nlen == klen + 4 && memcmp(name, key, klen) == 0 && memcmp(name + klen, ".npy", 4) == 0) {
            ze->flags = rd16(C + 8);
            ze->method = rd16(C + 10);
            ze->crc = rd32(C + 16);
            ze->csize = rd32(C + 20);
            ze->usize = rd32(C + 24);
            ze->local = rd32(C + 42);
            /* zip64 extra field: the 0xFFFFFFFF values follow in this order */
            const unsigned char *x = name + nlen, *xe = x + xlen;
            while (xe - x >= 4) {
                unsigned tag = rd16(x), sz = rd16(x + 2);
                if ((size_t)(xe - x - 4) < sz) break;
                if (tag == 0x0001) {
                    const unsigned char *q = x + 4, *qe = q + sz;
                    if (ze->usize == 0xFFFFFFFFu) { if (qe - q < 8) break; ze->usize = rd64(q); q += 8; }
                    if (ze->csize == 0xFFFFFFFFu) { if (qe - q < 8) break; ze->csize = rd64(q); q += 8; }
                    if (ze->local == 0xFFFFFFFFu) { if (qe - q < 8) break; ze->local = rd64(q); q += 8; }
                }
                x += 4 + sz;
            }
            found = 1;
            break;
        }
        pos += 46 + nlen + xlen + clen;
    }
    mlcl__free(cd);
    if (rc < 0) return rc;
    if (!found) return src_err(s, MLCL_EFORMAT, "no such key in the archive");
    return MLCL_OK;
}

/* Positions s at the data of the entry and sets it up as the byte source. */
static int zip_open_entry(bsrc *s, uint64_t fsize, const zentry *ze)
{
    if (ze->flags & 1) return src_err(s, MLCL_EFORMAT, "encrypted entries are not supported");
    if (ze->method != 0 && ze->method != 8)
        return src_err(s, MLCL_EFORMAT, "unsupported compression method %u (only stored and deflated)",
                       (unsigned)ze->method);
    unsigned char L[30];
    if (ze->local > fsize || fsize - ze->local < 30) return src_err(s, MLCL_EFORMAT, "local header out of range");
    MLCL_TRY(file_read_at(s, ze->local, L, 30));
    if (rd32(L) != 0x04034b50u) return src_err(s, MLCL_EFORMAT, "bad local header signature");
    uint64_t data = ze->local + 30 + rd16(L + 26) + rd16(L + 28);
    if (data > fsize || ze->csize > fsize - data) return src_err(s, MLCL_EFORMAT, "entry data out of range (truncated archive)");
    if (ze->method == 0 && ze->csize != ze->usize)
        return src_err(s, MLCL_EFORMAT, "stored entry with different compressed and uncompressed sizes");
    if (ze->method == 8 && ze->usize / MAX_DEFLATE_RATIO > ze->csize + 64)
        return src_err(s, MLCL_EFORMAT, "uncompressed size %llu impossible for %llu deflated bytes",
                       (unsigned long long)ze->usize, (unsigned long long)ze->csize);
    MLCL_TRY(file_seek(s, data));
    s->in_left = ze->csize;
    s->out_left = ze->usize;
    s->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    s->want_crc = ze->crc;
    s->check_crc = 1;
    if (ze->method == 8) {
        s->inbuf = mlcl__malloc(CHUNK);
        if (!s->inbuf) return src_err(s, MLCL_ENOMEM, "cannot allocate the inflate buffer");
        memset(&s->z, 0, sizeof s->z);
        if (inflateInit2(&s->z, -15) != Z_OK) return src_err(s, MLCL_ENOMEM, "inflateInit2 failed");
        s->z_init = 1;
        s->deflated = 1;
    }
    return MLCL_OK;
}

static void src_close(bsrc *s)
{
    if (s->z_init) inflateEnd(&s->z);
    mlcl__free(s->inbuf);
    if (s->f) fclose(s->f);
}

static int npy_read_impl(const char *fn, float **data, int *ndim, int64_t shape[MLCL_NPY_MAX_DIMS],
                         const char *path, const char *key, int scale_u8, int check_mag)
{
    bsrc s;
    memset(&s, 0, sizeof s);
    s.fn = fn;
    s.path = path;
    s.f = fopen(path, "rb");
    if (!s.f) return mlcl__err(MLCL_EIO, "%s: %s: cannot open: %s", fn, path, strerror(errno));
    int rc = MLCL_OK;
    uint64_t fsize = 0;
    if (fseeko(s.f, 0, SEEK_END) != 0) rc = src_err(&s, MLCL_EIO, "cannot seek: %s", strerror(errno));
    else {
        off_t end = ftello(s.f);
        if (end < 0) rc = src_err(&s, MLCL_EIO, "cannot tell the size: %s", strerror(errno));
        else fsize = (uint64_t)end;
    }
    if (rc == MLCL_OK && !key) {
        rc = file_seek(&s, 0);
        s.in_left = s.out_left = fsize;
    } else if (rc == MLCL_OK) {
        zentry ze = {0};
        s.key = key;
        rc = zip_find(&s, fsize, key, &ze);
        if (rc == MLCL_OK) rc = zip_open_entry(&s, fsize, &ze);
    }
    float *x = NULL;
    if (rc == MLCL_OK) rc = read_npy(&s, &x, ndim, shape, scale_u8, fsize, check_mag);
    if (rc == MLCL_OK && s.deflated) {
        /* the deflate stream must end exactly here */
        if (!s.z_end) {
            unsigned char extra;
            s.z.next_out = &extra;
            s.z.avail_out = 1;
            for (;;) {
                if (s.z.avail_in == 0 && s.in_left > 0) {
                    size_t want = s.in_left < CHUNK ? (size_t)s.in_left : CHUNK;
                    if (fread(s.inbuf, 1, want, s.f) != want) break;
                    s.in_left -= want;
                    s.z.next_in = s.inbuf;
                    s.z.avail_in = (uInt)want;
                }
                int zr = inflate(&s.z, Z_NO_FLUSH);
                if (zr == Z_STREAM_END && s.z.avail_out == 1) { s.z_end = 1; break; }
                if (zr != Z_OK || s.z.avail_out == 0) break;
                if (s.z.avail_in == 0 && s.in_left == 0) break;
            }
            if (!s.z_end) rc = src_err(&s, MLCL_EFORMAT, "deflate stream does not end with the entry");
        }
    }
    if (rc == MLCL_OK && s.check_crc && s.crc != s.want_crc)
        rc = src_err(&s, MLCL_ECHECKSUM, "CRC-32 mismatch (archive says %08x, data gives %08x)",
                     (unsigned)s.want_crc, (unsigned)s.crc);
    src_close(&s);
    if (rc < 0) {
        mlcl__free(x);
        return rc;
    }
    *data = x;
    return MLCL_OK;
}

int mlcl_npy_read(float **data, int *ndim, int64_t shape[MLCL_NPY_MAX_DIMS], const char *path,
                  const char *key, int scale_u8)
{
    static const char fn[] = "mlcl_npy_read";
    MLCL_CHECK_NULL(fn, data);
    *data = NULL;
    MLCL_CHECK_NULL(fn, ndim);
    MLCL_CHECK_NULL(fn, shape);
    MLCL_CHECK_NULL(fn, path);
    return npy_read_impl(fn, data, ndim, shape, path, key, scale_u8, 0);
}

void mlcl_npy_free(float *data) { mlcl__free(data); }

int mlcl_dataset_load_npy(mlcl_dataset **out, const char *images_path, const char *images_key,
                          const char *labels_path, const char *labels_key, int scale_u8)
{
    static const char fn[] = "mlcl_dataset_load_npy";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, images_path);
    MLCL_CHECK_NULL(fn, labels_path);
    float *x = NULL, *y = NULL;
    int xd = 0, yd = 0;
    int64_t xs[MLCL_NPY_MAX_DIMS], ys[MLCL_NPY_MAX_DIMS];
    int rc = npy_read_impl(fn, &x, &xd, xs, images_path, images_key, scale_u8, 1);
    if (rc < 0) return rc;
    rc = npy_read_impl(fn, &y, &yd, ys, labels_path, labels_key, 0, 0);
    if (rc < 0) goto done;
    const char *ik = images_key ? images_key : "", *lk = labels_key ? labels_key : "";
    const char *isep = images_key ? ":" : "", *lsep = labels_key ? ":" : "";
    if (xd < 2 || xd > 4) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s%s%s: images must have 2 (n, d), 3 (n, h, w) or 4 (n, c, h, w) dimensions (got %d)",
                       fn, images_path, isep, ik, xd);
        goto done;
    }
    if (yd != 2) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s%s%s: labels must have 2 dimensions (n, L) (got %d)",
                       fn, labels_path, lsep, lk, yd);
        goto done;
    }
    if (xs[0] != ys[0]) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s has %lld images but %s has %lld label rows", fn,
                       images_path, (long long)xs[0], labels_path, (long long)ys[0]);
        goto done;
    }
    int64_t d = 1;
    for (int i = 1; i < xd; i++) {
        if (xs[i] != 0 && d > INT64_MAX / xs[i]) { d = INT64_MAX; break; }
        d *= xs[i];
    }
    if (xs[0] <= 0 || d <= 0 || ys[1] <= 0 || xs[0] > INT_MAX || d > INT_MAX || ys[1] > INT_MAX) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: %lld images of %lld features with %lld labels: every size must be in [1, INT_MAX]",
                       fn, images_path, (long long)xs[0], (long long)d, (long long)ys[1]);
        goto done;
    }
    const int n = (int)xs[0], c = (int)ys[1];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < c; j++) {
            float v = y[(size_t)i * (size_t)c + (size_t)j];
            if (v != 0.0f && v != 1.0f) {
                rc = mlcl__err(MLCL_EFORMAT, "%s: %s%s%s: label at row %d, column %d is %g (not 0/1)",
                               fn, labels_path, lsep, lk, i, j, (double)v);
                goto done;
            }
        }
    /* the dataset adopts the feature array: no second copy */
    mlcl_dataset *ds;
    rc = mlcl__dataset_adopt(&ds, n, (int)d, c, x, NULL, fn);
    x = NULL;
    if (rc < 0) goto done;
    for (size_t i = 0; i < (size_t)n * (size_t)c; i++) ds->y[i] = (uint8_t)y[i];
    mlcl__dataset_pack(ds);
    if (xd == 3) { ds->ch = 1; ds->h = (int)xs[1]; ds->w = (int)xs[2]; }
    else if (xd == 4) { ds->ch = (int)xs[1]; ds->h = (int)xs[2]; ds->w = (int)xs[3]; }
    *out = ds;
done:
    mlcl__free(x);
    mlcl__free(y);
    return rc;
}
