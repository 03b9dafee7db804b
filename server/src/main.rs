//! `sightline`: the server binary. Parsing and wiring live in the library.

use std::process::ExitCode;

use clap::Parser;
use sightline_server::cli::{Cli, Command, ImportCommand, RulesCommand};
use sightline_server::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Rules(RulesCommand::Check { files }) => {
            if sightline_server::rules::check_files(&files, &mut std::io::stdout()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Import(ImportCommand::Openmetrics(args)) => {
            match sightline_server::import::openmetrics(
                &args.file,
                &args.data_dir,
                &args.block_range,
            ) {
                Ok(r) => {
                    println!(
                        "imported {} samples of {} series into {} block(s) under {}",
                        r.samples,
                        r.series,
                        r.blocks.len(),
                        args.data_dir.join("metrics").join("blocks").display()
                    );
                    if r.duplicates > 0 {
                        println!(
                            "{} sample(s) repeated a timestamp of their series and were skipped",
                            r.duplicates
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sightline import: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve(args) => {
            let config =
                match Config::load(args.config.as_deref(), std::env::vars(), &args.overrides()) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("sightline: {e}");
                        return ExitCode::from(2);
                    }
                };
            sightline_server::init_logging(&config);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("sightline: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(sightline_server::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("sightline: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
