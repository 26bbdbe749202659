//! Path resolution: which service and endpoint an `/api/...` path names.
//! Pure functions over the path and the registered names; the rules and
//! their table are in `docs/resolution.md`.

use micro_runtime::Error;

/// What a path asks for before the registry is consulted: a service name
/// (full or short) and an endpoint name (exact or guessed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wanted {
    /// `com.example.srv.greeter`, `greeter` or `v1.greeter`.
    pub(crate) service: String,
    /// `Greeter.Hello`.
    pub(crate) endpoint: String,
    /// The endpoint was written out (`Greeter.Hello`), not built from
    /// path segments.
    pub(crate) exact: bool,
}

/// The service and endpoint the segments of a path after `/api/` name.
///
/// # Errors
///
/// 404 when the path has fewer than two segments.
pub(crate) fn wanted(path: &str) -> Result<Wanted, Error> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        [] | [_] => Err(Error::not_found(format!(
            "path /api/{path} names no endpoint: use /api/{{service}}/{{Endpoint.Method}} \
             or /api/{{service}}/{{method}}"
        ))),
        [service, endpoint] if endpoint.contains('.') => Ok(Wanted {
            service: (*service).to_owned(),
            endpoint: (*endpoint).to_owned(),
            exact: true,
        }),
        [service, method] => Ok(Wanted {
            service: (*service).to_owned(),
            endpoint: format!("{}.{}", camel(service), camel(method)),
            exact: false,
        }),
        [version, service, method] if is_version(version) => Ok(Wanted {
            service: format!("{version}.{service}"),
            endpoint: format!("{}.{}", camel(service), camel(method)),
            exact: false,
        }),
        [service @ .., handler, method] => Ok(Wanted {
            service: service.join("."),
            endpoint: format!("{}.{}", camel(handler), camel(method)),
            exact: false,
        }),
    }
}

/// `v1`, `v2`, …: a version segment.
fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `hello-stream` and `hello_stream` -> `HelloStream`; `hello` -> `Hello`.
pub(crate) fn camel(segment: &str) -> String {
    segment
        .split(['-', '_'])
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars))
                .into_iter()
                .flatten()
        })
        .collect()
}

/// The one registered service `wanted` names: the exact name, else
/// `<namespace>.wanted`, else the only name ending in `.wanted` (but not
/// in `.v1.wanted`: a versioned service needs a versioned path).
///
/// # Errors
///
/// 404 naming what was looked for, or the candidates when several end in
/// `.wanted`.
pub(crate) fn service<'a>(
    wanted: &str,
    namespace: &str,
    names: impl Iterator<Item = &'a str> + Clone,
) -> Result<&'a str, Error> {
    if let Some(exact) = names.clone().find(|n| *n == wanted) {
        return Ok(exact);
    }
    let qualified = (!namespace.is_empty()).then(|| format!("{namespace}.{wanted}"));
    if let Some(q) = &qualified
        && let Some(found) = names.clone().find(|n| n == q)
    {
        return Ok(found);
    }
    let suffix: Vec<&str> = names
        .filter(|name| {
            name.strip_suffix(wanted)
                .and_then(|head| head.strip_suffix(['.', '-', '_']))
                // `x.v1.greeter` is reached by `v1/greeter/...` only.
                .is_some_and(|head| !head.rsplit('.').next().is_some_and(is_version))
        })
        .collect();
    match suffix.as_slice() {
        [one] => Ok(one),
        [] => {
            let looked = match &qualified {
                Some(q) => format!("{wanted:?}, {q:?} or a name ending in \".{wanted}\""),
                None => format!("{wanted:?} or a name ending in \".{wanted}\""),
            };
            Err(Error::not_found(format!(
                "no service is registered as {looked}"
            )))
        }
        many => Err(Error::not_found(format!(
            "service {wanted:?} is ambiguous: it could be {}; use the full name",
            quoted(many.iter().copied())
        ))),
    }
}

/// The one endpoint of `service` that `wanted` names among the advertised
/// `names`: the exact name, else the one equal ignoring case, `-` and `_`,
/// else (for a guessed name) the only one with that method.
///
/// # Errors
///
/// 404 naming what was looked for and what the service serves; 404 listing
/// the candidates when several match.
pub(crate) fn endpoint<'a>(
    service: &str,
    wanted: &Wanted,
    names: impl Iterator<Item = &'a str> + Clone,
) -> Result<&'a str, Error> {
    let name = wanted.endpoint.as_str();
    if let Some(exact) = names.clone().find(|n| *n == name) {
        return Ok(exact);
    }
    let key = normalise(name);
    let same: Vec<&str> = names.clone().filter(|n| normalise(n) == key).collect();
    if let [one] = same.as_slice() {
        return Ok(one);
    }
    let method = |n: &str| normalise(n.rsplit('.').next().unwrap_or(n));
    let by_method: Vec<&str> = if wanted.exact {
        Vec::new()
    } else {
        let key = method(name);
        names.clone().filter(|n| method(n) == key).collect()
    };
    match (same.as_slice(), by_method.as_slice()) {
        ([], [one]) => Ok(one),
        ([], []) => {
            let served: Vec<&str> = names.collect();
            let serves = if served.is_empty() {
                "it advertises no endpoints".to_owned()
            } else {
                format!("it serves {}", quoted(served.into_iter()))
            };
            Err(Error::not_found(format!(
                "service {service:?} has no endpoint {name:?}; {serves}"
            )))
        }
        (same, by_method) => {
            let many = if same.is_empty() { by_method } else { same };
            Err(Error::not_found(format!(
                "endpoint {name:?} is ambiguous on {service:?}: it could be {}",
                quoted(many.iter().copied())
            )))
        }
    }
}

