/* A PSK reaches the connection in one C call: s2n-tls copies it, so no C
 * object outlives the call (nothing for Python to free or keep alive). */
static int py_append_psk(struct s2n_connection *c, const uint8_t *identity, uint16_t identity_size,
                         const uint8_t *secret, uint16_t secret_size, s2n_psk_hmac hmac)
{
    struct s2n_psk *psk = s2n_external_psk_new();
    if (psk == NULL) {
        py_capture(S2N_NOT_BLOCKED);
        return -1;
    }
    int rc = -1;
    if (s2n_psk_set_identity(psk, identity, identity_size) == 0 && s2n_psk_set_secret(psk, secret, secret_size) == 0
            && s2n_psk_set_hmac(psk, hmac) == 0 && s2n_connection_append_psk(c, psk) == 0) {
        rc = 0;
    } else {
        py_capture(S2N_NOT_BLOCKED);
    }
    s2n_psk_free(&psk);
    return rc;
}
