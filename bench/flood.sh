#!/usr/bin/env bash
# Logins under a flood of bad passwords from many addresses.
#
# The server: release signet, SQLite, SIGNET_TRUST_FORWARDED_FOR=true (the
# client address comes from X-Forwarded-For, as behind a proxy) and the
# DEFAULT throttles (any SIGNET_THROTTLE__* in the environment is dropped).
# LEGIT accounts are signed up first (each from its own address).
#
# Each round has two phases of DURATION seconds, measured the same way:
#   alone  the legitimate users log in at RATE per second (bench/logins.py:
#          open loop, round-robin over the accounts, each account from its
#          own X-Forwarded-For address, so no legitimate budget is exceeded)
#   flood  the same, while wrk floods the password grant with wrong passwords
#          (bench/flood.lua; one thread, FLOOD_CONNECTIONS connections,
#          starting 2 s before and ending 1 s after the legitimate logins)
# then a pause (PAUSE seconds) for the hash queue to drain, and a check that
# it did (signet_password_hash_queue_depth back to 0). Reports the
# legitimate users' success rate and latency per phase, the flood's status
# mix and req/s, the server's CPU, its hash queue depth in mid-flood
# (signet_password_hash_queue_depth) and its RSS after each round.
#
# wrk ends its run by closing connections with requests still queued for an
# argon2 slot. On 2026-11-23 that leaked the server's hash-queue slots (the
# queue counter is not decremented when a waiting login is cancelled; see
# bench/README.md), so after two or three floods every login got 503 for
# good. BENCH_RESTART=1 (the default) therefore starts a fresh server (same
# database and keys, new port) for every round, so each round measures the
# flood and not the leak; BENCH_RESTART=0 keeps one server for all rounds
# (to see the leak).
#
# Environment (all optional):
#   BENCH_DURATION=10 BENCH_ROUNDS=3 BENCH_PAUSE=5 BENCH_RESTART=1
#   BENCH_RATE=4                 legitimate logins per second
#   BENCH_LEGIT=60               legitimate accounts (each logs in RATE*60/LEGIT per minute;
#                                keep that under login_per_account = 10)
#   BENCH_FLOOD_CONNECTIONS=64
#   BENCH_FLOOD_IPS, BENCH_FLOOD_USERS   see flood.lua (default 0 = random per request)
#   BENCH_FLOOD_TARGET_LEGIT=1   flood the legitimate accounts' usernames instead
#   BENCH_TIMEOUT=20             request timeout (wrk and logins.py), seconds
#   SIGNET_BIN, BENCH_BUILD, BENCH_KEEP as in load.sh

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need python3

DURATION="${BENCH_DURATION:-10}"
ROUNDS="${BENCH_ROUNDS:-3}"
PAUSE="${BENCH_PAUSE:-5}"
RATE="${BENCH_RATE:-4}"
LEGIT="${BENCH_LEGIT:-60}"
FLOOD_CONNECTIONS="${BENCH_FLOOD_CONNECTIONS:-64}"
TIMEOUT="${BENCH_TIMEOUT:-20}"
check_int BENCH_DURATION "$DURATION" 1 120
check_int BENCH_ROUNDS "$ROUNDS" 1 10
check_int BENCH_PAUSE "$PAUSE" 0 60
check_int BENCH_RATE "$RATE" 1 50
check_int BENCH_LEGIT "$LEGIT" 1 5000
check_int BENCH_FLOOD_CONNECTIONS "$FLOOD_CONNECTIONS" 1 10000
check_int BENCH_TIMEOUT "$TIMEOUT" 1 60
check_int BENCH_FLOOD_IPS "${BENCH_FLOOD_IPS:-0}" 0 16777216
check_int BENCH_FLOOD_USERS "${BENCH_FLOOD_USERS:-0}" 0 100000000
per_account="$(awk -v r="$RATE" -v n="$LEGIT" 'BEGIN { printf "%.1f", r * 60 / n }')"
awk -v p="$per_account" 'BEGIN { exit !(p <= 10) }' ||
    die "each legitimate account would log in $per_account times a minute (> login_per_account 10): raise BENCH_LEGIT"

# Default throttles: nothing inherited may change them.
for v in "${!SIGNET_THROTTLE__@}"; do unset "$v"; done

if (($(ulimit -n) < FLOOD_CONNECTIONS + 1024)); then
    ulimit -n "$((FLOOD_CONNECTIONS + 1024))" 2>/dev/null || true
fi

RESTART="${BENCH_RESTART:-1}"
SERVERS=0
# A server on the shared database and keys, on a new port: sets PORT, BASE, PID.
start_server() {
    if [[ -n "${PID:-}" ]]; then
        stop_pid "$PID"
    fi
    SERVERS=$((SERVERS + 1))
    PORT="$(free_port)"
    BASE="http://127.0.0.1:$PORT"
    start_signet "signet-$SERVERS" "$PORT" "sqlite://$WORK/signet.db" "$WORK/keys" SIGNET_TRUST_FORWARDED_FOR=true
    PID="$LAST_PID"
}
PID=""
start_server

# Legitimate accounts, each with its own address in 198.18.0.0/15 (RFC 2544).
ACCOUNTS="$WORK/accounts.txt"
: >"$ACCOUNTS"
for i in $(seq 0 $((LEGIT - 1))); do
    email="legit-$i-$RANDOM@example.com"
    password="legit-$(random_secret)"
    address="198.18.$((i / 250)).$((i % 250 + 1))"
    signup "$BASE" "$email" "$password" "$address"
    echo "$email $password $address" >>"$ACCOUNTS"
