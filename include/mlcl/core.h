/**
 * @file
 * libmlcl — multi-label supervised contrastive learning with label distributions.
 *
 * core.h: status codes, the thread-local error message, versions, the
 * allocator hook and the seeded random number generator.
 *
 * Conventions used by every public header:
 *  - functions return an int status: 0 (MLCL_OK) or a negative MLCL_E* code;
 *  - outputs come first; handles are opaque, created by *_create and freed by
 *    *_free, and *_free(NULL) is a no-op;
 *  - option structs carry `unsigned int version` first and are initialised
 *    with their *_INIT macro or their *_init() function;
 *  - pointers returned by the library are borrowed until the next call that
 *    mutates the handle they came from.
 * Thread-safety: unless a function says otherwise, distinct handles may be
 * used from distinct threads at once; one handle must not be used by two
 * threads at once.
 */
#ifndef MLCL_CORE_H
#define MLCL_CORE_H

#include <stddef.h>
#include <stdint.h>

/** Marks a function exported by the shared library (default visibility). */
#if defined(_WIN32)
#define MLCL_API __declspec(dllexport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define MLCL_API __attribute__((visibility("default")))
#else
#define MLCL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Major version: changes only when the ABI breaks. */
#define MLCL_VERSION_MAJOR 1
/** Minor version: new functions, ABI-compatible. */
#define MLCL_VERSION_MINOR 0
/** Patch version: fixes only. */
#define MLCL_VERSION_PATCH 0
/** The version as one number: major * 10000 + minor * 100 + patch. */
#define MLCL_VERSION_NUMBER \
    (MLCL_VERSION_MAJOR * 10000 + MLCL_VERSION_MINOR * 100 + MLCL_VERSION_PATCH)

/**
 * Status codes. Values are explicit, negative and append-only: a value is
 * never reused or renumbered.
 */
typedef enum mlcl_status {
    MLCL_OK = 0,           /**< success */
    MLCL_EINVAL = -1,      /**< an argument is invalid (the message names it) */
    MLCL_ENOMEM = -2,      /**< an allocation failed */
    MLCL_EIO = -3,         /**< a file could not be opened, read or written */
    MLCL_EFORMAT = -4,     /**< a file's contents are malformed (file and line named) */
    MLCL_EVERSION = -5,    /**< an option struct or file has an unknown version */
    MLCL_ESTATE = -6,      /**< the call is not valid in the handle's current state */
    MLCL_ENUMERIC = -7,    /**< a non-finite value (NaN/Inf) appeared */
    MLCL_EBACKEND = -8,    /**< OpenBLAS or oneDNN reported an error */
    MLCL_EOVERFLOW = -9,   /**< sizes whose product overflows */
    MLCL_EUNSUPPORTED = -10, /**< a feature not available in this build */
    MLCL_ECHECKSUM = -11,  /**< a file's checksum does not match (corrupted) */
    MLCL_EINTERRUPTED = -12, /**< a callback asked to stop */
    MLCL_EBUSY = -13       /**< the handle is in use by another call (another thread or a callback) */
} mlcl_status;

/**
 * A short, static description of a status code ("invalid argument", ...).
 * @param status any int; unknown values give "unknown status".
 * @return a static string, never NULL. Thread-safe.
 */
MLCL_API const char *mlcl_status_str(int status);

/**
 * The detail message of the last error raised on this thread, e.g.
 * "mlcl_queue_create: opts->dim must be > 0 (got 0)".
 * @return a thread-local string, "" when no error was recorded. It stays valid
 *         until the next failing call on this thread. Success does not clear it.
 */
MLCL_API const char *mlcl_last_error(void);

/** Clears this thread's last error message. Thread-safe. */
MLCL_API void mlcl_clear_error(void);

/** @return MLCL_VERSION_NUMBER of the library actually loaded. */
MLCL_API unsigned int mlcl_version_number(void);

/** @return the version as a static string "MAJOR.MINOR.PATCH". */
MLCL_API const char *mlcl_version_string(void);

/**
 * Allocation hooks. Every allocation libmlcl makes on a thread goes through
 * the hooks installed on that thread (thread-local: no global mutable state).
 * Blocks must be aligned to at least 64 bytes.
 */
/** Version of mlcl_allocator. */
#define MLCL_ALLOCATOR_VERSION 1

