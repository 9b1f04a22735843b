//! A vault's network rules, as Key Vault's firewall defines them (`networkAcls` and
//! `publicNetworkAccess`), and their pure evaluation for one client address: which rule or
//! bypass let the request in, or why it was refused.

use std::fmt;
use std::net::IpAddr;

use crate::DomainError;

/// What happens to an address no rule names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DefaultAction {
    #[default]
    Allow,
    Deny,
}

/// Which traffic passes the rules whatever they say: Azure's trusted services, or none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bypass {
    #[default]
    AzureServices,
    None,
}

/// Whether the vault takes traffic from public networks at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PublicNetworkAccess {
    #[default]
    Enabled,
    Disabled,
}

/// Parses one of `names` case-insensitively into the matching value, or explains the choices.
fn choice<T: Copy>(s: &str, property: &str, names: &[(&str, T)]) -> Result<T, DomainError> {
    names
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s.trim()))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            DomainError::InvalidParameter(format!(
                "The value '{}' of '{property}' is invalid. Allowed values: {}.",
                s.chars().take(40).collect::<String>(),
                names.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ))
        })
}

impl DefaultAction {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        choice(
            s,
            "networkAcls.defaultAction",
            &[("Allow", Self::Allow), ("Deny", Self::Deny)],
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "Allow",
            Self::Deny => "Deny",
        }
    }
}

impl Bypass {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        choice(
            s,
            "networkAcls.bypass",
            &[("AzureServices", Self::AzureServices), ("None", Self::None)],
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AzureServices => "AzureServices",
            Self::None => "None",
        }
    }
}

impl PublicNetworkAccess {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        choice(
            s,
            "publicNetworkAccess",
            &[("Enabled", Self::Enabled), ("Disabled", Self::Disabled)],
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Disabled => "Disabled",
        }
    }
}

/// One `ipRules[].value`: an IPv4 or IPv6 network. A bare address is a /32 (or /128) network,
/// as Azure stores it (`1.2.3.4` reads back as `1.2.3.4/32`); host bits below the prefix are
/// cleared (`10.1.2.3/16` is `10.1.0.0/16`), so every stored value is a network the clients'
/// own CIDR parsers accept. An IPv4-mapped IPv6 address is its IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpRule {
    network: IpAddr,
    prefix: u8,
}

impl IpRule {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let invalid = || {
            DomainError::InvalidParameter(format!(
                "'{}' is not an IP address or CIDR range (such as 203.0.113.7, 203.0.113.0/24, 2001:db8::1 or 2001:db8::/48).",
                s.chars().take(60).collect::<String>()
            ))
        };
        let t = s.trim();
        let (addr, prefix) = match t.split_once('/') {
            Some((a, p)) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
                    return Err(invalid());
                }
                (a, Some(p.parse::<u8>().map_err(|_| invalid())?))
            }
            None => (t, None),
        };
        let raw: IpAddr = addr.parse().map_err(|_| invalid())?;
        // `::ffff:a.b.c.d/len` counts the IPv4 part only when the prefix covers the mapping.
        let (ip, prefix) = match (raw, raw.to_canonical(), prefix) {
            (IpAddr::V6(_), v4 @ IpAddr::V4(_), Some(p)) if p >= 96 => (v4, Some(p - 96)),
            (IpAddr::V6(_), v4 @ IpAddr::V4(_), None) => (v4, None),
            _ => (raw, prefix),
        };
        let max = max_prefix(ip);
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(invalid());
        }
        Ok(Self {
            network: mask(ip, prefix),
            prefix,
        })
    }

    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// Whether `addr` (IPv4-mapped IPv6 counting as IPv4) lies in this network.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        addr.is_ipv4() == self.network.is_ipv4() && mask(addr, self.prefix) == self.network
    }

    /// Whether the two networks share an address.
    pub fn overlaps(&self, other: &IpRule) -> bool {
        self.network.is_ipv4() == other.network.is_ipv4()
            && (self.contains(other.network) || other.contains(self.network))
    }

    /// The address alone when the network is one host, else the CIDR form.
    pub fn compact(&self) -> String {
        if self.prefix == max_prefix(self.network) {
            self.network.to_string()
        } else {
            self.to_string()
        }
    }
}

