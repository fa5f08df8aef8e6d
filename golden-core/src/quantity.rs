//! Storage sizes: parsing Kubernetes quantities and printing binary units.
//!
//! The parser follows apimachinery `pkg/api/resource/quantity.go`
//! (`ParseQuantity`, `parseQuantityString`, `Quantity.Value`) and
//! `pkg/api/resource/suffix.go` (`suffixHandler.interpret`): [`parse`]
//! answers whether a text is a quantity as `ParseQuantity` does (its error,
//! or the value's sign), and [`parse_quantity_value`] and
//! [`parse_quantity`] turn what it accepts into bytes.

use std::cmp::Ordering;
use std::fmt;

use crate::{Error, Result};

const KI: u64 = 1 << 10;
const GI: u64 = 1 << 30;

/// The largest value a quantity can have here, 2^63-1 bytes: the range of
/// `Quantity.Value()` (an int64), and of the sizes Kubernetes and CSI carry
/// (`CapacityRange.required_bytes`, a VolumeSnapshotContent's
/// `restoreSize`).
pub const MAX_QUANTITY_BYTES: u64 = i64::MAX as u64;

const EXPECTED: &str = "expected a Kubernetes quantity such as 21Gi, 500Mi, 8G or 1e9";

/// One of the errors of apimachinery's `ParseQuantity`
/// (`pkg/api/resource/quantity.go`); its `Display` is upstream's message,
/// which the API server puts in its answer to an object holding such a
/// quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantityError {
    /// `ErrFormatWrong`: the text is not a signed number followed by
    /// suffix letters, a sign and digits (`parseQuantityString`), or is
    /// empty.
    FormatWrong,
    /// `ErrSuffix`: the suffix is not one `suffixHandler.interpret`
    /// (suffix.go) knows.
    Suffix,
    /// `ErrNumeric`: a number without digits where `ParseQuantity` takes
    /// its `inf.Dec` path, which needs one.
    Numeric,
}

impl QuantityError {
    /// Upstream's message (also this error's `Display`).
    pub fn message(self) -> &'static str {
        match self {
            QuantityError::FormatWrong => {
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            }
            QuantityError::Suffix => "unable to parse quantity's suffix",
            QuantityError::Numeric => "unable to parse numeric part of quantity",
        }
    }
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for QuantityError {}

/// A quantity [`parse`] accepted: its sign, digits and suffix, from which
/// [`Parsed::sign`] and [`Parsed::bytes`] answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The text as given (for messages).
    text: &'a str,
    negative: bool,
    /// The digits before and after the decimal point (either may be empty).
    int: &'a str,
    frac: &'a str,
    /// The suffix as a power of ten (at its value, not cut to 32 bits)
    /// and a power of two.
    exp10: i64,
    pow2: u32,
}

/// A refusal of [`scan`]: upstream's error, and the reason given by
/// [`parse_quantity_value`].
struct Refusal {
    error: QuantityError,
    why: &'static str,
}

const MALFORMED_EXPONENT: &str =
    "malformed exponent (e or E, an optional sign, then digits that fit in 64 bits)";
const UNKNOWN_UNIT: &str =
    "unknown unit (binary: Ki Mi Gi Ti Pi Ei; decimal: n u m k M G T P E; exponent: e3)";

