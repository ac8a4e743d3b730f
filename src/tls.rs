//! TLS: the `tls-*` parameters turned into rustls configurations, for the TLS listener
//! (`tls-port`) and for a replica's link to its primary (`tls-replication`).
//!
//! Everything is built from the configuration in one step (`Materials::build`) and
//! checked before it is used: a missing, unreadable or mismatched certificate or key,
//! a CA that is needed and missing, a protocol or cipher Roost cannot honour, all stop
//! startup (or refuse a CONFIG SET) with a message naming the directive and the file.
//! `Tls` holds what is in force; a reload swaps it whole, so a connection is accepted
//! with the old materials or the new ones, never a mix, and connections already open
//! keep the certificate they started with.
//!
//! The crypto provider is `ring` (it builds with the C compiler already used here;
//! aws-lc-rs would need cmake).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, StoresServerSessions, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

use crate::config::Config;
use crate::sync::{Recover, RecoverRw};

/// What is in force: the listener's configuration and the replica link's.
#[derive(Default)]
pub struct Tls {
    current: RwLock<Arc<Materials>>,
}

/// One consistent set of TLS configurations; `None` where TLS is not wanted.
#[derive(Default)]
pub struct Materials {
    /// For connections accepted on `tls-port`.
    pub server: Option<Arc<ServerConfig>>,
    /// For a replica's connection to its primary, under `tls-replication yes`.
    pub client: Option<Arc<ClientConfig>>,
}

impl Tls {
    /// Builds the materials `config` asks for and puts them in force; on error nothing
    /// changes.
    pub fn reload(&self, config: &Config) -> Result<(), String> {
        let materials = Materials::build(config)?;
        *self.current.writing() = Arc::new(materials);
        Ok(())
    }

    pub fn server(&self) -> Option<Arc<ServerConfig>> {
        self.current.reading().server.clone()
    }

    pub fn client(&self) -> Option<Arc<ClientConfig>> {
        self.current.reading().client.clone()
    }
}

/// Whether the configuration uses TLS at all (as Redis decides whether to load it).
pub fn wanted(config: &Config) -> bool {
    config.tls_port != 0 || config.tls_replication
}

impl Materials {
    pub fn build(config: &Config) -> Result<Materials, String> {
        // A secret for a key Roost could never decrypt is refused even while TLS is off.
        for (name, pass) in [
            ("tls-key-file-pass", &config.tls_key_file_pass),
            ("tls-client-key-file-pass", &config.tls_client_key_file_pass),
        ] {
            if pass.is_some() {
                return Err(format!(
                    "'{name}': Roost cannot decrypt private keys; give it an unencrypted key \
                     (openssl pkey -in ENCRYPTED -out PLAIN) and remove '{name}'"
                ));
            }
        }
        if !wanted(config) {
            return Ok(Materials::default());
        }
        let provider = Arc::new(provider(config)?);
        let versions = protocols(&config.tls_protocols)?;
        let cert_file = required(&config.tls_cert_file, "tls-cert-file")?;
        let key_file = required(&config.tls_key_file, "tls-key-file")?;
        let certs = load_certs(cert_file, "tls-cert-file")?;
        let key = load_key(key_file, "tls-key-file")?;
        let auth = config.tls_auth_clients.as_str();
        let roots = if auth != "no" || config.tls_replication {
            Some(Arc::new(load_roots(config)?))
        } else {
            None
        };

        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("'tls-protocols', 'tls-ciphersuites', 'tls-ciphers': {e}"))?;
        let builder = match (&roots, auth) {
            (Some(roots), "yes" | "optional") => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
                let verifier = if auth == "optional" {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| format!("'tls-ca-cert-file'/'tls-ca-cert-dir': {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut server = builder.with_single_cert(certs, key).map_err(|e| {
            format!(
                "'tls-cert-file' {cert_file} and 'tls-key-file' {key_file} do not form a pair: {e}"
            )
        })?;
        server.ignore_client_order = config.tls_prefer_server_ciphers;
        if config.tls_session_caching {
            server.session_storage = SessionCache::storage(
                config.tls_session_cache_size as usize,
                Duration::from_secs(config.tls_session_cache_timeout),
            );
        } else {
            server.session_storage = Arc::new(NoServerSessionStorage {});
            server.send_tls13_tickets = 0;
        }

        let client = match &roots {
            Some(roots) if config.tls_replication => {
                Some(Arc::new(client_config(config, provider, &versions, roots)?))
            }
            _ => None,
        };
        Ok(Materials {
            server: (config.tls_port != 0).then(|| Arc::new(server)),
            client,
        })
    }
}

