//! Built-in rules through the engine: treasury.

use super::*;

#[test]
fn treasury_amount_limit() {
    let c = Both::new(&TREASURY, defaults());
    let d = c.eval(&pay(12_500_00, "EUR"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/amount-limit",
        Verdict::Deny,
        "12500.00 EUR exceeds the limit of 10000.00 EUR",
    );
    // One minor unit over the limit denies; exactly at the limit passes
    // (and the approval threshold escalates instead).
    let d = c.eval(&pay(10_000_01, "EUR"));
    fired(
        &d,
        "treasury/amount-limit",
        Verdict::Deny,
        "10000.01 EUR exceeds the limit of 10000.00 EUR",
    );
    let d = c.eval(&pay(10_000_00, "EUR"));
    silent(&d, "amount-limit");
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    // Each currency has its own limit.
    let d = c.eval(&pay(8_000_01, "GBP"));
    fired(
        &d,
        "treasury/amount-limit",
        Verdict::Deny,
        "8000.01 GBP exceeds the limit of 8000.00 GBP",
    );
    silent(&c.eval(&pay(9_000_00, "USD")), "amount-limit");
    // Refunds count by their size.
    let refund = payment(
        "payments.refund",
        "financial",
        Some((-12_500_00, "EUR")),
        Some("ACME GmbH"),
    );
    fired(
        &c.eval(&refund),
        "treasury/amount-limit",
        Verdict::Deny,
        "a refund/reversal of 12500.00 EUR exceeds the limit of 10000.00 EUR",
    );
    // A currency without a limit is escalated to finance.
    let d = c.eval(&pay(500_000, "JPY"));
    let f = fired(
        &d,
        "treasury/amount-limit",
        Verdict::Escalate,
        "no limit is configured for JPY, so 500000 JPY cannot be checked against one",
    );
    assert_eq!(f.route.as_deref(), Some("finance"));
    // Reading a balance moves no money, whatever amount it carries.
    let balance = payment(
        "treasury.get_balance",
        "read-only",
        Some((50_000_00, "EUR")),
        None,
    );
    nothing_applies(&c.eval(&balance));

    // A layer lowers the limit and lets currencies without one pass.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"amount-limit": {"params": {"max": ["50.00 EUR"], "unknown_currency": "pass"}}}),
        ),
    );
    let d = c.eval(&pay(60_00, "EUR"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/amount-limit",
        Verdict::Deny,
        "60.00 EUR exceeds the limit of 50.00 EUR",
    );
    nothing_applies(&c.eval(&pay(50_00, "EUR")));
    // 20000 USD is over the default USD limit, but USD has no limit now.
    let d = c.eval(&pay(20_000_00, "USD"));
    silent(&d, "amount-limit");
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);

    // `unknown_currency: deny` refuses what cannot be checked.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"amount-limit": {"params": {"max": ["50.00 EUR"], "unknown_currency": "deny"}}}),
        ),
    );
    let d = c.eval(&pay(1_00, "USD"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/amount-limit",
        Verdict::Deny,
        "no limit is configured for USD, so 1.00 USD cannot be checked against one",
    );

    // Disabled, the limit no longer denies; the threshold still escalates.
    let c = Both::new(
        &TREASURY,
        fleet("treasury", json!({"amount-limit": {"enabled": false}})),
    );
    let d = c.eval(&pay(12_500_00, "EUR"));
    silent(&d, "amount-limit");
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
}

