//! Which endpoints may be called through the gateway: allow and deny
//! patterns with `*` wildcards.

use micro_runtime::Error;

/// Allow and deny patterns. A call is allowed when it matches no deny
/// pattern and, if there are allow patterns, at least one of them.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    pub(crate) allow: Vec<String>,
    pub(crate) deny: Vec<String>,
}

impl Default for Access {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            deny: vec!["Debug.*".to_owned()],
        }
    }
}

impl Access {
    /// True when `endpoint` of `service` may be called.
    pub(crate) fn allows(&self, service: &str, endpoint: &str) -> bool {
        let hit = |pattern: &String| matches(pattern, service, endpoint);
        !self.deny.iter().any(hit) && (self.allow.is_empty() || self.allow.iter().any(hit))
    }

    /// `Ok` when `endpoint` of `service` may be called.
    ///
    /// # Errors
    ///
    /// 403 saying which pattern refused it.
    pub(crate) fn check(&self, service: &str, endpoint: &str) -> Result<(), Error> {
        if let Some(pattern) = self.deny.iter().find(|p| matches(p, service, endpoint)) {
            return Err(Error::forbidden(format!(
                "{service}/{endpoint} is not served through the gateway \
                 (denied by pattern {pattern:?})"
            )));
        }
        if !self.allows(service, endpoint) {
            return Err(Error::forbidden(format!(
                "{service}/{endpoint} is not served through the gateway \
                 (it matches no allowed pattern)"
            )));
        }
        Ok(())
    }
}

/// `pattern` against `endpoint`, or against `service/endpoint` when the
/// pattern has a `/`.
fn matches(pattern: &str, service: &str, endpoint: &str) -> bool {
    match pattern.split_once('/') {
        Some((s, e)) => glob(s, service) && glob(e, endpoint),
        None => glob(pattern, endpoint),
    }
}

/// `*` matches any run of characters (none included); all else is literal.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("Debug.*", "Debug.Health"));
        assert!(!glob("Debug.*", "Greeter.Debug"));
        assert!(glob("*", ""));
        assert!(glob("Greeter.Hello", "Greeter.Hello"));
        assert!(!glob("Greeter.Hello", "Greeter.HelloStream"));
        assert!(glob("*.Hello*", "Greeter.HelloStream"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXcYb"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let access = Access {
            allow: vec!["Greeter.*".into(), "*.users/Accounts.Get".into()],
            deny: vec!["Debug.*".into(), "Greeter.Admin".into()],
        };
        assert!(access.allows("x.greeter", "Greeter.Hello"));
        assert!(access.allows("x.users", "Accounts.Get"));
        assert!(!access.allows("x.orders", "Accounts.Get"));
        assert!(!access.allows("x.greeter", "Greeter.Admin"));
        assert!(!access.allows("x.greeter", "Debug.Health"));
        let err = access.check("x.greeter", "Debug.Health").unwrap_err();
        assert!(err.is_forbidden());
        assert!(err.detail().contains("\"Debug.*\""), "{err}");
        assert!(Access::default().allows("x", "Greeter.Hello"));
        assert!(!Access::default().allows("x", "Debug.Describe"));
    }
}
