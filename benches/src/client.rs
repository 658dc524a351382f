//! A deliberately cheap Socket.IO v5 client over a hand-rolled websocket (tokio).
//!
//! The load generator runs thousands of these on one core, so it does the least a correct
//! client may: one read fills a buffer, every complete frame in it is handed to the caller
//! as a borrowed slice (no copy, no allocation), Engine.IO pings are answered inline, and
//! nothing is parsed beyond what a scenario asks for.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::ws;

/// The Engine.IO endpoint every contract server serves, websocket transport directly.
pub const PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// How to open a connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectOptions {
    /// Set `SO_RCVBUF` before connecting (a small value makes a stalled reader stall the
    /// server's writes quickly).
    pub recv_buffer: Option<u32>,
    /// Set `TCP_MAXSEG` before connecting. On loopback the server's send buffer grows to
    /// the maximum at once (64 KiB segments); a small MSS keeps it near its initial size.
    pub mss: Option<u32>,
}

/// One Socket.IO connection, joined to the default namespace `/`.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    len: usize,
    frag: Vec<u8>,
    out: Vec<u8>,
    mask_state: u32,
    next_id: u64,
    /// The Engine.IO session id from the open packet.
    pub sid: String,
}

/// A TCP connection to `addr` as every generator client opens one: the options set, a
/// loopback source address of its own, reset on close, `TCP_NODELAY`.
pub async fn open(addr: SocketAddr, opts: ConnectOptions) -> io::Result<TcpStream> {
    let raw = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    if let Some(size) = opts.recv_buffer {
        raw.set_recv_buffer_size(size as usize)?;
    }
    if let Some(mss) = opts.mss {
        raw.set_tcp_mss(mss)?;
    }
    // Closing resets the connection: a run leaves no TIME_WAIT behind for the next.
    raw.set_linger(Some(Duration::ZERO))?;
    if let Some(source) = loopback_source(addr) {
        raw.bind(&source.into())?;
    }
    raw.set_nonblocking(true)?;
    let socket = TcpSocket::from_std_stream(raw.into());
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Loopback source addresses the connections take in turn.
const LOOPBACK_SOURCES: u32 = 16;

/// For a server on IPv4 loopback, the next of [`LOOPBACK_SOURCES`] addresses in
/// 127.0.1.0/24 (port chosen by the kernel). One source address gives the kernel's
/// port choice for `connect` only half the ephemeral range (~14,000 ports here), and its
/// search slows to a crawl as that half fills: every server then drops to the same few
/// hundred connections per second, which would measure the generator's kernel, not them.
fn loopback_source(addr: SocketAddr) -> Option<SocketAddr> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let SocketAddr::V4(v4) = addr else {
        return None;
    };
    if !v4.ip().is_loopback() {
        return None;
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % LOOPBACK_SOURCES;
    Some(SocketAddr::from((Ipv4Addr::new(127, 0, 1, 1 + n as u8), 0)))
}

fn closed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, what.to_owned())
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Client {
    /// TCP connect, websocket upgrade, Engine.IO open, Socket.IO CONNECT to `/`: returns
    /// once the namespace is joined (the server's `40{"sid":..}` arrived).
    pub async fn connect(addr: SocketAddr, opts: ConnectOptions) -> io::Result<Client> {
        let mut stream = open(addr, opts).await?;
        let request = ws::client_request(&addr.to_string(), PATH, "dGhlIHNhbXBsZSBub25jZQ==");
        stream.write_all(request.as_bytes()).await?;
        let mut buf = vec![0u8; 4096];
        let mut len = 0;
        let head_end = loop {
            let n = stream.read(&mut buf[len..]).await?;
            if n == 0 {
                return Err(closed("closed during the websocket handshake"));
            }
            len += n;
            if let Some(end) = ws::http_head_end(&buf[..len]) {
                break end;
            }
            if len == buf.len() {
                return Err(invalid("handshake response too long".into()));
            }
        };
        let status = buf[..head_end].split(|&b| b == b'\r').next().unwrap_or(b"");
        if !status.windows(5).any(|w| w == b" 101 ") && !status.ends_with(b" 101") {
            return Err(invalid(format!(
                "upgrade refused: {}",
                String::from_utf8_lossy(&buf[..head_end])
            )));
        }
        buf.copy_within(head_end..len, 0);
        len -= head_end;
        let mut client = Client {
            stream,
            buf,
            len,
            frag: Vec::new(),
            out: Vec::new(),
            mask_state: 0x9E37_79B9 ^ (addr.port() as u32),
            next_id: 0,
            sid: String::new(),
        };
        // Engine.IO open packet, then join `/`.
        let mut sid = None;
        while sid.is_none() {
            client
                .recv(|msg| {
                    if let Some(json) = msg.strip_prefix(b"0") {
                        sid = Some(extract_sid(json));
                    }
                })
                .await?;
        }
        client.sid = sid.flatten().unwrap_or_default();
        client.send_text(b"40").await?;
        let mut joined = None;
        while joined.is_none() {
            client
                .recv(|msg| joined = joined.take().or_else(|| connect_answer(msg)))
                .await?;
        }
        joined.unwrap_or(Ok(()))?;
        Ok(client)
    }

    fn next_mask(&mut self) -> [u8; 4] {
        // xorshift32: masks need not be secret for a load generator, only present.
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask_state = x;
        x.to_ne_bytes()
    }

    /// Send one Engine.IO text message (e.g. `42["ping",1]` for a Socket.IO event).
    pub async fn send_text(&mut self, text: &[u8]) -> io::Result<()> {
        let mask = self.next_mask();
        let mut frame = std::mem::take(&mut self.out);
        frame.clear();
        ws::write_frame(&mut frame, ws::OP_TEXT, text, Some(mask));
        let result = self.stream.write_all(&frame).await;
        self.out = frame;
        self.out.clear();
        result
    }

    /// Emit `event` with one JSON argument and an ack id; returns the id.
    pub async fn emit_with_ack(&mut self, event: &str, arg_json: &str) -> io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let text = format!("42{id}[\"{event}\",{arg_json}]");
        self.send_text(text.as_bytes()).await?;
        Ok(id)
    }

    /// Emit `event` with an ack and wait for the ack; returns its argument array's text.
    /// Other messages that arrive meanwhile go to `other`.
    pub async fn call(
        &mut self,
        event: &str,
        arg_json: &str,
        mut other: impl FnMut(&[u8]),
    ) -> io::Result<Vec<u8>> {
        let id = self.emit_with_ack(event, arg_json).await?;
        let mut answer = None;
        while answer.is_none() {
            self.recv(|msg| match parse_ack(msg) {
                Some((ack, args)) if ack == id => answer = Some(args.to_vec()),
                _ => other(msg),
            })
            .await?;
        }
        Ok(answer.unwrap_or_default())
    }

    /// Read once and hand every complete Engine.IO message to `on_msg` (pings answered here).
    /// Fails when the server closes the connection.
    pub async fn recv(&mut self, mut on_msg: impl FnMut(&[u8])) -> io::Result<()> {
        // Read only when no complete frame is buffered (the handshake's read may have
        // brought the first frames along).
        let complete = matches!(
            ws::parse_head(&self.buf[..self.len]),
            Ok(Some(head)) if head.frame_len() <= self.len
        );
        if !complete {
            if self.len == self.buf.len() {
                let grow = self.buf.len().max(4096);
                self.buf.resize(self.buf.len() + grow, 0);
            }
            let n = self.stream.read(&mut self.buf[self.len..]).await?;
            if n == 0 {
                return Err(closed("closed by the server"));
            }
            self.len += n;
        }
        let mut at = 0;
        let mut server_closed = false;
        let mut pong_ws: Option<Vec<u8>> = None;
        let mut pings = 0usize;
        while let Some(head) =
            ws::parse_head(&self.buf[at..self.len]).map_err(|e| invalid(format!("{e:?}")))?
        {
            if self.len - at < head.frame_len() {
                // Make room for the rest of a large frame.
                let need = head.frame_len();
                if need > self.buf.len() {
                    self.buf.resize(need, 0);
                }
                break;
            }
            let body_start = at + head.header_len;
            let body_end = body_start + head.payload_len;
            if let Some(mask) = head.mask {
                ws::apply_mask(&mut self.buf[body_start..body_end], mask);
            }
            let body = &self.buf[body_start..body_end];
            match head.opcode {
                ws::OP_TEXT | ws::OP_BINARY if head.fin && self.frag.is_empty() => {
                    if body == b"2" {
                        pings += 1;
                    } else {
                        on_msg(body);
                    }
                }
                ws::OP_TEXT | ws::OP_BINARY | ws::OP_CONT => {
                    self.frag.extend_from_slice(body);
                    if head.fin {
                        let whole = std::mem::take(&mut self.frag);
                        if whole == b"2" {
                            pings += 1;
                        } else {
                            on_msg(&whole);
                        }
                    }
                }
                ws::OP_PING => pong_ws = Some(body.to_vec()),
                ws::OP_CLOSE => server_closed = true,
                _ => {}
            }
            at = body_end;
        }
        self.buf.copy_within(at..self.len, 0);
        self.len -= at;
        for _ in 0..pings {
            self.send_text(b"3").await?;
        }
        if let Some(payload) = pong_ws {
            let mask = self.next_mask();
            let mut frame = Vec::new();
            ws::write_frame(&mut frame, ws::OP_PONG, &payload, Some(mask));
            self.stream.write_all(&frame).await?;
        }
        if server_closed {
            return Err(closed("websocket closed by the server"));
        }
        Ok(())
    }

    /// Like [`Client::recv`], but gives up after `timeout` (returns `Ok(false)`).
    pub async fn recv_timeout(
        &mut self,
        timeout: std::time::Duration,
        on_msg: impl FnMut(&[u8]),
    ) -> io::Result<bool> {
        match tokio::time::timeout(timeout, self.recv(on_msg)).await {
            Ok(r) => r.map(|()| true),
            Err(_) => Ok(false),
        }
    }
}

