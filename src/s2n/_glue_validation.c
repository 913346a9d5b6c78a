/* issue 12: custom certificate validation */
#include <s2n/unstable/crl.h>

/* Where the handshake is, to tell a paused validation from a later one:
 * the current message's name, and the bytes read so far. */
static const char *py_validation_step(struct s2n_connection *conn, uint64_t *wire_in)
{
    *wire_in = s2n_connection_get_wire_bytes_in(conn);
    return s2n_connection_get_last_message_name(conn);
}
