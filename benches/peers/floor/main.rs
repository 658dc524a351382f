//! The bare-socket floor of the benchmark server contract (benches/README.md): the fastest
//! honest server, to show how close tickwire gets to what the machine can do.
//!
//! One thread (tokio current-thread), hand-rolled HTTP upgrade and websocket framing, just
//! enough Engine.IO / Socket.IO for the contract's clients: the open packet, `40`, `ping`
//! and `join` acks, heartbeats every 25 s. Each tick's frame (websocket header included) is
//! encoded once per room and written with one `write` per member. A member whose socket
//! cannot take the frame right now skips that tick (counted), so a stalled reader costs
//! nothing and holds at most one partial frame.
//!
//! `floor-server --port P` (TICK_HZ in the environment starts the ticker).
//!
//! By default one ticker serves every room, as the contract says (one `t` per tick, all
//! rooms in one burst). With `FLOOR_ROOM_CLOCKS=1` each room gets its own ticker, started
//! when the room is created, at a phase that spreads the rooms over the period (the k-th
//! room at the fractional part of k/φ, as tickwire staggers the matches of a worker) — the
//! shape of tickwire's match rooms, so rooms tick at different phases and no tick is one
//! 1,000-write burst.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use clap::Parser;
use tickwire_benches::client::now_us;
use tickwire_benches::ws;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

#[derive(Parser)]
#[command(about = "bare-socket floor server of the benchmark contract")]
struct Args {
    /// Port (127.0.0.1); falls back to the PORT environment variable, then 3000.
    #[arg(long)]
    port: Option<u16>,
    /// Port as a positional argument.
    port_arg: Option<u16>,
}

const PING_INTERVAL: Duration = Duration::from_secs(25);

struct Conn {
    id: u64,
    stream: TcpStream,
    /// Bytes a write could not take (a partial frame, or control frames queued behind it).
    pending: RefCell<Vec<u8>>,
    flushing: Cell<bool>,
    closed: Cell<bool>,
}

struct Room {
    /// The room name as a JSON string (quotes included), escaped once.
    json_name: String,
    members: Vec<Rc<Conn>>,
}

#[derive(Default)]
struct Floor {
    /// Per-room tickers at this rate (`FLOOR_ROOM_CLOCKS=1`), else one ticker for all.
    room_clock_hz: Option<f64>,
    rooms: RefCell<HashMap<String, Room>>,
    conns: RefCell<HashMap<u64, Rc<Conn>>>,
    next_id: Cell<u64>,
    skipped_sends: Cell<u64>,
    /// Rooms that got a clock of their own so far: the next one's phase.
    room_clocks_started: Cell<u64>,
}

thread_local! {
    /// One read buffer for every connection: nothing per connection unless a frame arrives
    /// split across reads.
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 * 1024]);
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let port = args
        .port
        .or(args.port_arg)
        .or_else(|| std::env::var("PORT").ok()?.parse().ok())
        .unwrap_or(3000);
    let hz: Option<f64> = std::env::var("TICK_HZ")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|hz: &f64| *hz > 0.0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        println!("floor-server listening on 127.0.0.1:{port} (TICK_HZ={hz:?})");
        let room_clocks = std::env::var("FLOOR_ROOM_CLOCKS").is_ok_and(|v| v == "1");
        let floor = Rc::new(Floor {
            room_clock_hz: hz.filter(|_| room_clocks),
            ..Floor::default()
        });
        if let (Some(hz), false) = (hz, room_clocks) {
            tokio::task::spawn_local(ticker(floor.clone(), hz, None));
        }
        tokio::task::spawn_local(heartbeats(floor.clone()));
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let id = floor.next_id.get();
            floor.next_id.set(id + 1);
            let conn = Rc::new(Conn {
                id,
                stream,
                pending: RefCell::new(Vec::new()),
                flushing: Cell::new(false),
                closed: Cell::new(false),
            });
            tokio::task::spawn_local(serve(floor.clone(), conn));
        }
    })
}

/// What a send did.
#[derive(PartialEq, Eq)]
enum Sent {
    Written,
    Queued,
    Skipped,
}

/// Write `data` with one `write`; what does not fit waits for writability. A tick frame
/// (`skippable`) that cannot start right now is skipped instead.
fn send(conn: &Rc<Conn>, data: &[u8], skippable: bool) -> Sent {
    if conn.closed.get() {
        return Sent::Skipped;
    }
    let mut pending = conn.pending.borrow_mut();
    if !pending.is_empty() {
        if skippable {
            return Sent::Skipped;
        }
        pending.extend_from_slice(data);
        return Sent::Queued;
    }
    let rest = match conn.stream.try_write(data) {
        Ok(n) if n == data.len() => return Sent::Written,
        Ok(n) => &data[n..],
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            if skippable {
                return Sent::Skipped;
            }
            data
        }
        Err(_) => {
            conn.closed.set(true);
            return Sent::Skipped;
        }
    };
    pending.extend_from_slice(rest);
    if !conn.flushing.replace(true) {
        tokio::task::spawn_local(flush(conn.clone()));
    }
    Sent::Queued
}

