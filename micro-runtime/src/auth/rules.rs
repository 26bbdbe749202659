//! Which scopes an endpoint needs: `service/endpoint pattern = scopes`.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// What a rule asks of a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// No token needed (`=open`); a token sent anyway is still verified.
    Open,
    /// A valid token holding every one of these scopes (none: any valid token).
    Scopes(Vec<String>),
}

/// One rule: a pattern and what matching calls need.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    service: Option<String>,
    endpoint: String,
    requirement: Requirement,
}

/// Authorization rules, the first match wins.
///
/// The text form (`MICRO_AUTH_RULES`) is `pattern=scopes` rules separated
/// by `;` or new lines (`#` starts a comment). A pattern is an endpoint
/// (`Greeter.Hello`, `*` wildcards: `Greeter.*`), optionally after a
/// service and `/` or `:` (`greeter/Greeter.Hello`, `*.srv.greeter:*`); a
/// service pattern matches the full name or its last dot-separated part
/// (`greeter` matches `com.example.srv.greeter`). Scopes are separated by
/// spaces or commas and all required; empty means any valid token; `open`
/// means no token at all. An endpoint no rule matches needs a valid token
/// with any scopes. After the rules given, `Debug.Health=open` applies
/// (override it with a rule of your own); `Debug.Describe` needs a token.
///
/// # Examples
///
/// ```
/// use micro_runtime::auth::{Requirement, Rules};
///
/// let rules: Rules = "greeter/Greeter.Hello=greeter.read; Greeter.*=greeter.admin".parse()?;
/// let svc = "com.example.srv.greeter";
/// assert_eq!(rules.requirement(svc, "Greeter.Hello"), Requirement::Scopes(vec!["greeter.read".into()]));
/// assert_eq!(rules.requirement(svc, "Greeter.Chat"), Requirement::Scopes(vec!["greeter.admin".into()]));
/// assert_eq!(rules.requirement(svc, "Debug.Health"), Requirement::Open);
/// # Ok::<(), micro_runtime::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// No rule: every endpoint but `Debug.Health` needs a valid token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule (after those already there): calls matching `pattern`
    /// need `requirement`.
    ///
    /// # Errors
    ///
    /// 400 for an empty pattern.
    pub fn rule(mut self, pattern: &str, requirement: Requirement) -> Result<Self> {
        let pattern = pattern.trim();
        let (service, endpoint) = match pattern.split_once(['/', ':']) {
            Some((service, endpoint)) => (Some(service.trim()), endpoint.trim()),
            None => (None, pattern),
        };
        if endpoint.is_empty() || service.is_some_and(str::is_empty) {
            return Err(Error::bad_request(format!(
                "auth rule pattern {pattern:?} is not [service/]Endpoint.Method"
            )));
        }
        self.rules.push(Rule {
            service: service.map(str::to_owned),
            endpoint: endpoint.to_owned(),
            requirement,
        });
        Ok(self)
    }

    /// What a call of `endpoint` on `service` needs.
    pub fn requirement(&self, service: &str, endpoint: &str) -> Requirement {
        self.rules
            .iter()
            .find(|rule| {
                glob(&rule.endpoint, endpoint)
                    && rule.service.as_deref().is_none_or(|pattern| {
                        glob(pattern, service)
                            || service
                                .rsplit_once('.')
                                .is_some_and(|(_, last)| glob(pattern, last))
                    })
            })
            .map(|rule| rule.requirement.clone())
            .unwrap_or_else(|| match endpoint {
                "Debug.Health" => Requirement::Open,
                _ => Requirement::Scopes(Vec::new()),
            })
    }
}

impl FromStr for Rules {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let mut rules = Rules::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            for rule in line.split(';').map(str::trim).filter(|r| !r.is_empty()) {
                let (pattern, scopes) = rule.split_once('=').ok_or_else(|| {
                    Error::bad_request(format!(
                        "auth rule {rule:?} is not pattern=scopes (e.g. Greeter.Hello=greeter.read)"
                    ))
                })?;
                let requirement = match scopes.trim() {
                    "open" => Requirement::Open,
                    scopes => Requirement::Scopes(
                        scopes
                            .split([' ', ','])
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    ),
                };
                rules = rules.rule(pattern, requirement)?;
            }
        }
        Ok(rules)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Open => f.write_str("open"),
            Requirement::Scopes(scopes) => f.write_str(&scopes.join(" ")),
        }
    }
}

/// True when `text` matches `pattern`, whose `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut text) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or_default();
    for part in parts {
        match text.find(part) {
            Some(at) => text = &text[at + part.len()..],
            None => return false,
        }
    }
    text.len() >= last.len() && text.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &[&str]) -> Requirement {
        Requirement::Scopes(s.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn globs() {
        assert!(glob("Greeter.*", "Greeter.Hello"));
        assert!(glob("*", ""));
        assert!(glob("*.greeter", "com.example.greeter"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXbY"));
        assert!(!glob("Greeter.Hello", "Greeter.Hell"));
        assert!(!glob("ab*ab", "ab"));
    }

    #[test]
    fn first_match_wins_and_services_match_by_short_name() {
        let rules: Rules =
            "greeter:Greeter.Hello=a.read, b.read\n# note\nother/*=x;Greeter.*=;Debug.Health=ops"
                .parse()
                .unwrap();
        let svc = "com.example.srv.greeter";
        assert_eq!(
            rules.requirement(svc, "Greeter.Hello"),
            scopes(&["a.read", "b.read"])
        );
        assert_eq!(
            rules.requirement("x.other", "Greeter.Hello"),
            scopes(&["x"])
        );
        assert_eq!(rules.requirement(svc, "Greeter.Chat"), scopes(&[]));
        assert_eq!(rules.requirement(svc, "Debug.Health"), scopes(&["ops"]));
        assert_eq!(
            Rules::new().requirement(svc, "Debug.Health"),
            Requirement::Open
        );
        assert_eq!(Rules::new().requirement(svc, "Debug.Describe"), scopes(&[]));
        let open: Rules = "*/Greeter.Ping=open".parse().unwrap();
        assert_eq!(open.requirement(svc, "Greeter.Ping"), Requirement::Open);
    }

    #[test]
    fn bad_rules_are_400() {
        for text in ["Greeter.Hello", "=x", "/Greeter.Hello=x", "greeter/=x"] {
            let err = text.parse::<Rules>().unwrap_err();
            assert!(err.is_bad_request(), "{text}: {err}");
        }
    }
}
