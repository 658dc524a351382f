//! [`TlsConfig`]: HTTPS and WSS with rustls, from PEM files, with a certificate reload that
//! keeps live connections.
//!
//! The certificate is chosen per handshake by a resolver that holds the current certified
//! key: [`TlsConfig::reload`] re-reads the files and swaps it, so new handshakes get the new
//! certificate while established connections (their keys are agreed) go on untouched. A
//! reload that fails keeps the certificate in use.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// TLS for [`Server`](super::Server) (HTTPS and WSS on one listener): a certificate chain and
/// its private key, read from PEM files, that [`TlsConfig::reload`] replaces without
/// dropping a connection.
///
/// - The certificate file holds the server's certificate first, then the intermediates
///   (`CERTIFICATE` blocks, as a CA or ACME client writes a "full chain").
/// - The key file holds one private key: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE
///   KEY`) or SEC1 (`EC PRIVATE KEY`); RSA, ECDSA (P-256, P-384) and Ed25519 keys work.
///
/// TLS 1.3 and 1.2 are offered, with rustls's safe defaults and the `ring` crypto provider;
/// ALPN says `http/1.1` (no HTTP/2). A clone shares the certificate: reloading one reloads every server
/// built from it.
///
/// ```no_run
/// use actix_web::App;
/// use tickwire::{Server, SocketIo, TlsConfig};
///
/// #[actix_web::main]
/// async fn main() -> anyhow::Result<()> {
///     let io = SocketIo::builder().build();
///     let tls = TlsConfig::from_pem_files("fullchain.pem", "privkey.pem")?;
///     let service = io.service();
///     let server = Server::new(&io, move || App::new().configure(service.clone()))
///         .bind_tls(("0.0.0.0", 443), &tls)?
///         .run();
///     // On SIGHUP (a renewed certificate): new handshakes get it, connections stay.
///     let reload = tls.clone();
///     actix_rt::spawn(async move {
///         use actix_rt::signal::unix::{signal, SignalKind};
///         let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
///         while hup.recv().await.is_some() {
///             if let Err(error) = reload.reload() {
///                 eprintln!("keeping the old certificate: {error}");
///             }
///         }
///     });
///     server.await?;
///     Ok(())
/// }
/// ```
///
/// An app on a plain `actix_web::HttpServer` (where [`SocketIo::service`](crate::SocketIo::service)
/// works the same, websockets inside the HTTP dispatcher) gets TLS, and the same reload, from
/// [`TlsConfig::server_config`]:
///
/// ```no_run
/// use actix_web::{App, HttpServer};
/// use tickwire::{SocketIo, TlsConfig};
///
/// #[actix_web::main]
/// async fn main() -> anyhow::Result<()> {
///     let io = SocketIo::builder().build();
///     let tls = TlsConfig::from_pem_files("fullchain.pem", "privkey.pem")?;
///     let service = io.service();
///     HttpServer::new(move || App::new().configure(service.clone()))
///         .bind_rustls_0_23(("0.0.0.0", 443), tls.server_config())?
///         .run()
///         .await?;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    resolver: Arc<Resolver>,
    config: ServerConfig,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("cert", &self.resolver.cert_path)
            .field("key", &self.resolver.key_path)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Read the certificate chain from `cert_chain` and the private key from `key` (PEM
    /// files, see [`TlsConfig`]). Fails with what is wrong with which file; a key that does
    /// not belong to the certificate is refused.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cert_path = cert_chain.as_ref().to_path_buf();
        let key_path = key.as_ref().to_path_buf();
        let current = load(&cert_path, &key_path, &provider)?;
        let resolver = Arc::new(Resolver {
            cert_path,
            key_path,
            provider: provider.clone(),
            current: RwLock::new(Arc::new(current)),
        });
        // No ALPN of its own: actix-http's acceptor adds `http/1.1`.
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        Ok(TlsConfig { resolver, config })
    }

    /// Read the files again and serve what they hold from the next handshake on;
    /// connections already established go on as they are. When the files are not usable
    /// (unreadable, no certificate or key, a key of another certificate: e.g. read between
    /// the writes of the two) the certificate in use stays, and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let resolver = &self.resolver;
        let fresh = load(&resolver.cert_path, &resolver.key_path, &resolver.provider)?;
        *resolver.current.write() = Arc::new(fresh);
        tracing::info!(
            cert = %resolver.cert_path.display(),
            "TLS certificate reloaded; new connections get it"
        );
        Ok(())
    }

    /// The rustls server configuration, for `actix_web::HttpServer::bind_rustls_0_23`: its
    /// certificate follows [`TlsConfig::reload`] too.
    pub fn server_config(&self) -> ServerConfig {
        self.config.clone()
    }

    /// The certificate (chain) file.
    pub fn cert_path(&self) -> &Path {
        &self.resolver.cert_path
    }

    /// The private key file.
    pub fn key_path(&self) -> &Path {
        &self.resolver.key_path
    }
}

