/* Our own C, compiled into s2n._s2n by cffi. Kept short: it exists only where
 * doing the work in Python would be wrong (error capture) or slow. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/uio.h>
#include <time.h>
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

/* The layers' fast path: the blocked direction of the last failure on this
 * thread when it was a BLOCKED error (no exception needed), else 0. */
static int py_last_blocked(void)
{
    if (py_last.blocked && s2n_error_get_type(py_last.s2n_errno) == S2N_ERR_T_BLOCKED) {
        return py_last.blocked;
    }
    return 0;
}

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

PY_IO_WRAP(ssize_t, sendv_with_offset, (struct s2n_connection *c, const struct iovec *v, ssize_t count, ssize_t offs), (c, v, count, offs, &blocked))

/* The hot calls can also wait in C: when s2n-tls blocks on the fd, poll() it
 * (GIL released, as for every cffi call) and call again, until `wait_ms` has
 * passed (-1: no limit; 0: never wait, as PY_IO_WRAP). A blocking socket then
 * costs one C call per operation, like ssl's. The wait ends early, reported
 * as the BLOCKED failure, when poll() fails (EINTR: Python runs its signal
 * handlers and calls again) or time is up; the caller checks its deadline. */
static int py_wait_fd(int fd, s2n_blocked_status blocked, int wait_ms, const struct timespec *start)
{
    if (fd < 0 || wait_ms == 0) return 0;
    if (blocked != S2N_BLOCKED_ON_READ && blocked != S2N_BLOCKED_ON_WRITE) return 0;
    int left = wait_ms;
    if (wait_ms > 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
        if (spent >= wait_ms) return 0;
        left = wait_ms - (int) spent;
    }
    struct pollfd p = { fd, blocked == S2N_BLOCKED_ON_READ ? POLLIN : POLLOUT, 0 };
    return poll(&p, 1, left) > 0;
}

#define PY_WAIT_WRAP(rtype, name, fn, params, args)                         \
    static rtype py_##name params                                           \
    {                                                                       \
        struct timespec start = { 0, 0 };                                   \
        if (wait_ms > 0) clock_gettime(CLOCK_MONOTONIC, &start);            \
        for (;;) {                                                          \
            s2n_blocked_status blocked = S2N_NOT_BLOCKED;                   \
            errno = 0;                                                      \
            rtype rc = fn args;                                             \
            if (rc >= 0) return rc;                                         \
            if (s2n_error_get_type(s2n_errno) != S2N_ERR_T_BLOCKED          \
                    || !py_wait_fd(fd, blocked, wait_ms, &start)) {         \
                py_capture(blocked);                                        \
                return rc;                                                  \
            }                                                               \
            s2n_errno = 0;                                                  \
        }                                                                   \
    }

PY_WAIT_WRAP(int, negotiate, s2n_negotiate, (struct s2n_connection *c, int fd, int wait_ms), (c, &blocked))
PY_WAIT_WRAP(ssize_t, send, s2n_send, (struct s2n_connection *c, const char *buf, ssize_t n, int fd, int wait_ms), (c, buf, n, &blocked))
PY_WAIT_WRAP(ssize_t, recv_wait, s2n_recv, (struct s2n_connection *c, char *buf, ssize_t n, int fd, int wait_ms), (c, buf, n, &blocked))

/* With an fd (the IO layers, whose users see a byte stream), recv also takes
 * the records s2n-tls has already buffered, as recv_multi_record would,
 * without a read() that would only report EAGAIN. Like multi-record, a later
 * record that fails with anything but BLOCKED or CLOSED fails the call. */
static ssize_t py_recv(struct s2n_connection *c, char *buf, ssize_t n, int fd, int wait_ms)
{
    ssize_t got = py_recv_wait(c, buf, n, fd, wait_ms);
    while (fd >= 0 && got > 0 && got < n && s2n_peek_buffered(c) > 0) {
        s2n_blocked_status blocked = S2N_NOT_BLOCKED;
        errno = 0;
        ssize_t more = s2n_recv(c, buf + got, n - got, &blocked);
        if (more == 0) break; /* close_notify: the next call returns 0 */
        if (more < 0) {
            int type = s2n_error_get_type(s2n_errno);
            if (type == S2N_ERR_T_BLOCKED || type == S2N_ERR_T_CLOSED) {
                s2n_errno = 0;
                break;
            }
            py_capture(blocked);
            return more;
        }
        got += more;
    }
    return got;
}
PY_IO_WRAP(int, shutdown, (struct s2n_connection *c), (c, &blocked))
PY_IO_WRAP(int, shutdown_send, (struct s2n_connection *c), (c, &blocked))