/// The replica's side: trusts the CA, presents `tls-client-cert-file` (or, as Redis
/// does, `tls-cert-file` when no client certificate is set).
fn client_config(
    config: &Config,
    provider: Arc<CryptoProvider>,
    versions: &[&'static SupportedProtocolVersion],
    roots: &Arc<RootCertStore>,
) -> Result<ClientConfig, String> {
    let (certs, key) = match &config.tls_client_cert_file {
        Some(cert_file) => {
            let key_file = required(&config.tls_client_key_file, "tls-client-key-file")?;
            (
                load_certs(cert_file, "tls-client-cert-file")?,
                load_key(key_file, "tls-client-key-file")?,
            )
        }
        None => {
            let cert_file = required(&config.tls_cert_file, "tls-cert-file")?;
            let key_file = required(&config.tls_key_file, "tls-key-file")?;
            (
                load_certs(cert_file, "tls-cert-file")?,
                load_key(key_file, "tls-key-file")?,
            )
        }
    };
    ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("'tls-protocols': {e}"))?
        .with_root_certificates(roots.clone())
        .with_client_auth_cert(certs, key)
        .map_err(|e| format!("the client certificate and key for tls-replication: {e}"))
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, String> {
    value
        .as_deref()
        .ok_or_else(|| format!("'{name}' must be set when TLS is on (tls-port or tls-replication)"))
}

fn read(path: &str, name: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("'{name}' {path}: cannot read it: {e}"))
}

fn load_certs(path: &str, name: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = read(path, name)?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("'{name}' {path}: not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(format!("'{name}' {path}: no certificate in it"));
    }
    Ok(certs)
}

fn load_key(path: &str, name: &str) -> Result<PrivateKeyDer<'static>, String> {
    let text = read(path, name)?;
    if text.windows(9).any(|w| w == b"ENCRYPTED") {
        return Err(format!(
            "'{name}' {path}: the key is encrypted, and Roost cannot decrypt private keys; \
             store it unencrypted (openssl pkey -in ENCRYPTED -out PLAIN)"
        ));
    }
    PrivateKeyDer::from_pem_slice(&text)
        .map_err(|e| format!("'{name}' {path}: no private key in it: {e}"))
}

/// The CAs client certificates (and a primary's certificate) are verified against.
fn load_roots(config: &Config) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let mut add = |certs: Vec<CertificateDer<'static>>, name: &str, path: &str| {
        for cert in certs {
            roots.add(cert).map_err(|e| {
                format!("'{name}' {path}: a certificate cannot be used as a CA: {e}")
            })?;
        }
        Ok::<(), String>(())
    };
    if let Some(file) = &config.tls_ca_cert_file {
        add(
            load_certs(file, "tls-ca-cert-file")?,
            "tls-ca-cert-file",
            file,
        )?;
    }
    if let Some(dir) = &config.tls_ca_cert_dir {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("'tls-ca-cert-dir' {dir}: cannot read it: {e}"))?;
        for entry in entries {
            let path = entry
                .map_err(|e| format!("'tls-ca-cert-dir' {dir}: cannot read it: {e}"))?
                .path();
            if !path.is_file() {
                continue;
            }
            // Like OpenSSL's hashed directory, files that hold no certificate are passed
            // over.
            let text = read(&path.display().to_string(), "tls-ca-cert-dir")?;
            let certs: Vec<_> = CertificateDer::pem_slice_iter(&text)
                .filter_map(Result::ok)
                .collect();
            add(certs, "tls-ca-cert-dir", &path.display().to_string())?;
        }
    }
    if roots.is_empty() {
        return Err(
            "'tls-ca-cert-file' or 'tls-ca-cert-dir' must name a CA when tls-auth-clients is \
             yes or optional, or tls-replication is yes"
                .into(),
        );
    }
    Ok(roots)
}

