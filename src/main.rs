//! The `sockchat` binary: parse the command line, run the subcommand, turn
//! its result into an exit code. Errors are printed as one line.

use std::process::ExitCode;

use clap::CommandFactory;
use sockchat::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    let result = match cli.command {
        Command::Serve(args) => sockchat::app::serve::serve(args).map(|()| ExitCode::SUCCESS),
        Command::Join(args) => sockchat::app::join::join(args),
        Command::Completions(args) => {
            let mut stdout = std::io::stdout().lock();
            match sockchat::cli::write_completions(args.shell, &mut Cli::command(), &mut stdout) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                // The reader stopped early (`| head`): its choice, not our failure.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                Err(e) => Err(anyhow::Error::new(e).context("cannot write the completion script")),
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // Errors can quote the network (a certificate's names, a
            // server's refusal): never let them drive the terminal.
            let text = format!("{err:#}");
            eprintln!(
                "sockchat: {}",
                sockchat::protocol::sanitize::sanitize(&text)
            );
            ExitCode::FAILURE
        }
    }
}
