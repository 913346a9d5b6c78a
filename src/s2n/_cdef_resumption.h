/* issue 12 (resumption): ticket key lifetimes, ticket counts, lifetime hint */
int s2n_config_set_ticket_encrypt_decrypt_key_lifetime(struct s2n_config *config, uint64_t lifetime_in_secs);
int s2n_config_set_ticket_decrypt_key_lifetime(struct s2n_config *config, uint64_t lifetime_in_secs);
int s2n_config_require_ticket_forward_secrecy(struct s2n_config *config, bool enabled);
int s2n_config_set_session_state_lifetime(struct s2n_config *config, uint64_t lifetime_in_secs);
int s2n_connection_add_new_tickets_to_send(struct s2n_connection *conn, uint8_t num);
int s2n_connection_get_tickets_sent(struct s2n_connection *conn, uint16_t *num);
int s2n_connection_set_server_keying_material_lifetime(struct s2n_connection *conn, uint32_t lifetime_in_secs);
int s2n_connection_get_session_ticket_lifetime_hint(struct s2n_connection *conn);
