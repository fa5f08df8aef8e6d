//! Storage sizes: parsing Kubernetes quantities and printing binary units.

use crate::{Error, Result};

const KI: u64 = 1 << 10;
const GI: u64 = 1 << 30;

/// Parses a Kubernetes storage quantity (`21Gi`, `500Mi`, `8G`, `1Ti`,
/// `1073741824`) into bytes. Decimal suffixes are powers of 1000, binary
/// ones powers of 1024; fractions must come out as whole bytes.
pub fn parse_quantity(q: &str) -> Result<u64> {
    let bad = |why: &str| {
        Error::invalid(
            "size",
            q,
            format!("{why}; expected a Kubernetes quantity such as 21Gi, 500Mi or 8G"),
        )
    };
    let s = q.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let mult: u64 = match suffix {
        "" => 1,
        "k" => 1000,
        "M" => 1000u64.pow(2),
        "G" => 1000u64.pow(3),
        "T" => 1000u64.pow(4),
        "P" => 1000u64.pow(5),
        "Ki" => KI,
        "Mi" => KI.pow(2),
        "Gi" => KI.pow(3),
        "Ti" => KI.pow(4),
        "Pi" => KI.pow(5),
        _ => return Err(bad("unknown unit")),
    };
    if num.is_empty() {
        return Err(bad("no number"));
    }
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(bad("malformed number"));
    }
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad("number too large"))?
    };
    let mut bytes = int
        .checked_mul(mult)
        .ok_or_else(|| bad("number too large"))?;
    if !frac.is_empty() {
        let digits = frac.len() as u32;
        if digits > 18 {
            return Err(bad("too many decimals"));
        }
        let f: u128 = frac.parse().map_err(|_| bad("malformed number"))?;
        let scaled = f * mult as u128;
        let denom = 10u128.pow(digits);
        if !scaled.is_multiple_of(denom) {
            return Err(bad("does not come out as a whole number of bytes"));
        }
        bytes = bytes
            .checked_add((scaled / denom) as u64)
            .ok_or_else(|| bad("number too large"))?;
    }
    if bytes == 0 {
        return Err(bad("size must be greater than zero"));
    }
    Ok(bytes)
}

/// Prints bytes in the largest binary unit that divides them exactly
/// (`21Gi`, `1536Mi`, `1025Ki`), or plain bytes.
pub fn format_binary(bytes: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("Pi", KI * KI * KI * KI * KI),
        ("Ti", KI * KI * KI * KI),
        ("Gi", GI),
        ("Mi", KI * KI),
        ("Ki", KI),
    ];
    for (unit, size) in UNITS {
        if bytes != 0 && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

/// Rounds bytes up to a whole GiB (cloud disks are sized in GiB).
pub fn round_up_gib(bytes: u64) -> u64 {
    bytes.div_ceil(GI) * GI
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_quantity("21Gi").unwrap(), 21 * GI);
        assert_eq!(parse_quantity("8G").unwrap(), 8_000_000_000);
        assert!(parse_quantity("8G").unwrap() < parse_quantity("8Gi").unwrap());
        assert_eq!(parse_quantity("1.5Gi").unwrap(), 3 * GI / 2);
        assert_eq!(parse_quantity("1024").unwrap(), 1024);
        for bad in ["", "Gi", "1.5", "12XB", "0", "-1Gi", "1..2Gi"] {
            assert!(parse_quantity(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_binary(21 * GI), "21Gi");
        assert_eq!(format_binary(1536 * KI * KI), "1536Mi");
        assert_eq!(format_binary(1000), "1000");
        assert_eq!(format_binary(8_000_000_000), "7812500Ki");
        for b in [1u64, 1024, 8_000_000_000, 21 * GI] {
            assert_eq!(parse_quantity(&format_binary(b)).unwrap(), b);
        }
        assert_eq!(round_up_gib(1), GI);
        assert_eq!(round_up_gib(GI), GI);
    }
}
