/* TLS 1.3 early data (0-RTT) */
typedef enum { S2N_EARLY_DATA_STATUS_OK, S2N_EARLY_DATA_STATUS_NOT_REQUESTED, S2N_EARLY_DATA_STATUS_REJECTED,
               S2N_EARLY_DATA_STATUS_END } s2n_early_data_status_t;
struct s2n_offered_early_data;
int s2n_config_set_server_max_early_data_size(struct s2n_config *config, uint32_t max_early_data_size);
int s2n_connection_set_server_max_early_data_size(struct s2n_connection *conn, uint32_t max_early_data_size);
int s2n_connection_set_server_early_data_context(struct s2n_connection *conn, const uint8_t *context, uint16_t context_size);
int s2n_connection_get_early_data_status(struct s2n_connection *conn, s2n_early_data_status_t *status);
int s2n_connection_get_remaining_early_data_size(struct s2n_connection *conn, uint32_t *allowed_early_data_size);
int s2n_connection_get_max_early_data_size(struct s2n_connection *conn, uint32_t *max_early_data_size);
typedef int (*s2n_early_data_cb)(struct s2n_connection *conn, struct s2n_offered_early_data *early_data);
int s2n_config_set_early_data_cb(struct s2n_config *config, s2n_early_data_cb cb);
int s2n_offered_early_data_get_context_length(struct s2n_offered_early_data *early_data, uint16_t *context_len);
int s2n_offered_early_data_get_context(struct s2n_offered_early_data *early_data, uint8_t *context, uint16_t max_len);
int s2n_offered_early_data_reject(struct s2n_offered_early_data *early_data);
int s2n_offered_early_data_accept(struct s2n_offered_early_data *early_data);
int py_send_early_data(struct s2n_connection *c, const char *data, ssize_t n, ssize_t *moved);
int py_recv_early_data(struct s2n_connection *c, char *data, ssize_t n, ssize_t *moved);
extern "Python" int py_early_data_trampoline(struct s2n_connection *conn, struct s2n_offered_early_data *early_data);
