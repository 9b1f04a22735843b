//! The doctor's reasoning, pure: given a vault's settings, who called (or why their token was
//! refused), from where, for which operation, and what the directory says about the principals
//! the policies name, it lists each check that fails — in Key Vault's order: token, firewall,
//! access policy, object — with a plain explanation and the exact command that fixes it.

use std::net::IpAddr;

use crate::net::{Allowance, Bypass, Denial, FirewallDecision, evaluate};
use crate::policy::{Decision, Permission, Permissions, evaluate as evaluate_policy};
use crate::{Principal, Vault, VaultOp};

/// The state of the object a request named, when the doctor was told which one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectState {
    Active,
    Disabled,
    Expired,
    NotYetValid,
    Deleted,
    Missing,
}

/// A principal of the directory, as the doctor shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub object_id: String,
    pub display_name: String,
    /// For a service principal, its application (client) id.
    pub app_id: Option<String>,
    /// For a service principal, the object id of its application registration: a different
    /// object, which policies sometimes name by mistake (tokens carry the service principal's).
    pub application_object_id: Option<String>,
}

/// Everything the doctor looks at for one request.
pub struct DiagnosisInput<'a> {
    pub vault: &'a Vault,
    /// The caller, when the token was accepted.
    pub caller: Option<&'a Principal>,
    /// Why the token was refused, when it was.
    pub token_error: Option<&'a str>,
    /// The caller's directory entry, when it is known.
    pub caller_entry: Option<&'a DirectoryEntry>,
    pub trusted_service: bool,
    /// The client address the firewall sees; `None` skips the firewall check.
    pub address: Option<IpAddr>,
    pub op: VaultOp,
    /// Directory entries of the object ids the vault's policies name (those found).
    pub policy_entries: &'a [DirectoryEntry],
    /// The object the request named (in the operation's family) and its state.
    pub object: Option<(&'a str, ObjectState)>,
    /// The throttling limit a logged request hit, when it was throttled.
    pub throttled: Option<Throttled<'a>>,
}

/// What the audit record of a throttled request says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled<'a> {
    /// The limit's name, e.g. `RSA 2048-bit software key CREATE: 20 per 10 s per vault`.
    pub limit: &'a str,
    pub retry_after_secs: u64,
    /// The 429 or 503 was injected by the vault's test settings, not a limit.
    pub injected: bool,
}

/// One failed check: a stable id, what is wrong in plain words, and the command that fixes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub id: &'static str,
    pub summary: String,
    pub fix: Option<String>,
}

fn flag(p: Permission) -> &'static str {
    match p {
        Permission::Key(_) => "--key-permissions",
        Permission::Secret(_) => "--secret-permissions",
        Permission::Certificate(_) => "--certificate-permissions",
        Permission::Storage(_) => "--storage-permissions",
    }
}

/// The names a policy entry already grants in `p`'s family, with `p` added.
fn granted_plus(perms: &Permissions, p: Permission) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = match p {
        Permission::Key(_) => perms.keys.iter().map(|k| k.as_str()).collect(),
        Permission::Secret(_) => perms.secrets.iter().map(|k| k.as_str()).collect(),
        Permission::Certificate(_) => perms.certificates.iter().map(|k| k.as_str()).collect(),
        Permission::Storage(_) => perms.storage.iter().map(|k| k.as_str()).collect(),
    };
    if !names.contains(&p.name()) {
        names.push(p.name());
    }
    names
}

