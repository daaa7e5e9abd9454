//! `url-domain-allowlist`: every URL in the arguments must use an allowed
//! scheme and point at an allowed host.

use crate::domain::{DomainPattern, Scheme};
use crate::host::{self, Host};
use crate::ip;
use crate::rules::{list, show};
use crate::url::{Form, Found, find_urls};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_sdk::{Outcome, Request, Rule, SafetyClass, Strictness, visit_strings};

/// `url-domain-allowlist`: deny a tool call of one of `classes` when any
/// string in its arguments (object keys included, at any depth) contains a
/// URL whose scheme is not in `allow_schemes` or whose host is not allowed.
///
/// A host is allowed when it is a domain matching an `allow_domains` entry
/// (see [`crate::domain`]); or, with `allow_ip_literals`, a public IP
/// address. Loopback, private, link-local (169.254.169.254, the cloud
/// metadata endpoint), multicast and other special addresses are denied
/// even then. Scheme-relative (`//host`) and bare `www.` URLs pass the
/// scheme check when `http` or `https` is allowed. Arguments that are not
/// valid JSON are scanned as raw text.
///
/// The default allowlist is empty: until domains are listed, every URL is
/// denied (fail closed).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UrlDomainAllowlist {
    /// Domains URLs may point at: `example.com`, `*.example.com`
    /// (subdomains), `.example.com` (both), `*` (any domain name).
    pub allow_domains: Vec<DomainPattern>,
    /// Schemes URLs may use.
    pub allow_schemes: Vec<Scheme>,
    /// Whether URLs may name public IP addresses instead of domains.
    pub allow_ip_literals: bool,
    /// Safety classes whose arguments are checked.
    pub classes: Vec<SafetyClass>,
}

impl Default for UrlDomainAllowlist {
    fn default() -> Self {
        UrlDomainAllowlist {
            allow_domains: Vec::new(),
            allow_schemes: vec![Scheme::lit("http"), Scheme::lit("https")],
            allow_ip_literals: false,
            classes: vec![SafetyClass::External, SafetyClass::Write],
        }
    }
}

impl Rule for UrlDomainAllowlist {
    const ID: &'static str = "url-domain-allowlist";
    const SUMMARY: &'static str = "Deny URLs in arguments whose scheme or host is not allowed";
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[
        ("allow_domains", Strictness::Subset),
        ("allow_schemes", Strictness::Subset),
        ("allow_ip_literals", Strictness::WhenFalse),
        ("classes", Strictness::Superset),
    ];

    fn check(&self, req: &Request) -> Outcome {
        let action = &req.action;
        if !self.classes.contains(&action.safety_class) {
            return Outcome::Pass;
        }
        let args = action.args();
        let problem = if args.is_null() && action.args_json().trim() != "null" {
            self.first_problem(action.args_json())
                .map(|p| (p, Where::Raw))
        } else {
            // Walk without building JSON pointers (allocations on every key
            // and index); find the pointer of the offending string only
            // when there is one.
            let mut hit = None;
            walk_strings(args, &mut |text| {
                hit = self.first_problem(text).map(|p| (p, text));
                hit.is_none()
            });
            hit.map(|(p, text)| (p, Where::Pointer(pointer_of(args, text))))
        };
        match problem {
            Some(((problem, url), at)) => Outcome::deny(format!(
                "`{}` {problem} (URL `{url}` {at})",
                show(&action.tool)
            )),
            None => Outcome::Pass,
        }
    }
}

/// Calls `f` with every string in `value` (object keys included) until it
/// returns `false`.
fn walk_strings<'v>(value: &'v Value, f: &mut impl FnMut(&'v str) -> bool) -> bool {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().all(|v| walk_strings(v, f)),
        Value::Object(map) => map.iter().all(|(k, v)| f(k) && walk_strings(v, f)),
        _ => true,
    }
}

