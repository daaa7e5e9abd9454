//! The request a runtime sends: its JSON schema and conversion to the WIT types.

use crate::bindings::wit;
use crate::error::InputError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How dangerous a tool call is, as classified by the agent runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SafetyClass {
    /// Reads data; changes nothing.
    ReadOnly,
    /// Changes data inside the organisation.
    Write,
    /// Moves money or commits the organisation financially.
    Financial,
    /// Deletes or irreversibly changes data.
    Destructive,
    /// Talks to a system outside the organisation.
    External,
}

/// An amount in the currency's minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Amount in minor units (cents for EUR).
    pub minor_units: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
}

/// Who is acting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// The agent's id.
    pub agent: String,
    /// The human or service the agent acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// The agent's roles.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The tool call the agent wants to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Tool name.
    pub tool: String,
    /// The runtime's classification.
    pub safety_class: SafetyClass,
    /// Amount involved, for financial actions.
    #[serde(
        default,
        deserialize_with = "crate::json_object::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<Money>,
    /// The other party.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
    /// Labels (`pii`, `untrusted-input`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The tool call's arguments.
    #[serde(default)]
    pub args: Value,
}

/// One question to warden: may this principal take this action?
///
/// ```json
/// {"id": "req-1", "tenant": "acme",
///  "principal": {"agent": "billing-bot", "on_behalf_of": "alice", "roles": ["finance"]},
///  "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
///             "amount": {"minor_units": 125000, "currency": "EUR"},
///             "counterparty": "ACME GmbH", "tags": [], "args": {"invoice": "INV-7"}},
///  "context": {"conversation": "c-42"}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Unique id chosen by the runtime.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// Who is acting.
    #[serde(deserialize_with = "crate::json_object::object")]
    pub principal: Principal,
    /// What they want to do.
    #[serde(deserialize_with = "crate::json_object::object")]
    pub action: Action,
    /// Extra context (any JSON).
    #[serde(default)]
    pub context: Value,
}

/// A [`Request`] that passed [`Request::validate`]. A caller that validates
/// early (the control plane does, to answer 422 before a request waits for
/// its turn) hands it to [`crate::Composition::evaluate_valid`], which then
/// does not check it again; only [`ValidRequest::new`] makes one.
#[derive(Debug, Clone)]
pub struct ValidRequest(Request);

impl ValidRequest {
    /// Validates `req` ([`Request::validate`]).
    pub fn new(req: Request) -> Result<ValidRequest, InputError> {
        req.validate()?;
        Ok(ValidRequest(req))
    }

    /// The request itself.
    pub fn into_inner(self) -> Request {
        self.0
    }
}

impl std::ops::Deref for ValidRequest {
    type Target = Request;

    fn deref(&self) -> &Request {
        &self.0
    }
}

impl Request {
    /// Parses a request from JSON; errors name the offending field.
    pub fn from_json(text: &str) -> Result<Request, InputError> {
        let req: Request = parse_json("request", text)?;
        req.validate()?;
        Ok(req)
    }

    /// Checks what serde cannot, so that every text a pack sees or the
    /// trace log stores is well formed: no NUL character in any field
    /// (PostgreSQL cannot store one), identifiers within
    /// [`MAX_ID_CHARS`] (they are indexed), at most [`MAX_LIST`] roles and
    /// tags, `args` and `context` JSON objects (or absent), and the currency
    /// an ISO 4217 code (three upper case ASCII letters), so packs never see
    /// `"EUR "` or `"eur"`.
    pub fn validate(&self) -> Result<(), InputError> {
        let p = &self.principal;
        let a = &self.action;
        text("id", &self.id, MAX_ID_CHARS)?;
        text("tenant", &self.tenant, MAX_ID_CHARS)?;
        text("principal.agent", &p.agent, MAX_ID_CHARS)?;
        if let Some(o) = &p.on_behalf_of {
            text("principal.on_behalf_of", o, MAX_ID_CHARS)?;
        }
        list("principal.roles", &p.roles)?;
        text("action.tool", &a.tool, MAX_ID_CHARS)?;
        if let Some(c) = &a.counterparty {
            text("action.counterparty", c, MAX_TEXT_CHARS)?;
        }
        list("action.tags", &a.tags)?;
        object("action.args", &a.args)?;
        object("context", &self.context)?;
        if let Some(m) = &a.amount
            && !(-MAX_MINOR_UNITS..=MAX_MINOR_UNITS).contains(&m.minor_units)
        {
            return Err(field(
                "action.amount.minor_units",
                format!(
                    "{} is outside ±{MAX_MINOR_UNITS} (2^53 - 1: JSON numbers beyond it are not exact)",
                    m.minor_units
                ),
            ));
        }
        if let Some(m) = &a.amount
            && (m.currency.len() != 3 || !m.currency.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(field(
                "action.amount.currency",
                format!(
                    "`{}` is not an ISO 4217 currency code (three upper case letters)",
                    m.currency.escape_debug()
                ),
            ));
        }
        Ok(())
    }

