#!/usr/bin/env python3
"""A minimal DLR sink for bench/sms_kannel.sh's fair baseline.

Answers every HTTP request with 200 and an empty body (keep-alive), and counts
the delivery reports by their status parameter (Kannel's %d in the dlr-url):
1, 2 and 16 are final, anything else intermediate. GET /count answers
"<final> <intermediate> <requests>". asyncio with a hand-rolled request
reader, so that the sink costs less than the gateway it listens to: the
baseline must measure Kannel, not the sink.

    bench/dlr_sink.py PORT   (prints "ready" on stdout once listening)
"""
import asyncio
import sys
from urllib.parse import parse_qs, urlsplit

FINAL = {"1", "2", "16"}
counts = {"final": 0, "intermediate": 0, "requests": 0}


def count(target):
    query = parse_qs(urlsplit(target).query)
    status = query.get("s", query.get("status", [""]))[0]
    counts["requests"] += 1
    if status in FINAL:
        counts["final"] += 1
    else:
        counts["intermediate"] += 1


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip() or 0)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            if length:
                await reader.readexactly(length)
            if target.startswith("/count"):
                body = "%d %d %d\n" % (counts["final"], counts["intermediate"],
                                       counts["requests"])
            else:
                count(target)
                body = ""
            head = "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n%s\r\n" % (
                len(body), "Connection: close\r\n" if close else "")
            writer.write((head + body).encode())
            await writer.drain()
            if close or method == "":
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