async fn flush(conn: Rc<Conn>) {
    loop {
        if conn.stream.writable().await.is_err() {
            conn.closed.set(true);
            break;
        }
        let mut pending = conn.pending.borrow_mut();
        match conn.stream.try_write(&pending) {
            Ok(n) => {
                pending.drain(..n);
                if pending.is_empty() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => {
                conn.closed.set(true);
                pending.clear();
                break;
            }
        }
    }
    conn.flushing.set(false);
}

fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    ws::write_frame(&mut out, ws::OP_TEXT, payload, None);
    out
}

async fn read_some(stream: &TcpStream, into: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read_buf(into) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

async fn serve(floor: Rc<Floor>, conn: Rc<Conn>) {
    floor.conns.borrow_mut().insert(conn.id, conn.clone());
    if let Err(e) = serve_inner(&floor, &conn).await {
        if e.kind() != io::ErrorKind::UnexpectedEof {
            // Resets and bad requests end the connection; nothing to report per connection.
        }
    }
    conn.closed.set(true);
    floor.conns.borrow_mut().remove(&conn.id);
}

async fn serve_inner(floor: &Rc<Floor>, conn: &Rc<Conn>) -> io::Result<()> {
    // The HTTP upgrade.
    let mut head = Vec::with_capacity(512);
    let end = loop {
        if read_some(&conn.stream, &mut head).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(end) = ws::http_head_end(&head) {
            break end;
        }
        if head.len() > 8192 {
            return Err(io::ErrorKind::InvalidData.into());
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let path = text.split(' ').nth(1).unwrap_or("");
    let key = ws::http_header(&text, "Sec-WebSocket-Key");
    let valid = path.starts_with("/socket.io/")
        && path.contains("EIO=4")
        && path.contains("transport=websocket");
    let Some(key) = key.filter(|_| valid) else {
        let body = r#"{"code":3,"message":"Bad request"}"#;
        let resp = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        send(conn, resp.as_bytes(), false);
        return Ok(());
    };
    let sid = format!("floor{:011}", conn.id);
    let mut hello = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        ws::accept_key(key)
    )
    .into_bytes();
    let open = format!(
        r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#
    );
    ws::write_frame(&mut hello, ws::OP_TEXT, open.as_bytes(), None);
    send(conn, &hello, false);
    // Frames. `partial` holds a frame split across reads (rare: frames are small).
    let mut partial: Vec<u8> = head[end..].to_vec();
    drop(head);
    loop {
        if !partial.is_empty() {
            let used = process(floor, conn, &mut partial, &sid)?;
            partial.drain(..used);
            if partial.capacity() > 4096 && partial.len() < 1024 {
                partial.shrink_to_fit();
            }
        }
        conn.stream.readable().await?;
        let done = READ_BUF.with(|cell| -> io::Result<bool> {
            let mut buf = cell.borrow_mut();
            let n = match conn.stream.try_read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            };
            if partial.is_empty() {
                let used = process(floor, conn, &mut buf[..n], &sid)?;
                partial.extend_from_slice(&buf[used..n]);
            } else {
                partial.extend_from_slice(&buf[..n]);
            }
            Ok(false)
        })?;
        if done || conn.closed.get() {
            return Ok(());
        }
    }
}

/// Handle every complete frame in `buf`; returns the bytes consumed.
fn process(floor: &Rc<Floor>, conn: &Rc<Conn>, buf: &mut [u8], sid: &str) -> io::Result<usize> {
    let mut at = 0;
    loop {
        let head = match ws::parse_head(&buf[at..]) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(at),
            Err(_) => return Err(io::ErrorKind::InvalidData.into()),
        };
        if buf.len() - at < head.frame_len() {
            return Ok(at);
        }
        if head.payload_len > 1_000_000 || !head.fin {
            // No fragmented or oversized messages in this contract.
            return Err(io::ErrorKind::InvalidData.into());
        }
        let body = &mut buf[at + head.header_len..at + head.frame_len()];
        if let Some(mask) = head.mask {
            ws::apply_mask(body, mask);
        }
        match head.opcode {
            ws::OP_TEXT => on_message(floor, conn, body, sid),
            ws::OP_PING => {
                let mut pong = Vec::new();
                ws::write_frame(&mut pong, ws::OP_PONG, body, None);
                send(conn, &pong, false);
            }
            ws::OP_CLOSE => {
                let mut close = Vec::new();
                ws::write_frame(&mut close, ws::OP_CLOSE, &[], None);
                send(conn, &close, false);
                conn.closed.set(true);
            }
            _ => {}
        }
        at += head.frame_len();
    }
}

