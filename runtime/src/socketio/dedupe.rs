//! Exactly-once client → server emits: the `tw:once` envelope and each socket's window of
//! the emit ids it has seen.
//!
//! # The wire convention
//!
//! A client that wants an emit handled once, however often it sends it, gives the emit an
//! **emit id** and sends it as the event `tw:once` ([`ONCE_EVENT`]), with an ack id as usual:
//!
//! - **JSON codec**: the first argument is the emit id, the second the real event's name,
//!   then the real arguments (binary attachments as usual):
//!
//!   ```text
//!   42<ack>["tw:once","<emit id>","buy",{"item":7}]
//!   451-<ack>["tw:once","<emit id>","upload",{"_placeholder":true,"num":0}]
//!   ```
//!
//! - **compact codec**: an EVENT named `tw:once` (by name, not by numeric id) whose payload
//!   is the postcard encoding of the tuple `(emit id: str, event: str, payload: bytes)`:
//!   `varint(len) id`, `varint(len) event`, `varint(len) payload`, where `payload` is the
//!   postcard payload the real event would carry on its own (empty for no argument). A
//!   numbered event is named `#N`, as the server names it. Nothing may follow.
//!
//! The emit id is a non-empty string of at most [`MAX_EMIT_ID_LEN`] bytes, unique within the
//! client's session (a recovered session included): e.g. 16 random hex digits, or a random
//! prefix and a counter. The event name is a string, not `tw:once` itself, and not one of
//! Socket.IO's reserved names (`connect`, `disconnect`, ...). An envelope that breaks these
//! rules is malformed like an event without a name: the connection closes (reason `parse
//! error`).
//!
//! The answer is an ordinary ACK for the ack id of the packet it answers: the client can
//! re-send the same emit id with a new ack id (a retry) and gets the same answer.
//!
//! # What the server does
//!
//! The first time a socket sees an emit id, the real event's handler runs with the real
//! arguments and an [`AckSender`] that also keeps the answer it sends. A duplicate (the same
//! emit id again) never runs the handler:
//!
//! - the first run has answered: the duplicate gets the same answer (the same arguments and
//!   attachments, for its own ack id);
//! - the first run is still in flight: the duplicate is answered when the first run answers
//!   (one waiting duplicate per id: a later one replaces it);
//! - the first run asked for no answer, or its handler finished without answering: the
//!   duplicate is dropped.
//!
//! # Limits (memory is a function of configuration only)
//!
//! - [`Config::emit_dedupe_window`](crate::Config::emit_dedupe_window) (default 256): the
//!   number of emit ids a socket remembers. Past it the oldest is forgotten, and **a
//!   duplicate of a forgotten id runs again**: the documented limit. `0` turns deduplication
//!   off (`tw:once` is still unwrapped, every copy runs).
//! - [`Config::emit_dedupe_max_ack_bytes`](crate::Config::emit_dedupe_max_ack_bytes) (default
//!   64 KiB): the bytes of answers a socket keeps. Past it the oldest answers are forgotten
//!   (an answer larger than the bound is never kept); their ids stay, so a duplicate of one is
//!   dropped unanswered rather than run twice.
//!
//! [`Socket::emit_dedupe_stats`] counts each outcome.
//!
//! # Across reconnections
//!
//! The window belongs to the socket, so it lasts as long as the Socket.IO session: with
//! connection state recovery ([`crate::RecoveryConfig`]) a recovered socket gets its window
//! back ([`DedupeState`]), and a duplicate sent after the reconnection is answered as above.
//! A client that starts a fresh session (no recovery, recovery refused, or a compact-codec
//! client, which carries no offsets and so never recovers) starts a fresh window: its retry
//! of an emit sent before the reconnection runs again. A handler still running when its
//! connection dropped keeps running; its answer is kept for the session wherever it is (the
//! recovery log, or the recovered socket).
//!
//! # Opting in
//!
//! Nothing to do on the server: deduplication is on by default for every namespace, and
//! handlers are written as usual (`socket.on("buy", ...)` receives the unwrapped emit).
//! Clients opt in per emit by using the envelope: `tickwire_client::Client::emit_once_with_ack`
//! in Rust, `emitOnce` of `protocol/js/tickwire-once.js` with the official client.
//!
//! The official socket.io-client's `retries` option is no substitute: it re-sends a failed
//! emit with a new ack id and nothing stable, so the server cannot tell a retry from a new
//! emit and the handler runs once per attempt. Use the emit id convention for exactly-once.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use tickwire_protocol::compact;
use tickwire_protocol::socketio::RESERVED_EVENTS;

use super::ack::AckSender;
use super::disconnect::DisconnectReason;
use super::error::SendError;
use super::payload::Payload;
use super::socket::Socket;
use crate::config::Config;
use crate::engine::{Class, CloseCause, Codec, Frame, LocalFuture};

/// The event an exactly-once emit travels as.
pub(crate) const ONCE_EVENT: &str = "tw:once";

/// The longest emit id, in bytes.
pub(crate) const MAX_EMIT_ID_LEN: usize = 64;

