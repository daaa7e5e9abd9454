//! How the inbox writes amounts and times for people.

use warden_host::Money;

/// Digits after the decimal point of a currency's minor units (ISO 4217).
fn exponent(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "ISK" | "CLP" | "VND" | "UGX" | "XOF" | "XAF" | "PYG" | "RWF" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
        _ => 2,
    }
}

/// `4,500.00 EUR`.
pub fn money(m: &Money) -> String {
    let exp = exponent(&m.currency);
    let unit = 10u128.pow(exp);
    let abs = m.minor_units.unsigned_abs() as u128;
    let (major, minor) = (abs / unit, abs % unit);
    let digits = major.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if m.minor_units < 0 { "-" } else { "" };
    if exp == 0 {
        format!("{sign}{grouped} {}", m.currency)
    } else {
        format!(
            "{sign}{grouped}.{minor:0w$} {}",
            m.currency,
            w = exp as usize
        )
    }
}

/// Unix milliseconds as RFC 3339 (UTC).
pub fn time(ms: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(minor_units: i64, currency: &str) -> String {
        money(&Money {
            minor_units,
            currency: currency.to_owned(),
        })
    }

    #[test]
    fn amounts_read_as_people_write_them() {
        assert_eq!(m(450_000, "EUR"), "4,500.00 EUR");
        assert_eq!(m(5, "EUR"), "0.05 EUR");
        assert_eq!(m(-125_050, "USD"), "-1,250.50 USD");
        assert_eq!(m(500_000, "JPY"), "500,000 JPY");
        assert_eq!(m(1_500, "KWD"), "1.500 KWD");
        assert_eq!(m(i64::MIN, "EUR"), "-92,233,720,368,547,758.08 EUR");
    }
}
