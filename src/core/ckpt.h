/* The container of checkpoints and model files (core: used by train and model): tagged sections, zlib-compressed, CRC-checked,
 * written atomically (temporary file + fsync + rename). Internal. */
#ifndef MLCL_CORE_CKPT_H
#define MLCL_CORE_CKPT_H
#include <stddef.h>
#include <stdint.h>
#include "core/internal.h"
#include "core/outfile.h" /* mlcl__write_atomic, mlcl__check_output_path */

/* 2: the OPTS section (every option of the run) and POS1;
 * 3: the position, selection and step-counter sections written field by
 * field (mlcl__ckf), each starting with its own version */
#define MLCL_CKPT_FORMAT 3

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

/* A section of scalar fields, written one by one in little-endian order
 * (never a struct copied from memory): start with mlcl__ckf_begin(version),
 * add fields, then mlcl__ckw_put_fields. */
typedef struct mlcl__ckf {
    unsigned char buf[512];
    size_t len;
    int overflow;
} mlcl__ckf;

MLCL_INTERNAL void mlcl__ckf_begin(mlcl__ckf *f, uint32_t version);
MLCL_INTERNAL void mlcl__ckf_i64(mlcl__ckf *f, int64_t v);
MLCL_INTERNAL void mlcl__ckf_u64(mlcl__ckf *f, uint64_t v);
MLCL_INTERNAL void mlcl__ckf_f64(mlcl__ckf *f, double v);
MLCL_INTERNAL void mlcl__ckf_f32(mlcl__ckf *f, float v);
MLCL_INTERNAL void mlcl__ckw_put_fields(mlcl__ckw *w, const char tag[4], const mlcl__ckf *f);

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

/* Reads a section of fields: its version must be `version` (else
 * MLCL_EVERSION naming the section), then the fields in the written order;
 * mlcl__ckfr_end fails with MLCL_EFORMAT when a read ran past the end or
 * bytes are left over. */
typedef struct mlcl__ckfr {
    const unsigned char *p;
    size_t len, off;
    int bad;
} mlcl__ckfr;

MLCL_INTERNAL int mlcl__ckr_fields(const mlcl__ckr *r, const char tag[4], uint32_t version, mlcl__ckfr *f);
MLCL_INTERNAL int64_t mlcl__ckfr_i64(mlcl__ckfr *f);
MLCL_INTERNAL uint64_t mlcl__ckfr_u64(mlcl__ckfr *f);
MLCL_INTERNAL double mlcl__ckfr_f64(mlcl__ckfr *f);
MLCL_INTERNAL float mlcl__ckfr_f32(mlcl__ckfr *f);
MLCL_INTERNAL int mlcl__ckfr_end(const mlcl__ckr *r, const char tag[4], const mlcl__ckfr *f);

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
