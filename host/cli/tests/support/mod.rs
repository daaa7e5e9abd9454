//! Helpers for tests that run `warden` as real processes: the binary, a
//! started server and a minimal HTTP client. Packs, keys and PostgreSQL
//! databases come from `warden-testkit`.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const WARDEN: &str = env!("CARGO_BIN_EXE_warden");

/// A temporary directory with only the three built-in packs.
pub fn packs_dir() -> tempfile::TempDir {
    warden_testkit::packs::built_in_dir()
}

/// Uploads raw bytes (`application/wasm`); the status and JSON body.
pub fn upload(addr: &str, path: &str, token: &str, bytes: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/wasm\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    )
    .unwrap();
    s.write_all(bytes).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A `warden serve` child process.
pub struct Proc {
    pub child: Child,
    pub addr: String,
    out: std::sync::Mutex<std::sync::mpsc::Receiver<String>>,
    err: std::sync::Mutex<std::sync::mpsc::Receiver<String>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A failed test must not leave a server running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    // The child is waited for in `stop` and in `Drop`.
    #[allow(clippy::zombie_processes)]
    pub fn start(args: &[&str]) -> Proc {
        let mut child = Command::new(WARDEN)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let rx = lines(child.stdout.take().unwrap(), false);
        let err = lines(child.stderr.take().unwrap(), true);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("warden serve did not start");
            if let Some(a) = line
                .strip_prefix("warden listening on http://")
                .or_else(|| line.strip_prefix("warden listening on https://"))
            {
                return Proc {
                    child,
                    addr: a.to_owned(),
                    out: std::sync::Mutex::new(rx),
                    err: std::sync::Mutex::new(err),
                };
            }
        }
    }

    /// What the server has written to stderr so far, waiting up to `wait`
    /// for a line containing `needle`.
    pub fn stderr_until(&self, needle: &str, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        let rx = self.err.lock().unwrap();
        let mut seen = Vec::new();
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                break;
            }
        }
        seen
    }

    /// SIGTERM, then the exit status and the rest of its output.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        self.stop()
    }

    pub fn stop(&mut self) -> (std::process::ExitStatus, Vec<String>) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        // The reader thread may not have passed on the last lines yet: read
        // until it sees the end of the pipe (the child has exited), bounded.
        let rx = self.out.lock().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut rest = Vec::new();
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            rest.push(line);
        }
        (status, rest)
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        http(&self.addr, method, path, token, body)
    }
}

/// The lines of a child's output, read on a thread; with `echo`, also
/// written to this process's stderr so a failing test shows them.
fn lines(r: impl Read + Send + 'static, echo: bool) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if echo {
                eprintln!("{line}");
            }
            // The receiver may be gone; keep draining so the child never blocks.
            let _ = tx.send(line);
        }
    });
    rx
}

/// A minimal HTTP/1.1 client (one request per connection).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    try_http(addr, method, path, token, body).expect("the server answers")
}

/// [`http`], or `None` when the connection fails or breaks (a killed server).
pub fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok())?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b)?;
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

pub fn payment(id: &str, minor: i64) -> Value {
    json!({"id": id, "tenant": "acme", "principal": {"agent": "bot"},
           "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
                      "amount": {"minor_units": minor, "currency": "EUR"}}})
}
