//! The web inbox through the router: sign-in, the list, a request with
//! hostile agent-controlled text rendered inert, and votes that need the
//! session's CSRF token and a same-origin POST. (The browser test,
//! `tests/browser/`, drives the same pages in Chromium.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::approval_kit::{one_policy, save};
use crate::harness::*;
use axum::http::{Method, StatusCode, header};
use serde_json::json;
use warden_server::auth::Role;
use warden_testkit::both;

const FORM: &str = "application/x-www-form-urlencoded";

fn html(r: &Resp) -> String {
    String::from_utf8(r.bytes.clone()).unwrap()
}

#[track_caller]
fn hardened(r: &Resp) {
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for d in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(d), "{csp}");
    }
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
}

async fn post_form(
    app: &App,
    path: &str,
    cookie: Option<&str>,
    body: &str,
    extra: &[(&str, &str)],
) -> Resp {
    let cookie = cookie.map(|c| format!("warden_inbox={c}"));
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if let Some(c) = &cookie {
        headers.push(("cookie", c));
    }
    app.call(
        Method::POST,
        path,
        None,
        Some(FORM),
        body.as_bytes().to_vec(),
        &headers,
    )
    .await
}

async fn get_page(app: &App, path: &str, cookie: &str) -> Resp {
    let c = format!("warden_inbox={cookie}");
    app.call(Method::GET, path, None, None, Vec::new(), &[("cookie", &c)])
        .await
}

/// The `csrf` hidden field of a page.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[at..at + 64].to_owned()
}

both!(
    the_inbox_signs_in_shows_hostile_text_inert_and_votes_safely,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        save(
            &app,
            0,
            one_policy(json!([{"approvers": [{"group": "finance"}], "sla": "1h"}])),
        )
        .await;
        // A prompt-injected agent puts markup everywhere it can.
        let mut req = payment("acme", "hostile-1", 450_000);
        req["action"]["tool"] = json!("payments.pay_invoice<img src=x onerror=alert(1)>");
        req["action"]["counterparty"] = json!("javascript:alert(1)");
        req["action"]["args"] = json!({"memo": "<script>alert('pwned')</script>", "link": "<a href=\"javascript:alert(2)\">click</a>"});
        let r = app
            .post(
                "/v1/tenants/acme/evaluate",
                &app.token("acme", &[Role::Runtime]),
                &req,
            )
            .await;
        assert_eq!(r.json["verdict"], "escalate", "{:?}", r.json);
        let id = r.json["approval"]["id"].as_str().unwrap().to_owned();

        // Signed out: the sign-in page, hardened.
        let r = app
            .call(Method::GET, "/inbox", None, None, Vec::new(), &[])
            .await;
        assert_eq!(r.status, StatusCode::OK);
        hardened(&r);
        assert!(html(&r).contains("Sign in"));
        // Tokens that are not an approver's of one tenant do not sign in.
        for bad in [
            "not-a-token".to_owned(),
            app.token("acme", &[Role::Runtime]),
            app.admin(),
        ] {
            let r = post_form(&app, "/inbox/login", None, &format!("token={bad}"), &[]).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
            assert!(r.headers.get(header::SET_COOKIE).is_none());
        }
        let ann = app.token_for("ann", "acme", &[Role::Approver], &["finance"]);
        let r = post_form(&app, "/inbox/login", None, &format!("token={ann}"), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/inbox"] {
            assert!(cookie.contains(attr), "{cookie}");
        }
        assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");
        // A login posted from another site is refused.
        let r = post_form(
            &app,
            "/inbox/login",
            None,
            &format!("token={ann}"),
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        // The list and the request: every agent-controlled text is escaped.
        let r = get_page(&app, "/inbox", &ann).await;
        assert_eq!(r.status, StatusCode::OK);
        let list = html(&r);
        assert!(list.contains(&format!("/inbox/approvals/{id}")), "{list}");
        assert!(list.contains("4,500.00 EUR"));
        assert!(
            list.contains("&#60;img src=x onerror=alert(1)&#62;"),
            "{list}"
        );
        assert!(!list.contains("<img"), "{list}");
        let r = get_page(&app, &format!("/inbox/approvals/{id}"), &ann).await;
        assert_eq!(r.status, StatusCode::OK);
        hardened(&r);
        let page = html(&r);
        assert!(page.contains("&#60;script&#62;alert("), "{page}");
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("href=\"javascript:"), "{page}");
        assert!(
            page.contains("javascript:alert(1)"),
            "the counterparty is shown as text"
        );
        assert_eq!(
            page.matches("<script").count(),
            1,
            "only the inbox's own script: {page}"
        );
        let token = csrf(&page);

        // Votes: never by GET, never without the session's CSRF token or from
        // another origin; with both, recorded and shown.
        let vote = format!("/inbox/approvals/{id}/vote");
        let r = get_page(&app, &vote, &ann).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        for (body, extra) in [
            ("choice=approve&reason=ok".to_owned(), vec![]),
            (
                "choice=approve&reason=ok&csrf=".to_owned() + &"0".repeat(64),
                vec![],
            ),
            (
                format!("choice=approve&reason=ok&csrf={token}"),
                vec![("origin", "https://evil.example")],
            ),
        ] {
            let r = post_form(&app, &vote, Some(&ann), &body, &extra).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{body} {extra:?}");
        }
        let bob = app.token_for("bob", "acme", &[Role::Approver], &["finance"]);
        let r = post_form(
            &app,
            &vote,
            Some(&bob),
            &format!("choice=approve&csrf={token}"),
            &[],
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "ann's CSRF token is not bob's"
        );
        let (rec, _) = warden_server::approvals::service::get(&app.state, "acme", &id)
            .await
            .unwrap();
        assert!(rec.votes.is_empty(), "no refused vote was stored");
        let r = post_form(
            &app,
            &vote,
            Some(&ann),
            &format!("choice=approve&reason=invoice+checked&csrf={token}"),
            &[("host", "localhost"), ("origin", "http://localhost")],
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let r = get_page(&app, &format!("/inbox/approvals/{id}?done=1"), &ann).await;
        let page = html(&r);
        assert!(
            page.contains("Approved") && page.contains("invoice checked"),
            "{page}"
        );
        assert!(!page.contains("id=\"vote\""), "no vote form once resolved");
        let r = get_page(&app, "/inbox", &ann).await;
        assert!(!html(&r).contains(&id), "resolved requests leave the list");

        // Signing out clears the cookie.
        let r = post_form(
            &app,
            "/inbox/logout",
            Some(&ann),
            &format!("csrf={token}"),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(
            r.headers[header::SET_COOKIE]
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        // The script and style are served with the same headers.
        let r = app
            .call(
                Method::GET,
                "/inbox/static/inbox.js",
                None,
                None,
                Vec::new(),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        hardened(&r);
    }
);
