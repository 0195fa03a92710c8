/* The atomic writer (outfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "core/outfile.h"

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
    *mode = 0;
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
            int rc = mlcl__err(MLCL_EINVAL, "%s %s: points to %s, which is %s, not a regular file; refusing to replace it",
                               what, path, r, kind_of(st.st_mode));
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

/* Releases o; with unlink_tmp removes the temporary file first. */
static void release(mlcl__outfile *o, int unlink_tmp)
{
    if (o->fd >= 0) close(o->fd);
    o->fd = -1;
    if (o->tmp && unlink_tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->real);
    o->tmp = o->real = NULL;
}

int mlcl__outfile_open(mlcl__outfile *o, const char *path, const char *what)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    o->path = path;
    o->what = what;
    int rc = resolve_target(path, what, &o->real, &o->exists, &o->mode);
    if (rc != MLCL_OK) goto fail;
    size_t cap = strlen(o->real) + 64;
    o->tmp = malloc(cap);
    if (!o->tmp) { rc = mlcl__err(MLCL_ENOMEM, "%s %s: out of memory", what, path); goto fail; }
    o->fd = open_temp(o->real, o->tmp, cap);
    if (o->fd < 0) {
        rc = mlcl__err(MLCL_EIO, "%s %s: cannot create a temporary file in its directory: %s", what, path, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        goto fail;
    }
    /* an existing file keeps its permission bits */
    if (o->exists && fchmod(o->fd, o->mode & 07777) != 0) {
        rc = mlcl__err(MLCL_EIO, "%s %s: cannot set the permissions of the temporary file: %s", what, path, strerror(errno));
        goto fail;
    }
    return MLCL_OK;
fail:
    release(o, 1);
    return o->status = rc;
}

void mlcl__outfile_write(mlcl__outfile *o, const void *p, size_t n)
{
    const unsigned char *b = p;
    if (!o->status && o->fd < 0) o->status = mlcl__err(MLCL_EIO, "%s %s: not open for writing", o->what, o->path);
    while (n && !o->status) {
        ssize_t k = write(o->fd, b, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            o->status = mlcl__err(MLCL_EIO, "%s %s: write failed: %s", o->what, o->path, k < 0 ? strerror(errno) : "nothing written");
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

void mlcl__outfile_abort(mlcl__outfile *o) { release(o, 1); }

int mlcl__outfile_commit(mlcl__outfile *o)
{
    const char *what = o->what, *path = o->path;
    int rc = o->status;
    if (rc == MLCL_OK && o->fd < 0) rc = mlcl__err(MLCL_EIO, "%s %s: not open for writing", what, path);
    if (rc == MLCL_OK && fsync(o->fd) != 0) rc = mlcl__err(MLCL_EIO, "%s %s: fsync failed: %s", what, path, strerror(errno));
    if (rc == MLCL_OK) {
        int fd = o->fd;
        o->fd = -1;
        if (close(fd) != 0) rc = mlcl__err(MLCL_EIO, "%s %s: close failed: %s", what, path, strerror(errno));
    }
    /* the target may have changed while writing: check it again just before */
    struct stat st;
    if (rc == MLCL_OK && lstat(o->real, &st) == 0 && !S_ISREG(st.st_mode))
        rc = mlcl__err(MLCL_EINVAL, "%s %s: is now %s, not a regular file; refusing to replace it", what, path, kind_of(st.st_mode));
    if (rc == MLCL_OK && rename(o->tmp, o->real) != 0)
        rc = mlcl__err(MLCL_EIO, "%s %s: rename failed: %s", what, path, strerror(errno));
    if (rc != MLCL_OK) {
        release(o, 1);
        return o->status = rc;
    }
    /* make the rename itself durable */
    char *dcopy = strdup(o->real);
    release(o, 0);
    if (!dcopy) return o->status = mlcl__err(MLCL_ENOMEM, "%s %s: out of memory", what, path);
    int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS)
            rc = mlcl__err(MLCL_EIO, "%s %s: fsync of its directory failed: %s", what, path, strerror(errno));
        close(dfd);
    }
    free(dcopy);
    return o->status = rc;
}

int mlcl__write_atomic(const char *path, const char *what, const void *const *bufs, const size_t *lens, int nbufs)
{
    mlcl__outfile o;
    MLCL_TRY(mlcl__outfile_open(&o, path, what));
    for (int i = 0; i < nbufs; i++) mlcl__outfile_write(&o, bufs[i], lens[i]);
    return mlcl__outfile_commit(&o);
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
