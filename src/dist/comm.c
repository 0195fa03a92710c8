/* The communicator hook: validation and the error-mapping wrappers of the
 * collectives (include/mlcl/comm.h). No transport lives here. */
#include <string.h>
#include "dist/comm_lib.h"

int mlcl_comm_init(mlcl_comm *comm, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_comm_init", comm, version, MLCL_COMM_VERSION, mlcl_comm, MLCL_COMM_INIT);
}

int mlcl__comm_check(const mlcl_comm *c, const char *fn)
{
    MLCL_CHECK_NULL_AS(fn, c, "comm");
    if (c->version != MLCL_COMM_VERSION)
        return mlcl__err(MLCL_EVERSION, "%s: comm->version %u is not %u", fn, c->version, (unsigned)MLCL_COMM_VERSION);
    if (c->size < 1) return mlcl__err(MLCL_EINVAL, "%s: comm->size must be >= 1 (got %d)", fn, c->size);
    if (c->rank < 0 || c->rank >= c->size)
        return mlcl__err(MLCL_EINVAL, "%s: comm->rank must be in 0..size-1 = %d (got %d)", fn, c->size - 1, c->rank);
    if (!c->allreduce_f32) return mlcl__err(MLCL_EINVAL, "%s: comm->allreduce_f32 is NULL", fn);
    if (!c->allreduce_f64) return mlcl__err(MLCL_EINVAL, "%s: comm->allreduce_f64 is NULL", fn);
    if (!c->allgather) return mlcl__err(MLCL_EINVAL, "%s: comm->allgather is NULL", fn);
    if (!c->bcast) return mlcl__err(MLCL_EINVAL, "%s: comm->bcast is NULL", fn);
    return MLCL_OK;
}

int mlcl_comm_validate(const mlcl_comm *comm) { return mlcl__comm_check(comm, "mlcl_comm_validate"); }

int mlcl__comm_sum_f32(const mlcl_comm *c, float *buf, size_t n, const char *fn, const char *what)
{
    int r = c->allreduce_f32(c->ctx, buf, n);
    return r ? mlcl__err(MLCL_EBACKEND, "%s: allreduce_f32 of %s (%zu floats) failed (code %d)", fn, what, n, r) : MLCL_OK;
}

int mlcl__comm_sum_f64(const mlcl_comm *c, double *buf, size_t n, const char *fn, const char *what)
{
    int r = c->allreduce_f64(c->ctx, buf, n);
    return r ? mlcl__err(MLCL_EBACKEND, "%s: allreduce_f64 of %s (%zu doubles) failed (code %d)", fn, what, n, r) : MLCL_OK;
}

int mlcl__comm_gather(const mlcl_comm *c, const void *send, size_t bytes, void *recv, const char *fn, const char *what)
{
    int r = c->allgather(c->ctx, send, bytes, recv);
    return r ? mlcl__err(MLCL_EBACKEND, "%s: allgather of %s (%zu bytes) failed (code %d)", fn, what, bytes, r) : MLCL_OK;
}

int mlcl__comm_bcast(const mlcl_comm *c, void *buf, size_t bytes, const char *fn, const char *what)
{
    int r = c->bcast(c->ctx, buf, bytes, 0);
    return r ? mlcl__err(MLCL_EBACKEND, "%s: bcast of %s (%zu bytes) failed (code %d)", fn, what, bytes, r) : MLCL_OK;
}

/* The built-in communicator of one process: every collective over one rank
 * is the identity (a sum over one rank) or a copy (a gather of one block). */
static int one_sum_f32(void *ctx, float *buf, size_t n) { (void)ctx; (void)buf; (void)n; return 0; }
static int one_sum_f64(void *ctx, double *buf, size_t n) { (void)ctx; (void)buf; (void)n; return 0; }
static int one_bcast(void *ctx, void *buf, size_t bytes, int root) { (void)ctx; (void)buf; (void)bytes; (void)root; return 0; }

static int one_gather(void *ctx, const void *send, size_t bytes, void *recv)
{
    (void)ctx;
    if (bytes && recv != send) memmove(recv, send, bytes);
    return 0;
}

void mlcl__comm_single(mlcl_comm *c)
{
    static const mlcl_comm d = MLCL_COMM_INIT;
    memcpy(c, &d, sizeof d);
    c->allreduce_f32 = one_sum_f32;
    c->allreduce_f64 = one_sum_f64;
    c->allgather = one_gather;
    c->bcast = one_bcast;
}
