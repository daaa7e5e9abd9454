#!/usr/bin/env python3
"""End-to-end test of the approvers' web inbox in a real headless Chromium.

Starts `warden serve --seed-demo` (SQLite, a temporary data directory), asks for a decision
that escalates (a 4,500 EUR payment whose arguments carry markup a prompt-injected agent might
write), starts the runtime's long-poll wait for the approval, and then, in Chromium driven by
chromedriver: signs in with the development login, finds the request in the list, opens it,
checks that the agent's markup is shown as inert text (no script ran, no `javascript:` link,
the session cookie is invisible to scripts, no CSP violation of the inbox's own assets),
approves it with a reason and sees `Approved`. The runtime's wait must return `approved`.
Screenshots go to `target/browser-test/`; `--screenshot PATH` also saves the list there (the
README's `docs/inbox.png`).

Usage: run.py --warden BIN --packs DIR [--chromium /usr/bin/chromium]
              [--chromedriver /usr/bin/chromedriver] [--screenshot PATH]
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent / "api"))
from run import Server  # noqa: E402  (the API test's `warden serve` wrapper)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def log(msg):
    print(f"[browser-test] {msg}", file=sys.stderr, flush=True)


def token(warden, data_dir, sub, roles):
    out = subprocess.run(
        [warden, "token", "issue", "--sub", sub, "--tenant", "demo", "--roles", roles,
         "--ttl", "1h", "--data-dir", str(data_dir)],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def call(addr, method, path, bearer, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(addr + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {bearer}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    log(f"ok: {what}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--warden", required=True)
    p.add_argument("--packs", required=True)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    p.add_argument("--screenshot")
    args = p.parse_args()
    for exe in (args.chromium, args.chromedriver):
        if not pathlib.Path(exe).exists():
            sys.exit(f"{exe} is missing: install Debian's chromium and chromium-driver (.ci/run does)")
    shots = ROOT / "target" / "browser-test"
    shots.mkdir(parents=True, exist_ok=True)
    data_dir = pathlib.Path(tempfile.mkdtemp(prefix="warden-browser-"))
    server = Server(args.warden, args.packs, data_dir, None)
    driver = None
    try:
        addr = "http://" + server.addr.removeprefix("http://")
        runtime = token(args.warden, data_dir, "billing-runtime", "runtime")
        request = {
            "id": "browser-pay-1", "tenant": "demo",
            "principal": {"agent": "billing-bot", "on_behalf_of": "alice"},
            "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
                       "amount": {"minor_units": 450000, "currency": "EUR"},
                       "counterparty": "ACME GmbH",
                       "args": {"invoice": "INV-7",
                                "memo": "<script>alert('pwned')</script>",
                                "link": "<a href=\"javascript:alert(1)\">pay now</a>"}},
        }
        decision = call(addr, "POST", "/v1/tenants/demo/evaluate", runtime, request)
        check(decision["verdict"] == "escalate", "the payment escalates")
        approval = decision["approval"]["id"]
        waited = {}

        def wait():
            waited["r"] = call(addr, "GET", f"/v1/tenants/demo/approvals/{approval}/wait?timeout_s=60",
                               runtime, timeout=90)

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()

        opts = webdriver.ChromeOptions()
        opts.binary_location = args.chromium
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,860"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=args.chromedriver), options=opts)
        w = WebDriverWait(driver, 20)

        driver.get(addr + "/inbox")
        w.until(ec.element_to_be_clickable((By.ID, "dev-login"))).click()
        link = w.until(ec.presence_of_element_located(
            (By.CSS_SELECTOR, f'a[href="/inbox/approvals/{approval}"]')))
        check("4,500.00 EUR" in driver.find_element(By.ID, "queue").text, "the list shows the amount")
        countdown = driver.find_element(By.CSS_SELECTOR, "#queue time.countdown").text
        check(countdown.endswith("m") or countdown.endswith("s"), f"the deadline counts down ({countdown})")
        driver.save_screenshot(str(shots / "inbox-list.png"))
        if args.screenshot:
            driver.save_screenshot(args.screenshot)
        link.click()

        w.until(ec.presence_of_element_located((By.ID, "approve")))
        args_text = driver.find_element(By.ID, "args").text
        check("<script>alert('pwned')</script>" in args_text, "the agent's script is shown as text")
        try:
            driver.switch_to.alert
            raise AssertionError("an alert opened: agent markup ran")
        except NoAlertPresentException:
            log("ok: no script of the agent ran")
        check(not driver.find_elements(By.CSS_SELECTOR, 'a[href^="javascript:"]'),
              "no javascript: link was rendered")
        check("warden_inbox" not in driver.execute_script("return document.cookie"),
              "the session cookie is HttpOnly")
        driver.save_screenshot(str(shots / "inbox-request.png"))

        driver.find_element(By.ID, "reason").send_keys("Invoice INV-7 matches the purchase order")
        driver.find_element(By.ID, "approve").click()
        w.until(ec.text_to_be_present_in_element((By.ID, "status"), "Approved"))
        check("Invoice INV-7 matches" in driver.page_source, "the vote and its reason are shown")
        driver.save_screenshot(str(shots / "inbox-approved.png"))

        waiter.join(timeout=20)
        check(waited.get("r", {}).get("status") == "approved", "the runtime's long-poll returned approved")

        driver.get(addr + "/inbox")
        w.until(ec.presence_of_element_located((By.TAG_NAME, "main")))
        check(f"/inbox/approvals/{approval}" not in driver.page_source, "the resolved request left the list")
        severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        check(not severe, f"no browser errors or CSP violations: {severe}")
        log("passed")
    except Exception:
        if driver is not None:
            driver.save_screenshot(str(shots / "failure.png"))
            log(f"page at failure: {driver.current_url}\n{driver.page_source[:4000]}")
        log(f"server log:\n{server.log()[-4000:]}")
        raise
    finally:
        if driver is not None:
            driver.quit()
        server.stop()


if __name__ == "__main__":
    main()
