//! APIs, their operations, and products with the APIs they hold.

use coffer_domain::Principal;

use super::*;
use crate::Coffer;
use crate::management::{ManagementError, bad, clip};

impl Coffer {
    // ---- apis ----------------------------------------------------------------------------

    /// Creates or replaces an API (an import when `input.import` is set). Returns the view and
    /// whether it was created.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_apim_api(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        input: ApiInput,
        if_match: Option<&str>,
    ) -> Result<(ApiView, bool), ManagementError> {
        validate_entity_id(EntityKind::Api, id)?;
        let imported = match &input.import {
            Some((format, value)) => Some(super::super::openapi::import(format, value)?),
            None => None,
        };
        let key = id.to_ascii_lowercase();
        self.modify_apim(caller, s, rg, svc, |doc| {
            check_count(EntityKind::Api, &doc.entities.apis, &key)?;
            let existing = doc.entities.apis.get(&key).cloned();
            if let Some(e) = &existing {
                check_if_match(&e.etag, if_match, false)?;
            }
            let path = input
                .path
                .clone()
                .or_else(|| existing.as_ref().map(|e| e.path.clone()))
                .map(|p| p.trim().trim_matches('/').to_owned())
                .ok_or_else(|| bad("ValidationError", "The API's path is required.".to_owned()))?;
            if path.len() > 400 || path.contains(['?', '#', ' ']) {
                return Err(bad(
                    "ValidationError",
                    format!("API path '{}' is invalid.", clip(&path)),
                ));
            }
            if let Some((other, _)) = doc
                .entities
                .apis
                .iter()
                .find(|(k, a)| **k != key && a.path.eq_ignore_ascii_case(&path))
            {
                return Err(bad(
                    "ValidationError",
                    format!(
                        "Cannot create API '{}' with the same path '{}' as API '{}'.",
                        clip(id),
                        clip(&path),
                        clip(other)
                    ),
                ));
            }
            let service_url = match input
                .service_url
                .as_deref()
                .filter(|u| !u.trim().is_empty())
            {
                Some(u) => Some(check_url("serviceUrl", u)?),
                None => imported
                    .as_ref()
                    .and_then(|i| i.server_url.clone())
                    .or_else(|| existing.as_ref().and_then(|e| e.service_url.clone())),
            };
            let protocols = match &input.protocols {
                Some(p) if !p.is_empty() => normalize_protocols(p)?,
                _ => existing
                    .as_ref()
                    .map_or_else(|| vec!["https".to_owned()], |e| e.protocols.clone()),
            };
            let mut operations = existing
                .as_ref()
                .map(|e| e.operations.clone())
                .unwrap_or_default();
            let etag = doc.next_etag();
            if let Some(i) = &imported {
                operations.clear();
                for op in &i.operations {
                    let oe = doc.next_etag();
                    operations.insert(
                        op.id.to_ascii_lowercase(),
                        OperationDoc {
                            name: op.id.clone(),
                            etag: oe,
                            display_name: op.display_name.clone(),
                            method: op.method.clone(),
                            url_template: op.url_template.clone(),
                            description: op.description.clone(),
                        },
                    );
                }
            }
            let api = ApiDoc {
                name: existing
                    .as_ref()
                    .map_or_else(|| id.to_owned(), |e| e.name.clone()),
                etag,
                display_name: input
                    .display_name
                    .clone()
                    .or_else(|| imported.as_ref().and_then(|i| i.title.clone()))
                    .or_else(|| existing.as_ref().map(|e| e.display_name.clone()))
                    .unwrap_or_else(|| id.to_owned()),
                path,
                service_url,
                protocols,
                subscription_required: input
                    .subscription_required
                    .or(existing.as_ref().map(|e| e.subscription_required))
                    .unwrap_or(true),
                key_header: input
                    .key_header
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.key_header.clone()))
                    .unwrap_or_else(|| "Ocp-Apim-Subscription-Key".to_owned()),
                key_query: input
                    .key_query
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.key_query.clone()))
                    .unwrap_or_else(|| "subscription-key".to_owned()),
                description: input
                    .description
                    .clone()
                    .or_else(|| imported.as_ref().and_then(|i| i.description.clone()))
                    .or_else(|| existing.as_ref().and_then(|e| e.description.clone())),
                operations,
            };
            let view = api.view();
            doc.entities.apis.insert(key.clone(), api);
            Ok((view, existing.is_none()))
        })
        .await
    }

    /// Changes the given properties of an API.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch_apim_api(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        input: ApiInput,
        if_match: Option<&str>,
    ) -> Result<ApiView, ManagementError> {
        let key = id.to_ascii_lowercase();
        {
            let doc = self.read_apim(caller, s, rg, svc).await?;
            let e = doc
                .entities
                .apis
                .get(&key)
                .ok_or_else(|| entity_not_found(EntityKind::Api, id))?;
            check_if_match(&e.etag, if_match, true)?;
        }
        Ok(self
            .put_apim_api(
                caller,
                s,
                rg,
                svc,
                id,
                ApiInput {
                    import: None,
                    ..input
                },
                if_match,
            )
            .await?
            .0)
    }

    pub async fn get_apim_api(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<ApiView, ManagementError> {
        self.get_entity::<ApiDoc>(caller, s, rg, svc, id).await
    }

    pub async fn list_apim_apis(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
    ) -> Result<Vec<ApiView>, ManagementError> {
        self.list_entities::<ApiDoc>(caller, s, rg, svc).await
    }

    /// Deletes an API, its operations and its product links; `false` if it did not exist.
    pub async fn delete_apim_api(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<bool, ManagementError> {
        self.delete_entity::<ApiDoc>(caller, s, rg, svc, id, if_match, |e, key| {
            for p in e.products.values_mut() {
                p.apis.retain(|a| a != key);
            }
            Ok(())
        })
        .await
    }

    // ---- operations ----------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn put_apim_operation(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        api: &str,
        id: &str,
        input: OperationInput,
        if_match: Option<&str>,
        patch: bool,
    ) -> Result<(OperationView, bool), ManagementError> {
        validate_entity_id(EntityKind::Operation, id)?;
        let api_key = api.to_ascii_lowercase();
        let key = id.to_ascii_lowercase();
        self.modify_apim(caller, s, rg, svc, |doc| {
            let etag = doc.next_etag();
            let a = doc
                .entities
                .apis
                .get_mut(&api_key)
                .ok_or_else(|| entity_not_found(EntityKind::Api, api))?;
            let existing = a.operations.get(&key).cloned();
            match &existing {
                Some(e) => check_if_match(&e.etag, if_match, patch)?,
                None if patch => return Err(entity_not_found(EntityKind::Operation, id)),
                None => {}
            }
            let method = input
                .method
                .clone()
                .or_else(|| existing.as_ref().map(|e| e.method.clone()))
                .map(|m| m.trim().to_ascii_uppercase())
                .filter(|m| {
                    !m.is_empty() && (m == "*" || m.chars().all(|c| c.is_ascii_alphabetic()))
                })
                .ok_or_else(|| {
                    bad(
                        "ValidationError",
                        "The operation's method is required.".to_owned(),
                    )
                })?;
            let url_template = input
                .url_template
                .clone()
                .or_else(|| existing.as_ref().map(|e| e.url_template.clone()))
                .filter(|u| u.starts_with('/'))
                .ok_or_else(|| {
                    bad(
                        "ValidationError",
                        "The operation's urlTemplate is required and starts with '/'.".to_owned(),
                    )
                })?;
            let op = OperationDoc {
                name: existing
                    .as_ref()
                    .map_or_else(|| id.to_owned(), |e| e.name.clone()),
                etag,
                display_name: input
                    .display_name
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.display_name.clone()))
                    .unwrap_or_else(|| id.to_owned()),
                method,
                url_template,
                description: input
                    .description
                    .clone()
                    .or_else(|| existing.as_ref().and_then(|e| e.description.clone())),
            };
            let view = op.view(&a.name);
            a.operations.insert(key.clone(), op);
            Ok((view, existing.is_none()))
        })
        .await
    }

    pub async fn list_apim_operations(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        api: &str,
    ) -> Result<Vec<OperationView>, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        let a = doc
            .entities
            .apis
            .get(&api.to_ascii_lowercase())
            .ok_or_else(|| entity_not_found(EntityKind::Api, api))?;
        Ok(a.operations.values().map(|o| o.view(&a.name)).collect())
    }

    pub async fn get_apim_operation(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        api: &str,
        id: &str,
    ) -> Result<OperationView, ManagementError> {
        self.list_apim_operations(caller, s, rg, svc, api)
            .await?
            .into_iter()
            .find(|o| o.name.eq_ignore_ascii_case(id))
            .ok_or_else(|| entity_not_found(EntityKind::Operation, id))
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn delete_apim_operation(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        api: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<bool, ManagementError> {
        let (api_key, key) = (api.to_ascii_lowercase(), id.to_ascii_lowercase());
        self.modify_apim(caller, s, rg, svc, |doc| {
            let a = doc
                .entities
                .apis
                .get_mut(&api_key)
                .ok_or_else(|| entity_not_found(EntityKind::Api, api))?;
            let Some(e) = a.operations.get(&key) else {
                return Ok(false);
            };
            check_if_match(&e.etag, if_match, true)?;
            a.operations.remove(&key);
            Ok(true)
        })
        .await
    }

    // ---- products ------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn put_apim_product(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        input: ProductInput,
        if_match: Option<&str>,
        patch: bool,
    ) -> Result<(ProductView, bool), ManagementError> {
        validate_entity_id(EntityKind::Product, id)?;
        let key = id.to_ascii_lowercase();
        if let Some(st) = &input.state
            && !matches!(
                st.to_ascii_lowercase().as_str(),
                "published" | "notpublished"
            )
        {
            return Err(bad(
                "ValidationError",
                format!(
                    "Product state '{}' is invalid: use published or notPublished.",
                    clip(st)
                ),
            ));
        }
        self.modify_apim(caller, s, rg, svc, |doc| {
            check_count(EntityKind::Product, &doc.entities.products, &key)?;
            let existing = doc.entities.products.get(&key).cloned();
            match &existing {
                Some(e) => check_if_match(&e.etag, if_match, patch)?,
                None if patch => return Err(entity_not_found(EntityKind::Product, id)),
                None => {}
            }
            let etag = doc.next_etag();
            let p = ProductDoc {
                name: existing
                    .as_ref()
                    .map_or_else(|| id.to_owned(), |e| e.name.clone()),
                etag,
                display_name: input
                    .display_name
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.display_name.clone()))
                    .unwrap_or_else(|| id.to_owned()),
                description: input
                    .description
                    .clone()
                    .or_else(|| existing.as_ref().and_then(|e| e.description.clone())),
                subscription_required: input
                    .subscription_required
                    .or(existing.as_ref().map(|e| e.subscription_required))
                    .unwrap_or(true),
                approval_required: input
                    .approval_required
                    .or(existing.as_ref().map(|e| e.approval_required))
                    .unwrap_or(false),
                state: input
                    .state
                    .as_deref()
                    .map(|s| {
                        if s.eq_ignore_ascii_case("published") {
                            "published"
                        } else {
                            "notPublished"
                        }
                        .to_owned()
                    })
                    .or_else(|| existing.as_ref().map(|e| e.state.clone()))
                    .unwrap_or_else(|| "notPublished".to_owned()),
                apis: existing
                    .as_ref()
                    .map(|e| e.apis.clone())
                    .unwrap_or_default(),
            };
            let view = p.view();
            doc.entities.products.insert(key.clone(), p);
            Ok((view, existing.is_none()))
        })
        .await
    }

    pub async fn list_apim_products(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
    ) -> Result<Vec<ProductView>, ManagementError> {
        self.list_entities::<ProductDoc>(caller, s, rg, svc).await
    }

    pub async fn get_apim_product(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<ProductView, ManagementError> {
        self.get_entity::<ProductDoc>(caller, s, rg, svc, id).await
    }

    /// Deletes a product and the subscriptions scoped to it.
    pub async fn delete_apim_product(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<bool, ManagementError> {
        self.delete_entity::<ProductDoc>(caller, s, rg, svc, id, if_match, |e, key| {
            let scope = format!("/products/{key}");
            e.subscriptions
                .retain(|_, sub| !sub.scope.eq_ignore_ascii_case(&scope));
            Ok(())
        })
        .await
    }

    /// Adds (`add`) or removes an API from a product; returns whether the link existed before.
    #[allow(clippy::too_many_arguments)]
    pub async fn link_apim_product_api(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        product: &str,
        api: &str,
        add: bool,
    ) -> Result<(ApiView, bool), ManagementError> {
        let (pk, ak) = (product.to_ascii_lowercase(), api.to_ascii_lowercase());
        self.modify_apim(caller, s, rg, svc, |doc| {
            let view = doc
                .entities
                .apis
                .get(&ak)
                .map(ApiDoc::view)
                .ok_or_else(|| entity_not_found(EntityKind::Api, api))?;
            let p = doc
                .entities
                .products
                .get_mut(&pk)
                .ok_or_else(|| entity_not_found(EntityKind::Product, product))?;
            let had = p.apis.contains(&ak);
            if add && !had {
                p.apis.push(ak.clone());
            } else if !add {
                p.apis.retain(|a| *a != ak);
            }
            Ok((view, had))
        })
        .await
    }

    pub async fn list_apim_product_apis(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        product: &str,
    ) -> Result<Vec<ApiView>, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        let p = doc
            .entities
            .products
            .get(&product.to_ascii_lowercase())
            .ok_or_else(|| entity_not_found(EntityKind::Product, product))?;
        Ok(p.apis
            .iter()
            .filter_map(|a| doc.entities.apis.get(a).map(ApiDoc::view))
            .collect())
    }
}