/// The JSON pointer of the string `target` (by address) inside `value`.
fn pointer_of(value: &Value, target: &str) -> String {
    let mut found = String::new();
    visit_strings(value, &mut |pointer, text| {
        if std::ptr::eq(text, target) {
            found = pointer.to_owned();
            return false;
        }
        true
    });
    found
}

/// Where in the arguments a string is.
enum Where {
    Pointer(String),
    Raw,
}

impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Where::Pointer(p) if p.is_empty() => {
                f.write_str("in the arguments (the whole document)")
            }
            Where::Pointer(p) => write!(f, "at args `{}`", show(p)),
            Where::Raw => f.write_str("in the raw arguments (not valid JSON)"),
        }
    }
}

impl UrlDomainAllowlist {
    /// What is wrong with the first offending URL in `text`, and that URL
    /// (up to its authority) made printable.
    fn first_problem(&self, text: &str) -> Option<(String, String)> {
        let mut found = None;
        find_urls(text, &mut |url| match self.problem(&url) {
            None => true,
            Some(problem) => {
                found = Some((problem, show(url.text)));
                false
            }
        });
        found
    }

    fn scheme_allowed(&self, scheme: &str) -> bool {
        self.allow_schemes.iter().any(|s| s.is(scheme))
    }

    fn schemes(&self) -> String {
        if self.allow_schemes.is_empty() {
            "no scheme is allowed".to_owned()
        } else {
            format!(
                "allowed: {}",
                list(
                    &self
                        .allow_schemes
                        .iter()
                        .map(Scheme::as_str)
                        .collect::<Vec<_>>()
                )
            )
        }
    }

    /// What is wrong with a URL, if anything.
    fn problem(&self, url: &Found<'_>) -> Option<String> {
        match url.form {
            Form::Hierarchical(scheme) | Form::Opaque(scheme) if !self.scheme_allowed(scheme) => {
                return Some(format!(
                    "may not use `{}:` URLs ({})",
                    show(&scheme.to_ascii_lowercase()),
                    self.schemes()
                ));
            }
            Form::Opaque(_) => return None,
            Form::SchemeRelative | Form::Www
                if !(self.scheme_allowed("http") || self.scheme_allowed("https")) =>
            {
                return Some(format!(
                    "may not use scheme-relative or bare `www.` URLs, which need `http` or `https` ({})",
                    self.schemes()
                ));
            }
            _ => {}
        }
        match host::parse(url.authority, url.context.strips_newlines()) {
            Host::Empty => None,
            Host::Invalid(why) => Some(format!(
                "may not reach `{}`: invalid host, {why}",
                show(url.authority)
            )),
            Host::V4(addr) => self.ip_problem(&ip::format_v4(addr), ip::v4_special(addr)),
            Host::V6(addr) => self.ip_problem(&ip::format_v6(addr), ip::v6_special(addr)),
            Host::Domain { name, idn } => {
                if self.allow_domains.iter().any(|d| d.matches(&name)) {
                    None
                } else if idn {
                    Some(format!(
                        "may not reach internationalised host `{}`: such hosts are allowed only when \
                         `allow_domains` lists this exact punycode form (homograph defence)",
                        show(&name)
                    ))
                } else if self.allow_domains.is_empty() {
                    Some(format!(
                        "may not reach host `{}`: the domain allowlist is empty, so no URL is allowed",
                        show(&name)
                    ))
                } else {
                    Some(format!(
                        "may not reach host `{}`: not on the domain allowlist",
                        show(&name)
                    ))
                }
            }
        }
    }

    fn ip_problem(&self, addr: &str, special: Option<&str>) -> Option<String> {
        match special {
            Some(kind) => Some(format!(
                "may not reach IP address `{addr}`: {kind} addresses are never allowed"
            )),
            None if !self.allow_ip_literals => Some(format!(
                "may not reach IP address `{addr}`: URLs must name an allowed domain (`allow_ip_literals` is off)"
            )),
            None => None,
        }
    }
}
