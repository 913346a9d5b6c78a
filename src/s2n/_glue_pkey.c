/* issue 14: private-key offload. The algorithms an offloaded signature must
 * use: a server's pick, or (client auth) the client's. Ints, so that no
 * s2n enum type needs declaring twice. */
static int py_pkey_selected_algs(struct s2n_connection *conn, int *sig, int *hash)
{
    s2n_tls_signature_algorithm s = S2N_TLS_SIGNATURE_ANONYMOUS;
    s2n_tls_hash_algorithm h = S2N_TLS_HASH_NONE;
    if (s2n_connection_get_mode(conn) == S2N_SERVER) {
        if (s2n_connection_get_selected_signature_algorithm(conn, &s) < 0) return -1;
        if (s2n_connection_get_selected_digest_algorithm(conn, &h) < 0) return -1;
    } else {
        if (s2n_connection_get_selected_client_cert_signature_algorithm(conn, &s) < 0) return -1;
        if (s2n_connection_get_selected_client_cert_digest_algorithm(conn, &h) < 0) return -1;
    }
    *sig = (int) s;
    *hash = (int) h;
    return 0;
}
