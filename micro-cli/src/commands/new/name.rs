//! The service name `micro new` accepts, and the identifiers made from it.

/// Rust keywords (strict and reserved, edition 2024): not crate names.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Crate names the new crate would clash with (`-` written as `_`): the
/// standard library's, cargo's build directories', its own dependencies'
/// and the toolkit's.
const TAKEN: &[&str] = &[
    "alloc",
    "core",
    "proc_macro",
    "std",
    "test",
    "build",
    "deps",
    "examples",
    "incremental",
    "tokio",
    "micro",
    "micro_runtime",
    "micro_codegen",
    "micro_macros",
    "micro_gen",
    "micro_cli",
    "micro_gateway",
    "micro_mcp",
    "micro_bench",
];

/// Message names in the generated `.proto`, which the service's name must
/// not repeat.
const MESSAGES: &[&str] = &["CallRequest", "CallResponse"];

/// A valid name and the identifiers the templates need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Name {
    /// The crate (package) name as given, e.g. `order-book`.
    pub(super) krate: String,
    /// The crate's Rust identifier and proto package prefix: `order_book`.
    pub(super) ident: String,
    /// The proto service, handler type and client prefix: `OrderBook`.
    pub(super) camel: String,
}

/// Checks `name`: lowercase ASCII letters, digits, `-` and `_`, starting
/// with a letter, not ending with or doubling a separator, not a keyword
/// or a name the crate would clash with.
///
/// # Errors
///
/// Why the name is not accepted, as one sentence.
pub(super) fn parse(name: &str) -> Result<Name, String> {
    const RULE: &str = "a service name is a crate name: lowercase letters, digits, \
                        `-` and `_`, starting with a letter (e.g. `orders`)";
    let Some(first) = name.chars().next() else {
        return Err(format!("the name is empty; {RULE}"));
    };
    if name.len() > 64 {
        return Err(format!("{name:?} is longer than 64 characters"));
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        let lower = name.to_ascii_lowercase();
        return Err(format!(
            "{name:?} has uppercase letters (try {lower:?}); {RULE}"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return Err(format!("{name:?} contains {bad:?}; {RULE}"));
    }
    if !first.is_ascii_lowercase() {
        return Err(format!("{name:?} does not start with a letter; {RULE}"));
    }
    let separator = |c: u8| c == b'-' || c == b'_';
    let doubled = name
        .as_bytes()
        .windows(2)
        .any(|pair| separator(pair[0]) && separator(pair[1]));
    if doubled || name.as_bytes().last().copied().is_some_and(separator) {
        return Err(format!("{name:?} ends with or repeats a separator; {RULE}"));
    }
    let ident = name.replace('-', "_");
    if KEYWORDS.contains(&ident.as_str()) {
        return Err(format!("{name:?} is a Rust keyword; pick another name"));
    }
    if TAKEN.contains(&ident.as_str()) {
        return Err(format!(
            "{name:?} is the name of a crate the service would clash with; pick another name"
        ));
    }
    if ident == "pb" {
        return Err(format!(
            "{name:?} is the name of the generated code's module; pick another name"
        ));
    }
    let camel = upper_camel(&ident);
    if MESSAGES.contains(&camel.as_str()) {
        return Err(format!(
            "{name:?} would name the service like its message `{camel}`; pick another name"
        ));
    }
    Ok(Name {
        krate: name.to_owned(),
        ident,
        camel,
    })
}

/// `order_book` -> `OrderBook`, `v2_api` -> `V2Api`.
fn upper_camel(ident: &str) -> String {
    ident
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_the_name() {
        let name = parse("order-book_v2").unwrap();
        assert_eq!(name.krate, "order-book_v2");
        assert_eq!(name.ident, "order_book_v2");
        assert_eq!(name.camel, "OrderBookV2");
        assert_eq!(parse("orders").unwrap().camel, "Orders");
        assert_eq!(parse("a1").unwrap().camel, "A1");
    }

    #[test]
    fn bad_names_say_why() {
        for (name, why) in [
            ("", "empty"),
            ("Orders", "uppercase"),
            ("my orders", "contains ' '"),
            ("örders", "contains 'ö'"),
            ("1orders", "start with a letter"),
            ("-orders", "start with a letter"),
            ("orders-", "separator"),
            ("my--orders", "separator"),
            ("my-_orders", "separator"),
            ("fn", "keyword"),
            ("gen", "keyword"),
            ("test", "clash"),
            ("micro-runtime", "clash"),
            ("micro_codegen", "clash"),
            ("tokio", "clash"),
            ("pb", "generated"),
            ("call-request", "message"),
        ] {
            let error = parse(name).unwrap_err();
            assert!(error.contains(why), "{name:?}: {error}");
        }
        assert!(parse(&"a".repeat(65)).is_err());
        assert!(parse(&"a".repeat(64)).is_ok());
    }
}
