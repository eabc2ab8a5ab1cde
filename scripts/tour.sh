#!/usr/bin/env bash
# Starts the suite with `guild up` in a fresh data directory and runs the README's curl tour
# against it, checking each answer. Exits non-zero on the first surprise.
#
# GUILD_TOUR_EXTERNAL=1 runs the tour against a suite already running instead (scripts/cluster-test.sh:
# GUILD_TOUR_BASES lists its gateways, each request going to the next; GUILD_TOUR_BIN, GUILD_TOUR_DATA_DIR
# and the GUILD_TOUR_*_PORT variables say where the rest is), and leaves out what only a suite of
# its own can show (guild up's supervision, metrics ports, SQLite's one replica).
set -euo pipefail
cd "$(dirname "$0")/.."
# The tour checks behaviour, so it uses the debug build the tests already made (set
# GUILD_TOUR_CONFIGURATION=release to run the README's release binaries instead).
if [[ -n "${GUILD_TOUR_EXTERNAL:-}" ]]; then
  BIN=$GUILD_TOUR_BIN
  WORK=$(mktemp -d /tmp/guild-tour.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  DATA_DIR=$GUILD_TOUR_DATA_DIR
  PORT=$GUILD_TOUR_PORT AUTH_PORT=$GUILD_TOUR_AUTH_PORT MEMBERSHIP_PORT=$GUILD_TOUR_MEMBERSHIP_PORT
  CONTENT_PORT=$GUILD_TOUR_CONTENT_PORT REFERRAL_PORT=$GUILD_TOUR_REFERRAL_PORT
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  read -ra TOUR_BASES <<<"$GUILD_TOUR_BASES"
  DEMO_GATEWAY=${TOUR_BASES[0]}
  # Every curl goes to the next gateway in turn (a file keeps the turn: $(…) runs in a subshell).
  BASE="http://guild-tour.invalid"
  curl() {
    local turn=$(( $(cat "$WORK/turn" 2>/dev/null || echo 0) + 1 ))
    echo "$turn" >"$WORK/turn"
    local target=${TOUR_BASES[$((turn % ${#TOUR_BASES[@]}))]} args=() arg
    for arg in "$@"; do args+=("${arg//http:\/\/guild-tour.invalid/$target}"); done
    command curl "${args[@]}"
  }
else
  source scripts/guild-up-lib.sh
  DATA_DIR="$WORK/.guild"
  DEMO_GATEWAY=$BASE
fi
# The gateway answers /healthz before the tour starts (a belt to guild up's braces).
for _ in $(seq 1 50); do curl -s -o /dev/null "$BASE/healthz" && break; sleep 0.2; done
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# The containers' health probe: the gateway's /readyz, and each service's guild.Health over
# mutual TLS with the cli certificate; a port nothing answers on is unhealthy.
for target in "http://127.0.0.1:$PORT/readyz" "auth@127.0.0.1:$AUTH_PORT" "membership@127.0.0.1:$MEMBERSHIP_PORT" \
              "content@127.0.0.1:$CONTENT_PORT" "referral@127.0.0.1:$REFERRAL_PORT"; do
  "$BIN/guild" health --data-dir "$DATA_DIR" "$target" >/dev/null || { echo "FAIL: guild health $target" >&2; exit 1; }
done
if "$BIN/guild" health --data-dir "$DATA_DIR" --timeout-ms 500 "auth@127.0.0.1:$MEMBERSHIP_PORT" >/dev/null 2>&1; then
  echo "FAIL: guild health called membership's port auth's" >&2; exit 1
fi
echo "ok: guild health finds the gateway and every service healthy, and a wrong peer unhealthy"
expect_status() { # expected, actual, what
  if [[ "$1" != "$2" ]]; then echo "FAIL: $3: expected HTTP $1, got $2" >&2; cat "$WORK/body" >&2; exit 1; fi
  echo "ok: $3 -> $2"
}

status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE/api/v1/auth/register" \
  -H 'Content-Type: application/json' \
  -d '{"email":"ada@example.com","password":"correct horse battery","displayName":"Ada"}')
expect_status 201 "$status" "register"

status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE/api/v1/auth/login" \
  -H 'Content-Type: application/json' \
  -d '{"email":"ada@example.com","password":"correct horse battery"}')
expect_status 200 "$status" "login"
ACCESS=$(json '["tokens"]["accessToken"]' <"$WORK/body")
REFRESH=$(json '["tokens"]["refreshToken"]' <"$WORK/body")

status=$(curl -s -o "$WORK/body" -w '%{http_code}' "$BASE/api/v1/me" -H "Authorization: Bearer $ACCESS")
expect_status 200 "$status" "me"
[[ $(json '["email"]' <"$WORK/body") == "ada@example.com" ]] || { echo "FAIL: me returned the wrong user" >&2; exit 1; }
OWNER_ID=$(json '["id"]' <"$WORK/body")

status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE/api/v1/auth/refresh" \
  -H 'Content-Type: application/json' -d "{\"refreshToken\":\"$REFRESH\"}")
expect_status 200 "$status" "refresh"

status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE/api/v1/auth/refresh" \
  -H 'Content-Type: application/json' -d "{\"refreshToken\":\"$REFRESH\"}")
expect_status 401 "$status" "refresh with a used token (reuse detection)"

status=$(curl -s -o "$WORK/body" -w '%{http_code}' "$BASE/readyz")
expect_status 200 "$status" "readyz"

# Membership: an owner opens a community with a plan and a coupon; a member pays with the sandbox.
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE/api/v1/auth/login" \
  -H 'Content-Type: application/json' -d '{"email":"ada@example.com","password":"correct horse battery"}')
expect_status 200 "$status" "log in again"
ACCESS=$(json '["tokens"]["accessToken"]' <"$WORK/body")
post() { # path, token, body, [idempotency key]
  local key=()
  [[ $# -ge 4 ]] && key=(-H "Idempotency-Key: $4")
  curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE$1" -H "Authorization: Bearer $2" \
    -H 'Content-Type: application/json' "${key[@]}" -d "$3"
}
status=$(post /api/v1/communities "$ACCESS" '{"slug":"swift-club","name":"Swift Club","currency":"CNY","refundWindowDays":7}')
expect_status 201 "$status" "create a community"
COMMUNITY=$(json '["id"]' <"$WORK/body")
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X PATCH "$BASE/api/v1/communities/$COMMUNITY" \
  -H "Authorization: Bearer $ACCESS" -H 'Content-Type: application/json' -d '{"status":"active"}')
expect_status 200 "$status" "publish it"
status=$(post "/api/v1/communities/$COMMUNITY/plans" "$ACCESS" '{"name":"Yearly","priceMinorUnits":39900,"period":"yearly"}')
expect_status 201 "$status" "create a plan"
PLAN=$(json '["id"]' <"$WORK/body")
status=$(post "/api/v1/communities/$COMMUNITY/coupons" "$ACCESS" '{"code":"LAUNCH","kind":"percent","percentOffBp":2000,"maxRedemptions":100}')
expect_status 201 "$status" "create a coupon"
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE/api/v1/auth/register" \
  -H 'Content-Type: application/json' -d '{"email":"bob@example.com","password":"another good secret","displayName":"Bob"}')
expect_status 201 "$status" "a member registers"
MEMBER=$(json '["tokens"]["accessToken"]' <"$WORK/body")
MEMBER_ID=$(json '["user"]["id"]' <"$WORK/body")
status=$(post "/api/v1/communities/$COMMUNITY/quote" "$MEMBER" "{\"planId\":\"$PLAN\",\"couponCode\":\"launch\"}")
expect_status 200 "$status" "quote"
[[ $(json '["total"]["formatted"]' <"$WORK/body") == "319.20 CNY" ]] || { echo "FAIL: the quote's total is wrong" >&2; cat "$WORK/body" >&2; exit 1; }
status=$(post /api/v1/orders "$MEMBER" "{\"communityId\":\"$COMMUNITY\",\"planId\":\"$PLAN\",\"couponCode\":\"LAUNCH\"}" order-1)
expect_status 201 "$status" "order"
PAYMENT=$(json '["payment"]["id"]' <"$WORK/body")
status=$(post "/api/v1/payments/$PAYMENT/sandbox-confirm" "$MEMBER" '{"outcome":"succeeded"}' pay-1)
expect_status 200 "$status" "pay with the sandbox"
[[ $(json '["status"]' <"$WORK/body") == "paid" ]] || { echo "FAIL: the order is not paid" >&2; exit 1; }
status=$(curl -s -o "$WORK/body" -w '%{http_code}' "$BASE/api/v1/me/memberships" -H "Authorization: Bearer $MEMBER")
expect_status 200 "$status" "my memberships"
[[ $(json '["memberships"][0]["subscription"]["state"]' <"$WORK/body") == "active" ]] || { echo "FAIL: no active membership" >&2; exit 1; }
status=$(curl -s -o "$WORK/body" -w '%{http_code}' "$BASE/api/v1/communities/$COMMUNITY/earnings" -H "Authorization: Bearer $ACCESS")
expect_status 200 "$status" "the owner's earnings"
[[ $(json '["payable"]["minorUnits"]' <"$WORK/body") == "30324" ]] || { echo "FAIL: earnings do not add up" >&2; cat "$WORK/body" >&2; exit 1; }
"$BIN/guild" ledger-check --data-dir "$DATA_DIR" --membership "127.0.0.1:$MEMBERSHIP_PORT" >"$WORK/ledger.txt" \
  || { cat "$WORK/ledger.txt"; echo "FAIL: guild ledger-check" >&2; exit 1; }
grep -q "every invariant holds" "$WORK/ledger.txt" && echo "ok: guild ledger-check -> $(head -1 "$WORK/ledger.txt")"

# Content: a course with two free lessons and a post with a preview, behind the paywall.
get() { # path, [token]
  local auth=()
  [[ $# -ge 2 ]] && auth=(-H "Authorization: Bearer $2")
  curl -s -o "$WORK/body" -w '%{http_code}' "$BASE$1" "${auth[@]}"
}
expect_json() { # python expression on the body, expected value, what
  local got
  got=$(json "$1" <"$WORK/body")
  [[ "$got" == "$2" ]] || { echo "FAIL: $3: expected $2, got $got" >&2; cat "$WORK/body" >&2; exit 1; }
  echo "ok: $3"
}
status=$(post "/api/v1/communities/$COMMUNITY/items" "$ACCESS" \
  '{"kind":"course","title":"Swift Concurrency","markdown":"From tasks to actors.","access":{"mode":"preview","freeLessons":2}}')
expect_status 201 "$status" "create a course with two free lessons"
COURSE=$(json '["id"]' <"$WORK/body")
status=$(post "/api/v1/items/$COURSE/chapters" "$ACCESS" '{"title":"Basics"}')
expect_status 201 "$status" "add a chapter"
CHAPTER=$(json '["id"]' <"$WORK/body")
LESSONS=()
for lesson in '{"title":"Tasks","markdown":"Every task has a priority."}' \
              '{"title":"Task groups","markdown":"A group waits for its children."}' \
              '{"title":"Actors","markdown":"Actors are reentrant: state can change across an await."}'; do
  status=$(post "/api/v1/chapters/$CHAPTER/lessons" "$ACCESS" "$lesson")
  expect_status 201 "$status" "add a lesson"
  LESSONS+=("$(json '["id"]' <"$WORK/body")")
done
status=$(post "/api/v1/items/$COURSE/publish" "$ACCESS" '{}')
expect_status 200 "$status" "publish the course"
status=$(post "/api/v1/communities/$COMMUNITY/items" "$ACCESS" \
  '{"kind":"post","title":"Why actors","markdown":"The free part: why.\n\n<!-- more -->\n\nThe paid part: how.","access":{"mode":"preview"},"publish":true}')
expect_status 201 "$status" "publish a post with a preview"
POST=$(json '["id"]' <"$WORK/body")

status=$(get "/api/v1/items/$POST")
expect_status 200 "$status" "a visitor reads the post"
expect_json '["locked"]' True "the post is locked for a visitor"
expect_json '["html"].count("paid part")' 0 "no paid text for the visitor"
expect_json '["paywall"]["plans"][0]["name"]' Yearly "the paywall names the plan that opens it"
status=$(get "/api/v1/lessons/${LESSONS[1]}")
expect_status 200 "$status" "a visitor reads the second free lesson"
expect_json '["html"].count("group waits")' 1 "the free lesson's text"
status=$(get "/api/v1/lessons/${LESSONS[2]}")
expect_json '["locked"]' True "the third lesson is locked for a visitor"

status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE/api/v1/auth/register" \
  -H 'Content-Type: application/json' -d '{"email":"cy@example.com","password":"a third good secret","displayName":"Cy"}')
expect_status 201 "$status" "the visitor registers"
VISITOR=$(json '["tokens"]["accessToken"]' <"$WORK/body")
status=$(post /api/v1/orders "$VISITOR" "{\"communityId\":\"$COMMUNITY\",\"planId\":\"$PLAN\"}" order-cy)
expect_status 201 "$status" "the visitor orders"
PAYMENT=$(json '["payment"]["id"]' <"$WORK/body")
status=$(post "/api/v1/payments/$PAYMENT/sandbox-confirm" "$VISITOR" '{"outcome":"succeeded"}' pay-cy)
expect_status 200 "$status" "and pays with the sandbox"
status=$(get "/api/v1/lessons/${LESSONS[2]}" "$VISITOR")
expect_json '["html"].count("reentrant")' 1 "the new member reads the paid lesson"
status=$(get "/api/v1/items/$POST" "$VISITOR")
expect_json '["html"].count("paid part")' 1 "and the whole post"

status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X PUT "$BASE/api/v1/communities/$COMMUNITY/roles/$MEMBER_ID" \
  -H "Authorization: Bearer $ACCESS" -H 'Content-Type: application/json' -d '{"role":"moderator"}')
expect_status 200 "$status" "Bob becomes a moderator"
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X PATCH "$BASE/api/v1/communities/$COMMUNITY/content-settings" \
  -H "Authorization: Bearer $ACCESS" -H 'Content-Type: application/json' -d '{"keywords":["加微信"],"replaceKeywords":true}')
expect_status 200 "$status" "the owner sets the keyword list"
status=$(post "/api/v1/items/$POST/comments" "$VISITOR" '{"markdown":"想要资料请加 微 信"}')
expect_status 201 "$status" "a comment that dodges the filter with spaces"
expect_json '["status"]' held "the keyword filter holds it"
status=$(get "/api/v1/communities/$COMMUNITY/moderation-queue" "$MEMBER")
ENTRY=$(json '["entries"][0]["id"]' <"$WORK/body")
status=$(post "/api/v1/moderation-queue/$ENTRY/decision" "$MEMBER" '{"decision":"approve"}')
expect_status 200 "$status" "the moderator approves it"
status=$(get "/api/v1/items/$POST/comments" "$VISITOR")
expect_json '["comments"][0]["status"]' published "the comment is published"
status=$(get "/api/v1/search?q=%E5%B9%B6%E5%8F%91" )
expect_status 200 "$status" "search"
status=$(get "/api/v1/search?q=reentrant" "$VISITOR")
expect_json '["hits"][0]["item"]["title"]' "Swift Concurrency" "a member finds the paid lesson by search"

# Interaction: paid questions (one answered, one refunded when its time runs out), a check-in,
# a lottery drawn and verified with `guild lottery verify`, and a paid booking.
put() { # path, token, body
  curl -s -o "$WORK/body" -w '%{http_code}' -X PUT "$BASE$1" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' -d "$3"
}
wait_for() { # path, token, python expression, expected, what
  for _ in $(seq 1 150); do
    get "$1" "$2" >/dev/null
    [[ $(json "$3" <"$WORK/body" 2>/dev/null) == "$4" ]] && { echo "ok: $5"; return 0; }
    sleep 1
  done
  echo "FAIL: $5: $3 never became $4" >&2; cat "$WORK/body" >&2; exit 1
}
status=$(put "/api/v1/communities/$COMMUNITY/answerer" "$ACCESS" '{"accepting":true,"priceMinorUnits":990,"intro":"Ask me about Swift concurrency."}')
expect_status 200 "$status" "the owner takes questions at 9.90"
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X PATCH "$BASE/api/v1/communities/$COMMUNITY/content-settings" \
  -H "Authorization: Bearer $ACCESS" -H 'Content-Type: application/json' -d '{"questionLimitMinutes":1}')
expect_status 200 "$status" "for the demo, questions must be answered within a minute"
status=$(post "/api/v1/communities/$COMMUNITY/questions" "$VISITOR" \
  "{\"answererId\":\"$OWNER_ID\",\"title\":\"Nobody will answer this\",\"markdown\":\"Left alone on purpose.\"}" ask-cy-late)
expect_status 201 "$status" "Cy asks a question nobody will answer"
LATE=$(json '["id"]' <"$WORK/body")
status=$(post "$(json '["payment"]["checkoutUrl"]' <"$WORK/body")" "$VISITOR" '{}' pay-cy-late)
expect_status 200 "$status" "and pays for it"
LATE_CHARGE=$(json '["id"]' <"$WORK/body")
wait_for "/api/v1/questions/$LATE" "$VISITOR" '["status"]' open "the paid question is open"
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X PATCH "$BASE/api/v1/communities/$COMMUNITY/content-settings" \
  -H "Authorization: Bearer $ACCESS" -H 'Content-Type: application/json' -d '{"questionLimitMinutes":2880}')
expect_status 200 "$status" "back to 48 hours for the next question"

status=$(post "/api/v1/communities/$COMMUNITY/questions" "$VISITOR" \
  "{\"answererId\":\"$OWNER_ID\",\"title\":\"When do I use an actor?\",\"markdown\":\"And when a mutex?\",\"public\":true}" ask-cy)
expect_status 201 "$status" "Cy asks a paid question"
QUESTION=$(json '["id"]' <"$WORK/body")
expect_json '["status"]' awaiting_payment "it waits for the payment"
status=$(post "/api/v1/communities/$COMMUNITY/questions" "$VISITOR" \
  "{\"answererId\":\"$OWNER_ID\",\"title\":\"When do I use an actor?\",\"markdown\":\"And when a mutex?\",\"public\":true}" ask-cy)
expect_json '["id"]' "$QUESTION" "asking again with the same Idempotency-Key is the same question"
status=$(post "$(json '["payment"]["checkoutUrl"]' <"$WORK/body")" "$VISITOR" '{}' pay-cy-q)
expect_status 200 "$status" "Cy pays; the platform holds the money"
expect_json '["status"]' held "the charge is held"
CHARGE=$(json '["id"]' <"$WORK/body")
wait_for "/api/v1/questions/$QUESTION" "$ACCESS" '["status"]' open "the owner sees the paid question"
status=$(post "/api/v1/questions/$QUESTION/answer" "$ACCESS" '{"markdown":"An actor when state outlives a call; a mutex for a few lines."}')
expect_status 200 "$status" "the owner answers"
expect_json '["status"]' answered "the question is answered"
expect_json '["answererCredit"]["minorUnits"] > 0' True "the answerer is credited, less the platform fee"
status=$(get "/api/v1/charges/$CHARGE" "$VISITOR")
expect_json '["status"]' settled "the charge is paid out"

TODAY=$(date -u +%F)
status=$(post "/api/v1/communities/$COMMUNITY/challenges" "$ACCESS" \
  "{\"title\":\"7 days of Swift\",\"task\":\"Write one test a day.\",\"startDate\":\"$TODAY\",\"days\":7,\"timeZone\":\"UTC\"}")
expect_status 201 "$status" "the owner starts a 7-day check-in challenge"
CHALLENGE=$(json '["id"]' <"$WORK/body")
status=$(post "/api/v1/challenges/$CHALLENGE/join" "$VISITOR" '{}')
expect_status 200 "$status" "Cy joins"
status=$(post "/api/v1/challenges/$CHALLENGE/checkins" "$VISITOR" '{"note":"Tested the actor."}')
expect_status 201 "$status" "Cy checks in"
expect_json '.get("day", 0)' 0 "on the challenge's first day (proto3 JSON leaves zeros out)"
status=$(post "/api/v1/challenges/$CHALLENGE/checkins" "$VISITOR" '{"note":"Again?"}')
expect_status 409 "$status" "a second check-in the same day is refused"
status=$(get "/api/v1/challenges/$CHALLENGE/board" "$VISITOR")
expect_json '["leaders"][0]["currentStreak"]' 1 "the leaderboard shows Cy's streak"

DRAW_AT=$(date -u -d '+4 seconds' +%FT%TZ)
status=$(post "/api/v1/communities/$COMMUNITY/lotteries" "$ACCESS" \
  "{\"title\":\"A book\",\"prizes\":[{\"name\":\"Book\",\"count\":1}],\"eligibility\":\"members\",\"drawAt\":\"$DRAW_AT\"}")
expect_status 201 "$status" "the owner announces a lottery; its commitment is published"
LOTTERY=$(json '["id"]' <"$WORK/body")
COMMITMENT=$(json '["commitment"]' <"$WORK/body")
for who in "$VISITOR" "$MEMBER"; do
  status=$(post "/api/v1/lotteries/$LOTTERY/entries" "$who" '{}')
  expect_status 200 "$status" "a member enters"
done
sleep 5
status=$(post "/api/v1/lotteries/$LOTTERY/draw" "$ACCESS" '{}')
[[ "$status" == 200 || "$status" == 409 ]] || { echo "FAIL: draw: HTTP $status" >&2; cat "$WORK/body" >&2; exit 1; }
status=$(post "/api/v1/lotteries/$LOTTERY/draw" "$ACCESS" '{}')
expect_status 409 "$status" "a lottery is drawn once"
status=$(get "/api/v1/lotteries/$LOTTERY")
expect_json '["commitment"]' "$COMMITMENT" "the commitment did not change"
cp "$WORK/body" "$WORK/lottery.json"
"$BIN/guild" lottery verify "$WORK/lottery.json" >"$WORK/verify.txt" \
  || { cat "$WORK/verify.txt"; echo "FAIL: guild lottery verify" >&2; exit 1; }
grep -q "verified" "$WORK/verify.txt" && echo "ok: guild lottery verify -> $(tail -1 "$WORK/verify.txt")"

status=$(put "/api/v1/communities/$COMMUNITY/availability" "$ACCESS" \
  '{"timeZone":"Asia/Shanghai","windows":[{"weekday":1,"startMinute":0,"endMinute":1440},{"weekday":2,"startMinute":0,"endMinute":1440},{"weekday":3,"startMinute":0,"endMinute":1440},{"weekday":4,"startMinute":0,"endMinute":1440},{"weekday":5,"startMinute":0,"endMinute":1440},{"weekday":6,"startMinute":0,"endMinute":1440},{"weekday":7,"startMinute":0,"endMinute":1440}]}')
expect_status 200 "$status" "the owner opens weekly hours for consulting"
status=$(post "/api/v1/communities/$COMMUNITY/offerings" "$ACCESS" \
  '{"title":"Code review","scope":"One pull request","durationMinutes":60,"priceMinorUnits":19900,"cancelCutoffHours":24}')
expect_status 201 "$status" "and offers an hour of code review"
OFFERING=$(json '["id"]' <"$WORK/body")
status=$(get "/api/v1/offerings/$OFFERING/slots?days=2")
expect_status 200 "$status" "anyone lists the free slots"
SLOT=$(json '["slots"][1]["start"]' <"$WORK/body")
status=$(post "/api/v1/offerings/$OFFERING/bookings" "$VISITOR" "{\"start\":\"$SLOT\"}" book-cy)
expect_status 201 "$status" "Cy books a slot"
BOOKING=$(json '["id"]' <"$WORK/body")
status=$(post "$(json '["payment"]["checkoutUrl"]' <"$WORK/body")" "$VISITOR" '{}' pay-cy-book)
expect_status 200 "$status" "and pays for it"
wait_for "/api/v1/bookings/$BOOKING" "$VISITOR" '["status"]' confirmed "the booking is confirmed"
status=$(post "/api/v1/offerings/$OFFERING/bookings" "$MEMBER" "{\"start\":\"$SLOT\"}" book-bob)
expect_status 409 "$status" "the same slot cannot be booked twice"

wait_for "/api/v1/questions/$LATE" "$VISITOR" '["status"]' expired "the unanswered question expired"
status=$(get "/api/v1/charges/$LATE_CHARGE" "$VISITOR")
expect_json '["status"]' refunded "and Cy got the money back"
"$BIN/guild" ledger-check --data-dir "$DATA_DIR" --membership "127.0.0.1:$MEMBERSHIP_PORT" >"$WORK/ledger.txt" 2>&1 \
  || { cat "$WORK/ledger.txt"; echo "FAIL: guild ledger-check after interaction" >&2; exit 1; }
echo "ok: the ledger still balances -> $(head -1 "$WORK/ledger.txt")"

# Referral and growth. First `guild demo` fills a community with months of history through the
# gateway (it moves the suite's simulated clock back, and sets it right again at the end).
"$BIN/guild" demo --gateway "$DEMO_GATEWAY" --data-dir "$DATA_DIR" --months "${GUILD_TOUR_DEMO_MONTHS:-4}" --seed 7 >"$WORK/demo.log" 2>&1 \
  || { cat "$WORK/demo.log"; echo "FAIL: guild demo" >&2; exit 1; }
grep -q '^guild demo: done' "$WORK/demo.log" || { cat "$WORK/demo.log"; echo "FAIL: guild demo did not finish" >&2; exit 1; }
if grep -q 'kind(s) of step failed' "$WORK/demo.log"; then cat "$WORK/demo.log"; echo "FAIL: guild demo had failing steps" >&2; exit 1; fi
DEMO_COMMUNITY=$(sed -n 's/^Demo community \([^ ]*\) .*/\1/p' "$WORK/demo.log")
DEMO_EMAIL=$(sed -n 's/^  owner: *\([^ ]*\)  password .*/\1/p' "$WORK/demo.log")
DEMO_PASSWORD=$(sed -n 's/^  owner: *[^ ]*  password \(.*\)$/\1/p' "$WORK/demo.log")
echo "ok: guild demo filled community $DEMO_COMMUNITY"
# The demo took minutes: sign Ada, Bob and Cy in again for fresh tokens.
login() { # email, password
  curl -s -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' -d "{\"email\":\"$1\",\"password\":\"$2\"}" | json '["tokens"]["accessToken"]'
}
ACCESS=$(login ada@example.com 'correct horse battery')
MEMBER=$(login bob@example.com 'another good secret')
VISITOR=$(login cy@example.com 'a third good secret')

# The owner sets the referral programme: 10 % of a referred member's first payment.
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X PUT "$BASE/api/v1/communities/$COMMUNITY/referral/program" \
  -H "Authorization: Bearer $ACCESS" -H 'Content-Type: application/json' \
  -d '{"enabled":true,"commissionBp":1000,"commissionMode":"first_payment","attributionWindowDays":30}')
expect_status 200 "$status" "the owner sets a 10 % referral commission"
# Bob's referral link; a visitor follows it, signs up with the visitor id the link gave, and pays.
status=$(get "/api/v1/communities/$COMMUNITY/referral/link" "$MEMBER")
expect_status 200 "$status" "Bob's referral link"
CODE=$(json '["code"]' <"$WORK/body")
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -H 'Accept: application/json' "$BASE/r/$CODE?utm_source=wechat")
expect_status 200 "$status" "a visitor follows /r/$CODE"
VISITOR_ID=$(json '["visitorId"]' <"$WORK/body")
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE/api/v1/auth/register" -H 'Content-Type: application/json' \
  -d "{\"email\":\"dee@example.com\",\"password\":\"correct horse battery\",\"displayName\":\"Dee\",\"visitorId\":\"$VISITOR_ID\"}")
expect_status 201 "$status" "and signs up as Dee"
DEE=$(json '["tokens"]["accessToken"]' <"$WORK/body")
status=$(post /api/v1/orders "$DEE" "{\"communityId\":\"$COMMUNITY\",\"planId\":\"$PLAN\"}" order-dee)
expect_status 201 "$status" "Dee orders the plan"
PAYMENT=$(json '["payment"]["id"]' <"$WORK/body")
status=$(post "/api/v1/payments/$PAYMENT/sandbox-confirm" "$DEE" '{"outcome":"succeeded"}' pay-dee)
expect_status 200 "$status" "and pays 399.00"
wait_for "/api/v1/communities/$COMMUNITY/referral/me" "$MEMBER" '["commissions"][0]["status"]' pending "Bob's commission is pending until the refund window closes"
expect_json '["commissions"][0]["amountMinorUnits"]' 3990 "10 % of 399.00"
# Points: Cy's comment earned 5 points and the check-in 10; the owner offers 10 % off for 10 points
# and Cy redeems them.
wait_for "/api/v1/communities/$COMMUNITY/points/me" "$VISITOR" '.get("balance", "0")' 15 "Cy's comment and check-in earned 15 points"
status=$(post "/api/v1/communities/$COMMUNITY/rewards" "$ACCESS" '{"title":"10 % off","kind":"discount","costPoints":10,"percentOffBp":1000,"validDays":30}')
expect_status 201 "$status" "the owner adds a reward to the catalogue"
REWARD=$(json '["id"]' <"$WORK/body")
status=$(post "/api/v1/rewards/$REWARD/redeem" "$VISITOR" '{}' redeem-cy)
expect_status 201 "$status" "Cy redeems 10 points"
expect_json '["status"]' completed "the coupon was issued (points debited and coupon issued as one saga)"
COUPON=$(json '["couponCode"]' <"$WORK/body")
status=$(post "/api/v1/communities/$COMMUNITY/quote" "$VISITOR" "{\"planId\":\"$PLAN\",\"couponCode\":\"$COUPON\"}")
expect_status 200 "$status" "Cy's coupon $COUPON prices a renewal"
status=$(get "/api/v1/communities/$COMMUNITY/points/me" "$VISITOR")
expect_json '.get("balance", "0")' 5 "Cy's balance after redeeming"
# The demo community's owner reads the funnel and the forecast.
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$DEMO_EMAIL\",\"password\":\"$DEMO_PASSWORD\"}")
expect_status 200 "$status" "the demo community's owner logs in"
DEMO_OWNER=$(json '["tokens"]["accessToken"]' <"$WORK/body")
status=$(get "/api/v1/communities/$DEMO_COMMUNITY/analytics/funnel?from=$(date -u -d '300 days ago' +%Y-%m-%dT00:00:00Z)&to=$(date -u -d tomorrow +%Y-%m-%dT00:00:00Z)" "$DEMO_OWNER")
expect_status 200 "$status" "the lifecycle funnel"
expect_json '.get("partial", False)' False "every service answered"
python3 -c 'import json,sys; f=json.load(sys.stdin); s={x["name"]: int(x.get("count", "0")) for x in f["stages"]}; assert s["visitors"] > s["signups"] > 0 and s["paid"] > 0, s; print("ok: funnel", " -> ".join(f"{k} {v}" for k, v in s.items()))' <"$WORK/body"
status=$(get "/api/v1/communities/$DEMO_COMMUNITY/analytics/forecast?period=month&periods=6&horizon=3" "$DEMO_OWNER")
expect_status 200 "$status" "the growth forecast"
expect_json '.get("enoughHistory", False)' True "fitted to the demo's months"
python3 -c 'import json,sys; f=json.load(sys.stdin); print("ok: r = %.1f %% a month (95 %% CI %.1f to %.1f), R2 %.2f" % (100*f["r"], 100*f["rLow"], 100*f["rHigh"], f["rSquared"]))' <"$WORK/body"
"$BIN/guild" ledger-check --data-dir "$DATA_DIR" --membership "127.0.0.1:$MEMBERSHIP_PORT" >"$WORK/ledger.txt" 2>&1 \
  || { cat "$WORK/ledger.txt"; echo "FAIL: guild ledger-check after referral" >&2; exit 1; }
echo "ok: the ledger still balances with commissions -> $(head -1 "$WORK/ledger.txt")"

if [[ -n "${GUILD_TOUR_EXTERNAL:-}" ]]; then echo "tour passed"; exit 0; fi

# Every process serves Prometheus metrics: the gateway at /metrics, each service on its port.
curl -sf "$BASE/metrics" >"$WORK/metrics" || { echo "FAIL: the gateway's /metrics" >&2; exit 1; }
grep -q '^guild_http_requests_total{route="/api/v1/auth/login",method="POST",status="200"} [1-9]' "$WORK/metrics" \
  || { grep guild_http_requests_total "$WORK/metrics" >&2; echo "FAIL: the gateway counts its requests by route" >&2; exit 1; }
grep -q '^guild_wire_client_calls_total{service="membership",' "$WORK/metrics" || { echo "FAIL: the gateway counts its wire calls" >&2; exit 1; }
index=0
for service in auth membership content referral; do
  curl -sf "http://127.0.0.1:${METRICS_PORTS[$index]}/metrics" >"$WORK/metrics-$service" || { echo "FAIL: $service's metrics port" >&2; exit 1; }
  grep -q "^guild_wire_server_calls_total{service=\"$service\"," "$WORK/metrics-$service" \
    || { echo "FAIL: $service counts the wire calls it serves" >&2; exit 1; }
  grep -q '^guild_db_connection_wait_seconds_count ' "$WORK/metrics-$service" || { echo "FAIL: $service measures its database pool" >&2; exit 1; }
  index=$((index + 1))
done
grep -q '^guild_job_runs_total{job="membership-scheduler",outcome="ok"} [1-9]' "$WORK/metrics-membership" || { echo "FAIL: membership counts its job runs" >&2; exit 1; }
grep -q '^guild_outbox_pending_events{subscriber="content"} ' "$WORK/metrics-membership" || { echo "FAIL: membership measures its outbox" >&2; exit 1; }
grep -q '^guild_job_lease_held{job="outbox-relay"} 1' "$WORK/metrics-content" || { echo "FAIL: content holds its relay's lease" >&2; exit 1; }
echo "ok: the gateway's /metrics and each service's metrics port answer in Prometheus text ($(grep -c '^guild_' "$WORK/metrics") gateway samples)"

# Trace spans go to an OTLP collector when one is named: a second gateway, given a stand-in
# collector, exports the spans of the requests it served (at the latest when it stops). It is
# configured by a settings file alone (`--config`), the same settings its flags would give.
python3 scripts/otlp_sink.py "$WORK/otlp.port" "$WORK/otlp.log" &
SINK_PID=$!
for _ in $(seq 1 50); do [[ -s "$WORK/otlp.port" ]] && break; sleep 0.1; done
TRACED_PORT=$(free_port)
cat >"$WORK/traced-gateway.json" <<JSON
{"data-dir": "$DATA_DIR", "otlp-endpoint": "http://127.0.0.1:$(cat "$WORK/otlp.port")",
 "gateway": {"listen": "127.0.0.1:$TRACED_PORT"}, "auth": {"endpoints": "127.0.0.1:$AUTH_PORT"},
 "membership": {"endpoints": "127.0.0.1:$MEMBERSHIP_PORT"}, "content.endpoints": "127.0.0.1:$CONTENT_PORT",
 "referral.endpoints": "127.0.0.1:$REFERRAL_PORT", "stripe-api-key": "sk_test_tour_never_printed"}
JSON
"$BIN/guild" config --config "$WORK/traced-gateway.json" >"$WORK/config.out" || { cat "$WORK/config.out" >&2; echo "FAIL: guild config refused a good file" >&2; exit 1; }
grep -q "^GUILD_GATEWAY_LISTEN  *gateway.listen  *127.0.0.1:$TRACED_PORT  *file$" "$WORK/config.out" || { cat "$WORK/config.out" >&2; echo "FAIL: guild config does not show the file's listen address" >&2; exit 1; }
grep -q "^GUILD_STRIPE_API_KEY  *stripe-api-key  *(secret, set)  *file$" "$WORK/config.out" || { echo "FAIL: guild config does not say the secret is set" >&2; exit 1; }
if grep -q sk_test_tour "$WORK/config.out"; then echo "FAIL: guild config printed a secret" >&2; exit 1; fi
if GUILD_STRIPE_API_KEY=sk_test_tour_env GUILD_MEMBERSHIP_DATABASE_URL=postgres://guild:tour_password@127.0.0.1/x "$BIN/guild-membership" --help | grep -q "sk_test_tour\|tour_password"; then
  echo "FAIL: guild-membership --help printed a secret from the environment" >&2; exit 1
fi
echo '{"gateway": {"listn": "127.0.0.1:1"}}' >"$WORK/bad-config.json"
if "$BIN/guild-gateway" --config "$WORK/bad-config.json" >"$WORK/bad-config.out" 2>&1; then echo "FAIL: a gateway started with a misspelt setting" >&2; exit 1; fi
grep -q '"gateway.listn" is not a Guild setting' "$WORK/bad-config.out" || { cat "$WORK/bad-config.out" >&2; echo "FAIL: a misspelt setting was not named" >&2; exit 1; }
echo "ok: settings from a JSON file (guild config shows them, secrets as set, never their value; --help prints no secret; a misspelt key stops a process)"
"$BIN/guild-gateway" --config "$WORK/traced-gateway.json" >"$WORK/traced-gateway.log" 2>&1 &
TRACED_PID=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$TRACED_PORT/healthz" && break; sleep 0.1; done
status=$(curl -s -o "$WORK/body" -w '%{http_code}' "http://127.0.0.1:$TRACED_PORT/api/v1/communities")
expect_status 200 "$status" "a request through a gateway that exports its spans"
kill -TERM "$TRACED_PID"; wait "$TRACED_PID" 2>/dev/null || true
kill "$SINK_PID" 2>/dev/null || true
grep -q "^/v1/traces application/x-protobuf [1-9]" "$WORK/otlp.log" 2>/dev/null \
  || { cat "$WORK/traced-gateway.log" "$WORK/otlp.log" 2>/dev/null | tail -20 >&2; echo "FAIL: no OTLP spans reached the collector" >&2; exit 1; }
echo "ok: the gateway exported its spans over OTLP/HTTP: $(head -1 "$WORK/otlp.log")"

# SQLite: one replica per database. A second guild-content on the running suite's data says why it cannot start.
if "$BIN/guild-content" --data-dir "$DATA_DIR" --listen "127.0.0.1:$(free_port)" >"$WORK/second-content.log" 2>&1; then
  echo "FAIL: a second guild-content started on the same SQLite database" >&2; exit 1
fi
grep -q "SQLite allows one replica per database" "$WORK/second-content.log" || { cat "$WORK/second-content.log" >&2; echo "FAIL: the second replica did not say why it stopped" >&2; exit 1; }
if "$BIN/guild" up --data-dir "$WORK/.guild-replicas" --replicas 2 >"$WORK/replicas.log" 2>&1; then
  echo "FAIL: guild up --replicas 2 started on SQLite" >&2; exit 1
fi
grep -q "SQLite allows one replica per database: --replicas 2 needs PostgreSQL" "$WORK/replicas.log" || { cat "$WORK/replicas.log" >&2; echo "FAIL: guild up --replicas 2 did not say why" >&2; exit 1; }
echo "ok: a second replica on a SQLite database is refused: $(grep -o 'another guild-content already serves [^:]*' "$WORK/second-content.log")"

# Migrations without a service: all applied (guild up's services ran them). A backup taken while
# the suite runs; an account made after it is gone once the backup is restored.
"$BIN/guild" migrate --check --data-dir "$DATA_DIR" >"$WORK/migrate.txt" || { cat "$WORK/migrate.txt"; echo "FAIL: guild migrate --check" >&2; exit 1; }
[[ $(grep -c ": up to date (schema version" "$WORK/migrate.txt") == 4 ]] || { cat "$WORK/migrate.txt"; echo "FAIL: guild migrate --check did not find four databases up to date" >&2; exit 1; }
echo "ok: guild migrate --check: $(tr '\n' ' ' <"$WORK/migrate.txt")"
"$BIN/guild" backup --data-dir "$DATA_DIR" --to "$WORK/backup" >"$WORK/backup.txt" || { cat "$WORK/backup.txt"; echo "FAIL: guild backup" >&2; exit 1; }
[[ -f "$WORK/backup/manifest.json" && -f "$WORK/backup/membership.sqlite" ]] || { cat "$WORK/backup.txt"; echo "FAIL: guild backup wrote no databases" >&2; exit 1; }
echo "ok: guild backup while running -> $(tail -1 "$WORK/backup.txt")"
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE/api/v1/auth/register" -H 'Content-Type: application/json' \
  -d '{"email":"late@example.com","password":"correct horse battery","displayName":"Late"}')
expect_status 201 "$status" "an account made after the backup"
if "$BIN/guild" restore --data-dir "$DATA_DIR" --from "$WORK/backup" >"$WORK/restore.txt" 2>&1; then
  echo "FAIL: guild restore ran under a running suite" >&2; exit 1
fi
grep -q "is running on .*: stop the suite first" "$WORK/restore.txt" || { cat "$WORK/restore.txt"; echo "FAIL: guild restore did not say the suite runs" >&2; exit 1; }
echo "ok: guild restore refuses while the suite runs"

# Stopping guild up must stop every child.
CHILDREN=$(pgrep -P "$UP_PID" | tr '\n' ' ')
[[ -n "$CHILDREN" ]] || { echo "FAIL: guild up has no child processes" >&2; exit 1; }
kill -TERM "$UP_PID"
wait "$UP_PID" || true
for pid in $CHILDREN; do
  if kill -0 "$pid" 2>/dev/null; then echo "FAIL: child $pid still running after guild up stopped" >&2; exit 1; fi
done
echo "ok: guild up stopped every process"
"$BIN/guild" restore --data-dir "$DATA_DIR" --from "$WORK/backup" >"$WORK/restore.txt" || { cat "$WORK/restore.txt"; echo "FAIL: guild restore" >&2; exit 1; }
echo "ok: guild restore -> $(tail -1 "$WORK/restore.txt")"

# A child that dies is started again, with a message naming it; one that keeps dying takes the
# suite down.
"$BIN/guild" up --data-dir "$DATA_DIR" "${PORTS[@]}" >"$WORK/up2.log" 2>&1 &
UP_PID=$!
for _ in $(seq 1 300); do
  grep -q "Guild is running" "$WORK/up2.log" && break
  sleep 0.2
done
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"late@example.com","password":"correct horse battery"}')
expect_status 401 "$status" "after the restore, the account made after the backup is gone"
grep -q "guild up: starting guild-auth, waiting for it to listen" "$WORK/up2.log" || { cat "$WORK/up2.log"; echo "FAIL: guild up did not say what it waits for" >&2; exit 1; }
GATEWAY_PID=$(pgrep -P "$UP_PID" -f guild-gateway)
kill -KILL "$(pgrep -P "$UP_PID" -f guild-auth)"
for _ in $(seq 1 100); do
  grep -q "guild-auth is back" "$WORK/up2.log" && break
  sleep 0.1
done
grep -q "guild-auth was killed by signal 9; restarting it in" "$WORK/up2.log" || { cat "$WORK/up2.log"; echo "FAIL: guild up did not say which child died and that it restarts it" >&2; exit 1; }
grep -q "guild-auth is back" "$WORK/up2.log" || { cat "$WORK/up2.log"; echo "FAIL: guild up did not start guild-auth again" >&2; exit 1; }
for _ in $(seq 1 50); do "$BIN/guild" health --data-dir "$DATA_DIR" "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
"$BIN/guild" health --data-dir "$DATA_DIR" "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "FAIL: the suite is not ready after auth's restart" >&2; exit 1; }
status=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"ada@example.com","password":"correct horse battery"}')
expect_status 200 "$status" "a login after guild-auth was killed and started again"
# Now auth dies again and again: the fifth death within a minute stops the suite.
for _ in $(seq 1 4); do
  for _ in $(seq 1 100); do AUTH_PID=$(pgrep -P "$UP_PID" -f guild-auth || true); [[ -n "$AUTH_PID" ]] && break; sleep 0.1; done
  [[ -n "$AUTH_PID" ]] && kill -KILL "$AUTH_PID" 2>/dev/null || true
  sleep 0.3
  for _ in $(seq 1 100); do pgrep -P "$UP_PID" -f guild-auth >/dev/null || break; sleep 0.05; done
done
status=0
wait "$UP_PID" || status=$?
[[ $status -ne 0 ]] || { echo "FAIL: guild up exited 0 after a child kept dying" >&2; exit 1; }
grep -q "guild-auth was killed by signal 9, the 5th time within 60 s; giving up" "$WORK/up2.log" || { cat "$WORK/up2.log"; echo "FAIL: guild up did not give up on a child that keeps dying" >&2; exit 1; }
if kill -0 "$GATEWAY_PID" 2>/dev/null; then echo "FAIL: the gateway still runs after guild up gave up" >&2; exit 1; fi
echo "ok: guild up restarted a killed guild-auth ($(grep -o 'guild-auth was killed by signal 9; restarting it in [0-9.]* s' "$WORK/up2.log" | head -1)) and gave up on the fifth death within a minute"
echo "tour passed"
