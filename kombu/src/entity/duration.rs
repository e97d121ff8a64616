//! The serde form of the durations in declarations (TTLs, expiry).
//!
//! Written in files as seconds (`message_ttl = 10`, `0.5`) or as a string with a unit
//! (`"500ms"`, `"10s"`, `"5m"`, `"2h"`, `"1d"`). AMQP's resolution is the millisecond, so that is
//! what is kept; values are written back as whole seconds when they are, else as `"<n>ms"`.

use std::time::Duration;

use serde::{de, Deserialize, Deserializer, Serializer};

/// Milliseconds of a duration, saturating at `i64::MAX`.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        None => s.serialize_none(),
        Some(d) => {
            let ms = d.as_millis();
            if ms % 1000 == 0 {
                s.serialize_u64(d.as_secs())
            } else {
                s.serialize_str(&format!("{ms}ms"))
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Int(u64),
    Float(f64),
    Text(String),
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let Some(raw) = Option::<Raw>::deserialize(d)? else {
        return Ok(None);
    };
    let d = match raw {
        Raw::Int(secs) => Duration::from_secs(secs),
        Raw::Float(secs) => Duration::try_from_secs_f64(secs).map_err(|_| {
            de::Error::custom(format!(
                "duration {secs} is not a non-negative number of seconds"
            ))
        })?,
        Raw::Text(text) => parse(&text).map_err(de::Error::custom)?,
    };
    Ok(Some(d))
}

fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("duration `{text}` must be a number followed by ms, s, m, h or d"))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        other => {
            return Err(format!(
                "duration `{text}` has unknown unit `{other}` (use ms, s, m, h or d)"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("duration `{text}` is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse("10 fortnights").unwrap_err().contains("unknown unit"));
        assert!(parse("abc").is_err());
    }
}
