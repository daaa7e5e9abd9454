//! The `warden` command line, as a library function so it can be tested
//! in-process: [`run`] takes the arguments and output streams and returns
//! the exit code.
#![deny(missing_docs)]

mod approvals;
mod control;
mod database;
mod logging;
mod trace;
mod trace_export;
mod trace_replay;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use warden_host::{Composition, CompositionSpec, Engine, EngineConfig, InputError, Request};

type Result<T> = std::result::Result<T, String>;

/// Exit code for bad input (unreadable files, bad JSON, invalid packs).
pub const EXIT_BAD_INPUT: u8 = 3;

/// warden: policy decisions for AI agents, from WebAssembly policy packs.
#[derive(Parser)]
#[command(name = "warden", version, about)]
struct Cli {
    /// Directory for compiled packs (default: $WARDEN_CACHE_DIR, else ~/.cache/warden).
    #[arg(long, global = true)]
    cache_dir: Option<PathBuf>,
    /// Compile packs on every run; use no cache directory.
    #[arg(long, global = true)]
    no_cache: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: REST API, pack catalog, tenants, rollouts.
    Serve(Box<control::ServeArgs>),
    /// Issue bearer tokens (development and tests).
    Token {
        #[command(subcommand)]
        command: control::TokenCommand,
    },
    /// Generate an Ed25519 key pair in PEM files (`FILE` and `FILE.pub`), for
    /// signing packs or tokens.
    Keygen {
        /// The private key file to create (mode 0600); the public key goes to `FILE.pub`.
        #[arg(long)]
        out: PathBuf,
    },
    /// A tenant's trace log: verify, query and export it, replay a decision, what-if a pack version.
    Trace {
        #[command(subcommand)]
        command: trace::TraceCommand,
    },
    /// An approver's inbox against a server: list, show, approve, deny.
    Approvals {
        #[command(subcommand)]
        command: approvals::ApprovalsCommand,
    },
    /// Work with pack files.
    Pack {
        #[command(subcommand)]
        command: PackCommand,
    },
    /// Evaluate a request against packs; prints the decision as JSON.
    /// Exit code: 0 allow, 1 deny, 2 escalate, 3 bad input.
    Eval {
        /// A pack file (`.wasm`); repeat for a composition, in order.
        #[arg(long = "pack", required = true)]
        packs: Vec<PathBuf>,
        /// Composition settings: layers, default effect, isolation (JSON, or TOML by extension).
        #[arg(long)]
        settings: Option<PathBuf>,
        /// The request (JSON); `-` reads standard input.
        #[arg(long)]
        request: PathBuf,
        /// Print the decision on one line.
        #[arg(long)]
        compact: bool,
    },
}

#[derive(Subcommand)]
enum PackCommand {
    /// Show a pack's name, version, digest, size, rules, imports and exports.
    Inspect {
        /// The pack file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Sign a pack: prints the base64 signature for the `Warden-Signature`
    /// header and writes it to `FILE.sig` next to the pack.
    Sign {
        /// The pack file.
        file: PathBuf,
        /// The publisher's Ed25519 private key (PKCS#8 PEM, see `warden keygen`).
        #[arg(long)]
        key: PathBuf,
    },
    /// Show what changed between two pack versions: rules added, removed and
    /// changed, digest and size. Each side is a `.wasm` file or a catalog
    /// reference `name@version` (read from the control plane's database).
    Diff {
        /// Older version: file or `name@version`.
        from: String,
        /// Newer version: file or `name@version`.
        to: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// For catalog references: the data directory of an embedded server.
        #[arg(long, default_value = "warden-data")]
        data_dir: PathBuf,
        /// For catalog references: the server's database.
        #[arg(long, env = "WARDEN_DATABASE_URL")]
        database_url: Option<String>,
        /// For catalog references: also re-evaluate this tenant's recorded
        /// decisions with the newer version and show the verdicts it changes.
        #[arg(long, value_name = "TENANT")]
        traffic: Option<String>,
        /// With `--traffic`: how many of the tenant's latest decisions (1 to 10000).
        #[arg(long, requires = "traffic", default_value_t = 1000)]
        last: usize,
    },
}

/// Runs the command line with `args` (including the program name), writing
/// results to `out` and errors to `err`. Returns the process exit code: for
/// `eval` 0 allow, 1 deny, 2 escalate; 3 for bad input.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let _ = if e.use_stderr() {
                write!(err, "{}", e.render())
            } else {
                write!(out, "{}", e.render())
            };
            return code;
        }
    };
    match execute(cli, out) {
        Ok(code) => code,
        Err(message) => {
            let _ = writeln!(err, "error: {message}");
            EXIT_BAD_INPUT
        }
    }
}

fn engine(cache_dir: &Option<PathBuf>, no_cache: bool) -> Result<Engine> {
    let cache_dir = if no_cache {
        None
    } else {
        cache_dir
            .clone()
            .or_else(|| std::env::var_os("WARDEN_CACHE_DIR").map(PathBuf::from))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/warden")))
    };
    Engine::with_config(EngineConfig {
        cache_dir,
        ..EngineConfig::default()
    })
    .map_err(|e| e.to_string())
}

