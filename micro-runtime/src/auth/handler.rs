//! The handler wrapper: verify the bearer token, check the rules, put the
//! claims in the context.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::{Requirement, Rules, Verifier, bearer};
use crate::chain::{Next, Wrapper};
use crate::server::wrapper::{HandlerRequest, HandlerResponse};
use crate::{Error, Result, env_vars};

/// Authentication and authorization of every request a service handles.
///
/// A request's `authorization` metadata must be `Bearer <jwt>` with a
/// token the [`Verifier`] accepts, holding the scopes the [`Rules`] ask
/// for the endpoint: otherwise 401 (no, malformed, expired or wrongly
/// signed token) or 403 (a scope missing). The handler finds the claims
/// with [`claims`](super::claims). Unless [`forward`](Auth::forward), the
/// token is removed from the context, so calls made while handling do not
/// carry it on (they carry the client's own token, if configured).
///
/// # Examples
///
/// ```no_run
/// use micro_runtime::auth::{Auth, Verifier};
/// use micro_runtime::Service;
///
/// # fn main() -> micro_runtime::Result<()> {
/// let auth = Auth::new(Verifier::hs256(b"a secret of at least thirty-two bytes!")?)
///     .rules("Greeter.Hello=greeter.read".parse()?);
/// let service = Service::builder().name("greeter").wrap_handler(auth).build()?;
/// # let _ = service; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    verifier: Verifier,
    rules: Rules,
    forward: bool,
}

impl Auth {
    /// Tokens checked by `verifier`, no rule of its own (every endpoint but
    /// `Debug.Health` needs a valid token), tokens not forwarded.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            inner: Arc::new(Inner {
                verifier,
                rules: Rules::new(),
                forward: false,
            }),
        }
    }

    /// The authorization rules (`MICRO_AUTH_RULES`).
    pub fn rules(self, rules: Rules) -> Self {
        self.with(|inner| inner.rules = rules)
    }

    /// Leave the caller's token in the context, so calls made while
    /// handling carry it on (`MICRO_AUTH_FORWARD=1`). Default: false.
    pub fn forward(self, forward: bool) -> Self {
        self.with(|inner| inner.forward = forward)
    }

    fn with(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            verifier: shared.verifier.clone(),
            rules: shared.rules.clone(),
            forward: shared.forward,
        });
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Auth from the environment, or `None` when no key is configured:
    /// `MICRO_AUTH_SECRET_FILE` (preferred) or `MICRO_AUTH_SECRET` (HS256),
    /// or `MICRO_AUTH_JWKS` (a JWKS file); `MICRO_AUTH_ISSUER`,
    /// `MICRO_AUTH_AUDIENCE`, `MICRO_AUTH_RULES` (rules, or `@file` of
    /// rules), `MICRO_AUTH_FORWARD=1`.
    ///
    /// # Errors
    ///
    /// 400 when a file cannot be read, a secret is too short, the JWKS or
    /// the rules do not parse, or both a secret and a JWKS are set.
    pub fn from_env() -> Result<Option<Self>> {
        let secret = match env_vars::string("MICRO_AUTH_SECRET_FILE") {
            Some(path) => Some(read("MICRO_AUTH_SECRET_FILE", &path)?.trim_end().to_owned()),
            None => env_vars::string("MICRO_AUTH_SECRET"),
        };
        let jwks = env_vars::string("MICRO_AUTH_JWKS");
        let mut verifier = match (secret, jwks) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(Error::bad_request(
                    "set either an HS256 secret (MICRO_AUTH_SECRET_FILE, MICRO_AUTH_SECRET) or \
                     MICRO_AUTH_JWKS, not both",
                ));
            }
            (Some(secret), None) => Verifier::hs256(secret.as_bytes())?,
            (None, Some(path)) => Verifier::jwks(&read("MICRO_AUTH_JWKS", &path)?)?,
        };
        if let Some(issuer) = env_vars::string("MICRO_AUTH_ISSUER") {
            verifier = verifier.issuer(issuer);
        }
        if let Some(audience) = env_vars::string("MICRO_AUTH_AUDIENCE") {
            verifier = verifier.audience(audience);
        }
        let rules = match env_vars::string("MICRO_AUTH_RULES") {
            Some(text) => match text.strip_prefix('@') {
                Some(path) => read("MICRO_AUTH_RULES", path)?.parse()?,
                None => text.parse()?,
            },
            None => Rules::new(),
        };
        let forward = env_vars::flag("MICRO_AUTH_FORWARD")?.unwrap_or(false);
        Ok(Some(Auth::new(verifier).rules(rules).forward(forward)))
    }

    /// Checks `req`, returning what the handler's context gets.
    fn check(&self, req: &mut HandlerRequest) -> Result<()> {
        let requirement = self
            .inner
            .rules
            .requirement(req.service(), req.endpoint().name);
        let ctx = req.context_mut();
        let presented = ctx.metadata().get("authorization").map(bearer);
        if !self.inner.forward {
            ctx.metadata_mut().remove("authorization");
        }
        let token = match (presented, &requirement) {
            (None, Requirement::Open) => return Ok(()),
            (None, _) => {
                return Err(Error::unauthorized(
                    "missing token: send metadata `authorization: Bearer <jwt>`",
                ));
            }
            (Some(None), _) => {
                return Err(Error::unauthorized(
                    "the authorization metadata is not `Bearer <jwt>`",
                ));
            }
            (Some(Some(token)), _) => token,
        };
        let claims = self.inner.verifier.verify(&token)?;
        if let Requirement::Scopes(scopes) = &requirement {
            let missing: Vec<&str> = scopes
                .iter()
                .filter(|s| !claims.has_scope(s))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(Error::forbidden(format!(
                    "{} needs scope {}; the token lacks {}",
                    req.endpoint().name,
                    scopes.join(" "),
                    missing.join(" ")
                )));
            }
        }
        req.context_mut().insert_extension(claims);
        Ok(())
    }
}

/// Reads the file a variable names.
fn read(variable: &str, path: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::bad_request(format!("{variable}: cannot read {path}: {e}")))
}

impl Wrapper<HandlerRequest, HandlerResponse> for Auth {
    fn call(
        &self,
        mut req: HandlerRequest,
        next: Next<HandlerRequest, HandlerResponse>,
    ) -> BoxFuture<'static, Result<HandlerResponse>> {
        if let Err(err) = self.check(&mut req) {
            tracing::debug!(
                service = req.service(),
                endpoint = req.endpoint().name,
                code = err.code(),
                reason = err.detail(),
                "auth: request refused"
            );
            return Box::pin(async move { Err(err) });
        }
        // Calls made while handling see the checked context (claims, and
        // the token only when forwarded).
        let ctx = req.context().clone();
        Box::pin(ctx.scope(next.run(req)))
    }
}
