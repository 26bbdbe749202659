//! What a verified token says: its subject, scopes and every other claim.

use serde_json::{Map, Value};

use crate::Context;

/// The claims of a verified token, put in the handler's [`Context`] by the
/// auth wrapper; read them with [`claims`].
///
/// Scopes come from `scope` (a space-separated string, RFC 8693) or from a
/// `scp` or `scopes` array (or string).
#[derive(Clone, Debug, PartialEq)]
pub struct Claims {
    subject: Option<String>,
    scopes: Vec<String>,
    all: Map<String, Value>,
}

impl Claims {
    /// The claims of a token's payload.
    pub fn from_map(all: Map<String, Value>) -> Self {
        let subject = all.get("sub").and_then(Value::as_str).map(str::to_owned);
        let mut scopes = Vec::new();
        for key in ["scope", "scp", "scopes"] {
            match all.get(key) {
                Some(Value::String(text)) => {
                    scopes.extend(text.split_whitespace().map(str::to_owned));
                }
                Some(Value::Array(items)) => {
                    scopes.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                _ => {}
            }
        }
        scopes.sort_unstable();
        scopes.dedup();
        Self {
            subject,
            scopes,
            all,
        }
    }

    /// Who the token was issued to (`sub`).
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The scopes it grants, sorted.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// True when it grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes
            .binary_search_by(|s| s.as_str().cmp(scope))
            .is_ok()
    }

    /// Any claim by name (`iss`, `aud`, `exp`, a custom one).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.all.get(name)
    }
}

/// The claims of the token the current request was authenticated with, or
/// `None` when no auth wrapper verified one (auth off, or an open endpoint
/// called without a token).
///
/// # Examples
///
/// ```
/// use micro_runtime::{Context, auth};
///
/// assert!(auth::claims(&Context::new()).is_none());
/// ```
pub fn claims(ctx: &Context) -> Option<&Claims> {
    ctx.extension::<Claims>()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Claims {
        Claims::from_map(value.as_object().unwrap().clone())
    }

    #[test]
    fn scopes_from_every_usual_claim() {
        let c = claims(json!({"sub": "ada", "scope": "b.read a.write"}));
        assert_eq!(c.subject(), Some("ada"));
        assert_eq!(c.scopes(), ["a.write", "b.read"]);
        assert!(c.has_scope("b.read") && !c.has_scope("b"));
        let c = claims(json!({"scp": ["x", "y"], "scopes": ["y", "z"]}));
        assert_eq!(c.scopes(), ["x", "y", "z"]);
        assert_eq!(c.subject(), None);
        assert_eq!(c.get("scp"), Some(&json!(["x", "y"])));
    }

    #[test]
    fn carried_in_the_context() {
        let c = claims(json!({"sub": "ada"}));
        let ctx = Context::new().with_extension(c.clone());
        assert_eq!(super::claims(&ctx), Some(&c));
    }
}
