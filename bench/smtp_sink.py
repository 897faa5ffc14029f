"""A loopback SMTP server that accepts every message, answering the end of its DATA after a fixed delay.

Runs in its own process (`python -m bench.smtp_sink DELAY_MS`) and prints its port. Enough SMTP for a mail client
(EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS, no login), as a site's relay would answer on its own network:
the bench's e-mail channels (`…-email`, a leader's escalation mailbox) deliver here the way a deployment's do.
"""

from __future__ import annotations

import asyncio
import sys


async def serve(delay: float) -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 bench-smtp ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-bench-smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 end with <CRLF>.<CRLF>\r\n")
                    while (await reader.readline()) not in (b".\r\n", b""):
                        pass
                    await asyncio.sleep(delay)
                    writer.write(b"250 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                else:  # HELO, MAIL, RCPT, RSET, NOOP
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(float(sys.argv[1]) / 1000))
