#!/usr/bin/env bash
# Refresh-grant throughput: one instance on SQLite, one on PostgreSQL, two
# instances on one PostgreSQL database — measured in the same run, round
# after round, so all three see the same machine.
#
# Every wrk run uses bench/refresh.lua on fresh sessions: before each run the
# script logs one user in 2 × connections times (the password grant, throttles
# off) and hands wrk the refresh tokens; wrk then refreshes each session
# with its latest token, rotating (see refresh.lua). The throttles are off
# (SIGNET_THROTTLE__*=0): this is raw throughput.
#
# Configurations (BENCH_CONFIGS, in this order; each round starts one further
# along, so no configuration always runs first):
#   sqlite  one instance, SQLite file in the temporary folder
#   pg      one instance, a fresh PostgreSQL database
#   pg2     two instances, one fresh PostgreSQL database, one SIGNET_KEYS_DIR;
#           two wrk processes at once, each with one thread and half the
#           connections against its own instance; req/s summed
# The PostgreSQL databases (bench_refresh_<pid>_<config>) are dropped on exit.
#
# Environment (all optional):
#   BENCH_CONFIGS="sqlite pg pg2"
#   BENCH_DURATION=10     seconds measured per configuration per round
#   BENCH_WARMUP=2        seconds of unmeasured load before each run (own sessions)
#   BENCH_ROUNDS=3
#   BENCH_THREADS=2 / BENCH_CONNECTIONS=32   (pg2: one thread and half each)
#   BENCH_TIMEOUT=10      wrk request timeout, seconds
#   BENCH_PG_URL=postgres://signet:signet@127.0.0.1:5432
#   SIGNET_BIN, BENCH_BUILD, BENCH_KEEP as in load.sh
# Other SIGNET_* variables pass through to every instance (for example
# SIGNET_DATABASE_POOL_SIZE).

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONFIGS="${BENCH_CONFIGS:-sqlite pg pg2}"
wrk_settings 3
read -r -a CONFIG_LIST <<<"$CONFIGS"
for c in "${CONFIG_LIST[@]}"; do
    [[ "$c" == sqlite || "$c" == pg || "$c" == pg2 ]] || die "unknown configuration '$c' (known: sqlite pg pg2)"
done
((CONNECTIONS % 2 == 0)) || die "BENCH_CONNECTIONS must be even (pg2 splits it)"

SESSIONS=$((CONNECTIONS * 2))
PASSWORD="bench-$(random_secret)"
declare -A BASES   # config -> space-separated base URLs
declare -A PIDS    # config -> space-separated server PIDs
declare -A EMAILS  # config -> the user

echo "signet refresh-grant load: binary $BIN"
echo "configurations: $CONFIGS; wrk ${THREADS} threads, ${CONNECTIONS} connections, ${DURATION}s (warm-up ${WARMUP}s), ${ROUNDS} round(s), ${SESSIONS} sessions per run"
echo "machine: $(nproc) cores; $(uname -sr); $(date -u '+%Y-%m-%d %H:%M UTC')"

for config in "${CONFIG_LIST[@]}"; do
    keys="$WORK/keys-$config"
    case "$config" in
        sqlite)
            port="$(free_port)"
            start_signet "$config" "$port" "sqlite://$WORK/$config.db" "$keys" "${THROTTLES_OFF[@]}"
            BASES[$config]="http://127.0.0.1:$port"
            PIDS[$config]="$LAST_PID"
            ;;
        pg | pg2)
            db="bench_refresh_$$_$config"
            pg_create_db "$db"
            n=1
            [[ "$config" == pg ]] || n=2
            BASES[$config]=""
            PIDS[$config]=""
            for i in $(seq "$n"); do
                # One after the other: the first generates the key, the second loads it.
                port="$(free_port)"
                start_signet "$config-$i" "$port" "$PG_BASE_URL/$db" "$keys" "${THROTTLES_OFF[@]}"
                BASES[$config]="${BASES[$config]} http://127.0.0.1:$port"
                PIDS[$config]="${PIDS[$config]} $LAST_PID"
            done
            ;;
    esac
    read -r -a bases <<<"${BASES[$config]}"
    EMAILS[$config]="bench-$config-$RANDOM$RANDOM@example.com"
    signup "${bases[0]}" "${EMAILS[$config]}" "$PASSWORD"