/// Runs every check and returns the findings, empty when the request should succeed.
pub fn diagnose(i: &DiagnosisInput<'_>) -> Vec<Finding> {
    let v = &i.vault.name;
    let mut out = Vec::new();
    let Some(caller) = i.caller else {
        out.push(Finding {
            id: "token.refused",
            summary: format!(
                "The vault refuses the token before any other check: {}",
                i.token_error.unwrap_or("it is invalid.")
            ),
            fix: Some(format!(
                "coffer token get --resource <the vault resource> (a fresh token from this instance), then: coffer token decode <token> --vault https://{v}.vault.<domain>"
            )),
        });
        return out;
    };
    if let Some(addr) = i.address {
        match evaluate(&i.vault.network_acls, addr, i.trusted_service) {
            FirewallDecision::Allowed(Allowance::DefaultAction | Allowance::IpRule(_) | Allowance::TrustedService) => {}
            FirewallDecision::Denied(Denial::PublicNetworkAccessDisabled) => out.push(Finding {
                id: "firewall.public-access-disabled",
                summary: format!(
                    "Public network access to vault '{v}' is disabled, and the caller is not a trusted service let through by the bypass."
                ),
                fix: Some(format!("coffer vault update --name {v} --public-network-access Enabled")),
            }),
            FirewallDecision::Denied(Denial::NotInIpRules) => {
                let bypass_would_pass =
                    i.trusted_service && i.vault.network_acls.bypass == Bypass::None;
                if bypass_would_pass {
                    out.push(Finding {
                        id: "firewall.bypass-none",
                        summary: format!(
                            "The caller is a trusted service, but vault '{v}' has bypass None, so trusted services are refused like anyone else from {addr}."
                        ),
                        fix: Some(format!("coffer vault update --name {v} --bypass AzureServices")),
                    });
                } else {
                    out.push(Finding {
                        id: "firewall.address",
                        summary: format!(
                            "The firewall of vault '{v}' denies by default, and no IP rule covers the client address {addr}."
                        ),
                        fix: Some(format!("coffer vault network-rule add --name {v} --ip-address {addr}")),
                    });
                }
            }
        }
    }
    let Some(permission) = i.op.permission() else {
        return out;
    };
    let policies = &i.vault.access_policies;
    match evaluate_policy(policies, caller, permission) {
        Decision::Allow(_) => {}
        Decision::DenyMissingPermission => {
            let entry = policies.iter().find(|p| p.matches(caller));
            let names = entry
                .map(|e| granted_plus(&e.permissions, permission))
                .unwrap_or_else(|| vec![permission.name()]);
            out.push(Finding {
                id: "policy.permission",
                summary: format!(
                    "An access policy of vault '{v}' names the caller (object id {}), but it does not grant {} {}.",
                    caller.object_id,
                    permission.family(),
                    permission.name()
                ),
                fix: Some(format!(
                    "coffer vault set-policy --name {v} --object-id {} {} {}",
                    caller.object_id,
                    flag(permission),
                    names.join(" ")
                )),
            });
        }
        Decision::DenyNoPolicy => out.extend(no_policy(i, caller, permission)),
    }
    if let Some((name, state)) = i.object {
        let kind = match permission {
            Permission::Key(_) => "key",
            Permission::Certificate(_) => "certificate",
            _ => "secret",
        };
        let az = format!("az keyvault {kind}");
        let (id, what, fix) = match state {
            ObjectState::Active => ("", "", None),
            ObjectState::Disabled => (
                "object.disabled",
                "is disabled",
                Some(format!(
                    "{az} set-attributes --vault-name {v} --name {name} --enabled true"
                )),
            ),
            ObjectState::Expired => (
                "object.expired",
                "has expired (exp is in the past)",
                Some(format!(
                    "{az} set-attributes --vault-name {v} --name {name} --expires <a later time>"
                )),
            ),
            ObjectState::NotYetValid => (
                "object.not-yet-valid",
                "is not valid yet (nbf is in the future)",
                Some(format!(
                    "{az} set-attributes --vault-name {v} --name {name} --not-before <an earlier time>"
                )),
            ),
            ObjectState::Deleted => (
                "object.deleted",
                "is deleted and can be recovered",
                Some(format!("{az} recover --vault-name {v} --name {name}")),
            ),
            ObjectState::Missing => ("object.missing", "does not exist", None),
        };
        if !id.is_empty() {
            out.push(Finding {
                id,
                summary: format!("The {kind} '{name}' in vault '{v}' {what}."),
                fix,
            });
        }
    }
    if let Some(t) = i.throttled {
        out.push(throttle_finding(v, t));
    }
    out
}