/// Parses a quantity as apimachinery decodes one from JSON or YAML:
/// `Quantity.UnmarshalJSON` (and `UnmarshalCBOR`) trim white space, then
/// `ParseQuantity` (apimachinery `pkg/api/resource/quantity.go`) scans the
/// text with `parseQuantityString` and reads its suffix with
/// `suffixHandler.interpret` (suffix.go). The error, if any, is the one
/// `ParseQuantity` returns:
///
/// - [`QuantityError::FormatWrong`]: empty, or not an optional sign,
///   digits with at most one `.`, then suffix letters (`eEinumkKMGTP`), an
///   optional sign and digits (`1 Gi`, `1.2.3`, `1e1.5`, `lots`);
/// - [`QuantityError::Suffix`]: a suffix that is none of `n u m k M G T P
///   E`, `Ki Mi Gi Ti Pi Ei` or `e`/`E` with an integer that fits in 64
///   bits (`1K`, `1e`, `1e99999999999999999999`);
/// - [`QuantityError::Numeric`]: a number without digits (`Pi`, `.`, `-`)
///   where `ParseQuantity` takes its `inf.Dec` path, which finds none: a
///   binary suffix whose precision estimate is negative (`Pi`, `Ei`), or a
///   decimal exponent below -9 once cut to 32 bits as upstream's
///   `int32(parsed)` cuts it (`e-10`, `e4294967286`). Elsewhere a number
///   without digits is zero, as upstream.
///
/// A quantity that parses may still be no size: see [`Parsed::bytes`].
pub fn parse(q: &str) -> std::result::Result<Parsed<'_>, QuantityError> {
    scan(q).map_err(|r| r.error)
}

fn scan(q: &str) -> std::result::Result<Parsed<'_>, Refusal> {
    let refuse = |error, why| Err(Refusal { error, why });
    let s = q.trim();
    if s.is_empty() {
        return refuse(QuantityError::FormatWrong, "empty");
    }
    let (negative, rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let digits_end = |t: &str| t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (int, mut suffix) = rest.split_at(digits_end(rest));
    let mut frac = "";
    if let Some(after_point) = suffix.strip_prefix('.') {
        (frac, suffix) = after_point.split_at(digits_end(after_point));
    }
    // parseQuantityString: suffix letters, one sign, digits; anything
    // after them is ErrFormatWrong.
    let letters = suffix
        .find(|c: char| !"eEinumkKMGTP".contains(c))
        .unwrap_or(suffix.len());
    let tail = &suffix[letters..];
    let tail = tail.strip_prefix(['+', '-']).unwrap_or(tail);
    if digits_end(tail) < tail.len() {
        let why = if suffix.starts_with('.') {
            "malformed number (more than one decimal point)"
        } else if suffix.starts_with(['e', 'E']) {
            MALFORMED_EXPONENT
        } else {
            UNKNOWN_UNIT
        };
        return refuse(QuantityError::FormatWrong, why);
    }
    let (exp10, pow2): (i64, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
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
        // strconv.ParseInt(suffix[1:], 10, 64): a sign, then digits.
        e if e.len() > 1 && e.starts_with(['e', 'E']) => match e[1..].parse::<i64>() {
            Ok(exp) => (exp, 0),
            Err(_) => return refuse(QuantityError::Suffix, MALFORMED_EXPONENT),
        },
        e if e.starts_with(['e', 'E']) => return refuse(QuantityError::Suffix, MALFORMED_EXPONENT),
        _ => return refuse(QuantityError::Suffix, UNKNOWN_UNIT),
    };
    // parseQuantityString reads no digits as "0"; only the inf.Dec path (a
    // scale below nano, or a binary suffix whose precision estimate is
    // negative: 2^50 and up) parses the digitless text and fails.
    if int.is_empty() && frac.is_empty() && ((exp10 as i32) < -9 || pow2 >= 50) {
        return refuse(QuantityError::Numeric, "no digits");
    }
    Ok(Parsed {
        text: q,
        negative,
        int,
        frac,
        exp10,
        pow2,
    })
}

