//! Why a configuration was rejected, told without its values: a wrong
//! value may be a secret (a password in the wrong field), so messages name
//! the field, the source and the kinds of value, never the value itself.

use figment::Source;
use figment::error::{Actual, Kind};

use crate::Error;

/// A figment error as a 400 naming each failing key, its source and what
/// was wrong, with no configured value in it.
pub(crate) fn error(err: figment::Error) -> Error {
    let reasons: Vec<String> = err.into_iter().map(|e| one(&e)).collect();
    Error::bad_request(format!("invalid configuration: {}", reasons.join("; ")))
        .with_id("micro.config")
}

fn one(err: &figment::Error) -> String {
    let mut text = String::new();
    if !err.path.is_empty() {
        text.push_str(&format!("key {:?}", err.path.join(".")));
    }
    if let Some(metadata) = &err.metadata {
        if !text.is_empty() {
            text.push(' ');
        }
        match &metadata.source {
            Some(Source::File(path)) => text.push_str(&format!("in {}", path.display())),
            _ => text.push_str(&format!("from {}", metadata.name)),
        }
    }
    if !text.is_empty() {
        text.push_str(": ");
    }
    text.push_str(&kind(&err.kind));
    text
}

fn kind(kind: &Kind) -> String {
    match kind {
        Kind::Message(message) => without_snippets(message),
        Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found {}", what(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid {}, expected {expected}", what(actual))
        }
        Kind::InvalidLength(length, expected) => {
            format!("{length} items, expected {expected}")
        }
        Kind::UnknownVariant(_, expected) => {
            format!("unknown variant, expected one of {}", expected.join(", "))
        }
        Kind::UnknownField(field, _) => format!("unknown field {field:?}"),
        Kind::MissingField(field) => format!("missing field {field:?}"),
        Kind::DuplicateField(field) => format!("duplicate field {field:?}"),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "number out of range".to_owned(),
        Kind::Unsupported(actual) => format!("unsupported {}", what(actual)),
        Kind::UnsupportedKey(actual, expected) => {
            format!(
                "unsupported key of type {}, expected {expected}",
                what(actual)
            )
        }
    }
}

/// The kind of a value, without the value.
fn what(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) => "a character",
        Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit => "nothing",
        Actual::Option => "an option",
        Actual::NewtypeStruct => "a newtype struct",
        Actual::Seq => "a sequence",
        Actual::Map => "a map",
        Actual::Enum => "an enum",
        Actual::UnitVariant => "a unit variant",
        Actual::NewtypeVariant => "a newtype variant",
        Actual::TupleVariant => "a tuple variant",
        Actual::StructVariant => "a struct variant",
        Actual::Other(_) => "another kind of value",
    }
}

/// A parser's message without the lines that quote the file (TOML's
/// `1 | password = "...`), joined into one line.
fn without_snippets(message: &str) -> String {
    let quotes = |line: &str| {
        let line = line.trim_start();
        line.starts_with('|')
            || line
                .split_once('|')
                .is_some_and(|(number, _)| number.trim().chars().all(|c| c.is_ascii_digit()))
    };
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !quotes(line))
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Db {
        port: u16,
        password: String,
    }

    #[test]
    fn a_wrong_type_names_the_key_not_the_value() {
        let figment = Figment::from(Serialized::defaults(
            serde_json::json!({"port": "hunter2", "password": "x"}),
        ));
        let err = error(figment.extract::<Db>().unwrap_err());
        assert_eq!(err.code(), 400);
        assert!(err.detail().contains("\"port\""), "{}", err.detail());
        assert!(err.detail().contains("a string"), "{}", err.detail());
        assert!(!err.detail().contains("hunter2"), "{}", err.detail());
    }

    #[test]
    fn a_syntax_error_does_not_quote_the_file() {
        let figment = Figment::from(Toml::string("port = 1\npassword = \"hunter2\nx = 1\n"));
        let err = error(figment.extract::<Db>().unwrap_err());
        assert!(!err.detail().contains("hunter2"), "{}", err.detail());
        assert!(err.detail().contains("line"), "{}", err.detail());
        assert!(!err.detail().contains('\n'), "{}", err.detail());
    }

    #[test]
    fn a_missing_field_is_named() {
        let figment = Figment::from(Serialized::defaults(serde_json::json!({"port": 1})));
        let err = error(figment.extract::<Db>().unwrap_err());
        assert!(
            err.detail().contains("missing field \"password\""),
            "{}",
            err.detail()
        );
    }
}
