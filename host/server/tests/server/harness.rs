//! The server tests' harness: `warden-testkit`'s in-process control plane
//! ([`App`]; tests use `warden_testkit::both!`), and the CLI run against an
//! app's database.

pub use warden_testkit::app::{App, Backend, Resp, digest, payment, shared};
pub use warden_testkit::pg::{PgDb, admin_url as pg_admin_url};

/// Runs the `warden` CLI against the app's database (off the async threads:
/// it starts its own runtime).
pub async fn cli(app: &App, args: &[&str]) -> (u8, String, String) {
    let mut full: Vec<String> = vec![
        "warden".into(),
        "--cache-dir".into(),
        shared().cache.display().to_string(),
    ];
    full.extend(args.iter().map(|s| s.to_string()));
    match &app.pg {
        Some(pg) => full.extend(["--database-url".into(), pg.url.clone()]),
        None => full.extend(["--data-dir".into(), app.data.path().display().to_string()]),
    }
    tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = warden_cli::run(full, &mut out, &mut err);
            (
                code,
                String::from_utf8(out).unwrap(),
                String::from_utf8(err).unwrap(),
            )
        })
        .join()
        .unwrap()
    })
    .await
    .unwrap()
}