fn throttle_finding(v: &str, t: Throttled<'_>) -> Finding {
    if t.injected {
        return Finding {
            id: "throttle.injected",
            summary: format!(
                "The answer was a fault injected by the test settings of vault '{v}', not a real limit."
            ),
            fix: Some(format!("coffer vault test-mode --name {v} --no-fault")),
        };
    }
    let per_subscription = t.limit.ends_with("per subscription");
    let (scope, spread) = if per_subscription {
        (
            "all vaults of its subscription together",
            "spread the traffic across subscriptions (each has its own ceiling)",
        )
    } else {
        (
            "the vault",
            "spread the traffic across several vaults (a subscription allows 5x a vault's limit) and subscriptions",
        )
    };
    Finding {
        id: "throttle.limit",
        summary: format!(
            "Vault '{v}' throttled the request (429): {scope} had already used the whole limit {} in the current window, so the rate seen was at least that. The client was told to retry after {} s; throttled requests do not count.",
            t.limit, t.retry_after_secs
        ),
        fix: Some(format!(
            "Cache what the application reads (secrets rarely change), back off exponentially honouring Retry-After (the Azure SDKs do by default), and {spread}. A lowered test limit is removed with: coffer vault test-mode --name {v} --off"
        )),
    }
}

/// Why no policy names the caller: a look-alike, a compound identity used without its app, a
/// policy for another app, or simply none.
fn no_policy(i: &DiagnosisInput<'_>, caller: &Principal, p: Permission) -> Vec<Finding> {
    let v = &i.vault.name;
    let grant = format!(
        "coffer vault set-policy --name {v} --object-id {} {} {}",
        caller.object_id,
        flag(p),
        p.name()
    );
    let policies = &i.vault.access_policies;
    // The same object through the wrong (or no) application: a compound identity.
    if let Some(compound) = policies
        .iter()
        .find(|e| e.object_id.eq_ignore_ascii_case(&caller.object_id) && e.application_id.is_some())
    {
        return vec![Finding {
            id: "policy.compound-identity",
            summary: format!(
                "Vault '{v}' has a policy for object {} only when it calls through application {}; this call came {}.",
                caller.object_id,
                compound.application_id.as_deref().unwrap_or(""),
                match &caller.app_id {
                    Some(a) => format!("through application {a}"),
                    None => "without an application".to_owned(),
                }
            ),
            fix: Some(grant),
        }];
    }
    let name = i.caller_entry.map(|e| e.display_name.as_str());
    let look_alikes: Vec<&DirectoryEntry> = i
        .policy_entries
        .iter()
        .filter(|e| {
            !e.object_id.eq_ignore_ascii_case(&caller.object_id)
                && name.is_some_and(|n| e.display_name.eq_ignore_ascii_case(n))
        })
        .collect();
    if let Some(other) = look_alikes.first() {
        return vec![Finding {
            id: "policy.look-alike",
            summary: format!(
                "Vault '{v}' has a policy for '{}' with object id {}, but the caller named '{}' is object id {}: the policy was given to a look-alike principal with the same display name.",
                other.display_name,
                other.object_id,
                name.unwrap_or(""),
                caller.object_id
            ),
            fix: Some(grant),
        }];
    }
    // The policy names the caller's application registration instead of its service principal.
    if let Some(app_object) = i
        .caller_entry
        .and_then(|e| e.application_object_id.as_deref())
        && policies
            .iter()
            .any(|e| e.object_id.eq_ignore_ascii_case(app_object))
    {
        return vec![Finding {
            id: "policy.application-object",
            summary: format!(
                "Vault '{v}' has a policy for object id {app_object}, the application registration of '{}'; its tokens carry its service principal's object id {}, which no policy names.",
                name.unwrap_or(""),
                caller.object_id
            ),
            fix: Some(grant),
        }];
    }
    vec![Finding {
        id: "policy.none",
        summary: format!(
            "No access policy of vault '{v}' names the caller (object id {}, tenant {}).",
            caller.object_id, caller.tenant_id
        ),
        fix: Some(grant),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{DefaultAction, IpRule, NetworkAcls, PublicNetworkAccess};
    use crate::{AccessPolicy, SecretPermission};

    const ME: &str = "11111111-0000-0000-0000-000000000001";
    const TWIN: &str = "22222222-0000-0000-0000-000000000002";

    fn vault(policies: Vec<AccessPolicy>, acls: NetworkAcls) -> Vault {
        Vault {
            name: "dev".into(),
            tenant_id: "t".into(),
            soft_delete: true,
            retention_days: 90,
            purge_protection: false,
            access_policies: policies,
            network_acls: acls,
        }
    }

    fn policy(oid: &str, app: Option<&str>, secrets: &[SecretPermission]) -> AccessPolicy {
        AccessPolicy {
            tenant_id: "t".into(),
            object_id: oid.into(),
            application_id: app.map(Into::into),
            permissions: Permissions {
                secrets: secrets.to_vec(),
                ..Permissions::default()
            },
        }
    }

    fn me(app: Option<&str>) -> Principal {
        Principal {
            tenant_id: "t".into(),
            object_id: ME.into(),
            app_id: app.map(Into::into),
            issuer: "https://login.localhost:8443/t/".into(),
        }
    }

    fn entry(oid: &str, name: &str, app: &str) -> DirectoryEntry {
        DirectoryEntry {
            object_id: oid.into(),
            display_name: name.into(),
            app_id: Some(app.into()),
            application_object_id: None,
        }
    }

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.id).collect()
    }

    fn input<'a>(v: &'a Vault, caller: Option<&'a Principal>) -> DiagnosisInput<'a> {
        DiagnosisInput {
            vault: v,
            caller,
            token_error: None,
            caller_entry: None,
            trusted_service: false,
            address: None,
            op: VaultOp::SecretGet,
            policy_entries: &[],
            object: None,
            throttled: None,
        }
    }

    #[test]
    fn a_throttled_request_names_the_limit_and_the_fixes() {
        let v = vault(
            vec![policy(ME, None, &[SecretPermission::Get])],
            NetworkAcls::default(),
        );
        let caller = me(None);
        let mut i = input(&v, Some(&caller));
        i.throttled = Some(Throttled {
            limit: "secrets, managed storage and vault transactions: 4000 per 10 s per vault",
            retry_after_secs: 3,
            injected: false,
        });
        let f = diagnose(&i);
        assert_eq!(ids(&f), ["throttle.limit"]);
        assert!(
            f[0].summary.contains("4000 per 10 s per vault"),
            "{}",
            f[0].summary
        );
        assert!(f[0].summary.contains("retry after 3 s"));
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("Cache") && fix.contains("Retry-After") && fix.contains("several vaults")
        );
        i.throttled = Some(Throttled {
            limit: "",
            retry_after_secs: 1,
            injected: true,
        });
        assert_eq!(ids(&diagnose(&i)), ["throttle.injected"]);
    }

    fn deny_all_but(rule: &str) -> NetworkAcls {
        NetworkAcls {
            default_action: DefaultAction::Deny,
            ip_rules: vec![IpRule::parse(rule).unwrap()],
            ..NetworkAcls::default()
        }
    }

    #[test]
    fn a_request_that_passes_has_no_findings() {
        let v = vault(
            vec![policy(ME, None, &[SecretPermission::Get])],
            NetworkAcls::default(),
        );
        let caller = me(Some("app"));
        let mut i = input(&v, Some(&caller));
        i.address = Some("10.0.0.1".parse().unwrap());
        i.object = Some(("db", ObjectState::Active));
        assert!(diagnose(&i).is_empty());
    }

    #[test]
    fn a_refused_token_stops_the_checks() {
        let v = vault(vec![], NetworkAcls::default());
        let mut i = input(&v, None);
        i.token_error = Some("Token expired.");
        let f = diagnose(&i);
        assert_eq!(ids(&f), ["token.refused"]);
        assert!(f[0].summary.contains("Token expired."));
    }

    #[test]
    fn firewall_findings_name_the_address_and_the_fix() {
        let v = vault(
            vec![policy(ME, None, &[SecretPermission::Get])],
            deny_all_but("10.0.0.0/24"),
        );
        let caller = me(None);
        let mut i = input(&v, Some(&caller));
        i.address = Some("192.0.2.7".parse().unwrap());
        let f = diagnose(&i);
        assert_eq!(ids(&f), ["firewall.address"]);
        assert_eq!(
            f[0].fix.as_deref(),
            Some("coffer vault network-rule add --name dev --ip-address 192.0.2.7")
        );
        i.address = Some("10.0.0.9".parse().unwrap());
        assert!(diagnose(&i).is_empty());

        let mut acls = deny_all_but("10.0.0.0/24");
        acls.bypass = Bypass::None;
        let v = vault(vec![policy(ME, None, &[SecretPermission::Get])], acls);
        let mut i = input(&v, Some(&caller));
        i.address = Some("192.0.2.7".parse().unwrap());
        i.trusted_service = true;
        assert_eq!(ids(&diagnose(&i)), ["firewall.bypass-none"]);

        let acls = NetworkAcls {
            public_network_access: PublicNetworkAccess::Disabled,
            ..NetworkAcls::default()
        };
        let v = vault(vec![policy(ME, None, &[SecretPermission::Get])], acls);
        let mut i = input(&v, Some(&caller));
        i.address = Some("10.0.0.9".parse().unwrap());
        assert_eq!(ids(&diagnose(&i)), ["firewall.public-access-disabled"]);
    }

    #[test]
    fn a_missing_permission_keeps_what_the_entry_grants() {
        let v = vault(
            vec![policy(ME, None, &[SecretPermission::List])],
            NetworkAcls::default(),
        );
        let caller = me(None);
        let f = diagnose(&input(&v, Some(&caller)));
        assert_eq!(ids(&f), ["policy.permission"]);
        assert_eq!(
            f[0].fix.as_deref(),
            Some(format!("coffer vault set-policy --name dev --object-id {ME} --secret-permissions list get").as_str())
        );
    }

    #[test]
    fn a_look_alike_policy_shows_both_object_ids() {
        let v = vault(
            vec![policy(TWIN, None, &[SecretPermission::Get])],
            NetworkAcls::default(),
        );
        let caller = me(Some("a1"));
        let mine = entry(ME, "contoso-apim", "a1");
        let twin = [entry(TWIN, "contoso-apim", "a2")];
        let mut i = input(&v, Some(&caller));
        i.caller_entry = Some(&mine);
        i.policy_entries = &twin;
        let f = diagnose(&i);
        assert_eq!(ids(&f), ["policy.look-alike"]);
        assert!(
            f[0].summary.contains(ME) && f[0].summary.contains(TWIN),
            "{}",
            f[0].summary
        );
    }

    #[test]
    fn a_policy_on_the_application_registration_and_none_at_all() {
        const APP_OBJECT: &str = "33333333-0000-0000-0000-000000000003";
        let v = vault(
            vec![policy(APP_OBJECT, None, &[SecretPermission::Get])],
            NetworkAcls::default(),
        );
        let caller = me(Some("a1"));
        let mut mine = entry(ME, "billing", "a1");
        mine.application_object_id = Some(APP_OBJECT.into());
        let mut i = input(&v, Some(&caller));
        i.caller_entry = Some(&mine);
        let f = diagnose(&i);
        assert_eq!(ids(&f), ["policy.application-object"]);
        assert!(f[0].summary.contains(APP_OBJECT) && f[0].summary.contains(ME));
        // A policy for somebody else entirely: simply none names the caller.
        let other = [entry(TWIN, "other", "a2")];
        let plain = entry(ME, "billing", "a1");
        i.caller_entry = Some(&plain);
        i.policy_entries = &other;
        let f = diagnose(&i);
        assert_eq!(ids(&f), ["policy.none"]);
        assert!(
            f[0].fix
                .as_deref()
                .unwrap()
                .ends_with("--secret-permissions get")
        );
    }

    #[test]
    fn a_compound_identity_needs_its_application() {
        let v = vault(
            vec![policy(ME, Some("portal-app"), &[SecretPermission::Get])],
            NetworkAcls::default(),
        );
        let caller = me(Some("cli-app"));
        let f = diagnose(&input(&v, Some(&caller)));
        assert_eq!(ids(&f), ["policy.compound-identity"]);
        assert!(f[0].summary.contains("portal-app") && f[0].summary.contains("cli-app"));
    }

    #[test]
    fn object_states() {
        let v = vault(
            vec![policy(ME, None, &[SecretPermission::Get])],
            NetworkAcls::default(),
        );
        let caller = me(None);
        for (state, id) in [
            (ObjectState::Disabled, "object.disabled"),
            (ObjectState::Expired, "object.expired"),
            (ObjectState::NotYetValid, "object.not-yet-valid"),
            (ObjectState::Deleted, "object.deleted"),
            (ObjectState::Missing, "object.missing"),
        ] {
            let mut i = input(&v, Some(&caller));
            i.object = Some(("db", state));
            assert_eq!(ids(&diagnose(&i)), [id]);
        }
        let mut i = input(&v, Some(&caller));
        i.object = Some(("db", ObjectState::Disabled));
        assert_eq!(
            diagnose(&i)[0].fix.as_deref(),
            Some("az keyvault secret set-attributes --vault-name dev --name db --enabled true")
        );
    }
}
