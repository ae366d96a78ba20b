"""The generator's WebSocket side: a thin client that counts frames and parses only what a
figure needs, for Stream's wire (Hubbub, the bare baseline) and for Engine.IO v4 (Socket.IO),
and the busy-polling reader that reads many of them from one epoll set."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import select
import time
import urllib.parse
from typing import Any

from bench.servers import API_KEY

EVENT_PREFIX_BYTE = ord("s")   # our events start {"seq": (custom fields come first)
TYPE_PREFIX_BYTE = ord("t")    # {"type": ... (health.check, channel.created)
HEALTH_PREFIX = b'{"type":"health.check"'


class LatencySink:
    """Per event: recipients counted, first and last arrival (monotonic ns)."""

    def __init__(self, capacity: int) -> None:
        self.count = [0] * capacity
        self.first = [0] * capacity
        self.last = [0] * capacity
        self.sent = [0] * capacity

    def record(self, data: bytes, start: int, now: int) -> None:
        comma = data.index(b",", start + 7)
        seq = int(data[start + 7:comma])
        if seq < len(self.count):
            if not self.count[seq]:
                self.first[seq] = now
            self.count[seq] += 1
            self.last[seq] = now


class SampleSink:
    """Full parse of a few connections' events: send timestamp ``t`` -> arrival."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.payload_bytes = 0

    def record(self, data: bytes, start: int, end: int, now: int) -> None:
        self.payload_bytes = end - start
        event = json.loads(data[start:end])
        if len(self.latencies_ms) < 1_000_000:
            self.latencies_ms.append((now - event["t"]) / 1e6)


class WsClient(asyncio.Protocol):
    """One WebSocket, speaking just enough RFC 6455: server frames are unmasked and whole.

    Stream's wire: the first ``health.check`` carries the connection id; events are JSON
    objects whose first key is ``seq``. :class:`EioClient` speaks Engine.IO v4 instead."""

    #: bytes before an event's JSON object in a text frame, and after it
    EVENT_HEAD = 0
    EVENT_TAIL = 0

    def __init__(self, request: bytes, user_id: str = "") -> None:
        self.request = request
        self.user_id = user_id
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.head = b""
        self.rest = b""
        self.ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.connection_id: str | None = None
        self.events = 0
        self.health = 0
        self.other = 0
        self.closed = False
        self.close_code: int | None = None
        self.sink: LatencySink | None = None
        self.sample: SampleSink | None = None
        # health checks: arrival times of the periodic ones, and client pings awaiting a reply
        self.track_health = False
        self.health_times: list[int] = []
        self.ping_sent = 0
        self.ping_rtts: list[float] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before the handshake: {exc}"))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        if not self.upgraded:
            self.head += data
            k = self.head.find(b"\r\n\r\n")
            if k < 0:
                return
            if b" 101 " not in self.head[:16]:
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(self.head[:200].decode("latin1")))
                return
            data = self.head[k + 4:]
            self.head = b""
            self.upgraded = True
        if self.rest:
            data = self.rest + data
            self.rest = b""
        i, n = 0, len(data)
        head, tail = self.EVENT_HEAD, self.EVENT_TAIL
        while n - i >= 2:
            ln = data[i + 1] & 0x7F
            if ln < 126:
                p = i + 2
            elif ln == 126:
                if n - i < 4:
                    break
                ln = (data[i + 2] << 8) | data[i + 3]
                p = i + 4
            else:
                if n - i < 10:
                    break
                ln = int.from_bytes(data[i + 2:i + 10], "big")
                p = i + 10
            end = p + ln
            if end > n:
                break
            op = data[i] & 0x0F
            if op == 1:
                q = p + head
                lead = data[q + 2] if ln > head + 2 else 0
                # (an Engine.IO event is a "42" packet: the check costs Stream's wire nothing)
                if lead == EVENT_PREFIX_BYTE and (not head or data[p + 1] == 0x32):
                    self.events += 1
                    if self.sink is not None:
                        self.sink.record(data, q, now)
                    if self.sample is not None:
                        self.sample.record(data, q, end - tail, now)
                else:
                    self._on_control(data, p, end, now)
            elif op == 8:
                self.closed = True
                if ln >= 2:
                    self.close_code = (data[p] << 8) | data[p + 1]
            elif op == 9 and self.transport is not None:
                self.transport.write(_client_frame(0xA, data[p:end]))
            i = end
        if i < n:
            self.rest = data[i:]

    def _on_control(self, data: bytes, p: int, end: int, now: int) -> None:
        """A text frame that is not one of our events: a health check, or anything else."""
        if (end - p > 2 and data[p + 2] == TYPE_PREFIX_BYTE
                and data.startswith(HEALTH_PREFIX, p)):
            self._on_health(data, p, end, now)
            return
        self.other += 1
        if self.connection_id is None and not self.ready.done():
            self.ready.set_exception(ConnectionError(
                "refused: " + data[p:end][:300].decode("utf-8", "replace")))

    def _on_health(self, data: bytes, p: int, end: int, now: int) -> None:
        if self.connection_id is None:
            hello = json.loads(data[p:end])
            self.connection_id = hello.get("connection_id")
            if not self.ready.done():
                self.ready.set_result(hello)
            return
        self.health += 1
        if self.ping_sent:
            if self.ping_rtts is not None:
                self.ping_rtts.append((now - self.ping_sent) / 1e6)
            self.ping_sent = 0
        elif self.track_health:
            self.health_times.append(now)

    def ping(self) -> None:
        """The JS SDK's keep-alive: a JSON array; the server answers with a health.check."""
        if self.transport is None or self.closed or self.ping_sent:
            return
        payload = b'[{"type":"health.check","client_id":"' + (
            self.connection_id or "").encode() + b'"}]'
        self.ping_sent = time.monotonic_ns()
        self.transport.write(_client_frame(0x1, payload))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class EioClient(WsClient):
    """Engine.IO v4 over WebSocket, as a Socket.IO 4 client on its default namespace.

    The server opens with ``0{"sid":...}``; the client connects to the namespace with ``40``
    and gets ``40{"sid":...}`` (the socket id: our connection id). Events are
    ``42["event",{...}]`` (same detection by the object's first key, ``seq``); the server's
    heartbeat ``2`` is answered with ``3`` at once and counted as a health check."""

    EVENT_HEAD = len(b'42["event",')
    EVENT_TAIL = len(b"]")

    def _on_control(self, data: bytes, p: int, end: int, now: int) -> None:
        kind = data[p:min(p + 2, end)]
        if kind == b"2":
            if self.transport is not None:
                self.transport.write(_client_frame(0x1, b"3"))
            self.health += 1
            if self.track_health:
                self.health_times.append(now)
        elif kind[:1] == b"0":
            if self.transport is not None:
                self.transport.write(_client_frame(0x1, b"40"))
        elif kind == b"40" and self.connection_id is None:
            hello = json.loads(data[p + 2:end])
            self.connection_id = hello.get("sid")
            if not self.ready.done():
                self.ready.set_result(hello)
        else:
            self.other += 1
            if kind == b"44" and not self.ready.done():  # CONNECT_ERROR
                self.ready.set_exception(ConnectionError(
                    "refused: " + data[p:end][:300].decode("utf-8", "replace")))

    def ping(self) -> None:
        """Engine.IO v4 clients do not ping (the server does): nothing to time."""


