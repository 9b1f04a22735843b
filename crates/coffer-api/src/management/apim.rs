//! `Microsoft.ApiManagement` routes: services (PUT answered synchronously, 201 created / 200
//! updated, `provisioningState: Succeeded`; the built-in proxy host name listed first), and their
//! child entities with ETags (`apis` + `operations`, `products` + their APIs, `subscriptions` with
//! `listSecrets` and key regeneration, `backends`, `certificates` with `refreshSecret`). Success
//! codes follow what `azure-mgmt-apimanagement` accepts per operation (an API DELETE must not be
//! 200).

use axum::response::{IntoResponse, Response};
use coffer_domain::Principal;
use coffer_service::Coffer;
use coffer_service::apim::{
    APIM_SERVICE_TYPE, ApiInput, ApiView, ApimIdentityInput, ApimServiceInput, ApimServiceView,
    BackendInput, BackendView, CertificateEntityInput, CertificateEntityView, HostnameInput,
    HostnameView, OperationInput, OperationView, ProductInput, ProductView, SubscriptionInput,
    SubscriptionView,
};
use coffer_wire::arm::apim::{
    ApiPropertiesIn, ApimServiceIn, BackendPropertiesIn, CertificatePropertiesIn, EntityIn,
    OperationPropertiesIn, ProductPropertiesIn, SubscriptionPropertiesIn,
};
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::resources::tags;
use super::toolkit::{ArmRequest, Failure, ok, put_answer, with_etag};
use super::{ProviderScope, no_route};

type Svc<'a> = (&'a str, &'a str, &'a str);

pub(super) async fn route(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    scope: &ProviderScope,
) -> Result<Response, Failure> {
    let s = scope.subscription.as_str();
    let name = |i: usize| scope.name(r, i);
    match (scope.resource_group.as_deref(), scope.tail(r).as_slice()) {
        (rg, ["service"]) => {
            r.only(Method::GET)?;
            let paging = r.paging()?;
            let list = app.list_apim_services(caller, s, rg).await?;
            let items = list.iter().map(service_json).collect();
            Ok(ok(paging.page(r, items, |v: &Value| {
                v["id"].as_str().unwrap_or_default().to_ascii_lowercase()
            })))
        }
        (None, ["checknameavailability"]) => {
            r.only(Method::POST)?;
            let body: Value = r.json_or_default()?;
            let n = body["name"].as_str().unwrap_or_default();
            let free = app.apim_name_available(n).await?;
            Ok(ok(json!({
                "nameAvailable": free,
                "reason": if free { Value::Null } else { "AlreadyExists".into() },
                "message": if free { String::new() } else { format!("{n} is already in use.") },
            })))
        }
        (Some(rg), ["service", _]) => service_routes(app, caller, r, (s, rg, name(1))).await,
        (Some(rg), ["service", _, rest @ ..]) => {
            entity_routes(app, caller, r, (s, rg, name(1)), rest, |i| name(2 + i)).await
        }
        _ => Err(no_route(r).into()),
    }
}

fn service_input(r: &ArmRequest) -> Result<ApimServiceInput, Failure> {
    let b: ApimServiceIn = r.json_or_default()?;
    let props = b.properties.unwrap_or_default();
    // `"identity": null` changes nothing, like an absent identity (the CLI's whole-resource PUT).
    let identity = b.identity.flatten().map(|i| ApimIdentityInput {
        kind: i.kind.unwrap_or_else(|| "None".to_owned()),
        user_assigned: i
            .user_assigned_identities
            .map(|m| m.into_keys().collect())
            .unwrap_or_default(),
    });
    let hostnames = props.hostname_configurations.map(|list| {
        list.into_iter()
            .filter(|h| {
                !h.certificate_source
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case("BuiltIn"))
            })
            .map(|h| HostnameInput {
                kind: h.kind.unwrap_or_else(|| "Proxy".to_owned()),
                host_name: h.host_name.unwrap_or_default(),
                key_vault_id: h.key_vault_id,
                identity_client_id: h.identity_client_id,
                encoded_certificate: h.encoded_certificate,
                certificate_password: h.certificate_password,
                default_ssl_binding: h.default_ssl_binding.unwrap_or(false),
                negotiate_client_certificate: h.negotiate_client_certificate.unwrap_or(false),
            })
            .collect()
    });
    let legacy_tls = props
        .custom_properties
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, v)| {
            let k = k.to_ascii_lowercase();
            (k.ends_with(".tls10") || k.ends_with(".tls11") || k.ends_with(".ssl30"))
                && match v {
                    Value::Bool(b) => *b,
                    Value::String(s) => s.eq_ignore_ascii_case("true"),
                    _ => false,
                }
        })
        .map(|(k, _)| k)
        .collect();
    Ok(ApimServiceInput {
        location: b.location,
        tags: b.tags.map(tags),
        sku_name: b.sku.as_ref().and_then(|s| s.name.clone()),
        sku_capacity: b.sku.as_ref().and_then(|s| s.capacity),
        publisher_email: props.publisher_email,
        publisher_name: props.publisher_name,
        identity,
        hostnames,
        legacy_tls,
    })
}