#[test]
fn treasury_approval_threshold() {
    let c = Both::new(&TREASURY, defaults());
    let d = c.eval(&pay(1_000_01, "EUR"));
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    let f = fired(
        &d,
        "treasury/approval-threshold",
        Verdict::Escalate,
        "1000.01 EUR is above the approval threshold of 1000.00 EUR",
    );
    assert_eq!(f.route.as_deref(), Some("finance"));
    nothing_applies(&c.eval(&pay(1_000_00, "EUR")));
    fired(
        &c.eval(&pay(900_00, "GBP")),
        "treasury/approval-threshold",
        Verdict::Escalate,
        "900.00 GBP is above the approval threshold of 800.00 GBP",
    );
    let refund = payment(
        "payments.refund",
        "financial",
        Some((-5_000_00, "EUR")),
        Some("ACME GmbH"),
    );
    let d = c.eval(&refund);
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    fired(
        &d,
        "treasury/approval-threshold",
        Verdict::Escalate,
        "a refund/reversal of 5000.00 EUR is above the approval threshold of 1000.00 EUR",
    );

    // A layer lowers the threshold and routes to the treasury desk; USD has
    // no threshold any more.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"approval-threshold": {"params": {"threshold": ["100.00 EUR"], "route": "treasury-desk"}}}),
        ),
    );
    let d = c.eval(&pay(200_00, "EUR"));
    verdict_and_routes(&d, Verdict::Escalate, &["treasury-desk"]);
    fired(
        &d,
        "treasury/approval-threshold",
        Verdict::Escalate,
        "200.00 EUR is above the approval threshold of 100.00 EUR",
    );
    nothing_applies(&c.eval(&pay(5_000_00, "USD")));

    // An empty route escalates without a route hint.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"approval-threshold": {"params": {"route": ""}}}),
        ),
    );
    let d = c.eval(&pay(5_000_00, "EUR"));
    verdict_and_routes(&d, Verdict::Escalate, &[]);
    let f = fired(
        &d,
        "treasury/approval-threshold",
        Verdict::Escalate,
        "5000.00 EUR is above the approval threshold of 1000.00 EUR",
    );
    assert_eq!(f.route, None);

    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"approval-threshold": {"enabled": false}}),
        ),
    );
    nothing_applies(&c.eval(&pay(5_000_00, "EUR")));
}

#[test]
fn treasury_counterparty_blocklist() {
    // The default blocklist is empty.
    let c = Both::new(&TREASURY, defaults());
    nothing_applies(&c.eval(&pay_to(Some("Evil Corp"))));

    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"counterparty-blocklist": {"params": {"blocked": ["Evil Corp", "*sanctioned*"]}}}),
        ),
    );
    let d = c.eval(&pay_to(Some("  evil   CORP ")));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/counterparty-blocklist",
        Verdict::Deny,
        "counterparty `evil CORP` is blocked (matches blocklist entry `Evil Corp`)",
    );
    let d = c.eval(&pay_to(Some("Acme Sanctioned Holdings")));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/counterparty-blocklist",
        Verdict::Deny,
        "counterparty `Acme Sanctioned Holdings` is blocked (matches blocklist entry `*sanctioned*`)",
    );
    // Entries without wildcards match whole names only.
    nothing_applies(&c.eval(&pay_to(Some("Evil Corporation"))));
    nothing_applies(&c.eval(&pay_to(None)));
    // Not a payment: a balance lookup naming a blocked counterparty.
    let lookup = payment("treasury.get_balance", "read-only", None, Some("Evil Corp"));
    nothing_applies(&c.eval(&lookup));
}

#[test]
fn treasury_counterparty_allowlist() {
    // Off by default.
    let c = Both::new(&TREASURY, defaults());
    nothing_applies(&c.eval(&pay_to(Some("Unknown Ltd"))));
    nothing_applies(&c.eval(&pay_to(None)));

    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"counterparty-allowlist": {"enabled": true,
                   "params": {"allowed": ["ACME GmbH", "*@suppliers.example.com"]}}}),
        ),
    );
    nothing_applies(&c.eval(&pay_to(Some(" acme   GMBH "))));
    nothing_applies(&c.eval(&pay_to(Some("billing@suppliers.example.com"))));
    let d = c.eval(&pay_to(Some("Other Ltd")));
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    fired(
        &d,
        "treasury/counterparty-allowlist",
        Verdict::Escalate,
        "counterparty `Other Ltd` is not on the counterparty allowlist",
    );
    let d = c.eval(&pay_to(None));
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    fired(
        &d,
        "treasury/counterparty-allowlist",
        Verdict::Escalate,
        "`payments.pay_invoice` is a payment but names no counterparty, so it cannot be checked against the counterparty allowlist",
    );

    // `unknown: deny` denies instead.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"counterparty-allowlist": {"enabled": true,
                   "params": {"allowed": ["ACME GmbH"], "unknown": "deny"}}}),
        ),
    );
    let d = c.eval(&pay_to(Some("Other Ltd")));
    verdict_and_routes(&d, Verdict::Deny, &[]);
    fired(
        &d,
        "treasury/counterparty-allowlist",
        Verdict::Deny,
        "counterparty `Other Ltd` is not on the counterparty allowlist",
    );
    nothing_applies(&c.eval(&pay_to(Some("ACME GmbH"))));

    // Enabled with an empty allowlist, every payment is escalated.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"counterparty-allowlist": {"enabled": true}}),
        ),
    );
    let d = c.eval(&pay_to(Some("ACME GmbH")));
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    fired(
        &d,
        "treasury/counterparty-allowlist",
        Verdict::Escalate,
        "counterparty `ACME GmbH` is not on the counterparty allowlist (the allowlist is empty)",
    );
}