/// One Engine.IO text message from a client.
fn on_message(floor: &Rc<Floor>, conn: &Rc<Conn>, msg: &[u8], sid: &str) {
    if msg.starts_with(b"40") {
        let joined = format!(r#"40{{"sid":"{sid}"}}"#);
        send(conn, &text_frame(joined.as_bytes()), false);
        return;
    }
    if msg == b"1" || msg.starts_with(b"41") {
        conn.closed.set(true);
        return;
    }
    let Some(event) = msg.strip_prefix(b"42") else {
        return; // pong `3` and anything else: nothing to do
    };
    let digits = event.iter().take_while(|b| b.is_ascii_digit()).count();
    let id = &event[..digits];
    let array = &event[digits..];
    if let Some(arg) = array.strip_prefix(br#"["ping","#) {
        // `arg` is `<value>]`: the ack's array is `[<value>]`.
        if digits > 0 {
            let mut ack = Vec::with_capacity(arg.len() + digits + 4);
            ack.extend_from_slice(b"43");
            ack.extend_from_slice(id);
            ack.push(b'[');
            ack.extend_from_slice(arg);
            send(conn, &text_frame(&ack), false);
        }
    } else if let Some(rest) = array.strip_prefix(br#"["join",""#) {
        let Some(len) = rest.iter().position(|&b| b == b'"') else {
            return;
        };
        let name = String::from_utf8_lossy(&rest[..len]).into_owned();
        let mut rooms = floor.rooms.borrow_mut();
        if let (Some(hz), false) = (floor.room_clock_hz, rooms.contains_key(&name)) {
            let turn = floor.room_clocks_started.get();
            floor.room_clocks_started.set(turn + 1);
            let phase = (turn as f64 * GOLDEN_FRACTION).fract();
            tokio::task::spawn_local(ticker(floor.clone(), hz, Some((name.clone(), phase))));
        }
        let room = rooms.entry(name).or_insert_with_key(|name| Room {
            json_name: serde_json::to_string(name).unwrap_or_default(),
            members: Vec::new(),
        });
        if !room.members.iter().any(|m| m.id == conn.id) {
            room.members.push(conn.clone());
        }
        drop(rooms);
        if digits > 0 {
            let mut ack = b"43".to_vec();
            ack.extend_from_slice(id);
            ack.extend_from_slice(br#"["ok"]"#);
            send(conn, &text_frame(&ack), false);
        }
    }
}

/// 1/φ: the k-th room's clock starts at the fractional part of k/φ of a period.
const GOLDEN_FRACTION: f64 = 0.618_033_988_749_894_9;

/// Tick every room (`room` = `None`) or one room, which it outlives by at most one period,
/// starting `phase` (a fraction) of a period from now.
async fn ticker(floor: Rc<Floor>, hz: f64, room: Option<(String, f64)>) {
    let period = Duration::from_secs_f64(1.0 / hz);
    let (only, phase) = room.map_or((None, 0.0), |(name, phase)| (Some(name), phase));
    let start = Instant::now() + period.mul_f64(phase);
    let mut slot: u64 = 0;
    let filler = "x".repeat(200);
    let mut payload = String::with_capacity(320);
    let mut frame = Vec::with_capacity(330);
    loop {
        tokio::time::sleep_until(start + period.mul_f64(slot as f64)).await;
        // Late by whole periods: skip those slots rather than bunch them.
        let due = (start.elapsed().as_secs_f64() * hz).floor() as u64;
        slot = slot.max(due);
        let t = now_us();
        let mut rooms = floor.rooms.borrow_mut();
        if only.as_ref().is_some_and(|name| !rooms.contains_key(name)) {
            return;
        }
        for (name, room) in rooms.iter_mut() {
            if only.as_ref().is_some_and(|only| only != name) {
                continue;
            }
            room.members.retain(|m| !m.closed.get());
            if room.members.is_empty() {
                continue;
            }
            payload.clear();
            use std::fmt::Write as _;
            let _ = write!(
                payload,
                r#"42["state",{{"t":{t},"tick":{slot},"room":{},"filler":"{filler}"}}]"#,
                room.json_name
            );
            frame.clear();
            ws::write_frame(&mut frame, ws::OP_TEXT, payload.as_bytes(), None);
            for member in &room.members {
                if send(member, &frame, true) == Sent::Skipped {
                    floor.skipped_sends.set(floor.skipped_sends.get() + 1);
                }
            }
        }
        rooms.retain(|_, room| !room.members.is_empty());
        slot += 1;
    }
}

async fn heartbeats(floor: Rc<Floor>) {
    let ping = text_frame(b"2");
    loop {
        tokio::time::sleep(PING_INTERVAL).await;
        let conns: Vec<Rc<Conn>> = floor.conns.borrow().values().cloned().collect();
        for conn in conns {
            send(&conn, &ping, false);
        }
    }
}
