//! Keys: thin handlers from a routed call to the service, and the wire shapes of answers. Binary
//! members arrive and leave as base64url without padding.

use axum::Json;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD as B64URL};
use coffer_crypto::keys::PublicKey;
use coffer_domain::VaultOp;
use coffer_service::{
    CryptoOutput, CryptoRequest, JwkInput, KeyAttributesInput, KeyCreate, KeyImport, KeyUpdate,
    KeyView, LifetimeAction, ListPage, ReleasePolicy, RotationPolicy,
};
use coffer_wire::keys::{
    GetRandomBytesRequest, JsonWebKeyOut, KeyAttributesIn, KeyAttributesOut, KeyBundle,
    KeyCreateParameters, KeyImportParameters, KeyItem, KeyLifetimeAction, KeyOperationResult,
    KeyOperationsParameters, KeyReleaseParameters, KeyReleasePolicy, KeyRotationPolicy,
    KeyRotationPolicyAttributes, KeySignParameters, KeyUpdateParameters, KeyVerifyParameters,
    KeyVerifyResult, LifetimeActionTrigger, LifetimeActionType, RandomBytes,
};
use coffer_wire::secrets::{BackupBlob, Page};
use http::StatusCode;
use zeroize::Zeroizing;

use super::{Call, Ctx, misrouted};
use crate::ApiError;