fn execute(cli: Cli, out: &mut dyn Write) -> Result<u8> {
    let (cache_dir, no_cache) = (cli.cache_dir, cli.no_cache);
    let engine = || engine(&cache_dir, no_cache);
    let command = match cli.command {
        Command::Serve(args) => return control::serve(*args, out),
        Command::Token { command } => return control::token(command, out),
        Command::Keygen { out: path } => return control::keygen(&path, out),
        Command::Trace { command } => return trace::trace(command, engine, out),
        Command::Approvals { command } => return approvals::approvals(command, out),
        Command::Pack {
            command: PackCommand::Sign { file, key },
        } => return control::sign(&engine()?, &file, &key, out),
        Command::Pack {
            command:
                PackCommand::Diff {
                    from,
                    to,
                    json,
                    data_dir,
                    database_url,
                    traffic,
                    last,
                },
        } => {
            let refs = database::StoreRef {
                data_dir,
                database_url,
            };
            let traffic = traffic.as_deref().map(|t| (t, last));
            return control::diff(&engine()?, &from, &to, json, &refs, traffic, out);
        }
        command => command,
    };
    let engine = engine()?;
    match command {
        Command::Pack {
            command: PackCommand::Inspect { file, json },
        } => {
            let pack = engine
                .load_pack_file(&file)
                .map_err(|e| format!("cannot load `{}`: {e}", file.display()))?;
            if json {
                let doc = serde_json::json!({
                    "name": pack.name(),
                    "version": pack.version().to_string(),
                    "summary": pack.info().summary,
                    "digest": pack.digest(),
                    "size": pack.size(),
                    "rules": pack.info().rules,
                    "imports": pack.imports(),
                    "exports": pack.exports(),
                });
                emit(out, &format!("{}\n", pretty(&doc)))?;
            } else {
                emit(out, &inspect_text(&pack))?;
            }
            Ok(0)
        }
        Command::Eval {
            packs,
            settings,
            request,
            compact,
        } => {
            let spec = match &settings {
                Some(path) => read_settings(path)?,
                None => CompositionSpec::default(),
            };
            let text = if request.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
                    .map_err(|e| format!("cannot read standard input: {e}"))?
            } else {
                std::fs::read_to_string(&request)
                    .map_err(|e| format!("cannot read request `{}`: {e}", request.display()))?
            };
            let req = Request::from_json(&text)
                .map_err(|e| format!("bad request `{}`: {e}", request.display()))?;
            let mut loaded = Vec::new();
            for p in &packs {
                loaded.push(
                    engine
                        .load_pack_file(p)
                        .map_err(|e| format!("cannot load `{}`: {e}", p.display()))?,
                );
            }
            let composition = Composition::build(req.tenant.clone(), loaded, &spec)
                .map_err(|e| format!("invalid composition: {e}"))?;
            let decision = composition.evaluate(&req);
            let text = if compact {
                serde_json::to_string(&decision).unwrap_or_default()
            } else {
                pretty(&decision)
            };
            emit(out, &format!("{text}\n"))?;
            Ok(decision.exit_code() as u8)
        }
        _ => Err("unreachable command".to_owned()),
    }
}

fn read_settings(path: &Path) -> Result<CompositionSpec> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read settings `{}`: {e}", path.display()))?;
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let spec = if is_toml {
        let de = toml::Deserializer::parse(&text).map_err(|e| InputError::Syntax {
            what: "settings",
            format: "TOML",
            message: e.to_string(),
        });
        match de {
            Ok(de) => serde_path_to_error::deserialize(de).map_err(|e| InputError::Field {
                what: "settings",
                field: e.path().to_string(),
                message: e.into_inner().message().to_owned(),
            }),
            Err(e) => Err(e),
        }
    } else {
        CompositionSpec::from_json(&text)
    };
    spec.map_err(|e| format!("bad settings `{}`: {e}", path.display()))
}

fn inspect_text(pack: &warden_host::Pack) -> String {
    use std::fmt::Write;
    let info = pack.info();
    let mut s = String::new();
    let _ = writeln!(s, "{}@{}  {}", info.name, info.version, info.summary);
    let _ = writeln!(s, "digest   {}", pack.digest());
    let _ = writeln!(s, "size     {} bytes", pack.size());
    let _ = writeln!(s, "rules");
    for r in &info.rules {
        let state = if r.default_enabled { "on " } else { "off" };
        let _ = writeln!(s, "  {state} {:<28} {}", r.id, r.summary);
        let params = serde_json::Value::Object(r.default_params.clone());
        let _ = writeln!(s, "       defaults {params}");
        if !r.strictness.is_empty() {
            let st: Vec<String> = r
                .strictness
                .iter()
                .map(|(p, d)| format!("{p}: {}", serde_json::to_value(d).unwrap_or_default()))
                .collect();
            let _ = writeln!(s, "       restrict-only may tighten {}", st.join(", "));
        }
    }
    let _ = writeln!(s, "imports (each a trap; no capability is granted)");
    for i in pack.imports() {
        let _ = writeln!(s, "  {i}");
    }
    let _ = writeln!(s, "exports");
    for e in pack.exports() {
        let _ = writeln!(s, "  {e}");
    }
    s
}

pub(crate) fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

pub(crate) fn emit(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write output: {e}"))
}
