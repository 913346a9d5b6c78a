/* External pre-shared keys (TLS 1.3) */
typedef enum { S2N_PSK_HMAC_SHA256, S2N_PSK_HMAC_SHA384 } s2n_psk_hmac;
typedef enum { S2N_PSK_MODE_RESUMPTION, S2N_PSK_MODE_EXTERNAL } s2n_psk_mode;
struct s2n_offered_psk;
struct s2n_offered_psk_list;
int s2n_config_set_psk_mode(struct s2n_config *config, s2n_psk_mode mode);
int s2n_connection_set_psk_mode(struct s2n_connection *conn, s2n_psk_mode mode);
int s2n_connection_get_negotiated_psk_identity_length(struct s2n_connection *conn, uint16_t *identity_length);
int s2n_connection_get_negotiated_psk_identity(struct s2n_connection *conn, uint8_t *identity, uint16_t max_identity_length);
struct s2n_offered_psk *s2n_offered_psk_new(void);
int s2n_offered_psk_free(struct s2n_offered_psk **psk);
int s2n_offered_psk_get_identity(struct s2n_offered_psk *psk, uint8_t **identity, uint16_t *size);
bool s2n_offered_psk_list_has_next(struct s2n_offered_psk_list *psk_list);
int s2n_offered_psk_list_next(struct s2n_offered_psk_list *psk_list, struct s2n_offered_psk *psk);
int s2n_offered_psk_list_reread(struct s2n_offered_psk_list *psk_list);
int s2n_offered_psk_list_choose_psk(struct s2n_offered_psk_list *psk_list, struct s2n_offered_psk *psk);
typedef int (*s2n_psk_selection_callback)(struct s2n_connection *conn, void *context, struct s2n_offered_psk_list *psk_list);
int s2n_config_set_psk_selection_callback(struct s2n_config *config, s2n_psk_selection_callback cb, void *context);
int py_append_psk(struct s2n_connection *c, const uint8_t *identity, uint16_t identity_size,
                  const uint8_t *secret, uint16_t secret_size, s2n_psk_hmac hmac);
extern "Python" int py_psk_selection_trampoline(struct s2n_connection *conn, void *context, struct s2n_offered_psk_list *psk_list);
