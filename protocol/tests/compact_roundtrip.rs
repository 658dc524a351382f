//! Property tests for the compact codec: every valid packet survives encode → decode; any
//! frame that decodes encodes back to the same bytes (the format is canonical); random bytes
//! and mangled frames never panic and give a typed error; postcard payloads of the game's
//! types round-trip, and random payload bytes never panic.
//!
//! The runner uses a fixed seed, so every run checks the same cases.

#[path = "support/game_types.rs"]
#[allow(dead_code)]
mod game_types;

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use tickwire_protocol::compact::{
    self, from_payload, to_payload, CompactError, CompactKind, CompactPacket, EventName, Limits,
    PayloadError,
};

use game_types::{Hit, Input, Player, Snapshot};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        rng_seed: RngSeed::Fixed(0x636f_6d70_6163_7431),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("/".to_owned()),
        1 => Just("/game".to_owned()),
        2 => "/[a-zA-Z0-9_/é✓-]{1,40}",
    ]
}

fn event_name() -> impl Strategy<Value = EventName> {
    prop_oneof![
        "[a-z_:é✓ -]{0,40}".prop_map(EventName::from),
        any::<u32>().prop_map(EventName::Id),
        (0u32..64).prop_map(EventName::Id),
    ]
}

fn ack_id() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..200, any::<u64>()]
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn packet() -> impl Strategy<Value = CompactPacket> {
    let kind = prop_oneof![
        Just(CompactKind::Connect),
        Just(CompactKind::Disconnect),
        Just(CompactKind::Event),
        Just(CompactKind::Ack),
        Just(CompactKind::ConnectError),
    ];
    (
        kind,
        namespace(),
        proptest::option::of(ack_id()),
        event_name(),
        bytes(64),
    )
        .prop_map(|(kind, nsp, id, event, payload)| {
            let mut packet = CompactPacket {
                kind,
                nsp: nsp.into(),
                id: None,
                event: None,
                payload,
            };
            match kind {
                CompactKind::Event => {
                    packet.id = id;
                    packet.event = Some(event);
                }
                CompactKind::Ack => packet.id = Some(id.unwrap_or(0)),
                CompactKind::Disconnect => packet.payload = Bytes::new(),
                CompactKind::ConnectError if packet.payload.is_empty() => {
                    packet.payload = Bytes::from_static(b"{}");
                }
                _ => {}
            }
            packet
        })
}

/// Frames that start like compact frames, to reach past the first two bytes.
fn frame_like() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![4 => Just(1u8), 1 => any::<u8>()],
        prop_oneof![4 => 0u8..32, 1 => any::<u8>()],
        vec(
            prop_oneof![
                2 => any::<u8>(),
                1 => Just(0x80u8),
                1 => Just(0xffu8),
                1 => Just(b'/'),
                1 => 0u8..16,
            ],
            0..48,
        ),
    )
        .prop_map(|(version, kind, mut rest)| {
            rest.splice(0..0, [version, kind]);
            rest
        })
}

fn small_float() -> impl Strategy<Value = f32> {
    -1.0e6f32..1.0e6f32
}

fn player() -> impl Strategy<Value = Player> {
    (
        any::<u32>(),
        small_float(),
        small_float(),
        any::<u32>(),
        any::<u8>(),
    )
        .prop_map(|(id, x, y, last_input_seq, hp)| Player {
            id,
            x,
            y,
            last_input_seq,
            hp,
        })
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (any::<u64>(), vec(player(), 0..12)).prop_map(|(tick, players)| Snapshot { tick, players })
}

fn input() -> impl Strategy<Value = Input> {
    (
        any::<u32>(),
        any::<i32>(),
        any::<i32>(),
        any::<u16>(),
        proptest::option::of(small_float()),
    )
        .prop_map(|(seq, dx, dy, buttons, aim)| Input {
            seq,
            dx,
            dy,
            buttons,
            aim,
        })
}

/// Every outcome of decoding is a well-formed packet that encodes back to the same frame, or
/// a typed error.
fn check_decode(frame: &[u8]) -> Result<CompactPacket, CompactError> {
    let result = compact::decode(Bytes::copy_from_slice(frame), &Limits::default());
    if let Ok(packet) = &result {
        let again = compact::encode(packet).expect("a decoded packet encodes");
        assert_eq!(&again[..], frame, "decoding is canonical");
    }
    result
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn packets_round_trip(packet in packet()) {
        let frame = compact::encode(&packet).unwrap();
        prop_assert_eq!(frame[0], compact::VERSION);
        let decoded = compact::decode(frame.clone(), &Limits::default()).unwrap();
        prop_assert_eq!(&decoded, &packet);

        let mut out = BytesMut::from(&b"prefix"[..]);
        compact::encode_into(&packet, &mut out, &Limits::default()).unwrap();
        prop_assert_eq!(&out[..6], b"prefix");
        prop_assert_eq!(&out[6..], &frame[..]);
    }

    #[test]
    fn random_bytes_never_panic(frame in vec(any::<u8>(), 0..64)) {
        let _ = check_decode(&frame);
    }

    #[test]
    fn frame_like_bytes_never_panic(frame in frame_like()) {
        let _ = check_decode(&frame);
    }

    #[test]
    fn mangled_frames_never_panic(
        packet in packet(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut frame = compact::encode(&packet).unwrap().to_vec();
        let i = at.index(frame.len());
        frame[i] = byte;
        let _ = check_decode(&frame);
        frame.truncate(cut.index(frame.len() + 1));
        let _ = check_decode(&frame);
    }

    #[test]
    fn snapshots_round_trip(snapshot in snapshot()) {
        let payload = to_payload(&snapshot).unwrap();
        prop_assert_eq!(from_payload::<Snapshot>(&payload).unwrap(), snapshot);
    }

    #[test]
    fn inputs_and_tuples_round_trip(input in input(), hit in any::<(u32, i64, f64, bool)>()) {
        let payload = to_payload(&input).unwrap();
        prop_assert_eq!(from_payload::<Input>(&payload).unwrap(), input);
        let payload = to_payload(&hit).unwrap();
        let back: Hit = from_payload(&payload).unwrap();
        // Compare floats by bits: NaN is a valid payload too.
        prop_assert_eq!((back.0, back.1, back.2.to_bits(), back.3), (hit.0, hit.1, hit.2.to_bits(), hit.3));
    }

    #[test]
    fn random_payload_bytes_never_panic(payload in vec(any::<u8>(), 0..96)) {
        for result in [
            from_payload::<Snapshot>(&payload).map(|_| ()),
            from_payload::<Input>(&payload).map(|_| ()),
            from_payload::<Hit>(&payload).map(|_| ()),
            from_payload::<String>(&payload).map(|_| ()),
        ] {
            prop_assert!(matches!(
                result,
                Ok(()) | Err(PayloadError::Postcard(_) | PayloadError::TrailingBytes(_))
            ));
        }
    }
}
