//! ISO 8601 durations as Key Vault's rotation and certificate policies write them (`P90D`,
//! `P1Y2M`, `PT12H`), turned into seconds. Years count 365 days and months 30, as a calendar-free
//! approximation is all a policy trigger needs.

use crate::DomainError;

/// Parses an ISO 8601 duration into seconds.
pub fn parse_iso_duration(s: &str) -> Result<i64, DomainError> {
    let bad = || {
        DomainError::InvalidParameter(format!(
            "'{}' is not an ISO 8601 duration such as P90D, P1Y or PT12H.",
            s.chars().take(40).collect::<String>()
        ))
    };
    let rest = s.strip_prefix('P').ok_or_else(bad)?;
    if rest.is_empty() {
        return Err(bad());
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return Err(bad()),
        None => (rest, None),
    };
    let mut total: i64 = 0;
    let mut add = |part: &str, units: &[(char, i64)]| -> Result<(), DomainError> {
        let mut num = String::new();
        let mut last = 0usize;
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let pos = units.iter().position(|(u, _)| *u == c).ok_or_else(bad)?;
            // Units must come in order, each once.
            if num.is_empty() || pos + 1 <= last && last != 0 {
                return Err(bad());
            }
            last = pos + 1;
            let n: i64 = num.parse().map_err(|_| bad())?;
            total = n
                .checked_mul(units[pos].1)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
            num.clear();
        }
        if num.is_empty() { Ok(()) } else { Err(bad()) }
    };
    const DAY: i64 = 86_400;
    add(date, &[('Y', 365 * DAY), ('M', 30 * DAY), ('W', 7 * DAY), ('D', DAY)])?;
    if let Some(t) = time {
        add(t, &[('H', 3_600), ('M', 60), ('S', 1)])?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_iso_duration("P90D"), Ok(90 * 86_400));
        assert_eq!(parse_iso_duration("P1Y"), Ok(365 * 86_400));
        assert_eq!(parse_iso_duration("P1Y2M"), Ok(425 * 86_400));
        assert_eq!(parse_iso_duration("PT12H"), Ok(12 * 3_600));
        assert_eq!(parse_iso_duration("P1DT1M"), Ok(86_400 + 60));
        assert_eq!(parse_iso_duration("P2W"), Ok(14 * 86_400));
        for bad in ["", "P", "90D", "PD", "P1", "PT", "P1X", "P1D1Y", "P1DT", "P99999999999999999999D"] {
            assert!(parse_iso_duration(bad).is_err(), "{bad}");
        }
    }
}
