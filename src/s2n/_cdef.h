/* The parts of api/s2n.h this package binds (cffi cdef: parsed, not compiled). */
typedef int... ssize_t;
struct iovec { void *iov_base; size_t iov_len; };

struct s2n_config;
struct s2n_connection;
struct s2n_cert_chain_and_key;
struct s2n_cert;

typedef enum { S2N_ERR_T_OK = 0, S2N_ERR_T_IO, S2N_ERR_T_CLOSED, S2N_ERR_T_BLOCKED,
               S2N_ERR_T_ALERT, S2N_ERR_T_PROTO, S2N_ERR_T_INTERNAL, S2N_ERR_T_USAGE } s2n_error_type;
typedef enum { S2N_SERVER, S2N_CLIENT } s2n_mode;
typedef enum { S2N_NOT_BLOCKED = 0, S2N_BLOCKED_ON_READ, S2N_BLOCKED_ON_WRITE,
               S2N_BLOCKED_ON_APPLICATION_INPUT, S2N_BLOCKED_ON_EARLY_DATA } s2n_blocked_status;
typedef enum { S2N_ALERT_FAIL_ON_WARNINGS = 0, S2N_ALERT_IGNORE_WARNINGS = 1 } s2n_alert_behavior;
typedef enum { S2N_BUILT_IN_BLINDING, S2N_SELF_SERVICE_BLINDING } s2n_blinding;
typedef enum { S2N_CERT_AUTH_NONE, S2N_CERT_AUTH_REQUIRED, S2N_CERT_AUTH_OPTIONAL } s2n_cert_auth_type;
typedef enum { S2N_STATUS_REQUEST_NONE = 0, S2N_STATUS_REQUEST_OCSP = 1 } s2n_status_request_type;

typedef uint8_t (*s2n_verify_host_fn)(const char *host_name, size_t host_name_len, void *data);
typedef int s2n_recv_fn(void *io_context, uint8_t *buf, uint32_t len);
typedef int s2n_send_fn(void *io_context, const uint8_t *buf, uint32_t len);

/* errors */
int s2n_error_get_type(int error);
const char *s2n_strerror(int error, const char *lang);
const char *s2n_strerror_name(int error);

/* config */
struct s2n_config *s2n_config_new_minimal(void);
int s2n_config_free(struct s2n_config *config);
int s2n_config_load_system_certs(struct s2n_config *config);
struct s2n_cert_chain_and_key *s2n_cert_chain_and_key_new(void);
int s2n_cert_chain_and_key_free(struct s2n_cert_chain_and_key *cert_and_key);
int s2n_cert_chain_and_key_load_pem_bytes(struct s2n_cert_chain_and_key *chain_and_key,
        uint8_t *chain_pem, uint32_t chain_pem_len, uint8_t *private_key_pem, uint32_t private_key_pem_len);
int s2n_config_add_cert_chain_and_key_to_store(struct s2n_config *config, struct s2n_cert_chain_and_key *cert_key_pair);
int s2n_config_set_verification_ca_location(struct s2n_config *config, const char *ca_pem_filename, const char *ca_dir);
int s2n_config_add_pem_to_trust_store(struct s2n_config *config, const char *pem);
int s2n_config_disable_x509_verification(struct s2n_config *config);
int s2n_config_set_status_request_type(struct s2n_config *config, s2n_status_request_type type);
int s2n_config_set_cipher_preferences(struct s2n_config *config, const char *version);
int s2n_config_append_protocol_preference(struct s2n_config *config, const uint8_t *protocol, uint8_t protocol_len);
int s2n_config_set_protocol_preferences(struct s2n_config *config, const char *const *protocols, int protocol_count);
int s2n_config_set_alert_behavior(struct s2n_config *config, s2n_alert_behavior alert_behavior);
int s2n_config_set_recv_multi_record(struct s2n_config *config, bool enabled);
int s2n_config_set_client_auth_type(struct s2n_config *config, s2n_cert_auth_type client_auth_type);
int s2n_config_set_session_tickets_onoff(struct s2n_config *config, uint8_t enabled);
int s2n_config_set_max_blinding_delay(struct s2n_config *config, uint32_t seconds);
int s2n_config_set_verify_host_callback(struct s2n_config *config, s2n_verify_host_fn, void *data);
int s2n_config_set_send_buffer_size(struct s2n_config *config, uint32_t size);