/// What one socket's deduplication did so far ([`Socket::emit_dedupe_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DedupeStats {
    /// `tw:once` emits whose handler ran (the first copy of each emit id).
    pub ran: u64,
    /// Duplicates answered at once with the kept answer of their first run.
    pub replayed: u64,
    /// Duplicates that arrived while their first run was in flight, to be answered when it
    /// answers.
    pub awaited: u64,
    /// Duplicates dropped unanswered: no answer asked for, or none to give.
    pub dropped: u64,
    /// Emit ids forgotten past the window (a later copy of one runs again).
    pub evicted: u64,
    /// Answers forgotten past the byte bound (their ids stay remembered).
    pub answers_forgotten: u64,
}

/// Why a `tw:once` envelope is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OnceError {
    #[error("tw:once without an emit id")]
    MissingId,
    #[error("tw:once emit id is not a string")]
    IdNotString,
    #[error("tw:once emit id of {0} bytes is over the limit of {max}", max = MAX_EMIT_ID_LEN)]
    IdTooLong(usize),
    #[error("tw:once without an event name")]
    MissingEvent,
    #[error("tw:once event name is not a string")]
    EventNotString,
    #[error("tw:once wraps the reserved event {0:?}")]
    ReservedEvent(String),
    #[error("tw:once compact payload: {0}")]
    Compact(String),
}

/// An unwrapped `tw:once` emit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Envelope {
    pub(crate) id: Arc<str>,
    pub(crate) event: String,
    pub(crate) payload: Payload,
}

/// Read the envelope of a `tw:once` event (`payload` holds its arguments after the name).
pub(crate) fn unwrap(payload: Payload) -> Result<Envelope, OnceError> {
    if let Some(bytes) = payload.compact_bytes() {
        let (id, event, inner): (String, String, Vec<u8>) =
            compact::from_payload(bytes).map_err(|e| OnceError::Compact(e.to_string()))?;
        return envelope(id, event, Payload::from_compact(inner));
    }
    let (mut args, attachments) = payload.into_parts();
    let mut head = args.drain(..args.len().min(2));
    let id = match head.next() {
        None => return Err(OnceError::MissingId),
        Some(serde_json::Value::String(id)) => id,
        Some(_) => return Err(OnceError::IdNotString),
    };
    let event = match head.next() {
        None => return Err(OnceError::MissingEvent),
        Some(serde_json::Value::String(event)) => event,
        Some(_) => return Err(OnceError::EventNotString),
    };
    drop(head);
    envelope(id, event, Payload::from_parts(args, attachments))
}

fn envelope(id: String, event: String, payload: Payload) -> Result<Envelope, OnceError> {
    if id.is_empty() {
        return Err(OnceError::MissingId);
    }
    if id.len() > MAX_EMIT_ID_LEN {
        return Err(OnceError::IdTooLong(id.len()));
    }
    if event.is_empty() {
        return Err(OnceError::MissingEvent);
    }
    if event == ONCE_EVENT || RESERVED_EVENTS.contains(&event.as_str()) {
        return Err(OnceError::ReservedEvent(event));
    }
    Ok(Envelope {
        id: id.into(),
        event,
        payload,
    })
}

// ----- answers ---------------------------------------------------------------------------

/// An answer as kept for duplicates: its wire form without the ack id, so a replay is the
/// same bytes for another id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoredAck {
    /// JSON: the arguments' array text (`[...]`) and the binary attachments.
    Json {
        args: String,
        attachments: Vec<Bytes>,
    },
    /// Compact: the postcard payload.
    Compact(Bytes),
}

impl StoredAck {
    /// An answer of one typed argument, for `codec`.
    pub(crate) fn typed<T: Serialize + ?Sized>(
        codec: Codec,
        data: &T,
    ) -> Result<StoredAck, SendError> {
        match codec {
            Codec::Json => {
                let mut args = String::from("[");
                args.push_str(&serde_json::to_string(data)?);
                args.push(']');
                Ok(StoredAck::Json {
                    args,
                    attachments: Vec::new(),
                })
            }
            Codec::Compact => compact::to_payload(data)
                .map(StoredAck::Compact)
                .map_err(|e| SendError::Serialize(e.to_string())),
        }
    }

    /// An answer from a raw payload, which must be of `codec`.
    fn raw(codec: Codec, payload: Payload) -> Result<StoredAck, SendError> {
        match (codec, payload.compact_bytes()) {
            (Codec::Compact, Some(bytes)) => Ok(StoredAck::Compact(bytes.clone())),
            (Codec::Json, None) => {
                let (args, attachments) = payload.into_parts();
                Ok(StoredAck::Json {
                    args: serde_json::to_string(&args)?,
                    attachments,
                })
            }
            _ => Err(SendError::Serialize(
                "a raw payload travels only on the codec it was made for; answer with a typed value to reach both"
                    .into(),
            )),
        }
    }

    fn codec(&self) -> Codec {
        match self {
            StoredAck::Json { .. } => Codec::Json,
            StoredAck::Compact(_) => Codec::Compact,
        }
    }

    /// What keeping it costs, in bytes.
    fn cost(&self) -> usize {
        match self {
            StoredAck::Json { args, attachments } => {
                args.len() + attachments.iter().map(Bytes::len).sum::<usize>()
            }
            StoredAck::Compact(bytes) => bytes.len(),
        }
    }

