//! The server's log: `tracing` events on standard error, as text or as one
//! JSON object per line (`--log-format json`), filtered by `--log`
//! (`WARDEN_LOG`: a level, or `target=level` pairs such as
//! `info,warden_server::request_log=debug`). Each line carries the
//! fields of the spans it happened in: the request's id, method, path,
//! tenant and decision id ([`warden_server::request_log`]).

use super::Result;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, span fields included.
    Json,
}

/// Installs the process's log subscriber; a second call (in-process tests
/// run several servers) keeps the first.
pub(crate) fn init(format: LogFormat, filter: &str) -> Result<()> {
    let targets: Targets = filter
        .parse()
        .map_err(|e| format!("`--log {filter}`: {e}"))?;
    let registry = tracing_subscriber::registry().with(targets);
    let installed = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(false),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // Already installed: keep it.
    drop(installed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_names_the_flag() {
        let e = init(LogFormat::Text, "info,warden=loud").unwrap_err();
        assert!(e.contains("`--log"), "{e}");
    }
}
