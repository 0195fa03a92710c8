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
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) { if (errno == EINTR) continue; return -1; }
        if (k == 0) { errno = EIO; return -1; }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISLNK(m)) return "a symbolic link";
    return "not a regular file";
}

/* The file a write to `path` would replace: `path` itself, or the end of its
 * chain of symbolic links. *exists tells whether it exists; it must be a
 * regular file then. `real` receives the path to rename over (malloc'd). */
static int resolve_target(const char *path, const char *what, char **real, int *exists, mode_t *mode)
{
    struct stat st;
    *real = NULL;
    *exists = 0;
    if (path[0] == '\0') return mlcl__err(MLCL_EINVAL, "%s: the path is empty", what);
    size_t plen = strlen(path);
    if (path[plen - 1] == '/') return mlcl__err(MLCL_EINVAL, "%s %s: names a directory", what, path);
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT) return mlcl__err(MLCL_EIO, "%s %s: %s", what, path, strerror(errno));
        *real = strdup(path);
    } else if (S_ISLNK(st.st_mode)) {
        /* write where the link points (the link stays) */
        char *r = realpath(path, NULL);
        if (!r) return mlcl__err(MLCL_EINVAL, "%s %s: a symbolic link that cannot be resolved (%s)", what, path, strerror(errno));
        if (stat(r, &st) != 0) { free(r); return mlcl__err(MLCL_EIO, "%s %s: %s", what, path, strerror(errno)); }
        if (!S_ISREG(st.st_mode)) {
            int rc = mlcl__err(MLCL_EINVAL, "%s %s: points to %s, which is %s; refusing to replace it", what, path, r, kind_of(st.st_mode));
            free(r);
            return rc;
        }
        *real = r;
        *exists = 1;
        *mode = st.st_mode;
    } else if (!S_ISREG(st.st_mode)) {
        return mlcl__err(MLCL_EINVAL, "%s %s: is %s, not a regular file; refusing to replace it", what, path, kind_of(st.st_mode));
    } else {
        *real = strdup(path);
        *exists = 1;
        *mode = st.st_mode;
    }
    if (!*real) return mlcl__err(MLCL_ENOMEM, "%s %s: out of memory", what, path);
    return MLCL_OK;
}

/* Opens a new temporary file next to `target` (O_EXCL, mode 0666 & ~umask). */
static int open_temp(const char *target, char *tmp, size_t cap)
{
    static _Thread_local unsigned counter;
    struct timespec ts;
    for (int attempt = 0; attempt < 100; attempt++) {
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(tmp, cap, "%s.tmp.%ld.%u.%lx", target, (long)getpid(), counter++,
                 (unsigned long)((unsigned long)ts.tv_nsec ^ (unsigned long)attempt * 2654435761u) & 0xfffffful);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

int mlcl__write_atomic(const char *path, const char *what, const void *const *bufs, const size_t *lens, int nbufs)
{
    char *real = NULL, *tmp = NULL;
    int exists = 0, fd = -1, rc;
    mode_t mode = 0;
    if ((rc = resolve_target(path, what, &real, &exists, &mode)) != MLCL_OK) return rc;
    size_t cap = strlen(real) + 64;
    tmp = malloc(cap);
    if (!tmp) { rc = mlcl__err(MLCL_ENOMEM, "%s %s: out of memory", what, path); goto out; }
    tmp[0] = '\0';
    fd = open_temp(real, tmp, cap);
    if (fd < 0) {
        rc = mlcl__err(MLCL_EIO, "%s %s: cannot create a temporary file in its directory: %s", what, path, strerror(errno));
        tmp[0] = '\0';
        goto out;
    }
    /* an existing file keeps its permission bits */
    if (exists && fchmod(fd, mode & 07777) != 0) {
        rc = mlcl__err(MLCL_EIO, "%s %s: cannot set the permissions of the temporary file: %s", what, path, strerror(errno));
        goto out;
    }
    for (int i = 0; i < nbufs; i++)
        if (lens[i] && write_all(fd, bufs[i], lens[i]) != 0) {
            rc = mlcl__err(MLCL_EIO, "%s %s: write failed: %s", what, path, strerror(errno));
            goto out;
        }
    if (fsync(fd) != 0) { rc = mlcl__err(MLCL_EIO, "%s %s: fsync failed: %s", what, path, strerror(errno)); goto out; }
    int cr = close(fd);
    fd = -1;
    if (cr != 0) { rc = mlcl__err(MLCL_EIO, "%s %s: close failed: %s", what, path, strerror(errno)); goto out; }
    /* the target may have changed while writing: check it again just before */
    struct stat st;
    if (lstat(real, &st) == 0 && !S_ISREG(st.st_mode)) {
        rc = mlcl__err(MLCL_EINVAL, "%s %s: is now %s, not a regular file; refusing to replace it", what, path, kind_of(st.st_mode));
        goto out;
    }
    if (rename(tmp, real) != 0) { rc = mlcl__err(MLCL_EIO, "%s %s: rename failed: %s", what, path, strerror(errno)); goto out; }
    tmp[0] = '\0';
    /* make the rename itself durable */
    char *dcopy = strdup(real);
    if (!dcopy) { rc = mlcl__err(MLCL_ENOMEM, "%s %s: out of memory", what, path); goto out; }
    int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS)
            rc = mlcl__err(MLCL_EIO, "%s %s: fsync of its directory failed: %s", what, path, strerror(errno));
        close(dfd);
    }
    free(dcopy);
out:
    if (fd >= 0) close(fd);
    if (tmp && tmp[0]) unlink(tmp);
    free(tmp);
    free(real);
    return rc;
}

