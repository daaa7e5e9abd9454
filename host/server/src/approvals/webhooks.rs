//! Notifications: an escalation policy's webhooks hear of each request it
//! gets, each step change and the resolution, so a team can wire chat or
//! e-mail without warden knowing either. A notification is written to the
//! outbox in the transaction of the change it announces; every server's
//! worker leases due ones, posts them signed, and retries failures with
//! backoff. Nothing here runs on a decision's path: a dead webhook delays
//! only its own notifications.
//!
//! Each POST carries `warden-event`, `warden-delivery` (the same id on every
//! retry, for deduplication) and `warden-signature: t=<unix seconds>,v1=<hex>`:
//! HMAC-SHA256 with the tenant's webhook secret over `<t>.<body>`.

use crate::approvals::record::ApprovalRecord;
use crate::state::AppState;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::collections::HashMap;
use std::time::Duration;
use warden_store::{OutboxRow, StoreError, now_ms};

/// Event names.
pub mod event {
    /// A request was opened.
    pub const REQUESTED: &str = "approval.requested";
    /// A request moved to another step.
    pub const STEP: &str = "approval.step";
    /// A request was resolved.
    pub const RESOLVED: &str = "approval.resolved";
}

/// How often each server looks for due notifications.
pub const TICK: Duration = Duration::from_millis(250);
/// How long one POST may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts before a notification is given up (about 17 minutes of retries).
pub const MAX_ATTEMPTS: i64 = 10;
/// Notifications leased per look.
const BATCH: usize = 32;
/// How long a lease holds a notification against other servers.
const LEASE_MS: i64 = 30_000;

/// The delay before attempt `n + 1` after `n` failed: 1 s doubling, at most 5 min.
pub fn backoff(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    Duration::from_secs(2u64.saturating_pow(exp).min(300))
}

/// The notifications of `event` about `r`, one per webhook of its policy.
pub fn outbox_for(r: &ApprovalRecord, event: &str) -> Vec<OutboxRow> {
    if r.policy.webhooks.is_empty() {
        return Vec::new();
    }
    let a = &r.request.action;
    let now = now_ms();
    r.policy
        .webhooks
        .iter()
        .map(|w| {
            let id = uuid::Uuid::now_v7().to_string();
            let body = json!({
                "event": event,
                "delivery": id,
                "tenant": r.tenant,
                "approval": {
                    "id": r.id,
                    "status": r.status,
                    "policy": r.policy_name,
                    "step": r.step,
                    "steps": r.policy.steps.len(),
                    "deadline_ms": r.deadline_ms,
                    "request_id": r.request_id,
                    "decision_id": r.decision_id,
                    "tool": a.tool,
                    "safety_class": a.safety_class,
                    "amount": a.amount,
                    "counterparty": a.counterparty,
                    "agent": r.request.principal.agent,
                    "reason": r.reason,
                    "resolution": r.resolution,
                },
            });
            OutboxRow {
                id,
                tenant: r.tenant.clone(),
                approval_id: r.id.clone(),
                url: w.url.clone(),
                event: event.to_owned(),
                body: body.to_string(),
                attempts: 0,
                next_ms: now,
                state: 0,
                last_error: None,
                created_ms: now,
            }
        })
        .collect()
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn sign(secret: &[u8], t: u64, body: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The tenant's webhook secret: derived from its signing key (sealed with
/// the master key), so it needs no storage of its own and every server
/// computes the same one.
pub async fn secret(st: &AppState, tenant: &str) -> Result<Vec<u8>, StoreError> {
    let row = st
        .store()
        .tenant(tenant)
        .await?
        .ok_or_else(|| warden_store::corrupt("tenant", format!("`{tenant}` is gone")))?;
    let key = st
        .master_key()
        .open(tenant, &row.secret_key)
        .map_err(|e| warden_store::corrupt("tenant key", e))?;
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
        return Err(warden_store::corrupt("tenant key", "empty"));
    };
    mac.update(b"warden approval webhooks v1");
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Posts every notification due now; how many were delivered.
pub async fn deliver_due(st: &AppState) -> usize {
    let due = match st.store().lease_outbox(now_ms(), LEASE_MS, BATCH).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot look for due approval notifications");
            return 0;
        }
    };
    let mut secrets: HashMap<String, Option<Vec<u8>>> = HashMap::new();
    for o in &due {
        if !secrets.contains_key(&o.tenant) {
            let s = match secret(st, &o.tenant).await {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::error!(tenant = %o.tenant, error = %e, "no webhook secret");
                    None
                }
            };
            secrets.insert(o.tenant.clone(), s);
        }
    }
    let posts = due.iter().map(|o| {
        let secret = secrets.get(&o.tenant).cloned().flatten();
        async move {
            let Some(secret) = secret else {
                return (
                    o,
                    Err("the tenant's webhook secret is unavailable".to_owned()),
                );
            };
            let t = u64::try_from(now_ms() / 1000).unwrap_or(0);
            let headers = [
                ("warden-event", o.event.clone()),
                ("warden-delivery", o.id.clone()),
                ("warden-signature", sign(&secret, t, &o.body)),
            ];
            let r = crate::outbound::post_json(&o.url, &headers, o.body.clone(), TIMEOUT).await;
            (o, r.map_err(|e| e.message))
        }
    });
    let mut delivered = 0;
    for (o, r) in futures_util::future::join_all(posts).await {
        let (error, retry) = match &r {
            Ok(()) => {
                delivered += 1;
                (None, None)
            }
            Err(e) if o.attempts < MAX_ATTEMPTS => {
                let at = now_ms().saturating_add(
                    i64::try_from(backoff(o.attempts).as_millis()).unwrap_or(i64::MAX),
                );
                (Some(e.as_str()), Some(at))
            }
            Err(e) => {
                tracing::warn!(tenant = %o.tenant, approval = %o.approval_id, url = %o.url,
                    error = %e, "an approval notification was given up");
                (Some(e.as_str()), None)
            }
        };
        if let Err(e) = st.store().outbox_attempted(&o.id, error, retry).await {
            tracing::error!(error = %e, "cannot record a notification attempt");
        }
    }
    delivered
}

/// Delivers due notifications every `tick` until aborted.
pub async fn run(st: AppState, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        while deliver_due(&st).await == BATCH {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        let s: Vec<u64> = (1..=11).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(s, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }

    #[test]
    fn the_signature_covers_time_and_body() {
        let a = sign(b"k", 1, "{}");
        assert!(a.starts_with("t=1,v1=") && a.len() == 7 + 64, "{a}");
        assert_ne!(a, sign(b"k", 2, "{}"));
        assert_ne!(a, sign(b"k", 1, "{ }"));
        assert_ne!(a, sign(b"j", 1, "{}"));
    }
}
