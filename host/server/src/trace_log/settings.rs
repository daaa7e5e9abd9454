//! A tenant's trace settings: retention per event class, checkpoint cadence,
//! masking rules and anchoring sinks (part of the tenant settings document).
//! Masking itself is in [`crate::trace_log::masking`].

use crate::tenants::settings_error::SettingsError;
use crate::trace::EventClass;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long events are kept, per event class, in days. A class without a
/// period is kept forever.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Decisions on financial actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>, maximum = 4_294_967_295_u64)]
    pub financial_days: Option<u32>,
    /// Decisions on read-only actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>, maximum = 4_294_967_295_u64)]
    pub read_only_days: Option<u32>,
    /// Decisions on other actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>, maximum = 4_294_967_295_u64)]
    pub action_days: Option<u32>,
    /// Configuration events (packs, compositions, tenants, pruning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>, maximum = 4_294_967_295_u64)]
    pub admin_days: Option<u32>,
}

impl Retention {
    /// The period of `class`, in days.
    pub fn days(&self, class: EventClass) -> Option<u32> {
        match class {
            EventClass::Financial => self.financial_days,
            EventClass::ReadOnly => self.read_only_days,
            EventClass::Action => self.action_days,
            EventClass::Admin => self.admin_days,
        }
    }

    /// `class=days,...` for the classes that have a period: names the policy
    /// in pruning events and reports.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = EventClass::ALL
            .into_iter()
            .filter_map(|c| {
                self.days(c)
                    .map(|d| format!("{}={d}d", warden_store::class_key(c)))
            })
            .collect();
        parts.join(",")
    }
}

/// What masking does to a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MaskAction {
    /// Replace the value with `"[redacted]"`.
    Redact,
    /// Replace the value with `"hmac-sha256:<hex>"`, keyed per tenant: equal
    /// values stay comparable within the tenant, and cannot be guessed back
    /// without the tenant's key.
    Hash,
}

/// One masking rule: a JSON pointer into the request's `args` or `context`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskRule {
    /// RFC 6901 pointer starting with `/args/` or `/context/`, e.g.
    /// `/args/card_number` (at most 1024 characters).
    #[schema(max_length = 1024, pattern = "^/(args|context)/([^~\\u0000]|~[01])+$")]
    pub pointer: String,
    /// Redact or hash.
    pub action: MaskAction,
}

/// Where checkpoints are published besides the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Anchor {
    /// Appends each signed checkpoint as one JSON line to a file under the
    /// server's anchor directory (`--anchor-dir`).
    File {
        /// File name, relative to the anchor directory: `/`-separated
        /// names, none empty, `.` or `..` (at most 1024 characters).
        #[schema(
            max_length = 1024,
            pattern = r"^([^/.\u0000][^/\u0000]*|\.[^/.\u0000][^/\u0000]*|\.\.[^/\u0000]+)(/([^/.\u0000][^/\u0000]*|\.[^/.\u0000][^/\u0000]*|\.\.[^/\u0000]+))*$"
        )]
        path: String,
    },
    /// POSTs each signed checkpoint as JSON to a URL.
    Webhook {
        /// `http://` URL (at most 1024 characters).
        #[schema(max_length = 1024, pattern = "^http://[^\\u0000]+$")]
        url: String,
    },
}

fn default_every_events() -> u64 {
    1000
}

fn default_every_ms() -> u64 {
    60_000
}

/// Largest `checkpoint_every_events`.
pub const MAX_EVERY_EVENTS: u64 = 1_000_000_000;
/// Largest `checkpoint_every_ms`: 30 days.
pub const MAX_EVERY_MS: u64 = 30 * 24 * 3600 * 1000;

/// A tenant's trace settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceSettings {
    /// Make a signed checkpoint once this many events follow the last one
    /// (0: never by count; at most 1,000,000,000).
    #[serde(default = "default_every_events")]
    #[schema(maximum = 1_000_000_000)]
    pub checkpoint_every_events: u64,
    /// Make a signed checkpoint when the log moved and this many ms passed
    /// (0: never by time; at most 30 days).
    #[serde(default = "default_every_ms")]
    #[schema(maximum = 2_592_000_000_u64)]
    pub checkpoint_every_ms: u64,
    /// Fields masked before decision events are stored.
    #[serde(default, deserialize_with = "warden_host::json_object::each")]
    pub masking: Vec<MaskRule>,
    /// Where checkpoints are also published.
    #[serde(default)]
    pub anchors: Vec<Anchor>,
}

