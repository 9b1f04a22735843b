//! The seed's scenario on the management side with a test vault reader: identity off, no access
//! policy (the exact Forbidden text), the policy added; certificate validation; nothing stored
//! after a failure; ETags; subscription keys; the gateway configuration and refresh.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_domain::Principal;
use coffer_store_sqlite::SqliteStore;
use zeroize::Zeroizing;

use super::*;
use crate::directory::DirectoryFilter;
use crate::management::testing::{app, caller};
use crate::{VaultReader, VaultReply, VaultUnreachable};

const URL: &str = "https://kv.vault.localhost:8443/secrets/gwcert/";

/// A vault with one secret per URL (without the query) and the object ids allowed to read.
#[derive(Default)]
struct TestVault {
    secrets: Mutex<BTreeMap<String, (String, String, String)>>,
    allowed: Mutex<Vec<String>>,
    requests: Mutex<Vec<String>>,
}

impl TestVault {
    fn put(&self, url: &str, content_type: &str, value: String, version: &str) {
        self.secrets.lock().unwrap().insert(
            url.to_owned(),
            (content_type.to_owned(), value, version.to_owned()),
        );
    }
    fn allow(&self, oid: &str) {
        self.allowed.lock().unwrap().push(oid.to_owned());
    }
}

#[async_trait]
impl VaultReader for TestVault {
    async fn get(&self, url: &str, bearer: &str) -> Result<VaultReply, VaultUnreachable> {
        self.requests.lock().unwrap().push(url.to_owned());
        let (_, claims) = coffer_identity::decode_unverified(bearer).unwrap();
        let oid = claims["oid"].as_str().unwrap().to_owned();
        let rid = format!("rid-{}", self.requests.lock().unwrap().len());
        if !self.allowed.lock().unwrap().contains(&oid) {
            return Ok(VaultReply {
                status: 403,
                request_id: Some(rid),
                body: br#"{"error":{"code":"Forbidden"}}"#.to_vec(),
            });
        }
        let key = url.strip_suffix("?api-version=7.0").unwrap();
        match self.secrets.lock().unwrap().get(key) {
            Some((ct, value, version)) => Ok(VaultReply {
                status: 200,
                request_id: Some(rid),
                body: serde_json::to_vec(&serde_json::json!({
                    "value": value, "contentType": ct,
                    "id": format!("{}/{version}", key.trim_end_matches('/')),
                }))
                .unwrap(),
            }),
            None => Ok(VaultReply {
                status: 404,
                request_id: Some(rid),
                body: Vec::new(),
            }),
        }
    }
}

/// A self-signed certificate for `names`: (DER, PKCS#8 key).
fn cert(names: &[&str], expired: bool) -> (Vec<u8>, Zeroizing<Vec<u8>>) {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    } else {
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2099, 1, 1);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let c = params.self_signed(&key).unwrap();
    (c.der().to_vec(), Zeroizing::new(key.serialize_der()))
}

fn pfx_b64(names: &[&str], expired: bool) -> String {
    let (der, key) = cert(names, expired);
    let bundle = coffer_x509::Bundle {
        key_pkcs8: Some(key),
        chain: vec![der],
    };
    B64.encode(coffer_x509::build_pfx(&bundle, None).unwrap())
}

struct Env {
    coffer: Coffer,
    vault: Arc<TestVault>,
    me: Principal,
    sub: String,
}

