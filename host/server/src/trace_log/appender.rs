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
//! approval policy) or changes one (a vote, a deadline, a redemption) is
//! appended under the lock with those rows in the same transaction
//! ([`Store::trace_append_changes`]): approval changes of a tenant are
//! group-committed like its decisions.
//!
//! [`DEPTH`] is 1: on two cores, overlapping batches made them smaller and
//! the transactions more numerous, and measured slower (BENCHMARKS.md).

use crate::trace::Chain;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use warden_store::{Appended, ApprovalRow, Change, NewEvent, OutboxRow, Store, chain_events};

/// Most events taken into one batch.
pub const MAX_BATCH: usize = 4096;

/// Batches of one tenant in flight at once when its head is known (see the module docs).
pub const DEPTH: usize = 1;

/// A job's answer: its records, `None` when its approval change lost the
/// race (nothing of it was written), or why the batch failed.
type Reply = oneshot::Sender<Result<Option<Vec<Appended>>, String>>;

struct Job {
    events: Vec<NewEvent>,
    opens: Openings,
    cas: Option<ApprovalRow>,
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

/// One job's share of a batch: how many events, where to answer, what it
/// opens and the approval row it swaps.
struct Waiter {
    n: usize,
    done: Reply,
    opens: Openings,
    cas: Option<ApprovalRow>,
}

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
        self.submit(tenant, events, opens, None)
            .await?
            .ok_or_else(|| "the append was refused".to_owned())
    }

    /// Replaces approval `next` (if its stored version is still
    /// `next.version - 1`) and appends `events` with `outbox`, in one
    /// transaction with the rest of its batch. `Ok(false)`: the approval
    /// changed meanwhile and nothing was written.
    pub async fn transition(
        &self,
        tenant: &str,
        next: ApprovalRow,
        events: Vec<NewEvent>,
        outbox: Vec<OutboxRow>,
    ) -> Result<bool, String> {
        let opens = Openings {
            approvals: Vec::new(),
            outbox,
        };
        Ok(self
            .submit(tenant, events, opens, Some(next))
            .await?
            .is_some())
    }

    async fn submit(
        &self,
        tenant: &str,
        events: Vec<NewEvent>,
        opens: Openings,
        cas: Option<ApprovalRow>,
    ) -> Result<Option<Vec<Appended>>, String> {
        let (done, wait) = oneshot::channel();
        self.lane(tenant)?
            .send(Job {
                events,
                opens,
                cas,
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
                    opens |= !j.opens.is_empty() || j.cas.is_some();
                    waiters.push(Waiter {
                        n: j.events.len(),
                        done: j.done,
                        opens: j.opens,
                        cas: j.cas,
                    });
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
    for w in waiters {
        let _ = w.done.send(Err(msg.to_owned()));
    }
}

fn answer(waiters: Vec<Waiter>, records: Vec<Appended>) {
    let mut records = records.into_iter();
    for w in waiters {
        let _ = w.done.send(Ok(Some(records.by_ref().take(w.n).collect())));
    }
}

/// The store's view of each waiter's share of `events`.
fn changes<'a>(events: &'a [NewEvent], waiters: &'a [Waiter]) -> Vec<Change<'a>> {
    let mut at = 0;
    waiters
        .iter()
        .map(|w| {
            let c = Change {
                events: &events[at..at + w.n],
                approvals: &w.opens.approvals,
                outbox: &w.opens.outbox,
                cas: w.cas.as_ref(),
            };
            at += w.n;
            c
        })
        .collect()
}

async fn commit_locked(
    store: &Store,
    tenant: &str,
    events: &[NewEvent],
    waiters: Vec<Waiter>,
) -> Outcome {
    let result = store
        .trace_append_changes(tenant, &changes(events, &waiters))
        .await;
    match result {
        Ok((records, chain)) => {
            for (w, r) in waiters.into_iter().zip(records) {
                let _ = w.done.send(Ok(r));
            }
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
    let mut answers = Vec::with_capacity(waiters.len());
    for c in changes(events, &waiters) {
        answers.push(match store.trace_append_changes(tenant, &[c]).await {
            Ok((mut records, chain)) => {
                committed = Some(chain);
                Ok(records.pop().flatten())
            }
            Err(e) => Err(e.to_string()),
        });
    }
    for (w, a) in waiters.into_iter().zip(answers) {
        let _ = w.done.send(a);
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
