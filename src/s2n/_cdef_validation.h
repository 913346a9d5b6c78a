/* issue 12: custom certificate validation (api/unstable/crl.h) and X.509 knobs (s2n.h) */
struct s2n_cert_validation_info;
typedef int (*s2n_cert_validation_callback)(struct s2n_connection *conn,
        struct s2n_cert_validation_info *info, void *context);
int s2n_config_set_cert_validation_cb(struct s2n_config *config, s2n_cert_validation_callback callback,
        void *context);
int s2n_cert_validation_accept(struct s2n_cert_validation_info *info);
int s2n_cert_validation_reject(struct s2n_cert_validation_info *info);
int s2n_config_disable_x509_time_verification(struct s2n_config *config);
int s2n_config_disable_x509_intent_verification(struct s2n_config *config);
int s2n_config_set_max_cert_chain_depth(struct s2n_config *config, uint16_t max_depth);
const char *py_validation_step(struct s2n_connection *conn, uint64_t *wire_in);
extern "Python" int py_cert_validation_trampoline(struct s2n_connection *conn,
        struct s2n_cert_validation_info *info, void *ctx);
