//! Content digests computed while bytes stream past: MD5 (what S3 and GCS verify and list) and
//! CRC32C (what GCS lists for every object, composite ones included).

use base64::Engine;
use md5::Digest;

/// MD5 and CRC32C of a stream of bytes, updated chunk by chunk.
#[derive(Clone, Default)]
pub struct ContentDigest {
    md5: md5::Md5,
    crc: u32,
    len: u64,
}

impl ContentDigest {
    /// An empty digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hex MD5 and base64 big-endian CRC32C (the forms S3 ETags and GCS listings use).
    pub fn finish(self) -> (String, String) {
        let md5 = hex(&self.md5.finalize());
        let crc = base64::engine::general_purpose::STANDARD.encode(self.crc.to_be_bytes());
        (md5, crc)
    }

    /// Digests of a whole buffer.
    pub fn of(bytes: &[u8]) -> (String, String) {
        let mut d = Self::new();
        d.update(bytes);
        d.finish()
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Base64 of the bytes a hex string spells (S3 `Content-MD5`, GCS `md5Hash` take base64).
pub fn hex_to_base64(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    Some(base64::engine::general_purpose::STANDARD.encode(bytes?))
}

/// Hex of the bytes a base64 string spells (GCS `md5Hash` to the hex form listings compare).
pub fn base64_to_hex(b64: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .map(|b| hex(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        // The empty object: the MD5 every S3 ETag of a zero-byte upload shows; CRC32C 0.
        assert_eq!(
            ContentDigest::of(b""),
            ("d41d8cd98f00b204e9800998ecf8427e".into(), "AAAAAA==".into())
        );
        // RFC 3720's CRC32C check value for "123456789" is 0xE3069283.
        assert_eq!(ContentDigest::of(b"123456789").1, "4waSgw==");
        let mut d = ContentDigest::new();
        d.update(b"1234");
        d.update(b"56789");
        assert_eq!(d.finish(), ContentDigest::of(b"123456789"));
    }

    #[test]
    fn hex_and_base64_round_trip() {
        let h = "d41d8cd98f00b204e9800998ecf8427e";
        let b = hex_to_base64(h).unwrap();
        assert_eq!(b, "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(base64_to_hex(&b).as_deref(), Some(h));
        assert_eq!(hex_to_base64("zz"), None);
    }
}
