//! Which certificate a handshake gets, by SNI, on the main and the dedicated listener.

use std::time::Duration;

use coffer_gateway::ListenerKind;

use crate::support::*;

#[tokio::test]
async fn an_exact_name_beats_a_wildcard_and_default_hosts_get_the_built_in_certificate() {
    let pki = Pki::new();
    let (gw, builtin) = gateway(&pki, Duration::from_secs(5));
    let wildcard = pki.leaf(&["*.contoso.test"]);
    let exact = pki.leaf(&["api.contoso.test"]);
    gw.apply(&config(
        1,
        vec![service(
            "svc",
            vec![
                hostname("*.contoso.test", &wildcard),
                hostname("api.contoso.test", &exact),
            ],
            "http://127.0.0.1:9",
        )],
    ));
    let api_cert = pki.leaf(&["localhost"]);
    let addr = serve(gw, ListenerKind::Main, &api_cert).await;
    let leaf = |sni: &'static str| async move { connect(addr, Some(sni)).await.unwrap().leaf };
    assert_eq!(leaf("api.contoso.test").await, leaf_of(&exact));
    assert_eq!(leaf("API.Contoso.test").await, leaf_of(&exact));
    assert_eq!(leaf("www.contoso.test").await, leaf_of(&wildcard));
    assert_eq!(leaf("svc.gateway.test").await, leaf_of(&builtin));
    // Not a gateway name: the API's connection, as before.
    let mut other = connect(addr, Some("vault.localhost")).await.unwrap();
    assert_eq!(other.leaf, leaf_of(&api_cert));
    assert_eq!(
        other.get("vault.localhost", "/", &[]).await,
        (200, "api".into())
    );
    assert_eq!(leaf("a.b.contoso.test").await, leaf_of(&api_cert));
}

#[tokio::test]
async fn without_sni_the_default_binding_serves_else_the_api_or_the_built_in_certificate() {
    let pki = Pki::new();
    let api_cert = pki.leaf(&["localhost"]);
    let a = pki.leaf(&["a.contoso.test"]);
    let b = pki.leaf(&["b.contoso.test"]);

    // Two custom hosts, neither the default binding.
    let (gw, builtin) = gateway(&pki, Duration::from_secs(5));
    let hosts = vec![
        hostname("a.contoso.test", &a),
        hostname("b.contoso.test", &b),
    ];
    gw.apply(&config(
        1,
        vec![service("svc", hosts.clone(), "http://127.0.0.1:9")],
    ));
    let main = serve(gw.clone(), ListenerKind::Main, &api_cert).await;
    let dedicated = serve(gw.clone(), ListenerKind::Dedicated, &api_cert).await;
    assert_eq!(connect(main, None).await.unwrap().leaf, leaf_of(&api_cert));
    assert_eq!(
        connect(dedicated, None).await.unwrap().leaf,
        leaf_of(&builtin)
    );

    // b becomes the default SSL binding: it serves no-SNI connections on both listeners.
    let mut hosts = hosts;
    hosts[1].default_ssl_binding = true;
    gw.apply(&config(
        2,
        vec![service("svc", hosts, "http://127.0.0.1:9")],
    ));
    assert_eq!(connect(main, None).await.unwrap().leaf, leaf_of(&b));
    assert_eq!(connect(dedicated, None).await.unwrap().leaf, leaf_of(&b));

    // A single custom host is the dedicated listener's no-SNI binding even unmarked, but the
    // main listener keeps no-SNI connections for the API.
    gw.apply(&config(
        3,
        vec![service(
            "svc",
            vec![hostname("a.contoso.test", &a)],
            "http://127.0.0.1:9",
        )],
    ));
    assert_eq!(connect(dedicated, None).await.unwrap().leaf, leaf_of(&a));
    assert_eq!(connect(main, None).await.unwrap().leaf, leaf_of(&api_cert));
}

#[tokio::test]
async fn an_unknown_name_is_refused_on_the_gateway_listener() {
    let pki = Pki::new();
    let (gw, _) = gateway(&pki, Duration::from_secs(5));
    let a = pki.leaf(&["a.contoso.test"]);
    gw.apply(&config(
        1,
        vec![service(
            "svc",
            vec![hostname("a.contoso.test", &a)],
            "http://127.0.0.1:9",
        )],
    ));
    let api_cert = pki.leaf(&["localhost"]);
    let dedicated = serve(gw, ListenerKind::Dedicated, &api_cert).await;
    let err = match connect(dedicated, Some("unknown.contoso.test")).await {
        Ok(_) => panic!("an unknown name was served"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.to_ascii_lowercase().contains("unrecognisedname") || err.contains("UnrecognisedName"),
        "{err}"
    );
    assert_eq!(
        connect(dedicated, Some("a.contoso.test"))
            .await
            .unwrap()
            .leaf,
        leaf_of(&a)
    );
}

#[tokio::test]
async fn only_a_negotiate_host_asks_for_a_client_certificate() {
    let pki = Pki::new();
    let (gw, _) = gateway(&pki, Duration::from_secs(5));
    let cert = pki.leaf(&["*.contoso.test", "mtls.contoso.test"]);
    let mut mtls = hostname("mtls.contoso.test", &cert);
    mtls.negotiate_client_certificate = true;
    gw.apply(&config(
        1,
        vec![service(
            "svc",
            vec![mtls, hostname("plain.contoso.test", &cert)],
            "http://127.0.0.1:9",
        )],
    ));
    let api_cert = pki.leaf(&["localhost"]);
    let addr = serve(gw, ListenerKind::Main, &api_cert).await;
    let asked = connect(addr, Some("mtls.contoso.test")).await.unwrap();
    assert!(asked.asked_for_cert);
    let plain = connect(addr, Some("plain.contoso.test")).await.unwrap();
    assert!(!plain.asked_for_cert);
    assert!(
        !connect(addr, Some("svc.gateway.test"))
            .await
            .unwrap()
            .asked_for_cert
    );
    // Asked, but a client without a certificate is still served.
    let mut asked = asked;
    let (status, _) = asked.get("mtls.contoso.test", "/users/1", &[]).await;
    assert_eq!(status, 502, "routed to the (absent) backend, not refused");
}

#[tokio::test]
async fn a_key_that_does_not_load_skips_that_host_only() {
    let pki = Pki::new();
    let (gw, _) = gateway(&pki, Duration::from_secs(5));
    let good = pki.leaf(&["good.contoso.test"]);
    let mut broken = (*pki.leaf(&["bad.contoso.test"])).clone();
    broken.key_pkcs8_der = vec![0x30, 0x03, 0x02, 0x01, 0x00];
    broken.thumbprint = "BROKEN".into();
    let report = gw.apply(&config(
        1,
        vec![service(
            "svc",
            vec![
                hostname("bad.contoso.test", &std::sync::Arc::new(broken)),
                hostname("good.contoso.test", &good),
            ],
            "http://127.0.0.1:9",
        )],
    ));
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert!(report.skipped[0].contains("bad.contoso.test"));
    let api_cert = pki.leaf(&["localhost"]);
    let addr = serve(gw, ListenerKind::Main, &api_cert).await;
    assert_eq!(
        connect(addr, Some("good.contoso.test")).await.unwrap().leaf,
        leaf_of(&good)
    );
    assert_eq!(
        connect(addr, Some("bad.contoso.test")).await.unwrap().leaf,
        leaf_of(&api_cert)
    );
}
