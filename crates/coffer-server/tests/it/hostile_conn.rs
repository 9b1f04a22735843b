//! Hostile connections: sockets that never finish a request are closed, and idle sockets beyond
//! the connection cap never lock out a client with a real request.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt as _;

use crate::harness::{Server, url};
use crate::raw::{closed_within, connect, connect_alpn, read_for, status_and_json};

/// Generous: the timeouts under test are 2 s; this only says "closed, not held for ever".
const CLOSED_WITHIN: Duration = Duration::from_secs(15);

#[tokio::test]
async fn idle_connections_beyond_the_cap_do_not_lock_out_a_client() {
    let s = Server::start_with(&[
        "--max-connections",
        "20",
        "--max-connections-per-address",
        "20",
    ]);
    let t = s.token().await;
    // Three times the cap: TLS up and silent, as many slow-loris clients would hold them.
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(connect(&s).await);
    }
    let started = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        s.client().get(url(&s, "/secrets")).bearer_auth(&t).send(),
    )
    .await
    .expect("a legitimate GET is answered while idle connections are held")
    .unwrap();
    assert_eq!(resp.status(), 200);
    eprintln!(
        "GET answered in {} ms with 60 idle connections against a cap of 20",
        started.elapsed().as_millis()
    );
    // The cap held: the idle connections that did not fit were closed by the server.
    let mut closed = 0;
    for c in &mut idle {
        if closed_within(c, Duration::from_millis(200)).await {
            closed += 1;
        }
    }
    assert!(
        closed >= 40,
        "only {closed} of 60 idle connections were closed"
    );
}

#[tokio::test]
async fn connections_that_never_finish_are_closed() {
    let s = Server::start_with(&[
        "--idle-timeout",
        "2",
        "--header-read-timeout",
        "2",
        "--body-idle-timeout",
        "2",
    ]);
    let t = s.token().await;
    let host = format!("Host: dev.vault.localhost:{}\r\n", s.port);
    let cases: Vec<(&str, &[u8], String)> = vec![
        ("TLS up, no bytes", b"http/1.1", String::new()),
        (
            "a partial request line",
            b"http/1.1",
            "GET /secr".to_owned(),
        ),
        (
            "headers never finished",
            b"http/1.1",
            format!("GET /healthz HTTP/1.1\r\n{host}X-A: 1\r\n"),
        ),
        ("HTTP/2 without the preface", b"h2", String::new()),
        (
            "HTTP/2 with only the preface",
            b"h2",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_owned(),
        ),
    ];
    for (what, alpn, bytes) in cases {
        let mut c = connect_alpn(&s, alpn).await;
        c.write_all(bytes.as_bytes()).await.unwrap();
        c.flush().await.unwrap();
        assert!(closed_within(&mut c, CLOSED_WITHIN).await, "{what}");
    }

    // One header line every second: each line is progress, the head never completes.
    let c = connect(&s).await;
    let (mut rd, mut wr) = tokio::io::split(c);
    let trickle = tokio::spawn(async move {
        let _ = wr
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: dev.vault.localhost\r\n")
            .await;
        for i in 0..30 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if wr
                .write_all(format!("X-{i}: v\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            let _ = wr.flush().await;
        }
    });
    let closed = tokio::time::timeout(CLOSED_WITHIN, async {
        use tokio::io::AsyncReadExt as _;
        let mut buf = [0u8; 256];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .is_ok();
    trickle.abort();
    assert!(closed, "one header line at a time");

    // A body that stops short of its Content-Length: 408 in the envelope, then closed.
    let mut c = connect(&s).await;
    c.write_all(
        format!(
            "PUT /secrets/slow?api-version=7.6 HTTP/1.1\r\n{host}Authorization: Bearer {t}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"val"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = read_for(&mut c, CLOSED_WITHIN).await;
    let (status, v) = status_and_json(&answer);
    assert_eq!(status, 408, "{answer}");
    assert_eq!(v["error"]["code"], "RequestTimeout");

    // Keep-alive: answered, then idle until closed.
    let mut c = connect(&s).await;
    c.write_all(format!("GET /healthz HTTP/1.1\r\n{host}\r\n").as_bytes())
        .await
        .unwrap();
    assert!(
        closed_within(&mut c, CLOSED_WITHIN).await,
        "idle keep-alive"
    );

    // Nothing was stored by the cut-off PUT.
    let r = s
        .client()
        .get(url(&s, "/secrets/slow"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
