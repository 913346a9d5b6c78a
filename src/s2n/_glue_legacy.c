#include <s2n/unstable/renegotiate.h>
#include <s2n/unstable/npn.h>

/* s2n_renegotiate with the error captured in the same C call. Application
 * data met during the new handshake is reported as blocked on
 * S2N_BLOCKED_ON_APPLICATION_DATA with the data in buf, *got bytes. */
static int py_renegotiate(struct s2n_connection *c, uint8_t *buf, ssize_t size, ssize_t *got)
{
    s2n_blocked_status blocked = S2N_NOT_BLOCKED;
    errno = 0;
    *got = 0;
    int rc = s2n_renegotiate(c, buf, size, got, &blocked);
    if (rc < 0) py_capture(blocked);
    return rc;
}

/* s2n_config_add_dhparams, made safe to fail and to repeat. When it fails,
 * s2n-tls leaves config->dhparams pointing at uninitialised or freed memory,
 * which s2n_config_free (or the next call) then frees: a crash. `known_good`
 * is a valid PEM (RFC 7919 ffdhe2048): adding it replaces that pointer (the
 * few bytes it pointed to leak) and s2n_config_free_dhparams then removes it.
 * Earlier parameters are freed first (s2n-tls would leak them): the call
 * replaces them, and a failure leaves the Config without any. */
static int py_config_add_dhparams(struct s2n_config *config, const char *pem, const char *known_good)
{
    if (s2n_config_free_dhparams(config) < 0) {
        py_capture(S2N_NOT_BLOCKED);
        return -1;
    }
    if (s2n_config_add_dhparams(config, pem) == 0) return 0;
    py_capture(S2N_NOT_BLOCKED);
    if (s2n_config_add_dhparams(config, known_good) == 0) s2n_config_free_dhparams(config);
    return -1;
}
