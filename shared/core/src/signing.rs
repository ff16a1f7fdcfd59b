//! Signatures receivers verify. The default is Standard Webhooks: `webhook-id`,
//! `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
//! keyed with the base64-decoded part of a `whsec_` secret. A subscription may also ask for the
//! simple scheme several dealer platforms use: a header of its choice carrying the lowercase hex
//! HMAC-SHA256 of the raw body, keyed with the secret string exactly as shown (its UTF-8 bytes).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 32;

/// A signing secret, `whsec_` + base64 of 32 random bytes. Debug output never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(\"whsec_…\")")
    }
}

impl Secret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Secret(format!("{SECRET_PREFIX}{}", B64.encode(bytes)))
    }

    /// Wraps an existing secret string (stored or published test vectors).
    pub fn from_string(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The HMAC key of the Standard Webhooks scheme: the base64 part, decoded. A secret that is
    /// not valid base64 is used as raw bytes, as the reference libraries do.
    fn standard_key(&self) -> Vec<u8> {
        let b64 = self.0.strip_prefix(SECRET_PREFIX).unwrap_or(&self.0);
        B64.decode(b64).unwrap_or_else(|_| b64.as_bytes().to_vec())
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// One `v1,<base64>` signature of the Standard Webhooks scheme.
pub fn sign_standard(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(
        &secret.standard_key(),
        &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{}", B64.encode(mac))
}

/// Lowercase hex HMAC-SHA256 of the body, keyed with the secret string's UTF-8 bytes.
pub fn sign_hex(secret: &Secret, body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret.as_str().as_bytes(), &[body]))
}

/// The signature headers for one attempt. `secrets` holds the current secret first; more than
/// one (during a rotation) gives space-separated signatures in `webhook-signature`, as the
/// standard allows. The hex header is signed with the first secret only.
pub fn signature_headers(
    secrets: &[&Secret],
    hex_header: Option<&str>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    let sigs: Vec<String> = secrets
        .iter()
        .map(|s| sign_standard(s, msg_id, timestamp, body))
        .collect();
    let mut headers = vec![
        ("webhook-id".to_string(), msg_id.to_string()),
        ("webhook-timestamp".to_string(), timestamp.to_string()),
        ("webhook-signature".to_string(), sigs.join(" ")),
    ];
    if let (Some(name), Some(first)) = (hex_header, secrets.first()) {
        headers.push((name.to_string(), sign_hex(first, body)));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vector published with the Standard Webhooks reference libraries.
    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TS: i64 = 1614265330;
    const VECTOR_BODY: &str = r#"{"test": 2432232314}"#;
    const VECTOR_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn matches_the_published_standard_webhooks_vector() {
        let s = Secret::from_string(VECTOR_SECRET);
        assert_eq!(
            sign_standard(&s, VECTOR_ID, VECTOR_TS, VECTOR_BODY.as_bytes()),
            VECTOR_SIG
        );
    }

    #[test]
    fn an_independent_verifier_accepts_our_signatures() {
        let secret = Secret::generate();
        let body =
            br#"{"id":"evt_1","type":"lead.qualified","data":{"summary":"test drive Friday"}}"#;
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let headers = signature_headers(&[&secret], None, "evt_1", ts, body);
        let mut map = http::HeaderMap::new();
        for (k, v) in &headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        let verifier = standardwebhooks::Webhook::new(secret.as_str()).unwrap();
        verifier
            .verify(body, &map)
            .expect("standardwebhooks verifies our signature");

        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert!(
            verifier.verify(&tampered, &map).is_err(),
            "a changed body must not verify"
        );
    }

    #[test]
    fn hex_scheme_is_keyed_with_the_secret_string_like_node_create_hmac() {
        // Equivalent of crypto.createHmac('sha256', 'whsec_abc').update('{"a":1}').digest('hex'),
        // computed independently with: printf '{"a":1}' | openssl dgst -sha256 -hmac whsec_abc
        let s = Secret::from_string("whsec_abc");
        assert_eq!(
            sign_hex(&s, br#"{"a":1}"#),
            "359ab2775fc376b1a8dee20a432572581b7d5b4e2c3a4e3ff657ed6713fa7eeb"
        );
    }

    #[test]
    fn rotation_signs_with_both_secrets() {
        let (old, new) = (Secret::generate(), Secret::generate());
        let h = signature_headers(
            &[&new, &old],
            Some("X-CarBuddy-Signature"),
            "evt_1",
            1,
            b"{}",
        );
        let sig = &h.iter().find(|(k, _)| k == "webhook-signature").unwrap().1;
        let parts: Vec<&str> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], sign_standard(&new, "evt_1", 1, b"{}"));
        assert_eq!(parts[1], sign_standard(&old, "evt_1", 1, b"{}"));
        let hex = &h
            .iter()
            .find(|(k, _)| k == "X-CarBuddy-Signature")
            .unwrap()
            .1;
        assert_eq!(hex, &sign_hex(&new, b"{}"));
    }

    #[test]
    fn generated_secrets_are_distinct_and_decode_to_32_bytes() {
        let (a, b) = (Secret::generate(), Secret::generate());
        assert_ne!(a, b);
        assert_eq!(a.standard_key().len(), 32);
        assert!(!format!("{a:?}").contains(&a.as_str()[6..]));
    }
}
