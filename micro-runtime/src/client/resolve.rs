//! Finding what the user meant: a service by its full name or a unique
//! suffix (`greeter` for `com.example.srv.greeter`), an endpoint by its
//! full name or its method (`hello`, `hello-stream`, `HelloStream`), and
//! the close names to suggest when nothing matches. What tools (the `micro`
//! command, the bot) share, so a short name means the same everywhere.

use crate::{Error, Result};

/// The one service `wanted` names among `names`: the exact name, else the
/// only name ending in `.wanted` (or `-wanted`, `_wanted`).
///
/// # Errors
///
/// 404 listing close names when none matches; 400 listing the candidates
/// when several do.
pub fn service<'a>(wanted: &str, names: &'a [String]) -> Result<&'a str> {
    if let Some(exact) = names.iter().find(|n| *n == wanted) {
        return Ok(exact);
    }
    let suffix: Vec<&String> = names
        .iter()
        .filter(|name| {
            name.strip_suffix(wanted)
                .is_some_and(|head| head.ends_with(['.', '-', '_', '/']))
        })
        .collect();
    match suffix.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::not_found(format!(
            "service {wanted:?}{}",
            suggestions(wanted, names.iter().map(String::as_str))
        ))),
        many => Err(Error::bad_request(format!(
            "service {wanted:?} is ambiguous: it could be {}",
            quoted(many.iter().map(|s| s.as_str()))
        ))),
    }
}

/// The one endpoint `wanted` names among `names` (`Greeter.Hello`): the
/// exact name, else the one whose method matches ignoring case, `-` and `_`.
///
/// # Errors
///
/// 404 listing the service's endpoints when none matches; 400 listing the
/// candidates when several do.
pub fn endpoint<'a>(service: &str, wanted: &str, names: &'a [String]) -> Result<&'a str> {
    if let Some(exact) = names.iter().find(|n| *n == wanted) {
        return Ok(exact);
    }
    let key = normalise(wanted);
    let matching: Vec<&String> = names
        .iter()
        .filter(|name| {
            let method = name.rsplit('.').next().unwrap_or(name);
            normalise(method) == key || normalise(name) == key
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::not_found(format!(
            "endpoint {wanted:?} on service {service:?}; it serves {}",
            if names.is_empty() {
                "no endpoints".to_owned()
            } else {
                quoted(names.iter().map(String::as_str))
            }
        ))),
        many => Err(Error::bad_request(format!(
            "endpoint {wanted:?} is ambiguous on {service:?}: it could be {}",
            quoted(many.iter().map(|s| s.as_str()))
        ))),
    }
}

/// Lower case without `-`, `_` and `.`: `hello-stream`, `hello_stream` and
/// `HelloStream` are one key.
pub fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// `; did you mean "a" or "b"?` for the names close to `wanted`, or `; known
/// services: ...` when none is close; empty when there are none at all.
fn suggestions<'a>(wanted: &str, names: impl Iterator<Item = &'a str> + Clone) -> String {
    let wanted_key = normalise(wanted);
    let mut close: Vec<(f64, &str)> = names
        .clone()
        .map(|name| {
            let last = name.rsplit(['.', '-', '_', '/']).next().unwrap_or(name);
            let score = strsim::jaro_winkler(&wanted_key, &normalise(last))
                .max(strsim::jaro_winkler(&wanted_key, &normalise(name)));
            let contains = normalise(name).contains(&wanted_key);
            (if contains { score.max(0.9) } else { score }, name)
        })
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    close.truncate(3);
    if !close.is_empty() {
        return format!("; did you mean {}?", or_list(close.iter().map(|(_, n)| *n)));
    }
    let mut all: Vec<&str> = names.collect();
    if all.is_empty() {
        return "; no services are registered".to_owned();
    }
    all.sort_unstable();
    all.dedup();
    let shown = all.len().min(10);
    let more = if all.len() > shown {
        format!(" and {} more", all.len() - shown)
    } else {
        String::new()
    };
    format!(
        "; registered: {}{more}",
        quoted(all[..shown].iter().copied())
    )
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn or_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("{n:?}")).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn services_by_full_name_or_unique_suffix() {
        let all = names(&[
            "com.example.srv.greeter",
            "com.example.srv.orders",
            "greeter",
        ]);
        assert_eq!(service("greeter", &all).unwrap(), "greeter");
        assert_eq!(service("orders", &all).unwrap(), "com.example.srv.orders");
        assert_eq!(
            service("srv.orders", &all).unwrap(),
            "com.example.srv.orders"
        );
        let two = names(&["a.greeter", "b.greeter"]);
        let err = service("greeter", &two).unwrap_err();
        assert_eq!(err.code(), 400);
        assert!(err.detail().contains("\"a.greeter\", \"b.greeter\""));
    }

    #[test]
    fn an_unknown_service_lists_close_names() {
        let all = names(&["com.example.srv.greeter", "com.example.srv.orders"]);
        let err = service("greter", &all).unwrap_err();
        assert_eq!(err.code(), 404);
        assert_eq!(
            err.detail(),
            "service \"greter\"; did you mean \"com.example.srv.greeter\"?"
        );
        let err = service("zzz", &all).unwrap_err();
        assert!(
            err.detail()
                .contains("registered: \"com.example.srv.greeter\"")
        );
        let err = service("x", &[]).unwrap_err();
        assert!(err.detail().ends_with("no services are registered"));
    }

    #[test]
    fn endpoints_by_name_or_method() {
        let all = names(&["Greeter.Hello", "Greeter.HelloStream", "Greeter.Chat"]);
        assert_eq!(endpoint("g", "hello", &all).unwrap(), "Greeter.Hello");
        assert_eq!(
            endpoint("g", "hello-stream", &all).unwrap(),
            "Greeter.HelloStream"
        );
        assert_eq!(endpoint("g", "Greeter.Chat", &all).unwrap(), "Greeter.Chat");
        let err = endpoint("g", "bye", &all).unwrap_err();
        assert_eq!(err.code(), 404);
        assert!(
            err.detail()
                .contains("\"Greeter.Hello\", \"Greeter.HelloStream\"")
        );
    }
}
