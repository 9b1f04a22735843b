//! Elliptic-curve encodings PKCS#11 uses: `CKA_EC_PARAMS` (the DER OID of a named curve) and
//! `CKA_EC_POINT` (the uncompressed point `04 || x || y`, wrapped in a DER OCTET STRING).

use coffer_crypto::keys::{Curve, KeyError};

/// DER encoding of each curve's named-curve OID (SEC 2 / RFC 5480).
pub(crate) fn params(curve: Curve) -> &'static [u8] {
    match curve {
        // 1.2.840.10045.3.1.7 (prime256v1)
        Curve::P256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        // 1.3.132.0.34
        Curve::P384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        // 1.3.132.0.35
        Curve::P521 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
        // 1.3.132.0.10 (secp256k1)
        Curve::P256K => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a],
    }
}

/// Splits a token's `CKA_EC_POINT` into fixed-length `x` and `y`. The standard says DER OCTET
/// STRING; some tokens hand back the bare point, so both are accepted, told apart by length.
pub(crate) fn split_point(curve: Curve, ec_point: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
    let point_len = 1 + 2 * curve.coordinate_len();
    let point = if ec_point.len() == point_len {
        ec_point
    } else {
        unwrap_octet_string(ec_point).ok_or_else(|| bad_point(curve))?
    };
    if point.len() != point_len || point[0] != 0x04 {
        return Err(bad_point(curve));
    }
    let (x, y) = point[1..].split_at(curve.coordinate_len());
    Ok((x.to_vec(), y.to_vec()))
}

/// The DER OCTET STRING holding `04 || x || y`, for `C_CreateObject` of a public key.
pub(crate) fn wrap_point(x: &[u8], y: &[u8]) -> Vec<u8> {
    let len = 1 + x.len() + y.len();
    let mut out = Vec::with_capacity(len + 3);
    out.push(0x04);
    // Points are at most 133 bytes (P-521): short or one-byte long form.
    if len < 0x80 {
        out.push(len as u8);
    } else {
        out.push(0x81);
        out.push(len as u8);
    }
    out.push(0x04);
    out.extend_from_slice(x);
    out.extend_from_slice(y);
    out
}

fn bad_point(curve: Curve) -> KeyError {
    KeyError::Provider(format!(
        "the token returned an unexpected CKA_EC_POINT for a {} key",
        curve.as_str()
    ))
}

/// Contents of a DER OCTET STRING with a short or one-byte long length, exactly filling `der`.
fn unwrap_octet_string(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x04 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, body) = match first {
        0x00..=0x7f => (usize::from(first), rest),
        0x81 => {
            let (&len, body) = rest.split_first()?;
            // DER: the long form only for lengths the short form cannot carry.
            if len < 0x80 {
                return None;
            }
            (usize::from(len), body)
        }
        _ => return None,
    };
    (body.len() == len).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(curve: Curve) -> (Vec<u8>, Vec<u8>) {
        let n = curve.coordinate_len();
        (
            (1..=n as u8).collect(),
            (0..n as u8).map(|b| 0xff - b).collect(),
        )
    }

    #[test]
    fn wrapped_points_split_for_every_curve() {
        for curve in Curve::ALL {
            let (x, y) = point(curve);
            let der = wrap_point(&x, &y);
            assert_eq!(split_point(curve, &der).unwrap(), (x.clone(), y.clone()));
            // A bare point is accepted too.
            assert_eq!(
                split_point(curve, &der[der.len() - (1 + 2 * x.len())..]).unwrap(),
                (x, y)
            );
        }
    }

    #[test]
    fn p521_uses_the_long_length_form() {
        let (x, y) = point(Curve::P521);
        let der = wrap_point(&x, &y);
        assert_eq!(&der[..4], &[0x04, 0x81, 133, 0x04]);
        assert_eq!(der.len(), 136);
        let (x, y) = point(Curve::P256);
        assert_eq!(&wrap_point(&x, &y)[..3], &[0x04, 65, 0x04]);
    }

    #[test]
    fn malformed_points_are_refused() {
        let (x, y) = point(Curve::P256);
        let good = wrap_point(&x, &y);
        let mut truncated = good.clone();
        truncated.pop();
        let mut wrong_tag = good.clone();
        wrong_tag[0] = 0x03;
        let mut compressed = good.clone();
        compressed[2] = 0x02;
        let mut overlong = good.clone();
        overlong.push(0);
        for bad in [truncated, wrong_tag, compressed, overlong, Vec::new()] {
            assert!(split_point(Curve::P256, &bad).is_err());
        }
        // A P-256 point is not a P-384 point.
        assert!(split_point(Curve::P384, &good).is_err());
        // Non-minimal long form length is not DER.
        let mut non_minimal = vec![0x04, 0x81, 65];
        non_minimal.extend_from_slice(&good[2..]);
        assert!(split_point(Curve::P256, &non_minimal).is_err());
    }

    #[test]
    fn oids_are_der_object_identifiers() {
        for curve in Curve::ALL {
            let der = params(curve);
            assert_eq!(der[0], 0x06);
            assert_eq!(usize::from(der[1]), der.len() - 2);
        }
    }
}
