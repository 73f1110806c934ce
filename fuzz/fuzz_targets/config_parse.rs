//! Any text as a configuration file: validation must report, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = twincloud_core::Config::parse("fuzz.toml", text);
    }
});
