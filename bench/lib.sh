# shellcheck shell=bash
# Shared helpers for the scenario scripts (refresh.sh, feed_waiters.sh,
# guard_load.sh, flood.sh). Source it; it sets `set -euo pipefail`, creates
# $WORK (a temporary folder) and installs an EXIT trap that stops every server
# started with start_signet/start_process, drops every PostgreSQL database
# made with pg_create_db, and removes $WORK unless BENCH_KEEP=1.
#
# Only 127.0.0.1 is ever targeted.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
BIN="${SIGNET_BIN:-$ROOT/target/release/signet}"
# shellcheck disable=SC2034 # used by the scripts that source this file
PG_BASE_URL="${BENCH_PG_URL:-postgres://signet:signet@127.0.0.1:5432}"

SCRIPT_NAME="$(basename "$0")"
die() {
    echo "$SCRIPT_NAME: $*" >&2
    exit 1
}

need() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null || die "$cmd is missing (Debian: apt-get install -y $cmd)"
    done
}

# Whole number within bounds, or die naming the variable.
check_int() { # NAME VALUE MIN MAX
    [[ "$2" =~ ^[0-9]+$ ]] || die "$1 must be a whole number, got '$2'"
    (($2 >= $3 && $2 <= $4)) || die "$1 must be $3..$4, got $2"
}

need curl wrk awk

# wrk_settings DEFAULT_ROUNDS: the BENCH_* knobs every wrk scenario shares,
# checked (DURATION, WARMUP, ROUNDS, THREADS, CONNECTIONS, TIMEOUT).
wrk_settings() {
    DURATION="${BENCH_DURATION:-10}"
    WARMUP="${BENCH_WARMUP:-2}"
    ROUNDS="${BENCH_ROUNDS:-$1}"
    THREADS="${BENCH_THREADS:-2}"
    CONNECTIONS="${BENCH_CONNECTIONS:-32}"
    TIMEOUT="${BENCH_TIMEOUT:-10}"
    check_int BENCH_DURATION "$DURATION" 1 600
    check_int BENCH_WARMUP "$WARMUP" 0 60
    check_int BENCH_ROUNDS "$ROUNDS" 1 10
    check_int BENCH_THREADS "$THREADS" 1 64
    check_int BENCH_CONNECTIONS "$CONNECTIONS" "$THREADS" 10000
    check_int BENCH_TIMEOUT "$TIMEOUT" 1 600
}

if [[ "${BENCH_BUILD:-0}" == 1 || (! -x "$BIN" && -z "${SIGNET_BIN:-}") ]]; then
    (cd "$ROOT" && cargo build --release --bin signet)
fi
[[ -x "$BIN" ]] || die "no server binary at $BIN"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/signet-bench.XXXXXX")"
PROC_PIDS=()
PROC_NAMES=()
PG_DATABASES=()

stop_pid() {
    local pid="$1"
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

lib_cleanup() {
    local status=$?
    local pid db
    for pid in "${PROC_PIDS[@]}"; do
        stop_pid "$pid"
    done
    for db in "${PG_DATABASES[@]}"; do
        runuser -u postgres -- psql -qX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
            echo "$SCRIPT_NAME: could not drop database $db" >&2
    done
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap lib_cleanup EXIT
trap 'exit 130' INT TERM

# A port nobody listens on (connection refused), picked at random below the
# kernel's ephemeral range when it starts high enough (outgoing connections,
# e.g. to PostgreSQL, take ports from that range, and a listener cannot bind
# a port an outgoing connection holds).
free_port() {
    local port low span=40000
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range
    if ((low > 12000)); then
        span=$((low - 10000))
    fi
    for _ in $(seq 100); do
        port=$((10000 + RANDOM % span))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "found no free port"
}

# The throttles off, for raw throughput.
# shellcheck disable=SC2034 # used by the scripts that source this file
THROTTLES_OFF=(
    SIGNET_THROTTLE__LOGIN_PER_IP=0 SIGNET_THROTTLE__FAILURES_PER_ADDRESS=0
    SIGNET_THROTTLE__FAILURES_PER_ACCOUNT=0
    SIGNET_THROTTLE__REFRESH_PER_IP=0 SIGNET_THROTTLE__FEED_PER_IP=0
    SIGNET_THROTTLE__SIGNUP_PER_IP=0
)

# start_signet NAME PORT DATABASE_URL KEYS_DIR [VAR=VALUE ...]
# Runs `signet serve` in $WORK/NAME (so no signet.toml is picked up), logs to
# $WORK/NAME.log, waits for /readyz; sets LAST_PID.
start_signet() {
    local name="$1" port="$2" db="$3" keys="$4"
    shift 4
    mkdir -p "$WORK/$name"
    (
        cd "$WORK/$name"
        exec env SIGNET_LISTEN="127.0.0.1:$port" SIGNET_DATABASE_URL="$db" \
            SIGNET_KEYS_DIR="$keys" SIGNET_LOG="${SIGNET_LOG:-warn}" "$@" "$BIN" serve
    ) >"$WORK/$name.log" 2>&1 &
    LAST_PID=$!
    PROC_PIDS+=("$LAST_PID")
    PROC_NAMES+=("$name")
    wait_ready "$name" "$LAST_PID" "http://127.0.0.1:$port/readyz"
}

# start_process NAME URL COMMAND... : any other server; waits for URL to answer 200.
start_process() {
    local name="$1" url="$2"
    shift 2
    "$@" >"$WORK/$name.log" 2>&1 &
    LAST_PID=$!
    PROC_PIDS+=("$LAST_PID")
    PROC_NAMES+=("$name")
    wait_ready "$name" "$LAST_PID" "$url"
}

wait_ready() { # NAME PID URL
    for _ in $(seq 300); do
        kill -0 "$2" 2>/dev/null || {
            cat "$WORK/$1.log" >&2
            die "$1 exited during start-up"
        }
        if curl -fsS -o /dev/null --max-time 2 "$3" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$1 was not ready after 30 s"
}

# pg_create_db NAME: a fresh database owned by signet, dropped on exit.
pg_create_db() {
    need runuser psql
    runuser -u postgres -- psql -qX -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'signet'" | grep -q 1 ||
        runuser -u postgres -- psql -qX -c "CREATE ROLE signet LOGIN PASSWORD 'signet' CREATEDB" >/dev/null
    runuser -u postgres -- psql -qX -c "CREATE DATABASE $1 OWNER signet" >/dev/null
    PG_DATABASES+=("$1")
}

# CPU seconds (user + system) of a process so far. Field 2 is "(comm)"; the
# names used here have no spaces.
proc_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# "PID CPU-seconds" of every postgres process (all of the machine's
# PostgreSQL: other users of it count too).
postgres_cpu_snapshot() {
    local f line
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue # the process may be gone
        [[ "$line" == *"(postgres)"* ]] || continue
        echo "$line"
    done | awk -v hz="$(getconf CLK_TCK)" '{ printf "%s %.2f\n", $1, ($14 + $15) / hz }'
}

# CPU seconds postgres processes used between two snapshots (files): the
# growth of processes present in both, plus all of processes that started
# in between. Processes that ended in between are missed.
postgres_cpu_between() { # BEFORE AFTER
    awk 'NR == FNR { before[$1] = $2; next } { total += $2 - (($1 in before) ? before[$1] : 0) }
        END { printf "%.2f\n", total }' "$1" "$2"
}

proc_rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# "1.23ms" / "456.00us" / "1.02s" -> milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000
        else if (v ~ /ms$/) n += 0
        else if (v ~ /m$/) n *= 60000
        else if (v ~ /s$/) n *= 1000
        printf "%.3f", n
    }'
}