    /// The ACK frames answering ack `id` on namespace `nsp`: `43[<nsp>,]<id>[...]` (or
    /// `46<n>-...` and the attachments), or one compact ACK.
    fn frames(&self, nsp: &str, id: u64) -> Result<Vec<Frame>, SendError> {
        match self {
            StoredAck::Json { args, attachments } => {
                let mut text = String::with_capacity(args.len() + nsp.len() + 24);
                if attachments.is_empty() {
                    text.push_str("43");
                } else {
                    let _ = write!(text, "46{}-", attachments.len());
                }
                if nsp != "/" {
                    text.push_str(nsp);
                    text.push(',');
                }
                let _ = write!(text, "{id}");
                text.push_str(args);
                let mut frames = Vec::with_capacity(1 + attachments.len());
                frames.push(Frame::Text(ByteString::from(text)));
                frames.extend(attachments.iter().cloned().map(Frame::Binary));
                Ok(frames)
            }
            StoredAck::Compact(bytes) => {
                super::compact::encode_raw_ack(nsp, id, bytes.clone()).map(|f| vec![f])
            }
        }
    }
}

// ----- the window ------------------------------------------------------------------------

#[derive(Debug)]
enum Outcome {
    /// The handler runs; `waiter` is the ack id of the duplicate awaiting its answer.
    Running { waiter: Option<u64> },
    /// Ran, and there is no answer to give.
    Done,
    /// Ran and answered this.
    Acked(StoredAck),
}

#[derive(Debug)]
struct Entry {
    /// Tells a run from a later run of the same id (after an eviction).
    seq: u64,
    outcome: Outcome,
}

/// What to do with a `tw:once` emit.
#[derive(Debug, PartialEq)]
pub(crate) enum Admission {
    /// First sight of the id: run the handler. With `Some(seq)`, its answer is kept (settle
    /// it with that `seq`).
    Run(Option<u64>),
    /// A duplicate of an answered emit: send it this answer.
    Replay(StoredAck),
    /// A duplicate of an emit in flight: it is answered when the first run answers.
    Wait,
    /// A duplicate with nothing to answer.
    Drop,
}

/// One socket's remembered emit ids, oldest first, and their answers.
#[derive(Debug)]
pub(crate) struct DedupeWindow {
    window: usize,
    max_ack_bytes: usize,
    entries: HashMap<Arc<str>, Entry>,
    /// Every id of `entries`, in the order they were first seen.
    order: VecDeque<Arc<str>>,
    ack_bytes: usize,
    next_seq: u64,
    stats: DedupeStats,
}

