/* The one atomic writer of the library: every output file (checkpoints,
 * model files, safetensors / ONNX / NPZ exports) goes through it. Internal.
 *
 * Rules, the same for every file:
 * - the target must be a regular file or not exist; a symbolic link is
 *   followed to the file it names (the link stays, that file is replaced);
 *   anything else (device, FIFO, socket, directory, a path ending in '/',
 *   a link to any of these or a dangling link) is refused with MLCL_EINVAL
 *   before anything is created;
 * - the data goes to a new temporary file in the target's directory
 *   (O_EXCL, mode 0666 & ~umask; a replaced file's permission bits are
 *   kept), every write is checked, then fsync, close, a second check that
 *   the target is still a regular file or absent, rename over it, and fsync
 *   of the directory;
 * - on any error the target is unchanged, no temporary file is left, and the
 *   status (MLCL_EINVAL, MLCL_EIO, MLCL_ENOMEM) names `what` and the path. */
#ifndef MLCL_CORE_OUTFILE_H
#define MLCL_CORE_OUTFILE_H
#include <stddef.h>
#include <sys/types.h>
#include "core/internal.h"

typedef struct mlcl__outfile {
    int fd;               /* the temporary file, -1 when none is open */
    char *tmp;            /* its path (malloc'd), NULL when none */
    char *real;           /* the file that will be replaced (malloc'd) */
    const char *path;     /* as the caller gave it, for messages */
    const char *what;     /* names the kind of file in messages: "checkpoint", "safetensors" */
    int exists;           /* real existed when opened; mode holds its bits */
    mode_t mode;
    int status;           /* first error, sticky */
} mlcl__outfile;

/* Checks the target and creates the temporary file next to it. On error
 * nothing is left to abort (abort is harmless all the same). */
MLCL_INTERNAL int mlcl__outfile_open(mlcl__outfile *o, const char *path, const char *what);
/* Appends n bytes; errors are sticky and reported by commit. */
MLCL_INTERNAL void mlcl__outfile_write(mlcl__outfile *o, const void *p, size_t n);
/* Appends n floats as little-endian IEEE-754 binary32. */
MLCL_INTERNAL void mlcl__outfile_write_f32le(mlcl__outfile *o, const float *x, size_t n);
/* fsync, close, rename over the target, fsync of the directory; on any
 * earlier error (sticky) removes the temporary file and returns that error.
 * Always releases o. */
MLCL_INTERNAL int mlcl__outfile_commit(mlcl__outfile *o);
/* Removes the temporary file and releases o (after an error found by the caller). */
MLCL_INTERNAL void mlcl__outfile_abort(mlcl__outfile *o);

/* The whole file at once: the concatenation of nbufs buffers. */
MLCL_INTERNAL int mlcl__write_atomic(const char *path, const char *what, const void *const *bufs,
                                     const size_t *lens, int nbufs);
/* Checks, before a long computation, that a write to `path` can succeed:
 * the target passes the rules above and its directory exists and is
 * writable. Creates nothing. */
MLCL_INTERNAL int mlcl__check_output_path(const char *path, const char *what);
#endif
