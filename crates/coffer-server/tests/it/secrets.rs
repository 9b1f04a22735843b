//! Secrets over HTTPS with raw requests: the wire shapes and rules the SDK suites rely on.

use serde_json::{Value, json};

use crate::harness::{Server, url};

#[tokio::test]
async fn set_get_versions_paging_and_ids_follow_the_called_host() {
    let s = Server::start();
    let c = s.client();
    let t = s.token().await;
    let r = c
        .put(url(&s, "/secrets/Alpha"))
        .bearer_auth(&t)
        .json(&json!({"value": "v1", "contentType": "text/plain", "tags": {"k": "v"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first: Value = r.json().await.unwrap();
    let id1 = first["id"].as_str().unwrap().to_owned();
    assert!(id1.starts_with(&format!(
        "https://dev.vault.localhost:{}/secrets/Alpha/",
        s.port
    )));
    assert_eq!(
        first["attributes"]["recoveryLevel"],
        "Recoverable+Purgeable"
    );
    assert_eq!(first["attributes"]["recoverableDays"], 90);

    let second: Value = c
        .put(url(&s, "/secrets/alpha"))
        .bearer_auth(&t)
        .json(&json!({"value": "v2"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Names are case-insensitive; the latest (empty version segment) is the second value.
    let latest: Value = c
        .get(url(&s, "/secrets/ALPHA/"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(latest["value"], "v2");
    assert_eq!(latest["id"], second["id"]);
    let old: Value = c
        .get(format!("{id1}?api-version=7.6"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(old["value"], "v1");

    // 2016-10-01 has no recoverableDays.
    let r: Value = c
        .get(format!(
            "{}/secrets/alpha?api-version=2016-10-01",
            s.vault()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["attributes"].get("recoverableDays").is_none());

    for i in 0..5 {
        c.put(url(&s, &format!("/secrets/p{i}")))
            .bearer_auth(&t)
            .json(&json!({"value": "x"}))
            .send()
            .await
            .unwrap();
    }
    let mut next = Some(url(&s, "/secrets?maxresults=2"));
    let mut names = Vec::new();
    while let Some(link) = next {
        let page: Value = c
            .get(&link)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in page["value"].as_array().unwrap() {
            names.push(
                item["id"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            );
            assert!(item.get("value").is_none(), "lists never carry values");
        }
        next = page["nextLink"].as_str().map(str::to_owned);
    }
    // The display spelling follows the latest version.
    assert_eq!(names, ["alpha", "p0", "p1", "p2", "p3", "p4"]);

    // A disabled secret is refused with SecretDisabled; the date window is not enforced on get.
    let r = c
        .patch(url(&s, "/secrets/p0/"))
        .bearer_auth(&t)
        .json(&json!({"attributes": {"enabled": false, "exp": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(url(&s, "/secrets/p0"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["innererror"]["code"], "SecretDisabled");
    c.patch(url(&s, "/secrets/p0"))
        .bearer_auth(&t)
        .json(&json!({"attributes": {"enabled": true}}))
        .send()
        .await
        .unwrap();
    let r = c
        .get(url(&s, "/secrets/p0"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "an expired but enabled secret is still readable"
    );
}

#[tokio::test]
async fn soft_delete_recover_purge_backup_restore() {
    let s = Server::start();
    let c = s.client();
    let t = s.token().await;
    c.put(url(&s, "/secrets/d"))
        .bearer_auth(&t)
        .json(&json!({"value": "keep"}))
        .send()
        .await
        .unwrap();
    let backup: Value = c
        .post(url(&s, "/secrets/d/backup"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let blob = backup["value"].as_str().unwrap().to_owned();
    assert!(!blob.contains("keep"));

    let del: Value = c
        .delete(url(&s, "/secrets/d"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(del["recoveryId"], format!("{}/deletedsecrets/d", s.vault()));
    assert!(
        del["scheduledPurgeDate"].as_i64().unwrap() - del["deletedDate"].as_i64().unwrap()
            == 90 * 86400
    );
    let r = c
        .put(url(&s, "/secrets/d"))
        .bearer_auth(&t)
        .json(&json!({"value": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["error"]["innererror"]["code"],
        "ObjectIsDeletedButRecoverable"
    );
    assert_eq!(
        c.get(url(&s, "/secrets/d"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.get(url(&s, "/deletedsecrets/d"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c
        .post(url(&s, "/deletedsecrets/d/recover"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = c
        .get(url(&s, "/secrets/d"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["value"], "keep");

    // Restoring over the live name is a conflict; a tampered blob is a 400 that changes nothing.
    let r = c
        .post(url(&s, "/secrets/restore"))
        .bearer_auth(&t)
        .json(&json!({"value": blob}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    c.delete(url(&s, "/secrets/d"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let r = c
        .delete(url(&s, "/deletedsecrets/d"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let mut bad = blob.clone().into_bytes();
    let mid = bad.len() / 2;
    bad[mid] = if bad[mid] == b'A' { b'B' } else { b'A' };
    let r = c
        .post(url(&s, "/secrets/restore"))
        .bearer_auth(&t)
        .json(&json!({"value": String::from_utf8(bad).unwrap()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        c.get(url(&s, "/secrets/d"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = c
        .post(url(&s, "/secrets/restore"))
        .bearer_auth(&t)
        .json(&json!({"value": blob}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = c
        .get(url(&s, "/secrets/d"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["value"], "keep");
}