#[test]
fn treasury_currency_allowlist() {
    let c = Both::new(&TREASURY, defaults());
    let d = c.eval(&pay(500_000, "JPY"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/currency-allowlist",
        Verdict::Deny,
        "500000 JPY is in currency `JPY`, which is not allowed (allowed: EUR, USD, GBP, CHF)",
    );
    nothing_applies(&c.eval(&pay(100_00, "CHF")));

    // A layer replaces the list; codes may be written in any case.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"currency-allowlist": {"params": {"currencies": ["eur", "jpy"]}}}),
        ),
    );
    let d = c.eval(&pay(500_000, "JPY"));
    silent(&d, "currency-allowlist");
    // JPY has no amount limit, so it is escalated rather than denied.
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    fired(&d, "treasury/amount-limit", Verdict::Escalate, "JPY");
    let d = c.eval(&pay(100_00, "USD"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/currency-allowlist",
        Verdict::Deny,
        "100.00 USD is in currency `USD`, which is not allowed (allowed: EUR, JPY)",
    );

    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"currency-allowlist": {"enabled": false}}),
        ),
    );
    let d = c.eval(&pay(500_000, "JPY"));
    silent(&d, "currency-allowlist");
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
}

#[test]
fn treasury_non_positive_amount() {
    let c = Both::new(&TREASURY, defaults());
    let d = c.eval(&pay(0, "EUR"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/non-positive-amount",
        Verdict::Deny,
        "the amount 0.00 EUR is zero; `payments.pay_invoice` must move a positive amount \
         (only refund tools may carry negative amounts)",
    );
    fired(
        &c.eval(&pay(-5, "EUR")),
        "treasury/non-positive-amount",
        Verdict::Deny,
        "the amount -0.05 EUR is negative",
    );
    nothing_applies(&c.eval(&pay(1, "EUR")));
    // Refund tools may carry negative amounts, but still need one.
    let refund = |amount| payment("payments.refund", "financial", amount, Some("ACME GmbH"));
    nothing_applies(&c.eval(&refund(Some((-50_00, "EUR")))));
    fired(
        &c.eval(&refund(None)),
        "treasury/non-positive-amount",
        Verdict::Deny,
        "`payments.refund` is a payment but carries no amount, so its size cannot be checked",
    );
    let no_amount = payment("payments.pay_invoice", "financial", None, Some("ACME GmbH"));
    fired(
        &c.eval(&no_amount),
        "treasury/non-positive-amount",
        Verdict::Deny,
        "`payments.pay_invoice` is a payment but carries no amount",
    );
    // The broad default tool patterns catch `drive.transfer_ownership`
    // (documented); read-only calls are never payments.
    let transfer = |class| payment("drive.transfer_ownership", class, None, None);
    let d = c.eval(&transfer("write"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/non-positive-amount",
        Verdict::Deny,
        "`drive.transfer_ownership` is a payment but carries no amount",
    );
    nothing_applies(&c.eval(&transfer("read-only")));

    // Layers: no amount required; no refund exemption; narrower tools.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"non-positive-amount": {"params": {"require_amount": false}}}),
        ),
    );
    nothing_applies(&c.eval(&no_amount));
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"non-positive-amount": {"params": {"exempt_tools": []}}}),
        ),
    );
    fired(
        &c.eval(&refund(Some((-50_00, "EUR")))),
        "treasury/non-positive-amount",
        Verdict::Deny,
        "the amount -50.00 EUR is negative; `payments.refund` must move a positive amount",
    );
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"non-positive-amount": {"params": {"tools": ["payments.*"]}}}),
        ),
    );
    nothing_applies(&c.eval(&transfer("write")));
    // Financial calls are payments whatever their tool name.
    fired(
        &c.eval(&payment(
            "shop.checkout",
            "financial",
            Some((0, "EUR")),
            None,
        )),
        "treasury/non-positive-amount",
        Verdict::Deny,
        "the amount 0.00 EUR is zero; `shop.checkout` must move a positive amount",
    );
}

// ---------------------------------------------------------------- pii-strict
