#!/usr/bin/env bash
# Two replicas of every service and two gateways over one PostgreSQL server, on loopback:
# `guild up --replicas 2`. Runs the README tour through both gateways, then kills (kill -9) one
# replica of each service in turn while a paying load runs (orders and sandbox payments retried
# under the same Idempotency-Key, entitlement reads, group buys), and checks that every buyer
# paid exactly once, every group settled once, the group-closing job refunded each unfilled
# group once, the ledger balances, each job ran on one replica, and no request kept failing for
# more than a few seconds around a kill. Prints those counts.
#
# PostgreSQL: GUILD_TEST_POSTGRES_URL (as .ci/run exports it; the script makes databases of its
# own there), or else a throwaway server it starts itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CONFIGURATION=${GUILD_TOUR_CONFIGURATION:-debug}
swift build -c "$CONFIGURATION" >/dev/null
BIN=$(swift build -c "$CONFIGURATION" --show-bin-path)
WORK=$(mktemp -d /tmp/guild-cluster.XXXXXX)
PG_STARTED=""
UP_PID=""
cleanup() {
  [[ -n "$UP_PID" ]] && { kill -TERM "$UP_PID" 2>/dev/null || true; wait "$UP_PID" 2>/dev/null || true; }
  if [[ -n "$PG_STARTED" ]]; then
    run_pg "'$PGBIN/pg_ctl' -D '$WORK/pg/data' -m fast -w stop >/dev/null" || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
run_pg() { if [[ $(id -u) -eq 0 ]]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if [[ -z "${GUILD_TEST_POSTGRES_URL:-}" ]]; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  mkdir -p "$WORK/pg"
  [[ $(id -u) -eq 0 ]] && chown postgres "$WORK/pg"
  PGPORT=$(free_port)
  run_pg "'$PGBIN/initdb' -D '$WORK/pg/data' -U guild -A trust --no-sync >/dev/null"
  run_pg "'$PGBIN/pg_ctl' -D '$WORK/pg/data' -o \"-p $PGPORT -k '$WORK/pg' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300\" -l '$WORK/pg/log' -w start >/dev/null"
  PG_STARTED=1
  GUILD_TEST_POSTGRES_URL="postgres://guild@127.0.0.1:$PGPORT/postgres"
fi
SERVER=${GUILD_TEST_POSTGRES_URL%/*}
PREFIX="cluster_$(date +%s)_$$"
for service in auth membership content referral; do
  psql -q "$GUILD_TEST_POSTGRES_URL" -c "CREATE DATABASE ${PREFIX}_$service" >/dev/null
done
echo "ok: PostgreSQL at $SERVER, databases ${PREFIX}_{auth,membership,content,referral}"

# Ports: replica k of a service listens on its port + 10·k (guild up's layout), so each base
# needs its neighbour free too.
pick_base() { python3 - "$@" <<'PY'
import random, socket, sys
def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port)); return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    base = random.randrange(20000, 30000, 100)
    ports = [base + offset for offset in (1, 2, 3, 4, 11, 12, 13, 14, 51, 52, 53, 54, 61, 62, 63, 64, 80, 81)]
    if all(free(p) for p in ports):
        print(base); break
PY
}
BASE_PORT=$(pick_base)
AUTH_PORT=$((BASE_PORT + 1)) MEMBERSHIP_PORT=$((BASE_PORT + 2)) CONTENT_PORT=$((BASE_PORT + 3)) REFERRAL_PORT=$((BASE_PORT + 4))
PORT=$((BASE_PORT + 80))
METRICS=($((BASE_PORT + 51)) $((BASE_PORT + 52)) $((BASE_PORT + 53)) $((BASE_PORT + 54)))
"$BIN/guild" up --data-dir "$WORK/.guild" --replicas 2 --database-url-template "$SERVER/${PREFIX}_{service}" \
  --http-port "$PORT" --auth-port "$AUTH_PORT" --membership-port "$MEMBERSHIP_PORT" --content-port "$CONTENT_PORT" --referral-port "$REFERRAL_PORT" \
  --metrics-ports "$(IFS=,; echo "${METRICS[*]}")" >"$WORK/up.log" 2>&1 &
UP_PID=$!
for _ in $(seq 1 600); do
  grep -q "Guild is running" "$WORK/up.log" && break
  kill -0 "$UP_PID" 2>/dev/null || { cat "$WORK/up.log"; echo "FAIL: guild up --replicas 2 died" >&2; exit 1; }
  sleep 0.2
done
grep -q "Guild is running" "$WORK/up.log" || { tail -50 "$WORK/up.log"; echo "FAIL: guild up --replicas 2 did not start" >&2; exit 1; }
GATEWAYS=("http://127.0.0.1:$PORT" "http://127.0.0.1:$((PORT + 1))")
echo "ok: $(grep -c 'is listening' "$WORK/up.log") processes up: $(grep -o 'Guild is running at .*  (' "$WORK/up.log" | sed 's/  ($//')"

# The README tour, its requests spread over both gateways.
GUILD_TOUR_EXTERNAL=1 GUILD_TOUR_BASES="${GATEWAYS[*]}" GUILD_TOUR_BIN="$BIN" GUILD_TOUR_DATA_DIR="$WORK/.guild" \
  GUILD_TOUR_PORT="$PORT" GUILD_TOUR_AUTH_PORT="$AUTH_PORT" GUILD_TOUR_MEMBERSHIP_PORT="$MEMBERSHIP_PORT" \
  GUILD_TOUR_CONTENT_PORT="$CONTENT_PORT" GUILD_TOUR_REFERRAL_PORT="$REFERRAL_PORT" GUILD_TOUR_DEMO_MONTHS="${GUILD_CLUSTER_DEMO_MONTHS:-4}" \
  scripts/tour.sh >"$WORK/tour.log" 2>&1 || { tail -40 "$WORK/tour.log"; echo "FAIL: the tour through both gateways" >&2; exit 1; }
for gateway in "${GATEWAYS[@]}"; do
  served=$(curl -sf "$gateway/metrics" | awk '/^guild_http_requests_total\{/ {sum += $NF} END {print sum + 0}')
  [[ "$served" -gt 20 ]] || { echo "FAIL: $gateway served only $served requests of the tour" >&2; exit 1; }
  echo "ok: the tour went through $gateway too ($served requests)"
done

# The paying load, and one replica of each service killed in turn while it runs.
python3 scripts/cluster_load.py setup "$WORK/load.json" "${GATEWAYS[@]}"
python3 scripts/cluster_load.py run "$WORK/load.json" "$WORK/stop" "${GATEWAYS[@]}" >"$WORK/load.log" 2>&1 &
LOAD_PID=$!
sleep 3
: >"$WORK/kills"
for service in auth membership content referral; do
  port_var="${service^^}_PORT"
  pid=$(pgrep -f "guild-$service --listen 127.0.0.1:${!port_var}( |$)" | head -1 || true)
  [[ -n "$pid" ]] || { echo "FAIL: no guild-$service replica on port ${!port_var}" >&2; exit 1; }
  echo "$(date +%s.%N) $service" >>"$WORK/kills"
  kill -KILL "$pid"
  echo "killed guild-$service-1 (pid $pid) under load"
  sleep 8
done
sleep 2
touch "$WORK/stop"
wait "$LOAD_PID" || { cat "$WORK/load.log"; echo "FAIL: the paying load" >&2; exit 1; }
cat "$WORK/load.log"
for service in auth membership content referral; do
  grep -q "guild-$service-1 was killed by signal 9; restarting it" "$WORK/up.log" || { tail -30 "$WORK/up.log"; echo "FAIL: guild up did not restart guild-$service-1" >&2; exit 1; }
done
echo "ok: guild up restarted each killed replica"

# How long requests kept failing after each kill (a failure counts for the last kill before it).
python3 - "$WORK/load.json" "$WORK/kills" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
kills = [(float(line.split()[0]), line.split()[1]) for line in open(sys.argv[2])]
failures = sorted(t for t, _ in state["failures"])
worst = 0.0
for index, (at, service) in enumerate(kills):
    until = kills[index + 1][0] if index + 1 < len(kills) else float("inf")
    mine = [t for t in failures if at - 1 <= t < until]
    span = (max(mine) - at) if mine else 0.0
    worst = max(worst, span)
    print(f"ok: killing one {service} replica: {len(mine)} failed answers, the last {max(span, 0):.1f} s after the kill")
before = [t for t in failures if t < kills[0][0] - 1]
if before:
    sys.exit(f"FAIL: {len(before)} requests failed before any kill")
if worst > 5:
    sys.exit(f"FAIL: requests kept failing {worst:.1f} s after a kill (more than 5 s)")
PY

python3 scripts/cluster_load.py verify-paid "$WORK/load.json" "${GATEWAYS[@]}" || { echo "FAIL: the load's payments" >&2; exit 1; }
# The group buys nobody joined close when their hour is over: move the suite's clock on, and
# the group-closing job (on whichever membership replica holds its lease) refunds each once.
echo 7200000 >"$WORK/.guild/simulated-clock"
python3 scripts/cluster_load.py verify-refunds "$WORK/load.json" "${GATEWAYS[@]}" || { echo "FAIL: the unfilled groups' refunds" >&2; exit 1; }
echo 0 >"$WORK/.guild/simulated-clock"

"$BIN/guild" ledger-check --data-dir "$WORK/.guild" --membership "127.0.0.1:$MEMBERSHIP_PORT,127.0.0.1:$((MEMBERSHIP_PORT + 10))" >"$WORK/ledger.txt" 2>&1 \
  || { cat "$WORK/ledger.txt"; echo "FAIL: guild ledger-check" >&2; exit 1; }
echo "ok: the ledger balances -> $(head -1 "$WORK/ledger.txt")"

# Each job ran on one replica at a time: exactly one of the two holds each lease now.
for index in 0 1 2 3; do
  service=(auth membership content referral); service=${service[$index]}
  [[ $service == auth ]] && continue
  held=$( { curl -sf "http://127.0.0.1:${METRICS[$index]}/metrics"; curl -sf "http://127.0.0.1:$((METRICS[$index] + 10))/metrics"; } \
    | awk '/^guild_job_lease_held\{/ { split($1, a, "\""); held[a[2]] += $NF } END { for (j in held) print j "=" held[j] }' | sort | tr '\n' ' ')
  for entry in $held; do
    [[ "${entry#*=}" == 1 ]] || { echo "FAIL: $service's job ${entry%=*} is held by ${entry#*=} replicas" >&2; exit 1; }
  done
  echo "ok: $service's jobs each run on one replica: $held"
done
echo "cluster test passed"
