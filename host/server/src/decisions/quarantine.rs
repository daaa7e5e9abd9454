//! Quarantine in the control plane: the registry of every tenant's circuit
//! breakers ([`warden_host::Breakers`]), whose openings and closings become admin
//! events in the tenant's trace log (`pack-quarantined`, `pack-released`).
//! The thresholds are the tenant's `settings.quarantine`; the API shows the
//! breakers at `GET /v1/tenants/{tenant}/quarantine`.

use crate::trace_log::events::audit;
use serde_json::json;
use tokio::sync::mpsc;
use warden_host::{BreakerStatus, Breakers, Transition};
use warden_store::Store;

/// Event kind: a pack version was quarantined for the tenant.
pub const QUARANTINED: &str = "pack-quarantined";
/// Event kind: a quarantined pack version passed its probe.
pub const RELEASED: &str = "pack-released";

/// The registry; transitions are recorded by a task on the current runtime
/// (breakers change state on evaluation threads, which must not wait on
/// the database).
pub fn registry(store: Store) -> Breakers {
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, BreakerStatus, Transition)>();
    tokio::spawn(async move {
        while let Some((tenant, status, t)) = rx.recv().await {
            let (kind, detail) = match &t {
                Transition::Opened {
                    failures,
                    reason,
                    backoff_ms,
                } => (
                    QUARANTINED,
                    json!({"pack": status.pack, "version": status.version,
                           "digest": status.digest, "failures": failures,
                           "reason": reason, "backoff_ms": backoff_ms,
                           "until_ms": status.open_until_ms}),
                ),
                Transition::Closed => (
                    RELEASED,
                    json!({"pack": status.pack, "version": status.version,
                           "digest": status.digest}),
                ),
            };
            let appended = match audit(&tenant, kind, "warden", detail) {
                Ok(a) => store.trace_append(&tenant, &[a.event]).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = appended {
                tracing::error!(tenant = %tenant, kind = %kind, error = %e, "cannot record a quarantine event in the trace log");
            }
        }
    });
    Breakers::with_observer(move |tenant, status, t| {
        let _ = tx.send((tenant.to_owned(), status.clone(), t.clone()));
    })
}
