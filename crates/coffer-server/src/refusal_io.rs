//! The connection's IO as hyper sees it, which rewrites the bare refusals hyper's HTTP/1 parser sends on its own (400, 414, 431 with an
//! empty body, for a head it cannot parse or hold) into the same status with Azure's error
//! envelope. Responses from the router always have a body, so they never match.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `inner` with hyper's bare refusals rewritten.
pub(crate) struct EnvelopeIo<T: AsyncRead + Unpin + Send + 'static> {
    /// Always `Some` until dropped.
    inner: Option<T>,
    /// A rewritten refusal still to be written, and how much of it is written.
    pending: Vec<u8>,
    written: usize,
    /// A refusal was sent: hyper closes the connection next, maybe with the client's bytes still
    /// unread, and closing with unread data makes the kernel reset the connection, so the
    /// client would lose the refusal. Those bytes are read and dropped for a moment first.
    refused: bool,
}

/// How long and how much a refused connection is drained before it closes.
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

impl<T: AsyncRead + Unpin + Send + 'static> EnvelopeIo<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self {
            inner: Some(inner),
            pending: Vec::new(),
            written: 0,
            refused: false,
        }
    }

    fn io(&mut self) -> io::Result<Pin<&mut T>> {
        self.inner
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

impl<T: AsyncRead + Unpin + Send + 'static> Drop for EnvelopeIo<T> {
    fn drop(&mut self) {
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        if !self.refused {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                use tokio::io::AsyncReadExt as _;
                let mut scratch = vec![0u8; 16 * 1024];
                let mut left = LINGER_BYTES;
                let drain = async {
                    while left > 0 {
                        match inner.read(&mut scratch).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => left = left.saturating_sub(n),
                        }
                    }
                };
                let _ = tokio::time::timeout(LINGER_TIME, drain).await;
            });
        }
    }
}

/// The replacement for `head` when it is one of hyper's bare refusals.
pub(crate) fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    if head.len() > 512 || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let rest = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))?;
    let status: u16 = rest.get(..3)?.parse().ok()?;
    let lower = text.to_ascii_lowercase();
    if !lower.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let (status, body) = coffer_api::protocol_refusal(status)?;
    let date = text
        .split("\r\n")
        .find(|l| l.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("date: ")));
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\ncache-control: no-cache\r\nx-ms-keyvault-service-version: coffer/{}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        env!("CARGO_PKG_VERSION"),
    );
    if let Some(d) = date {
        out.push_str(d);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> EnvelopeIo<T> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let start = self.written;
            let Some(inner) = self.inner.as_mut() else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            let n = ready!(Pin::new(inner).poll_write(cx, &self.pending[start..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin + Send + 'static> AsyncRead for EnvelopeIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.io()?.poll_read(cx, buf)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncWrite for EnvelopeIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        if let Some(replacement) = rewrite(buf) {
            self.pending = replacement;
            self.written = 0;
            self.refused = true;
            // The refusal is taken whole; it reaches the socket on this or the next drain.
            if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        self.io()?.poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        self.io()?.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        self.io()?.poll_shutdown(cx)
    }

    // Not vectored: hyper then writes a response head in one contiguous buffer, which is what
    // `rewrite` looks at.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_refusals_get_the_envelope() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 01 Dec 2025 00:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(head).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(out.contains("\r\ndate: Mon, 01 Dec 2025 00:00:00 GMT\r\n"));
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "RequestHeaderFieldsTooLarge");
        for status in ["400 Bad Request", "414 URI Too Long"] {
            let head = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            assert!(rewrite(head.as_bytes()).is_some(), "{status}");
        }
    }

    #[test]
    fn other_responses_pass_unchanged() {
        for head in [
            // The router's refusals have a body.
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 80\r\n\r\n"[..],
            b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
            b"\x00\x00\x12\x04\x00\x00\x00\x00\x00",
        ] {
            assert_eq!(rewrite(head), None, "{head:?}");
        }
    }
}