impl DedupeWindow {
    pub(crate) fn new(config: &Config) -> DedupeWindow {
        DedupeWindow {
            window: config.emit_dedupe_window,
            max_ack_bytes: config.emit_dedupe_max_ack_bytes,
            entries: HashMap::new(),
            order: VecDeque::new(),
            ack_bytes: 0,
            next_seq: 0,
            stats: DedupeStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> DedupeStats {
        self.stats
    }

    /// An emit with id `id` arrived, asking for an answer to `ack_id`.
    pub(crate) fn admit(&mut self, id: &Arc<str>, ack_id: Option<u64>) -> Admission {
        if self.window == 0 {
            self.stats.ran += 1;
            return Admission::Run(None);
        }
        if let Some(entry) = self.entries.get_mut(id) {
            let admission = match (&mut entry.outcome, ack_id) {
                (Outcome::Running { waiter }, Some(ack_id)) => {
                    *waiter = Some(ack_id);
                    Admission::Wait
                }
                (Outcome::Acked(answer), Some(_)) => Admission::Replay(answer.clone()),
                _ => Admission::Drop,
            };
            match admission {
                Admission::Wait => self.stats.awaited += 1,
                Admission::Replay(_) => self.stats.replayed += 1,
                _ => self.stats.dropped += 1,
            }
            return admission;
        }
        let seq = self.insert(id.clone(), ack_id.is_some());
        self.stats.ran += 1;
        Admission::Run(ack_id.map(|_| seq))
    }

    /// Remember `id` (as running when an answer is awaited, else as done), forgetting the
    /// oldest ids past the window.
    fn insert(&mut self, id: Arc<str>, running: bool) -> u64 {
        while self.order.len() >= self.window.max(1) {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(Entry {
                outcome: Outcome::Acked(answer),
                ..
            }) = self.entries.remove(&oldest)
            {
                self.ack_bytes -= answer.cost();
            }
            self.stats.evicted += 1;
        }
        self.next_seq += 1;
        let outcome = if running {
            Outcome::Running { waiter: None }
        } else {
            Outcome::Done
        };
        self.entries.insert(
            id.clone(),
            Entry {
                seq: self.next_seq,
                outcome,
            },
        );
        self.order.push_back(id);
        self.next_seq
    }

    /// The run of `id` finished with `answer` (`None`: finished without one). `seq` names
    /// the run; `None` settles whichever run of `id` is in flight (a run of a previous
    /// connection of the same session). Returns the waiting duplicate's ack id and what to
    /// answer it.
    pub(crate) fn settle(
        &mut self,
        id: &str,
        seq: Option<u64>,
        answer: Option<StoredAck>,
    ) -> Option<(u64, StoredAck)> {
        let entry = self.entries.get_mut(id)?;
        if seq.is_some_and(|seq| seq != entry.seq) {
            return None;
        }
        let Outcome::Running { waiter } = &mut entry.outcome else {
            return None;
        };
        let waiter = waiter.take();
        let Some(answer) = answer else {
            entry.outcome = Outcome::Done;
            if waiter.is_some() {
                self.stats.dropped += 1;
            }
            return None;
        };
        let reply = waiter.map(|ack_id| (ack_id, answer.clone()));
        let cost = answer.cost();
        if cost > self.max_ack_bytes {
            entry.outcome = Outcome::Done;
            self.stats.answers_forgotten += 1;
        } else {
            entry.outcome = Outcome::Acked(answer);
            self.ack_bytes += cost;
            self.forget_answers_past_the_bound();
        }
        reply
    }

    /// Forget the oldest answers until the kept ones fit the byte bound.
    fn forget_answers_past_the_bound(&mut self) {
        for id in &self.order {
            if self.ack_bytes <= self.max_ack_bytes {
                return;
            }
            if let Some(entry) = self.entries.get_mut(id) {
                if let Outcome::Acked(answer) = &entry.outcome {
                    self.ack_bytes -= answer.cost();
                    entry.outcome = Outcome::Done;
                    self.stats.answers_forgotten += 1;
                }
            }
        }
    }

    /// What a recovery keeps of this window.
    pub(crate) fn state(&self) -> DedupeState {
        let entries = self
            .order
            .iter()
            .filter_map(|id| {
                let entry = self.entries.get(id)?;
                let id = id.to_string();
                Some(match &entry.outcome {
                    Outcome::Running { .. } => StateEntry::Pending { id },
                    Outcome::Done => StateEntry::Done { id },
                    Outcome::Acked(StoredAck::Json { args, attachments }) => StateEntry::Json {
                        id,
                        args: args.clone(),
                        attachments: attachments.iter().map(|b| Hex(b.clone())).collect(),
                    },
                    Outcome::Acked(StoredAck::Compact(bytes)) => StateEntry::Compact {
                        id,
                        answer: Hex(bytes.clone()),
                    },
                })
            })
            .collect();
        DedupeState {
            version: STATE_VERSION,
            entries,
        }
    }

    /// Replace the window with `state` (a recovered session's), within this window's
    /// bounds: past them the oldest ids and answers go first, as they would have. Entries
    /// that are not valid (an id too long, a repeated id) are skipped.
    pub(crate) fn restore(&mut self, state: DedupeState) {
        self.entries.clear();
        self.order.clear();
        self.ack_bytes = 0;
        if self.window == 0 || state.version != STATE_VERSION {
            return;
        }
        let skip = state.entries.len().saturating_sub(self.window);
        for entry in state.entries.into_iter().skip(skip) {
            let (id, outcome) = entry.into_parts();
            if id.is_empty() || id.len() > MAX_EMIT_ID_LEN || self.entries.contains_key(id.as_str())
            {
                continue;
            }
            let id: Arc<str> = id.into();
            self.insert(id.clone(), false);
            let outcome = match outcome {
                Outcome::Acked(answer) if answer.cost() <= self.max_ack_bytes => {
                    self.ack_bytes += answer.cost();
                    Outcome::Acked(answer)
                }
                Outcome::Acked(_) => Outcome::Done,
                other => other,
            };
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.outcome = outcome;
            }
        }
        self.forget_answers_past_the_bound();
        // Restoring is not deduplicating: the counters start afresh with the socket.
        self.stats = DedupeStats::default();
    }
}

// ----- what a recovery keeps -------------------------------------------------------------

const STATE_VERSION: u32 = 1;

/// A socket's window of emit ids, as connection state recovery keeps it for the session
/// (in the namespace's recovery log, or a cluster's shared store).
///
/// Its JSON shape (version 1), entries oldest first:
///
/// ```text
/// {"v":1,"entries":[
///   {"state":"pending","id":"<emit id>"},      // the handler was running
///   {"state":"done","id":"<emit id>"},         // ran; no answer to give
///   {"state":"json","id":"<emit id>","args":"[\"ok\",3]","attachments":["0a0b"]},
///   {"state":"compact","id":"<emit id>","answer":"0102"}
/// ]}
/// ```
///
/// `args` is the JSON text of the answer's argument array (binary ones as placeholders),
/// `attachments` (left out when empty) and `answer` (the compact postcard payload) are
/// lowercase hex. A state of another version restores as an empty window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DedupeState {
    #[serde(rename = "v")]
    version: u32,
    entries: Vec<StateEntry>,
}

impl Default for DedupeState {
    fn default() -> Self {
        DedupeState {
            version: STATE_VERSION,
            entries: Vec::new(),
        }
    }
}

impl DedupeState {
    /// Whether it holds no emit id.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes of answers it holds (what the recovery log counts against its bound).
    pub(crate) fn answer_bytes(&self) -> usize {
        self.entries.iter().map(StateEntry::answer_bytes).sum()
    }

    /// Forget every answer, keeping the ids (their duplicates are then dropped, not run).
    pub(crate) fn forget_answers(&mut self) {
        for entry in &mut self.entries {
            if let StateEntry::Json { id, .. } | StateEntry::Compact { id, .. } = entry {
                *entry = StateEntry::Done {
                    id: std::mem::take(id),
                };
            }
        }
    }

