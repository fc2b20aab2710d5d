#!/usr/bin/env python3
"""smtp_catcher.py: the local stack's SMTP server (docs/decisions.md, "Notifications").

Owns: <data>/mail: every accepted message is written whole to <timestamp>-<n>.eml
(written to a .tmp name first, then renamed, so a reader never sees half a file).
Rules: a file <data>/mail/.fail-next holding "N CODE" makes the next N messages be
answered with SMTP CODE at the end of DATA (N counts down; the file goes at 0), so tests
can drive transient (4xx) and permanent (5xx) failures; an optional third word "N CODE
ADDRESS" limits that to messages for ADDRESS (others pass), so a test is not disturbed
by mail still flowing from earlier ones; loopback only; SIGTERM stops it.
"""
import argparse
import asyncio
import itertools
import os
import signal
import time

from aiosmtpd.smtp import SMTP

FAIL_FILE = ".fail-next"


class Catcher:
    def __init__(self, folder):
        self.folder = folder
        self.counter = itertools.count(1)

    def _take_failure(self, rcpts):
        """The SMTP code to answer with when .fail-next asks for one, else None."""
        path = os.path.join(self.folder, FAIL_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                parts = f.read().split()
            count, code = int(parts[0]), int(parts[1])
        except (OSError, ValueError, IndexError):
            return None
        only = parts[2].lower() if len(parts) > 2 else None
        if only is not None and only not in [r.lower() for r in rcpts]:
            return None
        if count <= 0:
            os.unlink(path)
            return None
        if count == 1:
            os.unlink(path)
        else:
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(" ".join([str(count - 1), str(code), *parts[2:3]]) + "\n")
            os.replace(tmp, path)
        return code

    async def handle_DATA(self, server, session, envelope):
        code = self._take_failure(envelope.rcpt_tos)
        if code is not None:
            print(f"smtp: answering {code} to {envelope.rcpt_tos}", flush=True)
            return f"{code} simulated failure (.fail-next)"
        name = f"{time.time_ns()}-{next(self.counter)}.eml"
        path = os.path.join(self.folder, name)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.replace(path + ".tmp", path)
        print(f"smtp: {envelope.mail_from} -> {envelope.rcpt_tos}: {name}", flush=True)
        return "250 OK: queued as " + name


async def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    handler = Catcher(args.dir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="taskbus-catcher", decode_data=False), args.host, args.port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"smtp: listening on {args.host}:{args.port}, mail in {args.dir}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
