//! Which row of the throttling table a key about to be created or imported counts in (a stored
//! key's row comes from its record: `PublicRecord::throttle_size`).

use coffer_domain::throttle::KeySize;

use super::{JwkInput, KeyCreate, KeyFamily, parse_kty};

/// The `kty` of a software key of `family` (the HSM one adds `-HSM`).
fn family_kty(family: KeyFamily) -> &'static str {
    match family {
        KeyFamily::Rsa => "RSA",
        KeyFamily::Ec => "EC",
        KeyFamily::Oct => "oct",
    }
}

/// The row of a key about to be created.
pub(super) fn create_size(c: &KeyCreate) -> Option<KeySize> {
    match parse_kty(&c.kty).ok()?.0 {
        KeyFamily::Rsa => Some(KeySize::rsa(c.key_size.unwrap_or(2048))),
        KeyFamily::Ec => KeySize::ec(c.crv.as_deref().unwrap_or("P-256")),
        KeyFamily::Oct => Some(KeySize::Oct),
    }
}

/// The `kty` and row of a key about to be imported.
pub(super) fn import_class(
    family: KeyFamily,
    hsm: bool,
    key: &JwkInput,
) -> (String, Option<KeySize>) {
    let size = match family {
        KeyFamily::Rsa => key
            .n
            .as_ref()
            .map(|n| KeySize::rsa(u32::try_from(n.len() * 8).unwrap_or(u32::MAX))),
        KeyFamily::Ec => key.crv.as_deref().and_then(KeySize::ec),
        KeyFamily::Oct => Some(KeySize::Oct),
    };
    let kty = if hsm {
        format!("{}-HSM", family_kty(family))
    } else {
        family_kty(family).to_owned()
    };
    (kty, size)
}
