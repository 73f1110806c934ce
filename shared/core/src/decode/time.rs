//! Timestamps as the clouds write them: RFC 3339, CloudWatch's `+0000` offsets, epoch seconds.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// Parses RFC 3339 or CloudWatch's `2023-08-04T12:36:15.490+0000`.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
}

/// Parses a JSON value holding epoch seconds (number or numeric string) or an RFC 3339 string.
pub(crate) fn parse_time_value(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => n.as_i64().and_then(|s| Utc.timestamp_opt(s, 0).single()),
        Value::String(s) => parse_time(s).or_else(|| {
            s.parse::<i64>()
                .ok()
                .and_then(|secs| Utc.timestamp_opt(secs, 0).single())
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudwatch_offset_without_colon() {
        let t = parse_time("2023-08-04T12:36:15.490+0000").expect("parses");
        assert_eq!(t.to_rfc3339(), "2023-08-04T12:36:15.490+00:00");
    }

    #[test]
    fn epoch_and_rfc3339_values() {
        assert_eq!(
            parse_time_value(&serde_json::json!(1577840461)).map(|t| t.timestamp()),
            Some(1577840461)
        );
        assert!(parse_time_value(&serde_json::json!("2020-01-01T01:01:01Z")).is_some());
        assert!(parse_time_value(&serde_json::json!("yesterday")).is_none());
        assert!(parse_time_value(&serde_json::json!(true)).is_none());
    }
}