/// Why the PEM files of a [`TlsConfig`] cannot be served. Each names the file; fix it and
/// create the config (or [`reload`](TlsConfig::reload)) again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The file cannot be read (missing, no permission).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid PEM (a block without its end line, bad base64).
    #[error("{} is not valid PEM: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        source: pem::Error,
    },
    /// The certificate file holds no `CERTIFICATE` block.
    #[error("no certificate (a PEM `CERTIFICATE` block) in {}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key block.
    #[error(
        "no private key (a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block) in {}",
        path.display()
    )]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key is of a kind rustls cannot sign with, or malformed.
    #[error("the private key in {} is not usable: {source}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// The server's certificate (the first one) cannot be parsed.
    #[error("the certificate in {} is not usable: {source}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// The key is not the one of the certificate.
    #[error("the private key in {} does not belong to the certificate in {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the configuration (not expected with its defaults).
    #[error("the TLS configuration is refused: {0}")]
    Config(rustls::Error),
}

/// Picks the certificate of each handshake: the current one.
struct Resolver {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("cert", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

/// The certified key the two files make.
fn load(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let cert_pem = read(cert_path)?;
    let key_pem = read(key_path)?;
    let pem_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Pem { path, source }
    };
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(cert_path))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_path_buf(),
        });
    }
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey {
                path: key_path.to_path_buf(),
            })
        }
        Err(source) => return Err(pem_error(key_path)(source)),
    };
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::Key {
            path: key_path.to_path_buf(),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // A key that cannot tell its public half is checked by the handshakes only.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        }),
        Err(source) => Err(TlsError::Certificate {
            path: cert_path.to_path_buf(),
            source,
        }),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of one test, removed at its end.
    struct Dir(PathBuf);

    impl Dir {
        fn new(test: &str) -> Dir {
            let dir = std::env::temp_dir()
                .join(format!("tickwire-tls-unit-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("test directory");
            Dir(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).expect("write test file");
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A self-signed certificate for `localhost` and its key, as PEM.
    fn self_signed() -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_certificate_and_its_key_load_and_reload() {
        let dir = Dir::new("load");
        let (cert, key) = self_signed();
        let (cert_path, key_path) = (dir.write("cert.pem", &cert), dir.write("key.pem", &key));
        let tls = TlsConfig::from_pem_files(&cert_path, &key_path).expect("loads");
        let before = tls.resolver.current.read().clone();
        assert_eq!(tls.cert_path(), cert_path);
        assert_eq!(tls.key_path(), key_path);

        let (cert, key) = self_signed();
        dir.write("cert.pem", &cert);
        dir.write("key.pem", &key);
        tls.reload().expect("reloads");
        let after = tls.resolver.current.read().clone();
        assert_ne!(before.cert, after.cert);
        // A clone (and every server config made from it) shares the reloaded certificate.
        let clone = tls.clone();
        assert!(Arc::ptr_eq(&clone.resolver.current.read(), &after));
    }

    #[test]
    fn a_chain_keeps_every_certificate_in_order() {
        let dir = Dir::new("chain");
        let (cert, key) = self_signed();
        let (other, _) = self_signed();
        let chain = format!("{cert}{other}");
        let tls =
            TlsConfig::from_pem_files(dir.write("chain.pem", &chain), dir.write("key.pem", &key))
                .expect("loads");
        let current = tls.resolver.current.read().clone();
        assert_eq!(current.cert.len(), 2);
        assert_eq!(
            current.cert[0],
            CertificateDer::from_pem_slice(cert.as_bytes()).expect("PEM")
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = Dir::new("missing");
        let (cert, _) = self_signed();
        let cert_path = dir.write("cert.pem", &cert);
        let error = TlsConfig::from_pem_files(&cert_path, dir.0.join("absent.pem"))
            .expect_err("no key file");
        assert!(
            matches!(&error, TlsError::Read { path, source }
                if path.ends_with("absent.pem") && source.kind() == std::io::ErrorKind::NotFound),
            "{error:?}"
        );
        assert!(error.to_string().contains("absent.pem"), "{error}");
    }

    #[test]
    fn a_file_without_a_key_or_certificate_is_refused() {
        let dir = Dir::new("empty");
        let (cert, key) = self_signed();
        let (cert_path, key_path) = (dir.write("cert.pem", &cert), dir.write("key.pem", &key));
        // The certificate given as the key, and the key as the certificate.
        let error = TlsConfig::from_pem_files(&cert_path, &cert_path).expect_err("no key");
        assert!(matches!(error, TlsError::NoKey { .. }), "{error:?}");
        assert!(error.to_string().contains("no private key"), "{error}");
        let error = TlsConfig::from_pem_files(&key_path, &key_path).expect_err("no certificate");
        assert!(matches!(error, TlsError::NoCertificate { .. }), "{error:?}");
        let blank = dir.write("blank.pem", "");
        let error = TlsConfig::from_pem_files(&cert_path, &blank).expect_err("empty key file");
        assert!(matches!(error, TlsError::NoKey { .. }), "{error:?}");
    }

    #[test]
    fn broken_pem_is_refused() {
        let dir = Dir::new("broken");
        let (cert, key) = self_signed();
        let key_path = dir.write("key.pem", &key);
        // Cut before its END line.
        let cut = dir.write("cut.pem", &cert[..cert.len() / 2]);
        let error = TlsConfig::from_pem_files(&cut, &key_path).expect_err("cut PEM");
        assert!(matches!(error, TlsError::Pem { .. }), "{error:?}");
        // A key block of garbage base64-decoded bytes.
        let garbage = dir.write(
            "garbage.pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        let cert_path = dir.write("cert.pem", &cert);
        let error = TlsConfig::from_pem_files(&cert_path, &garbage).expect_err("garbage key");
        assert!(matches!(error, TlsError::Key { .. }), "{error:?}");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_and_a_reload_keeps_the_old_one() {
        let dir = Dir::new("mismatch");
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        let cert_path = dir.write("cert.pem", &cert);
        let key_path = dir.write("key.pem", &other_key);
        let error = TlsConfig::from_pem_files(&cert_path, &key_path).expect_err("mismatch");
        assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error:?}");
        assert!(error.to_string().contains("does not belong"), "{error}");

        dir.write("key.pem", &key);
        let tls = TlsConfig::from_pem_files(&cert_path, &key_path).expect("loads");
        let before = tls.resolver.current.read().clone();
        let (new_cert, _) = self_signed();
        dir.write("cert.pem", &new_cert);
        let error = tls
            .reload()
            .expect_err("the key is not the new certificate's");
        assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error:?}");
        assert!(Arc::ptr_eq(&tls.resolver.current.read(), &before));
    }
}
