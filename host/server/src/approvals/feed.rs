//! The change feed: on PostgreSQL, every approval change commits with a
//! `NOTIFY`; each server listens and wakes its own waiters
//! ([`crate::approvals::waiters`]).

/// Follows other servers' approval changes (PostgreSQL `LISTEN`) and
/// wakes this server's waiters; returns at once on SQLite. Runs until
/// aborted, reconnecting after a failure.
pub async fn listen(state: crate::state::AppState) {
    loop {
        let mut listener = match state.store().approval_listener().await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for approval changes; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        // Anything committed while nobody listened: everyone reads again.
        state.waiters().wake_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => state.waiters().wake(n.payload()),
                // The connection was lost and is re-established on the
                // next call; a notification may have been missed.
                Ok(None) => state.waiters().wake_all(),
                Err(e) => {
                    tracing::error!(error = %e, "approval change feed failed; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
