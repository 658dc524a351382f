//! The Engine.IO session state machine on a virtual clock: one fixed `Instant` as time zero
//! and `Duration`s added to it, so nothing ever sleeps and every deadline is checked to the
//! millisecond. Timings are the official suites' (`pingInterval` 300 ms, `pingTimeout`
//! 200 ms) unless a test says otherwise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use tickwire_protocol::engineio::{
    payload, CloseReason, Config, Event, Packet, Session, SessionError, TransportKind,
};

const INTERVAL: u64 = 300;
const TIMEOUT: u64 = 200;
const UPGRADE_TIMEOUT: u64 = 1_000;

fn suite_config() -> Config {
    Config {
        ping_interval: Duration::from_millis(INTERVAL),
        ping_timeout: Duration::from_millis(TIMEOUT),
        upgrade_timeout: Duration::from_millis(UPGRADE_TIMEOUT),
        max_payload: 1_000_000,
    }
}

/// A session and its virtual clock.
struct Sim {
    session: Session,
    zero: Instant,
}

impl Sim {
    fn new(transport: TransportKind) -> Sim {
        Sim::with_config(suite_config(), transport)
    }

    fn with_config(config: Config, transport: TransportKind) -> Sim {
        let zero = Instant::now();
        Sim {
            session: Session::new(Arc::new(config), transport, zero),
            zero,
        }
    }

    /// The instant `ms` milliseconds after the session opened.
    fn at(&self, ms: u64) -> Instant {
        self.zero + Duration::from_millis(ms)
    }

    /// The next deadline, in milliseconds since the session opened.
    fn deadline(&self) -> Option<u64> {
        self.session
            .poll_timeout()
            .map(|t| u64::try_from((t - self.zero).as_millis()).unwrap())
    }

    /// Tell the session the time is `ms`.
    fn tick(&mut self, ms: u64) {
        let now = self.at(ms);
        self.session.handle_timeout(now);
    }

    /// Feed a packet received at `ms` on the active transport, the way a driver does it:
    /// advance the clock first.
    fn receive(&mut self, ms: u64, packet: Packet) -> Result<(), SessionError> {
        self.tick(ms);
        let now = self.at(ms);
        self.session.handle_packet(now, packet)
    }

    /// Feed a POSTed polling body received at `ms`.
    fn post(&mut self, ms: u64, body: &str) -> Result<(), SessionError> {
        for packet in payload::decode(body, self.session.config().max_payload).unwrap() {
            self.receive(ms, packet)?;
        }
        Ok(())
    }

    /// Feed a text frame received at `ms` on the probing websocket.
    fn probe(&mut self, ms: u64, frame: &str) -> Result<(), SessionError> {
        self.tick(ms);
        self.session
            .handle_probe_packet(Packet::decode_text(frame).unwrap())
    }

    fn transmit(&mut self) -> Vec<Packet> {
        std::iter::from_fn(|| self.session.poll_transmit()).collect()
    }

    /// What a polling GET would be answered with now, if anything is queued.
    fn transmit_body(&mut self) -> String {
        payload::encode(&self.transmit())
    }

    fn probe_transmit(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.session.poll_probe_transmit())
            .map(|p| p.encode_text().unwrap())
            .collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.session.poll_event()).collect()
    }

    /// Drive the timer faithfully up to `ms`: fire at every deadline on the way, collecting
    /// the control packets sent and when.
    fn run_until(&mut self, ms: u64) -> Vec<(u64, Packet)> {
        let mut sent = Vec::new();
        while let Some(due) = self.deadline().filter(|&d| d <= ms) {
            self.tick(due);
            sent.extend(self.transmit().into_iter().map(|p| (due, p)));
        }
        self.tick(ms);
        sent.extend(self.transmit().into_iter().map(|p| (ms, p)));
        sent
    }

    fn assert_open(&self) {
        assert!(
            !self.session.is_closed(),
            "closed: {:?}",
            self.session.close_reason()
        );
    }

    fn assert_closed(&self, reason: CloseReason) {
        assert_eq!(self.session.close_reason(), Some(reason));
        assert!(self.session.is_closed());
        assert_eq!(
            self.session.poll_timeout(),
            None,
            "a closed session has no deadline"
        );
    }
}

