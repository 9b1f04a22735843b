//! Certificate rotation: open connections keep theirs, new handshakes get the new one, and no
//! request fails while configurations are swapped under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use coffer_gateway::ListenerKind;

use crate::support::*;

const HOST: &str = "api.contoso.test";

#[tokio::test]
async fn a_kept_alive_connection_survives_a_new_certificate() {
    let pki = Pki::new();
    let (be, _) = backend(None).await;
    let url = format!("http://{be}");
    let (gw, _) = gateway(&pki, Duration::from_secs(5));
    let old = pki.leaf(&[HOST]);
    gw.apply(&config(
        1,
        vec![service("svc", vec![hostname(HOST, &old)], &url)],
    ));
    let addr = serve(
        Arc::clone(&gw),
        ListenerKind::Main,
        &pki.leaf(&["localhost"]),
    )
    .await;

    let mut held = connect(addr, Some(HOST)).await.unwrap();
    assert_eq!(held.leaf, leaf_of(&old));
    assert_eq!(held.get(HOST, "/users/1", &[]).await.0, 200);

    let new = pki.leaf(&[HOST]);
    gw.apply(&config(
        2,
        vec![service("svc", vec![hostname(HOST, &new)], &url)],
    ));
    assert_eq!(gw.generation(), Some(2));
    // The held connection goes on, on its old certificate.
    for _ in 0..3 {
        assert_eq!(held.get(HOST, "/users/1", &[]).await.0, 200);
    }
    // A new connection sees the new certificate.
    assert_eq!(connect(addr, Some(HOST)).await.unwrap().leaf, leaf_of(&new));
}

#[tokio::test]
async fn no_request_fails_while_certificates_rotate_under_load() {
    let pki = Pki::new();
    let (be, _) = backend(None).await;
    let url = format!("http://{be}");
    let (gw, _) = gateway(&pki, Duration::from_secs(5));
    let first = pki.leaf(&[HOST]);
    gw.apply(&config(
        1,
        vec![service("svc", vec![hostname(HOST, &first)], &url)],
    ));
    let addr = serve(
        Arc::clone(&gw),
        ListenerKind::Main,
        &pki.leaf(&["localhost"]),
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (stop, ok, failed) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
        workers.push(tokio::spawn(async move {
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                // Half the workers keep one connection, half open a new one each time.
                let result = async {
                    let mut c = connect(addr, Some(HOST)).await.map_err(|e| e.to_string())?;
                    for _ in 0..if w % 2 == 0 { 20 } else { 1 } {
                        let (s, _, _) = c
                            .request("GET", HOST, "/users/1", &[], empty())
                            .await
                            .map_err(|e| e.to_string())?;
                        if s != 200 {
                            return Err(format!("status {s}"));
                        }
                        n += 1;
                    }
                    Ok::<_, String>(())
                }
                .await;
                match result {
                    Ok(()) => ok.fetch_add(1, Ordering::SeqCst),
                    Err(e) => {
                        eprintln!("worker {w}: {e}");
                        failed.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
            n
        }));
    }
    let mut last = first;
    for generation in 2..=6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        last = pki.leaf(&[HOST]);
        gw.apply(&config(
            generation,
            vec![service("svc", vec![hostname(HOST, &last)], &url)],
        ));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.store(true, Ordering::SeqCst);
    let mut requests = 0;
    for w in workers {
        requests += w.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::SeqCst), 0);
    assert!(requests > 0 && ok.load(Ordering::SeqCst) > 0);
    assert_eq!(
        connect(addr, Some(HOST)).await.unwrap().leaf,
        leaf_of(&last)
    );
}
