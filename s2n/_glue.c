/* Our own C, compiled into s2n._s2n by cffi. Kept short: it exists only where
 * doing the work in Python would be wrong (error capture) or slow. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <openssl/crypto.h>
#include <s2n.h>

/* s2n_errno, the debug string and errno describe only the *last* failure on
 * this thread, and any later s2n or libc call may overwrite them. So every
 * call that can fail is wrapped here, and the wrapper captures all of it in
 * the same C call, before control returns to Python. */
typedef struct {
    int s2n_errno;
    int sys_errno;
    int blocked;
    const char *debug;
} py_error;

static __thread py_error py_last;

static void py_capture(int blocked)
{
    py_last.sys_errno = errno;
    py_last.s2n_errno = s2n_errno;
    py_last.blocked = blocked;
    py_last.debug = s2n_strerror_debug(s2n_errno, "EN");
    s2n_errno = 0; /* s2n.h asks callers to clear it once handled */
}

static py_error py_last_error(void) { return py_last; }

/* For calls not wrapped below: capture right after a failure. */
static py_error py_capture_now(void)
{
    py_capture(S2N_NOT_BLOCKED);
    return py_last;
}

#define PY_IO_WRAP(rtype, name, params, args)                       \
    static rtype py_##name params                                   \
    {                                                               \
        s2n_blocked_status blocked = S2N_NOT_BLOCKED;               \
        errno = 0;                                                  \
        rtype rc = s2n_##name args;                                 \
        if (rc < 0) py_capture(blocked);                            \
        return rc;                                                  \
    }

PY_IO_WRAP(int, negotiate, (struct s2n_connection *c), (c, &blocked))
PY_IO_WRAP(ssize_t, send, (struct s2n_connection *c, const char *buf, ssize_t n), (c, buf, n, &blocked))
PY_IO_WRAP(ssize_t, sendv_with_offset, (struct s2n_connection *c, const struct iovec *v, ssize_t count, ssize_t offs), (c, v, count, offs, &blocked))
PY_IO_WRAP(ssize_t, recv, (struct s2n_connection *c, char *buf, ssize_t n), (c, buf, n, &blocked))
PY_IO_WRAP(int, shutdown, (struct s2n_connection *c), (c, &blocked))
PY_IO_WRAP(int, shutdown_send, (struct s2n_connection *c), (c, &blocked))

/* s2n's default allocator mlock()s every buffer: 4x the memory per connection
 * and S2N_ERR_MLOCK past ~125 connections where RLIMIT_MEMLOCK is low. Plain
 * malloc instead; s2n wipes buffers itself before freeing them. */
static int py_mem_init(void) { return S2N_SUCCESS; }
static int py_mem_cleanup(void) { return S2N_SUCCESS; }
static int py_mem_malloc(void **ptr, uint32_t requested, uint32_t *allocated)
{
    *ptr = malloc(requested ? requested : 1);
    if (*ptr == NULL) return S2N_FAILURE;
    *allocated = requested;
    return S2N_SUCCESS;
}
static int py_mem_free(void *ptr, uint32_t size)
{
    (void) size;
    free(ptr);
    return S2N_SUCCESS;
}

/* Called once, at import, under Python's import lock. */
static int py_init(void)
{
    if (s2n_mem_set_callbacks(py_mem_init, py_mem_cleanup, py_mem_malloc, py_mem_free) < 0) {
        py_capture(S2N_NOT_BLOCKED);
        return -1;
    }
    /* No atexit teardown: it would free global state under live objects. */
    s2n_disable_atexit();
    if (s2n_init() < 0) {
        py_capture(S2N_NOT_BLOCKED);
        return -1;
    }
    return 0;
}

static const char *py_libcrypto_version(void)
{
#if defined(OPENSSL_IS_AWSLC)
    return "AWS-LC " AWSLC_VERSION_NUMBER_STRING;
#else
    return OpenSSL_version(OPENSSL_VERSION);
#endif
}

#ifndef S2N_PY_S2N_VERSION
#define S2N_PY_S2N_VERSION "unknown"
#endif
#ifndef S2N_PY_S2N_SOURCE
#define S2N_PY_S2N_SOURCE "unknown"
#endif
static const char *py_s2n_tls_version(void) { return S2N_PY_S2N_VERSION; }
static const char *py_s2n_tls_source(void) { return S2N_PY_S2N_SOURCE; }
