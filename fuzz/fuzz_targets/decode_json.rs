//! Any bytes as a Lambda payload or fixture: decoding must return, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = twincloud_core::decode_json(data);
});
