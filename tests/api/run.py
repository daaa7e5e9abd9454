#!/usr/bin/env python3
"""Property-based test of warden's REST API with schemathesis, on both backends.

For each backend (SQLite in a temporary data directory, PostgreSQL in a database of its own,
created and dropped here), starts `warden serve` with the built-in packs and the seeded `demo`
tenant, issues a fleet-admin token, and runs schemathesis against `docs/openapi.json` with
every check, a fixed seed and a bounded number of examples per operation: twice, once with
generated path parameters (edge validation) and once with `tenant` fixed to `demo` (so the
handlers behind the edge are reached). Uploads get real packs or garbage (hooks.py). Exits
non-zero if any run fails.

The backends run side by side (`--jobs`, default 2: schemathesis is one single-threaded Python
process per run, and each backend has a server of its own); the two runs of one backend share
its server and go one after the other. Each run's output goes to `schemathesis.log` in its
report directory and is printed when the run ends, so runs never interleave.

Usage: run.py --warden BIN --packs DIR [--backends sqlite,postgres] [--examples N] [--seed S]
"""

import argparse
import concurrent.futures
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/test"


def log(msg):
    print(f"[api-test] {msg}", file=sys.stderr, flush=True)


def psql(admin_url, sql):
    subprocess.run(
        ["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


class Server:
    """`warden serve` on a free port, stopped on exit."""

    def __init__(self, warden, packs, data_dir, database_url):
        self.out = open(data_dir / "serve.log", "w+")
        args = [
            warden, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
            "--builtin-packs", str(packs), "--seed-demo",
        ]
        if database_url:
            args += ["--database-url", database_url]
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT)
        self.addr = self._wait_for_address()

    def _wait_for_address(self):
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"warden serve exited:\n{self.log()}")
            for line in self.log().splitlines():
                if line.startswith("warden listening on "):
                    return line.removeprefix("warden listening on ").strip()
            time.sleep(0.1)
        raise RuntimeError(f"warden serve did not start:\n{self.log()}")

    def log(self):
        self.out.flush()
        self.out.seek(0)
        return self.out.read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def token(warden, data_dir):
    out = subprocess.run(
        [warden, "token", "issue", "--sub", "schemathesis", "--tenant", "*",
         "--roles", "fleet-admin", "--ttl", "2h", "--data-dir", str(data_dir)],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def schemathesis(st, addr, bearer, packs, examples, seed, report, fixed_tenant):
    """One schemathesis run; its output goes to `report/schemathesis.log`."""
    config = HERE / "schemathesis.toml"
    cmd = [
        st, "--config-file", str(config), "run", str(ROOT / "docs" / "openapi.json"),
        "--url", addr, "--header", f"Authorization: Bearer {bearer}",
        "--checks", "all", "--seed", str(seed), "--max-examples", str(examples),
        "--phases", "examples,coverage,fuzzing,stateful", "--workers", "1",
        "--request-timeout", "30", "--no-color",
        "--report", "junit", "--report-dir", str(report),
    ]
    env = dict(os.environ)
    env["WARDEN_ST_PACKS"] = str(packs)
    env["SCHEMATHESIS_HOOKS"] = "hooks"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    if fixed_tenant:
        # Path parameter `tenant` fixed to the seeded tenant: the handlers are reached.
        fixed = report / "schemathesis-demo.toml"
        fixed.write_text(config.read_text() + '\n[parameters]\n"path.tenant" = "demo"\n')
        cmd[2] = str(fixed)
    log(" ".join(c if "Bearer" not in c else "Authorization: Bearer ..." for c in cmd))
    with open(report / "schemathesis.log", "w") as out:
        return subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode


def run_backend(args, backend):
    data_dir = pathlib.Path(tempfile.mkdtemp(prefix=f"warden-api-{backend}-"))
    admin_url = os.environ.get("WARDEN_TEST_PG", DEFAULT_PG)
    database_url, db = None, None
    if backend == "postgres":
        db = f"warden_api_{uuid.uuid4().hex[:12]}"
        psql(admin_url, f"CREATE DATABASE {db}")
        database_url = admin_url.rsplit("/", 1)[0] + "/" + db
    server = None
    try:
        server = Server(args.warden, args.packs, data_dir, database_url)
        bearer = token(args.warden, data_dir)
        failed = []
        for fixed in (False, True):
            name = f"{backend}-{'demo' if fixed else 'generated'}"
            report = args.report_dir / name
            report.mkdir(parents=True, exist_ok=True)
            started = time.time()
            code = schemathesis(
                args.st, server.addr, bearer, args.packs, args.examples, args.seed, report, fixed
            )
            output = (report / "schemathesis.log").read_text(errors="replace")
            log(f"{name}: exit {code} in {time.time() - started:.0f} s; its output:\n{output}")
            if code != 0:
                failed.append(name)
        if failed:
            tail = "\n".join(server.log().splitlines()[-40:])
            log(f"server log (last lines):\n{tail}")
        return failed
    finally:
        if server:
            server.stop()
        if db:
            psql(admin_url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        shutil.rmtree(data_dir, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--warden", required=True)
    p.add_argument("--packs", required=True, type=pathlib.Path)
    p.add_argument("--st", default="st", help="the schemathesis command")
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--examples", type=int, default=12)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--report-dir", type=pathlib.Path, default=ROOT / "target" / "api-test")
    p.add_argument("--jobs", type=int, default=2, help="backends tested at once")
    args = p.parse_args()
    failed = []
    backends = args.backends.split(",")
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for result in pool.map(lambda b: run_backend(args, b), backends):
            failed += result
    if failed:
        log(f"FAILED: {', '.join(failed)} (reports under {args.report_dir})")
        return 1
    log("every run passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
