#!/usr/bin/env bash
# The guard under load: guard/examples/protected_api.rs (release) in front of
# a real release signet. Compares, in the same run and round after round:
#
#   healthz  GET /healthz   no authentication (the baseline: axum alone)
#   whoami   GET /whoami    Authorization: Bearer <a valid access token>;
#                           the guard's layer checks it (token cache on, as
#                           the example builds it) and answers its claims
#
# and prints req/s, p50/p99, the example's CPU per request, and the median of
# the per-round ratios whoami / healthz (the order of the two alternates per
# round). signet only serves the JWKS and the revocation feed here.
#
# Environment (all optional):
#   BENCH_DURATION=10, BENCH_WARMUP=2, BENCH_ROUNDS=3, BENCH_THREADS=2,
#   BENCH_CONNECTIONS=32, BENCH_TIMEOUT=10
#   PROTECTED_BIN   default target/release/examples/protected_api (built when
#                   missing and unset, or with BENCH_BUILD=1)
#   SIGNET_BIN, BENCH_BUILD, BENCH_KEEP as in load.sh

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wrk_settings 3

PROTECTED="${PROTECTED_BIN:-$ROOT/target/release/examples/protected_api}"
if [[ "${BENCH_BUILD:-0}" == 1 || (! -x "$PROTECTED" && -z "${PROTECTED_BIN:-}") ]]; then
    (cd "$ROOT" && cargo build --release -p signet-guard --example protected_api)
fi
[[ -x "$PROTECTED" ]] || die "no protected_api binary at $PROTECTED"

SIGNET_PORT="$(free_port)"
ISSUER="http://127.0.0.1:$SIGNET_PORT"
start_signet signet "$SIGNET_PORT" "sqlite://$WORK/signet.db" "$WORK/keys"
EMAIL="bench-$RANDOM$RANDOM@example.com"
PASSWORD="bench-$(random_secret)"
signup "$ISSUER" "$EMAIL" "$PASSWORD"
TOKEN="$(login "$ISSUER" "$EMAIL" "$PASSWORD" | json_field access_token)"
[[ -n "$TOKEN" ]] || die "no access token"

API_PORT="$(free_port)"
API="http://127.0.0.1:$API_PORT"
start_process protected_api "$API/healthz" env PROTECTED_LISTEN="127.0.0.1:$API_PORT" \
    SIGNET_ISSUER="$ISSUER" SIGNET_AUDIENCE=signet RUST_LOG=warn "$PROTECTED"
API_PID="$LAST_PID"
code="$(curl -sS -o "$WORK/whoami.json" -w '%{http_code}' --max-time 10 \
    -H "Authorization: Bearer $TOKEN" "$API/whoami")"
[[ "$code" == 200 ]] || die "whoami answered $code: $(cat "$WORK/whoami.json")"
code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -H "Authorization: Bearer x$TOKEN" "$API/whoami")"
[[ "$code" == 401 ]] || die "whoami answered $code to a bad token (expected 401)"

echo "protected_api load: $API (guard trusting $ISSUER), binaries $PROTECTED, $BIN"
echo "wrk: ${THREADS} threads, ${CONNECTIONS} connections, ${DURATION}s (warm-up ${WARMUP}s), ${ROUNDS} round(s); access token $(printf %s "$TOKEN" | wc -c) bytes"
echo "machine: $(nproc) cores; $(uname -sr); $(date -u '+%Y-%m-%d %H:%M UTC')"

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
for round in $(seq "$ROUNDS"); do
    echo
    echo "== round $round, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    order=(healthz whoami)
    ((round % 2)) || order=(whoami healthz)
    for endpoint in "${order[@]}"; do
        case "$endpoint" in
            healthz) args=("$API/healthz") ;;
            whoami) args=(-H "Authorization: Bearer $TOKEN" "$API/whoami") ;;
        esac
        common=(-t "$THREADS" -c "$CONNECTIONS" --timeout "${TIMEOUT}s")
        ((WARMUP == 0)) || wrk "${common[@]}" -d "${WARMUP}s" "${args[@]}" >/dev/null
        before="$(proc_cpu "$API_PID")"
        out="$WORK/wrk-$round-$endpoint.txt"
        wrk "${common[@]}" -d "${DURATION}s" --latency "${args[@]}" >"$out"
        after="$(proc_cpu "$API_PID")"
        rps="$(wrk_rps "$out")"
        cpu="$(awk -v a="$after" -v b="$before" -v d="$DURATION" 'BEGIN { printf "%.2f", (a - b) / d }')"
        cpu_us="$(awk -v c="$cpu" -v r="$rps" 'BEGIN { printf "%.1f", c * 1e6 / r }')"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$endpoint" "$rps" "$(wrk_p50 "$out")" "$(wrk_p99 "$out")" "$round" "$cpu_us" >>"$RESULTS"
        sockerr="$(wrk_sockerr "$out")"
        printf '  %-8s %10s req/s  p50 %8s ms  p99 %8s ms  requests %s  %s  protected_api CPU %s cores = %s µs/request%s\n' \
            "$endpoint" "$rps" "$(wrk_p50 "$out")" "$(wrk_p99 "$out")" "$(wrk_total "$out")" \
            "non-2xx $(wrk_non2xx "$out")" "$cpu" "$cpu_us" "${sockerr:+; socket errors: $sockerr}"
    done
done

echo
kill -0 "$API_PID" 2>/dev/null || die "protected_api died during the run"
echo "  protected_api RSS $(proc_rss_kib "$API_PID") KiB"
log_summary protected_api
log_summary signet
echo
echo "median over $ROUNDS round(s) (latency in ms):"
printf '| %-22s | %9s | %8s | %8s | %11s |\n' endpoint req/s p50 p99 "CPU µs/req"
printf '|%s|%s|%s|%s|%s|\n' "------------------------" "----------:" "---------:" "---------:" "------------:"
for endpoint in healthz whoami; do
    col() { awk -F'\t' -v e="$endpoint" -v c="$1" '$1 == e { print $c }' "$RESULTS" | median; }
    label="GET /$endpoint"
    [[ "$endpoint" == healthz ]] || label="GET /whoami (bearer)"
    printf '| %-22s | %9s | %8s | %8s | %11s |\n' "$label" "$(col 2)" "$(col 3)" "$(col 4)" "$(col 6)"
done
echo
awk -F'\t' '$1 == "healthz" { h[$5] = $2 } $1 == "whoami" { w[$5] = $2 }
    END { for (r in h) if (r in w) printf "%s %.3f\n", r, w[r] / h[r] }' "$RESULTS" | sort -n >"$WORK/ratios.txt"
echo "whoami / healthz req/s per round: $(awk '{ printf "%s%s", sep, $2; sep = ", " }' "$WORK/ratios.txt")"
echo "median ratio: $(awk '{ print $2 }' "$WORK/ratios.txt" | median)"
# The same from the example's CPU per request: what its capacity would be
# if it had the cores to itself (wrk shares the machine and costs more per
# whoami request too: a 0.5 KiB header out, a claims document back).
awk -F'\t' '$1 == "healthz" { h[$5] = $6 } $1 == "whoami" { w[$5] = $6 }
    END { for (r in h) if (r in w && w[r] > 0) printf "%s %.3f\n", r, h[r] / w[r] }' "$RESULTS" | sort -n >"$WORK/cpu-ratios.txt"
echo "protected_api CPU per request, healthz / whoami, per round: $(awk '{ printf "%s%s", sep, $2; sep = ", " }' "$WORK/cpu-ratios.txt")"
echo "median CPU ratio: $(awk '{ print $2 }' "$WORK/cpu-ratios.txt" | median)"
