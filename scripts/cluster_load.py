#!/usr/bin/env python3
"""A paying load against Guild's gateways, for scripts/cluster-test.sh (standard library only).

    cluster_load.py setup  STATE GATEWAY...       an owner, a community, a plan, a group offer, buyers
    cluster_load.py run    STATE STOPFILE GATEWAY...   buy, pay, form groups and read until STOPFILE exists
    cluster_load.py verify-paid STATE GATEWAY...     every buyer paid once, every group settled once
    cluster_load.py verify-refunds STATE GATEWAY...  (after the clock moved) every unfilled group refunded once

Every request goes to the next gateway in turn. A request that fails (a connection error, a
timeout or a 5xx) is sent again after a short pause with the same Idempotency-Key, as a client
should; each failure's time is recorded, so that `run` can say how long the suite answered 5xx
around each kill of a replica.
"""
import json
import sys
import threading
import time
import urllib.error
import urllib.request

PLAIN, PAIRS, LONELY = 8, 4, 3  # buyers of the plan; pairs forming a group of two; openers nobody joins
PASSWORD = "correct horse battery"


class Client:
    def __init__(self, gateways):
        self.gateways = gateways
        self.turn = 0
        self.lock = threading.Lock()
        self.failures = []  # (time, what)
        self.requests = 0

    def base(self):
        with self.lock:
            self.turn += 1
            self.requests += 1
            return self.gateways[self.turn % len(self.gateways)]

    def call(self, method, path, token=None, body=None, key=None, retry_for=60.0, expect=(200, 201)):
        """The JSON answer; retries connection errors, timeouts and 5xx (same key) for up to retry_for seconds."""
        deadline = time.time() + retry_for
        while True:
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request(self.base() + path, data=data, method=method)
            request.add_header("Content-Type", "application/json")
            if token:
                request.add_header("Authorization", "Bearer " + token)
            if key:
                request.add_header("Idempotency-Key", key)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    text = response.read()
                    if response.status not in expect:
                        raise RuntimeError(f"{method} {path}: HTTP {response.status}: {text[:300]!r}")
                    return json.loads(text) if text else {}
            except urllib.error.HTTPError as error:
                text = error.read()
                if error.code < 500 and error.code != 429:
                    if error.code in expect:
                        return json.loads(text) if text else {}
                    raise RuntimeError(f"{method} {path}: HTTP {error.code}: {text[:300]!r}")
                what = f"HTTP {error.code}"
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
                what = type(error).__name__
            with self.lock:
                self.failures.append((time.time(), f"{method} {path}: {what}"))
            if time.time() > deadline:
                raise RuntimeError(f"{method} {path}: still failing after {retry_for:.0f} s ({what})")
            time.sleep(0.2)


def register(client, email, name):
    answer = client.call("POST", "/api/v1/auth/register", body={"email": email, "password": PASSWORD, "displayName": name}, expect=(201,))
    return {"email": email, "token": answer["tokens"]["accessToken"], "id": answer["user"]["id"]}


def login(client, email):
    return client.call("POST", "/api/v1/auth/login", body={"email": email, "password": PASSWORD})["tokens"]["accessToken"]


def setup(state_path, gateways):
    client = Client(gateways)
    stamp = str(int(time.time()))
    owner = register(client, f"owner-{stamp}@example.com", "Owner")
    community = client.call("POST", "/api/v1/communities", owner["token"], {"slug": f"cluster-{stamp}", "name": "Cluster", "currency": "CNY"}, expect=(201,))
    client.call("PATCH", f"/api/v1/communities/{community['id']}", owner["token"], {"status": "active"})
    plan = client.call("POST", f"/api/v1/communities/{community['id']}/plans", owner["token"],
                       {"name": "Monthly", "priceMinorUnits": 9_900, "period": "monthly"}, expect=(201,))
    offer = client.call("POST", f"/api/v1/plans/{plan['id']}/group-offers", owner["token"],
                        {"groupSize": 2, "priceMinorUnits": 6_900, "windowHours": 1}, expect=(201,))
    post = client.call("POST", f"/api/v1/communities/{community['id']}/items", owner["token"], {
        "kind": "post", "title": "For members", "markdown": "Free.\n\n<!-- more -->\n\nPaid.", "access": {"mode": "preview"}, "publish": True,
    }, expect=(201,))
    buyers = [register(client, f"buyer-{stamp}-{index}@example.com", f"Buyer {index}") for index in range(PLAIN + 2 * PAIRS + LONELY)]
    state = {"owner": owner, "community": community["id"], "plan": plan["id"], "offer": offer["id"], "post": post["id"], "buyers": buyers}
    json.dump(state, open(state_path, "w"))
    print(f"cluster-load: set up community {community['id']} with {len(buyers)} buyers through {len(gateways)} gateways")


