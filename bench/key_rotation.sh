#!/usr/bin/env bash
# How fast an emergency key rotation reaches a guard: a real signet and the
# real guard/examples/protected_api.rs (following the feed with a
# `signet:feed` client's credentials). Each round logs in (a token of the
# current key, checked 200 at the guard), runs
# `signet keys rotate --now --revoke`, then polls every 20 ms until the
# guard accepts a freshly issued token (the new key) AND refuses the old one
# (the withdrawn key, which the guard had verified and cached). Prints the
# delay from the start of the command to that first correct answer, per
# round and the median.
#
# Environment (all optional):
#   BENCH_ROUNDS=7 (1..50)
#   PROTECTED_BIN   default target/release/examples/protected_api (built when
#                   missing and unset, or with BENCH_BUILD=1)
#   SIGNET_BIN, BENCH_BUILD, BENCH_KEEP as in load.sh

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS="${BENCH_ROUNDS:-7}"
check_int BENCH_ROUNDS "$ROUNDS" 1 50

PROTECTED="${PROTECTED_BIN:-$ROOT/target/release/examples/protected_api}"
if [[ "${BENCH_BUILD:-0}" == 1 || (! -x "$PROTECTED" && -z "${PROTECTED_BIN:-}") ]]; then
    (cd "$ROOT" && cargo build --release -p signet-guard --example protected_api)
fi
[[ -x "$PROTECTED" ]] || die "no protected_api binary at $PROTECTED"

SIGNET_PORT="$(free_port)"
ISSUER="http://127.0.0.1:$SIGNET_PORT"
DB="sqlite://$WORK/signet.db"
KEYS="$WORK/keys"
CHEAP_ARGON2=(SIGNET_ARGON2__MEMORY_KIB=1024 SIGNET_ARGON2__ITERATIONS=1)
start_signet signet "$SIGNET_PORT" "$DB" "$KEYS" "${THROTTLES_OFF[@]}" "${CHEAP_ARGON2[@]}"

cli() { (cd "$WORK/signet" && env SIGNET_DATABASE_URL="$DB" SIGNET_KEYS_DIR="$KEYS" SIGNET_LOG=warn "$BIN" "$@"); }

EMAIL="bench-$RANDOM$RANDOM@example.com"
PASSWORD="bench-$(random_secret)"
signup "$ISSUER" "$EMAIL" "$PASSWORD"
FEED_CLIENT="$(cli clients add guards --scope signet:feed)"

API_PORT="$(free_port)"
API="http://127.0.0.1:$API_PORT"
start_process protected_api "$API/healthz" env PROTECTED_LISTEN="127.0.0.1:$API_PORT" \
    SIGNET_ISSUER="$ISSUER" SIGNET_AUDIENCE=signet RUST_LOG=warn \
    PROTECTED_FEED_CLIENT_ID="$(json_field client_id <<<"$FEED_CLIENT")" \
    PROTECTED_FEED_CLIENT_SECRET="$(json_field client_secret <<<"$FEED_CLIENT")" "$PROTECTED"

status() { # TOKEN
    curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $1" "$API/whoami"
}
ms_now() { date +%s%3N; }

echo "key rotation → guard: $API (protected_api trusting $ISSUER), binaries $PROTECTED, $BIN"
echo "machine: $(nproc) cores; $(uname -sr); $(date -u '+%Y-%m-%d %H:%M UTC')"
RESULTS="$WORK/results.txt"
: >"$RESULTS"
for round in $(seq "$ROUNDS"); do
    OLD="$(login "$ISSUER" "$EMAIL" "$PASSWORD" | json_field access_token)"
    [[ "$(status "$OLD")" == 200 ]] || die "round $round: the current key's token is refused"
    # A new key must activate in a later second than the current one.
    sleep 1.1
    started="$(ms_now)"
    cli keys rotate --now --revoke >/dev/null
    returned="$(ms_now)"
    correct=""
    while (($(ms_now) - started < 10000)); do
        NEW="$(login "$ISSUER" "$EMAIL" "$PASSWORD" | json_field access_token)"
        if [[ "$(status "$NEW")" == 200 && "$(status "$OLD")" == 401 ]]; then
            correct="$(ms_now)"
            break
        fi
        sleep 0.02
    done
    [[ -n "$correct" ]] || die "round $round: the guard was not correct after 10 s"
    delay=$((correct - started))
    echo "$delay" >>"$RESULTS"
    printf '  round %d: command took %4d ms; guard correct after %5d ms\n' \
        "$round" $((returned - started)) "$delay"
done
echo "median delay from the command to the guard's first correct answer: $(median <"$RESULTS") ms" \
    "(min $(sort -n "$RESULTS" | head -1), max $(sort -n "$RESULTS" | tail -1); $ROUNDS rounds)"
