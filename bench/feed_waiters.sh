#!/usr/bin/env bash
# Cost of idle long-poll waiters on the revocation feed
# (GET /v1/revocations?after=CURSOR&wait=30): server RSS and open fds before
# and with the waiters, and the server's CPU over IDLE seconds without and
# with them (the baseline is measured in the same run, just before), then the
# time for a logout to wake them all. See bench/feed_waiters.py.
#
# The server: release signet, SQLite in a temporary folder, throttles off
# (with the default feed_per_ip = 120/min, waiters 121 and on from 127.0.0.1
# would get 429), SIGNET_MAX_FEED_WAITERS at its default (10000) unless set.
#
# Environment (all optional):
#   BENCH_WAITERS="1000"  waiter counts, one run each on the same server (max 10000)
#   BENCH_IDLE=20         seconds of idle measurement per phase (<= 24)
#   BENCH_WAIT=30         the waiters' ?wait= (<= 30)
#   BENCH_WAKE=1          0: let the waiters run out their wait instead of a logout
#   SIGNET_BIN, BENCH_BUILD, BENCH_KEEP as in load.sh

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need python3

WAITERS="${BENCH_WAITERS:-1000}"
IDLE="${BENCH_IDLE:-20}"
WAIT="${BENCH_WAIT:-30}"
WAKE="${BENCH_WAKE:-1}"
check_int BENCH_IDLE "$IDLE" 1 24
check_int BENCH_WAIT "$WAIT" $((IDLE + 6)) 30
for n in $WAITERS; do check_int BENCH_WAITERS "$n" 1 10000; done

# One fd per waiter on each side, plus room.
max="$(echo "$WAITERS" | tr ' ' '\n' | sort -n | tail -n1)"
if (($(ulimit -n) < max + 1000)); then
    ulimit -n "$(($(ulimit -Hn) < max + 1000 ? $(ulimit -Hn) : max + 1000))" ||
        die "cannot raise the open-file limit to $((max + 1000)) (hard limit $(ulimit -Hn))"
fi

PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
start_signet signet "$PORT" "sqlite://$WORK/signet.db" "$WORK/keys" "${THROTTLES_OFF[@]}"
PID="$LAST_PID"
EMAIL="bench-$RANDOM$RANDOM@example.com"
PASSWORD="bench-$(random_secret)"
signup "$BASE" "$EMAIL" "$PASSWORD"

# One session per run, all logged in before the first measurement (a login's
# argon2 buffer would otherwise land in the next run's "before" RSS): each
# run's logout is the revocation that wakes its waiters.
declare -a TOKENS=()
if [[ "$WAKE" == 1 ]]; then
    for _ in $WAITERS; do
        TOKENS+=("$(login "$BASE" "$EMAIL" "$PASSWORD" | json_field access_token)")
    done
fi

echo "signet feed waiters: $BASE, binary $BIN, open-file limit $(ulimit -n)"
echo "machine: $(nproc) cores; $(uname -sr); $(date -u '+%Y-%m-%d %H:%M UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
run=0
for n in $WAITERS; do
    echo
    token=()
    [[ "$WAKE" != 1 ]] || token=(--token "${TOKENS[$run]}")
    run=$((run + 1))
    python3 "$BENCH_DIR/feed_waiters.py" --port "$PORT" --pid "$PID" --count "$n" \
        --wait "$WAIT" --idle "$IDLE" "${token[@]}" | tee "$WORK/waiters-$run.txt"
    kill -0 "$PID" 2>/dev/null || die "the server died"
done
echo
log_summary signet
