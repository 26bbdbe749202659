//! Reading requests and messages: from an argument, or from stdin.

use crate::failure::{Failure, Outcome};

/// `argument` itself, or all of stdin when it is `-`; `default` when absent.
///
/// # Errors
///
/// When stdin cannot be read.
pub(crate) async fn argument_or_stdin(argument: Option<&str>, default: &str) -> Outcome<String> {
    match argument {
        Some("-") => {
            let mut text = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut tokio::io::stdin(), &mut text)
                .await
                .map_err(|e| Failure::local(format!("cannot read stdin: {e}")))?;
            Ok(text)
        }
        Some(text) => Ok(text.to_owned()),
        None => Ok(default.to_owned()),
    }
}
