"""A user's code on s2n.asyncio, for the type checkers (only type-checked,
never called; see config_connection.py)."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from typing_extensions import assert_type

import s2n
import s2n.asyncio


async def get(config: s2n.Config, host: str) -> bytes:
    reader, writer = await s2n.asyncio.open_connection(host, 443, config=config,
                                                       handshake_timeout=10.0)
    assert_type(reader, asyncio.StreamReader)
    assert_type(writer, asyncio.StreamWriter)
    conn: s2n.Connection = writer.get_extra_info("s2n_connection")
    assert_type(conn.get_application_protocol(), Optional[str])
    writer.write(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
    await writer.drain()
    body = await reader.read()
    writer.close()
    await writer.wait_closed()
    return body


async def echo(config: s2n.Config) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def choose(conn: s2n.Connection) -> None:
        await asyncio.sleep(0)

    server = await s2n.asyncio.start_server(handle, "127.0.0.1", 0, config=config,
                                            client_hello_cb=choose)
    assert_type(server, s2n.asyncio.Server)
    assert_type(server.is_serving(), bool)
    async with server:
        await server.serve_forever()


async def lazy_module(config: s2n.Config) -> Any:
    # `import s2n` alone reaches s2n.asyncio too (imported on first use)
    return await s2n.asyncio.open_connection("example.com", 443, config=config)
