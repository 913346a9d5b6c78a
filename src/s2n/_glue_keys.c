/* issue 12 (keys): s2n_connection_get_key_update_counts is declared in an
 * unstable header; wrapped under our own name so no other feature's cdef
 * can clash with ours. */
#include <s2n/unstable/ktls.h>

static int py_keys_update_counts(struct s2n_connection *conn, uint8_t *send_key_updates, uint8_t *recv_key_updates)
{
    return s2n_connection_get_key_update_counts(conn, send_key_updates, recv_key_updates);
}
