#!/usr/bin/env bash
# The web front end's speed against the JSON API's, in one run: a member reads a members-only
# post as a page (GET /c/{slug}/posts/{id}, with the session cookie) and as JSON
# (GET /api/v1/items/{id}, with the bearer token). Each round measures both with wrk, one after
# the other; the ratio page ÷ JSON is taken per round, and the median over the rounds is held
# against the target (≥ 0.5: a page renders at no less than half the JSON route's rate).
# GUILD_TOUR_CONFIGURATION=release (the default here) measures the release build.
# Options (env): BENCH_ROUNDS (3), BENCH_SECONDS (8), BENCH_CONNECTIONS ("1 16").
set -euo pipefail
cd "$(dirname "$0")/.."
export GUILD_TOUR_CONFIGURATION=${GUILD_TOUR_CONFIGURATION:-release}
# wrk is one client sending thousands of requests a second: the gateway's rate limits would
# answer most of them 429, so the benchmark turns them off (they are measured by the tests).
export GUILD_GATEWAY_RATE_LIMITS=off
ROUNDS=${BENCH_ROUNDS:-3}
SECONDS_PER_RUN=${BENCH_SECONDS:-8}
CONNECTIONS=${BENCH_CONNECTIONS:-"1 16"}
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
source scripts/guild-up-lib.sh
api() { # method, path, token, body
  curl -s -X "$1" "$BASE$2" -H 'Content-Type: application/json' ${3:+-H "Authorization: Bearer $3"} ${4:+-d "$4"}
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
OWNER=$(api POST /api/v1/auth/register "" '{"email":"owner@example.com","password":"correct horse battery","displayName":"Ada"}' | field '["tokens"]["accessToken"]')
COMMUNITY=$(api POST /api/v1/communities "$OWNER" '{"slug":"bench-club","name":"Bench Club","currency":"CNY"}' | field '["id"]')
api PATCH "/api/v1/communities/$COMMUNITY" "$OWNER" '{"status":"active"}' >/dev/null
PLAN=$(api POST "/api/v1/communities/$COMMUNITY/plans" "$OWNER" '{"name":"Free","priceMinorUnits":0,"period":"monthly"}' | field '["id"]')
BODY=$(python3 -c 'import json; print(json.dumps({"kind":"post","title":"Why actors","publish":True,"access":{"mode":"members"},"markdown":"Actors keep state safe. " * 50}))')
POST=$(api POST "/api/v1/communities/$COMMUNITY/items" "$OWNER" "$BODY" | field '["id"]')
# The member signs in through the pages (CSRF token, then the form) and keeps the session cookie.
JAR="$WORK/cookies"
CSRF=$(curl -s -c "$JAR" -H 'Accept: text/html' "$BASE/signup" | python3 -c 'import re,sys; print(re.search(r"name=\"_csrf\" value=\"([^\"]+)\"", sys.stdin.read()).group(1))')
curl -s -b "$JAR" -c "$JAR" -o /dev/null -X POST "$BASE/signup" --data-urlencode "_csrf=$CSRF" \
  --data-urlencode "email=member@example.com" --data-urlencode "password=correct horse battery" --data-urlencode "displayName=Bea"
MEMBER=$(api POST /api/v1/auth/login "" '{"email":"member@example.com","password":"correct horse battery"}' | field '["tokens"]["accessToken"]')
curl -s -o /dev/null -X POST "$BASE/api/v1/orders" -H "Authorization: Bearer $MEMBER" -H 'Content-Type: application/json' \
  -H 'Idempotency-Key: bench-join' -d "{\"communityId\":\"$COMMUNITY\",\"planId\":\"$PLAN\"}"
SESSION=$(awk '$6 == "guild_session" { print $7 }' "$JAR")
[[ -n "$SESSION" ]] || { echo "no session cookie" >&2; exit 1; }
PAGE="$BASE/c/bench-club/posts/$POST"
JSON="$BASE/api/v1/items/$POST"
sleep 2  # membership's event reaches content
curl -s -b "guild_session=$SESSION" "$PAGE" | grep -q "Actors keep state safe" || { echo "the member cannot read the post's page" >&2; exit 1; }
curl -s -H "Authorization: Bearer $MEMBER" "$JSON" | grep -q "Actors keep state safe" || { echo "the member cannot read the post's JSON" >&2; exit 1; }
rate() { # url, connections, header
  wrk -t1 -c "$2" -d "${SECONDS_PER_RUN}s" --latency -H "$3" "$1" | python3 -c '
import re, sys
text = sys.stdin.read()
rate = re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1)
p50 = re.search(r"50%\s+([0-9.]+\w+)", text).group(1)
p99 = re.search(r"99%\s+([0-9.]+\w+)", text).group(1)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(rate, p50, p99, errors.group(1) if errors else 0)'
}
printf '\n| connections | round | page req/s (p50, p99) | JSON req/s (p50, p99) | page ÷ JSON |\n|---|---|---|---|---|\n'
failed=0
for connections in $CONNECTIONS; do
  ratios=()
  for round in $(seq 1 "$ROUNDS"); do
    read -r page_rate page_p50 page_p99 page_errors < <(rate "$PAGE" "$connections" "Cookie: guild_session=$SESSION")
    read -r json_rate json_p50 json_p99 json_errors < <(rate "$JSON" "$connections" "Authorization: Bearer $MEMBER")
    [[ "$page_errors$json_errors" == "00" ]] || { echo "errors: page $page_errors, JSON $json_errors" >&2; exit 1; }
    ratio=$(python3 -c "print(f'{$page_rate / $json_rate:.2f}')")
    ratios+=("$ratio")
    printf '| %s | %s | %.0f (%s, %s) | %.0f (%s, %s) | %s |\n' "$connections" "$round" "$page_rate" "$page_p50" "$page_p99" "$json_rate" "$json_p50" "$json_p99" "$ratio"
  done
  median=$(printf '%s\n' "${ratios[@]}" | sort -n | python3 -c 'import sys; v=[float(x) for x in sys.stdin]; print(f"{v[len(v)//2]:.2f}")')
  verdict=$(python3 -c "print('met' if $median >= 0.5 else 'NOT met')")
  [[ "$verdict" == "met" ]] || failed=1
  echo "connections $connections: median page ÷ JSON = $median (target ≥ 0.50: $verdict)"
done
exit $failed
