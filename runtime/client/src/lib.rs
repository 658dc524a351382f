//! tickwire-client: a Socket.IO client in Rust, for bots, load generators, game clients and
//! tests. It depends on the sans-IO `tickwire-protocol` crate and a websocket, not on the
//! server: a game client or a bot never compiles actix-web.
//!
//! It speaks Engine.IO v4 over a websocket (no long-polling) and Socket.IO v5 on one
//! namespace, in either of tickwire's codecs: Socket.IO JSON, which any Socket.IO server
//! understands, or the compact binary codec (`codec=compact` at the handshake). Every byte
//! on the wire is written and read by [`tickwire_protocol`]; this crate only drives it.
//!
//! ```no_run
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//! use tickwire_client::{Client, ConnectionEvent, Reconnect};
//! use tickwire_client::Codec;
//!
//! #[derive(Serialize, Deserialize)]
//! struct Chat { text: String }
//!
//! # async fn run() -> Result<(), tickwire_client::Error> {
//! let client = Client::builder("http://127.0.0.1:3000")
//!     .namespace("/")
//!     .auth(serde_json::json!({"token": "secret"}))
//!     .codec(Codec::Json)
//!     .reconnect(Reconnect::default().max_attempts(Some(10)))
//!     .on("chat", |_client, chat: Chat, _ack| println!("{}", chat.text))
//!     // The server emits with an ack: answer it.
//!     .on("ready?", |_client, (): (), ack| {
//!         ack.send(&true).ok();
//!     })
//!     .on_connection(|_client, event| {
//!         if let ConnectionEvent::Disconnected(reason) = event {
//!             eprintln!("lost the connection: {}", reason.as_str());
//!         }
//!     })
//!     .connect()
//!     .await?;
//!
//! client.emit("chat", &Chat { text: "hello".into() })?;
//! let echoed: Chat = client
//!     .emit_with_ack("echo", &Chat { text: "ping".into() }, Duration::from_secs(5))
//!     .await?;
//! client.emit_binary("upload", vec![1u8, 2, 3])?;
//! client.disconnect();
//! client.closed().await;
//! # let _ = echoed;
//! # Ok(())
//! # }
//! ```
//!
//! # How it runs
//!
//! [`ClientBuilder::connect`] performs the first connection (websocket, Engine.IO open
//! packet, namespace CONNECT) and then hands it to a driver task started with
//! `tokio::spawn`. The driver answers the server's pings, notices a silent server
//! (no ping within `pingInterval + pingTimeout`), runs the handlers, and on a lost
//! connection reconnects with exponential backoff and jitter ([`Reconnect`]), joining the
//! namespace again with the same auth. [`Client`] handles talk to it through a bounded emit
//! queue and an unbounded control channel; they never wait on the network.
//!
//! One client is one connection to one namespace: open one client per namespace.
//!
//! # Exactly-once emits and recovery
//!
//! [`Client::emit_once_with_ack`] sends an emit with an emit id and retries it with the same
//! id until it is answered: a tickwire server runs its handler once and answers every copy
//! with that run's answer.
//!
//! When the server has connection state recovery on, the client claims its session back
//! on reconnection, as the official JS client does (the `pid` of the CONNECT reply and the
//! offset of the last event received, merged into the auth): the server gives the socket
//! its id, rooms, emit ids and missed broadcasts back ([`Client::recovered`]). JSON codec
//! only: compact broadcasts carry no offsets. As in the JS client, a broadcast's offset
//! stays in its arguments, as the last one.
//!
//! # Why tokio-tungstenite and not awc
//!
//! The websocket is `tokio-tungstenite` (plain `ws://`, no TLS). actix's `awc` client is
//! `!Send` and needs an actix (current-thread) runtime, so a bot or load generator could
//! neither spread its clients over a multi-threaded tokio runtime nor hold a `Client` in a
//! `Send` future. tungstenite is maintained, small (no HTTP client stack), `Send`, and runs
//! on any tokio runtime — inside an actix `System` too, which is a tokio runtime — so the
//! same client serves an actix app, a plain tokio bot and a load generator running many
//! clients per thread. `Client` is `Send + Sync`; handlers must be `Send`.
//!
//! # Codecs
//!
//! With JSON, an emit's data is the event's single argument; [`RawPayload::Json`] carries
//! several arguments and binary attachments ([`Payload`]). With the compact codec the
//! data is the postcard encoding of the value (the server reads it with the same serde
//! type); an event named `#N` is sent as numeric event id `N`, and a numeric event from the
//! server reaches the handler registered as `#N`.

mod builder;
mod driver;
mod endpoint;
mod error;
mod handle;
mod handlers;
mod once;
mod payload;
mod reconnect;
mod recovery;
mod ticks;
mod wire;

pub use builder::ClientBuilder;
pub use error::{DisconnectReason, Error, ProtocolError};
pub use handle::Client;
pub use handlers::{AckResponder, ConnectionEvent};
pub use payload::RawPayload;
pub use reconnect::Reconnect;
pub use ticks::{AckedInput, Ticks};

pub use tickwire_protocol::{Codec, Payload};