/// Lower case without `-`, `_` and `.`.
fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of `docs/resolution.md`: path, namespace, registered
    /// services with their endpoints, and the expected service and
    /// endpoint (or the start of the 404 detail).
    #[test]
    fn resolution_table() {
        let registered: &[(&str, &[&str])] = &[
            (
                "com.example.srv.greeter",
                &["Greeter.Hello", "Greeter.HelloStream", "Say.Hello"],
            ),
            ("com.example.srv.v1.greeter", &["Greeter.Hello"]),
            ("com.example.srv.foo.bar", &["Baz.Cat"]),
            ("com.example.srv.users", &["Accounts.Create"]),
            ("a.orders", &["Orders.List"]),
            ("b.orders", &["Orders.List"]),
        ];
        /// Path, namespace, and the service and endpoint (or the start
        /// of the 404 detail).
        type Case<'a> = (&'a str, &'a str, Result<(&'a str, &'a str), &'a str>);
        let cases: &[Case<'_>] = &[
            (
                "com.example.srv.greeter/Greeter.Hello",
                "",
                Ok(("com.example.srv.greeter", "Greeter.Hello")),
            ),
            (
                "greeter/Greeter.Hello",
                "",
                Ok(("com.example.srv.greeter", "Greeter.Hello")),
            ),
            (
                "greeter/hello",
                "",
                Ok(("com.example.srv.greeter", "Greeter.Hello")),
            ),
            (
                "greeter/hello",
                "com.example.srv",
                Ok(("com.example.srv.greeter", "Greeter.Hello")),
            ),
            (
                "greeter/hello-stream",
                "",
                Ok(("com.example.srv.greeter", "Greeter.HelloStream")),
            ),
            (
                "greeter/hello_stream",
                "",
                Ok(("com.example.srv.greeter", "Greeter.HelloStream")),
            ),
            (
                "greeter/say/hello",
                "",
                Ok(("com.example.srv.greeter", "Say.Hello")),
            ),
            (
                "v1/greeter/hello",
                "",
                Ok(("com.example.srv.v1.greeter", "Greeter.Hello")),
            ),
            (
                "foo/bar/baz/cat",
                "",
                Ok(("com.example.srv.foo.bar", "Baz.Cat")),
            ),
            (
                "users/create",
                "",
                Ok(("com.example.srv.users", "Accounts.Create")),
            ),
            ("a/orders/orders/list", "", Ok(("a.orders", "Orders.List"))),
            ("orders/list", "a", Ok(("a.orders", "Orders.List"))),
            ("orders/list", "", Err("service \"orders\" is ambiguous")),
            (
                "nope/hello",
                "",
                Err("no service is registered as \"nope\" or a name ending in \".nope\""),
            ),
            (
                "nope/hello",
                "com.example.srv",
                Err("no service is registered as \"nope\", \"com.example.srv.nope\""),
            ),
            (
                "greeter/bye",
                "",
                Err("service \"com.example.srv.greeter\" has no endpoint \"Greeter.Bye\""),
            ),
            (
                "greeter/Greeter.Bye",
                "",
                Err("service \"com.example.srv.greeter\" has no endpoint \"Greeter.Bye\""),
            ),
            ("greeter", "", Err("path /api/greeter names no endpoint")),
        ];
        for (path, namespace, expected) in cases {
            let got = wanted(path).and_then(|w| {
                let service = service(
                    &w.service,
                    namespace,
                    registered.iter().map(|(name, _)| *name),
                )?;
                let endpoints = registered
                    .iter()
                    .find(|(name, _)| *name == service)
                    .map(|(_, e)| *e)
                    .unwrap_or_default();
                let endpoint = endpoint(service, &w, endpoints.iter().copied())?;
                Ok((service, endpoint))
            });
            match (expected, got) {
                (Ok(want), Ok(got)) => assert_eq!(*want, got, "{path} (ns {namespace:?})"),
                (Err(want), Err(err)) => {
                    assert!(err.is_not_found(), "{path}: {err}");
                    assert!(err.detail().starts_with(want), "{path}: {err}");
                }
                (want, got) => panic!("{path} (ns {namespace:?}): wanted {want:?}, got {got:?}"),
            }
        }
    }

    /// Found by the `gateway_path` fuzz target: a registered name with a
    /// multi-byte character just before the wanted suffix was sliced
    /// inside that character (a panic serving the request).
    #[test]
    fn names_with_multibyte_characters_before_the_suffix_resolve() {
        let names = ["a.b\u{e9}list", "x.list", "v\u{e9}.v1-list"];
        assert_eq!(
            service("list", "", names.iter().copied()).unwrap(),
            "x.list"
        );
        let err = service("b\u{e9}list", "", ["\u{e9}\u{e9}b\u{e9}list"].into_iter()).unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }

    #[test]
    fn camel_case() {
        assert_eq!(camel("hello"), "Hello");
        assert_eq!(camel("hello-stream"), "HelloStream");
        assert_eq!(camel("say_hello_twice"), "SayHelloTwice");
        assert_eq!(camel("Hello"), "Hello");
    }

    #[test]
    fn versions() {
        assert!(is_version("v1"));
        assert!(is_version("v20"));
        assert!(!is_version("v"));
        assert!(!is_version("vx"));
        assert!(!is_version("version"));
    }
}
