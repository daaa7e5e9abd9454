-- wrk script: POST one decision request per call to the demo tenant.
-- TOKEN comes from the environment (a runtime token for `demo`).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = [[{"id": "bench-1", "tenant": "demo",
 "principal": {"agent": "billing-bot", "on_behalf_of": "alice", "roles": ["finance"]},
 "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
            "amount": {"minor_units": 45000, "currency": "EUR"},
            "counterparty": "ACME GmbH", "args": {"invoice": "INV-8"}}}]]
-- DELAY_MS=N: each connection waits N ms between its requests, so that the
-- load is (about) CONNECTIONS / (N ms + latency) decisions a second whatever
-- the server's capacity: two builds compared at the same rate do the same
-- work, and their CPU per decision is comparable (group commit batches alike).
local delay_ms = tonumber(os.getenv("DELAY_MS") or "")
if delay_ms then
  function delay()
    return delay_ms
  end
end
