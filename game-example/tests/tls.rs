//! The game binary with `--tls-cert` and `--tls-key`: it serves the page and Socket.IO over
//! HTTPS, and SIGHUP reloads the files (a bad file keeps the certificate in use).
//!
//! The test makes a CA and two server certificates (for `localhost` and `127.0.0.1`) with
//! rcgen, starts the binary on a free port of 127.0.0.1, and checks with tokio-rustls which
//! certificate each new handshake gets.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

const WAIT: Duration = Duration::from_secs(30);

/// A CA and what it signs.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "game test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        Ca { params, key, pem }
    }

    /// A server certificate: its PEM, its key's PEM, its DER.
    fn server_cert(&self) -> (String, String, CertificateDer<'static>) {
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params");
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &Issuer::from_params(&self.params, &self.key))
            .expect("server certificate");
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }
}

/// The game binary this test started, with its stdout and stderr lines; killed at the end.
struct Game {
    child: Child,
    lines: Receiver<String>,
}

impl Drop for Game {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Game {
    /// The first line containing `what`, within [`WAIT`].
    fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|e| panic!("the game printed no line with {what:?} ({e})"));
            if line.contains(what) {
                return line;
            }
        }
    }

    /// SIGHUP to the PID of the binary started here.
    fn hang_up(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP: {status}");
    }
}

fn forward(pipe: impl std::io::Read + Send + 'static, to: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if to.send(line).is_err() {
                break;
            }
        }
    });
}

/// A TLS connection to `port` for `localhost`, trusting only `ca_pem`.
async fn connect(
    port: u16,
    ca_pem: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").expect("name");
    tokio::time::timeout(
        WAIT,
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("a TLS handshake within the wait")
}

async fn presented(port: u16, ca_pem: &str) -> CertificateDer<'static> {
    let stream = connect(port, ca_pem).await.expect("TLS handshake");
    stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("certificates")[0]
        .clone()
}

/// `GET path` over HTTPS: the status line and the body.
async fn get(port: u16, ca_pem: &str, path: &str) -> (String, String) {
    let mut stream = connect(port, ca_pem).await.expect("TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("a response within the wait")
        .expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

#[tokio::test]
async fn the_game_serves_https_and_reloads_its_certificate_on_sighup() {
    let dir = std::env::temp_dir().join(format!("tickwire-game-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test directory");
    let (cert_path, key_path): (PathBuf, PathBuf) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ca = Ca::new();
    let (first_cert, first_key, first_der) = ca.server_cert();
    std::fs::write(&cert_path, &first_cert).expect("write");
    std::fs::write(&key_path, &first_key).expect("write");

    let mut child = Command::new(env!("CARGO_BIN_EXE_game-example"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--tls-cert"])
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the game binary");
    let (tx, lines) = mpsc::channel();
    forward(child.stdout.take().expect("stdout"), tx.clone());
    forward(child.stderr.take().expect("stderr"), tx);
    let game = Game { child, lines };

    let line = game.wait_for("listening on ");
    let url = line.split("listening on ").nth(1).expect("URL").trim();
    let port: u16 = url
        .strip_prefix("https://127.0.0.1:")
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("an https URL on 127.0.0.1, got {url:?}"));
    game.wait_for("SIGHUP reloads");

    assert_eq!(presented(port, &ca.pem).await, first_der);
    let (status, page) = get(port, &ca.pem, "/").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(page.contains("<html"), "the page, got {page:.80}");
    let (status, open) = get(port, &ca.pem, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        open.starts_with("0{\"sid\":"),
        "an open packet, got {open:?}"
    );

    // A key that does not load: the reload fails, the certificate in use stays.
    std::fs::write(&key_path, "not a key\n").expect("write");
    game.hang_up();
    let failed = game.wait_for("TLS reload failed");
    assert!(failed.contains("no private key"), "{failed}");
    assert_eq!(presented(port, &ca.pem).await, first_der);

    // A renewed certificate: new handshakes get it.
    let (second_cert, second_key, second_der) = ca.server_cert();
    std::fs::write(&cert_path, &second_cert).expect("write");
    std::fs::write(&key_path, &second_key).expect("write");
    game.hang_up();
    game.wait_for("TLS certificate reloaded");
    assert_eq!(presented(port, &ca.pem).await, second_der);

    drop(game);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_tls_flags_go_together_and_not_with_bots() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_game-example"))
            .args(["--port", "0"])
            .args(args)
            .output()
            .expect("run the game binary")
    };
    let alone = run(&["--tls-cert", "cert.pem"]);
    assert!(!alone.status.success());
    assert!(
        String::from_utf8_lossy(&alone.stderr).contains("--tls-key"),
        "{}",
        String::from_utf8_lossy(&alone.stderr)
    );
    let bots = run(&["--tls-cert", "c.pem", "--tls-key", "k.pem", "--bots", "2"]);
    assert!(!bots.status.success());
    assert!(
        String::from_utf8_lossy(&bots.stderr).contains("--bots needs plain HTTP"),
        "{}",
        String::from_utf8_lossy(&bots.stderr)
    );
    let missing = run(&["--tls-cert", "/nonexistent/c.pem", "--tls-key", "k.pem"]);
    assert!(!missing.status.success());
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        said.contains("loading --tls-cert and --tls-key") && said.contains("/nonexistent/c.pem"),
        "{said}"
    );
}
