#!/usr/bin/env python3
"""Slow HTTP clients against a server, for tests/e2e/t_slow_clients.sh.

Opens COUNT connections (spread over SOURCES loopback source addresses, so
that each address stays under a per-client cap) and keeps each one busy the
slow way: a third drip their request headers, a third drip a buffered JSON
body, a third drip a CSV upload body; one byte every INTERVAL seconds on
each connection, never finishing. Prints "OPEN <n>" once every connection
is made (or failed), then watches how the server ends them and prints one
JSON summary line when all are closed or after MAX_SECONDS:
  {"opened", "failed", "closed_by_server", "still_open", "status": {code: n},
   "open_s": {"min", "max"}}
"status" counts the first status line each connection received ("none"
when the server closed without an answer). Standard library only.
"""
import argparse
import json
import os
import selectors
import socket
import sys
import time


def build_requests(args):
    host = "Host: %s:%d\r\n" % (args.host, args.port)
    # Authenticated, so that the body routes wait for their bodies instead
    # of answering 401 at the headers.
    key = os.environ.get("ECM_API_KEY", "")
    if key:
        host += "Authorization: Bearer %s\r\n" % key
    return [
        # Headers that never end.
        ("GET /api/v1/campaigns HTTP/1.1\r\n" + host + "X-Slow: ", b"a"),
        # A buffered body that never ends.
        ("POST /api/v1/campaigns HTTP/1.1\r\n" + host +
         "Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{\"name\":\"", b"a"),
        # An upload that never ends.
        ("POST /api/v1/campaigns/%d/uploads HTTP/1.1\r\n" % args.campaign + host +
         "Content-Type: text/csv\r\nContent-Length: 10000000\r\n\r\naccount_number,phone1\n",
         b"1"),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--campaign", type=int, default=1, help="campaign id for the upload route")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--sources", type=int, default=50,
                    help="source addresses 127.0.1.1 .. 127.0.1.N")
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between bytes")
    ap.add_argument("--max-seconds", type=float, default=300.0)
    args = ap.parse_args()

    kinds = build_requests(args)
    sel = selectors.DefaultSelector()
    conns = {}
    failed = 0
    start = time.monotonic()
    for i in range(args.count):
        src = "127.0.1.%d" % (i % args.sources + 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((src, 0))
            s.settimeout(30)
            s.connect((args.host, args.port))
            prefix, drip = kinds[i % len(kinds)]
            s.sendall(prefix.encode())
            s.setblocking(False)
        except OSError:
            failed += 1
            s.close()
            continue
        c = {"sock": s, "drip": drip, "opened": time.monotonic(), "closed": None,
             "answer": b""}
        conns[s.fileno()] = c
        sel.register(s, selectors.EVENT_READ, c)
    print("OPEN %d" % len(conns), flush=True)

    next_drip = time.monotonic() + args.interval
    deadline = start + args.max_seconds
    while time.monotonic() < deadline and any(c["closed"] is None for c in conns.values()):
        timeout = max(0.0, min(next_drip, deadline) - time.monotonic())
        for key, _ in sel.select(timeout):
            c = key.data
            try:
                data = c["sock"].recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                c["answer"] += data[:256]
                continue
            c["closed"] = time.monotonic()
            sel.unregister(c["sock"])
            c["sock"].close()
        if time.monotonic() >= next_drip:
            next_drip += args.interval
            for c in conns.values():
                if c["closed"] is None:
                    try:
                        c["sock"].send(c["drip"])
                    except OSError:
                        pass  # the read side sees the close

    status = {}
    open_s = []
    for c in conns.values():
        if c["closed"] is None:
            continue
        line = c["answer"].split(b"\r\n", 1)[0].split()
        code = line[1].decode() if len(line) > 1 else "none"
        status[code] = status.get(code, 0) + 1
        open_s.append(c["closed"] - c["opened"])
    still = sum(1 for c in conns.values() if c["closed"] is None)
    for c in conns.values():
        if c["closed"] is None:
            c["sock"].close()
    print(json.dumps({
        "opened": len(conns), "failed": failed, "closed_by_server": len(open_s),
        "still_open": still, "status": status,
        "open_s": {"min": round(min(open_s), 1) if open_s else None,
                   "max": round(max(open_s), 1) if open_s else None},
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
