"""Makes an RSA key, its JWKS, and signed ID tokens shaped like Pub/Sub push tokens, for the
runtime's push-auth tests. Independent of the Rust code under test (uses `cryptography`).

usage: push_token.py OUT_DIR AUDIENCE EMAIL [COMMANDER_EMAIL]
writes OUT_DIR/jwks.json and OUT_DIR/tokens.json ({"good", "wrong_audience", "wrong_email",
"expired", "wrong_issuer", "bad_signature", "unverified_email" (no email_verified claim),
"email_not_verified"}, and "commander", signed for COMMANDER_EMAIL)."""
import base64, json, sys, time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

out, audience, email = sys.argv[1], sys.argv[2], sys.argv[3]
commander = sys.argv[4] if len(sys.argv) > 4 else "oncall@acme.example"
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pub = key.public_key().public_numbers()
n = pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")
e = pub.e.to_bytes((pub.e.bit_length() + 7) // 8, "big")
kid = "twincloud-test-key"
jwks = {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": b64(n), "e": b64(e)}]}

def token(claims, signer=key):
    header = b64(json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    sig = signer.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{b64(sig)}"

now = int(time.time())
base = {"iss": "https://accounts.google.com", "aud": audience, "email": email, "email_verified": True,
        "sub": "112233445566778899000", "iat": now - 10, "exp": now + 3600}
tokens = {
    "good": token(base),
    "wrong_audience": token({**base, "aud": "https://someone-else.example"}),
    "wrong_email": token({**base, "email": "intruder@evil.example"}),
    "expired": token({**base, "iat": now - 7200, "exp": now - 3600}),
    "wrong_issuer": token({**base, "iss": "https://issuer.example"}),
    "bad_signature": token(base, signer=other),
    "commander": token({**base, "email": commander}),
    "unverified_email": token({k: v for k, v in base.items() if k != "email_verified"}),
    "email_not_verified": token({**base, "email_verified": False}),
}
json.dump(jwks, open(f"{out}/jwks.json", "w"))
json.dump(tokens, open(f"{out}/tokens.json", "w"))
