//! # pii-strict
//!
//! A warden policy pack that keeps personal data out of tools that send it
//! outside the organisation or store it.
//!
//! | rule | applies to | verdict |
//! |------|------------|---------|
//! | [`pii-external`](rules::PiiExternal) | `external` tools | deny when a detector finds PII in the arguments |
//! | [`pii-write`](rules::PiiWrite) | `write` tools | escalate (route `privacy`) when a detector finds PII; deny card numbers |
//! | [`pii-tag`](rules::PiiTag) | `external` / `write` tools | deny / escalate requests the runtime tagged `pii` |
//!
//! Other safety classes (`read-only`, `financial`, `destructive`) are not
//! this pack's concern: payment tools legitimately carry card numbers and
//! IBANs, and reading data does not disclose it.
//!
//! The detectors ([`detect`]) find e-mail addresses, phone numbers,
//! Luhn-valid payment card numbers, mod-97-valid IBANs and US social
//! security numbers in every string value of a call's JSON arguments. Each
//! string is scanned once, for all enabled detectors, without allocating;
//! a rule stops scanning as soon as its verdict is settled. Reasons name the
//! kind of data and the JSON pointer where it was found, never the value
//! (at most the last four digits of a card or IBAN, two of a phone number).
//!
//! See the crate's `README.md` for parameters, strictness and the
//! detectors' heuristics.

pub mod detect;
pub mod rules;
mod walk;

pub use rules::{PiiExternal, PiiTag, PiiWrite};

warden_sdk::pack! {
    name: "pii-strict",
    summary: "Keeps e-mail addresses, phone numbers, card numbers, IBANs and SSNs out of external and write tools",
    rules: [PiiExternal, PiiWrite, PiiTag],
}
