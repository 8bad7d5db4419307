//! Exact conversions of DynamoDB numbers (decimal strings of up to 38 significant digits,
//! optionally with a fraction and an exponent) to the fixed-width column types.
//!
//! A value that does not fit its column exactly is an error, never a silent truncation:
//! the record is quarantined with the reason.

use thiserror::Error;

/// Why a DynamoDB number could not become a column value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NumberError {
    /// The text is not a DynamoDB number (`-?digits[.digits][e[+-]digits]`).
    #[error("`{0}` is not a decimal number")]
    Syntax(String),
    /// The number has a non-zero fraction but the column holds integers.
    #[error("`{0}` is not an integer")]
    NotIntegral(String),
    /// The number is integral but outside the column's range.
    #[error("`{value}` does not fit {target}")]
    OutOfRange {
        /// The decimal text as received.
        value: String,
        /// The column type it had to fit.
        target: &'static str,
    },
}

/// A syntactically valid decimal number: `digits × 10^exponent`.
struct Decimal {
    negative: bool,
    /// All digits (integer part then fraction), ASCII.
    digits: Vec<u8>,
    exponent: i64,
}

/// Longest exponent text we accept; DynamoDB's range is 1E-130 to 1E+126.
const MAX_EXPONENT_DIGITS: usize = 6;

impl Decimal {
    /// The digits without leading zeros, which carry no value.
    fn significant(&self) -> &[u8] {
        let first = self
            .digits
            .iter()
            .position(|d| *d != b'0')
            .unwrap_or(self.digits.len());
        &self.digits[first..]
    }
}

fn split_sign(bytes: &[u8]) -> (bool, &[u8]) {
    match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    }
}

fn parse_decimal(text: &str) -> Result<Decimal, NumberError> {
    let parts = decimal_parts(text)?;
    let frac_len =
        i64::try_from(parts.frac_part.len()).map_err(|_| NumberError::Syntax(text.to_owned()))?;
    Ok(Decimal {
        negative: parts.negative,
        digits: [parts.int_part, parts.frac_part].concat(),
        exponent: parts.exponent - frac_len,
    })
}

/// The pieces of a decimal number's text, checked: `int_part.frac_part × 10^exponent`.
struct DecimalParts<'a> {
    negative: bool,
    int_part: &'a [u8],
    frac_part: &'a [u8],
    exponent: i64,
}

/// Checks the syntax of a DynamoDB number and splits it, without copying anything.
fn decimal_parts(text: &str) -> Result<DecimalParts<'_>, NumberError> {
    let syntax = || NumberError::Syntax(text.to_owned());
    let (negative, rest) = split_sign(text.as_bytes());
    let (mantissa, exp_text) = match rest.iter().position(|b| *b == b'e' || *b == b'E') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int_part, frac_part) = match mantissa.iter().position(|b| *b == b'.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, &mantissa[mantissa.len()..]),
    };
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.iter().chain(frac_part).all(u8::is_ascii_digit)
    {
        return Err(syntax());
    }
    let mut exponent: i64 = 0;
    if let Some(exp) = exp_text {
        let (neg, digits) = split_sign(exp);
        if digits.is_empty()
            || digits.len() > MAX_EXPONENT_DIGITS
            || !digits.iter().all(u8::is_ascii_digit)
        {
            return Err(syntax());
        }
        let value = digits
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
        exponent = if neg { -value } else { value };
    }
    Ok(DecimalParts {
        negative,
        int_part,
        frac_part,
        exponent,
    })
}

/// Parses a DynamoDB number as an exact `i64`: `"1.50E+2"` is 150, `"1.5"` is an error.
pub fn parse_i64(text: &str) -> Result<i64, NumberError> {
    let range = || NumberError::OutOfRange {
        value: text.to_owned(),
        target: "int64",
    };
    // Fast path: plain integers, which is what DynamoDB sends for integral values.
    let (_, unsigned) = split_sign(text.as_bytes());
    if !unsigned.is_empty() && unsigned.iter().all(u8::is_ascii_digit) {
        return text.parse::<i64>().map_err(|_| range());
    }
    let dec = parse_decimal(text)?;
    // Trailing zeros move into the exponent.
    let mut digits = dec.significant();
    let mut exponent = dec.exponent;
    if digits.is_empty() {
        return Ok(0);
    }
    while exponent < 0 && digits.last() == Some(&b'0') {
        digits = &digits[..digits.len() - 1];
        exponent += 1;
    }
    if exponent < 0 {
        return Err(NumberError::NotIntegral(text.to_owned()));
    }
    exact_i64(digits, exponent, dec.negative).ok_or_else(range)
}

