//! Operations: `/metrics` (Prometheus text format) and `/status` (a small HTML page).

use std::fmt::Write as _;
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use tickwire::{Codec, MatchMetrics, MatchRoom, SocketIo};

use crate::events::Lobby;
use crate::wire::MatchSummary;

/// What both pages show.
struct Figures {
    connections: usize,
    live_matches: usize,
    queued: usize,
    matches: Vec<(u64, MatchMetrics)>,
    summaries: Vec<MatchSummary>,
    encodes: [u64; 2],
}

async fn gather(io: &SocketIo, lobby: &Lobby, with_summaries: bool) -> Figures {
    let matches = MatchRoom::list(io);
    Figures {
        connections: io.connection_count(),
        live_matches: matches.len(),
        queued: lobby.queued().await,
        encodes: [
            io.encode_count(Codec::Json),
            io.encode_count(Codec::Compact),
        ],
        matches,
        summaries: if with_summaries {
            lobby.summaries(100).await
        } else {
            Vec::new()
        },
    }
}

/// Render the figures in the Prometheus text exposition format.
fn render_metrics(f: &Figures) -> String {
    let mut out = String::with_capacity(2048);
    let mut gauge = |name: &str, help: &str, kind: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    gauge(
        "tickwire_connections",
        "Open Engine.IO connections.",
        "gauge",
        f.connections.to_string(),
    );
    gauge(
        "tickwire_matches_live",
        "Live match rooms.",
        "gauge",
        f.live_matches.to_string(),
    );
    gauge(
        "game_queue_waiting",
        "Players waiting in the matchmaking queue.",
        "gauge",
        f.queued.to_string(),
    );
    let mut encodes = String::new();
    for (codec, name) in [(Codec::Json, "json"), (Codec::Compact, "compact")] {
        let _ = writeln!(
            encodes,
            "tickwire_packets_encoded_total{{codec=\"{name}\"}} {}",
            f.encodes[codec.index()]
        );
    }
    let _ = write!(
        out,
        "# HELP tickwire_packets_encoded_total Packets encoded, per codec.\n\
         # TYPE tickwire_packets_encoded_total counter\n{encodes}"
    );
    type Field = fn(&MatchMetrics) -> String;
    let per_match: [(&str, &str, &str, Field); 9] = [
        ("tickwire_match_players", "Players seated.", "gauge", |m| {
            m.players.to_string()
        }),
        ("tickwire_match_ticks_total", "Ticks run.", "counter", |m| {
            m.ticks.to_string()
        }),
        (
            "tickwire_match_ticks_skipped_total",
            "Tick slots skipped after a stall.",
            "counter",
            |m| m.skipped.to_string(),
        ),
        (
            "tickwire_match_tick_overruns_total",
            "Ticks whose work took longer than a period.",
            "counter",
            |m| m.overruns.to_string(),
        ),
        (
            "tickwire_match_tick_p50_seconds",
            "Median tick work time (last 1024 ticks).",
            "gauge",
            |m| secs(m.tick_p50_us),
        ),
        (
            "tickwire_match_tick_p99_seconds",
            "99th percentile tick work time (last 1024 ticks).",
            "gauge",
            |m| secs(m.tick_p99_us),
        ),
        (
            "tickwire_match_tick_max_lateness_seconds",
            "Worst lateness of a tick after its deadline.",
            "gauge",
            |m| secs(m.max_lateness_us),
        ),
        (
            "tickwire_match_snapshot_bytes",
            "Snapshot bytes queued on the last tick.",
            "gauge",
            |m| m.bytes_last_tick.to_string(),
        ),
        (
            "tickwire_match_inputs_dropped_total",
            "Inputs dropped because a player's queue was full.",
            "counter",
            |m| m.inputs_dropped.to_string(),
        ),
    ];
    for (name, help, kind, field) in per_match {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (id, m) in &f.matches {
            let _ = writeln!(out, "{name}{{match=\"{id}\"}} {}", field(m));
        }
    }
    out
}

