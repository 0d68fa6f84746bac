//! Webhook signature verification: `X-Hub-Signature-256` is `sha256=` and the hex
//! HMAC-SHA256 of the raw body, keyed with the webhook secret.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The 32-byte digest in a header of the form `sha256=<64 hex digits>`, if it has that form.
/// Checked before the body is read, so unsigned requests cost nothing.
pub fn parse(header: Option<&str>) -> Option<Vec<u8>> {
    let hex_sig = header?.trim().strip_prefix("sha256=")?;
    let bytes = hex::decode(hex_sig).ok()?;
    (bytes.len() == 32).then_some(bytes)
}

/// Whether `header` is a valid signature of `body` under any of `secrets` (several during a
/// secret rotation).
pub fn verify(secrets: &[SecretString], body: &[u8], header: Option<&str>) -> bool {
    let Some(mut verifier) = Verifier::new(secrets, header) else {
        return false;
    };
    verifier.update(body);
    verifier.finish()
}

/// Checks a signature over a body fed in pieces as they arrive, so a 25 MiB body is hashed
/// while it is read rather than in one long stretch that would hold a runtime thread.
pub struct Verifier {
    signature: Vec<u8>,
    macs: Vec<Hmac<Sha256>>,
}

impl Verifier {
    /// `None` when the header is not of the form `sha256=<64 hex digits>`.
    pub fn new(secrets: &[SecretString], header: Option<&str>) -> Option<Verifier> {
        let signature = parse(header)?;
        let macs = secrets
            .iter()
            .filter_map(|s| Hmac::<Sha256>::new_from_slice(s.expose_secret().as_bytes()).ok())
            .collect();
        Some(Verifier { signature, macs })
    }

    pub fn update(&mut self, piece: &[u8]) {
        for mac in &mut self.macs {
            mac.update(piece);
        }
    }

    /// Whether the body was signed with any of the secrets. The comparison is constant-time
    /// (`verify_slice`), so response timing tells an attacker nothing about how much of a
    /// forged signature was right.
    pub fn finish(self) -> bool {
        let signature = self.signature;
        self.macs
            .into_iter()
            .fold(false, |ok, mac| mac.verify_slice(&signature).is_ok() | ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn accepts_only_a_matching_signature() {
        let secrets = vec![
            SecretString::from("current"),
            SecretString::from("previous"),
        ];
        let body = br#"{"action":"opened"}"#;
        assert!(verify(&secrets, body, Some(&sign("current", body))));
        assert!(
            verify(&secrets, body, Some(&sign("previous", body))),
            "rotation: the previous secret still works"
        );
        assert!(!verify(&secrets, body, Some(&sign("other", body))));
        assert!(!verify(&secrets, b"tampered", Some(&sign("current", body))));
        assert!(!verify(&secrets, body, None));
        assert!(!verify(&secrets, body, Some("sha1=abc")));
        assert!(!verify(&secrets, body, Some("sha256=zz")));
        assert!(!verify(&secrets, body, Some("sha256=")));
        let mut pieces = Verifier::new(&secrets, Some(&sign("previous", body))).unwrap();
        for piece in body.chunks(3) {
            pieces.update(piece);
        }
        assert!(pieces.finish(), "a body fed in pieces verifies as a whole");
        // GitHub's documented example.
        let example = b"Hello, World!";
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify(
            &[SecretString::from("It's a Secret to Everybody")],
            example,
            Some(expected)
        ));
    }
}
