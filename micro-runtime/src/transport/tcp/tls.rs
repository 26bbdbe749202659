//! TLS on the TCP listener and its clients (cargo feature `tls`): the
//! handshake inside the connection task, ALPN, and plaintext callers told
//! in their own protocol that the port needs TLS.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};

use super::frame::{self, Kind};
use crate::Result;
use crate::log::Throttled;
use crate::tls::{self, ClientTls};
use crate::transport::grpc::server::H2_PREFACE_START;

/// What a plaintext caller of a TLS port is told (no secret in it).
pub(super) const TLS_REQUIRED: &str = "this port requires TLS: configure the client with MICRO_TLS_CA (and a client certificate for mutual TLS)";

/// The first byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE: u8 = 0x16;

/// HTTP/2's INADEQUATE_SECURITY error code.
const H2_INADEQUATE_SECURITY: u32 = 0xc;

/// The throttled warnings of a TLS listener: failed handshakes, and
/// plaintext callers (each its own throttle, so one does not hide the other).
pub(super) struct TlsLogs {
    handshakes: Throttled,
    plaintext: Throttled,
}

impl Default for TlsLogs {
    fn default() -> Self {
        Self {
            handshakes: Throttled::new("tls handshake", Duration::from_secs(10)),
            plaintext: Throttled::new("plaintext on tls", Duration::from_secs(10)),
        }
    }
}

/// An accepted TLS connection and whether ALPN chose HTTP/2.
pub(super) struct Accepted {
    pub(super) stream: server::TlsStream<TcpStream>,
    pub(super) h2: bool,
}

/// Runs the server's handshake within `limit`; `None` (logged, throttled)
/// when it fails, times out, or the caller speaks plaintext (told so first).
pub(super) async fn accept(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: &str,
    limit: Duration,
    logs: &TlsLogs,
) -> Option<Accepted> {
    let log = &logs.handshakes;
    let deadline = Instant::now() + limit;
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout_at(deadline, stream.peek(&mut first)).await;
    match peeked {
        Ok(Ok(1)) => {}
        Ok(_) => return None, // closed before a byte
        Err(_) => {
            log.warn(|suppressed| {
                tracing::warn!(peer = %peer, suppressed, "closing connection: no TLS handshake within {limit:?}");
            });
            return None;
        }
    }
    if first[0] != TLS_HANDSHAKE {
        logs.plaintext.warn(|suppressed| {
            tracing::warn!(peer = %peer, suppressed, "closing connection: plaintext on a TLS port");
        });
        refuse_plaintext(stream, deadline).await;
        return None;
    }
    match tokio::time::timeout_at(deadline, acceptor.accept(stream).into_fallible()).await {
        Ok(Ok(stream)) => {
            let h2 = stream.get_ref().1.alpn_protocol() == Some(tls::ALPN_H2);
            Some(Accepted { stream, h2 })
        }
        Ok(Err((err, stream))) => {
            // rustls' errors name what failed (no certificate, unknown CA,
            // bad record), never key material.
            log.warn(|suppressed| {
                tracing::warn!(peer = %peer, suppressed, error = %err, "TLS handshake failed");
            });
            // Its alert is sent: closing with the client's bytes unread would
            // reset the connection and lose it.
            hang_up(stream, deadline).await;
            None
        }
        Err(_) => {
            log.warn(|suppressed| {
                tracing::warn!(peer = %peer, suppressed, "closing connection: TLS handshake not done within {limit:?}");
            });
            None
        }
    }
}

/// Tells a plaintext caller that TLS is required, in its protocol: a
/// native GOAWAY frame, or HTTP/2 SETTINGS and GOAWAY(INADEQUATE_SECURITY);
/// then waits (until `deadline`) for it to hang up, so the answer is not
/// lost to a reset.
async fn refuse_plaintext(mut stream: TcpStream, deadline: Instant) {
    let mut start = [0u8; 8];
    let read = tokio::time::timeout_at(deadline, stream.read_exact(&mut start)).await;
    if !matches!(read, Ok(Ok(_))) {
        return;
    }
    let mut out = BytesMut::new();
    if &start == frame::PREFACE {
        let reason = TLS_REQUIRED.as_bytes();
        frame::put_header(&mut out, Kind::GoAway, 0, 0, 4 + reason.len());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(reason);
    } else if start.starts_with(H2_PREFACE_START) {
        // SETTINGS (empty), then GOAWAY with the reason as debug data.
        out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        let debug = TLS_REQUIRED.as_bytes();
        let len = 8 + debug.len();
        out.extend_from_slice(&[
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            7,
            0,
            0,
            0,
            0,
            0,
        ]);
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&H2_INADEQUATE_SECURITY.to_be_bytes());
        out.extend_from_slice(debug);
    } else {
        return;
    }
    if tokio::time::timeout_at(deadline, stream.write_all(&out))
        .await
        .is_ok_and(|written| written.is_ok())
    {
        hang_up(stream, deadline).await;
    }
}

/// Closes our side, then reads (and drops) what the peer still sends until
/// it closes too or `deadline` passes: what we sent last is not lost to a
/// reset.
async fn hang_up(mut stream: TcpStream, deadline: Instant) {
    let drained = async {
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout_at(deadline, drained).await;
}

/// Dials TLS over `socket` to `address`, offering ALPN `h2` or `micro/1`.
///
/// # Errors
///
/// As [`tls::dial_error`]: 401 when the server wants a client certificate
/// this client lacks (seen by TLS 1.3 clients only on their first read), 503
/// otherwise.
pub(crate) async fn connect(
    tls: &ClientTls,
    address: &str,
    socket: TcpStream,
    h2: bool,
) -> Result<client::TlsStream<TcpStream>> {
    let name = tls.server_name(address)?;
    let connector = TlsConnector::from(tls.config_for(h2));
    tls::dial_result(address, connector.connect(name, socket).await)
}
