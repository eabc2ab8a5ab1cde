#!/usr/bin/env python3
"""Measures what a burst of logins does to Guild (auth at OWASP scrypt strength).

Starts `guild up` on free ports in a fresh data directory, registers one user, then fires a
burst of concurrent logins while another thread keeps reading /api/v1/me (token checked by the
gateway, one wire call to auth, no hashing). Prints how many logins succeeded or were refused
with 503 + Retry-After, their latencies, the latency of the other requests during the burst,
and guild-auth's peak resident memory. Usage: scripts/bench-login-burst.py [burst size]
"""
import json, os, signal, socket, statistics, subprocess, sys, tempfile, threading, time
import urllib.request, urllib.error

BURST = int(sys.argv[1]) if len(sys.argv) > 1 else 32

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

def request(base, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None: req.add_header("Content-Type", "application/json")
    if token: req.add_header("Authorization", "Bearer " + token)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read(), dict(resp.headers), time.monotonic() - started
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers), time.monotonic() - started

def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")

def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = os.environ.get("GUILD_BENCH_CONFIGURATION", "release")
    subprocess.run(["swift", "build", "-c", config], cwd=root, check=True, stdout=subprocess.DEVNULL)
    bin_dir = subprocess.run(["swift", "build", "-c", config, "--show-bin-path"], cwd=root, check=True, capture_output=True, text=True).stdout.strip()
    print(f"{config} build")
    work = tempfile.mkdtemp(prefix="guild-bench-")
    http_port, auth_port = free_port(), free_port()
    log = open(os.path.join(work, "up.log"), "w")
    up = subprocess.Popen([os.path.join(bin_dir, "guild"), "up", "--data-dir", os.path.join(work, ".guild"),
                           "--http-port", str(http_port), "--auth-port", str(auth_port), "--log-level", "warning"],
                          stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{http_port}"
    try:
        for _ in range(600):
            if "Guild is running" in open(os.path.join(work, "up.log")).read(): break
            time.sleep(0.1)
        auth_pid = int(subprocess.run(["pgrep", "-P", str(up.pid), "-f", "guild-auth"], capture_output=True, text=True).stdout.split()[0])
        status, body, _, _ = request(base, "POST", "/api/v1/auth/register",
                                     {"email": "bench@example.com", "password": "correct horse battery", "displayName": "Bench"})
        assert status == 201, (status, body)
        token = json.loads(body)["tokens"]["accessToken"]
        status, _, _, one = request(base, "POST", "/api/v1/auth/login", {"email": "bench@example.com", "password": "correct horse battery"})
        assert status == 200

        results, other = [], []
        stop = threading.Event()
        def prober():
            while not stop.is_set():
                s, _, _, elapsed = request(base, "GET", "/api/v1/me", token=token)
                other.append((s, elapsed))
                time.sleep(0.02)
        def login():
            s, _, headers, elapsed = request(base, "POST", "/api/v1/auth/login", {"email": "bench@example.com", "password": "correct horse battery"})
            results.append((s, headers.get("Retry-After"), elapsed))
        probe = threading.Thread(target=prober); probe.start()
        threads = [threading.Thread(target=login) for _ in range(BURST)]
        started = time.monotonic()
        for t in threads: t.start()
        for t in threads: t.join()
        burst_time = time.monotonic() - started
        stop.set(); probe.join()
        peak_kib = next(int(line.split()[1]) for line in open(f"/proc/{auth_pid}/status") if line.startswith("VmHWM"))

        ok = [r for r in results if r[0] == 200]
        busy = [r for r in results if r[0] == 503]
        print(f"single login (one scrypt hash, N=2^17 r=8 p=1): {one * 1000:.0f} ms")
        print(f"burst of {BURST} concurrent logins on {os.cpu_count()} cores, done in {burst_time:.2f} s:")
        print(f"  200 OK: {len(ok)}   503 with Retry-After: {len([r for r in busy if r[1]])}   other: {len(results) - len(ok) - len(busy)}")
        if ok: print(f"  200 latency p50 {pct([r[2] for r in ok], 50) * 1000:.0f} ms, max {max(r[2] for r in ok) * 1000:.0f} ms")
        if busy: print(f"  503 latency p50 {pct([r[2] for r in busy], 50) * 1000:.0f} ms, max {max(r[2] for r in busy) * 1000:.0f} ms")
        me = [e for s, e in other if s == 200]
        print(f"GET /api/v1/me during the burst: {len(me)}/{len(other)} OK, p50 {pct(me, 50) * 1000:.1f} ms, p99 {pct(me, 99) * 1000:.1f} ms, max {max(me) * 1000:.1f} ms")
        print(f"guild-auth peak resident memory (VmHWM): {peak_kib / 1024:.0f} MiB")
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=30)
        subprocess.run(["rm", "-rf", work])

if __name__ == "__main__":
    main()
