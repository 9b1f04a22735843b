//! Subscriptions: keys generated unless given, sealed, shown only by `listSecrets`.

use coffer_domain::Principal;

use super::*;
use crate::Coffer;
use crate::management::{ManagementError, bad, clip};

impl Coffer {
    // ---- subscriptions -------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn put_apim_subscription(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        input: SubscriptionInput,
        if_match: Option<&str>,
        patch: bool,
    ) -> Result<(SubscriptionView, bool), ManagementError> {
        validate_entity_id(EntityKind::Subscription, id)?;
        let key = id.to_ascii_lowercase();
        let scope = input.scope.as_deref().map(normalize_scope).transpose()?;
        let state = match input.state.as_deref() {
            None => None,
            Some(st) => {
                let l = st.to_ascii_lowercase();
                match l.as_str() {
                    "active" | "suspended" | "submitted" | "rejected" | "cancelled" | "expired" => {
                        Some(l)
                    }
                    _ => {
                        return Err(bad(
                            "ValidationError",
                            format!(
                                "Subscription state '{}' is invalid: use active, suspended, submitted, rejected, cancelled or expired.",
                                clip(st)
                            ),
                        ));
                    }
                }
            }
        };
        for k in [&input.primary_key, &input.secondary_key]
            .into_iter()
            .flatten()
        {
            if !(1..=256).contains(&k.len()) {
                return Err(bad(
                    "ValidationError",
                    "Subscription keys have 1 to 256 characters.".to_owned(),
                ));
            }
        }
        let fresh = (new_key()?, new_key()?);
        self.modify_apim(caller, s, rg, svc, |doc| {
            check_count(EntityKind::Subscription, &doc.entities.subscriptions, &key)?;
            let existing = doc.entities.subscriptions.get(&key).cloned();
            match &existing {
                Some(e) => check_if_match(&e.etag, if_match, patch)?,
                None if patch => return Err(entity_not_found(EntityKind::Subscription, id)),
                None => {}
            }
            let scope = match &scope {
                Some((norm, target)) => {
                    match target {
                        Some((true, a))
                            if !doc.entities.apis.contains_key(&a.to_ascii_lowercase()) =>
                        {
                            return Err(bad(
                                "ValidationError",
                                format!(
                                    "Subscription scope names API '{}', which does not exist.",
                                    clip(a)
                                ),
                            ));
                        }
                        Some((false, p))
                            if !doc.entities.products.contains_key(&p.to_ascii_lowercase()) =>
                        {
                            return Err(bad(
                                "ValidationError",
                                format!(
                                    "Subscription scope names product '{}', which does not exist.",
                                    clip(p)
                                ),
                            ));
                        }
                        _ => {}
                    }
                    norm.clone()
                }
                None => match &existing {
                    Some(e) => e.scope.clone(),
                    None => {
                        return Err(bad(
                            "ValidationError",
                            "The subscription's scope is required.".to_owned(),
                        ));
                    }
                },
            };
            let old_keys = match &existing {
                Some(e) => Some(e.keys(doc, self)?),
                None => None,
            };
            let keys = SubscriptionKeys {
                primary_key: input
                    .primary_key
                    .clone()
                    .or_else(|| old_keys.as_ref().map(|k| k.primary_key.clone()))
                    .unwrap_or_else(|| fresh.0.clone()),
                secondary_key: input
                    .secondary_key
                    .clone()
                    .or_else(|| old_keys.as_ref().map(|k| k.secondary_key.clone()))
                    .unwrap_or_else(|| fresh.1.clone()),
            };
            let etag = doc.next_etag();
            let mut sub = SubscriptionDoc {
                name: existing
                    .as_ref()
                    .map_or_else(|| id.to_owned(), |e| e.name.clone()),
                etag,
                display_name: input
                    .display_name
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.display_name.clone()))
                    .unwrap_or_else(|| id.to_owned()),
                scope,
                state: state
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.state.clone()))
                    .unwrap_or_else(|| "active".to_owned()),
                created: existing.as_ref().map_or_else(|| self.now(), |e| e.created),
                sealed_keys: String::new(),
            };
            sub.set_keys(doc, self, &keys)?;
            let view = sub.view();
            doc.entities.subscriptions.insert(key.clone(), sub);
            Ok((view, existing.is_none()))
        })
        .await
    }

    pub async fn list_apim_subscriptions(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
    ) -> Result<Vec<SubscriptionView>, ManagementError> {
        self.list_entities::<SubscriptionDoc>(caller, s, rg, svc)
            .await
    }

    pub async fn get_apim_subscription(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<SubscriptionView, ManagementError> {
        self.get_entity::<SubscriptionDoc>(caller, s, rg, svc, id)
            .await
    }

    /// A subscription's keys (`POST …/listSecrets`).
    pub async fn apim_subscription_keys(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<(SubscriptionKeys, String), ManagementError> {
        let doc = self
            .existing_apim(caller, s, rg, svc, "subscriptions/listSecrets/action")
            .await?
            .0;
        let sub = doc
            .entities
            .subscriptions
            .get(&id.to_ascii_lowercase())
            .ok_or_else(|| entity_not_found(EntityKind::Subscription, id))?;
        Ok((sub.keys(&doc, self)?, sub.etag.clone()))
    }

    /// Replaces the primary (`primary`) or secondary key with a fresh one.
    pub async fn regenerate_apim_subscription_key(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        primary: bool,
    ) -> Result<(), ManagementError> {
        let key = id.to_ascii_lowercase();
        let fresh = new_key()?;
        self.modify_apim(caller, s, rg, svc, |doc| {
            let sub = doc
                .entities
                .subscriptions
                .get(&key)
                .cloned()
                .ok_or_else(|| entity_not_found(EntityKind::Subscription, id))?;
            let mut keys = sub.keys(doc, self)?;
            if primary {
                keys.primary_key = fresh.clone();
            } else {
                keys.secondary_key = fresh.clone();
            }
            let mut sub = sub;
            sub.etag = doc.next_etag();
            sub.set_keys(doc, self, &keys)?;
            doc.entities.subscriptions.insert(key.clone(), sub);
            Ok(())
        })
        .await
    }

    pub async fn delete_apim_subscription(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<bool, ManagementError> {
        self.delete_entity::<SubscriptionDoc>(caller, s, rg, svc, id, if_match, |_, _| Ok(()))
            .await
    }
}
