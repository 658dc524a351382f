//! Two servers in one process share nothing: not their matches, their worker threads, their
//! counters, their metrics nor their shutdown.

use std::time::Duration;

use crate::support::{serve, settled, within, WsClient};
use tickwire::{Codec, Match, MatchConfig, MatchContext, MatchRoom, SocketIo};

/// A match that does nothing but tick.
struct Idle;

impl Match for Idle {
    type Input = ();
    type Snapshot = u64;
    fn on_input(&mut self, _: &mut MatchContext, _: u32, _: u32, _: ()) {}
    fn tick(&mut self, ctx: &mut MatchContext, _: Duration) -> u64 {
        ctx.tick()
    }
}

fn long_lived() -> MatchConfig {
    MatchConfig {
        empty_timeout: Duration::from_secs(600),
        ..MatchConfig::default()
    }
}

#[actix_rt::test]
async fn two_servers_in_one_process_keep_their_matches_counters_and_shutdown_apart() {
    let (a, b) = (SocketIo::builder().build(), SocketIo::builder().build());
    a.ns("/", |_| {});
    b.ns("/", |_| {});
    let (port_a, _port_b) = (serve(&a), serve(&b));
    settled("each server's workers registered", || {
        a.workers().len() == 2 && b.workers().len() == 2
    })
    .await;

    let a_matches: Vec<_> = (0..3)
        .map(|_| MatchRoom::spawn(&a, long_lived(), Idle))
        .collect();
    let b_match = MatchRoom::spawn(&b, long_lived(), Idle);
    assert_eq!((MatchRoom::count(&a), MatchRoom::count(&b)), (3, 1));
    // Ids are each server's own.
    assert_eq!(b_match.id(), 1);
    let ids: Vec<u64> = MatchRoom::list(&a).iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![1, 2, 3]);

    // Encodes are counted where they happen.
    let (mut client, _) = WsClient::connect(port_a).await;
    a.emit("hello", &1).unwrap();
    client.wait_for_text(r#"42["hello",1]"#).await;
    assert_eq!(a.encode_count(Codec::Json), 1);
    assert_eq!(b.encode_count(Codec::Json), 0);
    // Each one's metrics show its own matches.
    assert!(a.metrics_text().contains("tickwire_matches 3\n"));
    assert!(b.metrics_text().contains("tickwire_matches 1\n"));

    // Shutting one down ends its matches and its clients only.
    a.shutdown().await;
    within("a's matches ended", async {
        while a_matches.iter().any(|m| m.is_alive()) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(MatchRoom::count(&a), 0);
    assert!(b_match.is_alive());
    assert_eq!(MatchRoom::count(&b), 1);
    settled("a's client disconnected", || a.connection_count() == 0).await;
    b_match.stop().await;
}
