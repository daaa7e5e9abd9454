//! # external-tools-untrusted
//!
//! A built-in warden policy pack for agents that call tools outside the
//! organisation or work on input nobody vouches for (web pages, inbound
//! email, uploaded documents). Its four rules, all enabled by default:
//!
//! | rule | verdict | what it does |
//! |------|---------|--------------|
//! | [`external-tool-allowlist`](rules::ExternalToolAllowlist) | deny | `external` tools must match `allow_tools` (default `http.get`, `search.*`) |
//! | [`url-domain-allowlist`](url_rule::UrlDomainAllowlist) | deny | every URL in the arguments of `external` and `write` tools must use an allowed scheme (default `http`, `https`) and reach an allowed host (default: none, fail closed) |
//! | [`escalate-destructive`](rules::EscalateDestructive) | escalate | `destructive` actions need a human (route `security`) |
//! | [`untrusted-input`](rules::UntrustedInput) | deny | requests tagged `untrusted-input`/`untrusted` may not take `write`, `destructive`, `financial` or `external` actions |
//!
//! ## URL handling
//!
//! URLs are found anywhere in the argument strings ([`url`]): any
//! `scheme://`, the special schemes with backslashes or extra slashes,
//! `data:`/`javascript:`/`vbscript:`/`file:`, scheme-relative `//host` and
//! bare `www.` hosts. Hosts are extracted the way browsers extract them
//! ([`host`]): after the last `@`, percent-decoded, lower-cased, without
//! port and trailing dots; numeric hosts are IPv4 addresses in any notation
//! (`2130706433`, `0x7f.1`) ([`ip`]); non-ASCII hosts are compared in
//! punycode ([`idn`]) and only match entries that spell them out
//! ([`domain`]). Anything a client could read differently from us is
//! denied rather than guessed.
//!
//! Each args string is scanned once, left to right; the common case (no URL,
//! or a lower-case ASCII host) allocates nothing beyond what the SDK's
//! argument walk does. A rule reports the first offending URL, naming the
//! tool, the host and the JSON pointer of the string.
//!
//! The README next to this crate has the parameter tables and example
//! settings.

pub mod domain;
pub mod host;
pub mod idn;
pub mod ip;
pub mod rules;
pub mod url;
pub mod url_rule;

pub use rules::{EscalateDestructive, ExternalToolAllowlist, UntrustedInput};
pub use url_rule::UrlDomainAllowlist;

warden_sdk::pack! {
    name: "external-tools-untrusted",
    summary: "Allowlists for external tools and URL destinations; approvals for destructive actions; no side effects from untrusted input",
    rules: [ExternalToolAllowlist, UrlDomainAllowlist, EscalateDestructive, UntrustedInput],
}
