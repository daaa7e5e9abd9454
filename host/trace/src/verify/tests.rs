//! The chain and the verifier against every kind of tampering, plus the
//! canonical-encoding and hash test vectors the ADR quotes.

use super::*;
use crate::{Chain, EventClass, genesis, verify_ndjson};
use serde_json::json;

fn log(n: u64) -> Vec<Record> {
    let mut c = Chain::new("acme");
    (1..=n)
        .map(|i| {
            c.append(
                1_700_000_000_000 + i as i64,
                EventClass::Financial,
                "decision",
                json!({"verdict": "allow", "amount": i * 100, "note": "ünïcödé €"}),
            )
            .unwrap()
        })
        .collect()
}

fn ndjson(records: &[Record]) -> String {
    records
        .iter()
        .map(|r| r.to_line().unwrap() + "\n")
        .collect()
}

fn key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
}

fn checkpoint(records: &[Record], seq: u64) -> SignedCheckpoint {
    let r = &records[(seq - 1) as usize];
    Checkpoint::new("acme", seq, &parse_hash(&r.hash).unwrap(), 1)
        .sign(&key())
        .unwrap()
}

fn verify(records: &[Record], cp: Option<&SignedCheckpoint>) -> Report {
    let vk = key().verifying_key();
    verify_ndjson(ndjson(records).as_bytes(), "acme", cp.map(|c| (c, &vk)))
}

#[test]
fn rfc8785_vectors() {
    // RFC 8785 section 3.2.2: numbers, string escapes, literals, key order.
    let input = r#"{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}"#;
    let v: serde_json::Value = serde_json::from_str(input).unwrap();
    assert_eq!(
        String::from_utf8(canonical("t", &v).unwrap()).unwrap(),
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
    );
    // Section 3.2.3: keys sorted by UTF-16 code units.
    let sorted: serde_json::Value = serde_json::from_str(
        r#"{"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\ud83d\ude00": 5, "\u0080": 6, "\u00f6": 7}"#,
    )
    .unwrap();
    let text = String::from_utf8(canonical("t", &sorted).unwrap()).unwrap();
    let order: Vec<i64> = serde_json::from_str::<serde_json::Value>(&text)
        .map(|_| {
            let mut found = Vec::new();
            for (i, c) in text.char_indices() {
                if c == ':' {
                    found.push(
                        text[i + 1..]
                            .split([',', '}'])
                            .next()
                            .unwrap()
                            .parse()
                            .unwrap(),
                    );
                }
            }
            found
        })
        .unwrap();
    assert_eq!(order, [2, 4, 6, 7, 1, 5, 3]);
}

#[test]
fn chain_hash_vectors() {
    // Persisted contract: these values must never change (ADR 0008). They were
    // computed independently with Python's hashlib over the same bytes.
    assert_eq!(
        hex::encode(genesis("acme")),
        "f41baf2ffbb0fd876c6694479dcf3b98254fdf4ec30b82888f7dc2445fca8c85"
    );
    let mut c = Chain::new("acme");
    let r = c
        .append(
            1_700_000_000_000,
            EventClass::Admin,
            "tenant-created",
            json!({"id": "acme"}),
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(canonical("event", &r.event).unwrap()).unwrap(),
        r#"{"at_ms":1700000000000,"body":{"id":"acme"},"class":"admin","kind":"tenant-created","seq":1,"tenant":"acme"}"#
    );
    assert_eq!(r.prev, hex::encode(genesis("acme")));
    assert_eq!(
        r.hash,
        "0504a04619aa89b1564729002084ee3554c049e7ae8393ee0a46e842196aa25f"
    );
    assert_ne!(genesis("acme"), genesis("acme2"));
}

#[test]
fn a_clean_log_verifies_with_and_without_a_checkpoint() {
    let l = log(100);
    let r = verify(&l, None);
    assert!(r.ok(), "{r:?}");
    assert_eq!((r.events, r.last_seq), (100, 100));
    assert_eq!(r.head, l[99].hash);
    assert!(verify(&l, Some(&checkpoint(&l, 100))).ok());
    assert!(verify(&l, Some(&checkpoint(&l, 60))).ok());
}

