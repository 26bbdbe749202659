//! `micro completions SHELL`: the completion script on stdout.

use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs};
use crate::failure::Outcome;

pub(crate) fn run(args: &CompletionsArgs) -> Outcome {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "micro",
        &mut std::io::stdout(),
    );
    Ok(())
}
