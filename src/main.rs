//! The `sockchat` binary: parse the command line, run the subcommand, turn
//! its result into an exit code. Errors are printed as one line.

use std::process::ExitCode;

use sockchat::cli::{Cli, Command};

fn main() -> ExitCode {
    sockchat::app::end_panics_cleanly();
    let cli = Cli::parse_args();
    let result = match cli.command {
        Command::Serve(args) => sockchat::app::serve(args).map(|()| ExitCode::SUCCESS),
        Command::Join(args) => sockchat::app::join(args),
        Command::Completions(args) => sockchat::app::completions(args),
        Command::Store(args) => sockchat::app::store(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // Errors can quote the network (a certificate's names, a
            // server's refusal): never let them drive the terminal.
            let text = sockchat::words::error_line(&err);
            eprintln!(
                "sockchat: {}",
                sockchat::protocol::sanitize::sanitize(&text)
            );
            ExitCode::FAILURE
        }
    }
}