/* client hello, key log */
typedef int s2n_client_hello_fn(struct s2n_connection *conn, void *ctx);
int s2n_config_set_client_hello_cb(struct s2n_config *config, s2n_client_hello_fn client_hello_callback, void *ctx);
int s2n_connection_server_name_extension_used(struct s2n_connection *conn);
typedef int (*s2n_key_log_fn)(void *ctx, struct s2n_connection *conn, uint8_t *logline, size_t len);
int s2n_config_set_key_log_cb(struct s2n_config *config, s2n_key_log_fn callback, void *ctx);
int s2n_config_set_initial_ticket_count(struct s2n_config *config, uint8_t num);

/* session resumption */
struct s2n_session_ticket;
typedef int (*s2n_session_ticket_fn)(struct s2n_connection *conn, void *ctx, struct s2n_session_ticket *ticket);
int s2n_config_add_ticket_crypto_key(struct s2n_config *config, const uint8_t *name, uint32_t name_len,
        uint8_t *key, uint32_t key_len, uint64_t intro_time_in_seconds_from_epoch);
int s2n_config_set_session_ticket_cb(struct s2n_config *config, s2n_session_ticket_fn callback, void *ctx);
int s2n_session_ticket_get_data_len(struct s2n_session_ticket *ticket, size_t *data_len);
int s2n_session_ticket_get_data(struct s2n_session_ticket *ticket, size_t max_data_len, uint8_t *data);
int s2n_session_ticket_get_lifetime(struct s2n_session_ticket *ticket, uint32_t *session_lifetime);
int s2n_connection_set_session(struct s2n_connection *conn, const uint8_t *session, size_t length);
int s2n_connection_get_session(struct s2n_connection *conn, uint8_t *session, size_t max_length);
int s2n_connection_get_session_length(struct s2n_connection *conn);

/* connection */
struct s2n_connection *s2n_connection_new(s2n_mode mode);
int s2n_connection_set_config(struct s2n_connection *conn, struct s2n_config *config);
int s2n_connection_set_ctx(struct s2n_connection *conn, void *ctx);
void *s2n_connection_get_ctx(struct s2n_connection *conn);
int s2n_connection_get_cipher_iana_value(struct s2n_connection *conn, uint8_t *first, uint8_t *second);
int s2n_connection_set_fd(struct s2n_connection *conn, int fd);
int s2n_connection_set_read_fd(struct s2n_connection *conn, int readfd);
int s2n_connection_set_write_fd(struct s2n_connection *conn, int writefd);
int s2n_connection_use_corked_io(struct s2n_connection *conn);
int s2n_connection_set_recv_cb(struct s2n_connection *conn, s2n_recv_fn recv);
int s2n_connection_set_send_cb(struct s2n_connection *conn, s2n_send_fn send);
int s2n_connection_set_recv_ctx(struct s2n_connection *conn, void *ctx);
int s2n_connection_set_send_ctx(struct s2n_connection *conn, void *ctx);
int s2n_set_server_name(struct s2n_connection *conn, const char *server_name);
int s2n_connection_set_blinding(struct s2n_connection *conn, s2n_blinding blinding);
uint64_t s2n_connection_get_delay(struct s2n_connection *conn);
int s2n_connection_prefer_throughput(struct s2n_connection *conn);
int s2n_connection_prefer_low_latency(struct s2n_connection *conn);
int s2n_connection_set_recv_buffering(struct s2n_connection *conn, bool enabled);
int s2n_connection_set_verify_host_callback(struct s2n_connection *conn, s2n_verify_host_fn host_fn, void *data);
int s2n_connection_set_dynamic_record_threshold(struct s2n_connection *conn, uint32_t resize_threshold, uint16_t timeout_threshold);
uint32_t s2n_peek(struct s2n_connection *conn);
uint32_t s2n_peek_buffered(struct s2n_connection *conn);
int s2n_connection_free_handshake(struct s2n_connection *conn);
int s2n_connection_release_buffers(struct s2n_connection *conn);
int s2n_connection_get_alert(struct s2n_connection *conn);
int s2n_connection_wipe(struct s2n_connection *conn);
int s2n_connection_free(struct s2n_connection *conn);

