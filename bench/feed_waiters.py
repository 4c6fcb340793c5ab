#!/usr/bin/env python3
"""Cost of idle long-poll waiters on GET /v1/revocations?wait=N.

Driven by bench/feed_waiters.sh, which starts the server. Standard library
only (asyncio with raw sockets, one connection per waiter, HTTP/1.1 with
`Connection: close`). Only 127.0.0.1.

Phases, measured on the server process PID from /proc:
  1. idle:    no waiters; server CPU over IDLE seconds (the baseline: the
              server's own timers) and VmRSS.
  2. waiting: COUNT waiters on `?after=<current cursor>&wait=WAIT`; after
              SETTLE seconds, VmRSS, open fds and threads; then server CPU
              over IDLE seconds. Waiters answered before the end of this
              phase are counted (there should be none).
  3. wake:    with --token, a POST /v1/logout adds a revocation; every waiter
              should answer at once with it. Reports how long the answers
              took (from the logout request) and the server CPU spent.
              Without --token the waiters run out their WAIT and answer empty.
  4. after:   all connections closed; VmRSS again.
Prints a summary and one JSON line (prefix "RESULT ").
"""

import argparse
import asyncio
import json
import os
import resource
import sys
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return None


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def snapshot(pid):
    return {
        "rss_kib": status_field(pid, "VmRSS"),
        "threads": status_field(pid, "Threads"),
        "fds": open_fds(pid),
    }


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


class Waiter:
    __slots__ = ("status", "answered_at", "error", "body_len")

    def __init__(self):
        self.status = None
        self.answered_at = None
        self.error = None
        self.body_len = 0


async def wait_one(host, port, path, waiter, sent, limit):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as e:
        waiter.error = f"connect: {e.strerror or e}"
        sent.release()
        return
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    try:
        await writer.drain()
    finally:
        sent.release()
    try:
        data = await asyncio.wait_for(reader.read(), timeout=limit)
        waiter.answered_at = time.monotonic()
        head = data.split(b"\r\n", 1)[0].split()
        waiter.status = int(head[1]) if len(head) >= 2 else None
        waiter.body_len = len(data)
        if waiter.status is None:
            waiter.error = "no status line (connection closed)"
    except asyncio.TimeoutError:
        waiter.error = "no answer"
    except OSError as e:
        waiter.error = f"read: {e.strerror or e}"
    finally:
        writer.close()


def get_json(url, token=None, method="GET"):
    req = urllib.request.Request(url, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
        return resp.status, (json.loads(body) if body else None)


def tally(waiters):
    counts = {}
    for w in waiters:
        key = str(w.status) if w.status is not None else (w.error or "pending")
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="server process id")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--wait", type=int, default=30)
    ap.add_argument("--idle", type=float, default=20.0)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--token", help="access token: wake the waiters with a logout")
    args = ap.parse_args()
    host = "127.0.0.1"
    base = f"http://{host}:{args.port}"
    if args.settle + args.idle + 3 >= args.wait:
        sys.exit("settle + idle must end well before the waiters' wait runs out")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.count + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.count + 1000), hard))

    _, feed = get_json(f"{base}/v1/revocations")
    cursor = feed["cursor"]
    path = f"/v1/revocations?after={cursor}&wait={args.wait}"
    result = {"count": args.count, "wait": args.wait, "idle_s": args.idle, "cursor": cursor}

    # 1. idle, no waiters
    await asyncio.sleep(1.0)
    result["before"] = snapshot(args.pid)
    c0 = cpu_seconds(args.pid)
    await asyncio.sleep(args.idle)
    result["idle_cpu_s"] = round(cpu_seconds(args.pid) - c0, 3)

    # 2. waiting
    waiters = [Waiter() for _ in range(args.count)]
    sent = asyncio.Semaphore(0)
    t_open = time.monotonic()
    c_open = cpu_seconds(args.pid)
    tasks = [
        asyncio.create_task(wait_one(host, args.port, path, w, sent, args.wait + 15))
        for w in waiters
    ]
    for _ in waiters:
        await sent.acquire()
    result["open_s"] = round(time.monotonic() - t_open, 3)
    await asyncio.sleep(args.settle)
    result["open_cpu_s"] = round(cpu_seconds(args.pid) - c_open, 3)
    result["with"] = snapshot(args.pid)
    c1 = cpu_seconds(args.pid)
    await asyncio.sleep(args.idle)
    result["waiting_cpu_s"] = round(cpu_seconds(args.pid) - c1, 3)
    result["with_end"] = snapshot(args.pid)
    early = [w for w in waiters if w.answered_at is not None or w.error]
    result["answered_early"] = tally(early)

    # 3. wake (or run out)
    c2 = cpu_seconds(args.pid)
    t_wake = time.monotonic()
    if args.token:
        status, _ = get_json(f"{base}/v1/logout", token=args.token, method="POST")
        result["logout_status"] = status
    await asyncio.gather(*tasks)
    result["wake_cpu_s"] = round(cpu_seconds(args.pid) - c2, 3)
    late = [w.answered_at - t_wake for w in waiters if w.answered_at is not None]
    result["statuses"] = tally(waiters)
    result["answer_after_wake_ms"] = {
        "p50": round(percentile(late, 50) * 1000, 1) if late else None,
        "p99": round(percentile(late, 99) * 1000, 1) if late else None,
        "max": round(max(late) * 1000, 1) if late else None,
    }
    result["answer_since_open_s"] = {
        "min": round(min(w.answered_at for w in waiters if w.answered_at) - t_open, 2)
        if late
        else None,
        "max": round(max(w.answered_at for w in waiters if w.answered_at) - t_open, 2)
        if late
        else None,
    }

    # 4. after
    await asyncio.sleep(2.0)
    result["after"] = snapshot(args.pid)

    b, w, a = result["before"], result["with"], result["after"]
    per_waiter = (w["rss_kib"] - b["rss_kib"]) / args.count
    print(f"waiters: {args.count} on {path}, opened in {result['open_s']} s")
    print(f"  RSS   before {b['rss_kib']} KiB, with waiters {w['rss_kib']} KiB "
          f"(+{w['rss_kib'] - b['rss_kib']} KiB = {per_waiter:.1f} KiB per waiter), "
          f"after they left {a['rss_kib']} KiB")
    print(f"  fds   before {b['fds']}, with {w['fds']}, after {a['fds']}; "
          f"threads {b['threads']} / {w['threads']} / {a['threads']}")
    print(f"  CPU   idle without waiters {result['idle_cpu_s']} s in {args.idle} s; "
          f"idle with waiters {result['waiting_cpu_s']} s in {args.idle} s; "
          f"accepting them {result['open_cpu_s']} s")
    print(f"  answered before the wake: {result['answered_early'] or 'none'}")
    wake = result["answer_after_wake_ms"]
    how = "from the logout request" if args.token else "after the idle phase"
    print(f"  wake: {result['statuses']}; answers {how}: p50 {wake['p50']} ms, "
          f"p99 {wake['p99']} ms, max {wake['max']} ms; server CPU {result['wake_cpu_s']} s")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
