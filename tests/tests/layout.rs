//! The code's layout holds (ARCHITECTURE.md, ADR 0024): no module of the
//! host's crates imports, directly or through others, a module that imports
//! it back, and no source file grows past 800 lines. Both are read from the
//! source: `crate::a::b` and `super::x` paths outside comments and test
//! modules are the imports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// A crate's modules by path (`server::store::trace`) and their code without
/// comments and without `#[cfg(test)] mod tests`.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.iter().any(|p| p == "tests") {
            continue;
        }
        if matches!(
            parts.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            parts.pop();
        }
        let text = std::fs::read_to_string(&file).unwrap();
        out.insert(parts.join("::"), code_of(&text));
    }
    out
}

/// A file's code without comments and without its `#[cfg(test)] mod tests`.
fn code_of(text: &str) -> String {
    text.split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or(text)
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split(" //").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths that follow `prefix` in `code`: `crate::server::store` for
/// `crate::server::store::Store`, and each name of a `crate::{a, b::c}` group.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (at, _) in code.match_indices(prefix) {
        if code[..at].ends_with(is_ident) {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let body = &group[..group.find('}').unwrap_or(group.len())];
            for item in body.split(',') {
                let segs: Vec<String> = item
                    .trim()
                    .split("::")
                    .map(|s| s.trim().to_owned())
                    .take_while(|s| !s.is_empty() && s.chars().all(is_ident))
                    .collect();
                out.push(segs);
            }
            continue;
        }
        let mut segs = Vec::new();
        let mut rest = rest;
        loop {
            let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            segs.push(rest[..end].to_owned());
            match rest[end..].strip_prefix("::") {
                Some(r) if r.starts_with(is_ident) => rest = r,
                _ => break,
            }
        }
        out.push(segs);
    }
    out
}

/// The longest module of `names` that `segs` starts with.
fn resolve(names: &BTreeSet<String>, segs: &[String]) -> Option<String> {
    (1..=segs.len())
        .rev()
        .map(|n| segs[..n].join("::"))
        .find(|m| names.contains(m))
}

/// Edges `module -> module it uses`, leaving out a module's own ancestors
/// (a child may use its parent's items; that is how Rust modules nest).
fn imports(mods: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let names: BTreeSet<String> = mods.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (m, code) in mods {
        let own: Vec<String> = m.split("::").map(str::to_owned).collect();
        let mut to = BTreeSet::new();
        let mut add = |segs: Vec<String>| {
            if let Some(t) = resolve(&names, &segs)
                && t != *m
                && !m.starts_with(&format!("{t}::"))
            {
                to.insert(t);
            }
        };
        for segs in paths_after(code, "crate::") {
            add(segs);
        }
        for segs in paths_after(code, "super::") {
            // `super` of a module is its parent; of a crate root, nothing.
            let parent = &own[..own.len().saturating_sub(1)];
            add(parent.iter().cloned().chain(segs).collect());
        }
        edges.insert(m.clone(), to);
    }
    edges
}

/// Every set of modules that reach each other (Tarjan's strongly connected
/// components of more than one module).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in &self.edges[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    comp.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.out
}

/// The host's crates: every folder of `host/` with a `src/`.
fn host_crates() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("host"))
        .unwrap()
        .map(|e| e.unwrap().path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let crates = host_crates();
    assert!(crates.len() >= 2, "host crates found: {crates:?}");
    let mut found = Vec::new();
    for src in &crates {
        let mods = modules(src);
        assert!(mods.len() > 1, "no modules read under {}", src.display());
        for cycle in cycles(&imports(&mods)) {
            found.push(format!("{}: {}", src.display(), cycle.join(" <-> ")));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_lets_a_child_use_its_parent() {
    let mods: BTreeMap<String, String> = [
        ("a", "use crate::b::Thing;"),
        ("b", "use crate::{c, a::Other};"),
        ("c", "fn f() -> super::a::X { todo!() }"),
        ("d", "use crate::d::inner::Y;"),
        ("d::inner", "use super::Z; // crate::a in a comment"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), code_of(v)))
    .collect();
    let edges = imports(&mods);
    assert_eq!(edges["b"], ["a", "c"].map(str::to_owned).into());
    assert_eq!(edges["d::inner"], BTreeSet::new());
    assert_eq!(
        cycles(&edges),
        vec![["a", "b", "c"].map(str::to_owned).to_vec()]
    );
}

#[test]
fn no_source_file_is_over_800_lines() {
    let root = root();
    let mut files = Vec::new();
    for dir in [
        "host",
        "guest-sdk",
        "packs",
        "tests",
        "bench",
        "xtask",
        "examples",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "only {} files found", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these by concept: {}",
        long.join(", ")
    );
}

/// What the embeddable engine must never pull in (issue 19, ADR 0024):
/// the control plane's database, HTTP and token crates, and tokio's
/// networking (mio).
const NOT_IN_THE_ENGINE: [&str; 7] = [
    "sqlx",
    "axum",
    "jsonwebtoken",
    "hyper",
    "mio",
    "rustls",
    "warden-server",
];

#[test]
fn the_engine_builds_without_server_dependencies() {
    // `cargo tree` resolves from Cargo.lock and the manifests; the packages
    // are on disk already (this test was built from them).
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(root())
        .args([
            "tree",
            "--offline",
            "-p",
            "warden-host",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: BTreeSet<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        names.contains("wasmtime") && names.contains("warden-host"),
        "cargo tree listed: {names:?}"
    );
    let found: Vec<&str> = NOT_IN_THE_ENGINE
        .into_iter()
        .filter(|n| names.contains(n))
        .collect();
    assert!(found.is_empty(), "warden-host depends on {found:?}");
}
