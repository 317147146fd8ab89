"""Minimal HTTP/1.1 plumbing on asyncio streams: request parsing, responses, chunked streams.

Written by hand so the framing on the wire is exactly what the emulators decide.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

MAX_LINE = 64 * 1024
MAX_HEADERS = 200
MAX_BODY = 64 * 1024 * 1024
JSON_TYPE = "application/json; charset=utf-8"


class ProtocolError(Exception):
    """The client sent something that is not HTTP/1.x."""


class ClientGone(Exception):
    """The peer closed (or reset) the connection."""


def dumps(obj: Any) -> str:
    """Compact JSON, as Go and most servers write it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(status, dumps(obj).encode(), JSON_TYPE, dict(headers or {}))

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status, text.encode(), content_type)


class Reply(Exception):
    """Raised by a handler to answer at once with `response`."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: str
    version: str
    headers: dict[str, str]
    raw_body: bytes

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


def _status_line(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n"


class Conn:
    """One client connection: a buffered reader, a writer, and a disconnect watcher."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.closed = asyncio.Event()  # set as soon as the peer is seen gone
        self._buf = bytearray()
        self._watcher: asyncio.Task[None] | None = None
        self._on_close: list[Callable[[], None]] = []

    @property
    def gone(self) -> bool:
        return self.closed.is_set()

    def _mark_gone(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for callback in self._on_close:
            callback()

    async def _fill(self) -> bool:
        if self.gone:
            return False
        try:
            data = await self.reader.read(65536)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self._mark_gone()
            return False
        self._buf += data
        return True

    # -- reading -----------------------------------------------------------------
    async def _readline(self) -> bytes | None:
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line = bytes(self._buf[: i + 1])
                del self._buf[: i + 1]
                return line
            if len(self._buf) > MAX_LINE:
                raise ProtocolError("line too long")
            if not await self._fill():
                return None

    async def _readexactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not await self._fill():
                raise ClientGone()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    async def _must_readline(self) -> bytes:
        line = await self._readline()
        if line is None:
            raise ClientGone()
        return line

    async def read_request(self) -> Request | None:
        """Next request, or None when the client closed cleanly between requests."""
        line = await self._readline()
        while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between requests
            line = await self._readline()
        if line is None:
            return None
        parts = line.decode("latin-1").strip().split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise ProtocolError(f"bad request line {line!r}")
        method, target, version = parts
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            hline = (await self._must_readline()).decode("latin-1").rstrip("\r\n")
            if not hline:
                break
            name, sep, value = hline.partition(":")
            if not sep:
                raise ProtocolError(f"bad header line {hline!r}")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        else:
            raise ProtocolError("too many headers")
        if headers.get("expect", "").lower() == "100-continue":
            await self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._read_body(headers)
        path, _, query = target.partition("?")
        return Request(method, target, path, query, version, headers, body)

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = bytearray()
            while True:
                size_line = (await self._must_readline()).split(b";")[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError as exc:
                    raise ProtocolError("bad chunk size") from exc
                if size == 0:
                    while (await self._must_readline()).strip():  # trailers
                        pass
                    return bytes(chunks)
                chunks += await self._readexactly(size)
                await self._readexactly(2)
                if len(chunks) > MAX_BODY:
                    raise ProtocolError("body too large")
        length = headers.get("content-length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError as exc:
            raise ProtocolError("bad content-length") from exc
        if n < 0 or n > MAX_BODY:
            raise ProtocolError("bad content-length")
        return await self._readexactly(n)

    # -- disconnect watching ------------------------------------------------------
    def watch(self, on_close: Callable[[], None]) -> None:
        """Read concurrently while a response is produced, so a client close is seen at once."""
        if self.gone:
            on_close()
            return
        self._on_close.append(on_close)
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        # Bytes that arrive (a pipelined request) stay buffered for the next read_request.
        while len(self._buf) < MAX_LINE and await self._fill():
            pass

    async def unwatch(self) -> None:
        self._on_close.clear()
        task, self._watcher = self._watcher, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    # -- writing -----------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        if self.gone or self.writer.is_closing():
            self._mark_gone()
            raise ClientGone()
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            self._mark_gone()
            raise ClientGone() from exc

    @staticmethod
    def _head(status: int, headers: dict[str, str]) -> bytes:
        lines = [_status_line(status), f"Date: {formatdate(usegmt=True)}\r\n"]
        lines += [f"{k}: {v}\r\n" for k, v in headers.items()]
        return ("".join(lines) + "\r\n").encode("latin-1")

    async def send(self, resp: Response, *, keep_alive: bool, head_only: bool = False) -> None:
        headers = dict(resp.headers)
        if resp.content_type:
            headers["Content-Type"] = resp.content_type
        headers["Content-Length"] = str(len(resp.body))
        if not keep_alive:
            headers["Connection"] = "close"
        await self.write(self._head(resp.status, headers) + (b"" if head_only else resp.body))

    async def start_stream(self, status: int, content_type: str, headers: dict[str, str] | None = None) -> None:
        all_headers = {"Content-Type": content_type, **(headers or {}), "Transfer-Encoding": "chunked"}
        await self.write(self._head(status, all_headers))

    async def chunk(self, data: bytes) -> None:
        if data:
            await self.write(b"%x\r\n%s\r\n" % (len(data), data))

    async def end_stream(self) -> None:
        await self.write(b"0\r\n\r\n")
