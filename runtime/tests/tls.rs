//! TLS: `tickwire::Server` serving HTTPS and WSS from PEM files, and certificate reloads.
//!
//! Each test makes its own CAs and server certificates (for `localhost` and `127.0.0.1`)
//! with rcgen, writes them to a directory of its own, and serves on an ephemeral port of
//! 127.0.0.1. Rust clients (tokio-rustls, tokio-tungstenite over it) check which certificate
//! a handshake gets and round-trip Socket.IO acks over WSS and HTTPS polling; the official
//! JS client (`tests/interop/js/tls.mjs`) connects over polling, websocket and upgrade, is
//! refused with another CA, and keeps its websocket across a reload.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer};
use futures_util::{SinkExt, StreamExt};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tickwire::{Payload, SocketIo, TlsConfig, TlsError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Every wait of these tests.
const WAIT: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

// ----- certificates --------------------------------------------------------------------------

/// A certificate authority of a test.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        Ca { params, key, pem }
    }

    /// A server certificate for `localhost` and `127.0.0.1`: its PEM, its key's PEM, its DER.
    fn server_cert(&self) -> Leaf {
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params");
        let key = KeyPair::generate().expect("server key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

/// A directory of one test, removed at its end.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("tickwire-tls-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test directory");
        Dir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write test file");
        path
    }

    /// Writes `leaf` as `cert.pem` and `key.pem`; returns their paths.
    fn install(&self, leaf: &Leaf) -> (PathBuf, PathBuf) {
        (
            self.write("cert.pem", &leaf.cert_pem),
            self.write("key.pem", &leaf.key_pem),
        )
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ----- servers -------------------------------------------------------------------------------

/// A Socket.IO server whose `/` acks `echo` with its payload.
fn echo_io() -> SocketIo {
    let io = SocketIo::builder().build();
    io.ns("/", |socket| {
        socket.on("echo", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).ok();
        });
    });
    io
}

/// `tickwire::Server` with TLS on an ephemeral port of 127.0.0.1; returns the port.
fn serve_tls(io: &SocketIo, tls: &TlsConfig) -> u16 {
    let service = io.service();
    let server = tickwire::Server::new(io, move || App::new().configure(service.clone()))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind_tls(("127.0.0.1", 0), tls)
        .expect("bind 127.0.0.1:0");
    let port = server.addrs()[0].port();
    actix_rt::spawn(server.run());
    port
}

// ----- Rust clients --------------------------------------------------------------------------

/// A TLS connection to `port` trusting only `ca_pem`, for `localhost`.
async fn tls_connect(port: u16, ca_pem: &str) -> io::Result<TlsStream<TcpStream>> {
    tls_over(TcpStream::connect(("127.0.0.1", port)).await?, ca_pem).await
}

/// TLS for `localhost` over `tcp`, trusting only `ca_pem`.
async fn tls_over(tcp: TcpStream, ca_pem: &str) -> io::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.expect("CA PEM"))
            .expect("CA into the root store");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from("localhost").expect("server name");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// The certificate a new handshake with `port` gets (trusting `ca_pem`).
async fn presented(port: u16, ca_pem: &str) -> io::Result<CertificateDer<'static>> {
    let stream = within("a TLS handshake", tls_connect(port, ca_pem)).await?;
    let (_, session) = stream.get_ref();
    Ok(session.peer_certificates().expect("server certificates")[0].clone())
}

type Wss = WebSocketStream<TlsStream<TcpStream>>;

/// A Socket.IO client on `/` over WSS, trusting `ca_pem`.
async fn wss_connect(port: u16, ca_pem: &str) -> Wss {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    wss_over(tcp, port, ca_pem).await
}

/// [`wss_connect`] over `tcp`.
async fn wss_over(tcp: TcpStream, port: u16, ca_pem: &str) -> Wss {
    let stream = within("a TLS handshake", tls_over(tcp, ca_pem))
        .await
        .expect("TLS handshake");
    let url = format!("wss://localhost:{port}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = within(
        "the websocket handshake",
        tokio_tungstenite::client_async(url, stream),
    )
    .await
    .expect("websocket handshake");
    let open = next_text(&mut ws).await;
    assert!(open.starts_with("0{\"sid\":"), "open packet, got {open:?}");
    send_text(&mut ws, "40").await;
    let connected = next_text(&mut ws).await;
    assert!(
        connected.starts_with("40{\"sid\":"),
        "CONNECT reply, got {connected:?}"
    );
    ws
}

async fn send_text(ws: &mut Wss, text: &str) {
    within("a send", ws.send(Message::text(text)))
        .await
        .expect("send a frame");
}

