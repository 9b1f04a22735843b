//! The proxy: routing, subscription keys, forwarded headers, streaming, errors, backend TLS.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use coffer_domain::gateway::GatewayBackend;
use coffer_gateway::ListenerKind;
use http_body_util::BodyExt as _;

use crate::support::*;

const HOST: &str = "api.contoso.test";

/// The gateway with one service `svc` on `api.contoso.test`, proxying to `backend_url`.
async fn setup(backend_url: &str, timeout: Duration) -> std::net::SocketAddr {
    let pki = Pki::new();
    let (gw, _) = gateway(&pki, timeout);
    let cert = pki.leaf(&[HOST]);
    gw.apply(&config(
        1,
        vec![service("svc", vec![hostname(HOST, &cert)], backend_url)],
    ));
    serve(gw, ListenerKind::Main, &pki.leaf(&["localhost"])).await
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn subscription_keys_by_header_and_query() {
    let (be, _) = backend(None).await;
    let addr = setup(&format!("http://{be}/base"), Duration::from_secs(5)).await;
    let mut c = connect(addr, Some(HOST)).await.unwrap();

    let (s, b) = c.get(HOST, "/echo/x", &[]).await;
    assert_eq!(s, 401);
    assert_eq!(json(&b)["statusCode"], 401);
    assert_eq!(
        json(&b)["message"],
        "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
    );
    let invalid = "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.";
    for bad in ["wrong", KEY_OFF] {
        let (s, b) = c
            .get(HOST, "/echo/x", &[("Ocp-Apim-Subscription-Key", bad)])
            .await;
        assert_eq!(
            (s, json(&b)["message"].as_str().unwrap()),
            (401, invalid),
            "{bad}"
        );
    }
    let (s, b) = c.get(HOST, "/echo/x?subscription-key=wrong", &[]).await;
    assert_eq!((s, json(&b)["message"].as_str().unwrap()), (401, invalid));

    // The key opens the API; neither its header nor its query parameter reaches the backend.
    let (s, b) = c
        .get(HOST, "/echo/x/y?a=1", &[("ocp-apim-subscription-key", KEY)])
        .await;
    assert_eq!(s, 200, "{b}");
    let seen = json(&b);
    assert_eq!(seen["uri"], "/base/x/y?a=1");
    assert!(seen["headers"].get("ocp-apim-subscription-key").is_none());
    let (s, b) = c
        .get(HOST, &format!("/echo/q?subscription-key={KEY2}&b=2"), &[])
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(json(&b)["uri"], "/base/q?b=2");
    // An open API needs no key.
    let (s, b) = c.get(HOST, "/users/42", &[]).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(json(&b)["uri"], "/base/42");
}

#[tokio::test]
async fn unknown_apis_operations_and_hosts_are_404_in_apims_shape() {
    let (be, _) = backend(None).await;
    let addr = setup(&format!("http://{be}"), Duration::from_secs(5)).await;
    let mut c = connect(addr, Some(HOST)).await.unwrap();
    for (host, path) in [
        (HOST, "/nothing/here"),
        (HOST, "/users/1/pets"),
        (HOST, "/users"),
        ("other.contoso.test", "/users/1"),
    ] {
        let (s, b) = c.get(host, path, &[]).await;
        assert_eq!(s, 404, "{host}{path}");
        assert_eq!(
            json(&b),
            serde_json::json!({"statusCode": 404, "message": "Resource not found"})
        );
    }
    let (s, _, b) = c
        .request("POST", HOST, "/users/1", &[], empty())
        .await
        .unwrap();
    assert_eq!((s, json(&b)["statusCode"].as_u64()), (404, Some(404)));
    // The service's default host is one of its names too.
    let (s, _) = c.get("svc.gateway.test", "/users/1", &[]).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn forwarded_headers_and_hop_by_hop_removal() {
    let (be, _) = backend(None).await;
    let addr = setup(&format!("http://{be}"), Duration::from_secs(5)).await;
    let mut c = connect(addr, Some(HOST)).await.unwrap();
    let (s, headers, b) = c
        .request(
            "GET",
            HOST,
            "/users/7",
            &[
                ("x-forwarded-for", "203.0.113.9"),
                ("connection", "x-client-hop"),
                ("x-client-hop", "1"),
                ("keep-alive", "timeout=9"),
                ("te", "trailers"),
                ("proxy-authorization", "Basic abc"),
                ("x-kept", "yes"),
            ],
            empty(),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let seen = &json(&b)["headers"];
    assert_eq!(seen["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "https");
    assert_eq!(seen["x-forwarded-host"], HOST);
    assert_eq!(seen["host"], be.to_string());
    assert_eq!(seen["x-kept"], "yes");
    for gone in [
        "x-client-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "upgrade",
    ] {
        assert!(seen.get(gone).is_none(), "{gone} reached the backend");
    }
    // And the backend's hop-by-hop headers stop at the gateway.
    assert!(headers.get("x-backend-hop").is_none());
    assert!(headers.get("keep-alive").is_none());
    assert_eq!(headers.get("x-backend-kept").unwrap(), "1");
}

#[tokio::test]
async fn an_unreachable_backend_is_502_and_a_slow_one_504() {
    // A port with nothing behind it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let addr = setup(&format!("http://{closed}"), Duration::from_secs(5)).await;
    let mut c = connect(addr, Some(HOST)).await.unwrap();
    let (s, b) = c.get(HOST, "/users/1", &[]).await;
    assert_eq!(
        (s, json(&b)["statusCode"].as_u64()),
        (502, Some(502)),
        "{b}"
    );

    let (be, _) = backend(None).await;
    let addr = setup(&format!("http://{be}"), Duration::from_millis(500)).await;
    let mut c = connect(addr, Some(HOST)).await.unwrap();
    let (s, b) = c
        .get(HOST, "/echo/slow", &[("Ocp-Apim-Subscription-Key", KEY)])
        .await;
    assert_eq!(
        (s, json(&b)["statusCode"].as_u64()),
        (504, Some(504)),
        "{b}"
    );
    // The connection still serves.
    assert_eq!(c.get(HOST, "/users/1", &[]).await.0, 200);
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    let (be, state) = backend(None).await;
    let addr = setup(&format!("http://{be}"), Duration::from_secs(5)).await;
    let mut c = connect(addr, Some(HOST)).await.unwrap();
    let liveness = Duration::from_secs(10);

    // Response: the first chunk reaches the client while the backend holds back the last.
    let req = hyper::Request::get("/echo/stream")
        .header("host", HOST)
        .header("Ocp-Apim-Subscription-Key", KEY)
        .body(empty())
        .unwrap();
    let resp = c.send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = tokio::time::timeout(liveness, body.frame())
        .await
        .expect("first chunk");
    assert_eq!(
        first.unwrap().unwrap().into_data().unwrap(),
        Bytes::from_static(b"first;")
    );
    state.release.notify_one();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, Bytes::from_static(b"last"));

    // Request: the backend sees the first chunk while the client holds back the rest.
    let (mut tx, upload) = http_body_util::channel::Channel::<Bytes, BoxError>::new(2);
    let req = hyper::Request::post("/echo/upload")
        .header("host", HOST)
        .header("Ocp-Apim-Subscription-Key", KEY)
        .body(upload.boxed_unsync())
        .unwrap();
    c.send.ready().await.unwrap();
    let pending = tokio::spawn(c.send.send_request(req));
    tx.send_data(Bytes::from(vec![b'a'; 64 * 1024]))
        .await
        .unwrap();
    tokio::time::timeout(liveness, state.got_first.notified())
        .await
        .expect("the backend saw the first chunk before the body ended");
    for _ in 0..16 {
        tx.send_data(Bytes::from(vec![b'b'; 64 * 1024]))
            .await
            .unwrap();
    }
    drop(tx);
    let resp = pending.await.unwrap().unwrap();
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, Bytes::from(format!("received {}", 17 * 64 * 1024)));
}

#[tokio::test]
async fn http2_clients_are_proxied_to_http1_backends() {
    let (be, _) = backend(None).await;
    let addr = setup(&format!("http://{be}"), Duration::from_secs(5)).await;
    let mut h2 = connect_h2(addr, HOST).await;
    let req = hyper::Request::get(format!("https://{HOST}/users/5?x=1"))
        .body(empty())
        .unwrap();
    let resp = h2.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(seen["uri"], "/5?x=1");
    assert_eq!(seen["headers"]["x-forwarded-host"], HOST);
}

#[tokio::test]
async fn a_backend_entity_supplies_the_client_certificate_and_trust() {
    let pki = Pki::new();
    let backend_cert = pki.leaf(&["127.0.0.1"]);
    let (be, state) = backend(Some(backend_tls(&backend_cert, Some(&pki.ca_der)))).await;
    let url = format!("https://{be}/api");
    let (gw, _) = gateway(&pki, Duration::from_secs(5));
    let host_cert = pki.leaf(&[HOST]);
    let client_cert = pki.leaf(&["gateway-client"]);
    let mut svc = service("svc", vec![hostname(HOST, &host_cert)], &url);
    let serve_addr;
    {
        // Without a backend entity: trusted (the instance CA), but no client certificate, so
        // the backend refuses the handshake.
        gw.apply(&config(1, vec![svc.clone()]));
        serve_addr = serve(
            Arc::clone(&gw),
            ListenerKind::Main,
            &pki.leaf(&["localhost"]),
        )
        .await;
        let mut c = connect(serve_addr, Some(HOST)).await.unwrap();
        assert_eq!(c.get(HOST, "/users/1", &[]).await.0, 502);
    }
    svc.backends = vec![GatewayBackend {
        id: "be".into(),
        url: format!("https://{be}"),
        validate_certificate_chain: true,
        validate_certificate_name: true,
        client_certificate: Some(Arc::clone(&client_cert)),
    }];
    gw.apply(&config(2, vec![svc.clone()]));
    let mut c = connect(serve_addr, Some(HOST)).await.unwrap();
    let (s, b) = c.get(HOST, "/users/1", &[]).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(json(&b)["uri"], "/api/1");
    assert_eq!(
        state.client_cert.lock().unwrap().clone(),
        Some(leaf_of(&client_cert))
    );

    // A backend whose certificate the gateway does not trust: refused unless validation is off.
    let stranger = Pki::new();
    let (be2, _) = backend(Some(backend_tls(&stranger.leaf(&["127.0.0.1"]), None))).await;
    let mut svc2 = service(
        "svc",
        vec![hostname(HOST, &host_cert)],
        &format!("https://{be2}"),
    );
    gw.apply(&config(3, vec![svc2.clone()]));
    assert_eq!(c.get(HOST, "/users/1", &[]).await.0, 502);
    svc2.backends = vec![GatewayBackend {
        id: "be2".into(),
        url: format!("https://{be2}"),
        validate_certificate_chain: false,
        validate_certificate_name: false,
        client_certificate: None,
    }];
    gw.apply(&config(4, vec![svc2]));
    assert_eq!(c.get(HOST, "/users/1", &[]).await.0, 200);
}

#[tokio::test]
async fn with_nothing_trusted_the_gateway_starts_and_https_backends_are_502() {
    let pki = Pki::new();
    let builtin = pki.leaf(&["*.gateway.test"]);
    let gw = coffer_gateway::Gateway::new(coffer_gateway::GatewayOptions {
        builtin: certified(&builtin),
        extra_roots: vec![],
        system_roots: false,
        backend_timeout: Duration::from_secs(5),
    })
    .expect("starts without any trusted root");
    let (be, _) = backend(Some(backend_tls(&pki.leaf(&["127.0.0.1"]), None))).await;
    let cert = pki.leaf(&[HOST]);
    gw.apply(&config(
        1,
        vec![service(
            "svc",
            vec![hostname(HOST, &cert)],
            &format!("https://{be}"),
        )],
    ));
    let addr = serve(Arc::new(gw), ListenerKind::Main, &pki.leaf(&["localhost"])).await;
    let mut c = connect(addr, Some(HOST)).await.unwrap();
    assert_eq!(c.get(HOST, "/users/1", &[]).await.0, 502);
}
