//! Group commit for the trace log, pipelined per tenant. Handlers hand
//! events to their tenant's lane and wait; a decision is answered only after
//! its event is committed. Each lane takes everything queued as one batch.
//!
//! A lane that knows its chain's head (from its last commit) chains the next
//! batch in memory and commits it with a conditional move of the head row
//! ([`Store::trace_append_after`]: one statement instead of locking and
//! reading the head first). Up to [`DEPTH`] batches may be in flight, the
//! database ordering them on the head row. If the head moved elsewhere
//! (another server appended, or a batch failed), the condition fails,
//! nothing is written, and that batch is appended again under the head-row
//! lock ([`Store::trace_append_locked`]); the lane then runs one locked
//! batch at a time until it knows the head again. Different tenants' lanes
//! run in parallel.
//!
//! A batch the database refuses (it is validated before, so this is a
//! defect or an outage) is retried under the lock, and then request by
//! request, so one bad event never fails the decisions it was batched with.
//!
//! A batch that opens approval requests (escalated decisions under an
//! approval policy) is appended under the lock with its requests in the same
//! transaction ([`Store::trace_append_with`]).
//!
//! [`DEPTH`] is 1: on two cores, overlapping batches made them smaller and
//! the transactions more numerous, and measured slower (BENCHMARKS.md).

use crate::trace::Chain;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use warden_store::{Appended, ApprovalRow, NewEvent, OutboxRow, Store, chain_events};

/// Most events taken into one batch.
pub const MAX_BATCH: usize = 4096;

/// Batches of one tenant in flight at once when its head is known (see the module docs).
pub const DEPTH: usize = 1;

type Reply = oneshot::Sender<Result<Vec<Appended>, String>>;

struct Job {
    events: Vec<NewEvent>,
    opens: Openings,
    done: Reply,
}

/// What escalated decisions open with their events: approval requests and
/// their first notifications.
#[derive(Debug, Clone, Default)]
pub struct Openings {
    /// Approval requests.
    pub approvals: Vec<ApprovalRow>,
    /// Their notifications.
    pub outbox: Vec<OutboxRow>,
}

impl Openings {
    fn is_empty(&self) -> bool {
        self.approvals.is_empty() && self.outbox.is_empty()
    }
}

/// One job's share of a batch: how many events, where to answer, and what
/// it opens.
type Waiter = (usize, Reply, Openings);

/// The handle handlers append through. Cheap to clone.
#[derive(Clone)]
pub struct Appender {
    store: Store,
    lanes: Arc<Mutex<HashMap<String, mpsc::Sender<Job>>>>,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender").finish_non_exhaustive()
    }
}