impl Parsed<'_> {
    /// The sign of the value: `Equal` exactly when no digit is other than
    /// zero (`0`, `-0`, `0.000Gi`, `Gi`), whatever the sign written; any
    /// other value is not zero upstream, which rounds it up to at least
    /// `1n` in magnitude, however small or large (`1e-30`, `9Ei`).
    pub fn sign(&self) -> Ordering {
        let zero = self.int.bytes().chain(self.frac.bytes()).all(|b| b == b'0');
        match (zero, self.negative) {
            (true, _) => Ordering::Equal,
            (false, true) => Ordering::Less,
            (false, false) => Ordering::Greater,
        }
    }

    /// The value in whole bytes, as `Quantity.Value()` gives it: see
    /// [`parse_quantity_value`], which is [`parse`] then this.
    pub fn bytes(&self) -> Result<u64> {
        self.bytes_as("quantity")
    }

    fn bytes_as(&self, what: &'static str) -> Result<u64> {
        let bad = |why: &str| invalid(what, self.text, why);
        // value = significant * 10^scale * 2^pow2, `significant` without
        // leading or trailing zeros.
        let digits = format!("{}{}", self.int, self.frac);
        let digits = digits.trim_start_matches('0');
        let significant = digits.trim_end_matches('0');
        if significant.is_empty() {
            return Ok(0);
        }
        if self.negative {
            return Err(bad("the value cannot be negative"));
        }
        let scale = i128::from(self.exp10) - self.frac.len() as i128
            + (digits.len() - significant.len()) as i128;
        let n = times_pow2(significant, self.pow2);
        let too_large = || {
            bad(&format!(
                "number too large (at most {MAX_QUANTITY_BYTES} bytes, 2^63-1, the range of Quantity.Value())"
            ))
        };
        // n has no leading zero, so n * 10^scale has n.len() + scale digits
        // (before any rounding up), and 2^63-1 has 19.
        let whole = if scale >= 0 {
            if n.len() as i128 + scale > 19 {
                return Err(too_large());
            }
            decimal(&n) * 10u128.pow(scale as u32)
        } else {
            let k = usize::try_from(-scale).unwrap_or(usize::MAX);
            if k >= n.len() {
                // 0 < value < 1: rounds up to 1.
                1
            } else {
                let (int, frac) = n.split_at(n.len() - k);
                if int.len() > 19 {
                    return Err(too_large());
                }
                decimal(int) + u128::from(frac.iter().any(|&d| d != 0))
            }
        };
        u64::try_from(whole)
            .ok()
            .filter(|&v| v <= MAX_QUANTITY_BYTES)
            .ok_or_else(too_large)
    }
}

/// Parses a Kubernetes storage quantity (`21Gi`, `500Mi`, `8G`, `1Ti`,
/// `1.5e9`, `1073741824`) into a size in bytes, which must be greater than
/// zero.
///
/// This is [`parse_quantity_value`] with zero refused: a size of zero bytes
/// is never meant (the API server refuses a claim whose storage request is
/// not positive). See there for the grammar, the rounding and the errors.
pub fn parse_quantity(q: &str) -> Result<u64> {
    match value(q, "size")? {
        0 => Err(invalid("size", q, "a size must be greater than zero")),
        bytes => Ok(bytes),
    }
}

/// Parses a Kubernetes quantity into its value in whole bytes, as
/// apimachinery's `ParseQuantity` followed by `Quantity.Value()` does; zero
/// is a value.
///
/// What parses is what [`parse`] accepts: `ParseQuantity`'s grammar
/// (apimachinery `pkg/api/resource/quantity.go`), an optional sign, a
/// decimal number (`12`, `1.5`, `.5`, `5.`), then a suffix - binary `Ki`
/// `Mi` `Gi` `Ti` `Pi` `Ei` (powers of 1024), decimal `n` `u` `m` (none)
/// `k` `M` `G` `T` `P` `E` (powers of 1000, from 10^-9 to 10^18), or a
/// decimal exponent (`e` or `E`, an optional sign and digits: `e3`, `E-3`,
/// `e+6`). As in `ParseQuantity`, a number without digits (`Gi`, `+`, `.`)
/// is zero, and fails only where upstream takes its `inf.Dec` path, which
/// finds no digits: an exponent below -9 once cut to 32 bits (`e-10`) or a
/// binary suffix of 2^50 or more (`Pi`, `Ei`).
///
/// A value that is not a whole number of bytes is rounded up, as
/// `Quantity.Value()` rounds up to the next integer (`1500m` and `12e-1`
/// are 2, `1n` is 1): that is how a storage request becomes a volume's
/// size upstream (external-provisioner takes `capacity.Value()`).
///
/// Leading and trailing white space is trimmed, as `Quantity.UnmarshalJSON`
/// (and `UnmarshalCBOR`) trim it before calling `ParseQuantity`: that is
/// the path by which every quantity in an object reaches the API server,
/// so what a manifest may hold parses here. `ParseQuantity` itself refuses
/// white space; white space inside a quantity (`1 Gi`) is refused.
///
/// Refused, with [`Error::InvalidInput`] naming the value, the reason and
/// the accepted form: whatever [`parse`] refuses; a negative value (a size
/// cannot be negative; `-0` is zero); and a value above
/// [`MAX_QUANTITY_BYTES`], which `Value()` cannot hold - upstream silently
/// caps a binary-suffixed quantity at 2^63-1 and lets `Value()` overflow
/// for a decimal one, neither of which is a size. An exponent is taken at
/// its value, where `ParseQuantity` keeps only its low 32 bits (there
/// `1e4294967296` is 1): taken at its value, such an exponent makes the
/// quantity too large (refused) or less than one byte (rounded up to 1).
pub fn parse_quantity_value(q: &str) -> Result<u64> {
    value(q, "quantity")
}

