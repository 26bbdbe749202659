//! What a command that failed prints: one line with the reason and its
//! code, and the exit code for scripts.

use std::fmt;

use micro_runtime::Error;

/// Exit code of a failed call, service or backend.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of a wrong command line.
pub const EXIT_USAGE: u8 = 2;
/// Exit code after Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Why a command failed: an error with its code (`not found (404): ...`),
/// or a usage problem. Printed as one line, never a backtrace.
#[derive(Debug, Clone)]
pub struct Failure {
    code: Option<u16>,
    status: String,
    message: String,
    exit: u8,
}

impl Failure {
    /// A failure with `error`'s code and text.
    pub fn from_error(error: &Error) -> Self {
        let detail = if error.id().is_empty() || error.detail().contains(error.id()) {
            error.detail().to_owned()
        } else {
            format!("{} (from {})", error.detail(), error.id())
        };
        Self {
            code: Some(error.code()),
            status: error.status().to_ascii_lowercase(),
            message: detail,
            exit: EXIT_FAILED,
        }
    }

    /// 400: the input is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::from_error(&Error::bad_request(message))
    }

    /// 404: what was asked for does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::from_error(&Error::not_found(message))
    }

    /// A command-line problem (exit code 2), without an RPC code.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: None,
            status: String::new(),
            message: message.into(),
            exit: EXIT_USAGE,
        }
    }

    /// A local failure (a file, a terminal) with exit code 1.
    pub fn local(message: impl Into<String>) -> Self {
        Self {
            code: None,
            status: String::new(),
            message: message.into(),
            exit: EXIT_FAILED,
        }
    }

    /// Ctrl-C.
    pub fn interrupted() -> Self {
        Self {
            code: None,
            status: String::new(),
            message: "interrupted".into(),
            exit: EXIT_INTERRUPTED,
        }
    }

    /// The exit code the process ends with.
    pub fn exit_code(&self) -> u8 {
        self.exit
    }

    /// The RPC code, if the failure has one.
    pub fn code(&self) -> Option<u16> {
        self.code
    }

    /// The failure as JSON (`{"code":404,"status":"not found","detail":"..."}`),
    /// for `--output json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "code": self.code,
                "status": self.status,
                "detail": self.message,
            }
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{} ({code}): {}", self.status, self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::from_error(&error)
    }
}

/// What commands return.
pub type Outcome<T = ()> = std::result::Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_with_status_and_code() {
        let failure = Failure::from(Error::not_found("service \"x\""));
        assert_eq!(failure.to_string(), "not found (404): service \"x\"");
        assert_eq!(failure.exit_code(), EXIT_FAILED);
        assert_eq!(failure.to_json()["error"]["code"], 404);
    }

    #[test]
    fn the_origin_is_named() {
        let failure = Failure::from(Error::unavailable("down").with_id("micro.broker"));
        assert_eq!(
            failure.to_string(),
            "service unavailable (503): down (from micro.broker)"
        );
    }
}
