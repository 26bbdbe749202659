//! Reading `MICRO_*` environment variables.

use std::time::Duration;

use crate::{Error, Result};

/// The variable's value, `None` when unset or empty.
pub(crate) fn string(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A duration: `250ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
pub(crate) fn duration(name: &str) -> Result<Option<Duration>> {
    string(name)
        .map(|v| {
            parse_duration(&v).ok_or_else(|| {
                Error::bad_request(format!(
                    "{name}={v:?} is not a duration (e.g. 500ms, 5s, 2m)"
                ))
            })
        })
        .transpose()
}

/// An unsigned number.
pub(crate) fn number(name: &str) -> Result<Option<u32>> {
    string(name)
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| Error::bad_request(format!("{name}={v:?} is not a number")))
        })
        .transpose()
}

/// `key=value,key=value` pairs.
pub(crate) fn pairs(name: &str) -> Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for pair in string(name).iter().flat_map(|v| v.split(',')) {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| Error::bad_request(format!("{name}: {pair:?} is not key=value")))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}

/// A switch: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`; `None` when unset.
pub(crate) fn flag(name: &str) -> Result<Option<bool>> {
    string(name)
        .map(|v| match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(Error::bad_request(format!(
                "{name}={v:?} is not a switch (1 or 0, true or false)"
            ))),
        })
        .transpose()
}

/// Parses `250ms`, `5s`, `2m`, `1h`, `1.5s` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "ns" => value / 1e9,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    // Out of range (`1e30s`) or negative is no duration, not a panic.
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration("99999999999999999999999h"), None);
    }
}