/// `±digits × 10^exponent` (`exponent` ≥ 0) as an exact `i64`; `None` when it does not fit.
fn exact_i64(digits: &[u8], exponent: i64, negative: bool) -> Option<i64> {
    // i64::MAX has 19 digits: anything longer cannot fit.
    if i64::try_from(digits.len()).ok()? + exponent > 19 {
        return None;
    }
    // Accumulate as a negative number so that i64::MIN is representable.
    let mut acc: i64 = 0;
    for d in digits {
        acc = acc.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    for _ in 0..exponent {
        acc = acc.checked_mul(10)?;
    }
    if negative {
        Some(acc)
    } else {
        acc.checked_neg()
    }
}

/// Parses a DynamoDB number as an exact `i32`.
pub fn parse_i32(text: &str) -> Result<i32, NumberError> {
    let wide = parse_i64(text).map_err(|e| match e {
        NumberError::OutOfRange { value, .. } => NumberError::OutOfRange {
            value,
            target: "int32",
        },
        other => other,
    })?;
    i32::try_from(wide).map_err(|_| NumberError::OutOfRange {
        value: text.to_owned(),
        target: "int32",
    })
}

/// `floor(text × 10^shift)` exactly, for a non-negative decimal number: epoch seconds with
/// any fraction to epoch milliseconds (`shift` 3) without going through `f64`, which rounds
/// `59.9999999999` up into the next minute (and hour, and partition).
pub fn floor_scaled_non_negative(text: &str, shift: i64) -> Result<i64, NumberError> {
    let range = || NumberError::OutOfRange {
        value: text.to_owned(),
        target: "non-negative int64",
    };
    // Fast path: whole seconds, what Lambda and GetRecords send.
    if (1..=18).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) && shift >= 0 {
        let whole: i64 = text.parse().map_err(|_| range())?;
        return u32::try_from(shift)
            .ok()
            .and_then(|shift| 10i64.checked_pow(shift))
            .and_then(|scale| whole.checked_mul(scale))
            .ok_or_else(range);
    }
    let dec = parse_decimal(text)?;
    let mut digits = dec.significant();
    if digits.is_empty() {
        return Ok(0);
    }
    if dec.negative {
        return Err(range());
    }
    let mut exponent = dec.exponent + shift;
    if exponent < 0 {
        // Non-negative: the floor drops the fractional digits.
        let dropped = usize::try_from(-exponent).unwrap_or(usize::MAX);
        digits = &digits[..digits.len().saturating_sub(dropped)];
        exponent = 0;
    }
    exact_i64(digits, exponent, false).ok_or_else(range)
}

