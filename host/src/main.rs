//! The `warden` command line; see `warden --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = warden_host::cli::run(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}
