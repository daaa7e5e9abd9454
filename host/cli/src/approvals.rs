//! `warden approvals`: an approver's inbox from the terminal, against a
//! server's REST API with a bearer token: list the pending requests the
//! token may act on, show one, approve or deny it with a reason.

use crate::database::current_thread_runtime;
use crate::{Result, emit, pretty};
use base64::Engine as _;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::Write;
use std::time::Duration;

/// How long one API call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Where and as whom.
#[derive(Args)]
pub struct Target {
    /// The server's base URL.
    #[arg(long, env = "WARDEN_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A bearer token of the tenant with the `approver` (or `agent`) role.
    #[arg(long, env = "WARDEN_TOKEN", hide_env_values = true)]
    token: String,
    /// The tenant (default: the token's `tenant` claim).
    #[arg(long)]
    tenant: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// `warden approvals ...`.
#[derive(Subcommand)]
pub enum ApprovalsCommand {
    /// The pending requests the token may vote on, oldest first.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// One request: what the agent wants to do, why, the step, votes, deadline.
    Show {
        /// The approval id.
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Approve a request.
    Approve {
        /// The approval id.
        id: String,
        /// Why (required where the policy says so).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Deny a request (a reason is required).
    Deny {
        /// The approval id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        target: Target,
    },
}

/// The `tenant` claim of a JWT, read without verifying it (the server does).
fn tenant_of(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["tenant"].as_str().map(str::to_owned)
}

/// A path segment as the API expects it: ids and tenant names are plain,
/// anything else is refused here rather than sent.
fn segment(what: &str, s: &str) -> Result<String> {
    if s.is_empty()
        || s.len() > 256
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!("`{s}` is not a valid {what}"));
    }
    Ok(s.to_owned())
}

fn call(t: &Target, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
    let tenant = match &t.tenant {
        Some(x) => x.clone(),
        None => tenant_of(&t.token).ok_or("give --tenant: the token names none")?,
    };
    let url = format!(
        "{}/v1/tenants/{}{path}",
        t.server.trim_end_matches('/'),
        segment("tenant", &tenant)?
    );
    let headers = [("authorization", format!("Bearer {}", t.token))];
    let (status, text) = current_thread_runtime()?
        .block_on(warden_server::outbound::request(
            method,
            &url,
            &headers,
            body.map(|b| b.to_string()),
            TIMEOUT,
        ))
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !(200..300).contains(&status) {
        let detail = v["detail"]
            .as_str()
            .unwrap_or("the server refused the request");
        return Err(format!("{status}: {detail}"));
    }
    Ok(v)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn amount(v: &Value) -> String {
    match (v["minor_units"].as_i64(), v["currency"].as_str()) {
        (Some(m), Some(c)) => format!("{m} {c} (minor units)"),
        _ => String::new(),
    }
}

fn show_text(a: &Value) -> String {
    use std::fmt::Write;
    let action = &a["request"]["action"];
    let mut o = String::new();
    let _ = writeln!(o, "{}  {}", s(&a["id"]), s(&a["status"]));
    let _ = writeln!(o, "tool          {}", s(&action["tool"]));
    let _ = writeln!(o, "safety class  {}", s(&action["safety_class"]));
    let _ = writeln!(o, "amount        {}", amount(&action["amount"]));
    let _ = writeln!(o, "counterparty  {}", s(&action["counterparty"]));
    let _ = writeln!(
        o,
        "agent         {}",
        s(&a["request"]["principal"]["agent"])
    );
    let _ = writeln!(o, "why           {}", s(&a["reason"]));
    let step = &a["step"];
    let _ = writeln!(
        o,
        "policy        {} (version {}), step {} of {}, {} of {} approvals, due {}",
        s(&a["policy"]),
        a["policy_version"],
        step["index"].as_u64().unwrap_or(0) + 1,
        step["of"],
        step["approvals"],
        step["quorum"],
        s(&step["deadline"])
    );
    let _ = writeln!(o, "arguments     {}", action["args"]);
    for f in a["findings"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "finding       {} {}/{}: {}",
            s(&f["verdict"]),
            s(&f["pack"]),
            s(&f["rule"]),
            s(&f["reason"])
        );
    }
    for v in a["votes"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "vote          {} {} {}{}",
            s(&v["voter"]),
            s(&v["choice"]),
            s(&v["reason"]),
            if v["counted"] == false {
                " (advisory)"
            } else {
                ""
            }
        );
    }
    o
}

/// Runs an `approvals` command.
pub fn approvals(command: ApprovalsCommand, out: &mut dyn Write) -> Result<u8> {
    let (target, v) = match command {
        ApprovalsCommand::List { target } => {
            let v = call(&target, "GET", "/approvals?limit=500", None)?;
            if !target.json {
                let items = v["items"].as_array().cloned().unwrap_or_default();
                if items.is_empty() {
                    emit(out, "nothing waits for you\n")?;
                }
                for a in items {
                    let action = &a["request"]["action"];
                    emit(
                        out,
                        &format!(
                            "{}  {}  {}  {}  due {}\n",
                            s(&a["id"]),
                            s(&action["tool"]),
                            amount(&action["amount"]),
                            s(&action["counterparty"]),
                            s(&a["step"]["deadline"])
                        ),
                    )?;
                }
                return Ok(0);
            }
            (target, v)
        }
        ApprovalsCommand::Show { id, target } => {
            let v = call(
                &target,
                "GET",
                &format!("/approvals/{}", segment("approval id", &id)?),
                None,
            )?;
            (target, v)
        }
        ApprovalsCommand::Approve { id, reason, target } => {
            let body = json!({"choice": "approve", "reason": reason});
            let path = format!("/approvals/{}/votes", segment("approval id", &id)?);
            let v = call(&target, "POST", &path, Some(body))?;
            (target, v)
        }
        ApprovalsCommand::Deny { id, reason, target } => {
            let body = json!({"choice": "deny", "reason": reason});
            let path = format!("/approvals/{}/votes", segment("approval id", &id)?);
            let v = call(&target, "POST", &path, Some(body))?;
            (target, v)
        }
    };
    if target.json {
        emit(out, &format!("{}\n", pretty(&v)))?;
    } else {
        emit(out, &show_text(&v))?;
    }
    Ok(0)
}
