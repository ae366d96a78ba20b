"""The generator's HTTP side: a thin HTTP/1.1 keep-alive client (one request at a time, as the
SDKs do) and the requests the phases send: client-side ``sendEvent`` with a member's token."""

from __future__ import annotations

import asyncio
import json
import time

from bench.servers import API_KEY


class HttpConn(asyncio.Protocol):
    """One keep-alive connection, one request at a time (as SDKs do: no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        buf = self.buf
        k = buf.find(b"\r\n\r\n")
        if k < 0:
            return
        head = bytes(buf[:k]).lower()
        c = head.find(b"\r\ncontent-length:")
        if c < 0:
            waiter.set_exception(RuntimeError("response without content-length"))
            return
        length = int(head[c + 17:head.find(b"\r\n", c + 17) if head.find(
            b"\r\n", c + 17) > 0 else None])
        if len(buf) < k + 4 + length:
            return
        status = int(head[9:12])
        body = bytes(buf[k + 4:k + 4 + length])
        del buf[:k + 4 + length]
        waiter.set_result((status, body))

    async def request(self, raw: bytes, timeout: float = 30) -> tuple[int, bytes]:
        assert self.transport is not None
        if self.lost:
            raise ConnectionError("connection lost")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await asyncio.wait_for(self.waiter, timeout)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_http(port: int) -> HttpConn:
    loop = asyncio.get_running_loop()
    _, proto = await asyncio.wait_for(
        loop.create_connection(HttpConn, "127.0.0.1", port), 30)
    return proto


def post_request(port: int, path: str, token: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {token}\r\n"
            "stream-auth-type: jwt\r\nX-Stream-Client: hubbub-bench\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def event_path(channel_id: str) -> str:
    return f"/channels/messaging/{channel_id}/event?api_key={API_KEY}"


def event_body(seq: int, pad: int = 0) -> bytes:
    # seq first: the watchers tell our events from others by their first key.
    body = {"event": {"seq": seq, "t": time.monotonic_ns(), "type": "bench"}}
    if pad:
        body["event"]["text"] = "x" * pad
    return json.dumps(body, separators=(",", ":")).encode()

