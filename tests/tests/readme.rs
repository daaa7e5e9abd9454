//! The README's pack walk-through is the crate in `examples/no-friday-deploys`;
//! this keeps the two from drifting apart.

fn block_after(readme: &str, marker: &str) -> String {
    let start = readme
        .find(marker)
        .unwrap_or_else(|| panic!("README lacks `{marker}`"));
    let body = &readme[start + marker.len()..];
    let body = body.strip_prefix('\n').unwrap_or(body);
    let end = body.find("```").unwrap_or(body.len());
    body[..end].to_owned()
}

#[test]
fn the_readme_walk_through_is_the_example_crate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = root.join("examples/no-friday-deploys");
    let lib = std::fs::read_to_string(example.join("src/lib.rs")).unwrap();
    assert_eq!(
        block_after(&readme, "// examples/no-friday-deploys/src/lib.rs"),
        lib,
        "README's lib.rs block differs from examples/no-friday-deploys/src/lib.rs"
    );
    let manifest = std::fs::read_to_string(example.join("Cargo.toml")).unwrap();
    assert_eq!(
        block_after(
            &readme,
            "# examples/no-friday-deploys/Cargo.toml  (a workspace member)"
        ),
        manifest
    );
}

#[test]
fn the_walk_through_pack_builds_inspects_and_evaluates() {
    let pack = warden_testkit::pack_path("no-friday-deploys");
    let pack = pack.to_str().unwrap();
    let run = |args: &[&str]| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = warden_cli::run(args.to_vec(), &mut out, &mut err);
        (code, String::from_utf8_lossy(&out).into_owned())
    };
    let (code, out) = run(&["warden", "--no-cache", "pack", "inspect", pack]);
    assert_eq!(code, 0);
    assert!(out.starts_with("no-friday-deploys@0.1.0"), "{out}");
    assert!(out.contains("prod-deploys"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let req = dir.path().join("req.json");
    let write = |args: &str| {
        std::fs::write(
            &req,
            format!(
                r#"{{"id": "r1", "tenant": "acme", "principal": {{"agent": "release-bot"}},
                    "action": {{"tool": "deploy.service", "safety_class": "write", "args": {args}}}}}"#
            ),
        )
        .unwrap();
    };
    let eval = || {
        run(&[
            "warden",
            "--no-cache",
            "eval",
            "--pack",
            pack,
            "--request",
            req.to_str().unwrap(),
        ])
    };
    write(r#"{"env": "prod"}"#);
    assert_eq!(eval().0, 1, "unreviewed deploy to prod is denied");
    write(r#"{"env": "prod", "reviewed": true}"#);
    let (code, out) = eval();
    assert_eq!(code, 2, "reviewed deploy to prod is escalated: {out}");
    assert!(out.contains("release-managers"), "{out}");
    write(r#"{"env": "staging"}"#);
    assert_eq!(eval().0, 1, "nothing applied: default effect deny");
}