impl Appender {
    /// An appender over `store`; lanes start on the current runtime as tenants append.
    pub fn start(store: Store) -> Appender {
        Appender {
            store,
            lanes: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn lane(&self, tenant: &str) -> Result<mpsc::Sender<Job>, String> {
        let mut lanes = self
            .lanes
            .lock()
            .map_err(|_| "the trace appender is poisoned".to_owned())?;
        if let Some(tx) = lanes.get(tenant)
            && !tx.is_closed()
        {
            return Ok(tx.clone());
        }
        let (tx, rx) = mpsc::channel(16 * 1024);
        tokio::spawn(lane(self.store.clone(), tenant.to_owned(), rx));
        lanes.insert(tenant.to_owned(), tx.clone());
        Ok(tx)
    }

    /// Appends `events` to `tenant`'s log; resolves once they are committed.
    pub async fn append(
        &self,
        tenant: &str,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Appended>, String> {
        self.append_with(tenant, events, Openings::default()).await
    }

    /// Appends `events` and inserts what they open in the same transaction.
    pub async fn append_with(
        &self,
        tenant: &str,
        events: Vec<NewEvent>,
        opens: Openings,
    ) -> Result<Vec<Appended>, String> {
        let (done, wait) = oneshot::channel();
        self.lane(tenant)?
            .send(Job {
                events,
                opens,
                done,
            })
            .await
            .map_err(|_| "the trace appender has stopped".to_owned())?;
        wait.await
            .map_err(|_| "the trace appender dropped the request".to_owned())?
    }
}

/// What a batch's commit tells its lane.
struct Outcome {
    /// The chain after the batch, when it was committed.
    committed: Option<Chain>,
    /// Whether the lane's knowledge of the head held.
    predicted_ok: bool,
}

async fn lane(store: Store, tenant: String, mut rx: mpsc::Receiver<Job>) {
    let tenant: Arc<str> = tenant.into();
    // The head as it will be once every batch in flight commits, if known.
    let mut predicted: Option<Chain> = None;
    // The furthest committed chain seen while the head was unknown.
    let mut best: Option<Chain> = None;
    let mut inflight: JoinSet<Outcome> = JoinSet::new();
    loop {
        let room = if predicted.is_some() { DEPTH } else { 1 };
        tokio::select! {
            biased;
            Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                match done {
                    Ok(o) => {
                        if !o.predicted_ok {
                            predicted = None;
                        }
                        if let Some(c) = o.committed
                            && best.as_ref().is_none_or(|b| c.last_seq() > b.last_seq())
                        {
                            best = Some(c);
                        }
                    }
                    Err(_) => predicted = None,
                }
                if inflight.is_empty() {
                    if predicted.is_none() {
                        predicted = best.take();
                    } else {
                        best = None;
                    }
                }
            }
            job = rx.recv(), if inflight.len() < room => {
                let Some(first) = job else { break };
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
                let mut events = Vec::with_capacity(n);
                let mut waiters: Vec<Waiter> = Vec::with_capacity(jobs.len());
                let mut opens = false;
                for j in jobs {
                    opens |= !j.opens.is_empty();
                    waiters.push((j.events.len(), j.done, j.opens));
                    events.extend(j.events);
                }
                let (store, tenant) = (store.clone(), Arc::clone(&tenant));
                match predicted.take() {
                    Some(before) if !opens => {
                        let mut after = before.clone();
                        match chain_events(&mut after, &events) {
                            Ok(rows) => {
                                predicted = Some(after.clone());
                                inflight.spawn(async move {
                                    commit_after(&store, &tenant, before, after, events, rows, waiters).await
                                });
                            }
                            Err(e) => fail(waiters, &e.to_string()),
                        }
                    }
                    _ => {
                        inflight.spawn(async move { commit_locked(&store, &tenant, &events, waiters).await });
                    }
                }
            }
            else => break,
        }
    }
    while inflight.join_next().await.is_some() {}
}

fn fail(waiters: Vec<Waiter>, msg: &str) {
    for (_, done, _) in waiters {
        let _ = done.send(Err(msg.to_owned()));
    }
}

fn answer(waiters: Vec<Waiter>, records: Vec<Appended>) {
    let mut records = records.into_iter();
    for (n, done, _) in waiters {
        let _ = done.send(Ok(records.by_ref().take(n).collect()));
    }
}

async fn commit_locked(
    store: &Store,
    tenant: &str,
    events: &[NewEvent],
    waiters: Vec<Waiter>,
) -> Outcome {
    let approvals: Vec<ApprovalRow> = waiters.iter().flat_map(|w| w.2.approvals.clone()).collect();
    let outbox: Vec<OutboxRow> = waiters.iter().flat_map(|w| w.2.outbox.clone()).collect();
    match store
        .trace_append_with(tenant, events, &approvals, &outbox)
        .await
    {
        Ok((records, chain)) => {
            answer(waiters, records);
            Outcome {
                committed: Some(chain),
                predicted_ok: false,
            }
        }
        Err(e) if waiters.len() > 1 && e.is_refusal() => {
            tracing::warn!(tenant = %tenant, error = %e, "a trace batch failed; appending its requests one by one");
            commit_each(store, tenant, events, waiters).await
        }
        Err(e) => {
            fail(waiters, &e.to_string());
            Outcome {
                committed: None,
                predicted_ok: false,
            }
        }
    }
}

/// After a batch failed whole: each waiter's events are appended on their
/// own, so an event the database refuses fails only its own request.
async fn commit_each(
    store: &Store,
    tenant: &str,
    events: &[NewEvent],
    waiters: Vec<Waiter>,
) -> Outcome {
    let mut committed = None;
    let mut at = 0;
    for (n, done, opens) in waiters {
        let mine = &events[at..at + n];
        at += n;
        let _ = done.send(
            match store
                .trace_append_with(tenant, mine, &opens.approvals, &opens.outbox)
                .await
            {
                Ok((records, chain)) => {
                    committed = Some(chain);
                    Ok(records)
                }
                Err(e) => Err(e.to_string()),
            },
        );
    }
    Outcome {
        committed,
        predicted_ok: false,
    }
}

async fn commit_after(
    store: &Store,
    tenant: &str,
    before: Chain,
    after: Chain,
    events: Vec<NewEvent>,
    rows: Vec<warden_store::Chained>,
    waiters: Vec<Waiter>,
) -> Outcome {
    match store
        .trace_append_after(tenant, &before, &after, &events, &rows)
        .await
    {
        Ok(true) => {
            answer(waiters, rows.into_iter().map(|r| r.appended).collect());
            Outcome {
                committed: Some(after),
                predicted_ok: true,
            }
        }
        // The head moved elsewhere: append under the lock from the real head.
        Ok(false) => commit_locked(store, tenant, &events, waiters).await,
        // Nothing was written; a refused batch goes again under the lock,
        // and request by request if it is refused again.
        Err(e) if e.is_refusal() => {
            tracing::warn!(tenant = %tenant, error = %e, "a trace batch failed; retrying it");
            commit_locked(store, tenant, &events, waiters).await
        }
        Err(e) => {
            fail(waiters, &e.to_string());
            Outcome {
                committed: None,
                predicted_ok: false,
            }
        }
    }
}
