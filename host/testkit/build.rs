//! Builds the built-in packs and the hostile fixture packs for
//! `wasm32-wasip2` from source, so tests never use checked-in binaries.
//! Output: `target/wasm-build/out/<name>.wasm`; the directory is exported to
//! the crate through `WARDEN_PACKS_DIR` (`warden_testkit::packs::PACKS_DIR`).

use std::path::{Path, PathBuf};
use std::process::Command;

const PACKS: &[(&str, &str)] = &[
    ("treasury", "treasury"),
    ("pii-strict", "pii_strict"),
    ("external-tools-untrusted", "external_tools_untrusted"),
    ("no-friday-deploys", "no_friday_deploys"),
    ("fixture-hostile", "fixture_hostile"),
    ("fixture-clock-user", "fixture_clock_user"),
    ("fixture-dup-rules", "fixture_dup_rules"),
    ("fixture-rollout-v1", "fixture_rollout_v1"),
    ("fixture-rollout-v2", "fixture_rollout_v2"),
    ("fixture-rollout-v3", "fixture_rollout_v3"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    // host/testkit -> the workspace root.
    let root = manifest
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for dir in [
        "guest-sdk",
        "wit",
        "packs",
        "tests/fixtures",
        "Cargo.lock",
        ".cargo",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let target_dir = root.join("target").join("wasm-build");
    let out = target_dir.join("out");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "pack"])
        .arg("--target-dir")
        .arg(&target_dir);
    for (pkg, _) in PACKS {
        cmd.args(["-p", pkg]);
    }
    // Do not leak the outer build's flags, wrappers or target into the wasm build.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_")
            && key != "CARGO_HOME"
            && key != "CARGO_NET_OFFLINE"
            && key != "CARGO_REGISTRIES_CRATES_IO_PROTOCOL"
            || key == "RUSTFLAGS"
            || key == "RUSTC_WRAPPER"
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key == "RUSTC"
            || key == "RUSTDOC"
        {
            cmd.env_remove(key);
        }
    }
    let status = cmd.status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "building the packs for wasm32-wasip2 failed ({s}); is the target installed? `rustup target add wasm32-wasip2`"
        ),
        Err(e) => panic!("cannot run cargo to build the packs: {e}"),
    }
    if let Err(e) = std::fs::create_dir_all(&out) {
        panic!("cannot create `{}`: {e}", out.display());
    }
    let built = target_dir.join("wasm32-wasip2").join("pack");
    for (pkg, file) in PACKS {
        let name = pkg.strip_prefix("fixture-").unwrap_or(pkg);
        let from = built.join(format!("{file}.wasm"));
        let to = out.join(format!("{name}.wasm"));
        if let Err(e) = std::fs::copy(&from, &to) {
            panic!(
                "cannot copy `{}` to `{}`: {e}",
                from.display(),
                to.display()
            );
        }
    }
    println!("cargo:rustc-env=WARDEN_PACKS_DIR={}", out.display());
}
