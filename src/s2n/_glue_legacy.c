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