fn secs(us: u64) -> String {
    format!("{:.6}", us as f64 / 1e6)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Render the status page.
fn render_status(f: &Figures) -> String {
    let mut rows = String::new();
    for (id, m) in &f.matches {
        let summary = f.summaries.iter().find(|s| s.id == *id);
        let phase = summary.map_or("?", |s| match s.phase {
            0 => "countdown",
            1 => "playing",
            _ => "scoreboard",
        });
        let time_left = summary.map_or(0.0, |s| s.time_left);
        let players = summary.map_or(String::new(), |s| {
            s.players
                .iter()
                .map(|p| format!("{} ({})", escape(&p.name), p.score))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let spectators = summary.map_or(0, |s| s.spectators);
        let _ = write!(
            rows,
            "<tr><td>{id}</td><td>{phase}</td><td>{time_left:.0} s</td><td>{seated}</td>\
             <td>{players}</td><td>{spectators}</td><td>{p50:.2}</td><td>{p99:.2}</td>\
             <td>{ticks}</td><td>{overruns}</td><td>{bytes}</td></tr>",
            seated = m.players,
            p50 = m.tick_p50_us as f64 / 1000.0,
            p99 = m.tick_p99_us as f64 / 1000.0,
            ticks = m.ticks,
            overruns = m.overruns,
            bytes = m.bytes_last_tick,
        );
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=\"11\">no match running</td></tr>");
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>tickwire arena · status</title>\
         <meta http-equiv=\"refresh\" content=\"2\">\
         <style>body{{font:14px system-ui,sans-serif;margin:2em;background:#10151c;color:#dde}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #345;padding:4px 8px;text-align:left}}\
         a{{color:#8cf}}</style></head><body>\
         <h1>tickwire arena · status</h1>\
         <p>connections <b>{conns}</b> · live matches <b>{live}</b> · queued <b>{queued}</b> · \
         <a href=\"/metrics\">metrics</a> · <a href=\"/\">play</a></p>\
         <table><tr><th>match</th><th>phase</th><th>left</th><th>seated</th><th>players (score)</th>\
         <th>spectators</th><th>tick p50 ms</th><th>tick p99 ms</th><th>ticks</th><th>overruns</th>\
         <th>bytes/tick</th></tr>{rows}</table></body></html>",
        conns = f.connections,
        live = f.live_matches,
        queued = f.queued,
    )
}

/// `GET /metrics`.
pub(crate) async fn metrics(io: web::Data<SocketIo>, lobby: web::Data<Arc<Lobby>>) -> HttpResponse {
    let figures = gather(&io, &lobby, false).await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(render_metrics(&figures))
}

/// `GET /status`.
pub(crate) async fn status(io: web::Data<SocketIo>, lobby: web::Data<Arc<Lobby>>) -> HttpResponse {
    let figures = gather(&io, &lobby, true).await;
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(render_status(&figures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_prometheus_text() {
        let figures = Figures {
            connections: 3,
            live_matches: 1,
            queued: 2,
            matches: vec![(
                7,
                MatchMetrics {
                    ticks: 90,
                    tick_p99_us: 1500,
                    players: 2,
                    ..MatchMetrics::default()
                },
            )],
            summaries: vec![],
            encodes: [5, 4],
        };
        let text = render_metrics(&figures);
        assert!(text.contains("tickwire_packets_encoded_total{codec=\"compact\"} 4\n"));
        assert!(text.contains("\ntickwire_connections 3\n"));
        assert!(text.contains("tickwire_match_ticks_total{match=\"7\"} 90\n"));
        assert!(text.contains("tickwire_match_tick_p99_seconds{match=\"7\"} 0.001500\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.split(' ').count(), 2, "bad sample line {line:?}");
        }
        let page = render_status(&figures);
        assert!(page.contains("<td>7</td>"));
    }
}