    /// The run of `id` that was in flight when the state was taken finished with `answer`
    /// (`None`: without one). The answer is kept if it costs at most `budget` bytes. Returns
    /// the bytes of answer now held for it.
    pub(crate) fn settle(&mut self, id: &str, answer: Option<StoredAck>, budget: usize) -> usize {
        let Some(entry) = self
            .entries
            .iter_mut()
            .find(|e| matches!(e, StateEntry::Pending { id: pending } if pending == id))
        else {
            return 0;
        };
        let id = id.to_owned();
        *entry = match answer {
            Some(answer) if answer.cost() <= budget => StateEntry::from_answer(id, answer),
            _ => StateEntry::Done { id },
        };
        entry.answer_bytes()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum StateEntry {
    Pending {
        id: String,
    },
    Done {
        id: String,
    },
    Json {
        id: String,
        args: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<Hex>,
    },
    Compact {
        id: String,
        answer: Hex,
    },
}

impl StateEntry {
    fn from_answer(id: String, answer: StoredAck) -> StateEntry {
        match answer {
            StoredAck::Json { args, attachments } => StateEntry::Json {
                id,
                args,
                attachments: attachments.into_iter().map(Hex).collect(),
            },
            StoredAck::Compact(bytes) => StateEntry::Compact {
                id,
                answer: Hex(bytes),
            },
        }
    }

    fn answer_bytes(&self) -> usize {
        match self {
            StateEntry::Json {
                args, attachments, ..
            } => args.len() + attachments.iter().map(|h| h.0.len()).sum::<usize>(),
            StateEntry::Compact { answer, .. } => answer.0.len(),
            _ => 0,
        }
    }

    /// The id, and what a window holds for it.
    fn into_parts(self) -> (String, Outcome) {
        match self {
            StateEntry::Pending { id } => (id, Outcome::Running { waiter: None }),
            StateEntry::Done { id } => (id, Outcome::Done),
            StateEntry::Json {
                id,
                args,
                attachments,
            } => (
                id,
                Outcome::Acked(StoredAck::Json {
                    args,
                    attachments: attachments.into_iter().map(|h| h.0).collect(),
                }),
            ),
            StateEntry::Compact { id, answer } => {
                (id, Outcome::Acked(StoredAck::Compact(answer.0)))
            }
        }
    }
}

/// Bytes as a lowercase hex string.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hex(Bytes);

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(self.0.len() * 2);
        for byte in self.0.iter() {
            let _ = write!(text, "{byte:02x}");
        }
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let bytes = text.as_bytes();
        if bytes.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        bytes
            .chunks(2)
            .map(|pair| Some((digit(pair[0])? << 4) | digit(pair[1])?))
            .collect::<Option<Vec<u8>>>()
            .map(|v| Hex(Bytes::from(v)))
            .ok_or_else(|| serde::de::Error::custom("not lowercase hex"))
    }
}

// ----- dispatch and answers ---------------------------------------------------------------

/// Dispatch a `tw:once` event (`payload` holds its arguments after the name): run the real
/// event's handler the first time its emit id is seen, answer or drop a duplicate.
pub(crate) fn dispatch(
    socket: &Socket,
    payload: Payload,
    ack_id: Option<u64>,
) -> Option<LocalFuture> {
    let Envelope { id, event, payload } = match unwrap(payload) {
        Ok(envelope) => envelope,
        Err(error) => {
            // Malformed like an event without a name: the connection closes (parse error).
            tracing::debug!(socket = %socket.id(), %error, "closing connection: invalid packet");
            socket.close(DisconnectReason::ParseError, false);
            socket.inner.conn.close(CloseCause::ParseError);
            return None;
        }
    };
    let admission = socket.with_dedupe(|window| window.admit(&id, ack_id));
    let once = match admission {
        Admission::Run(None) => None,
        Admission::Run(Some(seq)) => Some(OnceAck(Arc::new(OnceRun {
            socket: socket.clone(),
            id,
            seq,
            answered: AtomicBool::new(false),
        }))),
        Admission::Replay(answer) => {
            if let Some(ack_id) = ack_id {
                answer_on(socket, ack_id, &answer);
            }
            return None;
        }
        Admission::Wait | Admission::Drop => return None,
    };
    let ack = AckSender {
        socket: socket.clone(),
        id: ack_id,
        once,
    };
    socket.run_handler(&event, payload, ack)
}

/// Send `answer` for ack `ack_id` on `socket` (when it is of the socket's codec).
fn answer_on(socket: &Socket, ack_id: u64, answer: &StoredAck) {
    if answer.codec() != socket.codec() {
        tracing::debug!(socket = %socket.id(), "kept answer of another codec; duplicate dropped");
        return;
    }
    match answer.frames(socket.ns().name(), ack_id) {
        // Over the budget the client is cut as a slow consumer, like any ack.
        Ok(frames) => {
            let _ = socket.send_frames(&frames, Class::Control);
        }
        Err(error) => tracing::warn!(%error, "kept answer does not encode; duplicate dropped"),
    }
}

/// The handle an exactly-once run's [`AckSender`] holds: answers go out as usual and are
/// kept for the emit's duplicates. Shared by the sender's clones; when the last one is
/// dropped without an answer, the run counts as finished without one.
#[derive(Debug, Clone)]
pub(crate) struct OnceAck(Arc<OnceRun>);

#[derive(Debug)]
struct OnceRun {
    socket: Socket,
    id: Arc<str>,
    seq: u64,
    answered: AtomicBool,
}

impl OnceAck {
    /// Answer ack `ack_id` with one typed argument, and keep it.
    pub(crate) fn send<T: Serialize + ?Sized>(
        &self,
        ack_id: u64,
        data: &T,
    ) -> Result<(), SendError> {
        let answer = StoredAck::typed(self.0.socket.codec(), data)?;
        self.answer(ack_id, answer)
    }

