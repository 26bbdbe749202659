//! Binding the gateway's address, and refusing an open one without auth.

use std::net::SocketAddr;

use micro_runtime::Error;
use tokio::net::TcpListener;

use crate::GatewayOptions;

/// Listens on `address` (`host:port`; port 0 picks a free one) for a
/// gateway with `options`.
///
/// An address that is not loopback (`0.0.0.0`, a LAN address, a name
/// resolving to one) is refused unless the options set an
/// [auth token](GatewayOptions::auth_token) or say
/// [`insecure`](GatewayOptions::insecure): a gateway calls every service
/// for whoever reaches it. The refusal happens before anything is bound.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), micro_runtime::Error> {
/// use micro_gateway::GatewayOptions;
///
/// let open = GatewayOptions::new();
/// assert!(micro_gateway::listen("0.0.0.0:8080", &open).await.is_err());
/// let listener = micro_gateway::listen("127.0.0.1:8080", &open).await?;
/// # let _ = listener;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// 400 for an address that does not resolve or cannot be bound, for
/// options [`validate`](GatewayOptions::validate) refuses, and for a
/// non-loopback address without a token or `insecure`.
pub async fn listen(address: &str, options: &GatewayOptions) -> Result<TcpListener, Error> {
    options.validate()?;
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host(address)
        .await
        .map_err(|e| Error::bad_request(format!("gateway address {address:?}: {e}")))?
        .collect();
    if addresses.is_empty() {
        return Err(Error::bad_request(format!(
            "gateway address {address:?} resolves to no address"
        )));
    }
    exposure(address, &addresses, options)?;
    TcpListener::bind(&addresses[..])
        .await
        .map_err(|e| Error::bad_request(format!("cannot listen on {address}: {e}")))
}

/// `Ok` when serving on `addresses` is safe with `options`.
fn exposure(
    address: &str,
    addresses: &[SocketAddr],
    options: &GatewayOptions,
) -> Result<(), Error> {
    if options.token.is_some() || options.insecure {
        return Ok(());
    }
    match addresses.iter().find(|a| !a.ip().is_loopback()) {
        None => Ok(()),
        Some(open) => {
            let ip = open.ip().to_string();
            let shown = if address.contains(&ip) {
                address.to_owned()
            } else {
                format!("{address} ({ip})")
            };
            Err(Error::bad_request(format!(
                "refusing to listen on {shown} without an auth token: anyone who reaches \
                 it could call every service; set a token (--auth-token or \
                 MICRO_GATEWAY_TOKEN), listen on 127.0.0.1, or pass --insecure"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(address: &str, options: &GatewayOptions) -> Result<(), Error> {
        let addresses = [address.parse().unwrap()];
        exposure(address, &addresses, options)
    }

    #[test]
    fn open_addresses_want_a_token_or_insecure() {
        let plain = GatewayOptions::new();
        assert!(check("127.0.0.1:8080", &plain).is_ok());
        assert!(check("[::1]:8080", &plain).is_ok());
        for open in ["0.0.0.0:8080", "[::]:8080", "192.168.1.2:80"] {
            let err = check(open, &plain).unwrap_err();
            assert!(err.is_bad_request(), "{open}");
            assert!(err.detail().contains("--insecure"), "{err}");
        }
        assert!(check("0.0.0.0:8080", &plain.clone().insecure(true)).is_ok());
        let token = plain.auth_token("t0ken");
        assert!(check("0.0.0.0:8080", &token).is_ok());
        assert!(!format!("{token:?}").contains("t0ken"));
    }

    #[tokio::test]
    async fn refuses_before_binding() {
        let err = listen("0.0.0.0:0", &GatewayOptions::new())
            .await
            .unwrap_err();
        assert!(err.is_bad_request(), "{err}");
        let err = listen("127.0.0.1:0", &GatewayOptions::new().auth_token(""))
            .await
            .unwrap_err();
        assert!(err.detail().contains("empty"), "{err}");
        let listener = listen("localhost:0", &GatewayOptions::new()).await.unwrap();
        assert!(listener.local_addr().unwrap().ip().is_loopback());
    }
}