async fn service_routes(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    (s, rg, n): Svc<'_>,
) -> Result<Response, Failure> {
    match r.method {
        Method::PUT => {
            let input = service_input(r)?;
            let (v, created) = app.put_apim_service(caller, s, rg, n, input).await?;
            Ok(put_answer(created, service_json(&v)))
        }
        Method::PATCH => {
            let input = service_input(r)?;
            let v = app.patch_apim_service(caller, s, rg, n, input).await?;
            Ok(ok(service_json(&v)))
        }
        Method::GET => Ok(ok(service_json(
            &app.get_apim_service(caller, s, rg, n).await?,
        ))),
        Method::DELETE => Ok(if app.delete_apim_service(caller, s, rg, n).await? {
            StatusCode::OK
        } else {
            StatusCode::NO_CONTENT
        }
        .into_response()),
        _ => Err(r.method_not_allowed().into()),
    }
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn hostname_json(h: &HostnameView) -> Value {
    json!({
        "type": h.kind,
        "hostName": h.host_name,
        "keyVaultId": h.key_vault_id,
        "identityClientId": h.identity_client_id,
        "encodedCertificate": null,
        "negotiateClientCertificate": h.negotiate_client_certificate,
        "certificate": h.thumbprint.as_ref().map(|t| json!({
            "expiry": h.expiry.map(rfc3339),
            "thumbprint": t,
            "subject": h.subject,
        })),
        "defaultSslBinding": h.default_ssl_binding,
        "certificateSource": h.certificate_source,
        "certificateStatus": h.certificate_status,
        "certificateStatusReason": h.status_reason,
    })
}

fn service_json(v: &ApimServiceView) -> Value {
    let mut hostnames = vec![json!({
        "type": "Proxy",
        "hostName": v.default_host,
        "negotiateClientCertificate": false,
        "defaultSslBinding": !v.hostnames.iter().any(|h| h.default_ssl_binding),
        "certificateSource": "BuiltIn",
    })];
    hostnames.extend(v.hostnames.iter().map(hostname_json));
    let mut identity = json!({ "type": v.identity_type });
    if let Some(p) = &v.principal_id {
        identity["principalId"] = p.clone().into();
    }
    if v.identity_type != "None" {
        identity["tenantId"] = v.tenant_id.clone().into();
    }
    if !v.user_identities.is_empty() {
        identity["userAssignedIdentities"] = v
            .user_identities
            .iter()
            .map(|u| {
                (
                    u.resource_id.clone(),
                    json!({"principalId": u.principal_id, "clientId": u.client_id}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    // A service without identity shows none at all, as API Management does: the CLI's
    // `--enable-managed-identity true` adds one only when GET showed none.
    let identity = if v.identity_type == "None" {
        Value::Null
    } else {
        identity
    };
    json!({
        "id": v.id,
        "name": v.name,
        "type": APIM_SERVICE_TYPE,
        "location": v.location,
        "tags": v.tags,
        "sku": {"name": v.sku_name, "capacity": v.sku_capacity},
        "identity": identity,
        "properties": {
            "publisherEmail": v.publisher_email,
            "publisherName": v.publisher_name,
            "notificationSenderEmail": "apimgmt-noreply@mail.windowsazure.com",
            "provisioningState": "Succeeded",
            "targetProvisioningState": "",
            "createdAtUtc": rfc3339(v.created),
            "gatewayUrl": v.gateway_url,
            "hostnameConfigurations": hostnames,
            "publicIPAddresses": ["127.0.0.1"],
            "virtualNetworkType": "None",
            "customProperties": {},
            "disableGateway": false,
            "enableClientCertificate": false,
            "publicNetworkAccess": "Enabled",
            "legacyPortalStatus": "Enabled",
            "developerPortalStatus": "Enabled",
            "platformVersion": "stv2",
            "natGatewayState": "Disabled",
        },
    })
}

/// The body's `properties` as `P` (default when absent).
fn props<P: DeserializeOwned + Default>(r: &ArmRequest) -> Result<P, Failure> {
    let b: EntityIn<P> = r.json_or_default()?;
    Ok(b.properties.unwrap_or_default())
}

fn if_match(r: &ArmRequest) -> Option<&str> {
    r.header("if-match")
}

fn entity_answer(status: StatusCode, etag: &str, body: Value) -> Response {
    with_etag((status, axum::Json(body)).into_response(), etag)
}

fn put_entity(created: bool, etag: &str, body: Value) -> Response {
    entity_answer(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        etag,
        body,
    )
}

fn deleted(existed: bool) -> Response {
    if existed {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    }
    .into_response()
}

fn list_of(items: Vec<Value>) -> Response {
    ok(json!({ "value": items, "count": items.len() }))
}

fn child_id(svc_id: &str, rest: &str) -> String {
    format!("{svc_id}/{rest}")
}

async fn entity_routes<'a>(
    app: &Coffer,
    caller: &Principal,
    r: &'a ArmRequest,
    svc: Svc<'_>,
    rest: &[&str],
    name: impl Fn(usize) -> &'a str,
) -> Result<Response, Failure> {
    let (s, rg, n) = svc;
    let base = format!("/subscriptions/{s}/resourceGroups/{rg}/providers/{APIM_SERVICE_TYPE}/{n}");
    let im = if_match(r);
    match rest {
        ["apis"] => {
            r.only(Method::GET)?;
            let list = app.list_apim_apis(caller, s, rg, n).await?;
            Ok(list_of(list.iter().map(|a| api_json(&base, a)).collect()))
        }
        ["apis", _] => {
            // `az apim api import --api-revision` names `{id};rev={n}`; revisions are not kept.
            let id = name(1).split(';').next().unwrap_or_default();
            match r.method {
                Method::PUT => {
                    let p: ApiPropertiesIn = props(r)?;
                    let (v, created) = app
                        .put_apim_api(caller, s, rg, n, id, api_input(p), im)
                        .await?;
                    Ok(put_entity(created, &v.etag, api_json(&base, &v)))
                }
                Method::PATCH => {
                    let p: ApiPropertiesIn = props(r)?;
                    let v = app
                        .patch_apim_api(caller, s, rg, n, id, api_input(p), im)
                        .await?;
                    Ok(entity_answer(StatusCode::OK, &v.etag, api_json(&base, &v)))
                }
                Method::GET | Method::HEAD => {
                    let v = app.get_apim_api(caller, s, rg, n, id).await?;
                    Ok(entity_answer(StatusCode::OK, &v.etag, api_json(&base, &v)))
                }
                Method::DELETE => {
                    app.delete_apim_api(caller, s, rg, n, id, im).await?;
                    // The SDK's API delete accepts 202 and 204 only.
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                _ => Err(r.method_not_allowed().into()),
            }
        }
        ["apis", _, "operations"] => {
            r.only(Method::GET)?;
            let list = app.list_apim_operations(caller, s, rg, n, name(1)).await?;
            Ok(list_of(
                list.iter().map(|o| operation_json(&base, o)).collect(),
            ))
        }
        ["apis", _, "operations", _] => {
            let (api, id) = (name(1), name(3));
            match r.method {
                Method::PUT | Method::PATCH => {
                    let p: OperationPropertiesIn = props(r)?;
                    let input = OperationInput {
                        display_name: p.display_name,
                        method: p.method,
                        url_template: p.url_template,
                        description: p.description,
                    };
                    let patch = r.method == Method::PATCH;
                    let (v, created) = app
                        .put_apim_operation(caller, s, rg, n, api, id, input, im, patch)
                        .await?;
                    Ok(put_entity(
                        created && !patch,
                        &v.etag,
                        operation_json(&base, &v),
                    ))
                }
                Method::GET | Method::HEAD => {
                    let v = app.get_apim_operation(caller, s, rg, n, api, id).await?;
                    Ok(entity_answer(
                        StatusCode::OK,
                        &v.etag,
                        operation_json(&base, &v),
                    ))
                }
                Method::DELETE => Ok(deleted(
                    app.delete_apim_operation(caller, s, rg, n, api, id, im)
                        .await?,
                )),
                _ => Err(r.method_not_allowed().into()),
            }
        }
        ["products"] => {
            r.only(Method::GET)?;
            let list = app.list_apim_products(caller, s, rg, n).await?;
            Ok(list_of(
                list.iter().map(|p| product_json(&base, p)).collect(),
            ))
        }
        ["products", _] => {
            let id = name(1);
            match r.method {
                Method::PUT | Method::PATCH => {
                    let p: ProductPropertiesIn = props(r)?;
                    let input = ProductInput {
                        display_name: p.display_name,
                        description: p.description,
                        subscription_required: p.subscription_required,
                        approval_required: p.approval_required,
                        state: p.state,
                    };
                    let patch = r.method == Method::PATCH;
                    let (v, created) = app
                        .put_apim_product(caller, s, rg, n, id, input, im, patch)
                        .await?;
                    Ok(put_entity(
                        created && !patch,
                        &v.etag,
                        product_json(&base, &v),
                    ))
                }
                Method::GET | Method::HEAD => {
                    let v = app.get_apim_product(caller, s, rg, n, id).await?;
                    Ok(entity_answer(
                        StatusCode::OK,
                        &v.etag,
                        product_json(&base, &v),
                    ))
                }
                Method::DELETE => Ok(deleted(
                    app.delete_apim_product(caller, s, rg, n, id, im).await?,
                )),
                _ => Err(r.method_not_allowed().into()),
            }
        }
        ["products", _, "apis"] => {
            r.only(Method::GET)?;
            let list = app
                .list_apim_product_apis(caller, s, rg, n, name(1))
                .await?;
            Ok(list_of(list.iter().map(|a| api_json(&base, a)).collect()))
        }
        ["products", _, "apis", _] => {
            let (p, a) = (name(1), name(3));
            match r.method {
                Method::PUT => {
                    let (v, had) = app
                        .link_apim_product_api(caller, s, rg, n, p, a, true)
                        .await?;
                    Ok(put_answer(!had, api_json(&base, &v)))
                }
                Method::HEAD => {
                    let list = app.list_apim_product_apis(caller, s, rg, n, p).await?;
                    Ok(if list.iter().any(|x| x.name.eq_ignore_ascii_case(a)) {
                        StatusCode::NO_CONTENT
                    } else {
                        StatusCode::NOT_FOUND
                    }
                    .into_response())
                }
                Method::DELETE => {
                    let (_, had) = app
                        .link_apim_product_api(caller, s, rg, n, p, a, false)
                        .await?;
                    Ok(deleted(had))
                }
                _ => Err(r.method_not_allowed().into()),
            }
        }
        ["subscriptions"] => {
            r.only(Method::GET)?;
            let list = app.list_apim_subscriptions(caller, s, rg, n).await?;
            Ok(list_of(
                list.iter().map(|x| subscription_json(&base, x)).collect(),
            ))
        }
        ["subscriptions", _] => {
            let id = name(1);
            match r.method {
                Method::PUT | Method::PATCH => {
                    let p: SubscriptionPropertiesIn = props(r)?;
                    let input = SubscriptionInput {
                        display_name: p.display_name,
                        scope: p.scope,
                        state: p.state,
                        primary_key: p.primary_key,
                        secondary_key: p.secondary_key,
                    };
                    let patch = r.method == Method::PATCH;
                    let (v, created) = app
                        .put_apim_subscription(caller, s, rg, n, id, input, im, patch)
                        .await?;
                    Ok(put_entity(
                        created && !patch,
                        &v.etag,
                        subscription_json(&base, &v),
                    ))
                }
                Method::GET | Method::HEAD => {
                    let v = app.get_apim_subscription(caller, s, rg, n, id).await?;
                    Ok(entity_answer(
                        StatusCode::OK,
                        &v.etag,
                        subscription_json(&base, &v),
                    ))
                }
                Method::DELETE => Ok(deleted(
                    app.delete_apim_subscription(caller, s, rg, n, id, im)
                        .await?,
                )),
                _ => Err(r.method_not_allowed().into()),
            }
        }
        ["subscriptions", _, "listsecrets"] => {
            r.only(Method::POST)?;
            let (k, etag) = app
                .apim_subscription_keys(caller, s, rg, n, name(1))
                .await?;
            Ok(entity_answer(
                StatusCode::OK,
                &etag,
                json!({"primaryKey": k.primary_key, "secondaryKey": k.secondary_key}),
            ))
        }
        [
            "subscriptions",
            _,
            which @ ("regenerateprimarykey" | "regeneratesecondarykey"),
        ] => {
            r.only(Method::POST)?;
            app.regenerate_apim_subscription_key(
                caller,
                s,
                rg,
                n,
                name(1),
                *which == "regenerateprimarykey",
            )
            .await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ["backends"] => {
            r.only(Method::GET)?;
            let list = app.list_apim_backends(caller, s, rg, n).await?;
            Ok(list_of(
                list.iter().map(|b| backend_json(&base, b)).collect(),
            ))
        }
        ["backends", _] => {
            let id = name(1);
            match r.method {
                Method::PUT | Method::PATCH => {
                    let p: BackendPropertiesIn = props(r)?;
                    let tls = p.tls.unwrap_or_default();
                    let input = BackendInput {
                        url: p.url,
                        protocol: p.protocol,
                        title: p.title,
                        description: p.description,
                        validate_chain: tls.validate_certificate_chain,
                        validate_name: tls.validate_certificate_name,
                        certificate_ids: p.credentials.and_then(|c| c.certificate_ids),
                    };
                    let patch = r.method == Method::PATCH;
                    let (v, created) = app
                        .put_apim_backend(caller, s, rg, n, id, input, im, patch)
                        .await?;
                    Ok(put_entity(
                        created && !patch,
                        &v.etag,
                        backend_json(&base, &v),
                    ))
                }
                Method::GET | Method::HEAD => {
                    let v = app.get_apim_backend(caller, s, rg, n, id).await?;
                    Ok(entity_answer(
                        StatusCode::OK,
                        &v.etag,
                        backend_json(&base, &v),
                    ))
                }
                Method::DELETE => Ok(deleted(
                    app.delete_apim_backend(caller, s, rg, n, id, im).await?,
                )),
                _ => Err(r.method_not_allowed().into()),
            }
        }
        ["certificates"] => {
            r.only(Method::GET)?;
            let list = app.list_apim_certificates(caller, s, rg, n).await?;
            Ok(list_of(
                list.iter().map(|c| certificate_json(&base, c)).collect(),
            ))
        }
        ["certificates", _] => {
            let id = name(1);
            match r.method {
                Method::PUT => {
                    let p: CertificatePropertiesIn = props(r)?;
                    let input = CertificateEntityInput {
                        key_vault: p.key_vault.and_then(|k| {
                            k.secret_identifier.map(|sid| (sid, k.identity_client_id))
                        }),
                        data: p.data.map(|d| (d, p.password)),
                    };
                    let (v, created) = app
                        .put_apim_certificate(caller, s, rg, n, id, input, im)
                        .await?;
                    Ok(put_entity(created, &v.etag, certificate_json(&base, &v)))
                }
                Method::GET | Method::HEAD => {
                    let v = app.get_apim_certificate(caller, s, rg, n, id).await?;
                    Ok(entity_answer(
                        StatusCode::OK,
                        &v.etag,
                        certificate_json(&base, &v),
                    ))
                }
                Method::DELETE => Ok(deleted(
                    app.delete_apim_certificate(caller, s, rg, n, id, im)
                        .await?,
                )),
                _ => Err(r.method_not_allowed().into()),
            }
        }
        ["certificates", _, "refreshsecret"] => {
            r.only(Method::POST)?;
            let v = app
                .refresh_apim_certificate(caller, s, rg, n, name(1))
                .await?;
            Ok(entity_answer(
                StatusCode::OK,
                &v.etag,
                certificate_json(&base, &v),
            ))
        }
        _ => Err(no_route(r).into()),
    }
}

fn api_input(p: ApiPropertiesIn) -> ApiInput {
    let names = p.subscription_key_parameter_names.unwrap_or_default();
    let import = match (p.format, p.value) {
        (Some(f), Some(v)) => Some((f, v)),
        _ => None,
    };
    ApiInput {
        display_name: p.display_name,
        path: p.path,
        service_url: p.service_url,
        protocols: p.protocols,
        subscription_required: p.subscription_required,
        key_header: names.header,
        key_query: names.query,
        description: p.description,
        import,
    }
}

fn api_json(base: &str, a: &ApiView) -> Value {
    json!({
        "id": child_id(base, &format!("apis/{}", a.name)),
        "type": "Microsoft.ApiManagement/service/apis",
        "name": a.name,
        "properties": {
            "displayName": a.display_name,
            "apiRevision": "1",
            "description": a.description,
            "subscriptionRequired": a.subscription_required,
            "serviceUrl": a.service_url,
            "path": a.path,
            "protocols": a.protocols,
            "subscriptionKeyParameterNames": {"header": a.key_header, "query": a.key_query},
            "isCurrent": true,
            "type": "http",
        },
    })
}

fn operation_json(base: &str, o: &OperationView) -> Value {
    json!({
        "id": child_id(base, &format!("apis/{}/operations/{}", o.api, o.name)),
        "type": "Microsoft.ApiManagement/service/apis/operations",
        "name": o.name,
        "properties": {
            "displayName": o.display_name,
            "method": o.method,
            "urlTemplate": o.url_template,
            "description": o.description,
            "templateParameters": [],
            "responses": [],
        },
    })
}

fn product_json(base: &str, p: &ProductView) -> Value {
    json!({
        "id": child_id(base, &format!("products/{}", p.name)),
        "type": "Microsoft.ApiManagement/service/products",
        "name": p.name,
        "properties": {
            "displayName": p.display_name,
            "description": p.description,
            "subscriptionRequired": p.subscription_required,
            "approvalRequired": p.approval_required,
            "state": p.state,
        },
    })
}

fn subscription_json(base: &str, x: &SubscriptionView) -> Value {
    json!({
        "id": child_id(base, &format!("subscriptions/{}", x.name)),
        "type": "Microsoft.ApiManagement/service/subscriptions",
        "name": x.name,
        "properties": {
            "displayName": x.display_name,
            "scope": format!("{base}{}", x.scope),
            "state": x.state,
            "createdDate": rfc3339(x.created),
            "primaryKey": null,
            "secondaryKey": null,
            "allowTracing": false,
        },
    })
}

fn backend_json(base: &str, b: &BackendView) -> Value {
    json!({
        "id": child_id(base, &format!("backends/{}", b.name)),
        "type": "Microsoft.ApiManagement/service/backends",
        "name": b.name,
        "properties": {
            "url": b.url,
            "protocol": b.protocol,
            "title": b.title,
            "description": b.description,
            "tls": {
                "validateCertificateChain": b.validate_chain,
                "validateCertificateName": b.validate_name,
            },
            "credentials": {"certificateIds": b.certificate_ids},
        },
    })
}

fn certificate_json(base: &str, c: &CertificateEntityView) -> Value {
    let key_vault = c.secret_identifier.as_ref().map(|sid| {
        json!({
            "secretIdentifier": sid,
            "identityClientId": c.identity_client_id,
            "lastStatus": c.last_status.as_ref().map(|(code, message, at)| json!({
                "code": code, "message": message, "timeStampUtc": at,
            })),
        })
    });
    json!({
        "id": child_id(base, &format!("certificates/{}", c.name)),
        "type": "Microsoft.ApiManagement/service/certificates",
        "name": c.name,
        "properties": {
            "subject": c.subject,
            "thumbprint": c.thumbprint,
            "expirationDate": rfc3339(c.expiry),
            "keyVault": key_vault,
        },
    })
}