#[test]
fn a_changed_byte_is_found_at_its_event() {
    let mut l = log(100);
    l[36].event.body["amount"] = json!(3701);
    let r = verify(&l, None);
    assert_eq!(r.fault, Some(Fault::Changed { seq: 37 }));
    assert_eq!(r.last_seq, 36);
    // Changing the stored hash instead breaks the next link.
    let mut l = log(100);
    l[36].hash = l[35].hash.clone();
    assert_eq!(verify(&l, None).fault, Some(Fault::Changed { seq: 37 }));
}

#[test]
fn removed_swapped_and_inserted_events_are_found() {
    let l = log(100);
    let mut removed = l.clone();
    removed.remove(36);
    assert_eq!(
        verify(&removed, None).fault,
        Some(Fault::Removed { seq: 37, found: 38 })
    );

    let mut swapped = l.clone();
    swapped.swap(36, 37);
    assert_eq!(verify(&swapped, None).fault.and_then(|f| f.seq()), Some(37));
    // Swapped and renumbered so sequence numbers look right: the links break.
    let mut renumbered = l.clone();
    renumbered.swap(36, 37);
    renumbered[36].event.seq = 37;
    renumbered[37].event.seq = 38;
    assert_eq!(
        verify(&renumbered, None).fault,
        Some(Fault::BrokenLink { seq: 37, prev: 36 })
    );

    let mut inserted = l.clone();
    let mut forged = l[37].clone();
    forged.event.body = json!({"verdict": "allow", "forged": true});
    inserted.insert(37, forged);
    assert_eq!(
        verify(&inserted, None).fault,
        Some(Fault::Changed { seq: 38 })
    );
    let mut dup = l.clone();
    dup.insert(37, l[36].clone());
    assert_eq!(
        verify(&dup, None).fault,
        Some(Fault::OutOfOrder {
            seq: 37,
            expected: 38
        })
    );
}

#[test]
fn a_rewritten_history_needs_the_checkpoint_to_be_caught() {
    let l = log(100);
    let cp = checkpoint(&l, 100);
    // Truncate at 90 and re-append ten forged events with correct hashes.
    let mut c = Chain::resume("acme", 90, parse_hash(&l[89].hash).unwrap());
    let mut forged: Vec<Record> = l[..90].to_vec();
    for i in 91..=100 {
        forged.push(
            c.append(
                i,
                EventClass::Financial,
                "decision",
                json!({"verdict": "allow"}),
            )
            .unwrap(),
        );
    }
    assert!(verify(&forged, None).ok(), "internally consistent");
    assert_eq!(
        verify(&forged, Some(&cp)).fault,
        Some(Fault::HeadMismatch { seq: 100 })
    );
    // Plain truncation.
    assert_eq!(
        verify(&l[..90], Some(&cp)).fault,
        Some(Fault::Truncated { seq: 100, last: 90 })
    );
}

#[test]
fn checkpoints_must_be_signed_by_the_tenant_key_for_the_tenant() {
    let l = log(10);
    let mut cp = checkpoint(&l, 10);
    cp.checkpoint.seq = 9;
    assert_eq!(verify(&l, Some(&cp)).fault, Some(Fault::BadSignature));
    let other = ed25519_dalek::SigningKey::from_bytes(&[8u8; 32]);
    let foreign = Checkpoint::new("acme", 10, &parse_hash(&l[9].hash).unwrap(), 1)
        .sign(&other)
        .unwrap();
    assert_eq!(verify(&l, Some(&foreign)).fault, Some(Fault::BadSignature));
    let beta = Checkpoint::new("beta", 10, &parse_hash(&l[9].hash).unwrap(), 1)
        .sign(&key())
        .unwrap();
    assert_eq!(
        verify(&l, Some(&beta)).fault,
        Some(Fault::CheckpointTenant("beta".into()))
    );
}

