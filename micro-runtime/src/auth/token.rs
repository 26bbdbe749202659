//! The client wrapper that presents a configured bearer token.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::chain::{Next, Wrapper};
use crate::client::wrapper::{ClientRequest, ClientResponse};
use crate::{Error, Result, env_vars};

/// Sends `authorization: Bearer <token>` with every call that does not
/// already carry an `authorization` entry (one forwarded from the request
/// being handled, or set on the call, wins).
///
/// The token never appears in `Debug` output, logs or errors.
///
/// # Examples
///
/// ```
/// use micro_runtime::auth::BearerToken;
///
/// let token = BearerToken::new("eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl")?;
/// assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
/// assert!(BearerToken::new("two words").is_err());
/// # Ok::<(), micro_runtime::Error>(())
/// ```
#[derive(Clone)]
pub struct BearerToken {
    header: Arc<str>,
}

impl BearerToken {
    /// Presents `token`.
    ///
    /// # Errors
    ///
    /// 400 for an empty token or one with spaces or control characters.
    pub fn new(token: &str) -> Result<Self> {
        let token = token.trim();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::bad_request(format!(
                "an auth token ({} characters) must be printable ASCII without spaces",
                token.chars().count()
            )));
        }
        Ok(Self {
            header: format!("Bearer {token}").into(),
        })
    }

    /// The token of `MICRO_AUTH_TOKEN_FILE` (preferred: a file keeps it out
    /// of the process list) or `MICRO_AUTH_TOKEN`, or `None`.
    ///
    /// # Errors
    ///
    /// 400 when the file cannot be read or the token is not valid.
    pub fn from_env() -> Result<Option<Self>> {
        if let Some(path) = env_vars::string("MICRO_AUTH_TOKEN_FILE") {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::bad_request(format!("MICRO_AUTH_TOKEN_FILE: cannot read {path}: {e}"))
            })?;
            return Self::new(&text).map(Some);
        }
        env_vars::string("MICRO_AUTH_TOKEN")
            .map(|token| Self::new(&token))
            .transpose()
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl Wrapper<ClientRequest, ClientResponse> for BearerToken {
    fn call(
        &self,
        mut req: ClientRequest,
        next: Next<ClientRequest, ClientResponse>,
    ) -> BoxFuture<'static, Result<ClientResponse>> {
        let metadata = req.context_mut().metadata_mut();
        if metadata.get("authorization").is_none() {
            metadata.insert("authorization", &*self.header);
        }
        next.run(req)
    }
}
