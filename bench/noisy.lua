-- wrk script: tenant `noisy` calls its hostile pack with tool `loop`,
-- which spins until the pack's deadline. TOKEN: a runtime token for `noisy`.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = [[{"id": "flood", "tenant": "noisy", "principal": {"agent": "a"},
 "action": {"tool": "loop", "safety_class": "write"}}]]
