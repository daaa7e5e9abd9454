//! Property tests for combining findings and for restrict-only tightening.

use proptest::prelude::*;
use serde_json::json;
use warden_host::{Basis, FindingRecord, Strictness, Verdict, combine, tightens};

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Allow),
        Just(Verdict::Escalate),
        Just(Verdict::Deny)
    ]
}

fn finding(v: Verdict) -> FindingRecord {
    FindingRecord {
        pack: "p".into(),
        version: "1.0.0".into(),
        digest: "sha256:00".into(),
        rule: "r".into(),
        verdict: v,
        pack_verdict: None,
        verdict_by: None,
        reason: String::new(),
        route: None,
        fail_closed: false,
    }
}

proptest! {
    #[test]
    fn any_deny_wins_else_any_escalate_else_allow(
        vs in prop::collection::vec(verdict(), 0..12),
        default in verdict(),
    ) {
        let findings: Vec<_> = vs.iter().copied().map(finding).collect();
        let (v, basis) = combine(&findings, default);
        if vs.is_empty() {
            prop_assert_eq!((v, basis), (default, Basis::DefaultEffect));
        } else if vs.contains(&Verdict::Deny) {
            prop_assert_eq!(v, Verdict::Deny);
        } else if vs.contains(&Verdict::Escalate) {
            prop_assert_eq!(v, Verdict::Escalate);
        } else {
            prop_assert_eq!(v, Verdict::Allow);
        }
        // Order does not matter.
        let mut rev = findings.clone();
        rev.reverse();
        prop_assert_eq!(combine(&rev, default), (v, basis));
    }

    #[test]
    fn lower_accepts_exactly_the_values_at_or_below(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000) {
        prop_assert_eq!(tightens(Strictness::Lower, &json!(a), &json!(b)).is_ok(), b <= a);
        prop_assert_eq!(tightens(Strictness::Higher, &json!(a), &json!(b)).is_ok(), b >= a);
        let (ma, mb) = (format!("{}.{:02} EUR", a / 100, (a % 100).abs()), format!("{}.{:02} EUR", b / 100, (b % 100).abs()));
        if a >= 0 && b >= 0 {
            prop_assert_eq!(tightens(Strictness::Lower, &json!([ma]), &json!([mb])).is_ok(), b <= a);
        }
    }

    #[test]
    fn list_strictness_is_set_inclusion(
        old in prop::collection::btree_set("[a-e]", 0..5),
        new in prop::collection::btree_set("[a-e]", 0..5),
    ) {
        let (o, n) = (json!(old.iter().collect::<Vec<_>>()), json!(new.iter().collect::<Vec<_>>()));
        prop_assert_eq!(tightens(Strictness::Superset, &o, &n).is_ok(), new.is_superset(&old));
        prop_assert_eq!(tightens(Strictness::Subset, &o, &n).is_ok(), new.is_subset(&old));
        // Keeping a value is never loosening.
        prop_assert!(tightens(Strictness::Superset, &o, &o).is_ok());
        prop_assert!(tightens(Strictness::Subset, &o, &o).is_ok());
    }
}