/// Parses a DynamoDB number as the nearest `f64` (doubles are approximate by nature);
/// values beyond the `f64` range are errors rather than infinities.
pub fn parse_f64(text: &str) -> Result<f64, NumberError> {
    // Checked first: Rust's float syntax also takes `inf`, `NaN` and other non-numbers.
    decimal_parts(text)?;
    let value: f64 = text
        .parse()
        .map_err(|_| NumberError::Syntax(text.to_owned()))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(NumberError::OutOfRange {
            value: text.to_owned(),
            target: "double",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn integers_in_every_notation() {
        assert_eq!(parse_i64("0"), Ok(0));
        assert_eq!(parse_i64("-0"), Ok(0));
        assert_eq!(parse_i64("42"), Ok(42));
        assert_eq!(parse_i64("+42"), Ok(42));
        assert_eq!(parse_i64("1.50E+2"), Ok(150));
        assert_eq!(parse_i64("1500e-1"), Ok(150));
        assert_eq!(parse_i64("150.000"), Ok(150));
        assert_eq!(parse_i64("0.0000"), Ok(0));
        assert_eq!(parse_i64("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_i64("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_i64("00000000000000000000000042"), Ok(42));
    }

    #[test]
    fn inexact_or_oversized_integers_are_refused() {
        assert!(matches!(parse_i64("1.5"), Err(NumberError::NotIntegral(_))));
        assert!(matches!(
            parse_i64("1E-1"),
            Err(NumberError::NotIntegral(_))
        ));
        assert!(matches!(
            parse_i64("9223372036854775808"),
            Err(NumberError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_i64("12345678901234567890123456789012345678"),
            Err(NumberError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_i64("1E+125"),
            Err(NumberError::OutOfRange { .. })
        ));
        assert_eq!(
            parse_i32("2147483648"),
            Err(NumberError::OutOfRange {
                value: "2147483648".into(),
                target: "int32"
            })
        );
        assert_eq!(parse_i32("-2147483648"), Ok(i32::MIN));
    }

    #[test]
    fn malformed_numbers_are_syntax_errors() {
        for bad in [
            "",
            "-",
            ".",
            "1e",
            "1e+",
            "abc",
            "1,5",
            "0x10",
            "NaN",
            "inf",
            "1e1234567",
            " 1",
        ] {
            assert!(
                matches!(parse_i64(bad), Err(NumberError::Syntax(_))),
                "{bad:?}"
            );
            assert!(
                matches!(parse_f64(bad), Err(NumberError::Syntax(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn doubles_parse_and_refuse_overflow() {
        assert_eq!(parse_f64("0.5"), Ok(0.5));
        assert_eq!(parse_f64("-1.25E2"), Ok(-125.0));
        assert!(matches!(
            parse_f64("1E+400"),
            Err(NumberError::OutOfRange { .. })
        ));
    }

    proptest! {
        #[test]
        fn any_i64_round_trips_in_plain_notation(v in any::<i64>()) {
            prop_assert_eq!(parse_i64(&v.to_string()), Ok(v));
        }

        #[test]
        fn any_i64_round_trips_in_scientific_notation(v in any::<i64>(), shift in 0u32..30) {
            // v * 10^shift / 10^shift written as mantissa with a fraction and an exponent.
            let s = v.unsigned_abs().to_string();
            let sign = if v < 0 { "-" } else { "" };
            let text = format!("{sign}{s}{}E-{shift}", "0".repeat(shift as usize));
            prop_assert_eq!(parse_i64(&text), Ok(v));
        }

        #[test]
        fn i32_accepts_exactly_the_i32_range(v in any::<i64>()) {
            let expected = i32::try_from(v).ok();
            prop_assert_eq!(parse_i32(&v.to_string()).ok(), expected);
        }

        #[test]
        fn fractions_are_never_silently_truncated(int in any::<i32>(), frac in 1u32..1_000_000) {
            let text = format!("{int}.{frac:06}");
            prop_assert!(matches!(parse_i64(&text), Err(NumberError::NotIntegral(_))));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,60}") {
            let _ = parse_i64(&text);
            let _ = parse_i32(&text);
            let _ = parse_f64(&text);
        }

        #[test]
        fn doubles_agree_with_std(v in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            prop_assert_eq!(parse_f64(&format!("{v:e}")), Ok(v));
        }
    }

    #[test]
    fn seconds_floor_to_milliseconds_exactly() {
        let ms = |t: &str| floor_scaled_non_negative(t, 3);
        assert_eq!(ms("1795517999.999999999"), Ok(1_795_517_999_999));
        assert_eq!(ms("1.001"), Ok(1_001));
        assert_eq!(ms("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(ms("000"), Ok(0));
        assert!(matches!(
            ms("999999999999999999"),
            Err(NumberError::OutOfRange { .. })
        ));
        assert_eq!(ms("1.7e9"), Ok(1_700_000_000_000));
        assert_eq!(ms("17000000.005E2"), Ok(1_700_000_000_500));
        assert_eq!(ms("0.0009"), Ok(0));
        assert_eq!(ms("-0"), Ok(0));
        assert_eq!(ms("1e-999999"), Ok(0));
        assert!(matches!(ms("-1"), Err(NumberError::OutOfRange { .. })));
        assert!(matches!(
            ms("1e999999"),
            Err(NumberError::OutOfRange { .. })
        ));
        assert!(matches!(
            ms("9223372036854776"),
            Err(NumberError::OutOfRange { .. })
        ));
        assert!(matches!(ms("1,5"), Err(NumberError::Syntax(_))));
    }
}
