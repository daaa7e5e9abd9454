//! `cargo xtask`: build the packs, run the demo, run every check.
//!
//! - `cargo xtask packs`: builds every pack for `wasm32-wasip2` into `target/packs/<name>.wasm`.
//! - `cargo xtask serve`: builds the packs and the `warden` binary, then evaluates sample requests.
//! - `cargo xtask test`: builds the packs, fmt check, clippy with `-D warnings`, every test, the embedding example.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

const PACKS: &[&str] = &["treasury", "pii-strict", "external-tools-untrusted"];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root()?;
    match args.first().map(String::as_str) {
        Some("packs") => packs(&root).map(|_| ()),
        Some("serve") => serve(&root),
        Some("test") => test(&root),
        _ => {
            eprintln!("usage: cargo xtask <packs|serve|test>");
            std::process::exit(2)
        }
    }
}

fn root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Ok(manifest
        .parent()
        .context("xtask has no parent directory")?
        .to_path_buf())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Installs the wasm32-wasip2 target if rustup does not list it.
fn ensure_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match out {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2") => Ok(()),
        Ok(_) => run(Command::new("rustup").args(["target", "add", "wasm32-wasip2"])),
        Err(_) => {
            eprintln!("rustup not found; assuming the wasm32-wasip2 target is installed");
            Ok(())
        }
    }
}

fn packs(root: &Path) -> Result<Vec<PathBuf>> {
    ensure_target()?;
    let target_dir = root.join("target").join("wasm-build");
    let mut cmd = cargo();
    cmd.current_dir(root)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "pack"])
        .arg("--target-dir")
        .arg(&target_dir);
    for p in PACKS {
        cmd.args(["-p", p]);
    }
    run(&mut cmd)?;
    let out = root.join("target").join("packs");
    std::fs::create_dir_all(&out)?;
    let mut paths = Vec::new();
    for p in PACKS {
        let from = target_dir
            .join("wasm32-wasip2")
            .join("pack")
            .join(format!("{}.wasm", p.replace('-', "_")));
        let to = out.join(format!("{p}.wasm"));
        std::fs::copy(&from, &to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        let size = std::fs::metadata(&to)?.len();
        eprintln!("built {} ({size} bytes)", to.display());
        paths.push(to);
    }
    Ok(paths)
}

fn serve(root: &Path) -> Result<()> {
    let packs = packs(root)?;
    run(cargo().current_dir(root).args([
        "build",
        "--release",
        "-p",
        "warden-host",
        "--bin",
        "warden",
    ]))?;
    let warden = root.join("target").join("release").join("warden");
    let requests = root.join("host").join("examples").join("requests");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&requests)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    for request in names {
        let mut cmd = Command::new(&warden);
        cmd.arg("eval").arg("--compact");
        for p in &packs {
            cmd.arg("--pack").arg(p);
        }
        cmd.arg("--settings")
            .arg(root.join("host").join("examples").join("settings.json"))
            .arg("--request")
            .arg(&request);
        let out = cmd
            .output()
            .with_context(|| format!("cannot run {cmd:?}"))?;
        let code = out.status.code().unwrap_or(-1);
        if !(0..=2).contains(&code) {
            bail!(
                "warden eval failed on {}: {}",
                request.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let decision: serde_json::Value =
            serde_json::from_slice(&out.stdout).with_context(|| {
                format!("warden eval printed no decision for {}", request.display())
            })?;
        println!(
            "{:<28} -> {:<8} {}",
            request
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            decision["verdict"].as_str().unwrap_or("?"),
            decision["reason"].as_str().unwrap_or("")
        );
    }
    println!(
        "\nThe packs are in target/packs/. Try:\n  target/release/warden pack inspect target/packs/treasury.wasm"
    );
    Ok(())
}

fn test(root: &Path) -> Result<()> {
    // Builds the packs into target/packs/ (the embedding example loads them).
    packs(root)?;
    run(cargo()
        .current_dir(root)
        .args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().current_dir(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // Unit, integration and doc tests of every crate, including the packs'
    // native tests; the warden-tests build script builds every pack for wasm.
    run(cargo().current_dir(root).args(["test", "--workspace"]))?;
    // `cargo test --workspace` built the examples; run the embedding example's
    // binary directly (a `cargo run -p warden-host` would resolve features for
    // one package and rebuild wasmtime).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    run(Command::new(target.join("debug").join("examples").join("embed")).current_dir(root))?;
    Ok(())
}
