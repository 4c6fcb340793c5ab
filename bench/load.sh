#!/usr/bin/env bash
# Bounded HTTP load test of a local release build of Signet.
#
# Starts `signet` on 127.0.0.1 with a fresh SQLite database and key directory
# in a temporary folder, signs up one user, logs in once, then runs wrk for a
# fixed duration against each endpoint:
#
#   jwks      GET  /.well-known/jwks.json
#   healthz   GET  /healthz                  (baseline: no work at all)
#   token     POST /oauth2/token             (password grant: one argon2id verify)
#   userinfo  GET  /v1/userinfo              (bearer token check + store read)
#
# and prints req/s and p50/p99 latency per endpoint (and the median over the
# rounds when BENCH_ROUNDS > 1). The server is stopped on exit, whatever happens.
# Only 127.0.0.1 is ever targeted; every wrk run is bounded by -d.
#
# Environment (all optional):
#   BENCH_DURATION=10     seconds per endpoint per round
#   BENCH_WARMUP=2        seconds of unmeasured load per endpoint before each run (0: none)
#   BENCH_THREADS=2       wrk threads
#   BENCH_CONNECTIONS=32  wrk connections
#   BENCH_TIMEOUT=10      wrk request timeout, seconds (logins queue behind argon2)
#   BENCH_ROUNDS=1        rounds over all endpoints (one server for all rounds)
#   BENCH_ENDPOINTS="jwks healthz token userinfo"
#   BENCH_STATUS=0        1: count responses per status code (adds client CPU)
#   SIGNET_BIN            server binary (default target/release/signet; built if missing)
#   BENCH_BUILD=0         1: run `cargo build --release` first
#   BENCH_KEEP=0          1: keep the temporary folder (database, keys, server log)
# SIGNET_* variables (e.g. SIGNET_ARGON2__MEMORY_KIB) pass through to the server,
# except SIGNET_LISTEN, SIGNET_DATABASE_URL and SIGNET_KEYS_DIR, which are set here.

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wrk_settings 1
ENDPOINTS="${BENCH_ENDPOINTS:-jwks healthz token userinfo}"
STATUS="${BENCH_STATUS:-0}"

PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
# Raw throughput: the login throttles would answer most password grants with 429.
start_signet server "$PORT" "sqlite://$WORK/signet.db" "$WORK/keys" "${THROTTLES_OFF[@]}"
SERVER_PID="$LAST_PID"

EMAIL="bench-$RANDOM$RANDOM@example.com"
PASSWORD="bench-$(random_secret)"
export BENCH_EMAIL="$EMAIL" BENCH_PASSWORD="$PASSWORD" BENCH_STATUS="$STATUS"

signup "$BASE" "$EMAIL" "$PASSWORD"
TOKEN="$(login "$BASE" "$EMAIL" "$PASSWORD" | json_field access_token)"
[[ -n "$TOKEN" ]] || die "no access_token in the token response"

code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 \
    -H "Authorization: Bearer $TOKEN" "$BASE/v1/userinfo")"
[[ "$code" == 200 ]] || die "userinfo answered $code with a fresh token"

# wrk arguments per endpoint (after the common ones).
endpoint_args() {
    case "$1" in
        jwks) args=("$BASE/.well-known/jwks.json") ;;
        healthz) args=("$BASE/healthz") ;;
        token) args=(-s "$BENCH_DIR/token.lua" "$BASE/oauth2/token") ;;
        userinfo) args=(-H "Authorization: Bearer $TOKEN" "$BASE/v1/userinfo") ;;
        *) die "unknown endpoint '$1' (known: jwks healthz token userinfo)" ;;
    esac
    if [[ "$STATUS" == 1 && "$1" != token ]]; then
        args=(-s "$BENCH_DIR/status.lua" "${args[@]}")
    fi
}