int mlcl__check_output_path(const char *path, const char *what)
{
    char *real = NULL;
    int exists;
    mode_t mode;
    MLCL_TRY(resolve_target(path, what, &real, &exists, &mode));
    char *dcopy = strdup(real);
    free(real);
    if (!dcopy) return mlcl__err(MLCL_ENOMEM, "%s %s: out of memory", what, path);
    const char *dir = dirname(dcopy);
    int rc = MLCL_OK;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = mlcl__err(MLCL_EIO, "%s %s: directory %s does not exist", what, path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = mlcl__err(MLCL_EIO, "%s %s: directory %s is not writable: %s", what, path, dir, strerror(errno));
    free(dcopy);
    return rc;
}

int mlcl__ckw_commit(mlcl__ckw *w, const char *path)
{
    int rc = w->status;
    unsigned char *z = NULL;
    if (rc) goto out;
    uLongf zlen = compressBound((uLong)w->len);
    z = mlcl__malloc(HDR + zlen);
    if (!z) { rc = mlcl__err(MLCL_ENOMEM, "checkpoint %s: out of memory", path); goto out; }
    if (compress2(z + HDR, &zlen, w->buf, (uLong)w->len, 1) != Z_OK) {
        rc = mlcl__err(MLCL_ENOMEM, "checkpoint %s: zlib compression failed", path);
        goto out;
    }
    memcpy(z, MAGIC, 8);
    put32(z + 8, MLCL_CKPT_FORMAT);
    uint32_t bom = 0x01020304u;
    memcpy(z + 12, &bom, 4);
    put64(z + 16, w->len);
    put64(z + 24, zlen);
    put32(z + 32, (uint32_t)crc32(0L, w->buf, (uInt)w->len));
    put32(z + 36, (uint32_t)crc32(0L, z, 36));
    const void *bufs[1] = { z };
    size_t lens[1] = { HDR + (size_t)zlen };
    rc = mlcl__write_atomic(path, "checkpoint", bufs, lens, 1);
out:
    mlcl__free(z);
    mlcl__ckw_free(w);
    return rc;
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

int mlcl__ckr_open(mlcl__ckr *r, const char *path)
{
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    FILE *f = fopen(path, "rb");
    if (!f) return mlcl__err(MLCL_EIO, "checkpoint %s: cannot open: %s", path, strerror(errno));
    unsigned char h[HDR];
    int rc = MLCL_OK;
    unsigned char *z = NULL;
    if (fread(h, 1, HDR, f) != HDR) { rc = mlcl__err(MLCL_EFORMAT, "checkpoint %s: truncated header", path); goto out; }
    if (memcmp(h, MAGIC, 8) != 0) { rc = mlcl__err(MLCL_EFORMAT, "checkpoint %s: not a libmlcl checkpoint (bad magic)", path); goto out; }
    if ((uint32_t)crc32(0L, h, 36) != get32(h + 36)) { rc = mlcl__err(MLCL_ECHECKSUM, "checkpoint %s: header checksum mismatch", path); goto out; }
    if (get32(h + 8) != MLCL_CKPT_FORMAT) {
        rc = get32(h + 8) < MLCL_CKPT_FORMAT
                 ? mlcl__err(MLCL_EVERSION, "checkpoint %s: format %u was written by an older libmlcl that did not record "
                             "the training options; this library reads format %d only (train again)", path, get32(h + 8), MLCL_CKPT_FORMAT)
                 : mlcl__err(MLCL_EVERSION, "checkpoint %s: format %u, this library reads %d", path, get32(h + 8), MLCL_CKPT_FORMAT);
        goto out;
    }
    uint32_t bom;
    memcpy(&bom, h + 12, 4);
    if (bom != 0x01020304u) { rc = mlcl__err(MLCL_EFORMAT, "checkpoint %s: written on a host of other byte order", path); goto out; }
    uint64_t plen = get64(h + 16), zlen = get64(h + 24);
    if (plen > ((uint64_t)1 << 40) || zlen > ((uint64_t)1 << 40)) { rc = mlcl__err(MLCL_EFORMAT, "checkpoint %s: implausible sizes", path); goto out; }
    z = mlcl__malloc((size_t)zlen + 1);
    r->buf = mlcl__malloc((size_t)plen + 1);
    if (!z || !r->buf) { rc = mlcl__err(MLCL_ENOMEM, "checkpoint %s: out of memory", path); goto out; }
    if (fread(z, 1, (size_t)zlen, f) != zlen) { rc = mlcl__err(MLCL_EFORMAT, "checkpoint %s: truncated (payload shorter than %llu bytes)", path, (unsigned long long)zlen); goto out; }
    if (fgetc(f) != EOF) { rc = mlcl__err(MLCL_EFORMAT, "checkpoint %s: bytes after the end of the checkpoint (%llu bytes expected)", path, (unsigned long long)(HDR + zlen)); goto out; }
    if (ferror(f)) { rc = mlcl__err(MLCL_EIO, "checkpoint %s: read error: %s", path, strerror(errno)); goto out; }
    uLongf out_len = (uLongf)plen;
    if (uncompress(r->buf, &out_len, z, (uLong)zlen) != Z_OK || out_len != plen) {
        rc = mlcl__err(MLCL_ECHECKSUM, "checkpoint %s: compressed payload is corrupted", path);
        goto out;
    }
    if ((uint32_t)crc32(0L, r->buf, (uInt)plen) != get32(h + 32)) { rc = mlcl__err(MLCL_ECHECKSUM, "checkpoint %s: payload checksum mismatch", path); goto out; }
    r->len = (size_t)plen;
    /* validate the section chain once so lookups can trust it */
    for (size_t off = 0; off < r->len;) {
        if (r->len - off < 16) { rc = mlcl__err(MLCL_EFORMAT, "checkpoint %s: broken section table", path); goto out; }
        uint64_t l = get64(r->buf + off + 8);
        if (l > r->len - off - 16) { rc = mlcl__err(MLCL_EFORMAT, "checkpoint %s: section overruns the file", path); goto out; }
        off += 16 + (size_t)l;
    }
    rc = align_sections(r);
out:
    fclose(f);
    mlcl__free(z);
    if (rc) mlcl__ckr_close(r);
    return rc;
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

void mlcl__ckr_close(mlcl__ckr *r)
{
    mlcl__free(r->buf);
    r->buf = NULL;
    r->len = 0;
}

/* ------------------------------------------------------------ other kinds of file (model files) */

#include <sys/stat.h>

/* Header of these files (48 bytes): the checkpoint's fields, then the CRC-32
 * of the compressed bytes (so that every bit of the file is under a CRC: a
 * flipped bit deflate would decode to the same payload is still caught),
 * 4 reserved zero bytes, and the CRC-32 of the first 44 header bytes. */
#define HDR2 48

int mlcl__ckw_commit_as(mlcl__ckw *w, const char *path, const char magic[8], uint32_t version, int level,
                        const char *what)
{
    int rc = w->status;
    unsigned char *z = NULL;
    char *tmp = NULL;
    int fd = -1;
    struct stat st;
    if (rc) goto out;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        rc = mlcl__err(MLCL_EIO, "%s %s: exists and is not a regular file; not replaced", what, path);
        goto out;
    }
    uLongf zlen = compressBound((uLong)w->len);
    z = mlcl__malloc(HDR2 + zlen);
    size_t plen = strlen(path);
    tmp = mlcl__malloc(plen + 16);
    if (tmp) tmp[0] = '\0';
    if (!z || !tmp) { rc = mlcl__err(MLCL_ENOMEM, "%s %s: out of memory", what, path); goto out; }
    if (compress2(z + HDR2, &zlen, w->buf, (uLong)w->len, level) != Z_OK) {
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
    put32(z + 36, (uint32_t)crc32(0L, z + HDR2, (uInt)zlen));
    put32(z + 40, 0);
    put32(z + 44, (uint32_t)crc32(0L, z, 44));
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    fd = mkstemp(tmp);
    if (fd < 0) { rc = mlcl__err(MLCL_EIO, "%s %s: cannot create temporary file: %s", what, path, strerror(errno)); goto out; }
    if (write_all(fd, z, HDR2 + zlen) != 0 || fsync(fd) != 0) {
        rc = mlcl__err(MLCL_EIO, "%s %s: write failed: %s", what, path, strerror(errno));
        goto out;
    }
    /* mkstemp makes 0600; a model is an ordinary output file */
    {
        mode_t um = umask(0);
        umask(um);
        (void)fchmod(fd, 0666 & ~um);
    }
    if (close(fd) != 0) { fd = -1; rc = mlcl__err(MLCL_EIO, "%s %s: close failed: %s", what, path, strerror(errno)); goto out; }
    fd = -1;
    if (rename(tmp, path) != 0) { rc = mlcl__err(MLCL_EIO, "%s %s: rename failed: %s", what, path, strerror(errno)); goto out; }
    tmp[0] = '\0';
    {
        char *dcopy = strdup(path);
        if (dcopy) {
            int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY);
            if (dfd >= 0) { (void)fsync(dfd); close(dfd); }
            free(dcopy);
        }
    }
out:
    if (fd >= 0) close(fd);
    if (tmp && tmp[0]) unlink(tmp);
    mlcl__free(tmp);
    mlcl__free(z);
    mlcl__ckw_free(w);
    return rc;
}

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

int mlcl__ckr_open_as(mlcl__ckr *r, const char *path, const char magic[8], uint32_t version, size_t max_payload,
                      const char *what)
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
    if (fread(h, 1, HDR2, f) != HDR2) { rc = mlcl__err(MLCL_EFORMAT, "%s %s: truncated header (%lld bytes)", what, path, (long long)st.st_size); goto out; }
    if (memcmp(h, magic, 8) != 0) { rc = mlcl__err(MLCL_EFORMAT, "%s %s: not a libmlcl %s file (bad magic)", what, path, what); goto out; }
    if ((uint32_t)crc32(0L, h, 44) != get32(h + 44)) { rc = mlcl__err(MLCL_ECHECKSUM, "%s %s: header checksum mismatch", what, path); goto out; }
    if (get32(h + 8) != version) { rc = mlcl__err(MLCL_EVERSION, "%s %s: format %u, this library reads format %u", what, path, get32(h + 8), version); goto out; }
    uint32_t bom;
    memcpy(&bom, h + 12, 4);
    if (bom != 0x01020304u) { rc = mlcl__err(MLCL_EFORMAT, "%s %s: written on a host of other byte order", what, path); goto out; }
    uint64_t plen = get64(h + 16), zlen = get64(h + 24);
    uint64_t fsz = (uint64_t)st.st_size;
    if (zlen != fsz - HDR2) {
        rc = mlcl__err(MLCL_EFORMAT, "%s %s: %s (file has %llu bytes, header says %llu)", what, path,
                       zlen > fsz - HDR2 ? "truncated" : "trailing bytes after the payload",
                       (unsigned long long)fsz, (unsigned long long)(zlen + HDR2));
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
    if ((uint32_t)crc32(0L, z, (uInt)zlen) != get32(h + 36)) { rc = mlcl__err(MLCL_ECHECKSUM, "%s %s: compressed payload checksum mismatch", what, path); goto out; }
    rc = inflate_bounded(z, (size_t)zlen, (size_t)plen, &r->buf, what, path);
    if (rc) goto out;
    if ((uint32_t)crc32(0L, r->buf, (uInt)plen) != get32(h + 32)) { rc = mlcl__err(MLCL_ECHECKSUM, "%s %s: payload checksum mismatch", what, path); goto out; }
    r->len = (size_t)plen;
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