/* A connection for the IO layers in one C call: config, SNI (NULL: none),
 * the fd, self-service blinding, full-size records and recv buffering. */
static struct s2n_connection *py_layer_connection(s2n_mode mode, struct s2n_config *config,
                                                  const char *server_name, int fd, void *ctx)
{
    struct s2n_connection *c = s2n_connection_new(mode);
    if (c == NULL) {
        py_capture(S2N_NOT_BLOCKED);
        return NULL;
    }
    if (s2n_connection_set_ctx(c, ctx) < 0 || s2n_connection_set_config(c, config) < 0
            || (server_name != NULL && s2n_set_server_name(c, server_name) < 0)
            || s2n_connection_set_blinding(c, S2N_SELF_SERVICE_BLINDING) < 0
            || s2n_connection_prefer_throughput(c) < 0
            || s2n_connection_set_recv_buffering(c, true) < 0
            || s2n_connection_set_fd(c, fd) < 0) {
        py_capture(S2N_NOT_BLOCKED);
        s2n_connection_free(c);
        return NULL;
    }
    return c;
}

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

/* ---- MemoryBIO: the sans-IO transport, kept in C ------------------------
 * A byte queue (one buffer, a read cursor, compacted or grown on append) that
 * s2n-tls reads from and writes to through its custom IO callbacks, here in
 * C: no Python runs per record. A mutex makes it safe to feed `incoming` from
 * one thread while another drives the connection (cffi releases the GIL). */
typedef struct py_bio {
    pthread_mutex_t lock;
    uint8_t *buf;
    size_t cap, start, end;
    size_t limit;  /* most bytes held at once; 0: no limit */
    int eof;
} py_bio;

static void py_bio_set_limit(py_bio *b, size_t limit)
{
    pthread_mutex_lock(&b->lock);
    b->limit = limit;
    pthread_mutex_unlock(&b->lock);
}

