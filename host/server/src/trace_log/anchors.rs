//! Anchoring: signed checkpoints published outside the database (an
//! append-only file, an HTTP webhook), so a verifier can hold the database
//! to heads it cannot rewrite. Publishing is best effort per sink: a failed
//! sink is reported and the next checkpoint is published again.

use crate::trace::SignedCheckpoint;
use crate::trace_log::settings::Anchor;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// How long a webhook may take.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a sink did not take a checkpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// The anchor file could not be written or read.
    #[error("anchor file `{path}`: {source}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The webhook failed or answered with an error.
    #[error("webhook `{url}` failed: {message}")]
    Webhook {
        /// The URL.
        url: String,
        /// What happened.
        message: String,
    },
}

/// Publishes `cp` to every sink; returns the failures.
pub async fn publish(
    anchor_dir: &Path,
    anchors: &[Anchor],
    cp: &SignedCheckpoint,
) -> Vec<AnchorError> {
    let line = match serde_json::to_string(cp) {
        Ok(l) => l,
        Err(e) => {
            return vec![AnchorError::Webhook {
                url: String::new(),
                message: e.to_string(),
            }];
        }
    };
    let mut errors = Vec::new();
    for a in anchors {
        let r = match a {
            Anchor::File { path } => append_line(&anchor_dir.join(path), &line).await,
            Anchor::Webhook { url } => post(url, &line).await,
        };
        if let Err(e) = r {
            errors.push(e);
        }
    }
    errors
}

async fn append_line(path: &Path, line: &str) -> Result<(), AnchorError> {
    let p = path.to_owned();
    let text = format!("{line}\n");
    let err = |source| AnchorError::File {
        path: path.display().to_string(),
        source,
    };
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)?;
        // One write of the whole line: O_APPEND keeps concurrent writers' lines whole.
        f.write_all(text.as_bytes())?;
        f.sync_data()
    })
    .await
    .map_err(|e| err(std::io::Error::other(e)))?
    .map_err(err)
}

async fn post(url: &str, body: &str) -> Result<(), AnchorError> {
    crate::outbound::post_json(url, &[], body.to_owned(), WEBHOOK_TIMEOUT)
        .await
        .map_err(|e| AnchorError::Webhook {
            url: e.url,
            message: e.message,
        })
}

/// The checkpoints of `tenant` in a file anchor under `anchor_dir` (lines
/// of other logs, and a file not written yet, give none). Online
/// verification holds the log to these besides the stored checkpoints.
pub async fn read_file(
    anchor_dir: &Path,
    path: &str,
    tenant: &str,
) -> Result<Vec<SignedCheckpoint>, AnchorError> {
    let full = anchor_dir.join(path);
    let err = |source| AnchorError::File {
        path: full.display().to_string(),
        source,
    };
    let text = match tokio::fs::read_to_string(&full).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(e)),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cp: SignedCheckpoint = serde_json::from_str(line).map_err(|e| {
            err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("line {}: not a signed checkpoint: {e}", i + 1),
            ))
        })?;
        if cp.checkpoint.tenant == tenant {
            out.push(cp);
        }
    }
    Ok(out)
}