/// Always the CIDR form, as Azure echoes rules.
impl fmt::Display for IpRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & m).into())
        }
        IpAddr::V6(v6) => {
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & m).into())
        }
    }
}

/// A vault's firewall. The default (no `networkAcls` sent) lets everything in, as Azure does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkAcls {
    pub default_action: DefaultAction,
    pub bypass: Bypass,
    pub ip_rules: Vec<IpRule>,
    pub public_network_access: PublicNetworkAccess,
}

/// What let a request through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowance {
    /// The default action is `Allow`.
    DefaultAction,
    /// The rule at this index of `ip_rules` names the client.
    IpRule(usize),
    /// The caller is a trusted service and the bypass is `AzureServices`.
    TrustedService,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// `publicNetworkAccess` is `Disabled` and the caller is no trusted service let through.
    PublicNetworkAccessDisabled,
    /// The default action is `Deny`, no rule names the client, and no bypass applies.
    NotInIpRules,
}

/// The firewall's verdict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirewallDecision {
    Allowed(Allowance),
    Denied(Denial),
}

impl FirewallDecision {
    pub fn is_allowed(self) -> bool {
        matches!(self, Self::Allowed(_))
    }
}

/// Decides whether a request from `client` passes the vault's firewall. `trusted_service` says
/// whether the caller is one of the principals the instance trusts as an Azure service (a
/// gateway's managed identity); it passes only while the bypass is `AzureServices`. With public
/// access disabled the rules are not consulted at all (there are no private endpoints here), so
/// only such trusted services get in.
pub fn evaluate(acls: &NetworkAcls, client: IpAddr, trusted_service: bool) -> FirewallDecision {
    let bypassed = trusted_service && acls.bypass == Bypass::AzureServices;
    if acls.public_network_access == PublicNetworkAccess::Disabled {
        return if bypassed {
            FirewallDecision::Allowed(Allowance::TrustedService)
        } else {
            FirewallDecision::Denied(Denial::PublicNetworkAccessDisabled)
        };
    }
    if acls.default_action == DefaultAction::Allow {
        return FirewallDecision::Allowed(Allowance::DefaultAction);
    }
    if let Some(i) = acls.ip_rules.iter().position(|r| r.contains(client)) {
        return FirewallDecision::Allowed(Allowance::IpRule(i));
    }
    if bypassed {
        FirewallDecision::Allowed(Allowance::TrustedService)
    } else {
        FirewallDecision::Denied(Denial::NotInIpRules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn rule(s: &str) -> IpRule {
        IpRule::parse(s).unwrap()
    }

    #[test]
    fn rules_parse_to_networks() {
        let table = [
            ("203.0.113.7", "203.0.113.7/32"),
            (" 203.0.113.7/32 ", "203.0.113.7/32"),
            ("10.1.2.3/16", "10.1.0.0/16"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("2001:db8::1", "2001:db8::1/128"),
            ("2001:DB8:0:0:1::/48", "2001:db8::/48"),
            ("::/0", "::/0"),
            ("::ffff:192.0.2.1", "192.0.2.1/32"),
            ("::ffff:192.0.2.0/120", "192.0.2.0/24"),
        ];
        for (given, want) in table {
            assert_eq!(rule(given).to_string(), want, "{given}");
        }
        for bad in [
            "",
            "localhost",
            "1.2.3.4/33",
            "::1/129",
            "1.2.3/24",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "1.2.3.4/+8",
            "1.2.3.4/0008",
            "1.2.3.4/8/8",
            "[::1]",
        ] {
            assert!(IpRule::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(rule("127.0.0.1").compact(), "127.0.0.1");
        assert_eq!(rule("10.0.0.0/8").compact(), "10.0.0.0/8");
    }

    #[test]
    fn containment_at_the_edges() {
        let table = [
            ("10.1.0.0/16", "10.1.0.0", true),
            ("10.1.0.0/16", "10.1.255.255", true),
            ("10.1.0.0/16", "10.0.255.255", false),
            ("10.1.0.0/16", "10.2.0.0", false),
            ("203.0.113.7", "203.0.113.7", true),
            ("203.0.113.7", "203.0.113.8", false),
            ("0.0.0.0/0", "255.255.255.255", true),
            ("0.0.0.0/0", "::1", false),
            ("127.0.0.1", "::ffff:127.0.0.1", true),
            ("127.0.0.1", "::1", false),
            ("2001:db8::/32", "2001:db8:ffff:ffff::1", true),
            ("2001:db8::/32", "2001:db9::", false),
            ("::1", "::1", true),
            ("::/0", "127.0.0.1", false),
            ("::/0", "2001:db8::1", true),
        ];
        for (r, addr, want) in table {
            assert_eq!(rule(r).contains(ip(addr)), want, "{r} ∋ {addr}");
        }
        assert!(rule("10.0.0.0/8").overlaps(&rule("10.1.2.3")));
        assert!(rule("10.1.2.3").overlaps(&rule("10.0.0.0/8")));
        assert!(!rule("10.0.0.0/8").overlaps(&rule("11.0.0.1")));
        assert!(!rule("::/0").overlaps(&rule("1.2.3.4")));
    }

    #[test]
    fn evaluation() {
        use Allowance as A;
        use Denial as D;
        use FirewallDecision::{Allowed, Denied};
        let deny = |rules: &[&str], bypass: Bypass| NetworkAcls {
            default_action: DefaultAction::Deny,
            bypass,
            ip_rules: rules.iter().map(|r| rule(r)).collect(),
            public_network_access: PublicNetworkAccess::Enabled,
        };
        let disabled = |bypass: Bypass| NetworkAcls {
            public_network_access: PublicNetworkAccess::Disabled,
            default_action: DefaultAction::Allow,
            bypass,
            ip_rules: vec![rule("0.0.0.0/0")],
        };
        let table = [
            (
                NetworkAcls::default(),
                "192.0.2.1",
                false,
                Allowed(A::DefaultAction),
            ),
            (
                deny(&[], Bypass::AzureServices),
                "192.0.2.1",
                false,
                Denied(D::NotInIpRules),
            ),
            (
                deny(&[], Bypass::AzureServices),
                "192.0.2.1",
                true,
                Allowed(A::TrustedService),
            ),
            (
                deny(&[], Bypass::None),
                "192.0.2.1",
                true,
                Denied(D::NotInIpRules),
            ),
            (
                deny(&["10.0.0.0/8", "192.0.2.0/24"], Bypass::None),
                "192.0.2.200",
                false,
                Allowed(A::IpRule(1)),
            ),
            (
                deny(&["192.0.2.0/24"], Bypass::AzureServices),
                "192.0.2.9",
                true,
                Allowed(A::IpRule(0)),
            ),
            (
                deny(&["192.0.2.0/24"], Bypass::None),
                "192.0.3.1",
                false,
                Denied(D::NotInIpRules),
            ),
            (
                deny(&["127.0.0.1"], Bypass::None),
                "::ffff:127.0.0.1",
                false,
                Allowed(A::IpRule(0)),
            ),
            (
                deny(&["127.0.0.1"], Bypass::None),
                "::1",
                false,
                Denied(D::NotInIpRules),
            ),
            (
                deny(&["::1"], Bypass::None),
                "::1",
                false,
                Allowed(A::IpRule(0)),
            ),
            (
                deny(&["2001:db8::/32"], Bypass::None),
                "2001:db8::5",
                false,
                Allowed(A::IpRule(0)),
            ),
            (
                disabled(Bypass::AzureServices),
                "192.0.2.1",
                false,
                Denied(D::PublicNetworkAccessDisabled),
            ),
            (
                disabled(Bypass::AzureServices),
                "192.0.2.1",
                true,
                Allowed(A::TrustedService),
            ),
            (
                disabled(Bypass::None),
                "192.0.2.1",
                true,
                Denied(D::PublicNetworkAccessDisabled),
            ),
        ];
        for (i, (acls, client, trusted, want)) in table.into_iter().enumerate() {
            assert_eq!(evaluate(&acls, ip(client), trusted), want, "case {i}");
        }
    }

    #[test]
    fn choices_are_case_insensitive() {
        assert_eq!(DefaultAction::parse("deny"), Ok(DefaultAction::Deny));
        assert_eq!(Bypass::parse("azureservices"), Ok(Bypass::AzureServices));
        assert_eq!(
            PublicNetworkAccess::parse("DISABLED"),
            Ok(PublicNetworkAccess::Disabled)
        );
        assert!(DefaultAction::parse("Block").is_err());
        assert!(Bypass::parse("Logging").is_err());
    }
}