    /// The request in the WIT shape, with `args` and `context` as JSON text.
    pub(crate) fn to_wit(&self) -> wit::Request {
        let a = &self.action;
        wit::Request {
            id: self.id.clone(),
            tenant: self.tenant.clone(),
            principal: wit::Principal {
                agent: self.principal.agent.clone(),
                on_behalf_of: self.principal.on_behalf_of.clone(),
                roles: self.principal.roles.clone(),
            },
            action: wit::Action {
                tool: a.tool.clone(),
                safety_class: match a.safety_class {
                    SafetyClass::ReadOnly => wit::SafetyClass::ReadOnly,
                    SafetyClass::Write => wit::SafetyClass::Write,
                    SafetyClass::Financial => wit::SafetyClass::Financial,
                    SafetyClass::Destructive => wit::SafetyClass::Destructive,
                    SafetyClass::External => wit::SafetyClass::External,
                },
                amount: a.amount.as_ref().map(|m| wit::Money {
                    minor_units: m.minor_units,
                    currency: m.currency.clone(),
                }),
                counterparty: a.counterparty.clone(),
                tags: a.tags.clone(),
                args: json_text(&a.args),
            },
            context: json_text(&self.context),
        }
    }
}

/// Longest identifier (`id`, `tenant`, agent, tool, roles, tags), in
/// characters (at most 1 KiB of UTF-8: well within an index entry).
pub const MAX_ID_CHARS: usize = 256;
/// Longest free text field (`action.counterparty`), in characters.
pub const MAX_TEXT_CHARS: usize = 1024;
/// Largest `action.amount.minor_units` in magnitude: 2^53 - 1, the
/// largest integer every JSON reader holds exactly (RFC 7493); the trace
/// log's RFC 8785 encoding writes numbers as IEEE doubles.
pub const MAX_MINOR_UNITS: i64 = 9_007_199_254_740_991;
/// Most roles, and most tags, in one request.
pub const MAX_LIST: usize = 64;

fn field(name: &str, message: String) -> InputError {
    InputError::Field {
        what: "request",
        field: name.to_owned(),
        message,
    }
}

/// A text field: no NUL, at most `max` characters.
fn text(name: &str, value: &str, max: usize) -> Result<(), InputError> {
    if value.contains('\0') {
        return Err(field(name, "contains a NUL character".to_owned()));
    }
    // Bytes bound characters from above: count only when it matters.
    if value.len() > max {
        let chars = value.chars().count();
        if chars > max {
            return Err(field(
                name,
                format!("is {chars} characters long; at most {max} are allowed"),
            ));
        }
    }
    Ok(())
}

fn list(name: &str, values: &[String]) -> Result<(), InputError> {
    if values.len() > MAX_LIST {
        return Err(field(
            name,
            format!(
                "holds {} entries; at most {MAX_LIST} are allowed",
                values.len()
            ),
        ));
    }
    for (i, v) in values.iter().enumerate() {
        text(&format!("{name}[{i}]"), v, MAX_ID_CHARS)?;
    }
    Ok(())
}