/// `tls-protocols`: Redis's names, any case; empty means TLSv1.2 and TLSv1.3.
fn protocols(text: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let mut versions = Vec::new();
    for word in text.split_whitespace() {
        let version = match word.to_ascii_lowercase().as_str() {
            "tlsv1.2" => &rustls::version::TLS12,
            "tlsv1.3" => &rustls::version::TLS13,
            "tlsv1" | "tlsv1.1" => {
                return Err(format!(
                    "'tls-protocols': {word} is not supported (TLSv1.2 and TLSv1.3 are)"
                ))
            }
            _ => return Err(format!("'tls-protocols': unknown protocol '{word}'")),
        };
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    if versions.is_empty() {
        versions = vec![&rustls::version::TLS12, &rustls::version::TLS13];
    }
    Ok(versions)
}

/// OpenSSL's names for the cipher suites the provider has: TLS 1.3 suites
/// (`tls-ciphersuites`) and TLS 1.2 ones (`tls-ciphers`).
const SUITE_NAMES: &[(&str, rustls::CipherSuite)] = {
    use rustls::CipherSuite::*;
    &[
        ("TLS_AES_128_GCM_SHA256", TLS13_AES_128_GCM_SHA256),
        ("TLS_AES_256_GCM_SHA384", TLS13_AES_256_GCM_SHA384),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-RSA-AES128-GCM-SHA256",
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
};

/// The ring provider, its suites cut down to `tls-ciphersuites` and `tls-ciphers` when
/// they are set. A name Roost does not know is refused rather than passed over: the
/// operator asked for a restriction.
fn provider(config: &Config) -> Result<CryptoProvider, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    for (name, list, tls13) in [
        ("tls-ciphersuites", &config.tls_ciphersuites, true),
        ("tls-ciphers", &config.tls_ciphers, false),
    ] {
        if list.trim().is_empty() {
            continue;
        }
        let mut allowed = Vec::new();
        for word in list.split(':').map(str::trim).filter(|w| !w.is_empty()) {
            let suite = SUITE_NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(word))
                .map(|(_, s)| *s)
                .filter(|s| format!("{s:?}").starts_with("TLS13_") == tls13)
                .ok_or_else(|| {
                    let known: Vec<&str> = SUITE_NAMES
                        .iter()
                        .filter(|(_, s)| format!("{s:?}").starts_with("TLS13_") == tls13)
                        .map(|(n, _)| *n)
                        .collect();
                    format!(
                        "'{name}': unknown or unsupported cipher '{word}' (Roost has {})",
                        known.join(":")
                    )
                })?;
            allowed.push(suite);
        }
        provider.cipher_suites.retain(|s| {
            let is13 = matches!(s, rustls::SupportedCipherSuite::Tls13(_));
            is13 != tls13 || allowed.contains(&s.suite())
        });
    }
    Ok(provider)
}

/// A server-side session cache of at most `size` sessions, each usable for `timeout`
/// (`tls-session-cache-size`, `tls-session-cache-timeout`).
#[derive(Debug)]
struct SessionCache {
    size: usize,
    timeout: Duration,
    inner: Mutex<Sessions>,
}

/// Each session with the time it was stored, and the keys oldest first.
type Sessions = (HashMap<Vec<u8>, (Instant, Vec<u8>)>, VecDeque<Vec<u8>>);

