//! Operations: `/metrics` (Prometheus text format) and `/status` (a small HTML page).
//!
//! Both show this server's figures (connections, matches with their tick metrics, the
//! queue). A node of a game cluster adds the cluster's: its live nodes and their loads,
//! every node's matches from the directory (with the node each runs on), and the bus
//! counters. The render functions take plain data ([`Figures`]), so they are unit-tested.

use std::fmt::Write as _;
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use tickwire::auth::SessionAuth;
use tickwire::game::cluster::NodeLoad;
use tickwire::{Codec, MatchMetrics, MatchRoom, SocketIo};

use crate::lobby::Lobby;
use crate::wire::MatchSummary;

/// What both pages show.
struct Figures {
    connections: usize,
    live_matches: usize,
    /// Players waiting (in a cluster, in the cluster's queue).
    queued: usize,
    /// This server's matches, by wire id.
    matches: Vec<(String, MatchMetrics)>,
    summaries: Vec<MatchSummary>,
    encodes: [u64; 2],
    /// A node of a cluster: the cluster's figures.
    cluster: Option<ClusterFigures>,
}

/// A cluster's figures, as seen from one of its nodes.
struct ClusterFigures {
    /// This node's id (16 hex digits).
    node: String,
    /// The live nodes.
    nodes: Vec<NodeLoad>,
    /// Every node's arena matches.
    matches: Vec<ClusterMatch>,
    /// The bus counters of this node (`GameCluster::counters`).
    counters: Vec<(&'static str, u64)>,
}

/// A match of the cluster's directory.
struct ClusterMatch {
    /// Its wire id.
    id: String,
    /// The node it runs on (16 hex digits).
    node: String,
    /// Seats held.
    seated: usize,
    summary: Option<MatchSummary>,
}

async fn gather(io: &SocketIo, lobby: &Lobby, with_summaries: bool) -> Figures {
    let matches: Vec<(String, MatchMetrics)> = MatchRoom::list(io)
        .into_iter()
        .map(|(id, m)| (lobby.match_id(id), m))
        .collect();
    let cluster = match lobby.cluster() {
        Some(cluster) => Some(ClusterFigures {
            node: format!("{:016x}", cluster.node_id()),
            nodes: cluster.nodes().await,
            matches: lobby
                .directory()
                .await
                .into_iter()
                .map(|listed| ClusterMatch {
                    id: listed.at.to_string(),
                    node: format!("{:016x}", listed.at.node),
                    seated: listed.seated,
                    summary: listed.summary,
                })
                .collect(),
            counters: cluster.counters(),
        }),
        None => None,
    };
    let summaries = match (&cluster, with_summaries) {
        (_, false) => Vec::new(),
        // The directory has them already.
        (Some(c), true) => c.matches.iter().filter_map(|m| m.summary.clone()).collect(),
        (None, true) => lobby.summaries(100).await,
    };
    Figures {
        connections: io.connection_count(),
        live_matches: matches.len(),
        queued: lobby.queued().await,
        encodes: [
            io.encode_count(Codec::Json),
            io.encode_count(Codec::Compact),
        ],
        matches,
        summaries,
        cluster,
    }
}

fn phase_name(phase: u8) -> &'static str {
    match phase {
        0 => "countdown",
        1 => "playing",
        _ => "scoreboard",
    }
}

fn score_lines(summary: &MatchSummary) -> String {
    summary
        .players
        .iter()
        .map(|p| format!("{} ({})", escape(&p.name), p.score))
        .collect::<Vec<_>>()
        .join(", ")
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
    if let Some(cluster) = &f.cluster {
        render_cluster_metrics(&mut out, cluster);
    }
    out
}

