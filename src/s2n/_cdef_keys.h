/* issue 12 (keys): key update, TLS exporter, key exchange group */
typedef enum {
    S2N_KEY_UPDATE_NOT_REQUESTED = 0,
    S2N_KEY_UPDATE_REQUESTED
} s2n_peer_key_update;
int s2n_connection_request_key_update(struct s2n_connection *conn, s2n_peer_key_update peer_request);
int py_keys_update_counts(struct s2n_connection *conn, uint8_t *send_key_updates, uint8_t *recv_key_updates);
int s2n_connection_tls_exporter(struct s2n_connection *conn,
        const uint8_t *label, uint32_t label_length, const uint8_t *context, uint32_t context_length,
        uint8_t *output, uint32_t output_length);
int s2n_connection_get_key_exchange_group(struct s2n_connection *conn, const char **group_name);