impl SessionCache {
    fn storage(size: usize, timeout: Duration) -> Arc<dyn StoresServerSessions> {
        if size == 0 {
            return Arc::new(NoServerSessionStorage {});
        }
        Arc::new(SessionCache {
            size,
            timeout,
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        })
    }

    fn fresh(&self, stored: &Instant) -> bool {
        stored.elapsed() < self.timeout
    }
}

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut inner = self.inner.locked();
        let (map, order) = &mut *inner;
        while map.len() >= self.size {
            match order.pop_front() {
                Some(oldest) => {
                    map.remove(&oldest);
                }
                None => break,
            }
        }
        if map.insert(key.clone(), (Instant::now(), value)).is_none() {
            order.push_back(key);
        }
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let inner = self.inner.locked();
        let (stored, value) = inner.0.get(key)?;
        self.fresh(stored).then(|| value.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut inner = self.inner.locked();
        let (map, order) = &mut *inner;
        let (stored, value) = map.remove(key)?;
        order.retain(|k| k != key);
        self.fresh(&stored).then_some(value)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_are_redis_names_in_any_case_and_both_by_default() {
        assert_eq!(protocols("").unwrap().len(), 2);
        let only13 = protocols("tlsv1.3").unwrap();
        assert_eq!(only13.len(), 1);
        assert_eq!(only13[0].version, rustls::ProtocolVersion::TLSv1_3);
        assert_eq!(protocols("TLSv1.2 TLSv1.3 TLSv1.2").unwrap().len(), 2);
        assert!(protocols("TLSv1.1").unwrap_err().contains("tls-protocols"));
        assert!(protocols("SSLv3").unwrap_err().contains("'SSLv3'"));
    }

    #[test]
    fn cipher_lists_cut_down_the_provider_and_refuse_unknown_names() {
        let mut config = Config {
            tls_ciphersuites: "TLS_AES_256_GCM_SHA384".into(),
            tls_ciphers: "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256".into(),
            ..Config::default()
        };
        let suites: Vec<_> = provider(&config)
            .unwrap()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        assert_eq!(suites.len(), 3, "{suites:?}");
        assert!(suites.contains(&rustls::CipherSuite::TLS13_AES_256_GCM_SHA384));
        // A TLS 1.2 name in the TLS 1.3 list is not a TLS 1.3 suite.
        config.tls_ciphersuites = "ECDHE-RSA-AES128-GCM-SHA256".into();
        assert!(provider(&config).unwrap_err().contains("tls-ciphersuites"));
        config.tls_ciphersuites.clear();
        config.tls_ciphers = "HIGH:!aNULL".into();
        assert!(provider(&config).unwrap_err().contains("'HIGH'"));
    }

    #[test]
    fn the_session_cache_is_bounded_and_forgets_after_its_timeout() {
        let cache = SessionCache::storage(2, Duration::from_secs(300));
        for key in [b"a", b"b", b"c"] {
            assert!(cache.put(key.to_vec(), key.to_vec()));
        }
        assert_eq!(cache.get(b"a"), None, "the oldest is evicted");
        assert_eq!(cache.get(b"c"), Some(b"c".to_vec()));
        assert_eq!(cache.take(b"b"), Some(b"b".to_vec()));
        assert_eq!(cache.get(b"b"), None);

        let expired = SessionCache::storage(2, Duration::ZERO);
        expired.put(b"k".to_vec(), b"v".to_vec());
        assert_eq!(expired.get(b"k"), None);
        assert_eq!(expired.take(b"k"), None);
        assert!(!SessionCache::storage(0, Duration::from_secs(1)).can_cache());
    }

    #[test]
    fn key_passphrases_are_refused_even_while_tls_is_off() {
        let config = Config {
            tls_key_file_pass: Some("secret".into()),
            ..Config::default()
        };
        let Err(error) = Materials::build(&config) else {
            panic!("a passphrase was accepted")
        };
        assert!(error.contains("tls-key-file-pass"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        assert!(Materials::build(&Config::default())
            .unwrap()
            .server
            .is_none());
    }
}