# Minor page faults the server has taken so far.
server_faults() {
    awk '{ print $10 }' "/proc/$SERVER_PID/stat"
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"

echo "signet load test: $BASE, binary $BIN"
echo "wrk: ${THREADS} threads, ${CONNECTIONS} connections, ${DURATION}s per endpoint (warm-up ${WARMUP}s), timeout ${TIMEOUT}s, ${ROUNDS} round(s)"
echo "machine: $(nproc) cores; $(uname -sr)"
echo

for round in $(seq "$ROUNDS"); do
    echo "== round $round, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    for endpoint in $ENDPOINTS; do
        endpoint_args "$endpoint"
        common=(-t "$THREADS" -c "$CONNECTIONS" --timeout "${TIMEOUT}s")
        if ((WARMUP > 0)); then
            wrk "${common[@]}" -d "${WARMUP}s" "${args[@]}" >/dev/null
        fi
        before="$(proc_cpu "$SERVER_PID")"
        faults_before="$(server_faults)"
        out="$WORK/wrk-$round-$endpoint.txt"
        wrk "${common[@]}" -d "${DURATION}s" --latency "${args[@]}" >"$out"
        after="$(proc_cpu "$SERVER_PID")"
        faults_after="$(server_faults)"
        rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
        p50="$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")"
        p99="$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")"
        total="$(awk '/requests in/ { print $1 }' "$out")"
        non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")"
        sockerr="$(awk -F'Socket errors: ' 'NF > 1 { print $2 }' "$out")"
        cpu="$(awk -v a="$after" -v b="$before" -v d="$DURATION" 'BEGIN { printf "%.2f", (a - b) / d }')"
        cpu_ms="$(awk -v c="$cpu" -v r="${rps:-0}" 'BEGIN { if (r > 0) printf "%.3f", c * 1000 / r; else print "-" }')"
        faults="$(awk -v a="$faults_after" -v b="$faults_before" -v n="${total:-0}" \
            'BEGIN { if (n > 0) printf "%.1f", (a - b) / n; else print "-" }')"
        printf '%s\t%s\t%s\t%s\t%s\n' "$endpoint" "$rps" "$p50" "$p99" "$round" >>"$RESULTS"
        printf '  %-9s %10s req/s  p50 %9s ms  p99 %9s ms  requests %s  non-2xx %s  server CPU %s cores = %s ms/request  page faults/request %s\n' \
            "$endpoint" "$rps" "$p50" "$p99" "$total" "${non2xx:-0}" "$cpu" "$cpu_ms" "$faults"
        [[ -z "$sockerr" ]] || echo "            socket errors: $sockerr"
        grep -h '^Status codes:' "$out" | sed 's/^/            /' || true
    done
done

# Anything the server logged (at SIGNET_LOG=warn: warnings and errors only).
if [[ -s "$WORK/server.log" ]]; then
    echo
    echo "server log: $(wc -l <"$WORK/server.log") line(s); last ones:"
    tail -n 5 "$WORK/server.log" | cut -c1-300 | sed 's/^/  /'
fi
kill -0 "$SERVER_PID" 2>/dev/null || die "the server died during the run"

echo
echo "median over $ROUNDS round(s) (latency in ms):"
printf '| %-29s | %10s | %9s | %9s |\n' endpoint req/s p50 p99
printf '|%s|%s|%s|%s|\n' "-------------------------------" "------------" "-----------" "-----------"
for endpoint in $ENDPOINTS; do
    case "$endpoint" in
        jwks) label="GET /.well-known/jwks.json" ;;
        healthz) label="GET /healthz" ;;
        token) label="POST /oauth2/token (password)" ;;
        userinfo) label="GET /v1/userinfo" ;;
        *) label="$endpoint" ;;
    esac
    rps="$(awk -F'\t' -v e="$endpoint" '$1 == e { print $2 }' "$RESULTS" | median)"
    p50="$(awk -F'\t' -v e="$endpoint" '$1 == e { print $3 }' "$RESULTS" | median)"
    p99="$(awk -F'\t' -v e="$endpoint" '$1 == e { print $4 }' "$RESULTS" | median)"
    printf '| %-29s | %10s | %9s | %9s |\n' "$label" "$rps" "$p50" "$p99"
done
