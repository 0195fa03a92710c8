/* Atomic output files for the model exporters (outfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "outfile.h"

int mlcl__outfile_open(mlcl__outfile *o, const char *path, const char *what)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    o->path = path;
    o->what = what;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return o->status = mlcl__err(MLCL_EIO, "%s %s: exists and is not a regular file; not replaced", what, path);
    size_t plen = strlen(path);
    o->tmp = mlcl__malloc(plen + 16);
    if (!o->tmp) return o->status = mlcl__err(MLCL_ENOMEM, "%s %s: out of memory", what, path);
    memcpy(o->tmp, path, plen);
    memcpy(o->tmp + plen, ".tmp.XXXXXX", 12);
    o->fd = mkstemp(o->tmp);
    if (o->fd < 0) {
        int e = errno;
        mlcl__free(o->tmp);
        o->tmp = NULL;
        return o->status = mlcl__err(MLCL_EIO, "%s %s: cannot create a temporary file: %s", what, path, strerror(e));
    }
    /* mkstemp makes 0600; an export is an ordinary output file */
    mode_t um = umask(0);
    umask(um);
    (void)fchmod(o->fd, 0666 & ~um);
    return MLCL_OK;
}

void mlcl__outfile_write(mlcl__outfile *o, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n && !o->status) {
        ssize_t k = write(o->fd, b, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            o->status = mlcl__err(MLCL_EIO, "%s %s: write failed: %s", o->what, o->path, strerror(errno));
            return;
        }
        b += k;
        n -= (size_t)k;
    }
}

void mlcl__outfile_write_f32le(mlcl__outfile *o, const float *x, size_t n)
{
    unsigned char buf[4096];
    while (n && !o->status) {
        size_t k = n < sizeof buf / 4 ? n : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) {
            uint32_t v;
            memcpy(&v, &x[i], 4);
            buf[4 * i] = (unsigned char)v;
            buf[4 * i + 1] = (unsigned char)(v >> 8);
            buf[4 * i + 2] = (unsigned char)(v >> 16);
            buf[4 * i + 3] = (unsigned char)(v >> 24);
        }
        mlcl__outfile_write(o, buf, 4 * k);
        x += k;
        n -= k;
    }
}

void mlcl__outfile_abort(mlcl__outfile *o)
{
    if (o->fd >= 0) close(o->fd);
    o->fd = -1;
    if (o->tmp) unlink(o->tmp);
    mlcl__free(o->tmp);
    o->tmp = NULL;
}

int mlcl__outfile_commit(mlcl__outfile *o)
{
    int rc = o->status;
    if (rc == MLCL_OK && fsync(o->fd) != 0)
        rc = mlcl__err(MLCL_EIO, "%s %s: write failed: %s", o->what, o->path, strerror(errno));
    if (rc == MLCL_OK) {
        int fd = o->fd;
        o->fd = -1;
        if (close(fd) != 0) rc = mlcl__err(MLCL_EIO, "%s %s: close failed: %s", o->what, o->path, strerror(errno));
    }
    if (rc == MLCL_OK && rename(o->tmp, o->path) != 0)
        rc = mlcl__err(MLCL_EIO, "%s %s: rename failed: %s", o->what, o->path, strerror(errno));
    if (rc != MLCL_OK) {
        mlcl__outfile_abort(o);
        return rc;
    }
    mlcl__free(o->tmp);
    o->tmp = NULL;
    /* make the rename itself durable */
    char *dcopy = strdup(o->path);
    if (dcopy) {
        int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) { (void)fsync(dfd); close(dfd); }
        free(dcopy);
    }
    return MLCL_OK;
}
