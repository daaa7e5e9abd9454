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
