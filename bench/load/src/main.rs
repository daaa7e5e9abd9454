//! Load driver for the approval benchmarks (`bench/approvals.sh` starts the
//! server, seeds the tenants and tokens, and measures the server's memory
//! and database traffic around this program's phases).
//!
//! ```text
//! warden-bench-load throughput ADDR RUNTIME_TOKEN APPROVER_TOKEN SECONDS WORKERS
//! warden-bench-load timers     ADDR RUNTIME_TOKEN SECONDS RATE_PER_S [TENANT]
//! warden-bench-load waiters    ADDR RUNTIME_TOKEN APPROVER_TOKEN WAITERS APPROVALS HOLD_S [H2_CONNS]
//! ```
//!
//! - `throughput`: each worker, on its own kept-alive connection, asks for a
//!   decision that escalates (tenant `bench`) and approves it, over and
//!   over: escalations created and resolved per second, and the cycle's latency.
//! - `timers`: opens escalations with counterparty `Timers Ltd` on `TENANT`
//!   (default `bench-timers`; its policy routes them to a 1 s SLA whose
//!   deadline denies) at a steady rate, then reads each back: how late each
//!   deadline fired (resolution time minus deadline).
//! - `waiters`: opens `APPROVALS` requests on `bench`, parks `WAITERS`
//!   long-polls on them (60 s bound), prints `HOLDING` and holds for
//!   `HOLD_S` (the script samples memory and database traffic then),
//!   approves them all and reports how long the waiters took to return.
//!   Each waiter has its own HTTP/1.1 connection, or, with `H2_CONNS`, the
//!   waiters share that many HTTP/2 connections (as a runtime with many
//!   agents would multiplex them).

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// One kept-alive HTTP/1.1 connection.
struct Conn {
    host: String,
    tx: Sender,
}

impl Conn {
    async fn open(addr: &str) -> Result<Conn> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        tcp.set_nodelay(true)?;
        let (tx, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        Ok(Conn {
            host: addr.to_owned(),
            tx,
        })
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let req = b.body(Full::new(Bytes::from(
            body.map(|v| v.to_string()).unwrap_or_default(),
        )))?;
        self.tx.ready().await?;
        let resp = self.tx.send_request(req).await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}

fn payment(tenant: &str, id: &str, counterparty: &str) -> Value {
    json!({"id": id, "tenant": tenant,
           "principal": {"agent": "billing-bot"},
           "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
                      "amount": {"minor_units": 450000, "currency": "EUR"},
                      "counterparty": counterparty, "args": {"invoice": id}}})
}

static SEQ: AtomicU64 = AtomicU64::new(0);