done

RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# run_wrk CONFIG LABEL DURATION: one (or, for pg2, two concurrent) wrk runs on
# fresh sessions; output files $WORK/wrk-LABEL-<i>.txt.
run_wrk() {
    local config="$1" label="$2" duration="$3"
    local bases n i threads conns
    read -r -a bases <<<"${BASES[$config]}"
    n=${#bases[@]}
    threads=$((THREADS / n))
    ((threads >= 1)) || threads=1
    conns=$((CONNECTIONS / n))
    make_sessions "${bases[0]}" "${EMAILS[$config]}" "$PASSWORD" "$SESSIONS" "$WORK/tokens-$label.txt"
    local wrk_pids=()
    for i in $(seq "$n"); do
        # Each wrk gets its own slice of the sessions (every other line).
        awk -v n="$n" -v k="$i" '(NR - 1) % n == k - 1' "$WORK/tokens-$label.txt" >"$WORK/tokens-$label-$i.txt"
        BENCH_TOKENS="$WORK/tokens-$label-$i.txt" BENCH_THREADS="$threads" \
            wrk -t "$threads" -c "$conns" -d "${duration}s" --timeout "${TIMEOUT}s" --latency \
            -s "$BENCH_DIR/refresh.lua" "${bases[$((i - 1))]}/oauth2/token" >"$WORK/wrk-$label-$i.txt" &
        wrk_pids+=($!)
    done
    for pid in "${wrk_pids[@]}"; do
        wait "$pid" || die "wrk failed ($label): $(cat "$WORK/wrk-$label-"*.txt)"
    done
}

sum_cpu() { # PID...
    local total=0 pid
    for pid in "$@"; do
        total="$(awk -v a="$total" -v b="$(proc_cpu "$pid")" 'BEGIN { print a + b }')"
    done
    echo "$total"
}

for round in $(seq "$ROUNDS"); do
    echo
    echo "== round $round, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    count=${#CONFIG_LIST[@]}
    for k in $(seq 0 $((count - 1))); do
        config="${CONFIG_LIST[$(((k + round - 1) % count))]}"
        read -r -a pids <<<"${PIDS[$config]}"
        read -r -a bases <<<"${BASES[$config]}"
        warm_ended="-"
        if ((WARMUP > 0)); then
            run_wrk "$config" "$config-$round-warmup" "$WARMUP"
            warm_ended="$(date -u +%T)"
        fi
        label="$config-$round"
        # run_wrk makes the sessions first; the CPU window opens when wrk
        # starts (its output file appears) and lasts the measured duration.
        (
            while [[ ! -e "$WORK/wrk-$label-1.txt" ]]; do sleep 0.05; done
            cpu_before="$(sum_cpu "${pids[@]}")"
            postgres_cpu_snapshot >"$WORK/pg-before-$label.txt"
            sleep "$DURATION"
            cpu_after="$(sum_cpu "${pids[@]}")"
            postgres_cpu_snapshot >"$WORK/pg-after-$label.txt"
            pg="$(postgres_cpu_between "$WORK/pg-before-$label.txt" "$WORK/pg-after-$label.txt")"
            awk -v a="$cpu_after" -v b="$cpu_before" -v p="$pg" -v d="$DURATION" \
                'BEGIN { printf "%.2f %.2f\n", (a - b) / d, p / d }' >"$WORK/cpu-$label.txt"
        ) &
        watcher=$!
        run_wrk "$config" "$label" "$DURATION"
        ended="$(date -u +%T)"
        wait "$watcher" || true
        read -r cpu pgcpu <"$WORK/cpu-$label.txt"
        rps=0
        p50s=()
        p99s=()
        total=0
        non2xx=0
        for i in $(seq ${#bases[@]}); do
            out="$WORK/wrk-$label-$i.txt"
            rps="$(awk -v a="$rps" -v b="$(wrk_rps "$out")" 'BEGIN { printf "%.2f", a + b }')"
            p50s+=("$(wrk_p50 "$out")")
            p99s+=("$(wrk_p99 "$out")")
            total=$((total + $(wrk_total "$out")))
            non2xx=$((non2xx + $(wrk_non2xx "$out")))
        done
        # pg2: the worse of the two instances' percentiles.
        p50="$(printf '%s\n' "${p50s[@]}" | sort -g | tail -n1)"
        p99="$(printf '%s\n' "${p99s[@]}" | sort -g | tail -n1)"
        cpu_ms="$(awk -v c="$cpu" -v r="$rps" 'BEGIN { if (r > 0) printf "%.3f", c * 1000 / r; else print "-" }')"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$config" "$rps" "$p50" "$p99" "$cpu" "$pgcpu" >>"$RESULTS"
        printf '  %-7s %9s req/s  p50 %8s ms  p99 %8s ms  (per instance p99: %s)  requests %s  non-2xx %s  signet CPU %s cores = %s ms/refresh  postgres CPU %s cores  (warm-up ended %s, run ended %s)\n' \
            "$config" "$rps" "$p50" "$p99" "${p99s[*]}" "$total" "$non2xx" "$cpu" "$cpu_ms" "$pgcpu" "$warm_ended" "$ended"
        for i in $(seq ${#bases[@]}); do
            out="$WORK/wrk-$label-$i.txt"
            sockerr="$(wrk_sockerr "$out")"
            echo "            [$i] $(wrk_status "$out"); $(grep -h '^Sessions:' "$out")${sockerr:+; socket errors: $sockerr}"
        done
    done
done

echo
for config in "${CONFIG_LIST[@]}"; do
    read -r -a pids <<<"${PIDS[$config]}"
    read -r -a bases <<<"${BASES[$config]}"
    for i in $(seq ${#pids[@]}); do
        name="$config"
        [[ "$config" == sqlite ]] || name="$config-$i"
        kill -0 "${pids[$((i - 1))]}" 2>/dev/null || die "$name died during the run"
        echo "  $name: reuse detected $(metric "${bases[$((i - 1))]}" signet_refresh_reuse_detected_total), refresh tokens issued $(curl -fsS "${bases[$((i - 1))]}/metrics" | awk '/^signet_tokens_issued_total/ && /refresh_token/ { print $NF }'), RSS $(proc_rss_kib "${pids[$((i - 1))]}") KiB"
        log_summary "$name"
    done
done

echo
echo "median over $ROUNDS round(s) (latency in ms; pg2: summed req/s, worse instance's percentiles):"
printf '| %-7s | %9s | %8s | %8s | %11s | %13s |\n' config req/s p50 p99 "signet CPU" "postgres CPU"
printf '|%s|%s|%s|%s|%s|%s|\n' "---------" "----------:" "---------:" "---------:" "------------:" "--------------:"
for config in "${CONFIG_LIST[@]}"; do
    col() { awk -F'\t' -v e="$config" -v c="$1" '$1 == e { print $c }' "$RESULTS" | median; }
    printf '| %-7s | %9s | %8s | %8s | %11s | %13s |\n' "$config" "$(col 2)" "$(col 3)" "$(col 4)" "$(col 5)" "$(col 6)"
done
if [[ " $CONFIGS " == *" sqlite "* ]]; then
    echo
    echo "median of per-round ratios of req/s to sqlite:"
    for config in "${CONFIG_LIST[@]}"; do
        [[ "$config" != sqlite ]] || continue
        awk -F'\t' -v e="$config" '
            $1 == "sqlite" { s[++ns] = $2 }
            $1 == e { c[++nc] = $2 }
            END { for (i = 1; i <= nc && i <= ns; i++) print c[i] / s[i] }' "$RESULTS" |
            median | xargs printf "  $config / sqlite: %.3f\n"
    done
fi
