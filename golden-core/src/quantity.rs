//! Storage sizes: parsing Kubernetes quantities and printing binary units.

use crate::{Error, Result};

const KI: u64 = 1 << 10;
const GI: u64 = 1 << 30;

/// Parses a Kubernetes storage quantity (`21Gi`, `500Mi`, `8G`, `1Ti`,
/// `1.5e9`, `1073741824`) into bytes.
///
/// The whole quantity grammar of Kubernetes' `resource.Quantity` (apimachinery
/// `pkg/api/resource/quantity.go`) is accepted: an optional sign, a decimal
/// number (`12`, `1.5`, `.5`, `5.`), then a binary suffix (`Ki` `Mi` `Gi`
/// `Ti` `Pi` `Ei`, powers of 1024), a decimal suffix (`m` `k` `M` `G` `T`
/// `P` `E`, powers of 1000) or a decimal exponent (`e3`, `E-3`, `e+6`).
///
/// A size must come out as a positive whole number of bytes that fits in 64
/// bits; anything else is [`Error::Invalid`] naming the reason and the
/// accepted form.
pub fn parse_quantity(q: &str) -> Result<u64> {
    let bad = |why: &str| {
        Error::invalid(
            "size",
            q,
            format!("{why}; expected a Kubernetes quantity such as 21Gi, 500Mi, 8G or 1e9"),
        )
    };
    let s = q.trim();
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let split = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (num, suffix) = rest.split_at(split);
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(bad("no number"));
    }
    if frac.contains('.') {
        return Err(bad("malformed number"));
    }
    let (exp10, pow2): (i64, u32) = match suffix {
        "" => (0, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        e if e.starts_with(['e', 'E']) => (
            parse_exponent(&e[1..])
                .ok_or_else(|| bad("malformed exponent (e or E, an optional sign, then digits)"))?,
            0,
        ),
        _ => {
            return Err(bad(
                "unknown unit (binary: Ki Mi Gi Ti Pi Ei; decimal: m k M G T P E; exponent: e3)",
            ));
        }
    };
    // value = mantissa * 10^scale * 2^pow2, the mantissa without leading or
    // trailing zeros.
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    let significant = digits.trim_end_matches('0');
    if significant.is_empty() {
        return Err(bad("size must be greater than zero"));
    }
    if negative {
        return Err(bad("a size cannot be negative"));
    }
    let scale = exp10 - frac.len() as i64 + (digits.len() - significant.len()) as i64;
    if significant.len() > 20 {
        return Err(bad("too many significant digits (at most 20)"));
    }
    let mantissa: u128 = significant.parse().map_err(|_| bad("malformed number"))?;
    let scaled = mantissa << pow2; // < 10^20 * 2^60 < 2^128
    let value = if scale >= 0 {
        u32::try_from(scale)
            .ok()
            .and_then(|e| 10u128.checked_pow(e))
            .and_then(|p| scaled.checked_mul(p))
            .ok_or_else(|| bad("number too large"))?
    } else {
        let denom = u32::try_from(-scale)
            .ok()
            .and_then(|e| 10u128.checked_pow(e))
            .filter(|d| scaled.is_multiple_of(*d))
            .ok_or_else(|| bad("does not come out as a whole number of bytes"))?;
        scaled / denom
    };
    u64::try_from(value).map_err(|_| bad("number too large"))
}

/// The exponent of a decimal-exponent suffix: an optional sign and digits.
fn parse_exponent(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Prints bytes in the largest binary unit that divides them exactly
/// (`21Gi`, `1536Mi`, `1025Ki`), or plain bytes.
pub fn format_binary(bytes: u64) -> String {
    const UNITS: [(&str, u64); 6] = [
        ("Ei", KI * KI * KI * KI * KI * KI),
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
    fn parses_the_whole_kubernetes_grammar() {
        assert_eq!(parse_quantity("1Ei").unwrap(), 1 << 60);
        assert_eq!(parse_quantity("2E").unwrap(), 2_000_000_000_000_000_000);
        assert_eq!(parse_quantity("1e3").unwrap(), 1000);
        assert_eq!(parse_quantity("1E3").unwrap(), 1000);
        assert_eq!(parse_quantity("1.5e+9").unwrap(), 1_500_000_000);
        assert!(
            parse_quantity("12e-1")
                .unwrap_err()
                .to_string()
                .contains("whole")
        );
        assert_eq!(parse_quantity("1200e-2").unwrap(), 12);
        assert_eq!(parse_quantity("2000m").unwrap(), 2);
        assert_eq!(parse_quantity("+5Gi").unwrap(), 5 * GI);
        assert_eq!(parse_quantity(".5Ki").unwrap(), 512);
        assert_eq!(parse_quantity("5.Ki").unwrap(), 5 * KI);
        assert_eq!(
            parse_quantity("0.000000000000000000001e30").unwrap(),
            1_000_000_000
        );
        assert_eq!(parse_quantity("18446744073709551615").unwrap(), u64::MAX);
        for (input, why) in [
            ("16Ei", "too large"),
            ("18446744073709551616", "too large"),
            ("1e20", "too large"),
            ("1e999999", "too large"),
            ("1e-999999", "whole"),
            ("1500m", "whole"),
            ("1e", "exponent"),
            ("1e+", "exponent"),
            ("1e1.5", "exponent"),
            ("-0.5Gi", "negative"),
            ("1Zi", "unknown unit"),
            ("1 Gi", "unknown unit"),
        ] {
            let e = parse_quantity(input).unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{input}: {e:?}");
            assert!(e.to_string().contains(why), "{input}: {e}");
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