# Fields of a wrk --latency output file.
wrk_rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
wrk_p50() { to_ms "$(awk '$1 == "50%" { print $2 }' "$1")"; }
wrk_p99() { to_ms "$(awk '$1 == "99%" { print $2 }' "$1")"; }
wrk_total() { awk '/requests in/ { print $1 }' "$1"; }
wrk_non2xx() { awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1"; }
wrk_sockerr() { awk -F'Socket errors: ' 'NF > 1 { print $2 }' "$1"; }
wrk_status() { awk '/^Status codes:/ { sub(/^Status codes: */, ""); print }' "$1"; }

# Median of numbers on stdin.
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "-"
        else if (NR % 2) print v[(NR + 1) / 2]
        else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

random_secret() {
    od -An -N12 -tx1 /dev/urandom | tr -d ' \n'
}

# signup BASE EMAIL PASSWORD [XFF]: creates a user or dies.
signup() {
    local code xff=()
    [[ -z "${4:-}" ]] || xff=(-H "X-Forwarded-For: $4")
    code="$(curl -sS -o "$WORK/signup.json" -w '%{http_code}' --max-time 30 "${xff[@]}" \
        -H 'Content-Type: application/json' \
        --data "{\"email\":\"$2\",\"password\":\"$3\"}" "$1/v1/users")"
    [[ "$code" == 201 ]] || die "sign-up answered $code: $(cat "$WORK/signup.json")"
}

# login BASE EMAIL PASSWORD: prints the token response (JSON) or dies.
login() {
    local out code
    out="$(mktemp "$WORK/login.XXXXXX")"
    code="$(curl -sS -o "$out" -w '%{http_code}' --max-time 60 \
        --data-urlencode grant_type=password --data-urlencode "username=$2" \
        --data-urlencode "password=$3" "$1/oauth2/token")"
    [[ "$code" == 200 ]] || die "login answered $code: $(cat "$out")"
    cat "$out"
    echo # the JSON has no final newline; the token must end its line
    rm -f "$out"
}

json_field() { # NAME < json
    sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p"
}

# make_sessions BASE EMAIL PASSWORD N FILE: N password-grant logins (two at a
# time), one refresh token per line in FILE.
make_sessions() {
    local base="$1" email="$2" password="$3" n="$4" file="$5"
    export -f login json_field die
    export WORK SCRIPT_NAME
    # shellcheck disable=SC2016 # expanded by the inner bash
    seq "$n" | xargs -P 2 -I{} bash -c 'login "$0" "$1" "$2" | json_field refresh_token' \
        "$base" "$email" "$password" >"$file"
    [[ "$(grep -c . "$file")" == "$n" ]] || die "made $(grep -c . "$file") sessions of $n"
}

# metric BASE NAME: sum of a Prometheus metric's samples (0 when absent).
metric() {
    curl -fsS --max-time 5 "$1/metrics" |
        awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%g\n", s + 0 }'
}

# Nothing unexpected in a server log? Prints how many lines it has, each
# distinct message (timestamps and ANSI colours removed, numbers replaced by
# N) with its count, and the last line.
log_summary() { # NAME
    local f="$WORK/$1.log"
    if [[ -s "$f" ]]; then
        echo "  $1 log: $(wc -l <"$f") line(s):"
        sed 's/\x1b\[[0-9;]*m//g; s/^[0-9T:.-]*Z *//; s/[0-9][0-9]*/N/g' "$f" | cut -c1-200 | sort | uniq -c | sort -rn |
            head -n 10 | sed 's/^/    /'
        echo "    last: $(tail -n 1 "$f" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-200)"
    else
        echo "  $1 log: empty"
    fi
}
