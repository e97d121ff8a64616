//! Durations as kombu writes them: the serde form of the durations in declarations and
//! topology files (TTLs, expiry), and milliseconds for the wire.
//!
//! Written as a string with a unit (`"500ms"`, `"10s"`, `"5m"`, `"2h"`, `"1d"`). AMQP's
//! resolution is the millisecond, so that is what is kept; values are written back in
//! milliseconds (`"2000ms"`, as RabbitMQ's `x-message-ttl: 2000` means), or in minutes, hours
//! or days when they are whole ones (`"5m"`, `"7d"`).
//!
//! Topology files must give the unit ([`with_unit`]): a bare `2000` would be read as seconds by
//! some readers and milliseconds by others (RabbitMQ's arguments and definitions.json are in
//! milliseconds), so it is an error whose help shows both readings. A runtime [`crate::Queue`]
//! read from configuration still takes a bare number as seconds.

use std::time::Duration;

use serde::{de, Deserialize, Deserializer, Serializer};

/// Milliseconds of a duration, saturating at `i64::MAX`.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        None => s.serialize_none(),
        Some(d) => s.serialize_str(&written(*d)),
    }
}

/// A duration as files write it: milliseconds, or whole minutes, hours or days.
pub(crate) fn written(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Between a decode error's message and its help line: the topology loader shows what follows
/// as the diagnostic's help.
pub(crate) const HELP_MARK: &str = "\n= help: ";

/// Durations in topology files: a unit is required.
#[cfg_attr(not(feature = "topology"), allow(dead_code))]
pub(crate) mod with_unit {
    use std::time::Duration;

    use serde::{de, Deserialize, Deserializer};

    #[cfg(feature = "topology")]
    pub(crate) use super::serialize;
    use super::Raw;

    /// The help line of a bare number: both readings, and how to write each.
    pub(crate) fn readings(number: &str) -> String {
        format!(
            "{number} would be {number} ms or {number} s: write \"{number}ms\" or \"{number}s\""
        )
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let Some(raw) = Option::<Raw>::deserialize(d)? else {
            return Ok(None);
        };
        let number = match raw {
            Raw::Int(n) => n.to_string(),
            Raw::Float(x) => x.to_string(),
            Raw::Text(text) => {
                let trimmed = text.trim();
                if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit() || c == '.') {
                    trimmed.to_owned()
                } else {
                    return super::parse(&text).map(Some).map_err(de::Error::custom);
                }
            }
        };
        Err(de::Error::custom(format!(
            "duration {number} has no unit{}{}",
            super::HELP_MARK,
            readings(&number)
        )))
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

    #[test]
    fn written_in_milliseconds_or_whole_larger_units() {
        assert_eq!(written(Duration::from_millis(2000)), "2000ms");
        assert_eq!(written(Duration::from_millis(1500)), "1500ms");
        assert_eq!(written(Duration::from_secs(300)), "5m");
        assert_eq!(written(Duration::from_secs(7200)), "2h");
        assert_eq!(written(Duration::from_secs(7 * 86400)), "7d");
        assert_eq!(written(Duration::ZERO), "0ms");
    }

    #[test]
    fn topology_durations_need_a_unit() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[serde(default, with = "with_unit")]
            ttl: Option<Duration>,
        }
        let t: T = serde_json::from_str(r#"{"ttl": "2000ms"}"#).unwrap();
        assert_eq!(t.ttl, Some(Duration::from_secs(2)));
        for bare in [r#"{"ttl": 2000}"#, r#"{"ttl": "2000"}"#] {
            let e = serde_json::from_str::<T>(bare).unwrap_err().to_string();
            assert!(e.starts_with("duration 2000 has no unit"), "{e}");
            assert!(
                e.contains(r#"2000 would be 2000 ms or 2000 s: write "2000ms" or "2000s""#),
                "{e}"
            );
        }
    }
}
