/* Early data calls drive the handshake like s2n_negotiate: capture their
 * error in the same C call, and report how many bytes moved even when the
 * call then blocked. */
static int py_send_early_data(struct s2n_connection *c, const char *data, ssize_t n, ssize_t *moved)
{
    s2n_blocked_status blocked = S2N_NOT_BLOCKED;
    errno = 0;
    *moved = 0;
    int rc = s2n_send_early_data(c, (const uint8_t *) data, n, moved, &blocked);
    if (rc < 0) py_capture(blocked);
    return rc;
}

static int py_recv_early_data(struct s2n_connection *c, char *data, ssize_t n, ssize_t *moved)
{
    s2n_blocked_status blocked = S2N_NOT_BLOCKED;
    errno = 0;
    *moved = 0;
    int rc = s2n_recv_early_data(c, (uint8_t *) data, n, moved, &blocked);
    if (rc < 0) py_capture(blocked);
    return rc;
}
