//! Stable identifiers and state-key segments derived from arbitrary text.

/// A short, stable, non-cryptographic digest (FNV-1a 64, hex) for ids of events that carry none
/// and for key segments made from arbitrary text. Stable across versions and platforms.
pub fn stable_digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Makes a state-key segment from any text: safe characters are kept (so keys stay readable),
/// and a digest of the original is appended whenever anything had to change, so two different
/// texts never share a segment.
pub fn key_segment(text: &str) -> String {
    let safe: String = text
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.').to_owned();
    if safe == text && !safe.is_empty() {
        safe
    } else {
        format!("{safe}-{}", stable_digest(text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::check_state_key;

    #[test]
    fn segments_are_valid_keys_and_distinct() {
        for t in ["alarm:api cpu", "a/b", "..", "", "ünï", "alarm:api_cpu"] {
            let s = key_segment(t);
            assert!(check_state_key(&s).is_ok(), "{t:?} -> {s:?}");
        }
        assert_ne!(key_segment("alarm:api cpu"), key_segment("alarm:api_cpu"));
        assert_eq!(key_segment("outbox"), "outbox");
    }
}