/// The cluster's part of `/metrics`.
fn render_cluster_metrics(out: &mut String, c: &ClusterFigures) {
    let draining = c.nodes.iter().filter(|n| n.draining).count();
    for (name, help, value) in [
        (
            "game_cluster_nodes",
            "Live nodes of the game cluster.",
            c.nodes.len(),
        ),
        (
            "game_cluster_nodes_draining",
            "Nodes of the game cluster draining (no new match placed there).",
            draining,
        ),
        (
            "game_cluster_matches",
            "Matches in the game cluster's directory (every node's).",
            c.matches.len(),
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP game_cluster_bus_total This node's game cluster bus: messages by outcome, \
         nodes found lost, tickets requeued.\n# TYPE game_cluster_bus_total counter"
    );
    for (counter, value) in &c.counters {
        let _ = writeln!(
            out,
            "game_cluster_bus_total{{counter=\"{counter}\"}} {value}"
        );
    }
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
        let phase = summary.map_or("?", |s| phase_name(s.phase));
        let time_left = summary.map_or(0.0, |s| s.time_left);
        let players = summary.map_or(String::new(), score_lines);
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
            id = escape(id),
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
         <th>bytes/tick</th></tr>{rows}</table>{cluster}</body></html>",
        conns = f.connections,
        live = f.live_matches,
        queued = f.queued,
        cluster = f.cluster.as_ref().map(render_cluster_status).unwrap_or_default(),
    )
}

/// The cluster's part of `/status`: its nodes, every node's matches, the bus counters.
fn render_cluster_status(c: &ClusterFigures) -> String {
    let mut nodes = String::new();
    for n in &c.nodes {
        let id = format!("{:016x}", n.node);
        let here = if id == c.node { " (this node)" } else { "" };
        let _ = write!(
            nodes,
            "<tr><td>{id}{here}</td><td>{matches}</td><td>{players}</td><td>{load:.2}</td>\
             <td>{draining}</td></tr>",
            matches = n.matches,
            players = n.players,
            load = n.tick_load,
            draining = if n.draining { "draining" } else { "no" },
        );
    }
    if nodes.is_empty() {
        nodes.push_str("<tr><td colspan=\"5\">no live node</td></tr>");
    }
    let mut matches = String::new();
    for m in &c.matches {
        let summary = m.summary.as_ref();
        let _ = write!(
            matches,
            "<tr><td>{id}</td><td>{node}</td><td>{phase}</td><td>{time_left:.0} s</td>\
             <td>{seated}</td><td>{players}</td><td>{spectators}</td></tr>",
            id = escape(&m.id),
            node = escape(&m.node),
            phase = summary.map_or("?", |s| phase_name(s.phase)),
            time_left = summary.map_or(0.0, |s| s.time_left),
            seated = m.seated,
            players = summary.map_or(String::new(), score_lines),
            spectators = summary.map_or(0, |s| s.spectators),
        );
    }
    if matches.is_empty() {
        matches.push_str("<tr><td colspan=\"7\">no match in the cluster</td></tr>");
    }
    let counters = c
        .counters
        .iter()
        .map(|(name, value)| format!("{name} <b>{value}</b>"))
        .collect::<Vec<_>>()
        .join(" · ");
    format!(
        "<h2>cluster</h2><p>this node <b>{node}</b> · live nodes <b>{live}</b> · \
         bus: {counters}</p>\
         <table><tr><th>node</th><th>matches</th><th>players</th><th>tick load</th>\
         <th>draining</th></tr>{nodes}</table>\
         <h2>cluster matches</h2>\
         <table><tr><th>match</th><th>node</th><th>phase</th><th>left</th><th>seated</th>\
         <th>players (score)</th><th>spectators</th></tr>{matches}</table>",
        node = escape(&c.node),
        live = c.nodes.len(),
    )
}