fn ping() -> Packet {
    Packet::Ping(String::new())
}

fn pong() -> Packet {
    Packet::Pong(String::new())
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn default_config_matches_the_reference_server() {
    let config = Config::default();
    assert_eq!(config.ping_interval, Duration::from_millis(25_000));
    assert_eq!(config.ping_timeout, Duration::from_millis(20_000));
    assert_eq!(config.upgrade_timeout, Duration::from_millis(10_000));
    assert_eq!(config.max_payload, 1_000_000);
}

#[test]
fn a_new_session() {
    let sim = Sim::new(TransportKind::Polling);
    assert_eq!(sim.session.config(), &suite_config());
    assert_eq!(sim.session.transport(), TransportKind::Polling);
    assert!(!sim.session.is_upgrading());
    assert!(!sim.session.polls_answer_noop());
    assert!(!sim.session.has_transmit());
    assert_eq!(sim.session.close_reason(), None);
    assert_eq!(sim.deadline(), Some(INTERVAL));
}

// ---------------------------------------------------------------------------------------------
// Heartbeat
// ---------------------------------------------------------------------------------------------

#[test]
fn first_ping_is_due_one_interval_after_open() {
    let mut sim = Sim::new(TransportKind::Polling);
    sim.tick(0);
    sim.tick(INTERVAL - 1);
    assert!(sim.transmit().is_empty(), "no ping before the interval");
    assert_eq!(sim.deadline(), Some(INTERVAL));

    sim.tick(INTERVAL);
    assert!(sim.session.has_transmit());
    // Suite: the polling GET returns exactly `2`.
    assert_eq!(sim.transmit_body(), "2");
    assert!(!sim.session.has_transmit());
    assert_eq!(
        sim.deadline(),
        Some(INTERVAL + TIMEOUT),
        "now waiting for the pong"
    );
}

#[test]
fn calling_handle_timeout_again_does_not_repeat_the_ping() {
    let mut sim = Sim::new(TransportKind::WebSocket);
    sim.tick(INTERVAL);
    sim.tick(INTERVAL);
    sim.tick(INTERVAL + 50);
    assert_eq!(sim.transmit(), [ping()]);
}

#[test]
fn three_heartbeats_answered_by_the_client() {
    // Suite: three pings, each answered with `3`, on both transports.
    for transport in [TransportKind::Polling, TransportKind::WebSocket] {
        let mut sim = Sim::new(transport);
        let mut ping_at = INTERVAL;
        for round in 0..3 {
            assert_eq!(sim.deadline(), Some(ping_at), "round {round}");
            assert_eq!(sim.run_until(ping_at), [(ping_at, ping())], "round {round}");
            let pong_at = ping_at + 20;
            sim.post(pong_at, "3").unwrap();
            sim.assert_open();
            assert_eq!(
                sim.deadline(),
                Some(pong_at + INTERVAL),
                "next ping one interval after the pong"
            );
            ping_at = pong_at + INTERVAL;
        }
        assert!(
            sim.events().is_empty(),
            "heartbeats are not application events"
        );
    }
}

#[test]
fn pong_resets_the_ping_timer_from_when_it_arrived() {
    let mut sim = Sim::new(TransportKind::WebSocket);
    sim.run_until(INTERVAL);
    sim.receive(INTERVAL + 199, pong()).unwrap();
    assert_eq!(sim.deadline(), Some(INTERVAL + 199 + INTERVAL));
    assert!(sim.run_until(INTERVAL + 199 + INTERVAL - 1).is_empty());
    assert_eq!(
        sim.run_until(INTERVAL + 199 + INTERVAL),
        [(INTERVAL + 199 + INTERVAL, ping())]
    );
}

#[test]
fn pong_without_a_ping_is_ignored() {
    let mut sim = Sim::new(TransportKind::WebSocket);
    sim.receive(100, pong()).unwrap();
    assert_eq!(
        sim.deadline(),
        Some(INTERVAL),
        "an unsolicited pong does not move the ping"
    );
    sim.run_until(INTERVAL);
    sim.receive(INTERVAL + 10, pong()).unwrap();
    sim.receive(INTERVAL + 20, pong()).unwrap();
    assert_eq!(
        sim.deadline(),
        Some(INTERVAL + 10 + INTERVAL),
        "only the first pong counts"
    );
}

#[test]
fn ping_timeout_closes_at_exactly_interval_plus_timeout() {
    // Suite: with no pong the session is gone at T+500 ms.
    let mut sim = Sim::new(TransportKind::Polling);
    assert_eq!(sim.run_until(INTERVAL + TIMEOUT - 1), [(INTERVAL, ping())]);
    sim.assert_open();
    assert_eq!(sim.deadline(), Some(INTERVAL + TIMEOUT));

    sim.tick(INTERVAL + TIMEOUT);
    sim.assert_closed(CloseReason::PingTimeout);
    assert_eq!(sim.events(), [Event::Closed(CloseReason::PingTimeout)]);
    assert_eq!(CloseReason::PingTimeout.as_str(), "ping timeout");
}

#[test]
fn ping_timeout_after_a_few_good_rounds() {
    let mut sim = Sim::new(TransportKind::WebSocket);
    sim.run_until(300);
    sim.receive(350, pong()).unwrap();
    sim.run_until(650);
    sim.receive(700, pong()).unwrap();
    // The client stops answering: ping at 1000, closed at 1200.
    assert_eq!(sim.run_until(1199), [(1000, ping())]);
    sim.assert_open();
    sim.tick(1200);
    sim.assert_closed(CloseReason::PingTimeout);
}

#[test]
fn lazy_expiry_when_handle_timeout_is_called_late() {
    // The driver's timer fires long after both deadlines (or a request arrives then): the
    // session is found dead at once, and no ping is left to send.
    for late in [INTERVAL + TIMEOUT, INTERVAL + TIMEOUT + 1, 10_000] {
        let mut sim = Sim::new(TransportKind::Polling);
        sim.tick(late);
        sim.assert_closed(CloseReason::PingTimeout);
        assert!(sim.transmit().is_empty(), "late {late}");
        assert_eq!(sim.events(), [Event::Closed(CloseReason::PingTimeout)]);
    }
}

#[test]
fn late_timer_does_not_extend_the_pong_allowance() {
    // The ping goes out late, at 450, but the pong is still due at 500: the allowance is
    // measured from when the ping was due.
    let mut sim = Sim::new(TransportKind::WebSocket);
    sim.tick(450);
    assert_eq!(sim.transmit(), [ping()]);
    assert_eq!(sim.deadline(), Some(INTERVAL + TIMEOUT));
    sim.tick(INTERVAL + TIMEOUT);
    sim.assert_closed(CloseReason::PingTimeout);
}

#[test]
fn late_pong_within_the_allowance_keeps_the_session() {
    let mut sim = Sim::new(TransportKind::WebSocket);
    sim.tick(450);
    sim.transmit();
    sim.receive(499, pong()).unwrap();
    sim.assert_open();
    assert_eq!(sim.deadline(), Some(499 + INTERVAL));
}

#[test]
fn pong_at_the_deadline_is_too_late() {
    // The driver advances the clock before handing over a packet, so a pong that arrives
    // exactly at the deadline finds the session already closed.
    let mut sim = Sim::new(TransportKind::WebSocket);
    sim.run_until(INTERVAL);
    assert_eq!(
        sim.receive(INTERVAL + TIMEOUT, pong()),
        Err(SessionError::Closed)
    );
    sim.assert_closed(CloseReason::PingTimeout);
}

#[test]
fn messages_do_not_count_as_pongs() {
    let mut sim = Sim::new(TransportKind::WebSocket);
    sim.run_until(INTERVAL);
    sim.receive(INTERVAL + 10, Packet::Message("hello".into()))
        .unwrap();
    sim.tick(INTERVAL + TIMEOUT);
    sim.assert_closed(CloseReason::PingTimeout);
    assert_eq!(
        sim.events(),
        [
            Event::Message("hello".into()),
            Event::Closed(CloseReason::PingTimeout)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Messages and close
// ---------------------------------------------------------------------------------------------

#[test]
fn messages_become_events_in_order() {
    let mut sim = Sim::new(TransportKind::Polling);
    sim.post(10, "4hello\x1ebAQIDBA==\x1e4world").unwrap();
    assert_eq!(
        sim.events(),
        [
            Event::Message("hello".into()),
            Event::Binary(Bytes::from_static(&[1, 2, 3, 4])),
            Event::Message("world".into()),
        ]
    );
}

#[test]
fn packets_a_v4_client_never_sends_are_ignored() {
    let mut sim = Sim::new(TransportKind::WebSocket);
    for packet in [
        Packet::Ping(String::new()),
        Packet::Ping("probe".into()),
        Packet::Open("{}".into()),
        Packet::Noop,
        Packet::Upgrade,
    ] {
        sim.receive(10, packet).unwrap();
    }
    assert!(sim.events().is_empty());
    assert!(sim.transmit().is_empty(), "a client ping is not answered");
    assert_eq!(sim.deadline(), Some(INTERVAL));
    sim.assert_open();
}

#[test]
fn client_close_packet_over_polling() {
    // Suite: POST `1` → the session closes (the driver answers a pending GET with `6`).
    let mut sim = Sim::new(TransportKind::Polling);
    sim.post(100, "1").unwrap();
    sim.assert_closed(CloseReason::TransportClose);
    assert_eq!(sim.events(), [Event::Closed(CloseReason::TransportClose)]);
    assert_eq!(CloseReason::TransportClose.as_str(), "transport close");
}

#[test]
fn client_close_packet_over_websocket() {
    let mut sim = Sim::new(TransportKind::WebSocket);
    sim.receive(100, Packet::decode_text("1").unwrap()).unwrap();
    sim.assert_closed(CloseReason::TransportClose);
}

#[test]
fn packets_after_close_in_the_same_body_are_refused() {
    let mut sim = Sim::new(TransportKind::Polling);
    assert_eq!(sim.post(100, "4a\x1e1\x1e4b"), Err(SessionError::Closed));
    assert_eq!(
        sim.events(),
        [
            Event::Message("a".into()),
            Event::Closed(CloseReason::TransportClose)
        ]
    );
}

#[test]
fn a_closed_session_refuses_everything_and_stays_quiet() {
    let mut sim = Sim::new(TransportKind::Polling);
    sim.tick(INTERVAL); // a ping is queued...
    sim.session.close(CloseReason::ForcedClose);
    assert!(sim.transmit().is_empty(), "...and dropped by the close");
    assert_eq!(sim.events(), [Event::Closed(CloseReason::ForcedClose)]);

    assert_eq!(
        sim.session
            .handle_packet(sim.at(400), Packet::Message("x".into())),
        Err(SessionError::Closed)
    );
    assert_eq!(
        sim.session.begin_upgrade(sim.at(400)),
        Err(SessionError::Closed)
    );
    assert_eq!(
        sim.session
            .handle_probe_packet(Packet::Ping("probe".into())),
        Err(SessionError::Closed)
    );
    sim.run_until(100_000);
    sim.session.close(CloseReason::PingTimeout);
    sim.session
        .handle_transport_closed(CloseReason::TransportError);
    sim.session.abort_upgrade();
    assert!(sim.events().is_empty(), "one Closed event, ever");
    assert!(sim.transmit().is_empty());
    sim.assert_closed(CloseReason::ForcedClose);
}

#[test]
fn transport_failure_closes_the_session() {
    let mut sim = Sim::new(TransportKind::Polling);
    sim.session
        .handle_transport_closed(CloseReason::TransportError);
    sim.assert_closed(CloseReason::TransportError);
    assert_eq!(sim.events(), [Event::Closed(CloseReason::TransportError)]);
}

#[test]
fn close_reason_strings() {
    let table = [
        (CloseReason::TransportClose, "transport close"),
        (CloseReason::TransportError, "transport error"),
        (CloseReason::ParseError, "parse error"),
        (CloseReason::PingTimeout, "ping timeout"),
        (CloseReason::ForcedClose, "forced close"),
    ];
    for (reason, text) in table {
        assert_eq!(reason.as_str(), text);
    }
}

// ---------------------------------------------------------------------------------------------
// Upgrade
// ---------------------------------------------------------------------------------------------

#[test]
fn upgrade_flow() {
    // Suite: websocket with the sid → `2probe` → `3probe`; a GET then gets `6`; `5`; then
    // messages flow on the websocket and polling is refused.
    let mut sim = Sim::new(TransportKind::Polling);
    sim.session.begin_upgrade(sim.at(50)).unwrap();
    assert!(sim.session.is_upgrading());
    assert!(!sim.session.polls_answer_noop(), "not before the probe");

    sim.probe(60, "2probe").unwrap();
    assert_eq!(sim.probe_transmit(), ["3probe"]);
    assert!(sim.session.polls_answer_noop());
    assert_eq!(
        payload::encode(&[Packet::Noop]),
        "6",
        "what the driver answers a GET with"
    );
    assert_eq!(
        sim.session.transport(),
        TransportKind::Polling,
        "not yet upgraded"
    );

    sim.probe(70, "5").unwrap();
    assert_eq!(sim.events(), [Event::Upgraded]);
    assert_eq!(sim.session.transport(), TransportKind::WebSocket);
    assert!(!sim.session.is_upgrading());
    assert!(!sim.session.polls_answer_noop());
    assert!(sim.probe_transmit().is_empty());

    sim.receive(80, Packet::decode_text("4hello").unwrap())
        .unwrap();
    assert_eq!(sim.events(), [Event::Message("hello".into())]);
    sim.assert_open();
}

#[test]
fn heartbeat_carries_on_across_an_upgrade() {
    let mut sim = Sim::new(TransportKind::Polling);
    sim.session.begin_upgrade(sim.at(100)).unwrap();
    sim.probe(110, "2probe").unwrap();
    sim.probe(120, "5").unwrap();
    assert_eq!(
        sim.deadline(),
        Some(INTERVAL),
        "the ping schedule is unchanged"
    );
    assert_eq!(sim.run_until(INTERVAL), [(INTERVAL, ping())]);
    sim.receive(INTERVAL + 5, pong()).unwrap();
    sim.run_until(2 * INTERVAL + 5 + TIMEOUT - 1);
    sim.assert_open();
}

#[test]
fn ping_during_an_upgrade_goes_to_the_active_transport() {
    let mut sim = Sim::new(TransportKind::Polling);
    sim.session.begin_upgrade(sim.at(250)).unwrap();
    sim.probe(260, "2probe").unwrap();
    assert_eq!(sim.run_until(INTERVAL), [(INTERVAL, ping())]);
    assert_eq!(
        sim.probe_transmit(),
        ["3probe"],
        "the probe socket gets only the probe answer"
    );
    sim.receive(INTERVAL + 10, pong()).unwrap();
    sim.probe(INTERVAL + 20, "5").unwrap();
    assert_eq!(sim.events(), [Event::Upgraded]);
    assert_eq!(sim.deadline(), Some(INTERVAL + 10 + INTERVAL));
}

#[test]
fn invalid_upgrade_packet_aborts_the_upgrade_but_the_session_lives() {
    let bad_sequences: [&[&str]; 5] = [
        &["4hello"],           // a message before the probe
        &["2"],                // a ping that is not a probe
        &["5"],                // upgrade before the probe
        &["2probe", "2probe"], // a second probe
        &["2probe", "4hello"], // a message before the upgrade packet
    ];
    for frames in bad_sequences {
        let mut sim = Sim::new(TransportKind::Polling);
        sim.session.begin_upgrade(sim.at(10)).unwrap();
        let (last, first) = frames.split_last().unwrap();
        for frame in first {
            sim.probe(20, frame).unwrap();
        }
        sim.probe_transmit();
        assert_eq!(
            sim.probe(30, last),
            Err(SessionError::InvalidUpgradePacket),
            "{frames:?}"
        );
        assert_eq!(sim.events(), [Event::UpgradeAborted], "{frames:?}");
        assert!(!sim.session.is_upgrading());
        assert!(!sim.session.polls_answer_noop());
        assert!(sim.probe_transmit().is_empty());
        assert_eq!(sim.session.transport(), TransportKind::Polling);
        sim.assert_open();

        // Polling goes on, and a later upgrade can still succeed.
        sim.post(40, "4still here").unwrap();
        assert_eq!(sim.events(), [Event::Message("still here".into())]);
        sim.session.begin_upgrade(sim.at(50)).unwrap();
        sim.probe(60, "2probe").unwrap();
        sim.probe(70, "5").unwrap();
        assert_eq!(sim.events(), [Event::Upgraded], "{frames:?}");
    }
}

#[test]
fn probe_packet_without_an_upgrade_is_refused() {
    let mut sim = Sim::new(TransportKind::Polling);
    assert_eq!(
        sim.probe(10, "2probe"),
        Err(SessionError::UpgradeNotAllowed)
    );
    assert!(sim.events().is_empty(), "nothing to abort");
    assert!(sim.probe_transmit().is_empty());
    sim.assert_open();
}

#[test]
fn upgrade_timeout_before_the_probe() {
    let mut sim = Sim::new(TransportKind::Polling);
    sim.session.begin_upgrade(sim.at(10)).unwrap();
    assert_eq!(sim.deadline(), Some(INTERVAL), "the ping comes first");
    // Keep the heartbeat going while the websocket says nothing.
    sim.run_until(INTERVAL);
    sim.receive(INTERVAL + 10, pong()).unwrap();
    sim.run_until(2 * INTERVAL + 10);
    sim.receive(2 * INTERVAL + 20, pong()).unwrap();
    sim.run_until(3 * INTERVAL + 20);
    sim.receive(3 * INTERVAL + 30, pong()).unwrap();
    assert_eq!(sim.deadline(), Some(10 + UPGRADE_TIMEOUT));

    sim.run_until(10 + UPGRADE_TIMEOUT - 1);
    assert!(sim.session.is_upgrading());
    assert!(sim.events().is_empty());
    sim.run_until(10 + UPGRADE_TIMEOUT);
    assert!(!sim.session.is_upgrading());
    assert_eq!(sim.events(), [Event::UpgradeAborted]);
    assert_eq!(sim.deadline(), Some(4 * INTERVAL + 30));
    sim.assert_open();
}

#[test]
fn upgrade_timeout_after_the_probe() {
    let config = Config {
        upgrade_timeout: Duration::from_millis(100),
        ..suite_config()
    };
    let mut sim = Sim::with_config(config, TransportKind::Polling);
    sim.session.begin_upgrade(sim.at(20)).unwrap();
    assert_eq!(
        sim.deadline(),
        Some(120),
        "the upgrade deadline comes first"
    );
    sim.probe(30, "2probe").unwrap();
    assert_eq!(
        sim.deadline(),
        Some(120),
        "the probe does not extend the deadline"
    );
    sim.run_until(120);
    assert_eq!(sim.events(), [Event::UpgradeAborted]);
    assert!(
        !sim.session.polls_answer_noop(),
        "polls are served normally again"
    );
    assert!(
        sim.probe_transmit().is_empty(),
        "an unsent probe answer is dropped"
    );
    assert_eq!(sim.deadline(), Some(INTERVAL));
    // The late `5` no longer upgrades anything.
    assert_eq!(sim.probe(130, "5"), Err(SessionError::UpgradeNotAllowed));
    assert_eq!(sim.session.transport(), TransportKind::Polling);
    sim.assert_open();
}

#[test]
fn lazy_upgrade_expiry() {
    let config = Config {
        upgrade_timeout: Duration::from_millis(500),
        ..suite_config()
    };
    let mut sim = Sim::with_config(config, TransportKind::Polling);
    sim.session.begin_upgrade(sim.at(0)).unwrap();
    sim.probe(10, "2probe").unwrap();
    // The ping at 300 is answered (next one due at 601); the timer then fires late, after
    // the upgrade deadline at 500 has passed.
    sim.run_until(INTERVAL);
    sim.receive(INTERVAL + 1, pong()).unwrap();
    sim.tick(590);
    assert_eq!(sim.events(), [Event::UpgradeAborted]);
    assert!(sim.transmit().is_empty(), "the next ping is not due yet");
    assert_eq!(sim.probe(590, "5"), Err(SessionError::UpgradeNotAllowed));
    sim.assert_open();
}

#[test]
fn begin_upgrade_is_refused_on_websocket_sessions() {
    let mut sim = Sim::new(TransportKind::WebSocket);
    assert_eq!(
        sim.session.begin_upgrade(sim.at(10)),
        Err(SessionError::UpgradeNotAllowed)
    );
    assert!(!sim.session.is_upgrading());
    assert!(sim.events().is_empty());
    assert_eq!(sim.deadline(), Some(INTERVAL));
    sim.assert_open();
}

#[test]
fn second_websocket_after_the_upgrade_is_refused() {
    // Suite: a second websocket with the same sid is closed; the first keeps working.
    let mut sim = Sim::new(TransportKind::Polling);
    sim.session.begin_upgrade(sim.at(10)).unwrap();
    sim.probe(20, "2probe").unwrap();
    sim.probe(30, "5").unwrap();
    assert_eq!(
        sim.session.begin_upgrade(sim.at(40)),
        Err(SessionError::UpgradeNotAllowed)
    );
    assert_eq!(
        sim.probe(50, "2probe"),
        Err(SessionError::UpgradeNotAllowed)
    );
    sim.receive(60, Packet::Message("hello".into())).unwrap();
    assert_eq!(
        sim.events(),
        [Event::Upgraded, Event::Message("hello".into())]
    );
}

#[test]
fn second_websocket_during_an_upgrade_is_refused() {
    let mut sim = Sim::new(TransportKind::Polling);
    sim.session.begin_upgrade(sim.at(10)).unwrap();
    assert_eq!(
        sim.session.begin_upgrade(sim.at(20)),
        Err(SessionError::UpgradeNotAllowed)
    );
    // The first one carries on.
    sim.probe(30, "2probe").unwrap();
    sim.probe(40, "5").unwrap();
    assert_eq!(sim.events(), [Event::Upgraded]);
}

#[test]
fn probing_websocket_goes_away() {
    let mut sim = Sim::new(TransportKind::Polling);
    sim.session.abort_upgrade();
    assert!(sim.events().is_empty(), "no upgrade, nothing to abort");

    sim.session.begin_upgrade(sim.at(10)).unwrap();
    sim.probe(20, "2probe").unwrap();
    sim.session.abort_upgrade();
    assert_eq!(sim.events(), [Event::UpgradeAborted]);
    assert!(sim.probe_transmit().is_empty());
    assert!(!sim.session.polls_answer_noop());
    assert_eq!(sim.deadline(), Some(INTERVAL));
    sim.assert_open();
}

#[test]
fn close_during_an_upgrade() {
    let mut sim = Sim::new(TransportKind::Polling);
    sim.session.begin_upgrade(sim.at(10)).unwrap();
    sim.probe(20, "2probe").unwrap();
    sim.post(30, "1").unwrap();
    sim.assert_closed(CloseReason::TransportClose);
    assert!(!sim.session.is_upgrading());
    assert!(!sim.session.polls_answer_noop());
    assert!(sim.probe_transmit().is_empty());
    assert_eq!(sim.events(), [Event::Closed(CloseReason::TransportClose)]);
    assert_eq!(sim.probe(40, "5"), Err(SessionError::Closed));
}

#[test]
fn ping_timeout_during_an_upgrade() {
    let mut sim = Sim::new(TransportKind::Polling);
    sim.run_until(INTERVAL + 100);
    sim.session.begin_upgrade(sim.at(INTERVAL + 100)).unwrap();
    sim.probe(INTERVAL + 150, "2probe").unwrap();
    sim.run_until(INTERVAL + TIMEOUT);
    sim.assert_closed(CloseReason::PingTimeout);
    assert_eq!(sim.events(), [Event::Closed(CloseReason::PingTimeout)]);
}

// ---------------------------------------------------------------------------------------------
// poll_timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn poll_timeout_through_a_session_life() {
    let mut sim = Sim::new(TransportKind::Polling);
    assert_eq!(sim.deadline(), Some(300), "first ping");
    sim.tick(300);
    assert_eq!(sim.deadline(), Some(500), "pong deadline");
    sim.receive(420, pong()).unwrap();
    assert_eq!(sim.deadline(), Some(720), "next ping");
    sim.session.begin_upgrade(sim.at(430)).unwrap();
    assert_eq!(
        sim.deadline(),
        Some(720),
        "ping before the upgrade deadline at 1430"
    );
    sim.tick(720);
    assert_eq!(
        sim.deadline(),
        Some(920),
        "pong deadline before the upgrade deadline"
    );
    sim.receive(730, pong()).unwrap();
    assert_eq!(sim.deadline(), Some(1030));
    sim.tick(1030);
    sim.receive(1040, pong()).unwrap();
    assert_eq!(sim.deadline(), Some(1340));
    sim.tick(1340);
    sim.receive(1350, pong()).unwrap();
    assert_eq!(
        sim.deadline(),
        Some(1430),
        "now the upgrade deadline is first"
    );
    sim.tick(1430);
    assert_eq!(sim.events(), [Event::UpgradeAborted]);
    assert_eq!(sim.deadline(), Some(1650));
    sim.session.close(CloseReason::ForcedClose);
    assert_eq!(sim.deadline(), None);
}

#[test]
fn poll_timeout_is_an_instant_on_the_callers_clock() {
    let zero = Instant::now() + Duration::from_secs(3600);
    let session = Session::new(Arc::new(Config::default()), TransportKind::WebSocket, zero);
    assert_eq!(session.poll_timeout(), Some(zero + Duration::from_secs(25)));
}

// ---------------------------------------------------------------------------------------------
// Heartbeat under any timing
// ---------------------------------------------------------------------------------------------

/// Run a client that answers every ping after `latency` ms, against a timer-driven session,
/// until `end`. Returns the ping times and, if the session closed, when.
fn simulate(interval: u64, timeout: u64, latency: u64, end: u64) -> (Vec<u64>, Option<u64>) {
    let config = Config {
        ping_interval: Duration::from_millis(interval),
        ping_timeout: Duration::from_millis(timeout),
        ..Config::default()
    };
    let mut sim = Sim::with_config(config, TransportKind::WebSocket);
    let mut pings = Vec::new();
    let mut pong_due: Option<u64> = None;
    loop {
        // On a tie the timer fires first, as a driver advances the clock before reading.
        let (now, is_pong) = match (sim.deadline(), pong_due) {
            (Some(timer), Some(pong)) if pong < timer => (pong, true),
            (Some(timer), _) => (timer, false),
            (None, Some(pong)) => (pong, true),
            (None, None) => break,
        };
        if now > end {
            break;
        }
        if is_pong {
            pong_due = None;
            if sim.receive(now, pong()).is_err() {
                break;
            }
        } else {
            sim.tick(now);
            for packet in sim.transmit() {
                assert_eq!(packet, ping());
                pings.push(now);
                pong_due = Some(now + latency);
            }
        }
        if sim.session.is_closed() {
            return (pings, Some(now));
        }
    }
    (pings, None)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        rng_seed: RngSeed::Fixed(0x7365_7373_696f_6e73),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn heartbeat_under_any_timing(
        interval in 1u64..1_000,
        timeout in 1u64..1_000,
        latency in 0u64..2_000,
    ) {
        let end = 10 * (interval + timeout + latency);
        let (pings, closed) = simulate(interval, timeout, latency, end);
        if latency < timeout {
            // Every pong is in time: pings at interval, then pong + interval each round.
            prop_assert_eq!(closed, None);
            for (k, &at) in pings.iter().enumerate() {
                let k = k as u64;
                prop_assert_eq!(at, (k + 1) * interval + k * latency);
            }
            prop_assert!(pings.len() >= 9, "{:?}", pings);
        } else {
            // The first pong is late: closed at exactly interval + timeout.
            prop_assert_eq!(pings, vec![interval]);
            prop_assert_eq!(closed, Some(interval + timeout));
        }
    }
}
