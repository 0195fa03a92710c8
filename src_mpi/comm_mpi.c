/* libmlcl_mpi: the mlcl_comm callbacks over MPI (include_mpi/mlcl/mpi.h). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mlcl/mpi.h"

typedef struct mpi_comm_impl {
    mlcl_comm pub;  /* first: the public pointer is the impl's address */
    MPI_Comm comm;  /* our duplicate */
    int finalize;   /* mlcl_mpi_open initialised MPI */
} mpi_comm_impl;

/* Elements per MPI call: counts are int. */
#define CHUNK ((size_t)INT_MAX)

static int ar_f32(void *ctx, float *buf, size_t n)
{
    mpi_comm_impl *m = ctx;
    for (size_t o = 0; o < n; o += CHUNK) {
        int k = (int)(n - o < CHUNK ? n - o : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + o, k, MPI_FLOAT, MPI_SUM, m->comm);
        if (rc != MPI_SUCCESS) return rc;
    }
    return 0;
}

static int ar_f64(void *ctx, double *buf, size_t n)
{
    mpi_comm_impl *m = ctx;
    for (size_t o = 0; o < n; o += CHUNK) {
        int k = (int)(n - o < CHUNK ? n - o : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + o, k, MPI_DOUBLE, MPI_SUM, m->comm);
        if (rc != MPI_SUCCESS) return rc;
    }
    return 0;
}

static int gather(void *ctx, const void *send, size_t bytes, void *recv)
{
    mpi_comm_impl *m = ctx;
    if (bytes > CHUNK) return -1; /* a block of 2 GiB per rank: not a training step's */
    return MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, m->comm);
}

static int bcast(void *ctx, void *buf, size_t bytes, int root)
{
    mpi_comm_impl *m = ctx;
    for (size_t o = 0; o < bytes; o += CHUNK) {
        int k = (int)(bytes - o < CHUNK ? bytes - o : CHUNK);
        int rc = MPI_Bcast((char *)buf + o, k, MPI_BYTE, root, m->comm);
        if (rc != MPI_SUCCESS) return rc;
    }
    return 0;
}

static int create(mlcl_comm **out, MPI_Comm comm, int finalize)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) return MLCL_EINVAL;
    mpi_comm_impl *m = calloc(1, sizeof *m);
    if (!m) return MLCL_ENOMEM;
    if (MPI_Comm_dup(comm, &m->comm) != MPI_SUCCESS) {
        free(m);
        return MLCL_EBACKEND;
    }
    /* errors come back as codes (turned into MLCL_EBACKEND by libmlcl) */
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    int rank = 0, size = 1;
    MPI_Comm_rank(m->comm, &rank);
    MPI_Comm_size(m->comm, &size);
    mlcl_comm_init(&m->pub, MLCL_COMM_VERSION);
    m->pub.rank = rank;
    m->pub.size = size;
    m->pub.ctx = m;
    m->pub.allreduce_f32 = ar_f32;
    m->pub.allreduce_f64 = ar_f64;
    m->pub.allgather = gather;
    m->pub.bcast = bcast;
    m->finalize = finalize;
    *out = &m->pub;
    return MLCL_OK;
}

int mlcl_mpi_comm_create(mlcl_comm **out, MPI_Comm comm)
{
    if (!out) return MLCL_EINVAL;
    *out = NULL;
    return create(out, comm, 0);
}

void mlcl_mpi_comm_free(mlcl_comm *c)
{
    if (!c) return;
    mpi_comm_impl *m = (mpi_comm_impl *)c;
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Comm_free(&m->comm);
    free(m);
}

int mlcl_mpi_open(mlcl_comm **out)
{
    if (!out) return MLCL_EINVAL;
    *out = NULL;
    int inited = 0, provided = 0, mine = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return MLCL_EBACKEND;
        mine = 1;
    }
    int rc = create(out, MPI_COMM_WORLD, mine);
    if (rc != MLCL_OK && mine) MPI_Finalize();
    return rc;
}

void mlcl_mpi_close(mlcl_comm *c)
{
    if (!c) return;
    int fin = ((mpi_comm_impl *)c)->finalize;
    mlcl_mpi_comm_free(c);
    if (fin) MPI_Finalize();
}
