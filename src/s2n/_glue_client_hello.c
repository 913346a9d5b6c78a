#include <s2n/unstable/fingerprint.h>

/* client_hello (issue 12). The s2n_client_hello lives inside the connection:
 * these helpers look it up afresh on every call and copy into buffers that
 * Python owns, so no Python object ever holds a pointer into it.
 * On failure they return -1 right after the failing s2n call, s2n_errno
 * untouched: Python's check() captures it (same thread, nothing in between). */

static int py_hello_set_cb_mode(struct s2n_config *config, int mode)
{
    return s2n_config_set_client_hello_cb_mode(config, (s2n_client_hello_cb_mode) mode);
}

static int py_hello_cb_done(struct s2n_connection *conn) { return s2n_client_hello_cb_done(conn); }

static int py_hello_server_name_used(struct s2n_connection *conn)
{
    return s2n_connection_server_name_extension_used(conn);
}

/* 1 while the ClientHello can be read, else 0 (no error recorded).
 * s2n_connection_free_handshake frees the raw message but leaves the client
 * hello "parsed", its cipher suites and extensions pointing into the freed
 * buffer: an empty raw message means "gone", never read past it. */
static int py_hello_available(struct s2n_connection *conn)
{
    struct s2n_client_hello *ch = s2n_connection_get_client_hello(conn);
    return ch != NULL && s2n_client_hello_get_raw_message_length(ch) > 0;
}

/* what: 0 raw message, 1 cipher suites, 2 extensions, 3 session id, 4 random.
 * out == NULL: the length. -1: error. */
static ssize_t py_hello_blob(struct s2n_connection *conn, int what, uint8_t *out, uint32_t max_length)
{
    struct s2n_client_hello *ch = s2n_connection_get_client_hello(conn);
    if (ch == NULL) return -1;
    ssize_t rc = -1;
    uint32_t n = 0;
    switch (what) {
        case 0: rc = out ? s2n_client_hello_get_raw_message(ch, out, max_length)
                         : s2n_client_hello_get_raw_message_length(ch); break;
        case 1: rc = out ? s2n_client_hello_get_cipher_suites(ch, out, max_length)
                         : s2n_client_hello_get_cipher_suites_length(ch); break;
        case 2: rc = out ? s2n_client_hello_get_extensions(ch, out, max_length)
                         : s2n_client_hello_get_extensions_length(ch); break;
        case 3:
            if (out) {
                rc = s2n_client_hello_get_session_id(ch, out, &n, max_length);
            } else {
                rc = s2n_client_hello_get_session_id_length(ch, &n);
            }
            if (rc == 0) rc = n;
            break;
        case 4:
            if (!out) return 32;
            rc = s2n_client_hello_get_random(ch, out, max_length);
            if (rc == 0) rc = max_length < 32 ? max_length : 32;
            break;
        default: return -1;
    }
    return rc;
}

/* The first server name's length (copied to out when out != NULL); -1: none or error. */
static int py_hello_server_name(struct s2n_connection *conn, uint8_t *out, uint16_t max_length)
{
    struct s2n_client_hello *ch = s2n_connection_get_client_hello(conn);
    uint16_t n = 0;
    if (ch == NULL) return -1;
    int rc = out ? s2n_client_hello_get_server_name(ch, out, max_length, &n)
                 : s2n_client_hello_get_server_name_length(ch, &n);
    return rc < 0 ? -1 : n;
}

static int py_hello_legacy_version(struct s2n_connection *conn)
{
    struct s2n_client_hello *ch = s2n_connection_get_client_hello(conn);
    uint8_t v = 0;
    if (ch == NULL) return -1;
    return s2n_client_hello_get_legacy_protocol_version(ch, &v) < 0 ? -1 : v;
}

