//! Bounds on text that came from outside: an error or a title quotes input, never all of it.

/// `s` cut to at most `max` characters, with `…` marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clips_on_characters_not_bytes() {
        assert_eq!(clip("héllo", 5), "héllo");
        assert_eq!(clip("héllo wörld", 5), "héll…");
        assert_eq!(clip(&"x".repeat(20_000_000), 200).chars().count(), 200);
    }
}
