//! Subjects and addresses: what a node subscribes to and what it registers.

use crate::Error;
use crate::error::Origin;

/// Prefix of every subject the transport serves on.
pub(super) const PREFIX: &str = "micro.rpc";

/// The scheme of a node address: `nats:<subject>`.
pub(super) const SCHEME: &str = "nats:";

/// The service subject, `micro.rpc.<service>`: every node of the service
/// subscribes to it in one queue group (named alike), so NATS balances
/// calls sent there. Each dot-separated part of the name is a token;
/// characters outside `[A-Za-z0-9_-]` become `_` (and an empty part `_`).
pub(super) fn service_subject(service: &str) -> String {
    let mut subject = String::with_capacity(PREFIX.len() + service.len() + 1);
    subject.push_str(PREFIX);
    for token in service.split('.') {
        subject.push('.');
        if token.is_empty() {
            subject.push('_');
        }
        subject.extend(token.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        }));
    }
    subject
}

/// A fresh node subject of `service`: the service subject and 32 random
/// hex digits, `micro.rpc.<service>.<node>`.
pub(super) fn node_subject(service: Option<&str>) -> String {
    let node = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    match service {
        Some(service) => format!("{}.{node}", service_subject(service)),
        None => format!("{PREFIX}.{node}"),
    }
}

/// Whether `subject` is a subject one can publish to: tokens of visible
/// ASCII without wildcards.
pub(super) fn valid(subject: &str) -> bool {
    !subject.is_empty()
        && subject.split('.').all(|token| {
            !token.is_empty()
                && token != "*"
                && token != ">"
                && token.bytes().all(|b| b.is_ascii_graphic())
        })
}

/// The subject a node address names (`nats:<subject>`).
///
/// # Errors
///
/// 400 (not sent) for an address of another transport or a bad subject.
pub(super) fn of_address(address: &str) -> crate::Result<&str> {
    match address.strip_prefix(SCHEME) {
        Some(subject) if valid(subject) => Ok(subject),
        _ => Err(Error::bad_request(format!(
            "{address:?} is not a NATS transport address (nats:<subject>)"
        ))
        .with_origin(Origin::NotSent)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_of_names_and_addresses() {
        assert_eq!(
            service_subject("com.example.srv.greeter"),
            "micro.rpc.com.example.srv.greeter"
        );
        assert_eq!(service_subject("a..b c.*"), "micro.rpc.a._.b_c._");
        let node = node_subject(Some("greeter"));
        assert!(
            node.starts_with("micro.rpc.greeter.") && valid(&node),
            "{node}"
        );
        assert_eq!(node.len(), "micro.rpc.greeter.".len() + 32);
        assert_eq!(of_address(&format!("nats:{node}")).unwrap(), node);
        for bad in ["127.0.0.1:80", "nats:", "nats:a..b", "nats:a.>", "nats:a b"] {
            assert_eq!(of_address(bad).unwrap_err().code(), 400, "{bad}");
        }
    }
}