#[test]
fn foreign_and_malformed_lines_are_reported() {
    let l = log(5);
    let mut mixed = l.clone();
    let mut b = Chain::new("beta");
    mixed[2] = b.append(1, EventClass::Admin, "x", json!({})).unwrap();
    assert!(matches!(
        verify(&mixed, None).fault,
        Some(Fault::WrongTenant { .. })
    ));
    let text = ndjson(&l[..2]) + "{not json\n" + &ndjson(&l[2..]);
    let r = verify_ndjson(text.as_bytes(), "acme", None);
    assert!(
        matches!(r.fault, Some(Fault::Malformed { line: 3, .. })),
        "{r:?}"
    );
    assert_eq!(r.last_seq, 2);
}

#[test]
fn a_pruned_log_verifies_from_its_checkpoint() {
    let l = log(50);
    let mut v = Verifier::resume("acme", 20, parse_hash(&l[19].hash).unwrap());
    for r in &l[20..] {
        v.push(r).unwrap();
    }
    assert!(v.finish(None).ok());
}

#[test]
fn exports_carry_canonical_bytes_and_nothing_else_verifies() {
    let l = log(3);
    let line = l[0].to_line().unwrap();
    // The line parses back to the same record.
    assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), l[0]);
    assert!(line.contains(r#""event":{"at_ms":"#), "{line}");
    // The same event re-serialized non-canonically (field order, spacing)
    // is not what was hashed.
    let loose = serde_json::to_string(&l[0]).unwrap() + "\n" + &ndjson(&l[1..]);
    assert_eq!(
        verify_ndjson(loose.as_bytes(), "acme", None).fault,
        Some(Fault::Changed { seq: 1 })
    );
    // A duplicated key cannot smuggle a second sequence number past the parser.
    let dup = line.replacen(r#""seq":1,"#, r#""seq":1,"seq":2,"#, 1);
    assert!(matches!(
        verify_ndjson(dup.as_bytes(), "acme", None).fault,
        Some(Fault::Malformed { line: 1, .. })
    ));
}

#[test]
fn assembled_events_are_byte_identical_to_canonical_ones() {
    let body = json!({"z": [1.5, "ü\u{1}"], "a": {"y": null, "b": true}});
    let body_text = String::from_utf8(canonical("b", &body).unwrap()).unwrap();
    let mut a = Chain::new("ac\"me");
    let mut b = Chain::new("ac\"me");
    for i in 0..3 {
        let rec = a
            .append(i, EventClass::ReadOnly, "tool \"x\"", body.clone())
            .unwrap();
        let (seq, prev, hash, text) = b
            .append_canonical(i, EventClass::ReadOnly, "tool \"x\"", &body_text)
            .unwrap();
        assert_eq!(text.as_bytes(), canonical("event", &rec.event).unwrap());
        assert_eq!((seq, prev, hash), (rec.event.seq, rec.prev, rec.hash));
    }
}

#[test]
fn long_exports_verify_across_chunks_and_threads_and_name_the_right_line() {
    // 10 000 lines: three chunks of the parallel reader, faults in the
    // second worker's half of a later chunk.
    let records = log(10_000);
    let text = ndjson(&records);
    let r = verify_ndjson(text.as_bytes(), "acme", None);
    assert!(r.ok(), "{r:?}");
    assert_eq!((r.events, r.last_seq), (10_000, 10_000));
    let mut changed = records.clone();
    changed[6999].event.at_ms += 1;
    let r = verify_ndjson(ndjson(&changed).as_bytes(), "acme", None);
    assert_eq!(r.fault, Some(Fault::Changed { seq: 7000 }));
    assert_eq!(r.last_seq, 6999);
    let mut removed = records.clone();
    removed.remove(8999);
    let r = verify_ndjson(ndjson(&removed).as_bytes(), "acme", None);
    assert_eq!(
        r.fault,
        Some(Fault::Removed {
            seq: 9000,
            found: 9001
        })
    );
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[4500] = "{not json".to_owned();
    let r = verify_ndjson(lines.join("\n").as_bytes(), "acme", None);
    assert!(
        matches!(r.fault, Some(Fault::Malformed { line: 4501, .. })),
        "{r:?}"
    );
}

#[test]
fn hashes_parse_from_hex_in_either_case_and_bad_ones_are_named() {
    let h = link(&genesis("acme"), b"x");
    let text = hex::encode(h);
    assert_eq!(parse_hash(&text).unwrap(), h);
    assert_eq!(parse_hash(&text.to_uppercase()).unwrap(), h);
    for bad in [&text[..62], "zz", &format!("{}g", &text[..63]), ""] {
        let e = parse_hash(bad).unwrap_err();
        assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
    }
}

#[test]
fn records_written_another_way_take_the_general_path_with_the_same_verdict() {
    let l = log(3);
    // Members reordered and spaced: not the exact export shape, same record.
    let mut text = String::new();
    for r in &l {
        let line = r.to_line().unwrap();
        let event = &line[line.find("\"event\":").unwrap() + 8..line.len() - 1];
        text.push_str(&format!(
            "{{ \"hash\": \"{}\", \"event\": {event}, \"prev\": \"{}\" }}\n",
            r.hash, r.prev
        ));
    }
    let r = verify_ndjson(text.as_bytes(), "acme", None);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.last_seq, 3);
    // The exact shape with something after the event is not a record.
    let mut bad = ndjson(&l);
    bad = bad.replacen("}}\n", "} 1}\n", 1);
    let r = verify_ndjson(bad.as_bytes(), "acme", None);
    assert!(
        matches!(r.fault, Some(Fault::Malformed { line: 1, .. })),
        "{r:?}"
    );
}

#[test]
fn event_heads_read_from_the_tail_agree_with_a_full_parse() {
    // Bodies that imitate the tail, kinds and tenants that need escaping
    // (full parse), and the plain shapes the server writes (tail).
    let bodies = [
        json!({"x": ",\"kind\":\"decision\",\"seq\":7,\"tenant\":\"evil\"}"}),
        json!({"kind": "k", "seq": 1, "tenant": "t"}),
        json!("\"}"),
        json!(null),
        json!([1, {"seq": 99}]),
    ];
    let mut texts = Vec::new();
    for (tenant, kind) in [
        ("acme", "decision"),
        ("_fleet", "rollout-step"),
        ("a\"b", "decision"),
        ("acme", "tool \"x\""),
        ("ümlaut", "k\\"),
        ("acme", "line\nbreak"),
    ] {
        let mut c = Chain::new(tenant);
        for body in &bodies {
            let r = c.append(1, EventClass::Admin, kind, body.clone()).unwrap();
            texts.push(String::from_utf8(canonical("event", &r.event).unwrap()).unwrap());
        }
    }
    // Not canonical: spacing, or fields in another order.
    texts.push(
        r#"{"at_ms": 1,"body":{},"class":"admin","kind":"k","seq":3,"tenant":"acme"}"#.into(),
    );
    texts
        .push(r#"{"tenant":"acme","seq":3,"kind":"k","class":"admin","body":{},"at_ms":1}"#.into());
    texts.push(
        r#"{"at_ms":1,"body":{},"class":"admin","kind":"k","seq":03,"tenant":"acme"}"#.into(),
    );
    for text in &texts {
        let fast = EventHead::read(text).map(|h| (h.tenant.into_owned(), h.seq, h.kind));
        let full = serde_json::from_str::<EventHead>(text)
            .map(|h| (h.tenant.into_owned(), h.seq, h.kind))
            .map_err(|e| e.to_string());
        assert_eq!(fast, full, "{text}");
    }
    // The plain shape is read from the tail, even with a body that imitates it.
    let first = &texts[0];
    assert!(EventHead::from_tail(first).is_some(), "{first}");
    assert_eq!(EventHead::read(first).unwrap().tenant, "acme");
    assert_eq!(EventHead::read(first).unwrap().seq, 1);
    // Escaped values take the full parse.
    assert!(EventHead::from_tail(&texts[10]).is_none(), "{}", texts[10]);
}