pub(super) async fn handle(mut call: Call<'_>) -> Result<Response, ApiError> {
    let (app, op, version) = (call.app, call.route.op, call.route.version);
    let svc = |e| ApiError::from_service(e, app.settings());
    let resp = match op {
        VaultOp::KeyCreate => {
            let p: KeyCreateParameters = call.json().await?;
            let c = KeyCreate {
                kty: p.kty,
                key_size: p.key_size,
                public_exponent: p.public_exponent,
                crv: p.crv,
                key_ops: p.key_ops,
                attributes: attributes_in(p.attributes),
                tags: p.tags,
                release_policy: p.release_policy.map(release_in),
            };
            let v = app
                .create_key(&call.session, call.name()?, c)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::KeyImport => {
            let p: KeyImportParameters = call.json().await?;
            let k = p.key;
            let jwk = JwkInput {
                kty: k.kty,
                key_ops: k.key_ops,
                crv: k.crv,
                n: b64("n", k.n.as_deref())?,
                e: b64("e", k.e.as_deref())?,
                d: secret("d", k.d.as_deref())?,
                p: secret("p", k.p.as_deref())?,
                q: secret("q", k.q.as_deref())?,
                dp: secret("dp", k.dp.as_deref())?,
                dq: secret("dq", k.dq.as_deref())?,
                qi: secret("qi", k.qi.as_deref())?,
                k: secret("k", k.k.as_deref())?,
                x: b64("x", k.x.as_deref())?,
                y: b64("y", k.y.as_deref())?,
            };
            let i = KeyImport {
                hsm: p.hsm,
                key: jwk,
                attributes: attributes_in(p.attributes),
                tags: p.tags,
                release_policy: p.release_policy.map(release_in),
            };
            let v = app
                .import_key(&call.session, call.name()?, i)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::KeyGet => {
            let v = app
                .get_key(&call.session, call.name()?, version)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::KeyUpdate => {
            let p: KeyUpdateParameters = call.json().await?;
            let u = KeyUpdate {
                key_ops: p.key_ops,
                attributes: attributes_in(p.attributes),
                tags: p.tags,
                release_policy: p.release_policy.map(release_in),
            };
            let v = app
                .update_key(&call.session, call.name()?, version, u)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::KeyRotate => {
            let v = app
                .rotate_key(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::KeyList => {
            let page = app
                .list_keys(&call.session, call.max, call.skiptoken())
                .await
                .map_err(svc)?;
            list_response(&call, "keys", page, false)
        }
        VaultOp::KeyListVersions => {
            let name = call.name()?;
            let page = app
                .list_key_versions(&call.session, name, call.max, call.skiptoken())
                .await
                .map_err(svc)?;
            list_response(&call, &format!("keys/{name}/versions"), page, true)
        }
        VaultOp::KeyListDeleted => {
            let page = app
                .list_deleted_keys(&call.session, call.max, call.skiptoken())
                .await
                .map_err(svc)?;
            list_response(&call, "deletedkeys", page, false)
        }
        VaultOp::KeyDelete => {
            let v = app
                .delete_key(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::KeyGetDeleted => {
            let v = app
                .get_deleted_key(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::KeyRecover => {
            let v = app
                .recover_deleted_key(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::KeyPurge => {
            app.purge_deleted_key(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            StatusCode::NO_CONTENT.into_response()
        }
        VaultOp::KeyBackup => {
            let value = app
                .backup_key(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            Json(BackupBlob { value }).into_response()
        }
        VaultOp::KeyRestore => {
            let p: BackupBlob = call.json().await?;
            let v = app
                .restore_key(&call.session, &p.value)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::KeyEncrypt | VaultOp::KeyDecrypt | VaultOp::KeyWrap | VaultOp::KeyUnwrap => {
            let p: KeyOperationsParameters = call.json().await?;
            let r = CryptoRequest {
                alg: p.alg,
                value: secret("value", Some(&p.value))?.unwrap_or_default(),
                iv: b64("iv", p.iv.as_deref())?,
                aad: b64("aad", p.aad.as_deref())?,
                tag: b64("tag", p.tag.as_deref())?,
            };
            let (s, name) = (&call.session, call.name()?);
            let out = match op {
                VaultOp::KeyEncrypt => app.encrypt(s, name, version, r).await,
                VaultOp::KeyDecrypt => app.decrypt(s, name, version, r).await,
                VaultOp::KeyWrap => app.wrap_key(s, name, version, r).await,
                _ => app.unwrap_key(s, name, version, r).await,
            }
            .map_err(svc)?;
            Json(operation_result(&call.ctx, out)).into_response()
        }
        VaultOp::KeySign => {
            let p: KeySignParameters = call.json().await?;
            let digest = b64("value", Some(&p.value))?.unwrap_or_default();
            let out = app
                .sign(&call.session, call.name()?, version, &p.alg, digest)
                .await
                .map_err(svc)?;
            Json(operation_result(&call.ctx, out)).into_response()
        }
        VaultOp::KeyVerify => {
            let p: KeyVerifyParameters = call.json().await?;
            let digest = b64("digest", Some(&p.digest))?.unwrap_or_default();
            let sig = b64("value", Some(&p.value))?.unwrap_or_default();
            let ok = app
                .verify(&call.session, call.name()?, version, &p.alg, digest, sig)
                .await
                .map_err(svc)?;
            Json(KeyVerifyResult { value: ok }).into_response()
        }
        VaultOp::KeyRelease => {
            let _: KeyReleaseParameters = call.json().await?;
            app.release_key(&call.session, call.name()?, version)
                .await
                .map_err(svc)?;
            StatusCode::NO_CONTENT.into_response()
        }
        VaultOp::KeyAttestationGet => {
            app.key_attestation(&call.session, call.name()?, version)
                .await
                .map_err(svc)?;
            StatusCode::NO_CONTENT.into_response()
        }
        VaultOp::KeyRotationPolicyGet => {
            let name = call.name()?;
            let p = app
                .get_rotation_policy(&call.session, name)
                .await
                .map_err(svc)?;
            Json(policy_out(&call.ctx, name, p)).into_response()
        }
        VaultOp::KeyRotationPolicySet => {
            let body: KeyRotationPolicy = call.json().await?;
            let name = call.name()?;
            let p = app
                .set_rotation_policy(&call.session, name, policy_in(body))
                .await
                .map_err(svc)?;
            Json(policy_out(&call.ctx, name, p)).into_response()
        }
        VaultOp::RandomBytesGet => {
            let p: GetRandomBytesRequest = call.json().await?;
            let bytes = app
                .random_bytes(&call.session, p.count)
                .await
                .map_err(svc)?;
            Json(RandomBytes {
                value: B64URL.encode(bytes),
            })
            .into_response()
        }
        other => return Err(misrouted(other)),
    };
    Ok(resp)
}

/// Decodes a base64url member (with or without padding); a bad one is a 400 naming it.
fn b64(member: &str, v: Option<&str>) -> Result<Option<Vec<u8>>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    let decoded = if v.ends_with('=') {
        URL_SAFE.decode(v)
    } else {
        B64URL.decode(v)
    };
    decoded.map(Some).map_err(|_| {
        ApiError::bad_parameter(format!("The '{member}' member is not valid base64url."))
    })
}

fn secret(member: &str, v: Option<&str>) -> Result<Option<Zeroizing<Vec<u8>>>, ApiError> {
    Ok(b64(member, v)?.map(Zeroizing::new))
}

fn attributes_in(a: Option<KeyAttributesIn>) -> KeyAttributesInput {
    let a = a.unwrap_or_default();
    KeyAttributesInput {
        enabled: a.enabled,
        nbf: a.nbf,
        exp: a.exp,
        exportable: a.exportable,
    }
}

fn release_in(p: KeyReleasePolicy) -> ReleasePolicy {
    ReleasePolicy {
        content_type: p.content_type,
        immutable: p.immutable,
        data: p.data,
    }
}

fn release_out(p: ReleasePolicy) -> KeyReleasePolicy {
    KeyReleasePolicy {
        content_type: p.content_type,
        immutable: p.immutable,
        data: p.data,
    }
}

fn kid(ctx: &Ctx, name: &str, version: &str) -> String {
    format!("{}/keys/{name}/{version}", ctx.base)
}

fn attributes(ctx: &Ctx, v: &KeyView) -> KeyAttributesOut {
    KeyAttributesOut {
        enabled: v.attributes.enabled,
        nbf: v.attributes.not_before,
        exp: v.attributes.expires,
        created: v.attributes.created,
        updated: v.attributes.updated,
        recoverable_days: v
            .recoverable_days
            .filter(|_| ctx.api.has_recoverable_days()),
        recovery_level: v.recovery_level.to_owned(),
        exportable: v.exportable,
    }
}

fn deletion_fields(ctx: &Ctx, v: &KeyView) -> (Option<String>, Option<i64>, Option<i64>) {
    match &v.deletion {
        Some(d) => (
            Some(format!("{}/deletedkeys/{}", ctx.base, v.name)),
            Some(d.deleted_date),
            Some(d.scheduled_purge_date),
        ),
        None => (None, None, None),
    }
}

fn jwk(ctx: &Ctx, v: &KeyView) -> JsonWebKeyOut {
    let mut k = JsonWebKeyOut {
        kid: kid(ctx, &v.name, &v.version),
        kty: v.kty.clone(),
        key_ops: v.key_ops.clone(),
        n: None,
        e: None,
        crv: None,
        x: None,
        y: None,
    };
    match &v.public {
        PublicKey::Rsa { n, e } => {
            k.n = Some(B64URL.encode(n));
            k.e = Some(B64URL.encode(e));
        }
        PublicKey::Ec { curve, x, y } => {
            k.crv = Some(curve.as_str().to_owned());
            k.x = Some(B64URL.encode(x));
            k.y = Some(B64URL.encode(y));
        }
        PublicKey::Oct { .. } => {}
    }
    k
}

fn bundle(ctx: &Ctx, v: KeyView) -> KeyBundle {
    let (recovery_id, deleted_date, scheduled_purge_date) = deletion_fields(ctx, &v);
    KeyBundle {
        recovery_id,
        deleted_date,
        scheduled_purge_date,
        key: jwk(ctx, &v),
        attributes: attributes(ctx, &v),
        managed: v.managed.then_some(true),
        release_policy: v.release_policy.map(release_out),
        tags: v.tags,
    }
}

fn item(ctx: &Ctx, v: KeyView, with_version: bool) -> KeyItem {
    let (recovery_id, deleted_date, scheduled_purge_date) = deletion_fields(ctx, &v);
    let kid = if with_version {
        kid(ctx, &v.name, &v.version)
    } else {
        format!("{}/keys/{}", ctx.base, v.name)
    };
    KeyItem {
        recovery_id,
        deleted_date,
        scheduled_purge_date,
        kid,
        attributes: attributes(ctx, &v),
        managed: v.managed.then_some(true),
        tags: v.tags,
    }
}

fn list_response(
    call: &Call<'_>,
    path: &str,
    page: ListPage<KeyView>,
    with_version: bool,
) -> Response {
    Json(Page {
        next_link: call.next_link(path, page.skiptoken),
        value: page
            .items
            .into_iter()
            .map(|v| item(&call.ctx, v, with_version))
            .collect(),
    })
    .into_response()
}

fn operation_result(ctx: &Ctx, o: CryptoOutput) -> KeyOperationResult {
    KeyOperationResult {
        kid: kid(ctx, &o.name, &o.version),
        value: B64URL.encode(&o.value[..]),
        iv: o.iv.map(|v| B64URL.encode(v)),
        tag: o.tag.map(|v| B64URL.encode(v)),
        aad: o.aad.map(|v| B64URL.encode(v)),
    }
}

fn policy_in(p: KeyRotationPolicy) -> RotationPolicy {
    RotationPolicy {
        lifetime_actions: p
            .lifetime_actions
            .into_iter()
            .map(|a| LifetimeAction {
                action: a.action.kind,
                time_after_create: a.trigger.time_after_create,
                time_before_expiry: a.trigger.time_before_expiry,
            })
            .collect(),
        expiry_time: p.attributes.and_then(|a| a.expiry_time),
        created: None,
        updated: None,
    }
}

fn policy_out(ctx: &Ctx, name: &str, p: RotationPolicy) -> KeyRotationPolicy {
    KeyRotationPolicy {
        id: Some(format!("{}/keys/{name}/rotationpolicy", ctx.base)),
        lifetime_actions: p
            .lifetime_actions
            .into_iter()
            .map(|a| KeyLifetimeAction {
                trigger: LifetimeActionTrigger {
                    time_after_create: a.time_after_create,
                    time_before_expiry: a.time_before_expiry,
                },
                action: LifetimeActionType { kind: a.action },
            })
            .collect(),
        attributes: Some(KeyRotationPolicyAttributes {
            expiry_time: p.expiry_time,
            created: p.created,
            updated: p.updated,
        }),
    }
}
