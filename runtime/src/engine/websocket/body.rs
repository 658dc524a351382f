//! [`WsBody`]: the front end of a websocket mounted in a plain `actix_web::HttpServer`: the
//! websocket is the streaming body of its `101` response, polled by the HTTP dispatcher that
//! owns the socket.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web;
use bytes::Bytes;
use futures_util::Stream;

use super::core::{Deliver, WsCore};

/// The websocket cut its client off as a slow consumer; the dispatcher drops the socket.
#[derive(Debug)]
pub(super) struct SlowConsumerCut;

impl std::fmt::Display for SlowConsumerCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("slow consumer: connection cut")
    }
}

impl std::error::Error for SlowConsumerCut {}

/// The websocket as the streaming body of its `101` response: actix-web's dispatcher polls
/// it, and each poll reads the request payload and yields the framed output.
pub(super) struct WsBody {
    core: WsCore,
    /// The client's bytes; `None` once reading is over.
    payload: Option<web::Payload>,
    done: bool,
}

impl WsBody {
    pub(super) fn new(core: WsCore, payload: web::Payload) -> WsBody {
        WsBody {
            core,
            payload: Some(payload),
            done: false,
        }
    }
}

impl MessageBody for WsBody {
    type Error = SlowConsumerCut;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let WsBody {
            core,
            payload,
            done,
        } = self.get_mut();
        if *done {
            return Poll::Ready(None);
        }
        if core.outbox.is_slow() {
            // Cut: nothing more is written, the dispatcher drops the socket at once.
            *done = true;
            return Poll::Ready(Some(Err(SlowConsumerCut)));
        }
        core.read(cx, &mut Deliver::Mailbox, |cx, buf| {
            let Some(source) = payload.as_mut() else {
                return Poll::Ready(false);
            };
            match Pin::new(source).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    buf.extend_from_slice(&chunk);
                    Poll::Ready(true)
                }
                Poll::Ready(Some(Err(_)) | None) => Poll::Ready(false),
                Poll::Pending => Poll::Pending,
            }
        });
        if !core.reading {
            *payload = None;
        }
        core.write(cx);
        if !core.out.is_empty() {
            return Poll::Ready(Some(Ok(Bytes::from(std::mem::take(&mut core.out)))));
        }
        if core.finished {
            *done = true;
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}
