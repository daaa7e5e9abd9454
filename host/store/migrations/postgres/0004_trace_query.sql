-- Trace queries (GET /v1/tenants/{t}/trace/events, `warden trace query`)
-- page by sequence number under a filter; these let the two most common
-- filters seek to the matching rows already in sequence order. Decision and
-- request ids have their indexes (0003); verdict, kind and class are too
-- coarse to be worth one.
CREATE INDEX trace_events_by_agent ON trace_events (tenant, agent, seq);
CREATE INDEX trace_events_by_tool ON trace_events (tenant, tool, seq);