/// The next text frame, skipping Engine.IO pings (answered).
async fn next_text(ws: &mut Wss) -> String {
    loop {
        let frame = within("a frame", ws.next())
            .await
            .expect("the websocket is open")
            .expect("a frame");
        match frame {
            Message::Text(text) if text.as_str() == "2" => send_text(ws, "3").await,
            Message::Text(text) => return text.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Emit `echo` with `len` bytes of text and check the ack brings them back.
async fn echo(ws: &mut Wss, id: u64, len: usize) {
    let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    send_text(ws, &format!("42{id}[\"echo\",\"{text}\"]")).await;
    let ack = next_text(ws).await;
    assert_eq!(ack.len(), format!("43{id}[\"{text}\"]").len(), "ack length");
    assert!(
        ack == format!("43{id}[\"{text}\"]"),
        "the ack of {id} does not carry the payload back"
    );
}

/// An HTTP/1.1 GET over a new TLS connection; returns the status line and the body.
async fn https_get(port: u16, ca_pem: &str, path: &str) -> (String, String) {
    let mut stream = within("a TLS handshake", tls_connect(port, ca_pem))
        .await
        .expect("TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    within("the response", stream.read_to_end(&mut response))
        .await
        .expect("read the response");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

// ----- tests ---------------------------------------------------------------------------------

#[actix_rt::test]
async fn https_polling_and_wss_serve_socket_io() {
    let dir = Dir::new("serve");
    let ca = Ca::new("tickwire test CA");
    let leaf = ca.server_cert();
    let (cert, key) = dir.install(&leaf);
    let tls = TlsConfig::from_pem_files(&cert, &key).expect("TLS config");
    let port = serve_tls(&echo_io(), &tls);

    assert_eq!(presented(port, &ca.pem).await.expect("handshake"), leaf.der);
    let (status, body) = https_get(port, &ca.pem, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.starts_with("0{\"sid\":"), "open packet, got {body:?}");

    let mut ws = wss_connect(port, &ca.pem).await;
    echo(&mut ws, 1, 10).await;
    // Larger than rustls's buffers and many TLS records: written in parts, flushed whole.
    echo(&mut ws, 2, 300_000).await;
    echo(&mut ws, 3, 10).await;
    ws.close(None).await.expect("close");
}

#[actix_rt::test]
async fn a_client_trusting_another_ca_is_refused() {
    let dir = Dir::new("refused");
    let ca = Ca::new("tickwire test CA");
    let (cert, key) = dir.install(&ca.server_cert());
    let tls = TlsConfig::from_pem_files(&cert, &key).expect("TLS config");
    let port = serve_tls(&echo_io(), &tls);

    let other = Ca::new("another CA");
    let error = presented(port, &other.pem)
        .await
        .expect_err("a certificate of an unknown issuer");
    assert!(
        error.to_string().contains("UnknownIssuer"),
        "the handshake fails on the issuer, got {error}"
    );
    // The server goes on serving clients that trust it.
    assert!(presented(port, &ca.pem).await.is_ok());
}

#[actix_rt::test]
async fn reload_swaps_the_certificate_and_keeps_live_connections() {
    let dir = Dir::new("reload");
    let first_ca = Ca::new("first CA");
    let first = first_ca.server_cert();
    let (cert, key) = dir.install(&first);
    let tls = TlsConfig::from_pem_files(&cert, &key).expect("TLS config");
    let port = serve_tls(&echo_io(), &tls);
    let mut live = wss_connect(port, &first_ca.pem).await;
    echo(&mut live, 1, 100).await;

    let second_ca = Ca::new("second CA");
    let second = second_ca.server_cert();

    // Unusable files: refused, and the first certificate stays.
    dir.write("key.pem", "not a key\n");
    assert!(matches!(tls.reload(), Err(TlsError::NoKey { .. })));
    dir.write("cert.pem", &second.cert_pem);
    dir.write("key.pem", &first.key_pem);
    let mismatch = tls.reload().expect_err("a key of another certificate");
    assert!(
        matches!(mismatch, TlsError::KeyMismatch { .. }),
        "{mismatch}"
    );
    std::fs::remove_file(&key).expect("remove the key");
    assert!(matches!(tls.reload(), Err(TlsError::Read { .. })));
    assert_eq!(
        presented(port, &first_ca.pem).await.expect("handshake"),
        first.der
    );
    echo(&mut live, 2, 100).await;

    // The second certificate: new handshakes get it, the live websocket goes on.
    dir.install(&second);
    tls.reload().expect("reload");
    assert_eq!(
        presented(port, &second_ca.pem).await.expect("handshake"),
        second.der
    );
    assert!(presented(port, &first_ca.pem).await.is_err());
    echo(&mut live, 3, 100_000).await;
    let mut fresh = wss_connect(port, &second_ca.pem).await;
    echo(&mut fresh, 1, 100).await;
    echo(&mut live, 4, 100).await;
}

#[actix_rt::test]
async fn a_wss_client_that_stops_reading_is_cut_after_the_write_timeout() {
    let dir = Dir::new("stall");
    let ca = Ca::new("tickwire test CA");
    let (cert, key) = dir.install(&ca.server_cert());
    let tls = TlsConfig::from_pem_files(&cert, &key).expect("TLS config");
    let config = tickwire::Config {
        write_timeout: Duration::from_millis(300),
        ..tickwire::Config::default()
    };
    let (reasons, mut reasons_rx) = tokio::sync::mpsc::unbounded_channel();
    let io = SocketIo::builder().config(config).build();
    io.ns("/", move |socket| {
        let reasons = reasons.clone();
        socket.on_disconnect(move |_, reason| {
            let _ = reasons.send(reason);
        });
        // 6 MiB in all: within the 8 MiB budget, more than the socket buffers (the client's
        // is 4 KiB) and rustls's hold.
        socket.on("fill", |socket, _: Payload, _| async move {
            let blob = "z".repeat(512 << 10);
            for _ in 0..12 {
                socket.emit("blob", &blob).ok();
            }
        });
    });
    let port = serve_tls(&io, &tls);
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let tcp = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connect");
    let mut stalled = wss_over(tcp, port, &ca.pem).await;
    // Ask for the blobs, then never read again.
    send_text(&mut stalled, r#"42["fill"]"#).await;
    let reason = within("the disconnect", reasons_rx.recv()).await;
    assert_eq!(reason, Some(tickwire::DisconnectReason::SlowConsumer));
    drop(stalled);
}

#[actix_rt::test]
async fn a_plain_http_server_serves_tls_from_the_same_config() {
    let dir = Dir::new("plain");
    let ca = Ca::new("tickwire test CA");
    let (cert, key) = dir.install(&ca.server_cert());
    let tls = TlsConfig::from_pem_files(&cert, &key).expect("TLS config");
    let io = echo_io();
    let service = io.service();
    let server = HttpServer::new(move || App::new().configure(service.clone()))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind_rustls_0_23(("127.0.0.1", 0), tls.server_config())
        .expect("bind 127.0.0.1:0");
    let port = server.addrs()[0].port();
    actix_rt::spawn(server.run());

    let mut ws = wss_connect(port, &ca.pem).await;
    echo(&mut ws, 1, 50_000).await;
    // Its certificate follows reloads as well.
    let other_ca = Ca::new("second CA");
    let other = other_ca.server_cert();
    dir.install(&other);
    tls.reload().expect("reload");
    assert_eq!(
        presented(port, &other_ca.pem).await.expect("handshake"),
        other.der
    );
    echo(&mut ws, 2, 100).await;
}

/// Runs `tls.mjs`: the official JS client over TLS (polling, websocket, upgrade), refused
/// with another CA, and its websocket kept across a reload to a certificate of another CA.
#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_interop_js,
    ignore = "needs node and npm ci in runtime/tests/interop/js (run .ci/setup), or \
              TICKWIRE_SKIP_INTEROP is set"
)]
async fn the_official_js_client_over_tls_and_a_reload() {
    let dir = Dir::new("js");
    let first_ca = Ca::new("first CA");
    let second_ca = Ca::new("second CA");
    let (cert, key) = dir.install(&first_ca.server_cert());
    let first_ca_file = dir.write("first-ca.pem", &first_ca.pem);
    let second_ca_file = dir.write("second-ca.pem", &second_ca.pem);
    let tls = TlsConfig::from_pem_files(&cert, &key).expect("TLS config");
    let port = serve_tls(&echo_io(), &tls);

    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/js");
    assert!(
        js.join("node_modules/socket.io-client").is_dir(),
        "socket.io-client is not installed: run `npm ci` in {} (or .ci/setup)",
        js.display()
    );
    let mut child = tokio::process::Command::new("node")
        .arg("tls.mjs")
        .current_dir(&js)
        .env("TICKWIRE_URL", format!("https://127.0.0.1:{port}"))
        .env("TICKWIRE_CA", &first_ca_file)
        .env("TICKWIRE_OTHER_CA", &second_ca_file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run .ci/setup"));
    let mut stderr = child.stderr.take().expect("stderr");
    let errors = actix_rt::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut output = String::new();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = stdout.next_line().await {
            output.push_str(&line);
            output.push('\n');
            if line == "READY" {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    if !ready {
        let _ = child.kill().await;
        panic!(
            "tls.mjs did not get to its reload:\n{output}\n{}",
            errors.await.unwrap_or_default()
        );
    }

    dir.install(&second_ca.server_cert());
    tls.reload().expect("reload");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"reloaded\n")
        .await
        .expect("tell the script");
    drop(stdin);

    let status = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = stdout.next_line().await {
            output.push_str(&line);
            output.push('\n');
        }
        child.wait().await
    })
    .await
    .expect("tls.mjs finished within 30 s")
    .expect("node ran");
    let errors = errors.await.unwrap_or_default();
    assert!(status.success(), "tls.mjs failed:\n{output}\n{errors}");
    eprint!("{output}");
}
