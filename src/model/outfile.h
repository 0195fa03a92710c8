/* Output files of the exporters (safetensors, ONNX): written to a temporary
 * file in the target's directory, flushed and renamed, so that an
 * interrupted export never leaves a partial file under the target's name; a
 * target that exists and is not a regular file is refused. Internal. */
#ifndef MLCL_MODEL_OUTFILE_H
#define MLCL_MODEL_OUTFILE_H
#include <stddef.h>
#include "core/internal.h"

typedef struct mlcl__outfile {
    int fd;
    char *tmp;            /* the temporary file, NULL when none */
    const char *path;
    const char *what;     /* names the kind of file in messages, e.g. "safetensors" */
    int status;           /* first error, sticky */
} mlcl__outfile;

/* Creates the temporary file next to path. */
MLCL_INTERNAL int mlcl__outfile_open(mlcl__outfile *o, const char *path, const char *what);
/* Appends n bytes; errors are sticky and reported by commit. */
MLCL_INTERNAL void mlcl__outfile_write(mlcl__outfile *o, const void *p, size_t n);
/* Appends n floats as little-endian IEEE-754 binary32. */
MLCL_INTERNAL void mlcl__outfile_write_f32le(mlcl__outfile *o, const float *x, size_t n);
/* fsync, close, rename over path (and fsync the directory); on any earlier
 * error removes the temporary file and returns that error. */
MLCL_INTERNAL int mlcl__outfile_commit(mlcl__outfile *o);
/* Removes the temporary file (after an error found by the caller). */
MLCL_INTERNAL void mlcl__outfile_abort(mlcl__outfile *o);

/* Shared by the exporters: the model's description as a JSON object of
 * strings (the safetensors "__metadata__"; docs/models.md lists the keys),
 * serialised with jansson; *out is freed with free(). */
struct mlcl_model;
MLCL_INTERNAL int mlcl__model_metadata_json(const struct mlcl_model *m, char **out, const char *fn);
#endif
