//! The `warden` command line; see `warden --help`.

use std::process::ExitCode;

/// mimalloc instead of the system allocator: a decision allocates and frees
/// many small buffers on every core, where glibc's malloc showed at ~10% of
/// the server's time (docs/adr/0010-durable-decision-throughput.md). Only
/// the binary: embedders keep their own allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Unlocked handles: each write takes the lock for itself. `warden serve`
    // runs inside this call, and its worker threads log to stderr; a lock
    // held here for the whole run would block the first of them for good.
    let code = warden_cli::run(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    ExitCode::from(code)
}
