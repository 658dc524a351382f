//! A Socket.IO v5 client over Engine.IO v4 long-polling, the transport a proxy that refuses
//! websockets leaves: HTTP/1.1 keep-alive on two connections, as a browser holds them (one
//! for the `GET` that waits for the server's packets, one for the `POST`s of the client's).
//!
//! As cheap as the websocket client: one buffer per connection, packets handed to the
//! caller as borrowed slices, Engine.IO pings answered inline.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{self, ConnectOptions};
use crate::ws;

/// The Engine.IO endpoint, polling transport.
pub const PATH: &str = "/socket.io/?EIO=4&transport=polling";

/// Engine.IO v4's separator between the packets of one polling payload.
const SEPARATOR: u8 = 0x1e;

/// One Socket.IO connection over long-polling, joined to the default namespace `/`.
#[derive(Debug)]
pub struct PollingClient {
    get: Http,
    post: Http,
    path: String,
    next_id: u64,
    /// The Engine.IO session id from the open packet.
    pub sid: String,
}

/// One keep-alive HTTP/1.1 connection.
#[derive(Debug)]
struct Http {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
    /// Bytes in `buf`; the body of the last response is `buf[body]`.
    len: usize,
    body: std::ops::Range<usize>,
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Http {
    async fn open(addr: SocketAddr) -> io::Result<Http> {
        Ok(Http {
            stream: client::open(addr, ConnectOptions::default()).await?,
            host: addr.to_string(),
            buf: vec![0; 4096],
            len: 0,
            body: 0..0,
        })
    }

    /// Send one request and read its response: the body, on a `200`.
    async fn request(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<&[u8]> {
        // Drop the previous response; a server never sends ahead of a request.
        self.buf.copy_within(self.body.end..self.len, 0);
        self.len -= self.body.end;
        self.body = 0..0;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain;charset=UTF-8\r\n\
             Content-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        if body.is_empty() {
            self.stream.write_all(head.as_bytes()).await?;
        } else {
            let mut out = Vec::with_capacity(head.len() + body.len());
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(body);
            self.stream.write_all(&out).await?;
        }
        let head_end = loop {
            if let Some(end) = ws::http_head_end(&self.buf[..self.len]) {
                break end;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| invalid("response head is not UTF-8".into()))?;
        let status = head.split(' ').nth(1).unwrap_or("");
        let length: usize = ws::http_header(head, "content-length")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| invalid(format!("response without a Content-Length: {head}")))?;
        if status != "200" {
            return Err(invalid(format!("{method} answered {head}")));
        }
        while self.len < head_end + length {
            self.fill().await?;
        }
        self.body = head_end..head_end + length;
        Ok(&self.buf[self.body.clone()])
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.len == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.stream.read(&mut self.buf[self.len..]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the server closed the connection",
            ));
        }
        self.len += n;
        Ok(())
    }
}

impl PollingClient {
    /// Engine.IO handshake over polling, then Socket.IO CONNECT to `/`: returns once the
    /// namespace is joined (the server's `40{"sid":..}` arrived on a `GET`).
    pub async fn connect(addr: SocketAddr) -> io::Result<PollingClient> {
        let (mut get, post) = tokio::try_join!(Http::open(addr), Http::open(addr))?;
        let open = get.request("GET", PATH, b"").await?;
        let sid = open
            .strip_prefix(b"0")
            .and_then(client::extract_sid)
            .ok_or_else(|| invalid(format!("no open packet: {}", String::from_utf8_lossy(open))))?;
        let mut c = PollingClient {
            get,
            post,
            path: format!("{PATH}&sid={sid}"),
            next_id: 0,
            sid,
        };
        c.send(b"40").await?;
        let mut joined = None;
        while joined.is_none() {
            c.recv(|packet| joined = joined.take().or_else(|| client::connect_answer(packet)))
                .await?;
        }
        joined.unwrap_or(Ok(()))?;
        Ok(c)
    }

    /// `POST` one Engine.IO packet (e.g. `42["ping",1]`); the server answers `ok`.
    pub async fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        let answer = self.post.request("POST", &self.path, packet).await?;
        if answer != b"ok" {
            return Err(invalid(format!(
                "POST answered {}",
                String::from_utf8_lossy(answer)
            )));
        }
        Ok(())
    }

    /// One long-poll `GET`: each packet of its payload goes to `on_packet`; Engine.IO pings
    /// are answered.
    pub async fn recv(&mut self, mut on_packet: impl FnMut(&[u8])) -> io::Result<()> {
        let payload = self.get.request("GET", &self.path, b"").await?;
        let mut pinged = false;
        for packet in payload.split(|&b| b == SEPARATOR) {
            match packet {
                b"2" => pinged = true,
                b"1" => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the server closed the session",
                    ))
                }
                _ => on_packet(packet),
            }
        }
        if pinged {
            self.send(b"3").await?;
        }
        Ok(())
    }

    /// Emit `event` with one JSON argument and an ack id, and wait for the ack with a `GET`
    /// sent beside the `POST` (as a client whose `GET` is always waiting): returns the ack's
    /// argument array's text.
    pub async fn call(&mut self, event: &str, arg_json: &str) -> io::Result<Vec<u8>> {
        let id = self.next_id;
        self.next_id += 1;
        let text = format!("42{id}[\"{event}\",{arg_json}]");
        let mut answer = None;
        let post = self.post.request("POST", &self.path, text.as_bytes());
        let get = self.get.request("GET", &self.path, b"");
        let (posted, got) = tokio::join!(post, get);
        let posted = posted?;
        if posted != b"ok" {
            return Err(invalid(format!(
                "POST answered {}",
                String::from_utf8_lossy(posted)
            )));
        }
        let mut pinged = false;
        for packet in got?.split(|&b| b == SEPARATOR) {
            if packet == b"2" {
                pinged = true;
            } else if let Some(args) = ack_of(packet, id) {
                answer = Some(args.to_vec());
            }
        }
        if pinged {
            self.send(b"3").await?;
        }
        while answer.is_none() {
            self.recv(|packet| {
                if let Some(args) = ack_of(packet, id) {
                    answer = Some(args.to_vec());
                }
            })
            .await?;
        }
        Ok(answer.unwrap_or_default())
    }
}

/// The argument array of `packet` if it is the ack of `id`.
fn ack_of(packet: &[u8], id: u64) -> Option<&[u8]> {
    client::parse_ack(packet).and_then(|(ack, args)| (ack == id).then_some(args))
}
