//! Coffer's own portability actions on a vault, for `coffer vault export` / `import`:
//! `POST {vaultId}/providers/Coffer.Portability/export` answers every live object with its
//! versions opened (base64), per-vault documents and settings; `.../import` writes a batch of
//! them (`checkOnly` first checks the names, `force` replaces objects in use).

use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_domain::Principal;
use coffer_service::{Coffer, PortableDoc, PortableObject, PortableVersion};
use coffer_wire::arm::portable as wire;
use http::Method;
use zeroize::Zeroizing;

use super::toolkit::{ArmRequest, Failure, ok};
use crate::error::arm::ArmError;

pub(super) async fn export(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    (subscription, rg, vault): (&str, &str, &str),
) -> Result<Response, Failure> {
    r.only(Method::POST)?;
    let e = app.export_vault(caller, subscription, rg, vault).await?;
    let st = e.settings;
    Ok(ok(wire::VaultExport {
        format: wire::EXPORT_FORMAT.to_owned(),
        vault: e.vault,
        settings: wire::VaultSettings {
            soft_delete_retention_in_days: st.retention_days,
            enable_purge_protection: st.purge_protection,
            tags: st.tags,
            sku: st.sku,
            default_action: st.default_action,
            bypass: st.bypass,
            ip_rules: st.ip_rules,
            public_network_access: if st.public_network_disabled {
                "Disabled"
            } else {
                "Enabled"
            }
            .to_owned(),
        },
        objects: e
            .objects
            .into_iter()
            .map(|o| wire::ExportObject {
                kind: o.kind,
                name: o.name,
                versions: o
                    .versions
                    .into_iter()
                    .map(|v| wire::ExportVersion {
                        version: v.version,
                        created: v.created,
                        updated: v.updated,
                        meta: B64.encode(&v.meta),
                        value: B64.encode(&v.value[..]),
                    })
                    .collect(),
            })
            .collect(),
        documents: e
            .docs
            .into_iter()
            .map(|d| wire::ExportDocument {
                kind: d.kind,
                suffix: d.suffix,
                body: B64.encode(&d.body),
            })
            .collect(),
        skipped: e.skipped,
    }))
}

pub(super) async fn import(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    (subscription, rg, vault): (&str, &str, &str),
) -> Result<Response, Failure> {
    r.only(Method::POST)?;
    let body: wire::ImportRequest = r.json_or_default()?;
    let decode = |what: &str, s: &str| {
        B64.decode(s)
            .map_err(|_| ArmError::invalid_content(format!("{what} is not base64.")))
    };
    let mut objects = Vec::with_capacity(body.objects.len());
    for o in body.objects {
        let mut versions = Vec::with_capacity(o.versions.len());
        for v in o.versions {
            versions.push(PortableVersion {
                meta: decode("A version's meta", &v.meta)?,
                value: Zeroizing::new(decode("A version's value", &v.value)?),
                version: v.version,
                created: v.created,
                updated: v.updated,
            });
        }
        objects.push(PortableObject {
            kind: o.kind,
            name: o.name,
            versions,
        });
    }
    let mut docs = Vec::with_capacity(body.documents.len());
    for d in body.documents {
        docs.push(PortableDoc {
            body: decode("A document body", &d.body)?,
            kind: d.kind,
            suffix: d.suffix,
        });
    }
    let out = app
        .import_vault(
            caller,
            subscription,
            rg,
            vault,
            objects,
            docs,
            body.force,
            body.check_only,
        )
        .await?;
    Ok(ok(wire::ImportResult {
        imported: out.imported,
        replaced: out.replaced,
    }))
}
