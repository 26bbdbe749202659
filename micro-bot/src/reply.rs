//! How a failed command reads in a chat: one line, as the `micro` command
//! prints its failures.

use micro_runtime::Error;

/// `error: <status> (<code>): <detail>`, naming the service that raised it
/// when the detail does not.
pub fn error_line(error: &Error) -> String {
    let detail = if error.id().is_empty() || error.detail().contains(error.id()) {
        error.detail().to_owned()
    } else {
        format!("{} (from {})", error.detail(), error.id())
    };
    let detail = detail.replace(['\r', '\n'], " ");
    format!(
        "error: {} ({}): {detail}",
        error.status().to_ascii_lowercase(),
        error.code()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_with_status_code_and_origin() {
        assert_eq!(
            error_line(&Error::not_found("service \"x\"")),
            "error: not found (404): service \"x\""
        );
        assert_eq!(
            error_line(&Error::unavailable("down\nhard").with_id("micro.broker")),
            "error: service unavailable (503): down hard (from micro.broker)"
        );
    }
}