def run(state_path, stop_path, gateways):
    state = json.load(open(state_path))
    client = Client(gateways)
    buyers = state["buyers"]
    errors = []
    results = {}

    def read_until_stopped(buyer):
        while not stop_requested():
            client.call("GET", f"/api/v1/communities/{state['community']}/entitlement", buyer["token"])
            client.call("GET", f"/api/v1/items/{state['post']}", buyer["token"])
            time.sleep(0.05)

    def stop_requested():
        try:
            open(stop_path).close()
            return True
        except FileNotFoundError:
            return False

    def plain(index, buyer):
        order = client.call("POST", "/api/v1/orders", buyer["token"], {"communityId": state["community"], "planId": state["plan"]}, key=f"order-{index}")
        payment = order["payment"]["id"]
        # Confirmed twice on purpose, as a client whose first answer was lost: one payment.
        for _ in range(2):
            client.call("POST", f"/api/v1/payments/{payment}/sandbox-confirm", buyer["token"], {"outcome": "succeeded"}, key=f"pay-{index}")
        deadline = time.time() + 60
        while not client.call("GET", f"/api/v1/communities/{state['community']}/entitlement", buyer["token"]).get("entitled"):
            if time.time() > deadline:
                raise RuntimeError(f"buyer {index} paid but is not a member after 60 s")
            time.sleep(0.2)
        results[index] = {"order": order["id"]}
        read_until_stopped(buyer)

    def pair(index, opener, joiner):
        group = client.call("POST", f"/api/v1/group-offers/{state['offer']}/groups", opener["token"], key=f"open-{index}", expect=(201,))
        joined = client.call("POST", group["sharePath"] + "/join", joiner["token"], key=f"join-{index}")
        for who, answer, name in ((opener, group, "a"), (joiner, joined, "b")):
            payment = answer["yourOrder"]["payment"]["id"]
            client.call("POST", f"/api/v1/payments/{payment}/sandbox-confirm", who["token"], {"outcome": "succeeded"}, key=f"gpay-{index}-{name}")
        results[f"group-{index}"] = {"group": group["id"], "sharePath": group["sharePath"]}
        read_until_stopped(opener)

    def lonely(index, opener):
        group = client.call("POST", f"/api/v1/group-offers/{state['offer']}/groups", opener["token"], key=f"lonely-{index}", expect=(201,))
        payment = group["yourOrder"]["payment"]["id"]
        held = client.call("POST", f"/api/v1/payments/{payment}/sandbox-confirm", opener["token"], {"outcome": "succeeded"}, key=f"lpay-{index}")
        if held.get("status") != "held":
            raise RuntimeError(f"a lonely group's payment is {held.get('status')}, not held")
        results[f"lonely-{index}"] = {"group": group["id"], "sharePath": group["sharePath"]}
        read_until_stopped(opener)

    def guarded(work, *args):
        try:
            work(*args)
        except Exception as error:  # noqa: BLE001 - every failure is reported
            errors.append(f"{work.__name__}{args[:1]}: {error}")

    threads = []
    for index in range(PLAIN):
        threads.append(threading.Thread(target=guarded, args=(plain, index, buyers[index])))
    for index in range(PAIRS):
        threads.append(threading.Thread(target=guarded, args=(pair, index, buyers[PLAIN + 2 * index], buyers[PLAIN + 2 * index + 1])))
    for index in range(LONELY):
        threads.append(threading.Thread(target=guarded, args=(lonely, index, buyers[PLAIN + 2 * PAIRS + index])))
    for thread in threads:
        thread.start()
        time.sleep(0.1)  # a steady arrival of buyers across the kills
    for thread in threads:
        thread.join()
    state["results"] = results
    state["failures"] = client.failures
    state["requests"] = client.requests
    json.dump(state, open(state_path, "w"))
    print(f"cluster-load: {client.requests} requests, {len(client.failures)} answered 5xx or failed to connect (each retried)")
    if errors:
        for error in errors:
            print("FAIL:", error)
        sys.exit(1)