done
TARGETS=""
if [[ "${BENCH_FLOOD_TARGET_LEGIT:-0}" == 1 ]]; then
    TARGETS="$WORK/targets.txt"
    awk '{ print $1 }' "$ACCOUNTS" >"$TARGETS"
fi

echo "signet login flood: binary $BIN, default throttles, trust_forwarded_for, $([[ "$RESTART" == 1 ]] && echo "a fresh server per round" || echo "one server for all rounds")"
echo "legitimate: $LEGIT accounts, $RATE logins/s ($per_account per account per minute), ${DURATION}s per phase, ${ROUNDS} round(s)"
users="${BENCH_FLOOD_USERS:-0} (0 = random per request)"
[[ -z "$TARGETS" ]] || users="the legitimate accounts'"
echo "flood: wrk 1 thread, $FLOOD_CONNECTIONS connections, addresses: ${BENCH_FLOOD_IPS:-0} (0 = random per request), usernames: $users"
echo "machine: $(nproc) cores; $(uname -sr); $(date -u '+%Y-%m-%d %H:%M UTC'); server RSS after sign-ups $(proc_rss_kib "$PID") KiB"

RESULTS="$WORK/results.txt"
: >"$RESULTS"
legit() { # LABEL
    python3 "$BENCH_DIR/logins.py" --port "$PORT" --accounts "$ACCOUNTS" --rate "$RATE" \
        --duration "$DURATION" --timeout "$TIMEOUT" --label "$1" >"$WORK/legit-$1.txt"
    grep -v '^RESULT ' "$WORK/legit-$1.txt"
    sed -n 's/^RESULT //p' "$WORK/legit-$1.txt" >>"$RESULTS"
}

for round in $(seq "$ROUNDS"); do
    echo
    if [[ "$RESTART" == 1 && "$round" -gt 1 ]]; then
        start_server
    fi
    echo "== round $round ($BASE, server RSS $(proc_rss_kib "$PID") KiB), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    cpu0="$(proc_cpu "$PID")"
    legit "alone"
    cpu1="$(proc_cpu "$PID")"
    echo "    server CPU $(awk -v a="$cpu1" -v b="$cpu0" -v d="$DURATION" 'BEGIN { printf "%.2f", (a - b) / d }') cores"
    sleep 1

    out="$WORK/flood-$round.txt"
    BENCH_FLOOD_TARGETS="$TARGETS" wrk -t 1 -c "$FLOOD_CONNECTIONS" -d "$((DURATION + 3))s" \
        --timeout "${TIMEOUT}s" --latency -s "$BENCH_DIR/flood.lua" "$BASE/oauth2/token" >"$out" &
    flood_pid=$!
    sleep 2
    cpu0="$(proc_cpu "$PID")"
    (
        sleep "$((DURATION / 2))"
        metric "$BASE" signet_password_hash_queue_depth >"$WORK/queue-$round.txt"
    ) &
    sampler=$!
    legit "flood"
    cpu1="$(proc_cpu "$PID")"
    wait "$flood_pid" || die "wrk failed: $(cat "$out")"
    wait "$sampler" || true
    sockerr="$(wrk_sockerr "$out")"
    echo "    server CPU $(awk -v a="$cpu1" -v b="$cpu0" -v d="$DURATION" 'BEGIN { printf "%.2f", (a - b) / d }') cores; hash queue depth in mid-flood: $(cat "$WORK/queue-$round.txt")"
    echo "    flood: $(wrk_rps "$out") req/s, $(wrk_total "$out") requests: $(wrk_status "$out"); p50 $(wrk_p50 "$out") ms, p99 $(wrk_p99 "$out") ms${sockerr:+; socket errors: $sockerr}"
    printf '{"flood_round": %d, "rps": %s, "statuses": "%s"}\n' "$round" "$(wrk_rps "$out")" "$(wrk_status "$out")" >>"$RESULTS"
    sleep "$PAUSE"
    queue="$(metric "$BASE" signet_password_hash_queue_depth)"
    echo "    after the pause: hash queue depth $queue (0 when nothing leaked), server RSS $(proc_rss_kib "$PID") KiB"
    echo "    429 by budget: $(curl -fsS "$BASE/metrics" | awk '/^signet_throttled_total/ { printf "%s ", $0 }')"
    echo "    failed logins counted: $(metric "$BASE" signet_logins_failed_total)"
done

echo
kill -0 "$PID" 2>/dev/null || die "the server died during the run"
for i in $(seq "$SERVERS"); do
    log_summary "signet-$i"
done
echo
echo "legitimate logins, pooled over the rounds:"
python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for label in ("alone", "flood"):
    rs = [r for r in rows if r.get("label") == label]
    if not rs:
        continue
    att = sum(r["attempts"] for r in rs)
    ok = sum(r["succeeded"] for r in rs)
    st = {}
    for r in rs:
        for k, v in r["statuses"].items():
            st[k] = st.get(k, 0) + v
    med = lambda xs: sorted(xs)[len(xs) // 2] if xs else None
    p50 = [r["ok_ms"]["p50"] for r in rs if r["ok_ms"]["p50"] is not None]
    p99 = [r["ok_ms"]["p99"] for r in rs if r["ok_ms"]["p99"] is not None]
    print(f"  {label:<6} {ok}/{att} ok ({100 * ok / att:.1f} %), statuses {dict(sorted(st.items()))}; "
          f"median over rounds of p50 {med(p50)} ms, of p99 {med(p99)} ms")
EOF
