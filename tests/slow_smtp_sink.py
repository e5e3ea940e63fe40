"""The test SMTP sink (tests/smtp_sink.py), answering slowly, and keeping the commands it read."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.smtp_sink import SmtpSink


class _Writer:
    """The sink's side of a connection, holding back the replies its sink says to delay."""

    def __init__(self, writer: asyncio.StreamWriter, sink: SlowSink) -> None:
        self.writer, self.sink, self.line = writer, sink, b""

    def write(self, data: bytes) -> None:
        self.line = data

    async def drain(self) -> None:
        await asyncio.sleep(self.sink.delay_for(self.line))
        self.writer.write(self.line)
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


class _Reader:
    """The sink's side of a connection, keeping every command it reads."""

    def __init__(self, reader: asyncio.StreamReader, sink: SlowSink) -> None:
        self.reader, self.sink = reader, sink

    async def readline(self) -> bytes:
        line = await self.reader.readline()
        self.sink.lines.append(line)
        return line


class SlowSink(SmtpSink):
    """The test sink, answering slowly: the end of the first ``slow_messages`` messages after
    ``queued_delay`` seconds, and every other reply after ``reply_delay``."""

    def __init__(self, queued_delay: float = 0, slow_messages: int = 1, reply_delay: float = 0) -> None:
        super().__init__()
        self.queued_delay, self.slow_messages, self.reply_delay = queued_delay, slow_messages, reply_delay
        self.lines: list[bytes] = []

    def delay_for(self, reply: bytes) -> float:
        if reply.startswith(b"250 queued") and len(self.messages) <= self.slow_messages:
            return self.queued_delay
        return self.reply_delay

    async def _session(self, reader: Any, writer: Any) -> None:
        await super()._session(_Reader(reader, self), _Writer(writer, self))
