use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A content type with a codec in this runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ContentType {
    /// Protocol buffers binary encoding: `application/protobuf`.
    #[default]
    Protobuf,
    /// The proto3 JSON mapping: `application/json`.
    Json,
}

impl ContentType {
    /// The canonical MIME name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ContentType::Protobuf => "application/protobuf",
            ContentType::Json => "application/json",
        }
    }

    /// Parses a MIME name; parameters such as `; charset=utf-8` are ignored.
    ///
    /// # Errors
    ///
    /// 415 naming the content type when no codec handles it.
    pub fn parse(value: &str) -> Result<Self, Error> {
        // The names micro itself sends, as sent: no splitting, no case folding.
        match value {
            "application/protobuf" => return Ok(ContentType::Protobuf),
            "application/json" => return Ok(ContentType::Json),
            _ => {}
        }
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/protobuf")
            || essence.eq_ignore_ascii_case("application/x-protobuf")
            || essence.eq_ignore_ascii_case("application/proto")
            || essence.eq_ignore_ascii_case("application/octet-stream+proto")
        {
            Ok(ContentType::Protobuf)
        } else if essence.eq_ignore_ascii_case("application/json") {
            Ok(ContentType::Json)
        } else {
            Err(Error::unsupported_media_type(format!(
                "no codec for content type {value:?} (supported: application/protobuf, application/json)"
            )))
        }
    }

    /// The one-byte code used in the native protocol's request head.
    pub(crate) const fn wire_code(self) -> u8 {
        match self {
            ContentType::Protobuf => 1,
            ContentType::Json => 2,
        }
    }

    /// Inverse of [`ContentType::wire_code`].
    pub(crate) fn from_wire_code(code: u8) -> Result<Self, Error> {
        match code {
            1 => Ok(ContentType::Protobuf),
            2 => Ok(ContentType::Json),
            other => Err(Error::unsupported_media_type(format!(
                "unknown content type code {other}"
            ))),
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContentType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aliases_and_parameters() {
        assert_eq!(
            ContentType::parse("application/json; charset=utf-8").unwrap(),
            ContentType::Json
        );
        assert_eq!(
            ContentType::parse("application/x-protobuf").unwrap(),
            ContentType::Protobuf
        );
        let err = ContentType::parse("text/xml").unwrap_err();
        assert_eq!(err.code(), 415);
        assert!(err.detail().contains("text/xml"));
    }

    #[test]
    fn wire_codes_round_trip() {
        for ct in [ContentType::Protobuf, ContentType::Json] {
            assert_eq!(ContentType::from_wire_code(ct.wire_code()).unwrap(), ct);
        }
        assert!(ContentType::from_wire_code(9).is_err());
    }
}
