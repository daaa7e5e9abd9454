//! Serde helpers that read a struct only from a JSON object. serde's
//! derived structs also read JSON arrays (fields in order), so
//! `{"retention": [null, null]}` would be taken as a retention setting and
//! `"principal": ["bot", null, []]` as a principal; the API documents
//! objects, and a body that does not match the document is refused. Use as
//! `#[serde(deserialize_with = "warden_host::json_object::object")]` (or
//! `optional`, `each`) on struct-typed fields.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};
use std::fmt;
use std::marker::PhantomData;

/// A `T` read only from a map (a JSON object).
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(PhantomData)).map(Obj)
    }
}

/// A struct field that must be a JSON object.
pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Obj::deserialize(d).map(|o| o.0)
}

/// An optional struct field: a JSON object, `null` or absent (with
/// `#[serde(default)]`).
pub fn optional<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<Obj<T>>::deserialize(d).map(|o| o.map(|o| o.0))
}

/// A list of structs, each a JSON object.
pub fn each<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Obj<T>>::deserialize(d).map(|v| v.into_iter().map(|o| o.0).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        a: Option<u32>,
        b: Option<u32>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        #[serde(deserialize_with = "super::object")]
        one: Inner,
        #[serde(default, deserialize_with = "super::optional")]
        maybe: Option<Inner>,
        #[serde(default, deserialize_with = "super::each")]
        many: Vec<Inner>,
    }

    #[test]
    fn objects_are_read_and_arrays_refused() {
        let ok: Outer =
            serde_json::from_str(r#"{"one": {"a": 1}, "maybe": null, "many": [{"b": 2}]}"#)
                .unwrap();
        assert_eq!(
            ok.one,
            Inner {
                a: Some(1),
                b: None
            }
        );
        assert_eq!(ok.maybe, None);
        assert_eq!(
            ok.many,
            vec![Inner {
                a: None,
                b: Some(2)
            }]
        );
        let ok: Outer = serde_json::from_str(r#"{"one": {}, "maybe": {"b": 3}}"#).unwrap();
        assert_eq!(
            ok.maybe,
            Some(Inner {
                a: None,
                b: Some(3)
            })
        );
        // serde alone would take these arrays as structs.
        assert!(serde_json::from_str::<Inner>("[1, 2]").is_ok());
        for bad in [
            r#"{"one": [1, 2]}"#,
            r#"{"one": {}, "maybe": [null, null]}"#,
            r#"{"one": {}, "many": [[1, 2]]}"#,
        ] {
            let e = serde_json::from_str::<Outer>(bad).unwrap_err();
            assert!(
                e.to_string().contains("expected a JSON object"),
                "{bad}: {e}"
            );
        }
    }
}