fn next_id(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{nanos:x}-{}", SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Escalates a payment on `tenant`; the approval id.
async fn escalate(c: &mut Conn, tenant: &str, runtime: &str) -> Result<String> {
    escalate_to(c, tenant, runtime, "ACME GmbH").await
}

/// Escalates a payment to `counterparty` on `tenant`; the approval id.
async fn escalate_to(
    c: &mut Conn,
    tenant: &str,
    runtime: &str,
    counterparty: &str,
) -> Result<String> {
    let (status, v) = c
        .call(
            "POST",
            &format!("/v1/tenants/{tenant}/evaluate"),
            runtime,
            Some(payment(tenant, &next_id("b"), counterparty)),
        )
        .await?;
    match v["approval"]["id"].as_str() {
        Some(id) if status == 200 => Ok(id.to_owned()),
        _ => bail!("escalation failed: {status} {v}"),
    }
}

async fn approve(c: &mut Conn, tenant: &str, approver: &str, id: &str) -> Result<()> {
    let (status, v) = c
        .call(
            "POST",
            &format!("/v1/tenants/{tenant}/approvals/{id}/votes"),
            approver,
            Some(json!({"choice": "approve", "reason": "bench"})),
        )
        .await?;
    if status != 200 || v["status"] != "approved" {
        bail!("vote failed: {status} {v}");
    }
    Ok(())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn throughput(
    addr: String,
    runtime: String,
    approver: String,
    secs: u64,
    workers: usize,
) -> Result<()> {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut jobs = Vec::new();
    for _ in 0..workers {
        let (addr, runtime, approver) = (addr.clone(), runtime.clone(), approver.clone());
        jobs.push(tokio::spawn(async move {
            let mut c = Conn::open(&addr).await?;
            let mut lat = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                let id = escalate(&mut c, "bench", &runtime).await?;
                approve(&mut c, "bench", &approver, &id).await?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(lat)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for j in jobs {
        all.extend(j.await??);
    }
    let took = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    println!(
        "throughput: {} escalations created and resolved in {took:.1} s = {:.0}/s; cycle (escalate + approve) p50 {:.1} ms, p99 {:.1} ms",
        all.len(),
        all.len() as f64 / took,
        pct(&all, 0.5),
        pct(&all, 0.99)
    );
    Ok(())
}

fn ms_of(rfc3339: &Value) -> Option<f64> {
    let t = humantime::parse_rfc3339(rfc3339.as_str()?).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs_f64() * 1000.0)
}

async fn timers(addr: String, runtime: String, secs: u64, rate: u64, tenant: String) -> Result<()> {
    // Opened from several connections, each at its share of the rate, so
    // the rate holds while each escalation waits for its commit.
    const OPENERS: u64 = 16;
    let end = Instant::now() + Duration::from_secs(secs);
    let mut openers = Vec::new();
    for k in 0..OPENERS {
        let (addr, runtime, tenant) = (addr.clone(), runtime.clone(), tenant.clone());
        let every = Duration::from_micros(OPENERS * 1_000_000 / rate.max(1));
        openers.push(tokio::spawn(async move {
            let mut c = Conn::open(&addr).await?;
            let start = tokio::time::Instant::now() + every * k as u32 / OPENERS as u32;
            let mut tick = tokio::time::interval_at(start, every);
            let mut ids = Vec::new();
            while Instant::now() < end {
                tick.tick().await;
                ids.push(escalate_to(&mut c, &tenant, &runtime, "Timers Ltd").await?);
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::new();
    for o in openers {
        ids.extend(o.await??);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut c = Conn::open(&addr).await?;
    let mut lags = Vec::new();
    let mut pending = 0;
    for id in &ids {
        let (_, v) = c
            .call(
                "GET",
                &format!("/v1/tenants/{tenant}/approvals/{id}"),
                &runtime,
                None,
            )
            .await?;
        match (ms_of(&v["resolution"]["at"]), ms_of(&v["step"]["deadline"])) {
            (Some(at), Some(due)) => lags.push(at - due),
            _ => pending += 1,
        }
    }
    lags.sort_by(f64::total_cmp);
    println!(
        "timers: {} deadlines at {rate}/s; fired late by p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {pending} not fired",
        ids.len(),
        pct(&lags, 0.5),
        pct(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}

/// A shared HTTP/2 connection (prior knowledge, cleartext).
async fn h2(addr: &str) -> Result<hyper::client::conn::http2::SendRequest<Full<Bytes>>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (tx, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await?;
    tokio::spawn(conn);
    Ok(tx)
}

#[allow(clippy::too_many_arguments)]
async fn waiters(
    addr: String,
    runtime: String,
    approver: String,
    n: usize,
    approvals: usize,
    hold: u64,
    h2_conns: usize,
) -> Result<()> {
    let mut c = Conn::open(&addr).await?;
    let mut ids = Vec::new();
    for _ in 0..approvals {
        ids.push(escalate(&mut c, "bench", &runtime).await?);
    }
    let done = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let mut jobs = Vec::new();
    let connected = Arc::new(AtomicU64::new(0));
    let mut shared = Vec::new();
    for _ in 0..h2_conns {
        shared.push(h2(&addr).await?);
    }
    for i in 0..n {
        let (addr, runtime, id) = (addr.clone(), runtime.clone(), ids[i % ids.len()].clone());
        let (done, connected) = (done.clone(), connected.clone());
        let conn = (!shared.is_empty()).then(|| shared[i % shared.len()].clone());
        jobs.push(tokio::spawn(async move {
            let path = format!("/v1/tenants/bench/approvals/{id}/wait?timeout_s=60");
            let (status, v) = match conn {
                None => {
                    let mut c = Conn::open(&addr).await?;
                    connected.fetch_add(1, Ordering::Relaxed);
                    c.call("GET", &path, &runtime, None).await?
                }
                Some(mut tx) => {
                    connected.fetch_add(1, Ordering::Relaxed);
                    let req = hyper::Request::get(format!("http://{addr}{path}"))
                        .header("authorization", format!("Bearer {runtime}"))
                        .body(Full::new(Bytes::new()))?;
                    tx.ready().await?;
                    let resp = tx.send_request(req).await?;
                    let status = resp.status().as_u16();
                    let bytes = resp.into_body().collect().await?.to_bytes();
                    (
                        status,
                        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                    )
                }
            };
            done.lock().await.push((
                Instant::now(),
                status,
                v["status"].as_str().unwrap_or("").to_owned(),
            ));
            anyhow::Ok(())
        }));
        if i % 500 == 499 {
            tokio::task::yield_now().await;
        }
    }
    while connected.load(Ordering::Relaxed) < n as u64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("HOLDING {n} waiters on {approvals} approvals");
    let via = if h2_conns == 0 {
        format!("{n} HTTP/1.1 connections")
    } else {
        format!("{h2_conns} HTTP/2 connections")
    };
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let early = done.lock().await.len();
    let released_at = Instant::now();
    for id in &ids {
        approve(&mut c, "bench", &approver, id).await?;
    }
    for j in jobs {
        j.await??;
    }
    let d = done.lock().await;
    let mut wake: Vec<f64> = d
        .iter()
        .filter(|(at, _, _)| *at >= released_at)
        .map(|(at, _, _)| at.duration_since(released_at).as_secs_f64() * 1000.0)
        .collect();
    wake.sort_by(f64::total_cmp);
    let approved = d
        .iter()
        .filter(|(_, s, st)| *s == 200 && st == "approved")
        .count();
    println!(
        "waiters: {n} long-polls over {via}; {early} returned before the votes; {approved} returned `approved`; all returned {:.0} ms after the first vote (p50 {:.0} ms)",
        wake.last().copied().unwrap_or(f64::NAN),
        pct(&wake, 0.5)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize| {
        a.get(i)
            .cloned()
            .context("missing argument: see the module docs")
    };
    let num = |i: usize| -> Result<u64> { Ok(arg(i)?.parse()?) };
    match a.get(1).map(String::as_str) {
        Some("throughput") => {
            throughput(arg(2)?, arg(3)?, arg(4)?, num(5)?, num(6)? as usize).await
        }
        Some("timers") => {
            let tenant = a.get(6).cloned().unwrap_or_else(|| "bench-timers".into());
            timers(arg(2)?, arg(3)?, num(4)?, num(5)?, tenant).await
        }
        Some("waiters") => {
            let h2 = a.get(8).map(|v| v.parse()).transpose()?.unwrap_or(0);
            waiters(
                arg(2)?,
                arg(3)?,
                arg(4)?,
                num(5)? as usize,
                num(6)? as usize,
                num(7)?,
                h2,
            )
            .await
        }
        _ => bail!("usage: warden-bench-load throughput|timers|waiters ... (see the module docs)"),
    }
}
