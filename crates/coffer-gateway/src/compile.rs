//! Compiling a [`GatewayConfig`] into what the handshake and the proxy read: one rustls key per
//! certificate thumbprint, one `ServerConfig` per (certificate, client-certificate mode), the
//! SNI table and each service's routes. A certificate whose key does not load is skipped with a
//! log line; nothing here panics or does I/O.

use std::collections::HashMap;
use std::sync::Arc;

use coffer_domain::gateway::{
    GatewayConfig, GatewayService, HostnameType, ServedHostname, best_host_match, no_sni_binding,
    normalize_host,
};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};

use crate::{Choice, ConnInfo, GatewayOptions, KeyCache, ListenerKind};

/// What one apply did.
#[derive(Clone, Debug, Default)]
pub struct ApplyReport {
    /// Host names now served.
    pub hosts: usize,
    /// Entries left out, with the reason (never key material).
    pub skipped: Vec<String>,
}

/// What survives from one apply to the next.
#[derive(Default)]
pub(crate) struct Caches {
    keys: KeyCache,
    configs: HashMap<(String, bool), Arc<ServerConfig>>,
    builtin: Option<Arc<ServerConfig>>,
}

/// One served name.
struct HostEntry {
    pattern: String,
    service: String,
    config: Arc<ServerConfig>,
}

/// A service as the proxy reads it.
pub(crate) struct ServiceRoutes {
    pub(crate) service: GatewayService,
    /// Every name a request's Host may carry: the default host and the custom Proxy names.
    pub(crate) hosts: Vec<String>,
}

/// The compiled configuration, swapped in whole.
pub(crate) struct Compiled {
    pub(crate) generation: Option<u64>,
    hosts: Vec<HostEntry>,
    no_sni_main: Option<usize>,
    no_sni_dedicated: Option<usize>,
    builtin: Arc<ServerConfig>,
    pub(crate) services: Vec<Arc<ServiceRoutes>>,
}

impl Compiled {
    /// Any configuration, only to take the socket back from a refused handshake.
    pub(crate) fn refusal(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.builtin)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    pub(crate) fn choose(&self, listener: ListenerKind, sni: Option<&str>) -> Choice {
        let entry = |i: usize| {
            let h = &self.hosts[i];
            Choice::Gateway(
                Arc::clone(&h.config),
                ConnInfo {
                    service: Some(h.service.clone()),
                },
            )
        };
        match sni {
            Some(name) => {
                match best_host_match(self.hosts.iter().map(|h| h.pattern.as_str()), name) {
                    Some(i) => entry(i),
                    None if listener == ListenerKind::Main => Choice::NotGateway,
                    None => Choice::Refuse,
                }
            }
            None => match (listener, self.no_sni_main, self.no_sni_dedicated) {
                (ListenerKind::Main, Some(i), _) | (ListenerKind::Dedicated, _, Some(i)) => {
                    entry(i)
                }
                (ListenerKind::Main, None, _) => Choice::NotGateway,
                (ListenerKind::Dedicated, _, None) => {
                    Choice::Gateway(Arc::clone(&self.builtin), ConnInfo::default())
                }
            },
        }
    }

