//! Secrets: thin handlers from a routed call to the service, and the wire shapes of answers.

use axum::Json;
use axum::response::{IntoResponse, Response};
use coffer_domain::VaultOp;
use coffer_service::{ListPage, SecretInput, SecretUpdate, SecretView};
use coffer_wire::secrets::{
    AttributesIn, AttributesOut, BackupBlob, Page, SecretBundle, SecretItem, SecretSetParameters,
    SecretUpdateParameters,
};
use http::StatusCode;
use zeroize::Zeroizing;

use super::{Call, Ctx, misrouted};
use crate::ApiError;

pub(super) async fn handle(mut call: Call<'_>) -> Result<Response, ApiError> {
    let (app, op, version) = (call.app, call.route.op, call.route.version);
    let s = &call.session;
    let svc = |e| ApiError::from_service(e, app.settings());
    let resp = match op {
        VaultOp::SecretList => {
            let page = app
                .list_secrets(s, call.max, call.skiptoken())
                .await
                .map_err(svc)?;
            list_response(&call, "secrets", page, false)
        }
        VaultOp::SecretListVersions => {
            let name = call.name()?;
            let page = app
                .list_secret_versions(s, name, call.max, call.skiptoken())
                .await
                .map_err(svc)?;
            list_response(&call, &format!("secrets/{name}/versions"), page, true)
        }
        VaultOp::SecretGet => {
            let v = app
                .get_secret(s, call.name()?, version)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::SecretSet => {
            let p: SecretSetParameters = call.json().await?;
            let a = p.attributes.unwrap_or_default();
            let input = SecretInput {
                value: Zeroizing::new(p.value),
                content_type: p.content_type,
                tags: p.tags,
                enabled: a.enabled,
                nbf: a.nbf,
                exp: a.exp,
            };
            let v = app
                .set_secret(&call.session, call.name()?, input)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::SecretUpdate => {
            let p: SecretUpdateParameters = call.json().await?;
            let a: AttributesIn = p.attributes.unwrap_or_default();
            let upd = SecretUpdate {
                content_type: p.content_type,
                tags: p.tags,
                enabled: a.enabled,
                nbf: a.nbf,
                exp: a.exp,
            };
            let v = app
                .update_secret(&call.session, call.name()?, version, upd)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::SecretDelete => {
            let v = app.delete_secret(s, call.name()?).await.map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::SecretRestore => {
            let p: BackupBlob = call.json().await?;
            let v = app
                .restore_secret(&call.session, &p.value)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::SecretBackup => {
            let value = app.backup_secret(s, call.name()?).await.map_err(svc)?;
            Json(BackupBlob { value }).into_response()
        }
        VaultOp::SecretListDeleted => {
            let page = app
                .list_deleted_secrets(s, call.max, call.skiptoken())
                .await
                .map_err(svc)?;
            list_response(&call, "deletedsecrets", page, false)
        }
        VaultOp::SecretGetDeleted => {
            let v = app.get_deleted_secret(s, call.name()?).await.map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::SecretPurge => {
            app.purge_deleted_secret(s, call.name()?)
                .await
                .map_err(svc)?;
            StatusCode::NO_CONTENT.into_response()
        }
        VaultOp::SecretRecover => {
            let v = app
                .recover_deleted_secret(s, call.name()?)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        other => return Err(misrouted(other)),
    };
    Ok(resp)
}

fn attributes(ctx: &Ctx, v: &SecretView) -> AttributesOut {
    AttributesOut {
        enabled: v.attributes.enabled,
        nbf: v.attributes.not_before,
        exp: v.attributes.expires,
        created: v.attributes.created,
        updated: v.attributes.updated,
        recoverable_days: v
            .recoverable_days
            .filter(|_| ctx.api.has_recoverable_days()),
        recovery_level: v.recovery_level.to_owned(),
    }
}

fn deletion_fields(ctx: &Ctx, v: &SecretView) -> (Option<String>, Option<i64>, Option<i64>) {
    match &v.deletion {
        Some(d) => (
            Some(format!("{}/deletedsecrets/{}", ctx.base, v.name)),
            Some(d.deleted_date),
            Some(d.scheduled_purge_date),
        ),
        None => (None, None, None),
    }
}

fn bundle(ctx: &Ctx, v: SecretView) -> SecretBundle {
    let (recovery_id, deleted_date, scheduled_purge_date) = deletion_fields(ctx, &v);
    SecretBundle {
        recovery_id,
        deleted_date,
        scheduled_purge_date,
        attributes: attributes(ctx, &v),
        id: format!("{}/secrets/{}/{}", ctx.base, v.name, v.version),
        value: v.value.as_ref().map(|s| s.to_string()),
        content_type: v.content_type,
        tags: v.tags,
        // Managed secrets store their key's path; the id uses the host the client called.
        kid: v.kid.map(|k| {
            if k.starts_with('/') {
                format!("{}{k}", ctx.base)
            } else {
                k
            }
        }),
        managed: v.managed.then_some(true),
    }
}

fn item(ctx: &Ctx, v: SecretView, with_version: bool) -> SecretItem {
    let (recovery_id, deleted_date, scheduled_purge_date) = deletion_fields(ctx, &v);
    let id = if with_version {
        format!("{}/secrets/{}/{}", ctx.base, v.name, v.version)
    } else {
        format!("{}/secrets/{}", ctx.base, v.name)
    };
    SecretItem {
        recovery_id,
        deleted_date,
        scheduled_purge_date,
        attributes: attributes(ctx, &v),
        id,
        tags: v.tags,
        content_type: v.content_type,
        managed: v.managed.then_some(true),
    }
}

fn list_response(
    call: &Call<'_>,
    path: &str,
    page: ListPage<SecretView>,
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
