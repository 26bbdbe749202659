//! Which endpoints may be called through the gateway: allow and deny
//! patterns with `*` wildcards.

use micro_runtime::Error;
use micro_runtime::endpoint::name_matches;

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
        Some((s, e)) => name_matches(s, service) && name_matches(e, endpoint),
        None => name_matches(pattern, endpoint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
