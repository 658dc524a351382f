//! Recovery sessions of a streams cluster in Redis, and the offsets its clients hold.
//!
//! A session is the key `<prefix><pid>` (Node's `sio:session:<pid>` by default), set with
//! the recovery window as TTL and taken (`GET` and `DEL` in one transaction) by the node
//! the client comes back to. Its value is Node's: base64 of msgpack `{sid, pid, rooms,
//! data}`, so Node and tickwire nodes recover each other's clients. tickwire adds `tw`:
//! `{extra}` (what the Socket.IO layer keeps with a session, as JSON text) and `skip`
//! (`[uid, seq]`: the node delivered its own broadcasts up to `seq` while it was offline,
//! which the replay must not send again).
//!
//! Offsets are stream ids (`<ms>-<seq>`), the same on every node. A broadcast delivered
//! while its node was offline carries `<last id delivered>~<uid>~<seq>` instead: a recovery
//! from it replays after that id and skips that node's entries up to `seq`.

use base64::Engine as _;
use redis::aio::ConnectionManager;
use rmpv::Value as Mp;

use super::node_dialect::{decode_mp, mp_bytes, mp_get, mp_map};
use crate::socketio::SessionRecord;

/// A node's own broadcasts a client already got, up to a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skip {
    pub(crate) uid: String,
    pub(crate) seq: u64,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredSession {
    pub(crate) pid: String,
    pub(crate) record: SessionRecord,
    pub(crate) skip: Option<Skip>,
}

pub(crate) fn key(prefix: &str, pid: &str) -> String {
    format!("{prefix}{pid}")
}

/// The stored value: base64 of msgpack, Node's fields first.
pub(crate) fn encode(session: &StoredSession) -> String {
    let rooms = session
        .record
        .rooms
        .iter()
        .map(|r| Mp::from(r.as_str()))
        .collect();
    let skip = session.skip.as_ref().map_or(Mp::Nil, |s| {
        Mp::Array(vec![Mp::from(s.uid.as_str()), Mp::from(s.seq)])
    });
    let value = mp_map(vec![
        ("sid", Mp::from(&*session.record.sid)),
        ("pid", Mp::from(session.pid.as_str())),
        ("rooms", Mp::Array(rooms)),
        ("data", Mp::Nil),
        (
            "tw",
            mp_map(vec![
                ("extra", Mp::from(session.record.extra.to_string())),
                ("skip", skip),
            ]),
        ),
    ]);
    base64::engine::general_purpose::STANDARD.encode(mp_bytes(&value))
}

/// A stored value back; `None` when it is not a session.
pub(crate) fn decode(value: &str) -> Option<StoredSession> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .ok()?;
    let map = decode_mp(&bytes)?;
    let text = |m: &Mp, k: &str| mp_get(m, k).and_then(Mp::as_str).map(str::to_owned);
    let sid = text(&map, "sid")?;
    let pid = text(&map, "pid").unwrap_or_default();
    let rooms = match mp_get(&map, "rooms") {
        Some(Mp::Array(rooms)) => rooms
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let tw = mp_get(&map, "tw");
    let extra = tw
        .and_then(|tw| text(tw, "extra"))
        .and_then(|e| serde_json::from_str(&e).ok())
        .unwrap_or_default();
    let skip = tw.and_then(|tw| match mp_get(tw, "skip") {
        Some(Mp::Array(pair)) if pair.len() == 2 => Some(Skip {
            uid: pair[0].as_str()?.to_owned(),
            seq: pair[1].as_u64()?,
        }),
        _ => None,
    });
    Some(StoredSession {
        pid,
        record: SessionRecord {
            sid: sid.into(),
            rooms,
            extra,
        },
        skip,
    })
}

/// Take the session at `key`: read and delete it in one transaction (once only).
pub(crate) async fn take(
    conn: &mut ConnectionManager,
    key: &str,
) -> redis::RedisResult<Option<StoredSession>> {
    let (value, _): (Option<String>, i64) = redis::pipe()
        .atomic()
        .get(key)
        .del(key)
        .query_async(conn)
        .await?;
    Ok(value.as_deref().and_then(decode))
}

/// The offset of a broadcast delivered while its node was offline.
pub(crate) fn offline_offset(last_id: &str, uid: &str, seq: u64) -> String {
    format!("{last_id}~{uid}~{seq}")
}

/// A stream id as `(ms, seq)`.
pub(crate) fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// A client's offset: the stream id to replay after, and what to skip of an offline node's.
pub(crate) fn parse_offset(offset: &str) -> Option<(String, Option<Skip>)> {
    let mut parts = offset.split('~');
    let id = parts.next()?;
    parse_id(id)?;
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => Some((id.to_owned(), None)),
        (Some(uid), Some(seq), None) if !uid.is_empty() => Some((
            id.to_owned(),
            Some(Skip {
                uid: uid.to_owned(),
                seq: seq.parse().ok()?,
            }),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_round_trip_in_nodes_format() {
        let session = StoredSession {
            pid: "p1".into(),
            record: SessionRecord {
                sid: "s1".into(),
                rooms: vec!["s1".into(), "lobby".into()],
                extra: serde_json::json!({"acks": [["a", 1]]}),
            },
            skip: Some(Skip {
                uid: "00000000000000aa".into(),
                seq: 9,
            }),
        };
        let value = encode(&session);
        assert_eq!(decode(&value), Some(session));
        // What Node reads: sid, pid, rooms, data.
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap();
        let map = decode_mp(&bytes).unwrap();
        assert_eq!(mp_get(&map, "sid").and_then(Mp::as_str), Some("s1"));
        assert!(matches!(mp_get(&map, "rooms"), Some(Mp::Array(r)) if r.len() == 2));
        // A Node session (no tw) reads too.
        let node = mp_map(vec![
            ("sid", Mp::from("s2")),
            ("pid", Mp::from("p2")),
            ("rooms", Mp::Array(vec![Mp::from("s2")])),
            ("data", Mp::Map(vec![])),
        ]);
        let node = base64::engine::general_purpose::STANDARD.encode(mp_bytes(&node));
        let read = decode(&node).unwrap();
        assert_eq!(&*read.record.sid, "s2");
        assert_eq!(read.skip, None);
        assert_eq!(decode("garbage"), None);
    }

    #[test]
    fn offsets_parse_and_refuse_garbage() {
        assert_eq!(parse_offset("17-3"), Some(("17-3".into(), None)));
        let skip = Skip {
            uid: "ab".into(),
            seq: 5,
        };
        assert_eq!(
            parse_offset(&offline_offset("17-3", "ab", 5)),
            Some(("17-3".into(), Some(skip)))
        );
        for bad in [
            "",
            "17",
            "x-1",
            "17-3~",
            "17-3~ab",
            "17-3~ab~x",
            "17-3~ab~1~2",
            "42",
        ] {
            assert_eq!(parse_offset(bad), None, "{bad:?}");
        }
        assert!(parse_id("5-1") < parse_id("5-2") && parse_id("5-9") < parse_id("6-0"));
    }
}