    /// The service a request with `host` belongs to on a connection of `conn`: the host must be
    /// one of the service's names.
    pub(crate) fn service_for(&self, conn: &ConnInfo, host: &str) -> Option<&Arc<ServiceRoutes>> {
        let candidates: Vec<&Arc<ServiceRoutes>> = match &conn.service {
            Some(name) => self
                .services
                .iter()
                .filter(|s| s.service.name.eq_ignore_ascii_case(name))
                .collect(),
            None => self.services.iter().collect(),
        };
        // An exact name beats a wildcard across services too.
        let names: Vec<(usize, &str)> = candidates
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.hosts.iter().map(move |h| (i, h.as_str())))
            .collect();
        best_host_match(names.iter().map(|(_, h)| *h), host).map(|k| candidates[names[k].0])
    }
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Builds the compiled form; only a failure to build the built-in configuration is an error.
pub(crate) fn compile(
    options: &GatewayOptions,
    caches: &mut Caches,
    config: &GatewayConfig,
    generation: Option<u64>,
) -> Result<(Compiled, ApplyReport), rustls::Error> {
    let provider = provider();
    let builtin = match &caches.builtin {
        Some(b) => Arc::clone(b),
        None => {
            let b = server_config(&provider, Arc::clone(&options.builtin), false)?;
            caches.builtin = Some(Arc::clone(&b));
            b
        }
    };
    let mut report = ApplyReport::default();
    let mut keys = KeyCache::new();
    let mut configs = HashMap::new();
    let mut hosts = Vec::new();
    let mut served: Vec<&ServedHostname> = Vec::new();
    let mut services = Vec::new();
    for svc in &config.services {
        let mut names = vec![normalize_host(&svc.default_host)];
        hosts.push(HostEntry {
            pattern: normalize_host(&svc.default_host),
            service: svc.name.clone(),
            config: Arc::clone(&builtin),
        });
        for h in svc
            .hostnames
            .iter()
            .filter(|h| h.kind == HostnameType::Proxy)
        {
            let key = match load_key(&provider, &caches.keys, h) {
                Ok(k) => k,
                Err(why) => {
                    tracing::warn!(service = %svc.name, host = %h.host, thumbprint = %h.certificate.thumbprint, reason = %why, "gateway host skipped: its certificate does not load");
                    report
                        .skipped
                        .push(format!("{} ({}): {why}", h.host, svc.name));
                    continue;
                }
            };
            if !h.certificate.thumbprint.is_empty() {
                keys.insert(h.certificate.thumbprint.clone(), Arc::clone(&key));
            }
            let cache_key = (
                h.certificate.thumbprint.clone(),
                h.negotiate_client_certificate,
            );
            let cfg = match caches.configs.get(&cache_key).or(configs.get(&cache_key)) {
                Some(c) if !cache_key.0.is_empty() => Arc::clone(c),
                _ => match server_config(&provider, key, h.negotiate_client_certificate) {
                    Ok(c) => c,
                    Err(e) => {
                        report
                            .skipped
                            .push(format!("{} ({}): {e}", h.host, svc.name));
                        continue;
                    }
                },
            };
            if !cache_key.0.is_empty() {
                configs.insert(cache_key, Arc::clone(&cfg));
            }
            let pattern = normalize_host(&h.host);
            names.push(pattern.clone());
            hosts.push(HostEntry {
                pattern,
                service: svc.name.clone(),
                config: cfg,
            });
            served.push(h);
        }
        services.push(Arc::new(ServiceRoutes {
            service: svc.clone(),
            hosts: names,
        }));
    }
    // Indexes into `served` map to `hosts` by name (default hosts are never bindings).
    let index_of = |i: usize| {
        let name = normalize_host(&served[i].host);
        hosts.iter().position(|h| h.pattern == name)
    };
    let no_sni_main = served
        .iter()
        .position(|h| h.default_ssl_binding)
        .and_then(index_of);
    let no_sni_dedicated = no_sni_binding(&served).and_then(index_of);
    report.hosts = hosts.len();
    caches.keys = keys;
    caches.configs = configs;
    Ok((
        Compiled {
            generation,
            hosts,
            no_sni_main,
            no_sni_dedicated,
            builtin,
            services,
        },
        report,
    ))
}

fn load_key(
    provider: &CryptoProvider,
    cache: &KeyCache,
    h: &ServedHostname,
) -> Result<Arc<CertifiedKey>, String> {
    let m = &h.certificate;
    if !m.thumbprint.is_empty()
        && let Some(k) = cache.get(&m.thumbprint)
    {
        return Ok(Arc::clone(k));
    }
    if m.chain_der.is_empty() {
        return Err("the certificate chain is empty".into());
    }
    let chain: Vec<CertificateDer<'static>> = m
        .chain_der
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(m.key_pkcs8_der.clone()));
    // rustls's errors name the problem, never the key bytes.
    CertifiedKey::from_der(chain, key, provider)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// A `ServerConfig` serving `key`, asking for (but not requiring) a client certificate when
/// `negotiate` is set; ALPN h2 and http/1.1.
pub(crate) fn server_config(
    provider: &Arc<CryptoProvider>,
    key: Arc<CertifiedKey>,
    negotiate: bool,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let builder = ServerConfig::builder_with_provider(Arc::clone(provider))
        .with_safe_default_protocol_versions()?;
    let builder = if negotiate {
        builder.with_client_cert_verifier(Arc::new(AnyClientCertificate {
            provider: Arc::clone(provider),
        }))
    } else {
        builder.with_no_client_auth()
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(OneKey(key)));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Always the same certificate.
#[derive(Debug)]
struct OneKey(Arc<CertifiedKey>);

impl ResolvesServerCert for OneKey {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// `negotiateClientCertificate`: the gateway asks for a certificate and takes any the client
/// proves it holds the key of (API Management leaves judging it to policies); a client without
/// one is served too.
#[derive(Debug)]
struct AnyClientCertificate {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
