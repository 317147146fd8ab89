"""Generation engine shared by the emulators: planning, slots/queue, streaming, disconnect tracking."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from .http import JSON_TYPE, ClientGone, Conn, Reply, Request, Response
from .records import Generation, cut_at_stop, tokenize

ResponseText = str | Callable[[str, Any], str]
MALFORMED_BODY = b'{"response": "oops", this is not json\n'


class Framer(Protocol):
    """How one protocol frames one generation (streamed or whole)."""

    content_type: str
    headers: dict[str, str]

    def preamble(self) -> bytes: ...
    def token(self, text: str, finish_reason: str | None) -> bytes: ...
    def finish(self, gen: Generation, reason: str) -> list[bytes]: ...  # one HTTP chunk each
    def error(self, message: str) -> bytes: ...
    def malformed(self) -> bytes: ...
    def comment(self) -> bytes: ...
    def whole(self, gen: Generation, reason: str) -> Response: ...
    def whole_error(self, message: str) -> Response: ...


def as_str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def now() -> float:
    return time.monotonic()


class GenerationMixin:
    """Runs scripted generations; the emulator provides the attributes declared here."""

    response_text: ResponseText
    first_token_delay: float
    token_delay: float
    slots: int | None
    max_queue: int | None
    midstream_error: tuple[str, int] | None
    malformed_stream: bool
    sse_comments: bool
    _lock: threading.Lock
    _generations: list[Generation]
    _stopping: bool
    _active: int
    _queue: deque[object]
    _slot_event: asyncio.Event | None

    def _queue_full(self, req: Request) -> Response:
        raise NotImplementedError

    def _plan(self, path: str, body: Any, stops: list[str], limit: int | None) -> tuple[list[str], str]:
        source = self.response_text
        text = source(path, body) if callable(source) else source
        text, _ = cut_at_stop(text, stops)
        tokens = tokenize(text)
        if limit is not None and 0 <= limit < len(tokens):
            return tokens[:limit], "length"
        return tokens, "stop"

    # -- generation ----------------------------------------------------------------------------
    async def _generate(
        self,
        req: Request,
        conn: Conn,
        *,
        body: dict[str, Any],
        model: str,
        framer: Callable[[Generation], Framer],
        stream: bool,
        stops: list[str],
        limit: int | None,
    ) -> Response | None:
        """Queue for a slot, then stream (or build) the scripted text. Raises Reply when the queue is full."""
        tokens, reason = self._plan(req.path, body, stops, limit)
        busy = bool(self._queue) or (self.slots is not None and self._active >= self.slots)
        if busy and self.max_queue is not None and len(self._queue) >= self.max_queue:
            raise Reply(self._queue_full(req))
        gen = Generation(req.path, body, model, stream, "".join(tokens), now(), tokens_total=len(tokens))
        with self._lock:
            self._generations.append(gen)
        frames = framer(gen)
        conn.watch(lambda: self._client_gone(gen))
        try:
            if not await self._acquire_slot(conn):
                return None
            try:
                gen.started_at = now()
                await self._pause(conn, self.first_token_delay)
                if conn.gone:
                    return None
                if stream:
                    await self._stream(conn, gen, frames, tokens, reason)
                    return None
                return await self._whole(conn, gen, frames, tokens, reason)
            finally:
                self._release_slot()
        except ClientGone:
            self._client_gone(gen)
            raise
        except asyncio.CancelledError:
            gen.aborted = True
            raise
        finally:
            gen.finished_at = now()
            await conn.unwatch()

    def _client_gone(self, gen: Generation) -> None:
        if not self._stopping and not gen.disconnected and not gen.completed:
            gen.disconnected_at = now()
            gen.disconnected = True
        self._pulse_slots()

    def _count_token(self, gen: Generation) -> None:
        if gen.first_token_at is None:
            gen.first_token_at = now()
        gen.tokens_sent += 1
        if gen.disconnected:
            gen.tokens_after_disconnect += 1

    async def _pause(self, conn: Conn, delay: float) -> None:
        if delay and delay > 0 and not conn.gone:
            try:
                await asyncio.wait_for(conn.closed.wait(), delay)
            except asyncio.TimeoutError:  # not an alias of TimeoutError before 3.11
                pass

    async def _stream(self, conn: Conn, gen: Generation, frames: Framer, tokens: list[str], reason: str) -> None:
        await conn.start_stream(200, frames.content_type, frames.headers)
        await conn.chunk(frames.preamble())
        mid = self.midstream_error
        for i, token in enumerate(tokens):
            if i:
                await self._pause(conn, self.token_delay)
            if conn.gone:
                return
            if mid is not None and gen.tokens_sent >= mid[1]:
                break
            if self.sse_comments:
                await conn.chunk(frames.comment())
            last = i == len(tokens) - 1 and mid is None and not self.malformed_stream
            self._count_token(gen)
            await conn.chunk(frames.token(token, reason if last else None))
            if self.malformed_stream:
                break
        if mid is not None:
            gen.error = mid[0]
            await conn.chunk(frames.error(mid[0]))
        elif self.malformed_stream:
            await conn.chunk(frames.malformed())
        else:
            for frame in frames.finish(gen, reason):
                await conn.chunk(frame)
            gen.completed, gen.done_reason = True, reason
        await conn.end_stream()

    async def _whole(
        self, conn: Conn, gen: Generation, frames: Framer, tokens: list[str], reason: str
    ) -> Response | None:
        mid = self.midstream_error
        for i in range(len(tokens)):
            if i:
                await self._pause(conn, self.token_delay)
            if conn.gone:
                return None
            if mid is not None and gen.tokens_sent >= mid[1]:
                break
            self._count_token(gen)
        if mid is not None:
            gen.error = mid[0]
            return frames.whole_error(mid[0])
        if self.malformed_stream:
            return Response(200, MALFORMED_BODY, JSON_TYPE)
        gen.completed, gen.done_reason = True, reason
        return frames.whole(gen, reason)

    # -- slots -------------------------------------------------------------------------------
    async def _acquire_slot(self, conn: Conn) -> bool:
        ticket = object()
        self._queue.append(ticket)
        try:
            while True:
                event = self._slot_event
                assert event is not None
                if conn.gone:
                    return False
                if self._queue[0] is ticket and (self.slots is None or self._active < self.slots):
                    self._queue.popleft()
                    self._active += 1
                    return True
                try:  # the timeout also picks up `slots` raised from the test thread
                    await asyncio.wait_for(event.wait(), 0.05)
                except asyncio.TimeoutError:  # not an alias of TimeoutError before 3.11
                    pass
        finally:
            if ticket in self._queue:
                self._queue.remove(ticket)
                self._pulse_slots()

    def _release_slot(self) -> None:
        self._active = max(0, self._active - 1)
        self._pulse_slots()

    def _pulse_slots(self) -> None:
        event, self._slot_event = self._slot_event, asyncio.Event()
        if event is not None:
            event.set()