/* The number of groups written to out; out == NULL: how many there are. -1: none or error. */
static int py_hello_supported_groups(struct s2n_connection *conn, uint16_t *out, uint16_t max_count)
{
    struct s2n_client_hello *ch = s2n_connection_get_client_hello(conn);
    uint16_t n = 0;
    if (ch == NULL) return -1;
    if (!out) {
        ssize_t len = s2n_client_hello_get_extension_length(ch, S2N_EXTENSION_SUPPORTED_GROUPS);
        return len <= 0 ? -1 : (int) (len / 2);
    }
    return s2n_client_hello_get_supported_groups(ch, out, max_count, &n) < 0 ? -1 : n;
}

static int py_hello_set_client_auth_type(struct s2n_connection *conn, int auth)
{
    return s2n_connection_set_client_auth_type(conn, (s2n_cert_auth_type) auth);
}

static int py_hello_get_client_auth_type(struct s2n_connection *conn)
{
    s2n_cert_auth_type auth = S2N_CERT_AUTH_NONE;
    return s2n_connection_get_client_auth_type(conn, &auth) < 0 ? -1 : (int) auth;
}

static int py_hello_set_cipher_preferences(struct s2n_connection *conn, const char *policy)
{
    return s2n_connection_set_cipher_preferences(conn, policy);
}

static int py_hello_set_protocol_preferences(struct s2n_connection *conn, const char *const *protocols, int count)
{
    return s2n_connection_set_protocol_preferences(conn, protocols, count);
}

/* The chain of the certificate this side sent (selected for the handshake):
 * its length, or -1 when none was selected (yet). */
static int py_hello_selected_cert_length(struct s2n_connection *conn)
{
    struct s2n_cert_chain_and_key *chain = s2n_connection_get_selected_cert(conn);
    uint32_t n = 0;
    if (chain == NULL) return -1;
    return s2n_cert_chain_get_length(chain, &n) < 0 ? -1 : (int) n;
}

/* One certificate's DER: points into the config's chain; the caller copies at once. */
static int py_hello_selected_cert_der(struct s2n_connection *conn, uint32_t index, const uint8_t **der, uint32_t *length)
{
    struct s2n_cert_chain_and_key *chain = s2n_connection_get_selected_cert(conn);
    struct s2n_cert *cert = NULL;
    if (chain == NULL || s2n_cert_chain_get_cert(chain, &cert, index) < 0
            || s2n_cert_get_der(cert, der, length) < 0) {
        return -1;
    }
    return 0;
}

static int py_hello_cert_authorities_from_trust_store(struct s2n_config *config)
{
    return s2n_config_set_cert_authorities_from_trust_store(config);
}

/* JA3/JA4 of a ClientHello message (with its 4-byte handshake header), by
 * s2n-tls's fingerprint API on a copy parsed from the bytes: the snapshot
 * keeps no pointer into a connection. *raw_len: the raw string's size, also
 * when raw_max is too small (nothing written then; the caller retries). */
static int py_hello_fingerprint(const uint8_t *msg, uint32_t msg_len, int type,
        uint8_t *hash, uint32_t hash_max, uint32_t *hash_len,
        uint8_t *raw, uint32_t raw_max, uint32_t *raw_len)
{
    struct s2n_client_hello *ch = s2n_client_hello_parse_message(msg, msg_len);
    if (ch == NULL) {
        py_capture(S2N_NOT_BLOCKED);
        return -1;
    }
    struct s2n_fingerprint *fp = s2n_fingerprint_new((s2n_fingerprint_type) type);
    int rc = -1;
    if (fp != NULL && s2n_fingerprint_set_client_hello(fp, ch) == 0
            && s2n_fingerprint_get_hash(fp, hash_max, hash, hash_len) == 0
            && s2n_fingerprint_get_raw_size(fp, raw_len) == 0) {
        rc = *raw_len > raw_max ? 0 : s2n_fingerprint_get_raw(fp, raw_max, raw, raw_len);
    }
    if (rc < 0) py_capture(S2N_NOT_BLOCKED);
    s2n_fingerprint_free(&fp);
    s2n_client_hello_free(&ch);
    return rc;
}
