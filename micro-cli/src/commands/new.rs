//! `micro new`: written by the scaffolding work.

use crate::args::NewArgs;
use crate::failure::{Failure, Outcome};
use crate::session::Session;

pub(crate) fn run(_session: &Session, args: &NewArgs) -> Outcome {
    Err(Failure::local(format!("cannot create {}", args.name)))
}
