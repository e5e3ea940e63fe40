"""A tiny real SMTP server for tests: speaks enough SMTP for smtplib and keeps what it receives."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from email.message import EmailMessage


class SmtpSink:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.messages: list[EmailMessage] = []
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(line: str) -> None:
            writer.write(f"{line}\r\n".encode())
            await writer.drain()

        await reply("220 sink ESMTP")
        while line := await reader.readline():
            command = line.decode(errors="replace").strip().upper()
            if command.startswith(("EHLO", "HELO")):
                await reply("250 sink")
            elif command.startswith(("MAIL FROM", "RCPT TO", "RSET", "NOOP")):
                await reply("250 OK")
            elif command == "DATA":
                await reply("354 end with <CRLF>.<CRLF>")
                body = bytearray()
                while (chunk := await reader.readline()) not in (b".\r\n", b".\n", b""):
                    body += chunk[1:] if chunk.startswith(b"..") else chunk
                self.messages.append(message_from_bytes(bytes(body), policy=policy.default))  # type: ignore[arg-type]
                await reply("250 queued")
            elif command == "QUIT":
                await reply("221 bye")
                break
            else:
                await reply("502 not implemented")
        writer.close()
