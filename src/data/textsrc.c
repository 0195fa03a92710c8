/* The readers' shared byte source (gzip or plain, with the data budget) and
 * line reader, and the number parsers. */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "data/data_internal.h"

/* ---------------------------------------------------------------- budget */

size_t mlcl__data_budget(uint64_t file_bytes)
{
    uint64_t b = file_bytes > UINT64_MAX / MLCL_DATA_BUDGET_RATIO ? UINT64_MAX : file_bytes * MLCL_DATA_BUDGET_RATIO;
    if (b < MLCL_DATA_BUDGET_MIN) b = MLCL_DATA_BUDGET_MIN;
    return b > SIZE_MAX ? SIZE_MAX : (size_t)b;
}

const char *mlcl__fmt_bytes(char buf[32], double b)
{
    if (b >= 1e9) snprintf(buf, 32, "%.1f GB", b / 1e9);
    else if (b >= 1e6) snprintf(buf, 32, "%.1f MB", b / 1e6);
    else snprintf(buf, 32, "%.0f bytes", b);
    return buf;
}

/* ---------------------------------------------------------------- byte source */

#define ZSRC_CHUNK ((size_t)1 << 16)

static long zsrc_fail(mlcl__zsrc *s, int status, const char *fmt, ...) MLCL_PRINTF(3, 4);
static long zsrc_fail(mlcl__zsrc *s, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    s->status = status;
    return -1;
}

/* Appends file bytes after in[in_len] (moving the unread ones to the front). */
static int zsrc_fill(mlcl__zsrc *s)
{
    size_t keep = s->gz ? s->z.avail_in : s->in_len - s->in_pos;
    const unsigned char *from = s->gz ? s->z.next_in : s->in + s->in_pos;
    if (keep && from != s->in) memmove(s->in, from, keep);
    s->in_pos = 0;
    s->in_len = keep;
    if (s->file_eof || keep == ZSRC_CHUNK) goto out;
    size_t got = fread(s->in + keep, 1, ZSRC_CHUNK - keep, s->f);
    if (got < ZSRC_CHUNK - keep) {
        if (ferror(s->f)) return (int)zsrc_fail(s, MLCL_EIO, "read error: %s", strerror(errno));
        s->file_eof = 1;
    }
    s->in_len += got;
    s->consumed += got;
out:
    if (s->gz) {
        s->z.next_in = s->in;
        s->z.avail_in = (uInt)s->in_len;
    }
    return 0;
}

int mlcl__zsrc_open(mlcl__zsrc *s, const char *path, const char *fn)
{
    memset(s, 0, sizeof *s);
    errno = 0;
    s->f = fopen(path, "rb");
    if (!s->f) {
        int e = errno;
        return mlcl__err(MLCL_EIO, "%s: cannot open '%s': %s", fn, path, e ? strerror(e) : "unknown error");
    }
    struct stat st;
    if (fstat(fileno(s->f), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            mlcl__zsrc_close(s);
            return mlcl__err(MLCL_EIO, "%s: cannot read '%s': it is a directory", fn, path);
        }
        if (S_ISREG(st.st_mode) && st.st_size > 0) s->file_size = (uint64_t)st.st_size;
    }
    if (!(s->in = mlcl__malloc(ZSRC_CHUNK))) {
        mlcl__zsrc_close(s);
        return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    }
    /* gzip when the first two bytes are its magic 1f 8b */
    while (s->in_len < 2 && !s->file_eof)
        if (zsrc_fill(s) < 0) {
            int st_ = mlcl__err(s->status, "%s: %s: %s", fn, path, s->why);
            mlcl__zsrc_close(s);
            return st_;
        }
    if (s->in_len >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b) {
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) {
            mlcl__zsrc_close(s);
            return mlcl__err(MLCL_ENOMEM, "%s: out of memory (inflateInit2)", fn);
        }
        s->z_init = 1;
        s->gz = 1;
        s->z.next_in = s->in;
        s->z.avail_in = (uInt)s->in_len;
    }
    return MLCL_OK;
}

void mlcl__zsrc_close(mlcl__zsrc *s)
{
    if (s->z_init) inflateEnd(&s->z);
    s->z_init = 0;
    mlcl__free(s->in);
    s->in = NULL;
    if (s->f) fclose(s->f);
    s->f = NULL;
}

