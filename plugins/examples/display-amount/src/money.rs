//! Formatting an amount of money for people: `€1,234.50`, `$12.00`,
//! `1,234.50 XYZ`.
//!
//! Catalogue amounts are integers in minor units (cents); other contracts
//! may send a decimal number or a decimal string in major units (`12.5`,
//! `"12.50"`), which is rounded half away from zero to the currency's
//! minor unit.

use serde_json::Value;

/// Longest decimal string accepted as an amount (digits and point), so
/// every accepted amount fits an `i128` in minor units.
const MAX_DECIMAL_CHARS: usize = 32;

/// Currencies whose minor unit is not 1/100 (ISO 4217), with their number
/// of decimals. Every other currency has 2.
const DECIMALS: &[(&str, u32)] = &[
    ("BHD", 3),
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("RWF", 0),
    ("TND", 3),
    ("UGX", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
];

/// Currencies written with a symbol before the amount. Every other
/// currency is written as its code after the amount.
const SYMBOLS: &[(&str, &str)] = &[
    ("EUR", "€"),
    ("GBP", "£"),
    ("INR", "₹"),
    ("JPY", "¥"),
    ("KES", "KSh "),
    ("KRW", "₩"),
    ("NGN", "₦"),
    ("USD", "$"),
];

/// Whether `code` looks like an ISO 4217 code (three capital letters), as
/// the catalogue's `currency` fields require.
pub fn is_currency(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// Decimals of `currency`'s minor unit.
pub fn decimals(currency: &str) -> u32 {
    DECIMALS
        .iter()
        .find(|(code, _)| *code == currency)
        .map_or(2, |(_, decimals)| *decimals)
}

/// The amount `value` in minor units of a currency with `decimals`: an
/// integer is already in minor units; a decimal number or string is in
/// major units. `None` for anything else.
pub fn minor_units(value: &Value, decimals: u32) -> Option<i128> {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            n.as_i64().map(i128::from).or(n.as_u64().map(i128::from))
        }
        Value::Number(n) => parse_decimal(&n.to_string(), decimals),
        Value::String(s) => parse_decimal(s, decimals),
        _ => None,
    }
}

/// Parses `-?digits(.digits)?` in major units into minor units, rounding
/// half away from zero.
fn parse_decimal(text: &str, decimals: u32) -> Option<i128> {
    if text.is_empty() || text.len() > MAX_DECIMAL_CHARS {
        return None;
    }
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    let mut minor: i128 = 0;
    for b in whole.bytes() {
        minor = minor.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    let mut fraction_digits = fraction.bytes();
    for _ in 0..decimals {
        let digit = fraction_digits.next().map_or(0, |b| b - b'0');
        minor = minor.checked_mul(10)?.checked_add(i128::from(digit))?;
    }
    if fraction_digits.next().is_some_and(|b| b >= b'5') {
        minor = minor.checked_add(1)?;
    }
    Some(if negative { -minor } else { minor })
}

/// `minor` units of `currency`, for people: `€1,234.50`, `KSh 850.00`,
/// `1,234.50 XYZ`.
pub fn display(minor: i128, currency: &str) -> String {
    let decimals = decimals(currency);
    let scale = 10u128.pow(decimals);
    let magnitude = minor.unsigned_abs();
    let whole = group_thousands(&(magnitude / scale).to_string());
    let number = if decimals == 0 {
        whole
    } else {
        let fraction = magnitude % scale;
        format!("{whole}.{fraction:0width$}", width = decimals as usize)
    };
    let sign = if minor < 0 { "-" } else { "" };
    match SYMBOLS.iter().find(|(code, _)| *code == currency) {
        Some((_, symbol)) => format!("{sign}{symbol}{number}"),
        None => format!("{sign}{number} {currency}"),
    }
}

/// `1234567` → `1,234,567` (ASCII digits only).
fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn formats_with_symbols_and_codes() {
        assert_eq!(display(123_450, "EUR"), "€1,234.50");
        assert_eq!(display(1_200, "USD"), "$12.00");
        assert_eq!(display(123_450, "XYZ"), "1,234.50 XYZ");
        assert_eq!(display(85_000, "KES"), "KSh 850.00");
        assert_eq!(display(1_500, "JPY"), "¥1,500");
        assert_eq!(display(1_234_567, "KWD"), "1,234.567 KWD");
        assert_eq!(display(5, "USD"), "$0.05");
        assert_eq!(display(0, "GBP"), "£0.00");
        assert_eq!(display(-250, "USD"), "-$2.50");
        assert_eq!(display(100_000_000_000, "EUR"), "€1,000,000,000.00");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group_thousands("1"), "1");
        assert_eq!(group_thousands("123"), "123");
        assert_eq!(group_thousands("1234"), "1,234");
        assert_eq!(group_thousands("123456"), "123,456");
        assert_eq!(group_thousands("1234567"), "1,234,567");
    }

    #[test]
    fn integers_are_minor_units_decimals_are_major() {
        assert_eq!(minor_units(&json!(85000), 2), Some(85000));
        assert_eq!(minor_units(&json!(u64::MAX), 2), Some(i128::from(u64::MAX)));
        assert_eq!(minor_units(&json!(12.5), 2), Some(1250));
        assert_eq!(minor_units(&json!("12.50"), 2), Some(1250));
        assert_eq!(minor_units(&json!("12.345"), 2), Some(1235));
        assert_eq!(minor_units(&json!("12.344"), 2), Some(1234));
        assert_eq!(minor_units(&json!("-0.5"), 0), Some(-1));
        assert_eq!(minor_units(&json!("7"), 3), Some(7000));
    }

    #[test]
    fn rejects_what_is_not_an_amount() {
        for value in [
            json!(null),
            json!(true),
            json!("twelve"),
            json!(""),
            json!("."),
            json!(".5"),
            json!("1.2.3"),
            json!("1e3"),
            json!("-"),
            json!("9".repeat(MAX_DECIMAL_CHARS + 1)),
            json!({"amount": 1}),
        ] {
            assert_eq!(minor_units(&value, 2), None, "{value}");
        }
    }

    #[test]
    fn currency_codes() {
        assert!(is_currency("KES"));
        assert!(!is_currency("kes"));
        assert!(!is_currency("KESH"));
        assert!(!is_currency("€"));
        assert_eq!(decimals("USD"), 2);
        assert_eq!(decimals("JPY"), 0);
        assert_eq!(decimals("BHD"), 3);
    }
}