    /// Answer ack `ack_id` with a raw payload, and keep it.
    pub(crate) fn send_payload(&self, ack_id: u64, payload: Payload) -> Result<(), SendError> {
        let answer = StoredAck::raw(self.0.socket.codec(), payload)?;
        self.answer(ack_id, answer)
    }

    fn answer(&self, ack_id: u64, answer: StoredAck) -> Result<(), SendError> {
        let socket = &self.0.socket;
        let frames = answer.frames(socket.ns().name(), ack_id)?;
        let sent = socket.send_frames(&frames, Class::Control);
        // Kept even when the socket is gone: a duplicate may come on its recovered session.
        if !self.0.answered.swap(true, Ordering::AcqRel) {
            self.0.settle(Some(answer));
        }
        sent
    }
}

impl OnceRun {
    /// Record how the run ended, in the window that now holds its session: this socket's
    /// while it is connected; once it is gone, the recovered socket's, or the session kept
    /// in the recovery log.
    fn settle(&self, answer: Option<StoredAck>) {
        let socket = &self.socket;
        if !socket.connected() {
            if let Some(recovered) = socket.ns().get_socket(socket.id()) {
                if recovered != *socket {
                    settle_on(&recovered, &self.id, None, answer);
                    return;
                }
            }
            if let (Some(pid), Some(log)) = (socket.recovery_pid(), &socket.ns().0.recovery) {
                if log.lock().settle_once(pid, &self.id, answer.clone()) {
                    return;
                }
            }
        }
        settle_on(socket, &self.id, Some(self.seq), answer);
    }
}

impl Drop for OnceRun {
    fn drop(&mut self) {
        if !self.answered.load(Ordering::Acquire) {
            self.settle(None);
        }
    }
}