async fn env() -> Env {
    let coffer = app(Arc::new(SqliteStore::open_in_memory().unwrap())).await;
    let boot = coffer.bootstrap().await.unwrap();
    let vault = Arc::new(TestVault::default());
    coffer.set_vault_reader(vault.clone());
    let me = caller(&boot.tenant_id);
    coffer
        .put_apim_service(
            &me,
            &boot.subscription_id,
            "coffer-rg",
            "gw",
            ApimServiceInput {
                location: Some("local".into()),
                publisher_email: Some("a@b.test".into()),
                publisher_name: Some("Contoso".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    Env {
        coffer,
        vault,
        me,
        sub: boot.subscription_id,
    }
}

fn proxy(host: &str, url: &str) -> HostnameInput {
    HostnameInput {
        kind: "Proxy".into(),
        host_name: host.into(),
        key_vault_id: Some(url.into()),
        ..Default::default()
    }
}

impl Env {
    async fn set_hosts(
        &self,
        list: Vec<HostnameInput>,
    ) -> Result<ApimServiceView, ManagementError> {
        self.coffer
            .patch_apim_service(
                &self.me,
                &self.sub,
                "coffer-rg",
                "gw",
                ApimServiceInput {
                    hostnames: Some(list),
                    ..Default::default()
                },
            )
            .await
    }
    async fn set_identity(&self, kind: &str) -> Result<ApimServiceView, ManagementError> {
        self.coffer
            .patch_apim_service(
                &self.me,
                &self.sub,
                "coffer-rg",
                "gw",
                ApimServiceInput {
                    identity: Some(ApimIdentityInput {
                        kind: kind.into(),
                        user_assigned: vec![],
                    }),
                    ..Default::default()
                },
            )
            .await
    }
    async fn get(&self) -> ApimServiceView {
        self.coffer
            .get_apim_service(&self.me, &self.sub, "coffer-rg", "gw")
            .await
            .unwrap()
    }
}

fn message(e: &ManagementError) -> (&'static str, String) {
    match e {
        ManagementError::BadRequest { code, message } => (code, message.clone()),
        other => panic!("not a 400: {other:?}"),
    }
}

#[tokio::test]
async fn the_seed_scenario_identity_off_then_no_policy_then_the_policy() {
    let e = env().await;
    e.vault.put(
        URL,
        "application/x-pkcs12",
        pfx_b64(&["api.contoso.test"], false),
        "v1",
    );
    let v = e.get().await;
    assert_eq!(v.gateway_url, "https://gw.gateway.localhost:8443");
    assert_eq!(v.identity_type, "None");

    // Identity off: refused before any vault request.
    let err = e
        .set_hosts(vec![proxy("api.contoso.test", URL)])
        .await
        .unwrap_err();
    let (code, msg) = message(&err);
    assert_eq!(code, "InvalidOperation");
    assert!(
        msg.contains("Managed Service Identity (MSI) is not enabled"),
        "{msg}"
    );
    assert!(e.vault.requests.lock().unwrap().is_empty());

    // Identity on, no access policy: the vault's 403 in API Management's words.
    let v = e.set_identity("SystemAssigned").await.unwrap();
    let oid = v.principal_id.clone().unwrap();
    let err = e
        .set_hosts(vec![proxy("api.contoso.test", URL)])
        .await
        .unwrap_err();
    let (code, msg) = message(&err);
    assert_eq!(code, "InvalidOperation");
    assert_eq!(
        msg,
        "Failed to update API Management service hostnames. Request to resource 'https://kv.vault.localhost:8443/secrets/gwcert/?api-version=7.0' failed with StatusCode: Forbidden for RequestId: rid-1. Exception message: Operation returned an invalid status code 'Forbidden'"
    );
    assert!(e.get().await.hostnames.is_empty(), "nothing stored");
    let (svc, f) = e
        .coffer
        .apim_failure_by_request_id("rid-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(svc, "gw");
    assert_eq!(
        (f.object_id.as_str(), f.identity_type.as_str()),
        (oid.as_str(), "SystemAssigned")
    );

    // The service principal is found by the service's name, as the seed's fix does.
    let sps = e
        .coffer
        .list_service_principals(
            &e.me.tenant_id,
            Some(&DirectoryFilter::DisplayNameEq("gw".into())),
        )
        .await
        .unwrap();
    assert_eq!(sps.len(), 1);
    assert_eq!(sps[0].principal_type, "ManagedIdentity");
    assert_eq!(sps[0].object_id, oid);
    e.vault.allow(&sps[0].object_id);

    let v = e
        .set_hosts(vec![proxy("api.contoso.test", URL)])
        .await
        .unwrap();
    assert_eq!(v.hostnames.len(), 1);
    let h = &v.hostnames[0];
    assert_eq!(
        (h.certificate_source, h.certificate_status),
        ("KeyVault", "Completed")
    );
    assert_eq!(h.thumbprint.as_ref().unwrap().len(), 40);

    // The gateway gets the certificate with its key.
    let cfg = e.coffer.gateway_config().await.unwrap();
    assert!(cfg.generation > 0);
    let served = &cfg.services[0].hostnames[0];
    assert_eq!(served.host, "api.contoso.test");
    assert_eq!(Some(&served.certificate.thumbprint), h.thumbprint.as_ref());
    assert!(!served.certificate.key_pkcs8_der.is_empty());

    // A whole-resource PUT without identity keeps it; turning it off is refused.
    let v = e
        .coffer
        .put_apim_service(
            &e.me,
            &e.sub,
            "coffer-rg",
            "gw",
            ApimServiceInput {
                location: Some("local".into()),
                hostnames: Some(vec![proxy("api.contoso.test", URL)]),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .0;
    assert_eq!(v.identity_type, "SystemAssigned");
    let err = e.set_identity("None").await.unwrap_err();
    assert!(message(&err).1.contains("cannot be turned off"));
    assert_eq!(e.get().await.principal_id.as_deref(), Some(oid.as_str()));
}

#[tokio::test]
async fn certificates_are_checked_and_a_failure_changes_nothing() {
    let e = env().await;
    e.set_identity("SystemAssigned").await.unwrap();
    let oid = e.get().await.principal_id.unwrap();
    e.vault.allow(&oid);
    let good = "https://kv.vault.localhost:8443/secrets/good";
    e.vault.put(
        good,
        "application/x-pkcs12",
        pfx_b64(&["*.contoso.test"], false),
        "v1",
    );
    e.set_hosts(vec![proxy("api.contoso.test", good)])
        .await
        .unwrap();
    let before = e.get().await.hostnames[0].thumbprint.clone();

    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "wrong-host",
            "application/x-pkcs12",
            pfx_b64(&["other.test"], false),
            "not valid for the host name",
        ),
        (
            "expired",
            "application/x-pkcs12",
            pfx_b64(&["api.contoso.test"], true),
            "expired",
        ),
        (
            "plain",
            "text/plain",
            "hello".into(),
            "is not a certificate",
        ),
    ];
    for (name, ct, value, expect) in cases {
        let url = format!("https://kv.vault.localhost:8443/secrets/{name}");
        e.vault.put(&url, ct, value, "v1");
        // The good entry first: the bad second one still fails the whole update.
        let err = e
            .set_hosts(vec![
                proxy("www.contoso.test", good),
                proxy("api.contoso.test", &url),
            ])
            .await
            .unwrap_err();
        assert!(message(&err).1.contains(expect), "{name}: {err}");
        let now = e.get().await;
        assert_eq!(now.hostnames.len(), 1, "{name}");
        assert_eq!(now.hostnames[0].thumbprint, before);
    }
    // Not found: the vault's 404 by name.
    let err = e
        .set_hosts(vec![proxy(
            "api.contoso.test",
            "https://kv.vault.localhost:8443/secrets/none",
        )])
        .await
        .unwrap_err();
    assert!(message(&err).1.contains("StatusCode: NotFound"));
    // A URL outside this instance's vaults is refused without a request.
    let err = e
        .set_hosts(vec![proxy(
            "api.contoso.test",
            "https://evil.example/secrets/x",
        )])
        .await
        .unwrap_err();
    assert_eq!(message(&err).0, "ValidationError");

    // PEM is accepted; an unknown identity client id is refused with APIM's text.
    let (der, key) = cert(&["pem.contoso.test"], false);
    let pem = coffer_x509::build_pem(&coffer_x509::Bundle {
        key_pkcs8: Some(key),
        chain: vec![der],
    });
    let purl = "https://kv.vault.localhost:8443/secrets/pem/";
    e.vault
        .put(purl, "application/x-pem-file", pem.to_string(), "v1");
    let v = e
        .set_hosts(vec![proxy("pem.contoso.test", purl)])
        .await
        .unwrap();
    assert_eq!(v.hostnames[0].host_name, "pem.contoso.test");
    let mut h = proxy("pem.contoso.test", purl);
    h.identity_client_id = Some("00000000-0000-0000-0000-000000000001".into());
    let err = e.set_hosts(vec![h]).await.unwrap_err();
    assert!(
        message(&err)
            .1
            .starts_with("Can not find Managed Identity with provided IdentityClientId")
    );

    // Uploaded certificates (Custom) and TLS 1.0 requests.
    let v = e
        .set_hosts(vec![HostnameInput {
            kind: "Proxy".into(),
            host_name: "up.contoso.test".into(),
            encoded_certificate: Some(pfx_b64(&["up.contoso.test"], false)),
            ..Default::default()
        }])
        .await
        .unwrap();
    assert_eq!(v.hostnames[0].certificate_source, "Custom");
    let err = e
        .coffer
        .patch_apim_service(
            &e.me,
            &e.sub,
            "coffer-rg",
            "gw",
            ApimServiceInput {
                legacy_tls: vec![
                    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10".into(),
                ],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(message(&err).1.contains("TLS 1.0 and 1.1"));
}

#[tokio::test]
async fn refresh_swaps_a_new_version_and_keeps_the_last_good_one() {
    let e = env().await;
    e.set_identity("SystemAssigned").await.unwrap();
    let oid = e.get().await.principal_id.unwrap();
    e.vault.allow(&oid);
    e.vault.put(
        URL,
        "application/x-pkcs12",
        pfx_b64(&["api.contoso.test"], false),
        "v1",
    );
    e.set_hosts(vec![proxy("api.contoso.test", URL)])
        .await
        .unwrap();
    let first = e.get().await.hostnames[0].thumbprint.clone();
    assert!(
        !e.coffer.refresh_gateway_certificates().await.unwrap(),
        "same version"
    );
    e.vault.put(
        URL,
        "application/x-pkcs12",
        pfx_b64(&["api.contoso.test"], false),
        "v2",
    );
    assert!(e.coffer.refresh_gateway_certificates().await.unwrap());
    let second = e.get().await.hostnames[0].thumbprint.clone();
    assert_ne!(first, second);
    // The policy goes away: the last good certificate stays, marked Failed with the reason.
    e.vault.allowed.lock().unwrap().clear();
    assert!(!e.coffer.refresh_gateway_certificates().await.unwrap());
    let h = e.get().await.hostnames[0].clone();
    assert_eq!(h.certificate_status, "Failed");
    assert!(h.status_reason.unwrap().contains("Forbidden"));
    assert_eq!(h.thumbprint, second);
    let cfg = e.coffer.gateway_config().await.unwrap();
    assert_eq!(
        Some(&cfg.services[0].hostnames[0].certificate.thumbprint),
        second.as_ref()
    );
}

#[tokio::test]
async fn entities_carry_etags_and_keys_stay_hidden() {
    let e = env().await;
    let (s, rg) = (e.sub.as_str(), "coffer-rg");
    let api = ApiInput {
        path: Some("echo".into()),
        service_url: Some("https://backend.test".into()),
        ..Default::default()
    };
    let (a, created) = e
        .coffer
        .put_apim_api(&e.me, s, rg, "gw", "echo", api.clone(), None)
        .await
        .unwrap();
    assert!(created && a.subscription_required);
    assert_eq!(a.key_header, "Ocp-Apim-Subscription-Key");
    let stale = a.etag.clone();
    let patch = ApiInput {
        display_name: Some("Echo".into()),
        ..Default::default()
    };
    let a2 = e
        .coffer
        .patch_apim_api(&e.me, s, rg, "gw", "echo", patch.clone(), Some(&stale))
        .await
        .unwrap();
    assert_ne!(a2.etag, stale);
    let err = e
        .coffer
        .patch_apim_api(&e.me, s, rg, "gw", "echo", patch.clone(), Some(&stale))
        .await
        .unwrap_err();
    assert!(matches!(err, ManagementError::PreconditionFailed { .. }));
    let err = e
        .coffer
        .delete_apim_api(&e.me, s, rg, "gw", "echo", None)
        .await
        .unwrap_err();
    assert_eq!(message(&err).0, "ValidationError");

    // Import from OpenAPI replaces the operations.
    let doc = r#"{"openapi":"3.0.0","info":{"title":"Pets"},"paths":{"/pets":{"get":{"operationId":"list"}}}}"#;
    let (imp, _) = e
        .coffer
        .put_apim_api(
            &e.me,
            s,
            rg,
            "gw",
            "echo",
            ApiInput {
                import: Some(("openapi+json".into(), doc.into())),
                ..Default::default()
            },
            Some("*"),
        )
        .await
        .unwrap();
    assert_eq!(
        imp.display_name, "Pets",
        "an import takes the document's title"
    );
    let ops = e
        .coffer
        .list_apim_operations(&e.me, s, rg, "gw", "echo")
        .await
        .unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(
        (ops[0].method.as_str(), ops[0].url_template.as_str()),
        ("GET", "/pets")
    );

    // Subscriptions: generated keys, only through listSecrets; regeneration changes one.
    let full_scope = format!(
        "/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ApiManagement/service/gw/apis/echo"
    );
    let (sv, _) = e
        .coffer
        .put_apim_subscription(
            &e.me,
            s,
            rg,
            "gw",
            "sub1",
            SubscriptionInput {
                scope: Some(full_scope),
                ..Default::default()
            },
            None,
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        (sv.scope.as_str(), sv.state.as_str()),
        ("/apis/echo", "active")
    );
    let (k, _) = e
        .coffer
        .apim_subscription_keys(&e.me, s, rg, "gw", "sub1")
        .await
        .unwrap();
    assert_eq!(k.primary_key.len(), 32);
    assert!(k.primary_key.chars().all(|c| c.is_ascii_hexdigit()));
    e.coffer
        .regenerate_apim_subscription_key(&e.me, s, rg, "gw", "sub1", true)
        .await
        .unwrap();
    let (k2, _) = e
        .coffer
        .apim_subscription_keys(&e.me, s, rg, "gw", "sub1")
        .await
        .unwrap();
    assert_ne!(k.primary_key, k2.primary_key);
    assert_eq!(k.secondary_key, k2.secondary_key);
    let cfg = e.coffer.gateway_config().await.unwrap();
    assert_eq!(cfg.services[0].subscriptions[0].primary_key, k2.primary_key);
    assert_eq!(cfg.services[0].apis[0].operations.len(), 1);
    let err = e
        .coffer
        .put_apim_subscription(
            &e.me,
            s,
            rg,
            "gw",
            "sub2",
            SubscriptionInput {
                scope: Some("/products/none".into()),
                ..Default::default()
            },
            None,
            false,
        )
        .await
        .unwrap_err();
    assert!(message(&err).1.contains("does not exist"));

    // Deleting the service takes its children (and a new one with that name starts empty).
    assert!(
        e.coffer
            .delete_apim_service(&e.me, s, rg, "gw")
            .await
            .unwrap()
    );
    assert!(e.coffer.gateway_config().await.unwrap().services.is_empty());
    assert!(
        !e.coffer
            .delete_apim_service(&e.me, s, rg, "gw")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_gateways_system_identity_is_a_trusted_service() {
    let e = env().await;
    let oid = e
        .set_identity("SystemAssigned")
        .await
        .unwrap()
        .principal_id
        .unwrap();
    let sp = e
        .coffer
        .get_service_principal(&e.me.tenant_id, &oid)
        .await
        .unwrap();
    let p = Principal {
        tenant_id: e.me.tenant_id.clone(),
        object_id: oid.clone(),
        app_id: Some(sp.app_id.clone()),
        issuer: String::new(),
    };
    assert!(e.coffer.is_trusted_service(&p).await.unwrap());
    let impostor = Principal {
        app_id: Some("someone-else".into()),
        ..p.clone()
    };
    assert!(!e.coffer.is_trusted_service(&impostor).await.unwrap());
    // Identity off: the principal is gone and no longer trusted.
    e.set_identity("None").await.unwrap();
    assert!(!e.coffer.is_trusted_service(&p).await.unwrap());
    assert!(
        e.coffer
            .system_identity(&e.get().await.id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_user_assigned_identity_reads_by_its_client_id_and_cannot_be_dropped() {
    let e = env().await;
    let (uai, _) = e
        .coffer
        .put_user_assigned_identity(
            &e.me,
            &e.sub,
            "coffer-rg",
            "gw-reader",
            crate::management::ResourceInput {
                location: Some("local".into()),
                tags: None,
            },
        )
        .await
        .unwrap();
    let user = |kind: &str| ApimServiceInput {
        identity: Some(ApimIdentityInput {
            kind: kind.into(),
            user_assigned: vec![uai.id.clone()],
        }),
        ..Default::default()
    };
    let v = e
        .coffer
        .patch_apim_service(&e.me, &e.sub, "coffer-rg", "gw", user("UserAssigned"))
        .await
        .unwrap();
    assert_eq!(v.identity_type, "UserAssigned");
    assert_eq!(v.user_identities[0].client_id, uai.client_id);
    e.vault.put(
        URL,
        "application/x-pkcs12",
        pfx_b64(&["api.contoso.test"], false),
        "v1",
    );
    e.vault.allow(&uai.principal_id);
    // Without identityClientId the system identity is meant, and it is off.
    let err = e
        .set_hosts(vec![proxy("api.contoso.test", URL)])
        .await
        .unwrap_err();
    assert!(message(&err).1.contains("is not enabled"));
    let mut h = proxy("api.contoso.test", URL);
    h.identity_client_id = Some(uai.client_id.clone());
    let v = e.set_hosts(vec![h]).await.unwrap();
    assert_eq!(
        v.hostnames[0].identity_client_id.as_deref(),
        Some(uai.client_id.as_str())
    );
    // Dropping that identity would strand the host name.
    let err = e.set_identity("None").await.unwrap_err();
    assert!(message(&err).1.contains("cannot be removed"), "{err}");
    assert_eq!(e.get().await.identity_type, "UserAssigned");
    // An identity that does not exist is refused.
    let err = e
        .coffer
        .patch_apim_service(
            &e.me,
            &e.sub,
            "coffer-rg",
            "gw",
            ApimServiceInput {
                identity: Some(ApimIdentityInput {
                    kind: "UserAssigned".into(),
                    user_assigned: vec![format!("{}x", uai.id)],
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(message(&err).1.contains("does not exist"));
}

#[tokio::test]
async fn services_are_generic_resources_and_go_with_their_group() {
    let e = env().await;
    let listed = e
        .coffer
        .list_resources(&e.me, &e.sub, Some("coffer-rg"))
        .await
        .unwrap();
    let gw = listed
        .iter()
        .find(|r| r.kind == "Microsoft.ApiManagement/service")
        .expect("the service is listed");
    assert_eq!(gw.name, "gw");
    let id = e.get().await.id;
    e.set_identity("SystemAssigned").await.unwrap();
    e.coffer
        .delete_resource_group(&e.me, &e.sub, "coffer-rg")
        .await
        .unwrap();
    assert!(matches!(
        e.coffer
            .get_apim_service(&e.me, &e.sub, "coffer-rg", "gw")
            .await,
        Err(ManagementError::NotFound { .. })
    ));
    assert!(e.coffer.system_identity(&id).await.unwrap().is_none());
    assert!(e.coffer.gateway_config().await.unwrap().services.is_empty());
}

#[tokio::test]
async fn deleting_an_entity_takes_what_goes_with_it_or_is_refused() {
    let e = env().await;
    let (s, rg) = (e.sub.as_str(), "coffer-rg");
    let c = &e.coffer;
    let api = ApiInput {
        path: Some("echo".into()),
        service_url: Some("https://backend.test".into()),
        ..Default::default()
    };
    c.put_apim_api(&e.me, s, rg, "gw", "echo", api, None)
        .await
        .unwrap();
    let (product, _) = c
        .put_apim_product(
            &e.me,
            s,
            rg,
            "gw",
            "starter",
            ProductInput::default(),
            None,
            false,
        )
        .await
        .unwrap();
    c.link_apim_product_api(&e.me, s, rg, "gw", "starter", "echo", true)
        .await
        .unwrap();
    let scoped = SubscriptionInput {
        scope: Some("/products/starter".into()),
        ..Default::default()
    };
    c.put_apim_subscription(&e.me, s, rg, "gw", "sub1", scoped, None, false)
        .await
        .unwrap();

    // A stale ETag deletes nothing.
    let err = c
        .delete_apim_product(&e.me, s, rg, "gw", "starter", Some("\"stale\""))
        .await
        .unwrap_err();
    assert!(matches!(err, ManagementError::PreconditionFailed { .. }));
    assert!(
        c.get_apim_product(&e.me, s, rg, "gw", "starter")
            .await
            .is_ok()
    );

    // An API leaves the products that held it.
    assert!(
        c.delete_apim_api(&e.me, s, rg, "gw", "echo", Some("*"))
            .await
            .unwrap()
    );
    let held = c
        .list_apim_product_apis(&e.me, s, rg, "gw", "starter")
        .await
        .unwrap();
    assert!(held.is_empty());
    // A product takes the subscriptions scoped to it.
    assert!(
        c.delete_apim_product(&e.me, s, rg, "gw", "starter", Some(&product.etag))
            .await
            .unwrap()
    );
    assert!(
        c.list_apim_subscriptions(&e.me, s, rg, "gw")
            .await
            .unwrap()
            .is_empty()
    );

    // A certificate a backend names cannot go; once the backend is gone it can.
    let upload = CertificateEntityInput {
        key_vault: None,
        data: Some((pfx_b64(&["client.test"], false), None)),
    };
    c.put_apim_certificate(&e.me, s, rg, "gw", "client", upload, None)
        .await
        .unwrap();
    let backend = BackendInput {
        url: Some("https://backend.test".into()),
        protocol: Some("http".into()),
        title: None,
        description: None,
        validate_chain: None,
        validate_name: None,
        certificate_ids: Some(vec!["/certificates/client".into()]),
    };
    c.put_apim_backend(&e.me, s, rg, "gw", "b1", backend, None, false)
        .await
        .unwrap();
    let err = c
        .delete_apim_certificate(&e.me, s, rg, "gw", "client", Some("*"))
        .await
        .unwrap_err();
    assert!(message(&err).1.contains("used by backend 'b1'"), "{err:?}");
    assert_eq!(
        c.list_apim_certificates(&e.me, s, rg, "gw")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        c.delete_apim_backend(&e.me, s, rg, "gw", "b1", Some("*"))
            .await
            .unwrap()
    );
    assert!(
        c.delete_apim_certificate(&e.me, s, rg, "gw", "client", Some("*"))
            .await
            .unwrap()
    );
    assert!(
        !c.delete_apim_certificate(&e.me, s, rg, "gw", "client", Some("*"))
            .await
            .unwrap()
    );
    assert!(matches!(
        c.get_apim_certificate(&e.me, s, rg, "gw", "client").await,
        Err(ManagementError::NotFound { .. })
    ));
}
