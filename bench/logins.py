#!/usr/bin/env python3
"""Legitimate users logging in at a fixed, low rate, with timing.

Open loop: login i starts at start + i / RATE whatever the earlier ones are
doing (each in its own thread and TCP connection), so a slow server does not
slow the arrivals down. Accounts are used round-robin; each account has its
own client address (X-Forwarded-For), as separate users would. Standard
library only; only 127.0.0.1.

Accounts file: one "EMAIL PASSWORD ADDRESS" per line.
Prints a summary and one JSON line (prefix "RESULT ").
"""

import argparse
import http.client
import json
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


def login(port, email, password, address, timeout):
    body = urllib.parse.urlencode(
        {"grant_type": "password", "username": email, "password": password}
    )
    start = time.monotonic()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request(
            "POST",
            "/oauth2/token",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "X-Forwarded-For": address,
            },
        )
        resp = conn.getresponse()
        data = resp.read()
        status = resp.status
        ok = status == 200 and b'"access_token"' in data
        conn.close()
        return str(status), ok, time.monotonic() - start
    except (OSError, http.client.HTTPException) as e:
        return type(e).__name__, False, time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--accounts", required=True)
    ap.add_argument("--rate", type=float, default=4.0, help="logins per second")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    with open(args.accounts) as f:
        accounts = [line.split() for line in f if line.strip()]

    n = int(args.rate * args.duration)
    results = [None] * n
    lock = threading.Lock()
    late = 0

    def run(i):
        email, password, address = accounts[i % len(accounts)]
        results[i] = login(args.port, email, password, address, args.timeout)

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=256) as pool:
        for i in range(n):
            due = start + i / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.05:
                with lock:
                    late += 1
            pool.submit(run, i)
    elapsed = time.monotonic() - start

    statuses = {}
    for status, _, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    ok = [t for _, good, t in results if good]
    every = [t for _, _, t in results]
    ms = lambda v: None if v is None else round(v * 1000, 1)  # noqa: E731
    result = {
        "label": args.label,
        "attempts": n,
        "succeeded": len(ok),
        "success_rate": round(len(ok) / n, 4) if n else None,
        "statuses": dict(sorted(statuses.items())),
        "ok_ms": {"p50": ms(percentile(ok, 50)), "p99": ms(percentile(ok, 99)), "max": ms(max(ok) if ok else None)},
        "all_ms": {"p50": ms(percentile(every, 50)), "p99": ms(percentile(every, 99)), "max": ms(max(every) if every else None)},
        "elapsed_s": round(elapsed, 2),
        "late_starts": late,
    }
    print(
        f"  legit {args.label:<6} {len(ok)}/{n} ok ({100 * result['success_rate']:.1f} %), "
        f"statuses {result['statuses']}; successful logins p50 {result['ok_ms']['p50']} ms, "
        f"p99 {result['ok_ms']['p99']} ms, max {result['ok_ms']['max']} ms; "
        f"all attempts p50 {result['all_ms']['p50']} ms, p99 {result['all_ms']['p99']} ms"
    )
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
