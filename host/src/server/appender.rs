//! Group commit for the trace log: handlers hand events to one appender task
//! and wait; the task takes everything queued, groups it by tenant, and
//! appends each tenant's group in one transaction (different tenants in
//! parallel). A decision is answered only after its event is committed.

use super::store::{Appended, NewEvent, Store};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

/// Most events taken into one round of commits.
pub const MAX_BATCH: usize = 4096;

struct Job {
    tenant: String,
    events: Vec<NewEvent>,
    done: oneshot::Sender<Result<Vec<Appended>, String>>,
}

/// The handle handlers append through. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Appender {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl Appender {
    /// Starts the appender task on the current runtime.
    pub fn start(store: Store) -> Appender {
        let (tx, rx) = mpsc::channel(16 * 1024);
        tokio::spawn(run(store, rx));
        Appender { tx }
    }

    /// Appends `events` to `tenant`'s log; resolves once they are committed.
    pub async fn append(
        &self,
        tenant: &str,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Appended>, String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job {
                tenant: tenant.to_owned(),
                events,
                done,
            })
            .await
            .map_err(|_| "the trace appender has stopped".to_owned())?;
        wait.await
            .map_err(|_| "the trace appender dropped the request".to_owned())?
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let mut n = jobs[0].events.len();
        while n < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => {
                    n += j.events.len();
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        let mut by_tenant: HashMap<String, Vec<Job>> = HashMap::new();
        for j in jobs {
            by_tenant.entry(j.tenant.clone()).or_default().push(j);
        }
        let mut commits = tokio::task::JoinSet::new();
        for (tenant, jobs) in by_tenant {
            let store = store.clone();
            commits.spawn(async move {
                let mut events = Vec::new();
                let mut waiters = Vec::with_capacity(jobs.len());
                for j in jobs {
                    waiters.push((j.events.len(), j.done));
                    events.extend(j.events);
                }
                match store.trace_append(&tenant, &events).await {
                    Ok(records) => {
                        let mut records = records.into_iter();
                        for (n, done) in waiters {
                            let _ = done.send(Ok(records.by_ref().take(n).collect()));
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        for (_, done) in waiters {
                            let _ = done.send(Err(msg.clone()));
                        }
                    }
                }
            });
        }
        while commits.join_next().await.is_some() {}
    }
}
