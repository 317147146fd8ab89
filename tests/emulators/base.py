"""Common machinery of the LLM server emulators: lifecycle, routing, recording, scripting, generation.

Each emulator is a real HTTP/1.1 server on 127.0.0.1 with its own asyncio loop in a daemon thread, so
it serves sync tests, async tests and separate processes alike. Scripting attributes are plain
attributes that the test thread may assign at any time; they are read live by the server.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, TypeVar

from .generation import GenerationMixin, ResponseText, now
from .http import ClientGone, Conn, ProtocolError, Reply, Request, Response, dumps
from .records import FailSpec, Generation, RequestRecord

Handler = Callable[[Request, Conn], Awaitable[Response | None]]
Routes = dict[str, dict[str, Handler]]

DEFAULT_TEXT = "    return a + b\n"
E = TypeVar("E", bound="EmulatorBase")


class EmulatorBase(GenerationMixin):
    """Base class; subclasses provide `_routes()` and the protocol's error shapes."""

    def __init__(self, port: int | None = None) -> None:
        self._port = port
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._conns: dict[asyncio.Task[Any], Conn] = {}
        self._accepted = 0
        self._stopping = False
        self._active = 0
        self._queue: deque[object] = deque()
        self._slot_event: asyncio.Event | None = None
        self._requests: list[RequestRecord] = []
        self._generations: list[Generation] = []
        self._fails: deque[FailSpec] = deque()
        self.server_errors: list[str] = []  # tracebacks of emulator bugs (answered 500)
        self.api_key: str | None = None
        self._route_table: Routes = self._routes()
        self._default_scripting()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self: E) -> E:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._stopping = False
        self._thread = threading.Thread(
            target=self._thread_main, args=(ready, failure), name=f"{type(self).__name__}-loop", daemon=True
        )
        self._thread.start()
        while not ready.wait(0.05):
            if not self._thread.is_alive():
                self._thread = None
                raise RuntimeError("emulator thread died while starting")
        if failure:
            self._thread.join(5)
            self._thread = None
            raise failure[0]
        return self

    def _thread_main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._slot_event = asyncio.Event()
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._on_connect, "127.0.0.1", self._port or 0, reuse_address=True)
            )
        except BaseException as exc:
            failure.append(exc)
            self._loop = None
            loop.close()
            ready.set()
            return
        self._port = self._server.sockets[0].getsockname()[1]
        ready.set()
        try:
            loop.run_forever()
        finally:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Close the listener and drop every open connection; the port is kept for start()."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            self._loop = None
            self._thread = None
            self._server = None

    async def _shutdown(self) -> None:
        self._stopping = True
        assert self._server is not None
        self._server.close()
        tasks = list(self._conns)
        for task, conn in list(self._conns.items()):
            transport = conn.writer.transport
            if transport is not None:
                transport.abort()
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await asyncio.wait_for(self._server.wait_closed(), 2)
        except asyncio.TimeoutError:  # not an alias of TimeoutError before 3.11
            pass
        self._active = 0
        self._queue.clear()

    def __enter__(self: E) -> E:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("emulator has no port yet: call start()")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting ---------------------------------------------------------------------
    def _default_scripting(self) -> None:
        self.response_text: ResponseText = DEFAULT_TEXT
        self.first_token_delay: float = 0.0
        self.token_delay: float = 0.0
        self.slots: int | None = None
        self.max_queue: int | None = None
        self.midstream_error: tuple[str, int] | None = None
        self.malformed_stream: bool = False
        self.sse_comments: bool = False
        with self._lock:
            self._fails.clear()

    def reset(self) -> None:
        """Clear records and scripting (models, api_key and version switches are kept)."""
        self._default_scripting()
        with self._lock:
            self._requests.clear()
            self._generations.clear()
            self.server_errors.clear()
            self._accepted = 0

    def fail_next(
        self,
        status: int,
        body: Any = None,
        count: int = 1,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next `count` generation requests answer `status` with `body` instead of generating.

        body: dict/list (sent as JSON), str or bytes (sent as is), or None (the protocol's error shape).
        A 429 without explicit `headers` carries `retry-after: 1`.
        """
        raw: bytes | None
        if body is None:
            raw = None
        elif isinstance(body, bytes):
            raw = body
        else:
            raw = body.encode() if isinstance(body, str) else dumps(body).encode()
        if headers is None:
            headers = {"retry-after": "1"} if status == 429 else {}
        with self._lock:
            self._fails.extend(FailSpec(status, raw, content_type, dict(headers)) for _ in range(count))

    # -- records -------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    @property
    def generations(self) -> list[Generation]:
        with self._lock:
            return list(self._generations)

    @property
    def generation_count(self) -> int:
        with self._lock:
            return len(self._generations)

    @property
    def disconnect_count(self) -> int:
        with self._lock:
            return sum(1 for g in self._generations if g.disconnected)

    @property
    def connection_count(self) -> int:
        """TCP connections accepted since construction (keep-alive reuse keeps it low)."""
        return self._accepted

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    def requests_to(self, path: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.path == path]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll `predicate` from a sync test; True once it holds, False on timeout."""
        deadline = now() + timeout
        while not predicate():
            if now() >= deadline:
                return False
            time.sleep(0.005)
        return True

    async def wait_for_async(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Same as wait_for, without blocking the calling event loop."""
        deadline = now() + timeout
        while not predicate():
            if now() >= deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    # -- protocol hooks (overridden) -----------------------------------------------------
    def _routes(self) -> Routes:
        return {}

    def _error(self, req: Request, status: int, message: str) -> Response:
        """The protocol's JSON error for `req` (Ollama: {"error": message})."""
        return Response.json(status, {"error": message})

    def _not_found(self, req: Request) -> Response:
        return Response.text(404, "404 page not found")

    def _method_not_allowed(self, req: Request) -> Response:
        return Response.text(405, "405 method not allowed")

    def _unauthorized(self, req: Request) -> Response:
        return self._error(req, 401, "unauthorized")

    def _bad_json(self, req: Request, message: str) -> Response:
        return self._error(req, 400, message)

    def _queue_full(self, req: Request) -> Response:
        return self._error(req, 503, "server busy, please try again.  maximum pending requests exceeded")

    # -- connection handling ---------------------------------------------------------------
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        conn = Conn(reader, writer)
        self._conns[task] = conn
        self._accepted += 1
        try:
            await self._serve(conn)
        except (ClientGone, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # stop(): asyncio's callback would choke on a cancelled client_connected_cb task
        finally:
            self._conns.pop(task, None)
            await conn.unwatch()
            writer.close()

    async def _serve(self, conn: Conn) -> None:
        while not self._stopping:
            try:
                req = await conn.read_request()
            except ProtocolError as exc:
                await conn.send(Response.text(400, f"400 Bad Request: {exc}"), keep_alive=False)
                return
            if req is None:
                return
            self._record(req)
            keep_alive = req.keep_alive
            try:
                resp = await self._dispatch(req, conn)
            except Reply as reply:
                resp = reply.response
            except ClientGone:
                return
            except Exception:
                self.server_errors.append(traceback.format_exc())
                resp, keep_alive = Response.text(500, "emulator error"), False
            if conn.gone:
                return
            if resp is not None:
                await conn.send(resp, keep_alive=keep_alive, head_only=req.method == "HEAD")
            if not keep_alive:
                return

    def _record(self, req: Request) -> None:
        try:
            body = json.loads(req.raw_body) if req.raw_body.strip() else None
        except (ValueError, UnicodeDecodeError):
            body = None
        record = RequestRecord(req.method, req.path, dict(req.headers), body, req.query, req.raw_body, now())
        with self._lock:
            self._requests.append(record)

    async def _dispatch(self, req: Request, conn: Conn) -> Response | None:
        if self.api_key is not None and req.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._unauthorized(req)
        methods = self._route_table.get(req.path)
        if methods is None:
            return self._not_found(req)
        handler = methods.get(req.method)
        if handler is None:
            return self._method_not_allowed(req)
        return await handler(req, conn)

    # -- helpers for handlers ----------------------------------------------------------------
    def _json_body(self, req: Request) -> dict[str, Any]:
        if not req.raw_body.strip():
            raise Reply(self._bad_json(req, "missing request body"))
        try:
            body = json.loads(req.raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Reply(self._bad_json(req, f"invalid JSON: {exc}")) from exc
        if not isinstance(body, dict):
            raise Reply(self._bad_json(req, "request body must be a JSON object"))
        return body

    def _check_fail_next(self, req: Request) -> None:
        with self._lock:
            spec = self._fails.popleft() if self._fails else None
        if spec is None:
            return
        if spec.body is None:
            default = self._error(req, spec.status, _phrase(spec.status))
            raise Reply(Response(spec.status, default.body, default.content_type, spec.headers))
        raise Reply(Response(spec.status, spec.body, spec.content_type, spec.headers))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"