/// `GET /metrics`.
pub(crate) async fn metrics(
    io: web::Data<SocketIo>,
    lobby: web::Data<Arc<Lobby>>,
    auth: web::Data<SessionAuth>,
) -> HttpResponse {
    let figures = gather(&io, &lobby, false).await;
    // The session tokens' counters (admitted, refused by reason, renewed, expired, revoked).
    let text = render_metrics(&figures) + &auth.metrics_text();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
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
    use crate::wire::ScoreLine;

    fn one_match(id: &str) -> (String, MatchMetrics) {
        (
            id.to_owned(),
            MatchMetrics {
                ticks: 90,
                tick_p99_us: 1500,
                players: 2,
                ..MatchMetrics::default()
            },
        )
    }

    fn summary(id: &str, name: &str) -> MatchSummary {
        MatchSummary {
            id: id.to_owned(),
            phase: 1,
            time_left: 12.0,
            players: vec![ScoreLine {
                id: 1,
                name: name.to_owned(),
                score: 5,
                bot: false,
            }],
            spectators: 1,
        }
    }

    fn assert_samples_well_formed(text: &str) {
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.split(' ').count(), 2, "bad sample line {line:?}");
        }
    }

    #[test]
    fn metrics_are_prometheus_text() {
        let figures = Figures {
            connections: 3,
            live_matches: 1,
            queued: 2,
            matches: vec![one_match("7")],
            summaries: vec![],
            encodes: [5, 4],
            cluster: None,
        };
        let text = render_metrics(&figures);
        assert!(text.contains("tickwire_packets_encoded_total{codec=\"compact\"} 4\n"));
        assert!(text.contains("\ntickwire_connections 3\n"));
        assert!(text.contains("tickwire_match_ticks_total{match=\"7\"} 90\n"));
        assert!(text.contains("tickwire_match_tick_p99_seconds{match=\"7\"} 0.001500\n"));
        assert!(
            !text.contains("game_cluster"),
            "one node: no cluster figures"
        );
        assert_samples_well_formed(&text);
        let page = render_status(&figures);
        assert!(page.contains("<td>7</td>"));
        assert!(!page.contains("cluster"), "one node: no cluster section");
    }

    #[test]
    fn a_cluster_node_shows_the_nodes_and_every_node_s_matches() {
        let (here, there) = (0x1a2b_u64, 0xfe_u64);
        let local = format!("{here:016x}-3");
        let remote = format!("{there:016x}-9");
        let node = |node, matches, draining| NodeLoad {
            node,
            matches,
            players: 2 * matches,
            tick_load: 0.25,
            draining,
            pending: 0,
        };
        let figures = Figures {
            connections: 2,
            live_matches: 1,
            queued: 4,
            matches: vec![one_match(&local)],
            summaries: vec![summary(&local, "ada"), summary(&remote, "<bob>")],
            encodes: [1, 1],
            cluster: Some(ClusterFigures {
                node: format!("{here:016x}"),
                nodes: vec![node(here, 1, false), node(there, 1, true)],
                matches: vec![
                    ClusterMatch {
                        id: local.clone(),
                        node: format!("{here:016x}"),
                        seated: 2,
                        summary: Some(summary(&local, "ada")),
                    },
                    ClusterMatch {
                        id: remote.clone(),
                        node: format!("{there:016x}"),
                        seated: 3,
                        summary: Some(summary(&remote, "<bob>")),
                    },
                    // Listed before its host's first heartbeat with a summary.
                    ClusterMatch {
                        id: format!("{there:016x}-10"),
                        node: format!("{there:016x}"),
                        seated: 0,
                        summary: None,
                    },
                ],
                counters: vec![("published", 12), ("received", 7), ("malformed", 0)],
            }),
        };

        let page = render_status(&figures);
        // This node's own table, by wire id, as on one node.
        assert!(
            page.contains(&format!("<tr><td>{local}</td><td>playing</td>")),
            "{page}"
        );
        // The nodes: ids, this one marked, loads, the draining one.
        assert!(page.contains(&format!(
            "<td>{here:016x} (this node)</td><td>1</td><td>2</td>"
        )));
        assert!(page.contains(&format!(
            "<td>{there:016x}</td><td>1</td><td>2</td><td>0.25</td><td>draining</td>"
        )));
        // Every node's matches, each with the node it runs on; names escaped.
        assert!(page.contains(&format!(
            "<tr><td>{remote}</td><td>{there:016x}</td><td>playing</td><td>12 s</td>\
             <td>3</td><td>&lt;bob&gt; (5)</td><td>1</td></tr>"
        )));
        assert!(page.contains(&format!("<tr><td>{local}</td><td>{here:016x}</td>")));
        assert!(page.contains(&format!(
            "<tr><td>{there:016x}-10</td><td>{there:016x}</td><td>?</td>"
        )));
        assert!(page.contains("published <b>12</b> · received <b>7</b> · malformed <b>0</b>"));
        assert!(!page.contains("<bob>"));

        let text = render_metrics(&figures);
        assert!(text.contains(&format!(
            "tickwire_match_ticks_total{{match=\"{local}\"}} 90\n"
        )));
        assert!(text.contains("\ngame_cluster_nodes 2\n"));
        assert!(text.contains("\ngame_cluster_nodes_draining 1\n"));
        assert!(text.contains("\ngame_cluster_matches 3\n"));
        assert!(text.contains("\ngame_cluster_bus_total{counter=\"published\"} 12\n"));
        assert_samples_well_formed(&text);
    }
}
