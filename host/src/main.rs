//! The `warden` command line; see `warden --help`.

use std::process::ExitCode;

/// mimalloc instead of the system allocator: a decision allocates and frees
/// many small buffers on every core, where glibc's malloc showed at ~10% of
/// the server's time (docs/adr/0010-durable-decision-throughput.md). Only
/// the binary: embedders keep their own allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let code = warden_host::cli::run(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}
