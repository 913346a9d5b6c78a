/* client_hello (issue 12): client hello callback modes, the ClientHello view,
 * per-connection overrides, selected certificate, certificate authorities.
 * Every s2n-tls call is wrapped by a py_hello_* helper (_glue_client_hello.c)
 * so that no s2n declaration here can clash with another feature's. */
int py_hello_set_cb_mode(struct s2n_config *config, int mode);
int py_hello_cb_done(struct s2n_connection *conn);
int py_hello_server_name_used(struct s2n_connection *conn);
int py_hello_available(struct s2n_connection *conn);
ssize_t py_hello_blob(struct s2n_connection *conn, int what, uint8_t *out, uint32_t max_length);
int py_hello_server_name(struct s2n_connection *conn, uint8_t *out, uint16_t max_length);
int py_hello_legacy_version(struct s2n_connection *conn);
int py_hello_supported_groups(struct s2n_connection *conn, uint16_t *out, uint16_t max_count);
int py_hello_set_client_auth_type(struct s2n_connection *conn, int auth);
int py_hello_get_client_auth_type(struct s2n_connection *conn);
int py_hello_set_cipher_preferences(struct s2n_connection *conn, const char *policy);
int py_hello_set_protocol_preferences(struct s2n_connection *conn, const char *const *protocols, int count);
int py_hello_selected_cert_length(struct s2n_connection *conn);
int py_hello_selected_cert_der(struct s2n_connection *conn, uint32_t index, const uint8_t **der, uint32_t *length);
int py_hello_cert_authorities_from_trust_store(struct s2n_config *config);

extern "Python" int py_client_hello_cb_trampoline(struct s2n_connection *conn, void *ctx);
int py_hello_fingerprint(const uint8_t *msg, uint32_t msg_len, int type, uint8_t *hash, uint32_t hash_max,
                         uint32_t *hash_len, uint8_t *raw, uint32_t raw_max, uint32_t *raw_len);
