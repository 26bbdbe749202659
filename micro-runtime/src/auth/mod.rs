#![doc = include_str!("../../../docs/auth.md")]

mod claims;
#[cfg(feature = "auth")]
mod handler;
mod rules;
mod token;
#[cfg(feature = "auth")]
mod verify;

pub use self::claims::{Claims, claims};
#[cfg(feature = "auth")]
pub use self::handler::Auth;
pub use self::rules::{Requirement, Rules};
pub use self::token::BearerToken;
#[cfg(feature = "auth")]
pub use self::verify::Verifier;

/// The token of an `authorization` value `Bearer <token>` (the scheme in
/// any case), or `None` when it is not one.
pub fn bearer(value: &str) -> Option<String> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn bearer_values() {
        assert_eq!(bearer("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(bearer("bearer   abc ").as_deref(), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }
}