long mlcl__zsrc_read(mlcl__zsrc *s, void *buf, size_t n)
{
    if (s->status) return -1;
    if (s->eof || n == 0) return 0;
    if (n > ((size_t)1 << 30)) n = (size_t)1 << 30;
    if (!s->gz) {
        size_t done = 0;
        while (done < n) {
            if (s->in_pos == s->in_len) {
                if (s->file_eof) break;
                /* large reads go straight to the caller's buffer */
                if (n - done >= ZSRC_CHUNK) {
                    size_t want = n - done, got = fread((char *)buf + done, 1, want, s->f);
                    s->consumed += got;
                    done += got;
                    if (got < want) {
                        if (ferror(s->f)) return zsrc_fail(s, MLCL_EIO, "read error: %s", strerror(errno));
                        s->file_eof = 1;
                    }
                    continue;
                }
                if (zsrc_fill(s) < 0) return -1;
                if (s->in_len == 0) break;
            }
            size_t k = s->in_len - s->in_pos < n - done ? s->in_len - s->in_pos : n - done;
            memcpy((char *)buf + done, s->in + s->in_pos, k);
            s->in_pos += k;
            done += k;
        }
        if (done == 0) s->eof = 1;
        return (long)done;
    }
    s->z.next_out = buf;
    s->z.avail_out = (uInt)n;
    while (s->z.avail_out == n) {
        if (s->z.avail_in == 0) {
            if (zsrc_fill(s) < 0) return -1;
            if (s->z.avail_in == 0)
                return zsrc_fail(s, MLCL_EFORMAT, "truncated gzip data (the stream ends early)");
        }
        int zr = inflate(&s->z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            /* what follows the member: nothing, another member, or an error */
            if (s->z.avail_in < 2 && zsrc_fill(s) < 0) break;
            if (s->z.avail_in == 0) { s->eof = 1; break; }
            if (s->z.avail_in >= 2 && s->z.next_in[0] == 0x1f && s->z.next_in[1] == 0x8b) {
                if (inflateReset(&s->z) != Z_OK) return zsrc_fail(s, MLCL_EFORMAT, "corrupt gzip data");
                continue;
            }
            uint64_t off = s->consumed - s->z.avail_in;
            zsrc_fail(s, MLCL_EFORMAT, "%llu bytes of trailing data after the gzip stream (at byte offset %llu)",
                      (unsigned long long)(s->file_size > off ? s->file_size - off : s->z.avail_in),
                      (unsigned long long)off);
            break; /* the data before it first; the error on the next call */
        }
        if (zr == Z_BUF_ERROR) continue; /* needs more input */
        if (zr == Z_MEM_ERROR) { zsrc_fail(s, MLCL_ENOMEM, "out of memory (inflate)"); break; }
        if (zr != Z_OK) {
            zsrc_fail(s, MLCL_EFORMAT, "corrupt gzip data (%s)", s->z.msg ? s->z.msg : "zlib error");
            break;
        }
    }
    if (s->status && s->z.avail_out == n) return -1;
    return (long)(n - s->z.avail_out);
}

/* ---------------------------------------------------------------- line reader */

#define LINES_CHUNK ((size_t)1 << 16)

int mlcl__lines_open(mlcl__lines *r, const char *path, const char *fn)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->fn = fn;
    r->cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (r->cloc == (locale_t)0) return mlcl__err(MLCL_ENOMEM, "%s: cannot create the C locale", fn);
    int rc = mlcl__zsrc_open(&r->src, path, fn);
    if (rc < 0) {
        freelocale(r->cloc);
        r->cloc = (locale_t)0;
        return rc;
    }
    r->budget = mlcl__data_budget(r->src.file_size);
    r->cap = 4096;
    r->buf = mlcl__malloc(r->cap);
    r->rbuf = mlcl__malloc(LINES_CHUNK);
    if (!r->buf || !r->rbuf) {
        mlcl__lines_close(r);
        return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    }
    return MLCL_OK;
}

void mlcl__lines_close(mlcl__lines *r)
{
    mlcl__zsrc_close(&r->src);
    mlcl__free(r->buf);
    r->buf = NULL;
    mlcl__free(r->rbuf);
    r->rbuf = NULL;
    if (r->cloc != (locale_t)0) freelocale(r->cloc);
    r->cloc = (locale_t)0;
}

int mlcl__lines_err(const mlcl__lines *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mlcl__err(MLCL_EFORMAT, "%s: %s: line %ld: %s", r->fn, r->path, r->line, msg);
}

int mlcl__lines_col_err(const mlcl__lines *r, long col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mlcl__err(MLCL_EFORMAT, "%s: %s: line %ld, column %ld: %s", r->fn, r->path, r->line, col, msg);
}