/** Allocation hooks. Initialise with MLCL_ALLOCATOR_INIT or mlcl_allocator_init(). */
typedef struct mlcl_allocator {
    unsigned int version;                   /**< MLCL_ALLOCATOR_VERSION */
    void *(*alloc)(size_t size, void *ctx); /**< returns NULL on failure */
    void (*free)(void *ptr, void *ctx);     /**< free(NULL) must be a no-op */
    void *ctx;                              /**< passed back to both */
} mlcl_allocator;

/** Static initialiser: the version, no hooks (the default allocator). */
#define MLCL_ALLOCATOR_INIT { MLCL_ALLOCATOR_VERSION, NULL, NULL, NULL }

/**
 * Fills @p allocator with MLCL_ALLOCATOR_INIT (same bytes).
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_allocator_init(mlcl_allocator *allocator, unsigned int version);

/**
 * Installs allocation hooks for the calling thread. Pass NULL to restore the
 * default (aligned malloc). Memory must be freed with the hooks that were
 * current when it was allocated: install hooks before creating handles and
 * keep them until the handles are freed. A call running on two or more
 * threads makes its worker threads allocate and free through the calling
 * thread's hooks too, possibly at the same time as the calling thread: the
 * hooks must then be thread-safe.
 * @return MLCL_OK, or MLCL_EINVAL when only one of alloc/free is set.
 */
MLCL_API int mlcl_set_allocator(const mlcl_allocator *allocator);

/**
 * Sets the library-wide default thread count: the threads a handle's calls
 * use unless the handle has its own count (mlcl_moco_set_threads(),
 * mlcl_trainer_set_threads(), mlcl_encoder_set_threads(),
 * mlcl_loss_set_threads()). Until it is called the default is 2, at most the
 * CPUs this process may run on; the library reads no environment variable.
 * It also makes OpenBLAS single-threaded, process-wide: the library runs its
 * GEMMs inside its own threads (OpenBLAS's spinning workers on top of them
 * only cost time), and this call is the only place the library changes
 * OpenBLAS's setting (docs/abi.md, "Thread counts"). A count above the CPUs this process may run on
 * (sched_getaffinity) is lowered to that number; use
 * mlcl_set_num_threads_forced() to oversubscribe on purpose. Call it before
 * starting work on other threads (a call running meanwhile may see either count).
 * @param n threads, 1..1024.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_set_num_threads(int n);

/**
 * As mlcl_set_num_threads() without the cap at the available CPUs (the bound
 * 1..1024 still applies).
 * @param n threads, 1..1024.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_set_num_threads_forced(int n);

/**
 * The library-wide default thread count (mlcl_set_num_threads(); 2, at most
 * the CPUs available, before any call).
 * @param[out] n the count.
 * @return MLCL_OK or MLCL_EINVAL (NULL).
 */
MLCL_API int mlcl_get_num_threads(int *n);

/* ------------------------------------------------------------------------ */
/* Seeded random numbers: the same stream on every machine (PCG-XSH-RR 64/32). */

/** An opaque random number generator. */
typedef struct mlcl_rng mlcl_rng;

/**
 * Creates a generator seeded with @p seed; the stream depends on the seed
 * only (not on the machine, compiler or thread count).
 * @param[out] out the new generator; free with mlcl_rng_free().
 * @param seed any 64-bit value.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENOMEM.
 */
MLCL_API int mlcl_rng_create(mlcl_rng **out, uint64_t seed);

/** Frees a generator; NULL is a no-op. */
MLCL_API void mlcl_rng_free(mlcl_rng *rng);

/** Re-seeds @p rng, restarting its stream. */
MLCL_API int mlcl_rng_seed(mlcl_rng *rng, uint64_t seed);

/**
 * Fills @p out with @p n 32-bit uniform integers.
 */
MLCL_API int mlcl_rng_u32(mlcl_rng *rng, uint32_t *out, size_t n);

/**
 * Fills @p out with @p n floats uniform in [0, 1) (24-bit resolution).
 */
MLCL_API int mlcl_rng_uniform(mlcl_rng *rng, float *out, size_t n);

/**
 * Fills @p out with @p n standard normal floats, times @p stddev.
 */
MLCL_API int mlcl_rng_normal(mlcl_rng *rng, float *out, size_t n, float stddev);

/**
 * The generator state as two 64-bit words (for checkpoints).
 * @param rng the generator.
 * @param[out] state 2 words: the state and the increment.
 */
MLCL_API int mlcl_rng_get_state(const mlcl_rng *rng, uint64_t state[2]);

/** Restores a state obtained from mlcl_rng_get_state(); the increment must be odd. */
MLCL_API int mlcl_rng_set_state(mlcl_rng *rng, const uint64_t state[2]);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_CORE_H */
