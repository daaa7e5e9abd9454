//! `cargo xtask`: build the packs, run the demo, run every check.
//!
//! - `cargo xtask packs`: builds every pack for `wasm32-wasip2` into `target/packs/<name>.wasm`.
//! - `cargo xtask serve [-- ARGS]`: builds the packs and the `warden` binary, then runs
//!   `warden serve` on the embedded default with a seeded `demo` tenant and prints a `curl`.
//! - `cargo xtask test`: builds the packs, fmt check, every test of every target built once with
//!   clippy's lints denied (`-D warnings`), the embedding example, and the property-based API
//!   test (schemathesis, both backends).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The built-in packs: every folder of `packs/` with a `Cargo.toml` (the
/// list `warden_host::BUILT_IN_PACKS` is tested against).
fn built_in_packs(root: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("packs")).context("cannot list packs/")? {
        let entry = entry?;
        if entry.path().join("Cargo.toml").exists() {
            let name = entry.file_name();
            let name = name.to_str().context("a folder of packs/ is not UTF-8")?;
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn packs(root: &Path) -> Result<Vec<PathBuf>> {
    ensure_target()?;
    let packs = built_in_packs(root)?;
    let target_dir = root.join("target").join("wasm-build");
    let mut cmd = cargo();
    cmd.current_dir(root)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "pack"])
        .arg("--target-dir")
        .arg(&target_dir);
    for p in &packs {
        cmd.args(["-p", p]);
    }
    run(&mut cmd)?;
    let out = root.join("target").join("packs");
    std::fs::create_dir_all(&out)?;
    let mut paths = Vec::new();
    for p in &packs {
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
        "warden-cli",
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
                .join("engine")
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
    // One build serves the lints and the tests (docs/adr/0025-one-build-for-lints-and-tests.md):
    // clippy's driver compiles the workspace's own crates for the test build, so the
    // dependencies are compiled once, for the tests, instead of once more in check mode for
    // `cargo clippy`. The three commands cover clippy's `--all-targets` (lib, bins, tests,
    // benches, examples) and the doc tests; each reuses what the one before built. The benches
    // run once each in criterion's test mode. Examples are built, not tested (`--all-targets`
    // would build them as test harnesses, without their `main`).
    let lint = clippy_driver()?;
    lints_deny(root, &lint)?;
    // Unit and integration tests of every crate, including the packs' native
    // tests; the warden-testkit build script builds every pack for wasm.
    run(lint_with(cargo().current_dir(root), &lint).args([
        "test",
        "--workspace",
        "--lib",
        "--bins",
        "--tests",
        "--benches",
    ]))?;
    run(lint_with(cargo().current_dir(root), &lint).args(["build", "--workspace", "--examples"]))?;
    run(lint_with(cargo().current_dir(root), &lint).args(["test", "--workspace", "--doc"]))?;
    // Run the embedding example's binary directly (a `cargo run -p warden-host`
    // would resolve features for one package and rebuild wasmtime).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    run(Command::new(target.join("debug").join("examples").join("embed")).current_dir(root))?;
    api_test(root, &target)?;
    browser_test(root, &target)
}

/// The web inbox end to end in headless Chromium (tests/browser/run.py):
/// Debian's `chromium` and `chromium-driver` (installed by `.ci/run`),
/// selenium in the API test's virtualenv, the `warden` binary the tests built.
fn browser_test(root: &Path, target: &Path) -> Result<()> {
    let bin = target.join("api-venv").join("bin");
    run(Command::new(bin.join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(root.join("tests").join("browser").join("requirements.txt")))?;
    run(Command::new(bin.join("python"))
        .current_dir(root)
        .arg(root.join("tests").join("browser").join("run.py"))
        .arg("--warden")
        .arg(target.join("debug").join("warden"))
        .arg("--packs")
        .arg(root.join("target").join("packs")))
}

/// The path of the toolchain's `clippy-driver` (rustup's, for the pinned
/// toolchain), or the bare name when rustup is not there.
fn clippy_driver() -> Result<PathBuf> {
    match Command::new("rustup")
        .args(["which", "clippy-driver"])
        .output()
    {
        Ok(o) if o.status.success() => {
            let path = String::from_utf8(o.stdout).context("rustup printed a non-UTF-8 path")?;
            Ok(PathBuf::from(path.trim()))
        }
        _ => Ok(PathBuf::from("clippy-driver")),
    }
}

/// Proves that the driver still takes its arguments from `CLIPPY_ARGS`
/// (an interface between clippy's own two binaries, not a documented one):
/// a file with one clippy warning must fail to compile under
/// [`lint_with`]'s `-D warnings`. Without this, a toolchain that changed it
/// would let every lint through silently.
fn lints_deny(root: &Path, driver: &Path) -> Result<()> {
    let dir = root.join("target").join("xtask-lint-canary");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("canary.rs");
    std::fs::write(
        &file,
        "//! A clippy warning.\n/// Length.\npub fn len(v: &Vec<u8>) -> usize {\n    v.len()\n}\n",
    )?;
    let out = lint_with(&mut Command::new(driver), driver)
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "lib",
            "--emit",
            "metadata",
        ])
        .arg("--out-dir")
        .arg(&dir)
        .arg(&file)
        .output()
        .with_context(|| format!("cannot run {}", driver.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || !stderr.contains("ptr_arg") {
        bail!(
            "{} no longer denies clippy's warnings through CLIPPY_ARGS (ADR 0025); it printed:\n{stderr}",
            driver.display()
        );
    }
    Ok(())
}

/// Runs clippy on the workspace's crates as part of whatever `cmd` builds,
/// with warnings denied: what `cargo clippy -- -D warnings` sets up for
/// `cargo check`. `CLIPPY_ARGS` holds the arguments after `--`, each
/// followed by the separator clippy's driver splits on.
fn lint_with<'a>(cmd: &'a mut Command, driver: &Path) -> &'a mut Command {
    cmd.env("RUSTC_WORKSPACE_WRAPPER", driver).env(
        "CLIPPY_ARGS",
        "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
    )
}

/// The property-based API test: schemathesis (in a virtualenv under
/// `target/`, made here if missing) against `warden serve` on SQLite and
/// PostgreSQL (tests/api/run.py), with the `warden` binary that
/// `cargo test --workspace` built for the integration tests (a
/// `cargo build -p warden-cli` would resolve features for one package and
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
