/* Maximum fragment length, connection serialization, TLS 1.2 client renegotiation,
 * NPN and finite-field DH parameters (legacy TLS 1.2 peers) */
typedef enum { S2N_TLS_MAX_FRAG_LEN_512 = 1, S2N_TLS_MAX_FRAG_LEN_1024 = 2, S2N_TLS_MAX_FRAG_LEN_2048 = 3,
               S2N_TLS_MAX_FRAG_LEN_4096 = 4 } s2n_max_frag_len;
int s2n_config_send_max_fragment_length(struct s2n_config *config, s2n_max_frag_len mfl_code);
int s2n_config_accept_max_fragment_length(struct s2n_config *config);

typedef enum { S2N_SERIALIZED_CONN_NONE = 0, S2N_SERIALIZED_CONN_V1 = 1 } s2n_serialization_version;
int s2n_config_set_serialization_version(struct s2n_config *config, s2n_serialization_version version);
int s2n_connection_serialization_length(struct s2n_connection *conn, uint32_t *length);
int s2n_connection_serialize(struct s2n_connection *conn, uint8_t *buffer, uint32_t buffer_length);
int s2n_connection_deserialize(struct s2n_connection *conn, uint8_t *buffer, uint32_t buffer_length);

typedef enum { S2N_RENEGOTIATE_IGNORE = 0, S2N_RENEGOTIATE_REJECT, S2N_RENEGOTIATE_ACCEPT } s2n_renegotiate_response;
typedef int (*s2n_renegotiate_request_cb)(struct s2n_connection *conn, void *context, s2n_renegotiate_response *response);
int s2n_config_set_renegotiate_request_cb(struct s2n_config *config, s2n_renegotiate_request_cb callback, void *context);
int s2n_renegotiate_wipe(struct s2n_connection *conn);
int py_renegotiate(struct s2n_connection *c, uint8_t *buf, ssize_t size, ssize_t *got);
extern "Python" int py_renegotiate_trampoline(struct s2n_connection *conn, void *context, s2n_renegotiate_response *response);

int s2n_config_set_npn(struct s2n_config *config, bool enable);
int py_config_add_dhparams(struct s2n_config *config, const char *pem, const char *known_good);