def verify_paid(state_path, gateways):
    """Every buyer of the plan paid once; every pair's group completed with both paid once (the
    tokens from setup: signing in again costs a password hash each)."""
    state = json.load(open(state_path))
    client = Client(gateways)
    buyers = state["buyers"]
    problems = []
    paid_once = 0
    for index in range(PLAIN):
        orders = client.call("GET", "/api/v1/me/orders", buyers[index]["token"])["orders"]
        paid = [order for order in orders if order.get("status") == "paid"]
        if len(orders) != 1 or len(paid) != 1:
            problems.append(f"buyer {index}: {len(orders)} orders, {len(paid)} paid (expected one of each)")
        else:
            paid_once += 1
    settled = 0
    for index in range(PAIRS):
        group = client.call("GET", state["results"][f"group-{index}"]["sharePath"])
        if group.get("status") != "completed" or group.get("paid") != 2:
            problems.append(f"group {index}: {group.get('status')} with {group.get('paid')} paid (expected completed with 2)")
            continue
        statuses = [[order.get("status") for order in client.call("GET", "/api/v1/me/orders", member["token"])["orders"]]
                    for member in (buyers[PLAIN + 2 * index], buyers[PLAIN + 2 * index + 1])]
        if statuses != [["paid"], ["paid"]]:
            problems.append(f"group {index}: its members' orders are {statuses}")
            continue
        settled += 1
    print(f"cluster-load: {paid_once}/{PLAIN} buyers paid exactly once, {settled}/{PAIRS} groups settled once (2 paid each)")
    finish(problems)


def verify_refunds(state_path, gateways):
    """Once their window is over, every unfilled group is closed and its one payment refunded once."""
    state = json.load(open(state_path))
    client = Client(gateways)
    deadline = time.time() + 60
    while any(client.call("GET", state["results"][f"lonely-{index}"]["sharePath"]).get("status") == "open" for index in range(LONELY)):
        if time.time() > deadline:
            finish(["unfilled groups are still open a minute after their window ended"])
        time.sleep(0.5)
    problems = []
    refunded = 0
    for index in range(LONELY):
        opener = state["buyers"][PLAIN + 2 * PAIRS + index]
        token = login(client, opener["email"])
        deadline = time.time() + 60
        while True:
            statuses = [order.get("status") for order in client.call("GET", "/api/v1/me/orders", token)["orders"]]
            if statuses != ["held"] or time.time() > deadline:
                break
            time.sleep(0.5)
        if statuses != ["refunded"]:
            problems.append(f"unfilled group {index}: orders {statuses} (expected one, refunded)")
        else:
            refunded += 1
    print(f"cluster-load: {refunded}/{LONELY} unfilled groups closed by the job, each payment refunded once")
    finish(problems)


def finish(problems):
    for problem in problems:
        print("FAIL:", problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    command, state_path = sys.argv[1], sys.argv[2]
    if command == "setup":
        setup(state_path, sys.argv[3:])
    elif command == "run":
        run(state_path, sys.argv[3], sys.argv[4:])
    elif command == "verify-paid":
        verify_paid(state_path, sys.argv[3:])
    elif command == "verify-refunds":
        verify_refunds(state_path, sys.argv[3:])
    else:
        sys.exit(f"unknown command {command}")
