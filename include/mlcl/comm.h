/**
 * @file
 * libmlcl: the communicator hook of data-parallel training.
 *
 * The core library has no dependency on MPI (or any transport): a caller
 * that wants several processes ("ranks") to train one model together fills
 * an mlcl_comm with four collective operations and installs it on the
 * handles with mlcl_moco_set_comm(), mlcl_encoder_set_comm() or
 * mlcl_trainer_set_comm(). libmlcl_mpi (include/mlcl/mpi.h, pkg-config
 * mlcl-mpi) provides one over MPI; tests can pass a single-rank fake.
 *
 * Every callback is collective: all ranks must call it in the same order
 * with the same sizes. Each returns 0 on success and any other value on
 * failure (the library then returns MLCL_EBACKEND naming the operation).
 * A NULL communicator, or a handle that never had one installed, is the
 * single-process behaviour, bit for bit.
 *
 * The handles copy the struct; @c ctx is borrowed and must outlive them.
 * The callbacks are only called from the thread that calls the library.
 */
#ifndef MLCL_COMM_H
#define MLCL_COMM_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of mlcl_comm. */
#define MLCL_COMM_VERSION 1

/** A communicator: this process's rank among @c size and the collectives. */
typedef struct mlcl_comm {
    unsigned int version; /**< MLCL_COMM_VERSION */
    int rank;             /**< this process, 0 .. size - 1 (default 0) */
    int size;             /**< number of processes, >= 1 (default 1) */
    void *ctx;            /**< passed back to every callback (borrowed) */
    /** In-place sum over all ranks of @p n floats. */
    int (*allreduce_f32)(void *ctx, float *buf, size_t n);
    /** In-place sum over all ranks of @p n doubles. */
    int (*allreduce_f64)(void *ctx, double *buf, size_t n);
    /** Gathers @p bytes from every rank into @p recv (size x bytes, rank order). */
    int (*allgather)(void *ctx, const void *send, size_t bytes, void *recv);
    /** Broadcasts @p bytes of @p buf from rank @p root to all ranks. */
    int (*bcast)(void *ctx, void *buf, size_t bytes, int root);
} mlcl_comm;

/** Static initialiser: rank 0 of 1, no callbacks (a valid single-process communicator only with them set). */
#define MLCL_COMM_INIT { MLCL_COMM_VERSION, 0, 1, NULL, NULL, NULL, NULL, NULL }

/**
 * Fills @p comm with MLCL_COMM_INIT.
 * @param[out] comm the struct to fill.
 * @param version MLCL_COMM_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_comm_init(mlcl_comm *comm, unsigned int version);

/**
 * Checks a communicator: version, 0 <= rank < size, and all four callbacks set.
 * @param comm the communicator.
 * @return MLCL_OK, MLCL_EINVAL (the message names the field) or MLCL_EVERSION.
 */
MLCL_API int mlcl_comm_validate(const mlcl_comm *comm);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_COMM_H */
