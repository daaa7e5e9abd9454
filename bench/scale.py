#!/usr/bin/env python3
"""Many tenants on one server (issue 17): creates N tenants composed of the
three built-in packs in one isolation mode, asks each for one decision, then
a second round over all of them; reports failures, decision latency and the
server's resident memory (VmRSS) after each phase.

    cargo xtask packs && cargo build --release -p warden-cli --bin warden
    bench/scale.py TENANTS ISOLATION [WARDEN_BINARY]    # ISOLATION: fresh | reuse

Needs nothing but Python 3 (standard library). SQLite, fresh data directory.
"""
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
ISOLATION = sys.argv[2] if len(sys.argv) > 2 else "fresh"
WARDEN = sys.argv[3] if len(sys.argv) > 3 else "target/release/warden"
THREADS = 8

tmp = tempfile.mkdtemp()
log = open(os.path.join(tmp, "log"), "w+")
proc = subprocess.Popen(
    [WARDEN, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(tmp, "data"),
     "--builtin-packs", "target/packs", "--seed-demo"],
    stdout=log, stderr=subprocess.STDOUT)
try:
    while True:
        log.seek(0)
        text = log.read()
        m = re.search(r"warden listening on http://(\S+)", text)
        if m:
            break
        if proc.poll() is not None:
            sys.exit(text)
        time.sleep(0.05)
    host, port = m.group(1).rsplit(":", 1)
    admin = re.search(r"fleet admin token \(24 h\):\n\s+(\S+)", text).group(1)

    def rss_mib():
        with open(f"/proc/{proc.pid}/status") as f:
            kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        return kb / 1024

    local = threading.local()

    def call(method, path, body):
        if not hasattr(local, "c"):
            local.c = http.client.HTTPConnection(host, int(port), timeout=120)
        data = json.dumps(body).encode()
        local.c.request(method, path, body=data, headers={
            "Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
        r = local.c.getresponse()
        payload = r.read()
        return r.status, payload

    def run(phase, fn):
        failures, latencies, lock = [], [], threading.Lock()
        def worker(k):
            for i in range(k, N, THREADS):
                t0 = time.perf_counter()
                ok, why = fn(i)
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    if not ok:
                        failures.append((i, why))
        t0 = time.perf_counter()
        ts = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        took = time.perf_counter() - t0
        latencies.sort()
        p = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000
        print(f"{phase:<22} {N} in {took:6.1f} s  p50 {p(0.5):6.2f} ms  p99 {p(0.99):7.2f} ms"
              f"  failures {len(failures)}  RSS {rss_mib():7.1f} MiB", flush=True)
        for f in failures[:3]:
            print("   ", f)
        return failures

    comp = {"version": 0, "composition": {"isolation": ISOLATION, "default_effect": "allow",
            "packs": [{"name": "treasury"}, {"name": "pii-strict"},
                      {"name": "external-tools-untrusted"}]}}

    def create(i):
        s, b = call("POST", "/v1/tenants", {"id": f"t{i}"})
        if s != 201:
            return False, (s, b[:200])
        s, b = call("PUT", f"/v1/tenants/t{i}/composition", comp)
        return s == 200, (s, b[:200])

    def decide(i):
        req = {"id": f"r{i}", "tenant": f"t{i}", "principal": {"agent": "bot"},
               "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
                          "amount": {"minor_units": 1000, "currency": "EUR"}}}
        s, b = call("POST", f"/v1/tenants/t{i}/evaluate", req)
        return (s == 200 and json.loads(b).get("verdict") == "allow"), (s, b[:300])

    print(f"== {N} tenants, isolation {ISOLATION}; idle server RSS {rss_mib():.1f} MiB")
    bad = run("create + compose", create)
    bad += run("first decision each", decide)
    bad += run("second round", decide)
    print(f"RSS per tenant: {rss_mib() * 1024 / N:.1f} KiB")
    sys.exit(1 if bad else 0)
finally:
    proc.terminate()
    proc.wait()
