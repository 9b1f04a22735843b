//! Certificates: thin handlers from a routed call to the service, and the wire shapes of
//! answers (policies in snake_case as the REST spec has them).

use axum::Json;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use coffer_domain::VaultOp;
use coffer_service::{
    CertKeyProps, CertLifetimeAction, CertificateImport, CertificateInput, CertificateIssuer,
    CertificateOperation, CertificatePolicy, CertificateView, Contact, IssuerAdmin, IssuerRef,
    ListPage,
};
use coffer_wire::certificates as w;
use coffer_wire::secrets::{BackupBlob, Page};
use http::StatusCode;
use zeroize::Zeroizing;

use super::{Call, Ctx, misrouted};
use crate::ApiError;

pub(super) async fn handle(mut call: Call<'_>) -> Result<Response, ApiError> {
    let (app, op, version) = (call.app, call.route.op, call.route.version);
    let svc = |e| ApiError::from_service(e, app.settings());
    let resp = match op {
        VaultOp::CertificateCreate => {
            let p: w::CertificateCreateParameters = call.json().await?;
            let policy = p
                .policy
                .map(policy_in)
                .ok_or_else(|| ApiError::bad_parameter("Creating a certificate needs a policy."))?;
            let input = input(p.attributes, p.tags, p.preserve_cert_order);
            let name = call.name()?;
            let o = app
                .create_certificate(&call.session, name, policy, input)
                .await
                .map_err(svc)?;
            (StatusCode::ACCEPTED, Json(operation(&call.ctx, o))).into_response()
        }
        VaultOp::CertificateImport => {
            let p: w::CertificateImportParameters = call.json().await?;
            let i = CertificateImport {
                value: Zeroizing::new(p.value),
                password: p.pwd.map(Zeroizing::new),
                policy: p.policy.map(policy_in),
                input: input(p.attributes, p.tags, p.preserve_cert_order),
            };
            let v = app
                .import_certificate(&call.session, call.name()?, i)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::CertificateGet => {
            let v = app
                .get_certificate(&call.session, call.name()?, version)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::CertificateUpdate => {
            let p: w::CertificateUpdateParameters = call.json().await?;
            let v = app
                .update_certificate(
                    &call.session,
                    call.name()?,
                    version,
                    input(p.attributes, p.tags, None),
                    p.policy.map(policy_in),
                )
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::CertificateList => {
            let page = app
                .list_certificates(&call.session, call.max, call.skiptoken())
                .await
                .map_err(svc)?;
            list_response(&call, "certificates", page, false)
        }
        VaultOp::CertificateListVersions => {
            let name = call.name()?;
            let page = app
                .list_certificate_versions(&call.session, name, call.max, call.skiptoken())
                .await
                .map_err(svc)?;
            list_response(&call, &format!("certificates/{name}/versions"), page, true)
        }
        VaultOp::CertificateListDeleted => {
            let page = app
                .list_deleted_certificates(&call.session, call.max, call.skiptoken())
                .await
                .map_err(svc)?;
            list_response(&call, "deletedcertificates", page, false)
        }
        VaultOp::CertificateDelete => {
            let v = app
                .delete_certificate(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::CertificateGetDeleted => {
            let v = app
                .get_deleted_certificate(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::CertificateRecover => {
            let v = app
                .recover_deleted_certificate(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::CertificatePurge => {
            app.purge_deleted_certificate(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            StatusCode::NO_CONTENT.into_response()
        }
        VaultOp::CertificateBackup => {
            let value = app
                .backup_certificate(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            Json(BackupBlob { value }).into_response()
        }
        VaultOp::CertificateRestore => {
            let p: BackupBlob = call.json().await?;
            let v = app
                .restore_certificate(&call.session, &p.value)
                .await
                .map_err(svc)?;
            Json(bundle(&call.ctx, v)).into_response()
        }
        VaultOp::CertificatePolicyGet => {
            let name = call.name()?;
            let p = app
                .get_certificate_policy(&call.session, name)
                .await
                .map_err(svc)?;
            Json(policy_out(&call.ctx, name, p)).into_response()
        }
        VaultOp::CertificatePolicyUpdate => {
            let body: w::CertificatePolicy = call.json().await?;
            let name = call.name()?;
            let p = app
                .update_certificate_policy(&call.session, name, policy_in(body))
                .await
                .map_err(svc)?;
            Json(policy_out(&call.ctx, name, p)).into_response()
        }
        VaultOp::CertificatePendingGet => {
            let o = app
                .get_certificate_operation(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            Json(operation(&call.ctx, o)).into_response()
        }
        VaultOp::CertificatePendingUpdate => {
            let p: w::CertificateOperationUpdateParameter = call.json().await?;
            let o = app
                .cancel_certificate_operation(&call.session, call.name()?, p.cancellation_requested)
                .await
                .map_err(svc)?;
            Json(operation(&call.ctx, o)).into_response()
        }
        VaultOp::CertificatePendingDelete => {
            let o = app
                .delete_certificate_operation(&call.session, call.name()?)
                .await
                .map_err(svc)?;
            Json(operation(&call.ctx, o)).into_response()
        }
        VaultOp::CertificatePendingMerge => {
            let p: w::CertificateMergeParameters = call.json().await?;
            let mut x5c = Vec::with_capacity(p.x5c.len());
            for c in &p.x5c {
                x5c.push(B64.decode(c.trim()).map_err(|_| {
                    ApiError::bad_parameter("Each x5c entry must be a base64 DER certificate.")
                })?);
            }
            let v = app
                .merge_certificate(
                    &call.session,
                    call.name()?,
                    x5c,
                    input(p.attributes, p.tags, None),
                )
                .await
                .map_err(svc)?;
            (StatusCode::CREATED, Json(bundle(&call.ctx, v))).into_response()
        }
        VaultOp::CertificateContactsGet
        | VaultOp::CertificateContactsSet
        | VaultOp::CertificateContactsDelete => {
            let s = &call.session;
            let contacts = match op {
                VaultOp::CertificateContactsGet => app.get_certificate_contacts(s).await,
                VaultOp::CertificateContactsDelete => app.delete_certificate_contacts(s).await,
                _ => {
                    let body: w::Contacts = call.json().await?;
                    let list = body
                        .contacts
                        .into_iter()
                        .map(|c| Contact {
                            email: c.email,
                            name: c.name,
                            phone: c.phone,
                        })
                        .collect();
                    app.set_certificate_contacts(&call.session, list).await
                }
            }
            .map_err(svc)?;
            Json(w::Contacts {
                id: Some(format!("{}/certificates/contacts", call.ctx.base)),
                contacts: contacts
                    .into_iter()
                    .map(|c| w::Contact {
                        email: c.email,
                        name: c.name,
                        phone: c.phone,
                    })
                    .collect(),
            })
            .into_response()
        }
        VaultOp::CertificateIssuerList => {
            let list = app
                .list_certificate_issuers(&call.session)
                .await
                .map_err(svc)?;
            Json(Page {
                value: list
                    .into_iter()
                    .map(|i| w::IssuerItem {
                        id: format!("{}/certificates/issuers/{}", call.ctx.base, i.name),
                        provider: i.provider,
                    })
                    .collect(),
                next_link: None,
            })
            .into_response()
        }
        VaultOp::CertificateIssuerGet | VaultOp::CertificateIssuerDelete => {
            let (s, name) = (&call.session, call.name()?);
            let i = if op == VaultOp::CertificateIssuerGet {
                app.get_certificate_issuer(s, name).await
            } else {
                app.delete_certificate_issuer(s, name).await
            }
            .map_err(svc)?;
            Json(issuer_out(&call.ctx, i)).into_response()
        }
        VaultOp::CertificateIssuerSet | VaultOp::CertificateIssuerUpdate => {
            let body: w::IssuerBundle = call.json().await?;
            let name = call.name()?;
            let i = app
                .set_certificate_issuer(
                    &call.session,
                    name,
                    issuer_in(body),
                    op == VaultOp::CertificateIssuerUpdate,
                )
                .await
                .map_err(svc)?;
            Json(issuer_out(&call.ctx, i)).into_response()
        }
        other => return Err(misrouted(other)),
    };
    Ok(resp)
}

fn input(
    a: Option<w::CertificateAttributesIn>,
    tags: Option<std::collections::BTreeMap<String, String>>,
    preserve_order: Option<bool>,
) -> CertificateInput {
    CertificateInput {
        enabled: a.and_then(|a| a.enabled),
        tags,
        preserve_order,
    }
}

fn policy_in(p: w::CertificatePolicy) -> CertificatePolicy {
    let k = p.key_props.unwrap_or_default();
    let x = p.x509_props.unwrap_or_default();
    let sans = x.sans.unwrap_or_default();
    CertificatePolicy {
        key: CertKeyProps {
            kty: k.kty,
            key_size: k.key_size,
            crv: k.crv,
            exportable: k.exportable,
            reuse_key: k.reuse_key,
        },
        content_type: p.secret_props.and_then(|s| s.content_type),
        subject: x.subject,
        dns_names: sans.dns_names.unwrap_or_default(),
        emails: sans.emails.unwrap_or_default(),
        upns: sans.upns.unwrap_or_default(),
        uris: sans.uris.unwrap_or_default(),
        ip_addresses: sans.ip_addresses.unwrap_or_default(),
        ekus: x.ekus,
        key_usage: x.key_usage,
        validity_months: x.validity_months,
        lifetime_actions: p
            .lifetime_actions
            .unwrap_or_default()
            .into_iter()
            .map(|a| CertLifetimeAction {
                action: a.action.action_type,
                lifetime_percentage: a.trigger.lifetime_percentage,
                days_before_expiry: a.trigger.days_before_expiry,
            })
            .collect(),
        issuer: p.issuer.and_then(|i| {
            i.name.map(|name| IssuerRef {
                name,
                cty: i.cty,
                cert_transparency: i.cert_transparency,
            })
        }),
        enabled: p.attributes.and_then(|a| a.enabled),
        created: None,
        updated: None,
    }
}

fn non_empty(v: Vec<String>) -> Option<Vec<String>> {
    (!v.is_empty()).then_some(v)
}

fn policy_out(ctx: &Ctx, name: &str, p: CertificatePolicy) -> w::CertificatePolicy {
    let sans = w::SubjectAlternativeNames {
        emails: non_empty(p.emails),
        dns_names: non_empty(p.dns_names),
        upns: non_empty(p.upns),
        uris: non_empty(p.uris),
        ip_addresses: non_empty(p.ip_addresses),
    };
    let has_sans = sans.emails.is_some()
        || sans.dns_names.is_some()
        || sans.upns.is_some()
        || sans.uris.is_some()
        || sans.ip_addresses.is_some();
    w::CertificatePolicy {
        id: Some(format!("{}/certificates/{name}/policy", ctx.base)),
        key_props: Some(w::KeyProperties {
            exportable: p.key.exportable,
            kty: p.key.kty,
            key_size: p.key.key_size,
            reuse_key: p.key.reuse_key,
            crv: p.key.crv,
        }),
        secret_props: Some(w::SecretProperties {
            content_type: p.content_type,
        }),
        x509_props: Some(w::X509CertificateProperties {
            subject: p.subject,
            ekus: p.ekus,
            sans: has_sans.then_some(sans),
            key_usage: p.key_usage,
            validity_months: p.validity_months,
        }),
        lifetime_actions: Some(
            p.lifetime_actions
                .into_iter()
                .map(|a| w::LifetimeAction {
                    trigger: w::Trigger {
                        lifetime_percentage: a.lifetime_percentage,
                        days_before_expiry: a.days_before_expiry,
                    },
                    action: w::Action {
                        action_type: a.action,
                    },
                })
                .collect(),
        ),
        issuer: p.issuer.map(|i| w::IssuerParameters {
            name: Some(i.name),
            cty: i.cty,
            cert_transparency: i.cert_transparency,
        }),
        attributes: Some(w::PolicyAttributes {
            enabled: p.enabled,
            created: p.created,
            updated: p.updated,
        }),
    }
}

fn attributes(ctx: &Ctx, v: &CertificateView) -> w::CertificateAttributesOut {
    w::CertificateAttributesOut {
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

fn deletion_fields(ctx: &Ctx, v: &CertificateView) -> (Option<String>, Option<i64>, Option<i64>) {
    match &v.deletion {
        Some(d) => (
            Some(format!("{}/deletedcertificates/{}", ctx.base, v.name)),
            Some(d.deleted_date),
            Some(d.scheduled_purge_date),
        ),
        None => (None, None, None),
    }
}

fn bundle(ctx: &Ctx, v: CertificateView) -> w::CertificateBundle {
    let (recovery_id, deleted_date, scheduled_purge_date) = deletion_fields(ctx, &v);
    let attributes = attributes(ctx, &v);
    let (name, version) = (v.name.clone(), v.version.clone());
    w::CertificateBundle {
        recovery_id,
        deleted_date,
        scheduled_purge_date,
        id: format!("{}/certificates/{name}/{version}", ctx.base),
        kid: format!("{}/keys/{name}/{version}", ctx.base),
        sid: format!("{}/secrets/{name}/{version}", ctx.base),
        x5t: B64URL.encode(&v.x5t),
        policy: v.policy.map(|p| policy_out(ctx, &name, p)),
        cer: B64.encode(&v.cer),
        content_type: v.content_type,
        attributes,
        tags: v.tags,
        preserve_cert_order: v.preserve_order,
    }
}

fn item(ctx: &Ctx, v: CertificateView, with_version: bool) -> w::CertificateItem {
    let (recovery_id, deleted_date, scheduled_purge_date) = deletion_fields(ctx, &v);
    let id = if with_version {
        format!("{}/certificates/{}/{}", ctx.base, v.name, v.version)
    } else {
        format!("{}/certificates/{}", ctx.base, v.name)
    };
    w::CertificateItem {
        recovery_id,
        deleted_date,
        scheduled_purge_date,
        id,
        x5t: B64URL.encode(&v.x5t),
        attributes: attributes(ctx, &v),
        tags: v.tags,
    }
}

fn list_response(
    call: &Call<'_>,
    path: &str,
    page: ListPage<CertificateView>,
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

fn operation(ctx: &Ctx, o: CertificateOperation) -> w::CertificateOperation {
    w::CertificateOperation {
        id: format!("{}/certificates/{}/pending", ctx.base, o.name),
        issuer: w::IssuerParameters {
            name: Some(o.issuer),
            cty: None,
            cert_transparency: None,
        },
        csr: o.csr.map(|c| B64.encode(c)),
        cancellation_requested: o.cancellation_requested,
        status: o.status,
        status_details: o.status_details,
        error: o
            .error
            .map(|(code, message)| w::OperationError { code, message }),
        target: o
            .has_target
            .then(|| format!("{}/certificates/{}", ctx.base, o.name)),
        request_id: o.request_id,
    }
}

fn issuer_in(b: w::IssuerBundle) -> CertificateIssuer {
    let org = b.org_details.unwrap_or_default();
    CertificateIssuer {
        name: String::new(),
        provider: b.provider.unwrap_or_default(),
        account_id: b.credentials.and_then(|c| c.account_id),
        organization_id: org.id,
        admins: org
            .admin_details
            .unwrap_or_default()
            .into_iter()
            .map(|a| IssuerAdmin {
                first_name: a.first_name,
                last_name: a.last_name,
                email: a.email,
                phone: a.phone,
            })
            .collect(),
        enabled: b.attributes.and_then(|a| a.enabled).unwrap_or(true),
        created: 0,
        updated: 0,
    }
}

fn issuer_out(ctx: &Ctx, i: CertificateIssuer) -> w::IssuerBundle {
    w::IssuerBundle {
        id: Some(format!("{}/certificates/issuers/{}", ctx.base, i.name)),
        provider: Some(i.provider),
        credentials: i.account_id.map(|a| w::IssuerCredentials {
            account_id: Some(a),
            pwd: None,
        }),
        org_details: Some(w::OrganizationDetails {
            id: i.organization_id,
            admin_details: Some(
                i.admins
                    .into_iter()
                    .map(|a| w::AdministratorDetails {
                        first_name: a.first_name,
                        last_name: a.last_name,
                        email: a.email,
                        phone: a.phone,
                    })
                    .collect(),
            ),
        }),
        attributes: Some(w::IssuerAttributes {
            enabled: Some(i.enabled),
            created: Some(i.created),
            updated: Some(i.updated),
        }),
    }
}
