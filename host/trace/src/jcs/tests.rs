//! The encoder against `serde_json_canonicalizer` (the reference it
//! replaced, whose output every chain written so far was hashed over), on
//! generated values and on the shapes warden writes.

use super::to_vec;
use serde::Serialize;
use serde_json::{Map, Number, Value, json};
use std::collections::BTreeMap;

fn reference<T: Serialize>(v: &T) -> String {
    serde_json_canonicalizer::to_string(v).unwrap()
}

fn ours<T: Serialize + ?Sized>(v: &T) -> String {
    String::from_utf8(to_vec(v).unwrap()).unwrap()
}

/// xorshift64*: a fixed sequence, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Characters chosen to hit every ordering and escaping case: ASCII,
/// controls, quotes and backslashes, Latin-1, BMP above the surrogates
/// (U+E000..U+FFFF sort after surrogate pairs in UTF-16), and astral ones.
const CHARS: &[char] = &[
    'a',
    'b',
    'z',
    'A',
    '0',
    '9',
    '_',
    '-',
    ' ',
    '"',
    '\\',
    '/',
    '\n',
    '\t',
    '\r',
    '\u{0}',
    '\u{1f}',
    '\u{7f}',
    '\u{80}',
    'é',
    'ö',
    '€',
    '\u{2028}',
    '\u{e000}',
    '\u{fb33}',
    '\u{ffff}',
    '😀',
    '\u{10000}',
    '\u{10ffff}',
];

fn string(r: &mut Rng) -> String {
    (0..r.below(6))
        .map(|_| CHARS[r.below(CHARS.len() as u64) as usize])
        .collect()
}

fn number(r: &mut Rng) -> Number {
    match r.below(6) {
        0 => Number::from(r.below(1000)),
        1 => Number::from(-(r.below(1 << 40) as i64)),
        2 => Number::from(r.next()), // often beyond 2^53
        3 => Number::from(i64::MIN + r.below(1000) as i64),
        4 => Number::from_f64((r.below(2_000_000) as f64 - 1e6) / 1024.0).unwrap(),
        _ => loop {
            let f = f64::from_bits(r.next());
            if let Some(n) = Number::from_f64(f) {
                break n;
            }
        },
    }
}

fn value(r: &mut Rng, depth: u32) -> Value {
    let pick = if depth >= 4 { r.below(4) } else { r.below(6) };
    match pick {
        0 => Value::Null,
        1 => Value::Bool(r.below(2) == 0),
        2 => Value::Number(number(r)),
        3 => Value::String(string(r)),
        4 => Value::Array((0..r.below(4)).map(|_| value(r, depth + 1)).collect()),
        _ => {
            let mut m = Map::new();
            for _ in 0..r.below(7) {
                m.insert(string(r), value(r, depth + 1));
            }
            Value::Object(m)
        }
    }
}

#[test]
fn generated_values_encode_exactly_as_the_reference() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..20_000 {
        let v = value(&mut r, 0);
        assert_eq!(ours(&v), reference(&v), "value {i}: {v}");
    }
}

/// Fields declared out of key order, nested, with an integer-keyed map.
#[derive(Serialize)]
struct Shape<'a> {
    zeta: u64,
    alpha: &'a str,
    nested: Inner,
    #[serde(rename = "Ärger")]
    umlaut: bool,
    counts: BTreeMap<u32, i64>,
    list: Vec<Inner>,
    maybe: Option<f64>,
    big: i128,
}

#[derive(Serialize)]
struct Inner {
    y: f32,
    x: Vec<u8>,
    w: (),
}

#[test]
fn structs_maps_and_numbers_encode_exactly_as_the_reference() {
    let inner = || Inner {
        y: 0.1,
        x: vec![1, 2],
        w: (),
    };
    let shape = Shape {
        zeta: u64::MAX,
        alpha: "line\nbreak \"quoted\" \u{1}",
        nested: inner(),
        umlaut: true,
        counts: [(10, -1), (9, 2), (100, 3)].into_iter().collect(),
        list: vec![inner(), inner()],
        maybe: Some(1e21),
        big: -(1i128 << 70),
    };
    let text = ours(&shape);
    assert_eq!(text, reference(&shape));
    assert!(
        text.starts_with(r#"{"alpha":"line\nbreak \"quoted\" \u0001","big":"#),
        "{text}"
    );
    // Map keys that are numbers sort as the strings they become.
    assert!(
        text.contains(r#""counts":{"10":-1,"100":3,"9":2}"#),
        "{text}"
    );
}

#[test]
fn decision_shaped_events_encode_exactly_as_the_reference() {
    let event = json!({
        "decision_id": "01a22210-324b-7604-b81a-9872f17358af",
        "request": {"id": "r1", "tenant": "acme",
            "principal": {"agent": "billing-bot", "on_behalf_of": "alice", "roles": ["finance"]},
            "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
                "amount": {"minor_units": 45000, "currency": "EUR"},
                "args": {"invoice": "INV-8", "note": "Grüße 😀", "ratio": 0.75}}},
        "verdict": "escalate", "routes": ["finance"], "findings": [], "layers": [],
    });
    assert_eq!(ours(&event), reference(&event));
}

#[test]
fn duplicate_keys_and_raw_fragments_are_refused() {
    #[derive(Serialize)]
    struct Twice {
        a: u8,
        #[serde(flatten)]
        more: BTreeMap<String, u8>,
    }
    let twice = Twice {
        a: 1,
        more: [("a".to_owned(), 2)].into_iter().collect(),
    };
    let e = to_vec(&twice).unwrap_err().to_string();
    assert!(e.contains("duplicate key"), "{e}");
    let raw = serde_json::value::RawValue::from_string("{\"b\":1,\"a\":2}".to_owned()).unwrap();
    assert!(to_vec(&raw).is_err());
}
