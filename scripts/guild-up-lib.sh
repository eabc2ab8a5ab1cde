# Sourced by tour.sh and browser-tests.sh: builds the suite (GUILD_TOUR_CONFIGURATION, default
# debug, the build the tests already made), starts `guild up` in a fresh data directory on free
# ports, waits until it is running, and stops it (and removes the directory) on exit.
# Sets BIN, WORK, PORT, AUTH_PORT, MEMBERSHIP_PORT, CONTENT_PORT, REFERRAL_PORT, METRICS_PORTS
# (auth, membership, content, referral) and BASE.
CONFIGURATION=${GUILD_TOUR_CONFIGURATION:-debug}
swift build -c "$CONFIGURATION" >/dev/null
BIN=$(swift build -c "$CONFIGURATION" --show-bin-path)
WORK=$(mktemp -d /tmp/guild-run.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=${GUILD_TOUR_PORT:-$(free_port)}
AUTH_PORT=${GUILD_TOUR_AUTH_PORT:-$(free_port)}
MEMBERSHIP_PORT=${GUILD_TOUR_MEMBERSHIP_PORT:-$(free_port)}
CONTENT_PORT=${GUILD_TOUR_CONTENT_PORT:-$(free_port)}
REFERRAL_PORT=${GUILD_TOUR_REFERRAL_PORT:-$(free_port)}
METRICS_PORTS=(${GUILD_TOUR_METRICS_PORTS:-$(free_port) $(free_port) $(free_port) $(free_port)})
PORTS=(--http-port "$PORT" --auth-port "$AUTH_PORT" --membership-port "$MEMBERSHIP_PORT" --content-port "$CONTENT_PORT" --referral-port "$REFERRAL_PORT"
       --metrics-ports "$(IFS=,; echo "${METRICS_PORTS[*]}")")
"$BIN/guild" up --data-dir "$WORK/.guild" "${PORTS[@]}" >"$WORK/up.log" 2>&1 &
UP_PID=$!
stop() {
  kill -TERM "$UP_PID" 2>/dev/null || true
  wait "$UP_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap stop EXIT
for _ in $(seq 1 300); do
  grep -q "Guild is running" "$WORK/up.log" && break
  kill -0 "$UP_PID" 2>/dev/null || { cat "$WORK/up.log"; echo "guild up died" >&2; exit 1; }
  sleep 0.2
done
grep -q "Guild is running" "$WORK/up.log" || { cat "$WORK/up.log"; echo "guild up did not start" >&2; exit 1; }
BASE="http://127.0.0.1:$PORT"
