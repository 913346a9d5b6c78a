"""What SSLSocket and SSLObject both answer about a connection, named and
shaped as the stdlib's (`getpeercert()` gives the stdlib's own dict)."""

from __future__ import annotations

import ssl as _ssl
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar, Union, overload

from .._errors import S2NError
from ..connection import Connection
from ..socket import _secret_bits
from . import _certdict, _errors

_T = TypeVar("_T")


class SSLSession:
    """A session to resume (`session=` of wrap_socket/wrap_bio); s2n-tls's
    serialized session state, opaque as the stdlib's."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)

    @property
    def has_ticket(self) -> bool:
        return bool(self._data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SSLSession) and other._data == self._data

    def __hash__(self) -> int:
        return hash(self._data)


class ConnectionInfo:
    """Mixin: needs `_connection()` (the s2n Connection, or None once closed),
    `_handshake_done()`, `_context` and `server_side`."""

    _context: Any
    server_side: bool
    server_hostname: Optional[str]

    def _connection(self) -> Optional[Connection]:
        raise NotImplementedError

    def _handshake_done(self) -> bool:
        raise NotImplementedError

    @overload
    def _ask(self, fn: Callable[[Connection], _T]) -> Optional[_T]: ...
    @overload
    def _ask(self, fn: Callable[[Connection], _T], default: _T) -> _T: ...

    def _ask(self, fn: Callable[[Connection], Any], default: Any = None) -> Any:
        conn = self._connection()
        if conn is None or not self._handshake_done():
            return default
        try:
            return fn(conn)
        except S2NError as e:
            _errors.reraise(e, self.server_hostname)

    @property
    def context(self) -> Any:
        return self._context

    @context.setter
    def context(self, ctx: Any) -> None:
        # sni_callback may switch the context; s2n.ssl contexts only.
        if not hasattr(ctx, "s2n_config"):
            raise TypeError("the context must be an s2n.ssl.SSLContext")
        self._context = ctx

    def getpeercert(self, binary_form: bool = False) -> Union[Dict[str, Any], bytes, None]:
        if self._connection() is not None and not self._handshake_done():
            raise ValueError("handshake not done yet")
        if self._context.verify_mode == _ssl.CERT_NONE and not self.server_side:
            # s2n-tls keeps no chain it did not verify: {} as the stdlib
            # says for an unverified certificate; no DER to give.
            return None if binary_form else {}
        chain: List[bytes] = self._ask(lambda c: c.get_peer_cert_chain(), [])
        if not chain:
            return None
        if binary_form:
            return chain[0]
        return _certdict.decode(chain[0])

    def get_verified_chain(self) -> List[bytes]:
        return self._ask(lambda c: c.get_peer_cert_chain(), [])

    get_unverified_chain = get_verified_chain

    def cipher(self) -> Optional[Tuple[str, str, int]]:
        def get(c: Connection) -> Tuple[str, str, int]:
            name = c.get_cipher()
            return name, str(c.get_actual_protocol_version()), _secret_bits(name)
        return self._ask(get)

    def shared_ciphers(self) -> None:
        return None

    def compression(self) -> None:
        return None

    def version(self) -> Optional[str]:
        return self._ask(lambda c: str(c.get_actual_protocol_version()))

    def selected_alpn_protocol(self) -> Optional[str]:
        return self._ask(lambda c: c.get_application_protocol())

    def selected_npn_protocol(self) -> None:
        return None

    def get_channel_binding(self, cb_type: str = "tls-unique") -> None:
        if cb_type != "tls-unique":
            raise ValueError(f"{cb_type} channel binding type not implemented")
        return None  # s2n-tls does not expose the Finished message

    def verify_client_post_handshake(self) -> None:
        raise _errors._ssl_error(_ssl.SSLError, 1, "WRONG_SSL_VERSION",
                                 "post-handshake authentication is not supported by s2n-tls")

    @property
    def session(self) -> Optional[SSLSession]:
        def get(c: Connection) -> Optional[SSLSession]:
            data = getattr(c, "_ssl_session", None) or c.get_session()
            return SSLSession(data) if data else None
        return self._ask(get)

    @property
    def session_reused(self) -> Optional[bool]:
        return self._ask(lambda c: c.is_session_resumed())


def session_bytes(session: Any) -> Optional[bytes]:
    if session is None:
        return None
    if isinstance(session, SSLSession):
        return session._data
    raise TypeError("session must be an s2n.ssl.SSLSession (from the .session of an "
                    "s2n.ssl connection)")
