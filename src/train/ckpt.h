/* Checkpoint container: tagged sections, zlib-compressed, CRC-checked,
 * written atomically (temporary file + fsync + rename). Internal. */
#ifndef MLCL_TRAIN_CKPT_H
#define MLCL_TRAIN_CKPT_H
#include <stddef.h>
#include "core/internal.h"

/* 2: the OPTS section (every option of the run) and POS1 */
#define MLCL_CKPT_FORMAT 2

typedef struct mlcl__ckw {
    unsigned char *buf;
    size_t len, cap;
    int status; /* first error, sticky */
} mlcl__ckw;

MLCL_INTERNAL void mlcl__ckw_init(mlcl__ckw *w);
/* Appends a section; errors are sticky and reported by commit. */
MLCL_INTERNAL void mlcl__ckw_put(mlcl__ckw *w, const char tag[4], const void *data, size_t len);
/* Compresses and writes atomically to path; frees the buffer. */
MLCL_INTERNAL int mlcl__ckw_commit(mlcl__ckw *w, const char *path);
MLCL_INTERNAL void mlcl__ckw_free(mlcl__ckw *w);

/* Writes the concatenation of nbufs buffers to `path` atomically: a new
 * temporary file in the target's directory, every write checked, fsync,
 * close, rename, fsync of the directory. The target must be a regular file
 * or not exist (a symbolic link is followed to one); anything else (device,
 * FIFO, socket, directory) is refused with MLCL_EINVAL before anything is
 * created. `what` names the file in messages ("checkpoint", "model").
 * Returns MLCL_OK, MLCL_EINVAL, MLCL_EIO or MLCL_ENOMEM; on error the target
 * is unchanged and no temporary file is left. */
MLCL_INTERNAL int mlcl__write_atomic(const char *path, const char *what, const void *const *bufs,
                                     const size_t *lens, int nbufs);
/* Checks, before a long computation, that mlcl__write_atomic(path) can
 * succeed: the target is a regular file or absent, its directory exists
 * and is writable. */
MLCL_INTERNAL int mlcl__check_output_path(const char *path, const char *what);

typedef struct mlcl__ckr {
    unsigned char *buf;
    size_t len;
    char path[256];
} mlcl__ckr;

/* Reads, checks and decompresses path. */
MLCL_INTERNAL int mlcl__ckr_open(mlcl__ckr *r, const char *path);
/* Finds section `tag`; with want != (size_t)-1 its length must equal want. */
MLCL_INTERNAL int mlcl__ckr_get(const mlcl__ckr *r, const char tag[4], const void **data, size_t *len, size_t want);
/* Copies section `tag` of exactly `len` bytes into dst. */
MLCL_INTERNAL int mlcl__ckr_copy(const mlcl__ckr *r, const char tag[4], void *dst, size_t len);
MLCL_INTERNAL void mlcl__ckr_close(mlcl__ckr *r);

/* The same container under another magic and format version (model files,
 * src/model/): `what` names the kind of file in messages ("model").
 * commit_as: zlib level `level`; an existing `path` that is not a regular
 * file is refused. open_as: the file must be regular and exactly as long as
 * its header says (no trailing bytes); only `version` is accepted; memory
 * grows with the data actually decompressed, never with a size read from the
 * file, and the payload may not exceed max_payload bytes. */
MLCL_INTERNAL int mlcl__ckw_commit_as(mlcl__ckw *w, const char *path, const char magic[8], uint32_t version,
                                      int level, const char *what);
MLCL_INTERNAL int mlcl__ckr_open_as(mlcl__ckr *r, const char *path, const char magic[8], uint32_t version,
                                    size_t max_payload, const char *what);
#endif
