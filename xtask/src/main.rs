//! `cargo xtask`: build the packs, run the demo, run every check.
//!
//! - `cargo xtask packs`: builds every pack for `wasm32-wasip2` into `target/packs/<name>.wasm`.
//! - `cargo xtask serve [-- ARGS]`: builds the packs and the `warden` binary, then runs
//!   `warden serve` on the embedded default with a seeded `demo` tenant and prints a `curl`.
//! - `cargo xtask test`: builds the packs, fmt check, clippy with `-D warnings`, every test, the
//!   embedding example, and the property-based API test (schemathesis, both backends).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

const PACKS: &[&str] = &["treasury", "pii-strict", "external-tools-untrusted"];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root()?;
    match args.first().map(String::as_str) {
        Some("packs") => packs(&root).map(|_| ()),
        Some("serve") => {
            let extra: Vec<String> = args[1..].iter().filter(|a| *a != "--").cloned().collect();
            serve(&root, &extra)
        }
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

fn serve(root: &Path, extra: &[String]) -> Result<()> {
    packs(root)?;
    run(cargo().current_dir(root).args([
        "build",
        "--release",
        "-p",
        "warden-host",
        "--bin",
        "warden",
    ]))?;
    let warden = root.join("target").join("release").join("warden");
    let mut cmd = Command::new(&warden);
    cmd.current_dir(root)
        .arg("serve")
        .arg("--builtin-packs")
        .arg(root.join("target").join("packs"))
        .arg("--seed-demo")
        .args(extra)
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("cannot run {cmd:?}"))?;
    let stdout = child.stdout.take().context("no stdout from warden serve")?;
    let mut token = None;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut take_token = false;
    for line in lines.by_ref() {
        let line = line?;
        println!("{line}");
        if take_token {
            token = Some(line.trim().to_owned());
            take_token = false;
        }
        if line.starts_with("demo tenant token") {
            take_token = true;
        }
        if let Some(addr) = line.strip_prefix("warden listening on ") {
            let token = token.as_deref().unwrap_or("$TOKEN");
            let request = root
                .join("host")
                .join("examples")
                .join("requests")
                .join("02-large-payment.json");
            println!(
                "\nGet a decision:\n  curl -s {addr}/v1/tenants/demo/evaluate \\\n    -H 'authorization: Bearer {token}' \\\n    -H 'content-type: application/json' \\\n    -d @{}\n\nAPI document: {addr}/openapi.json   Stop with Ctrl-C.",
                request.display()
            );
            break;
        }
    }
    for line in lines {
        println!("{}", line?);
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("warden serve exited with {status}");
    }
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
    api_test(root, &target)
}

/// The property-based API test: schemathesis (in a virtualenv under
/// `target/`, made here if missing) against `warden serve` on SQLite and
/// PostgreSQL (tests/api/run.py), with the `warden` binary that
/// `cargo test --workspace` built for the integration tests (a
/// `cargo build -p warden-host` would resolve features for one package and
/// rebuild wasmtime).
fn api_test(root: &Path, target: &Path) -> Result<()> {
    let warden = target.join("debug").join("warden");
    if !warden.exists() {
        bail!(
            "{} is missing: `cargo test --workspace` builds it",
            warden.display()
        );
    }
    let venv = target.join("api-venv");
    let bin = venv.join("bin");
    if !bin.join("st").exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    run(Command::new(bin.join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(root.join("tests").join("api").join("requirements.txt")))?;
    run(Command::new(bin.join("python"))
        .current_dir(root)
        .arg(root.join("tests").join("api").join("run.py"))
        .arg("--warden")
        .arg(&warden)
        .arg("--packs")
        .arg(root.join("target").join("packs"))
        .arg("--st")
        .arg(bin.join("st")))
}