/// The server's answer to the CONNECT to `/`, if `packet` is one: `40…` joined, `44…`
/// refused.
pub(crate) fn connect_answer(packet: &[u8]) -> Option<io::Result<()>> {
    if packet.starts_with(b"40") {
        Some(Ok(()))
    } else if packet.starts_with(b"44") {
        Some(Err(invalid(format!(
            "namespace refused: {}",
            String::from_utf8_lossy(packet)
        ))))
    } else {
        None
    }
}

pub(crate) fn extract_sid(json: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    Some(v.get("sid")?.as_str()?.to_owned())
}

/// `43<id>[...]` → the ack id and the argument array's text.
pub fn parse_ack(msg: &[u8]) -> Option<(u64, &[u8])> {
    let rest = msg.strip_prefix(b"43")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let id = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    Some((id, &rest[digits..]))
}

/// The two fields of a contract `state` event the load generator reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateStamp {
    /// Server realtime at the tick, µs since the Unix epoch.
    pub t: u64,
    /// The tick slot number.
    pub tick: u64,
}

fn number_after(hay: &[u8], key: &[u8]) -> Option<u64> {
    let at = hay.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = &hay[at..];
    let rest = &rest[rest.iter().take_while(|b| **b == b' ').count()..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut n: u64 = 0;
    for &d in &rest[..digits] {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    (digits > 0).then_some(n)
}

/// Read `t` and `tick` from `42["state",{...}]` without a JSON parse (key order free).
pub fn parse_state(msg: &[u8]) -> Option<StateStamp> {
    let body = msg.strip_prefix(b"42[\"state\",")?;
    Some(StateStamp {
        t: number_after(body, b"\"t\":")?,
        tick: number_after(body, b"\"tick\":")?,
    })
}

/// The `room` field of a `state` event, for sanity checks.
pub fn state_room(msg: &[u8]) -> Option<&[u8]> {
    let key = b"\"room\":\"";
    let at = msg.windows(key.len()).position(|w| w == key)? + key.len();
    let len = msg[at..].iter().position(|&b| b == b'"')?;
    Some(&msg[at..at + len])
}

/// Realtime in µs since the Unix epoch (the clock the servers stamp ticks with).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_fields_in_any_order() {
        let a = br#"42["state",{"t":1712345678901234,"tick":77,"room":"room-3","filler":"xx"}]"#;
        let b = br#"42["state",{"filler":"xx","room":"room-3","tick":77,"t":1712345678901234}]"#;
        for msg in [&a[..], &b[..]] {
            assert_eq!(
                parse_state(msg),
                Some(StateStamp {
                    t: 1_712_345_678_901_234,
                    tick: 77
                })
            );
            assert_eq!(state_room(msg), Some(&b"room-3"[..]));
        }
        assert_eq!(parse_state(br#"42["other",{"t":1,"tick":2}]"#), None);
    }

    #[test]
    fn acks() {
        assert_eq!(parse_ack(br#"4312["ok"]"#), Some((12, &br#"["ok"]"#[..])));
        assert_eq!(parse_ack(br#"43["ok"]"#), None);
        assert_eq!(parse_ack(br#"42["ok"]"#), None);
    }
}