class SpinReader:
    """Reads the watchers' sockets itself, busy-polling one epoll set (timeout 0) and yielding
    to the event loop between polls (the REST senders run there).

    Why: a reader that sleeps in ``epoll_wait`` makes every server write pay for waking it up
    (on this VM ~7.7 us per ``send`` instead of ~4.7 us with a busy reader: see README), and
    the asyncio read path costs the generator ~13 us a frame. Spinning on its own core, the
    generator reads faster than one server core can write. ``--reader asyncio`` turns it off.
    """

    def __init__(self, conns: list[WsClient]) -> None:
        self.conns = [c for c in conns if c.transport is not None and not c.closed]
        self.ep = select.epoll()
        self.by_fd: dict[int, WsClient] = {}
        self.stopped = False
        self.task: asyncio.Task[None] | None = None
        for c in self.conns:
            assert c.transport is not None
            c.transport.pause_reading()
            fd = c.transport.get_extra_info("socket").fileno()
            self.by_fd[fd] = c
            self.ep.register(fd, select.EPOLLIN)

    def start(self) -> SpinReader:
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        poll, read, by_fd = self.ep.poll, os.read, self.by_fd
        sleep = asyncio.sleep
        while not self.stopped:
            for fd, _ in poll(0, 1024):
                try:
                    data = read(fd, 65536)  # < 128 KiB: malloc, not mmap, per read
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    by_fd[fd].data_received(data)
                else:
                    self.ep.unregister(fd)
                    by_fd[fd].closed = True
            await sleep(0)

    async def stop(self) -> None:
        self.stopped = True
        if self.task is not None:
            await self.task
        self.ep.close()
        for c in self.conns:
            if c.transport is not None and not c.transport.is_closing():
                c.transport.resume_reading()


def make_reader(args: argparse.Namespace, conns: list[WsClient]) -> SpinReader | None:
    return SpinReader(conns).start() if args.reader == "spin" else None


async def stop_reader(reader: SpinReader | None) -> None:
    if reader is not None:
        await reader.stop()


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (zero mask key: valid, and the payload stays as is)."""
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, 0x80 | n])
    else:
        header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    return header + b"\0\0\0\0" + payload


def connect_request(port: int, user_id: str, token: str) -> bytes:
    params = urllib.parse.urlencode({
        "json": json.dumps({"user_id": user_id, "user_details": {"id": user_id},
                            "client_request_id": os.urandom(8).hex()}),
        "api_key": API_KEY, "authorization": token, "stream-auth-type": "jwt"})
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /connect?{params} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\nUser-Agent: hubbub-bench\r\n\r\n").encode()


def eio_request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "User-Agent: hubbub-bench\r\n\r\n").encode()


async def open_ws(port: int, user_id: str, token: str, timeout: float = 30, *,
                  eio: bool = False) -> WsClient:
    """A connection that finished its handshake (Stream's, or Engine.IO's if ``eio``)."""
    loop = asyncio.get_running_loop()
    if eio:
        req = eio_request(port)
        factory: type[WsClient] = EioClient
    else:
        req = connect_request(port, user_id, token)
        factory = WsClient
    _, proto = await asyncio.wait_for(
        loop.create_connection(lambda: factory(req, user_id), "127.0.0.1", port), timeout)
    try:
        await asyncio.wait_for(proto.ready, timeout)
    except BaseException:
        proto.abort()
        raise
    return proto