/* connection information */
int s2n_connection_get_actual_protocol_version(struct s2n_connection *conn);
int s2n_connection_get_client_protocol_version(struct s2n_connection *conn);
int s2n_connection_get_server_protocol_version(struct s2n_connection *conn);
const char *s2n_connection_get_cipher(struct s2n_connection *conn);
const char *s2n_get_application_protocol(struct s2n_connection *conn);
const char *s2n_get_server_name(struct s2n_connection *conn);
const char *s2n_connection_get_handshake_type_name(struct s2n_connection *conn);
const char *s2n_connection_get_curve(struct s2n_connection *conn);
const char *s2n_connection_get_kem_group_name(struct s2n_connection *conn);
int s2n_connection_is_session_resumed(struct s2n_connection *conn);
bool s2n_connection_handshake_complete(struct s2n_connection *conn);
int s2n_connection_client_cert_used(struct s2n_connection *conn);
uint64_t s2n_connection_get_wire_bytes_in(struct s2n_connection *conn);
uint64_t s2n_connection_get_wire_bytes_out(struct s2n_connection *conn);
int s2n_connection_get_peer_cert_chain(const struct s2n_connection *conn, struct s2n_cert_chain_and_key *cert_chain);
int s2n_cert_chain_get_length(const struct s2n_cert_chain_and_key *chain_and_key, uint32_t *cert_length);
int s2n_cert_chain_get_cert(const struct s2n_cert_chain_and_key *chain_and_key, struct s2n_cert **out_cert, const uint32_t cert_idx);
int s2n_cert_get_der(const struct s2n_cert *cert, const uint8_t **out_cert_der, uint32_t *cert_length);

/* our glue (_glue.c) */
typedef struct { int s2n_errno; int sys_errno; int blocked; const char *debug; } py_error;
py_error py_last_error(void);
int py_last_blocked(void);
py_error py_capture_now(void);
int py_init(void);
const char *py_libcrypto_version(void);
const char *py_s2n_tls_version(void);
const char *py_s2n_tls_source(void);
int py_negotiate(struct s2n_connection *c, int fd, int wait_ms);
ssize_t py_send(struct s2n_connection *c, const char *buf, ssize_t n, int fd, int wait_ms);
ssize_t py_sendv_with_offset(struct s2n_connection *c, const struct iovec *v, ssize_t count, ssize_t offs);
ssize_t py_recv(struct s2n_connection *c, char *buf, ssize_t n, int fd, int wait_ms);
int py_shutdown(struct s2n_connection *c);
int py_shutdown_send(struct s2n_connection *c);
struct s2n_connection *py_layer_connection(s2n_mode mode, struct s2n_config *config, const char *server_name, int fd, void *ctx);

/* Python trampolines (s2n/_callbacks.py) */
extern "Python" int py_recv_trampoline(void *ctx, uint8_t *buf, uint32_t len);
extern "Python" int py_send_trampoline(void *ctx, const uint8_t *buf, uint32_t len);
extern "Python" int py_session_ticket_trampoline(struct s2n_connection *conn, void *ctx, struct s2n_session_ticket *ticket);
extern "Python" int py_key_log_trampoline(void *ctx, struct s2n_connection *conn, uint8_t *logline, size_t len);
extern "Python" uint8_t py_verify_host_trampoline(const char *host_name, size_t host_name_len, void *data);

/* MemoryBIO (_glue.c) */
typedef struct py_bio py_bio;
py_bio *py_bio_new(void);
void py_bio_free(py_bio *b);
size_t py_bio_pending(py_bio *b);
int py_bio_eof(py_bio *b);
void py_bio_write_eof(py_bio *b);
void py_bio_set_limit(py_bio *b, size_t limit);
int py_bio_write(py_bio *b, const char *data, size_t n);
size_t py_bio_read(py_bio *b, char *out, size_t n);
int py_connection_set_memory_io(struct s2n_connection *c, py_bio *in, py_bio *out);

/* throwaway PKI for the demo (_glue.c) */
int py_make_demo_pki(char **ca_pem, char **cert_pem, char **key_pem);
int py_decrypt_key(const char *pem, size_t len, const char *password, char **out);
int py_cert_has_ip(const uint8_t *der, size_t der_len, const uint8_t *ip, size_t ip_len);
void py_free(void *p);