static py_bio *py_bio_new(void)
{
    py_bio *b = calloc(1, sizeof(*b));
    if (b && pthread_mutex_init(&b->lock, NULL) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

static void py_bio_free(py_bio *b)
{
    if (!b) return;
    pthread_mutex_destroy(&b->lock);
    free(b->buf);
    free(b);
}

static size_t py_bio_pending(py_bio *b)
{
    pthread_mutex_lock(&b->lock);
    size_t n = b->end - b->start;
    pthread_mutex_unlock(&b->lock);
    return n;
}

static int py_bio_eof(py_bio *b)
{
    pthread_mutex_lock(&b->lock);
    int eof = b->eof;
    pthread_mutex_unlock(&b->lock);
    return eof;
}

static void py_bio_write_eof(py_bio *b)
{
    pthread_mutex_lock(&b->lock);
    b->eof = 1;
    pthread_mutex_unlock(&b->lock);
}

/* Room left under the limit. */
static size_t py_bio_room_locked(py_bio *b)
{
    size_t used = b->end - b->start;
    if (!b->limit) return SIZE_MAX - used;
    return b->limit > used ? b->limit - used : 0;
}

/* Append n bytes: 0 on success, -1 (ENOMEM), -2 (after write_eof) or -3
 * (over the limit: nothing appended). */
static int py_bio_append_locked(py_bio *b, const uint8_t *data, size_t n)
{
    if (b->eof) return -2;
    if (n == 0) return 0;
    if (n > py_bio_room_locked(b)) return -3;
    size_t used = b->end - b->start;
    if (b->cap - b->end < n) {
        if (b->start > 0 && b->cap - used >= n && used <= b->cap / 2) {
            memmove(b->buf, b->buf + b->start, used);  /* reuse the consumed front */
        } else {
            size_t cap = b->cap ? b->cap : 16384;
            while (cap - used < n) {
                if (cap > SIZE_MAX / 2) return -1;
                cap *= 2;
            }
            uint8_t *nb = malloc(cap);
            if (!nb) return -1;
            if (used) memcpy(nb, b->buf + b->start, used);
            free(b->buf);
            b->buf = nb;
            b->cap = cap;
        }
        b->start = 0;
        b->end = used;
    }
    memcpy(b->buf + b->end, data, n);
    b->end += n;
    return 0;
}

static int py_bio_write(py_bio *b, const char *data, size_t n)
{
    pthread_mutex_lock(&b->lock);
    int rc = py_bio_append_locked(b, (const uint8_t *) data, n);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static size_t py_bio_read_locked(py_bio *b, uint8_t *out, size_t n)
{
    size_t avail = b->end - b->start;
    if (n > avail) n = avail;
    if (n == 0) return 0;  /* b->buf may be NULL: no memcpy from it */
    memcpy(out, b->buf + b->start, n);
    b->start += n;
    if (b->start == b->end) {
        b->start = b->end = 0;
        /* Drained: give a small buffer back, so an idle connection holds no
         * memory (malloc hands the block back at once while data flows). A
         * large one means bulk traffic: keep it, re-creating it would cost
         * an mmap and page faults per chunk. */
        if (b->cap <= 64 * 1024) {
            free(b->buf);
            b->buf = NULL;
            b->cap = 0;
        }
    }
    return n;
}

static size_t py_bio_read(py_bio *b, char *out, size_t n)
{
    pthread_mutex_lock(&b->lock);
    size_t got = py_bio_read_locked(b, (uint8_t *) out, n);
    pthread_mutex_unlock(&b->lock);
    return got;
}

static int py_bio_recv_cb(void *ctx, uint8_t *buf, uint32_t len)
{
    py_bio *b = ctx;
    pthread_mutex_lock(&b->lock);
    int rc;
    if (b->end > b->start) {
        rc = (int) py_bio_read_locked(b, buf, len);
    } else if (b->eof) {
        rc = 0;  /* the transport closed */
    } else {
        errno = EAGAIN;
        rc = -1;
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int py_bio_send_cb(void *ctx, const uint8_t *buf, uint32_t len)
{
    py_bio *b = ctx;
    pthread_mutex_lock(&b->lock);
    /* At the limit, take what fits: s2n-tls retries the rest, and reports
     * BLOCKED_ON_WRITE once nothing fits (backpressure, as a full socket). */
    size_t room = py_bio_room_locked(b);
    size_t n = len < room ? len : room;
    int rc = b->eof ? -2 : (n ? py_bio_append_locked(b, buf, n) : -3);
    pthread_mutex_unlock(&b->lock);
    if (rc == -1) {
        errno = ENOMEM;
        return -1;
    }
    if (rc == -2) {
        errno = EPIPE;
        return -1;
    }
    if (rc == -3) {
        errno = EAGAIN;
        return -1;
    }
    return (int) n;
}

static int py_connection_set_memory_io(struct s2n_connection *c, py_bio *in, py_bio *out)
{
    if (s2n_connection_set_recv_cb(c, py_bio_recv_cb) < 0 || s2n_connection_set_recv_ctx(c, in) < 0
            || s2n_connection_set_send_cb(c, py_bio_send_cb) < 0 || s2n_connection_set_send_ctx(c, out) < 0) {
        py_capture(S2N_NOT_BLOCKED);
        return -1;
    }
    return 0;
}

/* ---- A throwaway PKI for `python -m s2n demo` ----------------------------
 * An ECDSA P-256 CA and a certificate for localhost/127.0.0.1 signed by it,
 * made with the libcrypto linked into this module, so the demo needs no
 * files and no openssl command. Returns PEM in malloc'd strings (py_free). */
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static EVP_PKEY *py_ec_key(void)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0
            || EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) <= 0
            || EVP_PKEY_keygen(ctx, &pkey) <= 0) {
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static int py_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
    int ok = ext && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static X509 *py_new_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long serial)
{
    X509 *cert = X509_new();
    X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
    int ok = cert && name && X509_set_version(cert, 2)
            && ASN1_INTEGER_set(X509_get_serialNumber(cert), serial)
            && X509_gmtime_adj(X509_getm_notBefore(cert), -3600)
            && X509_gmtime_adj(X509_getm_notAfter(cert), 7L * 24 * 3600)
            && X509_set_pubkey(cert, key)
            && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0)
            && X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
    X509 *signer = issuer ? issuer : cert;
    if (ok && !issuer) {
        ok = py_add_ext(cert, signer, NID_basic_constraints, "critical,CA:TRUE")
                && py_add_ext(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else if (ok) {
        ok = py_add_ext(cert, signer, NID_basic_constraints, "critical,CA:FALSE")
                && py_add_ext(cert, signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1")
                && py_add_ext(cert, signer, NID_ext_key_usage, "serverAuth,clientAuth");
    }
    if (ok) ok = X509_sign(cert, issuer_key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

static char *py_bio_string(BIO *bio)
{
    char *data = NULL;
    long len = bio ? BIO_get_mem_data(bio, &data) : 0;  /* in AWS-LC and OpenSSL alike */
    char *out = NULL;
    if (len > 0 && data && (out = malloc((size_t) len + 1))) {
        memcpy(out, data, (size_t) len);
        out[len] = '\0';
    }
    BIO_free(bio);
    return out;
}

static char *py_cert_pem(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio && !PEM_write_bio_X509(bio, cert)) {
        BIO_free(bio);
        return NULL;
    }
    return py_bio_string(bio);
}

/* 1 if the DER certificate names this IP address (4 or 16 bytes) in an
 * iPAddress subjectAltName; 0 if not; -1 if it cannot be parsed. A dNSName
 * "127.0.0.1" does not count (RFC 6125 6.2.1, as CPython's ssl). */
static int py_cert_has_ip(const uint8_t *der, size_t der_len, const uint8_t *ip, size_t ip_len)
{
    const uint8_t *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long) der_len);
    if (!cert) return -1;
    int rc = X509_check_ip(cert, ip, ip_len, 0) == 1;
    X509_free(cert);
    return rc;
}

/* An encrypted PEM private key, decrypted with `password` (NUL-terminated)
 * and written back unencrypted: s2n-tls loads only plain PEM. 0 and a
 * malloc'd string (py_free) on success; -1 for a wrong password or bad PEM. */
static int py_decrypt_key(const char *pem, size_t len, const char *password, char **out)
{
    *out = NULL;
    BIO *in = BIO_new_mem_buf(pem, (int) len);
    EVP_PKEY *pkey = in ? PEM_read_bio_PrivateKey(in, NULL, NULL, (void *) password) : NULL;
    BIO_free(in);
    if (!pkey) return -1;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio && PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)) {
        *out = py_bio_string(bio);
    } else {
        BIO_free(bio);
    }
    EVP_PKEY_free(pkey);
    return *out ? 0 : -1;
}

/* 0 on success; the three strings are then owned by the caller (py_free). */
static int py_make_demo_pki(char **ca_pem, char **cert_pem, char **key_pem)
{
    *ca_pem = *cert_pem = *key_pem = NULL;
    EVP_PKEY *ca_key = py_ec_key(), *key = py_ec_key();
    X509 *ca = ca_key ? py_new_cert("s2n demo CA", ca_key, NULL, ca_key, 1) : NULL;
    X509 *cert = (ca && key) ? py_new_cert("localhost", key, ca, ca_key, 2) : NULL;
    if (cert) {
        *ca_pem = py_cert_pem(ca);
        *cert_pem = py_cert_pem(cert);
        BIO *bio = BIO_new(BIO_s_mem());
        if (bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
            *key_pem = py_bio_string(bio);
        } else {
            BIO_free(bio);
        }
    }
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    if (!*ca_pem || !*cert_pem || !*key_pem) {
        free(*ca_pem);
        free(*cert_pem);
        free(*key_pem);
        *ca_pem = *cert_pem = *key_pem = NULL;
        return -1;
    }
    return 0;
}

static void py_free(void *p) { free(p); }
