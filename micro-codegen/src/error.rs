use std::fmt;

/// Why code generation failed.
///
/// `Debug` prints the same text as `Display`, so a `build.rs` returning
/// `Result<(), Box<dyn Error>>` shows the file, line and reason.
pub enum Error {
    /// A `.proto` file does not parse or does not resolve.
    Proto(String),
    /// Reading or writing files failed.
    Io(std::io::Error),
    /// Generation itself failed (a bug worth reporting).
    Generate(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Proto(why) => write!(f, "invalid .proto: {why}"),
            Error::Io(err) => write!(f, "micro-codegen I/O error: {err}"),
            Error::Generate(why) => write!(f, "micro-codegen failed: {why}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Io(err)
    }
}

/// Renders a protox error as `file:line:column: reason`.
pub(crate) fn describe_protox(err: &protox::Error) -> String {
    use miette::Diagnostic;
    let reason = err.to_string();
    let position = err
        .labels()
        .and_then(|mut labels| labels.next())
        .and_then(|label| {
            let contents = err.source_code()?.read_span(label.inner(), 0, 0).ok()?;
            Some((contents.line() + 1, contents.column() + 1))
        });
    let reason = match err.help() {
        Some(help) => format!("{reason} ({help})"),
        None => reason,
    };
    match (err.file(), position) {
        (Some(file), Some((line, column))) => format!("{file}:{line}:{column}: {reason}"),
        (Some(file), None) => format!("{file}: {reason}"),
        _ => reason,
    }
}