impl Default for TraceSettings {
    fn default() -> Self {
        TraceSettings {
            checkpoint_every_events: default_every_events(),
            checkpoint_every_ms: default_every_ms(),
            masking: Vec::new(),
            anchors: Vec::new(),
        }
    }
}

impl TraceSettings {
    /// Checks pointers and sinks; the error names the offending field.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = SettingsError::new;
        if self.checkpoint_every_events > MAX_EVERY_EVENTS {
            return Err(bad(
                "settings.trace.checkpoint_every_events".to_owned(),
                format!("must be at most {MAX_EVERY_EVENTS}"),
            ));
        }
        if self.checkpoint_every_ms > MAX_EVERY_MS {
            return Err(bad(
                "settings.trace.checkpoint_every_ms".to_owned(),
                format!("must be at most {MAX_EVERY_MS} (30 days)"),
            ));
        }
        for (i, r) in self.masking.iter().enumerate() {
            let field = || format!("settings.trace.masking[{i}].pointer");
            if r.pointer.contains('\0') || r.pointer.chars().count() > 1024 {
                return Err(bad(field(), NUL_OR_LONG.to_owned()));
            }
            let ok_root = ["/args/", "/context/"]
                .iter()
                .any(|root| r.pointer.starts_with(root) && r.pointer.len() > root.len());
            if !ok_root {
                return Err(bad(
                    field(),
                    format!("`{}` must start with `/args/` or `/context/`", r.pointer),
                ));
            }
            if bad_escape(&r.pointer) {
                return Err(bad(
                    field(),
                    format!("`{}` has a `~` not followed by 0 or 1", r.pointer),
                ));
            }
        }
        for (i, a) in self.anchors.iter().enumerate() {
            let text = match a {
                Anchor::File { path } => path,
                Anchor::Webhook { url } => url,
            };
            if text.contains('\0') || text.chars().count() > 1024 {
                return Err(bad(
                    format!("settings.trace.anchors[{i}]"),
                    NUL_OR_LONG.to_owned(),
                ));
            }
            match a {
                Anchor::File { path } => {
                    // Names only: nothing absolute, empty, `.` or `..`.
                    let inside = path
                        .split('/')
                        .all(|c| !c.is_empty() && c != "." && c != "..");
                    if !inside {
                        return Err(bad(
                            format!("settings.trace.anchors[{i}].path"),
                            format!("`{path}` must be a relative path inside the anchor directory"),
                        ));
                    }
                }
                Anchor::Webhook { url } => {
                    if !url.starts_with("http://") || url.len() <= "http://".len() {
                        return Err(bad(
                            format!("settings.trace.anchors[{i}].url"),
                            format!("`{url}` must be an http:// URL"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

const NUL_OR_LONG: &str = "must be at most 1024 characters and contain no NUL character";

fn bad_escape(pointer: &str) -> bool {
    let b = pointer.as_bytes();
    b.iter()
        .enumerate()
        .any(|(i, c)| *c == b'~' && !matches!(b.get(i + 1), Some(b'0' | b'1')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let mut s = TraceSettings::default();
        s.masking.push(MaskRule {
            pointer: "/principal/agent".into(),
            action: MaskAction::Redact,
        });
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("masking[0].pointer")
        );
        s.masking[0].pointer = "/args/a~2b".into();
        assert!(s.validate().unwrap_err().to_string().contains("`~`"));
        s.masking[0].pointer = "/args/a~1b".into();
        s.anchors.push(Anchor::File {
            path: "../etc/passwd".into(),
        });
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("anchors[0].path")
        );
        s.anchors[0] = Anchor::Webhook {
            url: "ftp://x".into(),
        };
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("anchors[0].url")
        );
        s.anchors[0] = Anchor::Webhook {
            url: "http://127.0.0.1:9/hook".into(),
        };
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn retention_describes_its_policy() {
        let r = Retention {
            financial_days: Some(2555),
            read_only_days: Some(90),
            ..Retention::default()
        };
        assert_eq!(r.describe(), "financial=2555d,read-only=90d");
        assert_eq!(r.days(EventClass::Admin), None);
    }
}