fn invalid(what: &'static str, q: &str, why: &str) -> Error {
    Error::invalid(what, q, format!("{why}; {EXPECTED}"))
}

fn value(q: &str, what: &'static str) -> Result<u64> {
    scan(q).map_err(|r| invalid(what, q, r.why))?.bytes_as(what)
}

/// The decimal digits (most significant first) of `digits` (ASCII digits)
/// times 2^`p`, `p` at most 60.
fn times_pow2(digits: &str, p: u32) -> Vec<u8> {
    let m = 1u128 << p;
    let mut out = Vec::with_capacity(digits.len() + 19);
    let mut carry = 0u128;
    for d in digits.bytes().rev() {
        let t = u128::from(d - b'0') * m + carry;
        out.push((t % 10) as u8);
        carry = t / 10;
    }
    while carry > 0 {
        out.push((carry % 10) as u8);
        carry /= 10;
    }
    out.reverse();
    out
}

/// The value of at most 19 decimal digits (most significant first).
fn decimal(digits: &[u8]) -> u128 {
    digits
        .iter()
        .fold(0u128, |acc, &d| acc * 10 + u128::from(d))
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
        for bad in ["", "Gi", "12XB", "0", "-1Gi", "1..2Gi"] {
            assert!(
                matches!(parse_quantity(bad), Err(Error::InvalidInput { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn parses_the_whole_kubernetes_grammar() {
        assert_eq!(parse_quantity("1Ei").unwrap(), 1 << 60);
        assert_eq!(parse_quantity("2E").unwrap(), 2_000_000_000_000_000_000);
        assert_eq!(parse_quantity("1e3").unwrap(), 1000);
        assert_eq!(parse_quantity("1E3").unwrap(), 1000);
        assert_eq!(parse_quantity("1.5e+9").unwrap(), 1_500_000_000);
        assert_eq!(parse_quantity("1200e-2").unwrap(), 12);
        assert_eq!(parse_quantity("2000m").unwrap(), 2);
        assert_eq!(parse_quantity("1000000000n").unwrap(), 1);
        assert_eq!(
            parse_quantity("21000000000000000000n").unwrap(),
            21_000_000_000
        );
        assert_eq!(parse_quantity("3000000u").unwrap(), 3);
        assert_eq!(parse_quantity("+5Gi").unwrap(), 5 * GI);
        assert_eq!(parse_quantity(".5Ki").unwrap(), 512);
        assert_eq!(parse_quantity("5.Ki").unwrap(), 5 * KI);
        assert_eq!(parse_quantity("1e0000003").unwrap(), 1000);
        assert_eq!(
            parse_quantity("0.000000000000000000001e30").unwrap(),
            1_000_000_000
        );
        // More significant digits than any machine integer holds.
        assert_eq!(
            parse_quantity("1.000000000000000000000000000001Gi").unwrap(),
            GI + 1
        );
        assert_eq!(
            parse_quantity("9223372036854775807").unwrap(),
            MAX_QUANTITY_BYTES
        );
        assert_eq!(parse_quantity("8Ei").ok(), None);
        assert_eq!(
            parse_quantity("7.999999999999999999Ei").unwrap(),
            MAX_QUANTITY_BYTES
        );
        for (input, why) in [
            ("8Ei", "too large"),
            ("16Ei", "too large"),
            ("9223372036854775808", "too large"),
            ("9223372036854775807.5", "too large"),
            ("18446744073709551616", "too large"),
            ("1e19", "too large"),
            ("1e999999", "too large"),
            ("1e99999999999999999999", "exponent"),
            ("1e", "exponent"),
            ("1e+", "exponent"),
            ("1e1.5", "exponent"),
            ("1e+-3", "exponent"),
            ("-0.5Gi", "negative"),
            ("-1n", "negative"),
            ("1Zi", "unknown unit"),
            ("1KiB", "unknown unit"),
            ("1K", "unknown unit"),
            ("1 Gi", "unknown unit"),
            ("e-10", "no digits"),
            // ParseQuantity decides on the exponent cut to 32 bits: -10.
            ("e4294967286", "no digits"),
            ("Pi", "no digits"),
            ("+Ei", "no digits"),
            ("", "empty"),
            ("  ", "empty"),
        ] {
            let e = parse_quantity(input).unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{input}: {e:?}");
            let text = e.to_string();
            assert!(text.contains(why), "{input}: {text}");
            assert!(text.contains(&format!("{input:?}")), "{input}: {text}");
            assert!(
                text.contains("expected a Kubernetes quantity"),
                "{input}: {text}"
            );
        }
    }

    #[test]
    fn fractions_of_a_byte_round_up_as_quantity_value_does() {
        assert_eq!(parse_quantity("1500m").unwrap(), 2);
        assert_eq!(parse_quantity("12e-1").unwrap(), 2);
        assert_eq!(parse_quantity("1.5").unwrap(), 2);
        assert_eq!(parse_quantity("500u").unwrap(), 1);
        assert_eq!(parse_quantity("1n").unwrap(), 1);
        assert_eq!(parse_quantity("1e-999999").unwrap(), 1);
        assert_eq!(parse_quantity("0.1Ki").unwrap(), 103); // 102.4
        assert_eq!(parse_quantity("1000000001n").unwrap(), 2);
        assert_eq!(parse_quantity("2.000Ki").unwrap(), 2048);
        assert_eq!(parse_quantity(".5Ki").unwrap(), 512);
    }

    #[test]
    fn zero_is_a_value_but_not_a_size() {
        for zero in [
            "0",
            "0Gi",
            "-0",
            "+0.000",
            "0e-30",
            "0n",
            "Gi",
            "+",
            "-",
            ".",
            "k",
            // The exponent cut to 32 bits is 0.
            "e-4294967296",
        ] {
            assert_eq!(parse_quantity_value(zero).unwrap(), 0, "{zero}");
            let e = parse_quantity(zero).unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{zero}: {e:?}");
            assert!(e.to_string().contains("greater than zero"), "{zero}: {e}");
        }
        assert_eq!(parse_quantity_value("2Gi").unwrap(), 2 * GI);
        assert_eq!(parse_quantity_value("0.4").unwrap(), 1);
        let e = parse_quantity_value("lots").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid quantity \"lots\": unknown unit"),
            "{e}"
        );
    }

    #[test]
    fn white_space_around_is_trimmed_as_unmarshal_json_does() {
        assert_eq!(parse_quantity(" 21Gi\n").unwrap(), 21 * GI);
        assert_eq!(parse_quantity("\t1e3 ").unwrap(), 1000);
        assert!(parse_quantity("1 Gi").is_err());
        assert!(parse_quantity("+ 1Gi").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(format_binary(21 * GI), "21Gi");
        assert_eq!(format_binary(1536 * KI * KI), "1536Mi");
        assert_eq!(format_binary(1000), "1000");
        assert_eq!(format_binary(8_000_000_000), "7812500Ki");
        for b in [1u64, 1024, 8_000_000_000, 21 * GI, MAX_QUANTITY_BYTES] {
            assert_eq!(parse_quantity(&format_binary(b)).unwrap(), b);
        }
        assert_eq!(round_up_gib(1), GI);
        assert_eq!(round_up_gib(GI), GI);
    }
}