/// `args` and `context`: a JSON object, or absent (`null`).
fn object(name: &str, value: &Value) -> Result<(), InputError> {
    match value {
        Value::Object(_) | Value::Null => Ok(()),
        other => Err(field(
            name,
            format!("must be a JSON object, not {}", kind_of(other)),
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn json_text(v: &Value) -> String {
    if v.is_null() {
        "{}".to_owned()
    } else {
        v.to_string()
    }
}

/// Parses JSON into `T`, naming the offending field on error.
///
/// Parsed once without path tracking (it costs ~5% of a decision's CPU);
/// only text that fails is parsed again with it, to name the field.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, InputError> {
    if let Ok(value) = T::deserialize(&mut serde_json::Deserializer::from_str(text)) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() || field == "." {
            InputError::Syntax {
                what,
                format: "JSON",
                message: inner.to_string(),
            }
        } else {
            InputError::Field {
                what,
                field,
                message: strip_position(&inner.to_string()),
            }
        }
    })
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_type_names_the_field() {
        let err = Request::from_json(
            r#"{"id":"r","tenant":"t","principal":{"agent":"a"},
                "action":{"tool":"x","safety_class":"write","amount":{"minor_units":"ten","currency":"EUR"}}}"#,
        )
        .err();
        let Some(InputError::Field { field, message, .. }) = err else {
            panic!("expected a field error, got {err:?}");
        };
        assert_eq!(field, "action.amount.minor_units");
        assert!(message.contains("invalid type"), "{message}");
    }

    #[test]
    fn unknown_fields_and_classes_are_rejected() {
        let err = Request::from_json(
            r#"{"id":"r","tenant":"t","principal":{"agent":"a"},"action":{"tool":"x","safety_class":"harmless"}}"#,
        );
        assert!(
            matches!(err, Err(InputError::Field { ref field, .. }) if field == "action.safety_class")
        );
        let err = Request::from_json(
            r#"{"id":"r","tenant":"t","principal":{"agent":"a","admin":true},"action":{"tool":"x","safety_class":"write"}}"#,
        );
        assert!(
            matches!(err, Err(InputError::Field { ref message, .. }) if message.contains("unknown field `admin`"))
        );
    }

    #[test]
    fn currencies_must_be_iso_codes() {
        for bad in ["EUR ", " EUR", "eur", "EURO", ""] {
            let text = format!(
                r#"{{"id":"r","tenant":"t","principal":{{"agent":"a"}},"action":{{"tool":"x","safety_class":"financial","amount":{{"minor_units":1,"currency":"{bad}"}}}}}}"#
            );
            let err = Request::from_json(&text);
            assert!(
                matches!(err, Err(InputError::Field { ref field, .. }) if field == "action.amount.currency"),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn bad_json_is_a_syntax_error() {
        assert!(matches!(
            Request::from_json("{\"id\": "),
            Err(InputError::Syntax { .. })
        ));
    }

    fn request(edit: impl FnOnce(&mut Value)) -> Result<Request, InputError> {
        let mut v: Value = serde_json::from_str(
            r#"{"id":"r","tenant":"t","principal":{"agent":"a","roles":["x"]},
                "action":{"tool":"x","safety_class":"write","tags":["y"],"counterparty":"c"}}"#,
        )
        .unwrap();
        edit(&mut v);
        Request::from_json(&v.to_string())
    }

    #[track_caller]
    fn refused(err: Result<Request, InputError>, name: &str, says: &str) {
        match err {
            Err(InputError::Field { field, message, .. }) => {
                assert_eq!(field, name, "{message}");
                assert!(message.contains(says), "{message}");
            }
            other => panic!("expected `{name}` to be refused, got {other:?}"),
        }
    }

    #[test]
    fn only_a_request_that_validates_becomes_a_valid_request() {
        // serde alone takes a NUL in the agent; `ValidRequest::new` must not.
        let mut req = request(|_| {}).unwrap();
        req.principal.agent = "a\u{0}b".to_owned();
        refused(
            ValidRequest::new(req).map(ValidRequest::into_inner),
            "principal.agent",
            "NUL",
        );
        let fine = request(|_| {}).unwrap();
        let valid = ValidRequest::new(fine.clone()).unwrap();
        assert_eq!(valid.principal.agent, "a");
        assert_eq!(valid.into_inner().id, fine.id);
    }

    #[test]
    fn nul_characters_are_refused_in_every_text_field() {
        let nul = "a\u{0}b";
        type Set = fn(&mut Value, &str);
        let cases: [(&str, Set); 8] = [
            ("id", |v, s| v["id"] = s.into()),
            ("tenant", |v, s| v["tenant"] = s.into()),
            ("principal.agent", |v, s| v["principal"]["agent"] = s.into()),
            ("principal.on_behalf_of", |v, s| {
                v["principal"]["on_behalf_of"] = s.into()
            }),
            ("principal.roles[0]", |v, s| {
                v["principal"]["roles"][0] = s.into()
            }),
            ("action.tool", |v, s| v["action"]["tool"] = s.into()),
            ("action.counterparty", |v, s| {
                v["action"]["counterparty"] = s.into()
            }),
            ("action.tags[0]", |v, s| v["action"]["tags"][0] = s.into()),
        ];
        for (name, set) in cases {
            refused(request(|v| set(v, nul)), name, "NUL");
            assert!(request(|v| set(v, "fine")).is_ok(), "{name}");
        }
    }

    #[test]
    fn amounts_stay_within_exact_json_integers() {
        let amount = |n: i64| {
            request(move |v| {
                v["action"]["amount"] = serde_json::json!({"minor_units": n, "currency": "EUR"});
            })
        };
        assert!(amount(MAX_MINOR_UNITS).is_ok());
        assert!(amount(-MAX_MINOR_UNITS).is_ok());
        refused(
            amount(MAX_MINOR_UNITS + 1),
            "action.amount.minor_units",
            "2^53",
        );
        refused(amount(i64::MIN), "action.amount.minor_units", "2^53");
    }

    #[test]
    fn a_part_given_as_an_array_is_refused() {
        // serde would read `principal` from an array of its fields.
        let e = request(|v| v["principal"] = serde_json::json!(["a", null, []])).unwrap_err();
        assert!(e.to_string().contains("expected a JSON object"), "{e}");
        let e = request(|v| {
            v["action"]["amount"] = serde_json::json!([100, "EUR"]);
        })
        .unwrap_err();
        assert!(e.to_string().contains("expected a JSON object"), "{e}");
    }

    #[test]
    fn identifiers_and_lists_are_bounded() {
        let long = "x".repeat(MAX_ID_CHARS + 1);
        refused(
            request(|v| v["action"]["tool"] = long.as_str().into()),
            "action.tool",
            "257 characters",
        );
        // Characters, not bytes: 256 four-byte characters are fine.
        assert!(request(|v| v["id"] = "\u{1F600}".repeat(MAX_ID_CHARS).into()).is_ok());
        refused(
            request(|v| v["principal"]["agent"] = long.as_str().into()),
            "principal.agent",
            "at most 256",
        );
        assert!(request(|v| v["id"] = "x".repeat(MAX_ID_CHARS).into()).is_ok());
        let many: Vec<String> = (0..=MAX_LIST).map(|i| format!("t{i}")).collect();
        refused(
            request(|v| v["action"]["tags"] = many.clone().into()),
            "action.tags",
            "65 entries",
        );
    }

    #[test]
    fn args_and_context_must_be_objects() {
        refused(
            request(|v| v["action"]["args"] = "x".into()),
            "action.args",
            "not a string",
        );
        refused(
            request(|v| v["context"] = serde_json::json!([1])),
            "context",
            "not an array",
        );
        refused(
            request(|v| v["context"] = 3.into()),
            "context",
            "not a number",
        );
        assert!(request(|v| v["action"]["args"] = serde_json::json!({"k": "a\u{0}"})).is_ok());
        assert!(request(|v| v["context"] = Value::Null).is_ok());
    }
}