size_t mlcl__zsrc_budget(const mlcl__zsrc *s)
{
    return mlcl__data_budget(s->file_size ? s->file_size : s->consumed);
}

int mlcl__zsrc_budget_err(const mlcl__zsrc *s, char *msg, size_t len, double bytes, const char *what)
{
    char a[32], b[32], c[32];
    size_t budget = mlcl__zsrc_budget(s);
    if (s->file_size)
        snprintf(msg, len, "%s would need %s, more than the %s a file of %s may make a reader allocate "
                 "(%d x its size, at least 128 MiB; docs/formats.md, Limits)",
                 what, mlcl__fmt_bytes(a, bytes), mlcl__fmt_bytes(b, (double)budget),
                 mlcl__fmt_bytes(c, (double)s->file_size), MLCL_DATA_BUDGET_RATIO);
    else
        snprintf(msg, len, "%s would need %s, more than the %s the %s read so far may make a reader allocate "
                 "(%d x, at least 128 MiB; docs/formats.md, Limits)",
                 what, mlcl__fmt_bytes(a, bytes), mlcl__fmt_bytes(b, (double)budget),
                 mlcl__fmt_bytes(c, (double)s->consumed), MLCL_DATA_BUDGET_RATIO);
    return MLCL_EFORMAT;
}

int mlcl__lines_budget(mlcl__lines *r, double bytes, const char *what)
{
    r->budget = mlcl__zsrc_budget(&r->src);
    if (bytes <= (double)r->budget) return MLCL_OK;
    char msg[400];
    mlcl__zsrc_budget_err(&r->src, msg, sizeof msg, bytes, what);
    return mlcl__lines_err(r, "%s", msg);
}

int mlcl__lines_next(mlcl__lines *r, char **line)
{
    size_t len = 0;
    int any = 0;
    for (;;) {
        if (r->rpos == r->rlen) {
            long got = mlcl__zsrc_read(&r->src, r->rbuf, LINES_CHUNK);
            if (got < 0)
                return mlcl__err(r->src.status, "%s: %s: line %ld: %s", r->fn, r->path, r->line + 1, r->src.why);
            if (got == 0) {
                if (!any) return 0; /* clean end of file */
                break;              /* last line without newline */
            }
            r->rpos = 0;
            r->rlen = (size_t)got;
        }
        any = 1;
        const char *s = r->rbuf + r->rpos;
        size_t avail = r->rlen - r->rpos;
        const char *nl = memchr(s, '\n', avail);
        size_t take = nl ? (size_t)(nl - s) : avail;
        const char *z = memchr(s, '\0', take);
        if (z)
            return mlcl__err(MLCL_EFORMAT, "%s: %s: line %ld, column %zu: NUL byte (not a text file?)", r->fn,
                             r->path, r->line + 1, len + (size_t)(z - s) + 1);
        if (len + take >= (size_t)MLCL_TEXT_LINE_MAX)
            return mlcl__err(MLCL_EFORMAT, "%s: %s: line %ld: line longer than %ld bytes (MLCL_TEXT_LINE_MAX)",
                             r->fn, r->path, r->line + 1, (long)MLCL_TEXT_LINE_MAX);
        MLCL_TRY(mlcl__grow((void **)&r->buf, &r->cap, len + take + 1, 1, r->fn));
        memcpy(r->buf + len, s, take);
        len += take;
        r->rpos += take;
        if (nl) { r->rpos++; break; }
    }
    while (len > 0 && r->buf[len - 1] == '\r') len--;
    r->buf[len] = '\0';
    r->line++;
    *line = r->buf;
    return 1;
}

int mlcl__parse_float(const mlcl__lines *r, const char *tok, float *out)
{
    if (!*tok) return -1;
    char *end;
    errno = 0;
    double v = strtod_l(tok, &end, r->cloc);
    if (end == tok || *end) return -1;
    /* reject nan/inf spelled out, and values beyond float range */
    if (!isfinite(v) || fabs(v) > FLT_MAX) return -2;
    if (!mlcl__value_ok(v)) return -3;
    *out = (float)v;
    return 0;
}

int mlcl__parse_long(const char *tok, long lo, long hi, long *out)
{
    if (!*tok) return -1;
    const char *p = tok;
    if (*p == '+' || *p == '-') p++;
    if (*p < '0' || *p > '9') return -1;
    char *end;
    errno = 0;
    long v = strtol(tok, &end, 10);
    if (*end) return -1;
    if (errno == ERANGE || v < lo || v > hi) return -2;
    *out = v;
    return 0;
}
