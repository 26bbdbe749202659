//! A message's words: split on white space, quotes ('…' or "…") keep a
//! word's spaces, and a word that starts a JSON object or array (`{`, `[`)
//! takes the rest of the line, so `call greeter hello {"name": "John"}` has
//! four words.

/// The words of `text`.
pub fn split(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if rest.starts_with(['{', '[']) {
            words.push(rest.to_owned());
            break;
        }
        let quote = rest.chars().next().filter(|c| matches!(c, '\'' | '"'));
        if let Some(quote) = quote
            && let Some(end) = rest[1..].find(quote)
        {
            words.push(rest[1..=end].to_owned());
            rest = rest[end + 2..].trim_start();
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        words.push(rest[..end].to_owned());
        rest = rest[end..].trim_start();
    }
    words
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn words_quotes_and_json() {
        assert_eq!(split("  list   services "), ["list", "services"]);
        assert_eq!(
            split(r#"call greeter Greeter.Hello {"name": "John Doe"}"#),
            [
                "call",
                "greeter",
                "Greeter.Hello",
                r#"{"name": "John Doe"}"#
            ]
        );
        assert_eq!(
            split(r#"publish t '{"a": 1}'"#),
            ["publish", "t", r#"{"a": 1}"#]
        );
        assert_eq!(split(r#"echo "a b" c"#), ["echo", "a b", "c"]);
        assert_eq!(split(r#"echo "open"#), ["echo", "\"open"]);
        assert!(split("   ").is_empty());
    }
}
