//! Reading a ClientHello and deciding whose connection it is: the gateway's (finished with the
//! chosen host's configuration), someone else's (handed back mid-handshake), or refused with
//! `unrecognized_name`.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio_rustls::server::TlsStream;
use tokio_rustls::{LazyConfigAcceptor, StartHandshake};

use crate::{Choice, ConnInfo, Gateway, ListenerKind};

/// A TLS alert record: fatal `unrecognized_name` (RFC 6066 §3).
const UNRECOGNIZED_NAME: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

/// The outcome of a handshake on a listener the gateway shares or owns.
pub enum Handshake<IO> {
    /// The gateway's connection, TLS complete.
    Gateway(TlsStream<IO>, ConnInfo),
    /// Not the gateway's: finish it with the caller's own configuration.
    Other(StartHandshake<IO>),
}

impl<IO> std::fmt::Debug for Handshake<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gateway(_, info) => f.debug_tuple("Gateway").field(info).finish(),
            Self::Other(_) => f.write_str("Other"),
        }
    }
}

/// Why a handshake did not finish.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("TLS handshake failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("no gateway host is named {0:?} here; refused with unrecognized_name")]
    UnknownName(Option<String>),
}

impl Gateway {
    /// Reads the ClientHello from `io` and finishes the handshake if the connection is the
    /// gateway's. On the main listener with no gateway hosts at all, it costs one lookup.
    pub async fn handshake<IO>(
        &self,
        io: IO,
        listener: ListenerKind,
    ) -> Result<Handshake<IO>, HandshakeError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await?;
        let sni = start.client_hello().server_name().map(str::to_owned);
        match self.choose(listener, sni.as_deref()) {
            Choice::NotGateway => Ok(Handshake::Other(start)),
            Choice::Gateway(cfg, info) => {
                let tls = start.into_stream(cfg).await?;
                Ok(Handshake::Gateway(tls, info))
            }
            Choice::Refuse => {
                // rustls has nothing to say for an unknown name, so the alert is written by hand
                // before anything else goes out.
                let mut accept = start.into_stream(Arc::clone(&self.current.load().refusal()));
                if let Some(io) = accept.get_mut() {
                    let _ = io.write_all(&UNRECOGNIZED_NAME).await;
                    let _ = io.shutdown().await;
                }
                Err(HandshakeError::UnknownName(sni))
            }
        }
    }
}
