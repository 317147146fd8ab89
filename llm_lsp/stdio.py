"""Serve over stdio with an event-loop pipe reader.

pygls reads stdin through a thread pool (one hop per header line and per body: four per message), which adds
1-2 ms to every request. When stdin is a pipe (as editors start us) we read it on the event loop instead,
and keep pygls' own message loop; anything else (a TTY, a file) falls back to pygls' reader.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import threading
from typing import TYPE_CHECKING

from pygls.io_ import StdoutWriter, run_async

if TYPE_CHECKING:
    from llm_lsp.server import LlmLanguageServer

log = logging.getLogger(__name__)


class PipeReader:
    """pygls' AsyncReader interface over an asyncio StreamReader."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    async def readline(self) -> bytes:
        return await self.reader.readline()

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self.reader.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            return exc.partial


def stdin_is_pipe() -> bool:
    try:
        mode = os.fstat(sys.stdin.buffer.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def serve(server: LlmLanguageServer) -> None:
    if not stdin_is_pipe():
        server.start_io()
        return

    async def main() -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
        server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
        await run_async(
            stop_event=stop,
            reader=PipeReader(reader),
            protocol=server.protocol,
            logger=log,
            error_handler=server.report_server_error,
        )

    stop = threading.Event()
    server._stop_event = stop
    try:
        asyncio.run(main())
    except BrokenPipeError:
        log.error("connection to the client is lost; shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()