fn settle_on(socket: &Socket, id: &str, seq: Option<u64>, answer: Option<StoredAck>) {
    let reply = socket.with_dedupe(|window| window.settle(id, seq, answer));
    if let Some((ack_id, answer)) = reply {
        answer_on(socket, ack_id, &answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn window(ids: usize, bytes: usize) -> DedupeWindow {
        DedupeWindow::new(&Config {
            emit_dedupe_window: ids,
            emit_dedupe_max_ack_bytes: bytes,
            ..Config::default()
        })
    }

    fn json_answer(value: Value) -> StoredAck {
        StoredAck::typed(Codec::Json, &value).unwrap()
    }

    fn id(s: &str) -> Arc<str> {
        s.into()
    }

    #[test]
    fn json_envelopes_unwrap_and_bad_ones_are_refused() {
        let payload = Payload::new()
            .arg(&"e1")
            .unwrap()
            .arg(&"buy")
            .unwrap()
            .arg(&json!({"item": 7}))
            .unwrap()
            .binary(vec![1u8, 2]);
        let envelope = unwrap(payload).unwrap();
        assert_eq!((&*envelope.id, envelope.event.as_str()), ("e1", "buy"));
        assert_eq!(envelope.payload.args()[0], json!({"item": 7}));
        assert_eq!(envelope.payload.attachments().len(), 1);

        let args = |values: Vec<Value>| Payload::from_parts(values, Vec::new());
        let long = "x".repeat(MAX_EMIT_ID_LEN + 1);
        for (values, error) in [
            (vec![], OnceError::MissingId),
            (vec![json!(""), json!("buy")], OnceError::MissingId),
            (vec![json!(5), json!("buy")], OnceError::IdNotString),
            (vec![json!(long), json!("buy")], OnceError::IdTooLong(65)),
            (vec![json!("e1")], OnceError::MissingEvent),
            (vec![json!("e1"), json!(3)], OnceError::EventNotString),
            (
                vec![json!("e1"), json!("tw:once")],
                OnceError::ReservedEvent("tw:once".into()),
            ),
            (
                vec![json!("e1"), json!("disconnect")],
                OnceError::ReservedEvent("disconnect".into()),
            ),
        ] {
            assert_eq!(unwrap(args(values.clone())), Err(error), "{values:?}");
        }
        // Exactly the longest id is fine.
        let max = "x".repeat(MAX_EMIT_ID_LEN);
        assert!(unwrap(args(vec![json!(max), json!("buy")])).is_ok());
    }

    /// The compact envelope's bytes (the JS and Rust clients' tests hold the same vector).
    const COMPACT_VECTOR: &str = "02653103627579020701";

    #[test]
    fn compact_envelopes_round_trip_as_a_postcard_tuple() {
        struct AsBytes<'a>(&'a [u8]);
        impl Serialize for AsBytes<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        let inner = compact::to_payload(&(7u8, true)).unwrap();
        let bytes = compact::to_payload(&("e1", "buy", AsBytes(&inner))).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, COMPACT_VECTOR);
        // A sequence of bytes encodes the same as a byte string.
        assert_eq!(
            compact::to_payload(&("e1", "buy", inner.to_vec())).unwrap(),
            bytes
        );
        let envelope = unwrap(Payload::from_compact(bytes.clone())).unwrap();
        assert_eq!((&*envelope.id, envelope.event.as_str()), ("e1", "buy"));
        assert_eq!(envelope.payload.compact_bytes(), Some(&inner));
        assert_eq!(
            envelope.payload.deserialize::<(u8, bool)>().unwrap(),
            (7, true)
        );
        // Truncated, trailing bytes, a bad id.
        for bad in [
            bytes.slice(..bytes.len() - 1),
            Bytes::from([&bytes[..], &[0]].concat()),
            compact::to_payload(&("", "buy", AsBytes(&inner))).unwrap(),
        ] {
            assert!(unwrap(Payload::from_compact(bad)).is_err());
        }
    }

    #[test]
    fn kept_answers_replay_as_the_frames_of_the_ack_encoders() {
        use super::super::codec::{encode_ack, encode_payload_ack};
        let data = json!({"z": [1, "two"], "a": null});
        for nsp in ["/", "/chat"] {
            let answer = StoredAck::typed(Codec::Json, &data).unwrap();
            assert_eq!(
                answer.frames(nsp, 12).unwrap(),
                encode_ack(Codec::Json, nsp, 12, &data).unwrap()
            );
            let payload = Payload::new().arg(&"x").unwrap().binary(vec![9u8, 8]);
            let answer = StoredAck::raw(Codec::Json, payload.clone()).unwrap();
            assert_eq!(
                answer.frames(nsp, 3).unwrap(),
                encode_payload_ack(Codec::Json, nsp, 3, &payload).unwrap()
            );
            let answer = StoredAck::typed(Codec::Compact, &data).unwrap();
            assert_eq!(
                answer.frames(nsp, 4).unwrap(),
                encode_ack(Codec::Compact, nsp, 4, &data).unwrap()
            );
        }
        assert!(StoredAck::raw(Codec::Compact, Payload::new()).is_err());
    }

    #[test]
    fn a_duplicate_replays_waits_or_drops() {
        let mut w = window(8, 1 << 10);
        let a = id("a");
        let Admission::Run(Some(seq)) = w.admit(&a, Some(1)) else {
            panic!("first sight runs")
        };
        // In flight: the latest duplicate waits, and is answered when the run answers.
        assert_eq!(w.admit(&a, Some(2)), Admission::Wait);
        assert_eq!(w.admit(&a, Some(3)), Admission::Wait);
        assert_eq!(w.admit(&a, None), Admission::Drop);
        let answer = json_answer(json!("ok"));
        assert_eq!(
            w.settle(&a, Some(seq), Some(answer.clone())),
            Some((3, answer.clone()))
        );
        // Settled once only.
        assert_eq!(w.settle(&a, Some(seq), None), None);
        assert_eq!(w.admit(&a, Some(4)), Admission::Replay(answer));

        // No answer asked: duplicates are dropped.
        let b = id("b");
        assert_eq!(w.admit(&b, None), Admission::Run(None));
        assert_eq!(w.admit(&b, Some(5)), Admission::Drop);
        // Finished without answering: the waiting duplicate is dropped, later ones too.
        let c = id("c");
        let Admission::Run(Some(seq)) = w.admit(&c, Some(6)) else {
            panic!()
        };
        assert_eq!(w.admit(&c, Some(7)), Admission::Wait);
        assert_eq!(w.settle(&c, Some(seq), None), None);
        assert_eq!(w.admit(&c, Some(8)), Admission::Drop);
        let stats = w.stats();
        assert_eq!(
            (stats.ran, stats.replayed, stats.awaited, stats.dropped),
            (3, 1, 3, 4)
        );
    }

    #[test]
    fn past_the_window_the_oldest_id_runs_again() {
        let mut w = window(2, 1 << 10);
        for name in ["a", "b", "c"] {
            let Admission::Run(Some(seq)) = w.admit(&id(name), Some(1)) else {
                panic!()
            };
            w.settle(name, Some(seq), Some(json_answer(json!(name))));
        }
        assert_eq!(w.stats().evicted, 1);
        assert!(matches!(
            w.admit(&id("a"), Some(2)),
            Admission::Run(Some(_))
        ));
        // "b" fell out in turn; "c" is still remembered.
        assert!(matches!(w.admit(&id("c"), Some(3)), Admission::Replay(_)));
        assert!(matches!(w.admit(&id("b"), Some(4)), Admission::Run(_)));
        assert_eq!(w.entries.len(), 2);
        assert_eq!(w.order.len(), 2);

        // A run evicted while in flight settles nothing (its id runs afresh).
        let mut w = window(1, 1 << 10);
        let Admission::Run(Some(old)) = w.admit(&id("a"), Some(1)) else {
            panic!()
        };
        w.admit(&id("b"), Some(2));
        let Admission::Run(Some(new)) = w.admit(&id("a"), Some(3)) else {
            panic!()
        };
        assert_ne!(old, new);
        assert_eq!(w.settle("a", Some(old), Some(json_answer(json!(1)))), None);
        assert_eq!(w.admit(&id("a"), Some(4)), Admission::Wait);

        // Window 0: nothing is remembered, every copy runs.
        let mut w = window(0, 1 << 10);
        assert_eq!(w.admit(&id("a"), Some(1)), Admission::Run(None));
        assert_eq!(w.admit(&id("a"), Some(2)), Admission::Run(None));
    }

    #[test]
    fn answers_past_the_byte_bound_are_forgotten_oldest_first_and_ids_kept() {
        let answer = |n: usize| json_answer(json!("x".repeat(n)));
        let cost = answer(10).cost();
        let mut w = window(8, 2 * cost);
        for name in ["a", "b", "c"] {
            let Admission::Run(Some(seq)) = w.admit(&id(name), Some(1)) else {
                panic!()
            };
            w.settle(name, Some(seq), Some(answer(10)));
        }
        assert_eq!(w.ack_bytes, 2 * cost);
        assert_eq!(w.admit(&id("a"), Some(2)), Admission::Drop);
        assert!(matches!(w.admit(&id("b"), Some(3)), Admission::Replay(_)));
        // An answer over the bound alone is never kept.
        let Admission::Run(Some(seq)) = w.admit(&id("big"), Some(4)) else {
            panic!()
        };
        assert_eq!(w.admit(&id("big"), Some(5)), Admission::Wait);
        assert_eq!(
            w.settle("big", Some(seq), Some(answer(100))),
            Some((5, answer(100))),
            "the waiting duplicate still gets it"
        );
        assert_eq!(w.admit(&id("big"), Some(6)), Admission::Drop);
        assert_eq!(w.stats().answers_forgotten, 2);
        assert_eq!(w.ack_bytes, 2 * cost);
    }

    #[test]
    fn the_state_round_trips_through_json_in_a_documented_shape() {
        let mut w = window(8, 1 << 10);
        let Admission::Run(Some(seq)) = w.admit(&id("a"), Some(1)) else {
            panic!()
        };
        let payload = Payload::new().arg(&"ok").unwrap().binary(vec![10u8, 11]);
        w.settle(
            "a",
            Some(seq),
            Some(StoredAck::raw(Codec::Json, payload).unwrap()),
        );
        w.admit(&id("b"), None);
        w.admit(&id("c"), Some(2));
        let Admission::Run(Some(seq)) = w.admit(&id("d"), Some(3)) else {
            panic!()
        };
        w.settle(
            "d",
            Some(seq),
            Some(StoredAck::Compact(Bytes::from_static(&[1, 2]))),
        );
        let state = w.state();
        let value = serde_json::to_value(&state).unwrap();
        assert_eq!(
            value,
            json!({"v": 1, "entries": [
                {"state": "json", "id": "a", "args": r#"["ok",{"_placeholder":true,"num":0}]"#, "attachments": ["0a0b"]},
                {"state": "done", "id": "b"},
                {"state": "pending", "id": "c"},
                {"state": "compact", "id": "d", "answer": "0102"},
            ]})
        );
        let back: DedupeState = serde_json::from_value(value).unwrap();
        assert_eq!(back, state);
        assert_eq!(state.answer_bytes(), w.ack_bytes);

        // Restored into another socket's window: same answers, the pending run awaited.
        let mut restored = window(8, 1 << 10);
        restored.restore(back);
        assert!(
            matches!(restored.admit(&id("a"), Some(9)), Admission::Replay(StoredAck::Json { attachments, .. }) if attachments.len() == 1)
        );
        assert_eq!(restored.admit(&id("b"), Some(9)), Admission::Drop);
        assert_eq!(restored.admit(&id("c"), Some(9)), Admission::Wait);
        assert_eq!(
            restored.settle("c", None, Some(json_answer(json!(1)))),
            Some((9, json_answer(json!(1))))
        );
        assert_eq!(restored.state().entries.len(), 4);

        // Within the new window's bounds: the newest two, their answers if they fit.
        let mut small = window(2, 3);
        small.restore(state.clone());
        let kept: Vec<String> = small
            .state()
            .entries
            .into_iter()
            .map(|e| e.into_parts().0)
            .collect();
        assert_eq!(kept, ["c", "d"]);
        assert!(matches!(
            small.admit(&id("d"), Some(1)),
            Admission::Replay(_)
        ));

        // Bad input restores what it can; another version restores nothing.
        let bad: DedupeState = serde_json::from_value(json!({"v": 1, "entries": [
            {"state": "done", "id": "x".repeat(65)},
            {"state": "done", "id": "ok"},
            {"state": "done", "id": "ok"},
        ]}))
        .unwrap();
        small.restore(bad);
        assert_eq!(small.entries.len(), 1);
        small.restore(serde_json::from_value(json!({"v": 2, "entries": []})).unwrap());
        assert!(small.entries.is_empty());
        assert!(serde_json::from_value::<DedupeState>(
            json!({"v": 1, "entries": [{"state": "compact", "id": "a", "answer": "0g"}]})
        )
        .is_err());
    }

    #[test]
    fn a_kept_state_settles_its_pending_runs_and_forgets_answers_on_demand() {
        let mut w = window(8, 1 << 10);
        w.admit(&id("p"), Some(1));
        w.admit(&id("q"), Some(2));
        let mut state = w.state();
        let answer = json_answer(json!("late"));
        assert_eq!(
            state.settle("p", Some(answer.clone()), 1 << 10),
            answer.cost()
        );
        assert_eq!(state.settle("p", None, 1 << 10), 0, "settled once");
        assert_eq!(state.settle("q", Some(answer), 1), 0, "over the budget");
        assert_eq!(state.answer_bytes(), json_answer(json!("late")).cost());
        state.forget_answers();
        assert_eq!(state.answer_bytes(), 0);
        let mut restored = window(8, 1 << 10);
        restored.restore(state);
        assert_eq!(restored.admit(&id("p"), Some(3)), Admission::Drop);
        assert_eq!(restored.admit(&id("q"), Some(3)), Admission::Drop);
    }
}
