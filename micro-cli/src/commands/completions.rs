//! `micro completions SHELL`: the completion script on stdout.

use std::io::Write;

use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs};
use crate::failure::{Failure, Outcome};

pub(crate) fn run(args: &CompletionsArgs) -> Outcome {
    // Generated into memory first: `clap_complete` panics when its writer
    // fails (stdout closed by `| head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "micro", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::local(format!("cannot write to stdout: {e}")))
}
