//! Verifying JWTs: HS256 with a shared secret, or RS256/ES256 (and the
//! other RSA and EC algorithms) with the public keys of a JWKS, by `kid`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::Claims;
use crate::{Error, Result};

/// The shortest HS256 secret accepted, in bytes (RFC 7518 3.2: at least
/// the hash's size).
const MIN_SECRET: usize = 32;

/// Checks tokens' signatures and claims; cheap to clone.
///
/// The secret never appears in `Debug` output, logs or errors.
///
/// # Examples
///
/// ```
/// use micro_runtime::auth::Verifier;
///
/// let verifier = Verifier::hs256(b"a secret of at least thirty-two bytes!")?
///     .issuer("https://issuer.example")
///     .audience("greeter");
/// let err = verifier.verify("not-a-jwt").unwrap_err();
/// assert!(err.is_unauthorized());
/// # Ok::<(), micro_runtime::Error>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<Keys>,
    issuer: Option<String>,
    audience: Option<String>,
}

enum Keys {
    Secret(DecodingKey),
    Jwks(HashMap<String, JwksKey>),
}

struct JwksKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &*self.keys {
            Keys::Secret(_) => "HS256 secret (redacted)".to_owned(),
            Keys::Jwks(keys) => format!("JWKS of {} keys", keys.len()),
        };
        f.debug_struct("Verifier")
            .field("keys", &keys)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl Verifier {
    /// Tokens signed with HS256 and `secret`.
    ///
    /// # Errors
    ///
    /// 400 for a secret shorter than 32 bytes.
    pub fn hs256(secret: &[u8]) -> Result<Self> {
        if secret.len() < MIN_SECRET {
            return Err(Error::bad_request(format!(
                "the HS256 secret has {} bytes; it needs at least {MIN_SECRET}",
                secret.len()
            )));
        }
        Ok(Self::with_keys(Keys::Secret(DecodingKey::from_secret(
            secret,
        ))))
    }

    /// Tokens signed with a key of this JWKS document (`{"keys": [...]}`),
    /// found by the token's `kid` (a token without one is checked against
    /// a JWKS of exactly one key).
    ///
    /// # Errors
    ///
    /// 400 when the document is not a JWKS, has a key without `kid`, a
    /// symmetric key, or none at all.
    pub fn jwks(document: &str) -> Result<Self> {
        let set: JwkSet = serde_json::from_str(document)
            .map_err(|e| Error::bad_request(format!("the JWKS does not parse: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or_else(|| Error::bad_request("every key of the JWKS needs a kid"))?;
            let mut algorithms = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => vec![
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ],
                AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                    EllipticCurve::P256 => vec![Algorithm::ES256],
                    EllipticCurve::P384 => vec![Algorithm::ES384],
                    _ => Vec::new(),
                },
                AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
                AlgorithmParameters::OctetKey(_) => {
                    return Err(Error::bad_request(format!(
                        "JWKS key {kid} is symmetric: give a shared secret with \
                         MICRO_AUTH_SECRET_FILE instead"
                    )));
                }
            };
            if let Some(wanted) = jwk.common.key_algorithm {
                let wanted = format!("{wanted:?}");
                algorithms.retain(|a| format!("{a:?}") == wanted);
            }
            if algorithms.is_empty() {
                return Err(Error::bad_request(format!(
                    "JWKS key {kid} has no algorithm this service verifies"
                )));
            }
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| Error::bad_request(format!("JWKS key {kid}: {e}")))?;
            keys.insert(kid, JwksKey { key, algorithms });
        }
        if keys.is_empty() {
            return Err(Error::bad_request("the JWKS has no key"));
        }
        Ok(Self::with_keys(Keys::Jwks(keys)))
    }

    fn with_keys(keys: Keys) -> Self {
        Self {
            keys: Arc::new(keys),
            issuer: None,
            audience: None,
        }
    }

    /// Tokens must have been issued by `issuer` (`iss`).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Tokens must name `audience` in `aud`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The claims of `token` when its signature, expiry (`exp`, required),
    /// `nbf`, issuer and audience check out (60 s leeway on times).
    ///
    /// # Errors
    ///
    /// 401 saying why (malformed, expired, not yet valid, wrong signature,
    /// unknown key, wrong issuer or audience); the detail never quotes
    /// the token.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| self.denied(e.kind()))?;
        let (key, algorithms) = match &*self.keys {
            Keys::Secret(key) => (key, vec![Algorithm::HS256]),
            Keys::Jwks(keys) => {
                let found = match &header.kid {
                    Some(kid) => keys.get(kid).ok_or_else(|| {
                        Error::unauthorized(format!("token key id {kid:?} is not in the JWKS"))
                    })?,
                    None if keys.len() == 1 => keys.values().next().expect("one key"),
                    None => {
                        return Err(Error::unauthorized(
                            "token has no key id (kid) and the JWKS has several keys",
                        ));
                    }
                };
                (&found.key, found.algorithms.clone())
            }
        };
        if !algorithms.contains(&header.alg) {
            return Err(Error::unauthorized(format!(
                "token algorithm {:?} is not accepted here (expects {algorithms:?})",
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = algorithms;
        match &self.issuer {
            Some(issuer) => validation.set_issuer(&[issuer]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map_err(|e| self.denied(e.kind()))?;
        Ok(Claims::from_map(data.claims))
    }

    /// The 401 for a failed check, saying why without quoting the token.
    fn denied(&self, kind: &ErrorKind) -> Error {
        let detail = match kind {
            ErrorKind::ExpiredSignature => "token expired".to_owned(),
            ErrorKind::ImmatureSignature => "token is not valid yet (nbf)".to_owned(),
            ErrorKind::InvalidSignature => "token signature does not verify".to_owned(),
            ErrorKind::InvalidIssuer => format!(
                "token issuer is not {}",
                self.issuer.as_deref().unwrap_or("the expected one")
            ),
            ErrorKind::InvalidAudience => format!(
                "token audience does not include {}",
                self.audience.as_deref().unwrap_or("the expected one")
            ),
            ErrorKind::MissingRequiredClaim(claim) => format!("token has no {claim} claim"),
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                "token algorithm is not accepted here".to_owned()
            }
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => {
                "malformed token: not a JWT (header.payload.signature, base64url JSON)".to_owned()
            }
            other => format!("token rejected: {other:?}"),
        };
        Error::unauthorized(detail)
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn mint(claims: Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn hs256_tokens_and_why_they_fail() {
        let v = Verifier::hs256(SECRET)
            .unwrap()
            .issuer("me")
            .audience("you");
        let good =
            json!({"sub": "ada", "exp": now() + 600, "iss": "me", "aud": "you", "scope": "a b"});
        let claims = v.verify(&mint(good.clone(), SECRET)).unwrap();
        assert_eq!(claims.subject(), Some("ada"));
        assert_eq!(claims.scopes(), ["a", "b"]);

        let detail = |claims: Value, secret: &[u8]| {
            let token = mint(claims, secret);
            let err = v.verify(&token).unwrap_err();
            assert!(err.is_unauthorized());
            assert!(!err.detail().contains(&token));
            err.detail().to_owned()
        };
        let mut expired = good.clone();
        expired["exp"] = json!(now() - 3600);
        assert_eq!(detail(expired, SECRET), "token expired");
        assert_eq!(
            detail(good.clone(), b"another secret of thirty-two bytes..."),
            "token signature does not verify"
        );
        let mut issuer = good.clone();
        issuer["iss"] = json!("mallory");
        assert_eq!(detail(issuer, SECRET), "token issuer is not me");
        let mut audience = good.clone();
        audience["aud"] = json!("them");
        assert_eq!(
            detail(audience, SECRET),
            "token audience does not include you"
        );
        let no_exp = json!({"sub": "ada", "iss": "me", "aud": "you"});
        assert_eq!(detail(no_exp, SECRET), "token has no exp claim");
        let err = v.verify("a.b").unwrap_err();
        assert!(err.detail().starts_with("malformed token"), "{err}");
    }

    #[test]
    fn short_secrets_and_bad_jwks_are_400_and_secrets_never_shown() {
        assert!(Verifier::hs256(b"short").unwrap_err().is_bad_request());
        let v = Verifier::hs256(SECRET).unwrap();
        assert!(!format!("{v:?}").contains("0123456789"));
        assert!(Verifier::jwks("{").unwrap_err().is_bad_request());
        assert!(
            Verifier::jwks(r#"{"keys":[]}"#)
                .unwrap_err()
                .is_bad_request()
        );
        let oct = r#"{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0"}]}"#;
        assert!(
            Verifier::jwks(oct)
                .unwrap_err()
                .detail()
                .contains("symmetric")
        );
    }
}
