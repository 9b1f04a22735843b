//! Reading request bodies: bounded in size, with a limit on how long the client may pause
//! between two pieces of it, and failures told apart (too large, malformed framing, too slow)
//! so each API can word them in its own envelope.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt as _;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum BodyError {
    #[error("The request body is larger than the {0}-byte limit.")]
    TooLarge(usize),
    #[error("The request body is malformed: its chunked encoding or length is invalid.")]
    Malformed,
    #[error("The request body was not received in time: the client paused longer than {0} s.")]
    TimedOut(u64),
}

/// A body of at most `limit` bytes.
pub(crate) async fn read(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| classify(&e))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(BodyError::TooLarge(limit));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

fn classify(e: &axum::Error) -> BodyError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<IdleTimeout>() {
            return BodyError::TimedOut(t.0.as_secs());
        }
        source = s.source();
    }
    BodyError::Malformed
}

/// The error a body gives when its client paused too long.
#[derive(Debug, thiserror::Error)]
#[error("the client paused longer than {} s while sending the request body", .0.as_secs())]
pub struct IdleTimeout(Duration);

/// `body`, failing with [`IdleTimeout`] when no part of it arrives for `idle`. The server wraps
/// every request body in this, so a client that declares 100 bytes and sends 5 cannot hold a
/// handler (and its connection) for ever.
pub fn with_idle_timeout<B>(body: B, idle: Duration) -> Body
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    Body::new(IdleBody {
        inner: Box::pin(body),
        idle,
        timer: None,
    })
}

struct IdleBody<B> {
    inner: Pin<Box<B>>,
    idle: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> HttpBody for IdleBody<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.inner.as_mut().poll_frame(cx) {
            Poll::Ready(r) => {
                self.timer = None;
                Poll::Ready(r.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let idle = self.idle;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(IdleTimeout(idle))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A body that yields its pieces, then ends (or, if `stall`, never does).
    struct Scripted {
        pieces: VecDeque<Result<Bytes, std::io::Error>>,
        stall: bool,
    }

    impl HttpBody for Scripted {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            match self.pieces.pop_front() {
                Some(p) => Poll::Ready(Some(p.map(Frame::data))),
                None if self.stall => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    fn scripted(pieces: Vec<Result<Bytes, std::io::Error>>, stall: bool) -> Scripted {
        Scripted {
            pieces: pieces.into(),
            stall,
        }
    }

    #[tokio::test]
    async fn limits_and_errors_are_told_apart() {
        assert_eq!(read(Body::from("abc"), 3).await.unwrap(), "abc");
        assert_eq!(
            read(Body::from("abcd"), 3).await,
            Err(BodyError::TooLarge(3))
        );
        let broken = scripted(
            vec![
                Ok(Bytes::from_static(b"ab")),
                Err(std::io::Error::other("bad chunk")),
            ],
            false,
        );
        assert_eq!(
            read(Body::new(broken), 100).await,
            Err(BodyError::Malformed)
        );
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let stalled = scripted(vec![Ok(Bytes::from_static(b"12345"))], true);
        let body = with_idle_timeout(stalled, Duration::from_millis(20));
        assert!(matches!(read(body, 100).await, Err(BodyError::TimedOut(_))));
        let complete = scripted(vec![Ok(Bytes::from_static(b"12345"))], false);
        let body = with_idle_timeout(complete, Duration::from_millis(20));
        assert_eq!(read(body, 100).await.unwrap(), "12345");
    }
}
