//! Webhook signatures, both ways: verifying what providers send us, and producing the same
//! signatures (for the simulator and for tests). Comparisons are constant-time.
//!
//! - Meta: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`. Hash the
//!   bytes exactly as received; never re-serialise the JSON.
//! - Twilio: `X-Twilio-Signature: Base64(HMAC-SHA1(auth token, URL + every POST field name
//!   and value, sorted by name, then by value))`. Validators also try the URL with and
//!   without the default port.
//! - pregon's own outbound notifications: `X-Pregon-Signature: sha256=<hex HMAC-SHA256>`.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// `sha256=<hex>` of HMAC-SHA256 over `body` (Meta's and pregon's scheme).
pub fn sha256_header(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a `sha256=<hex>` header against the body, in constant time.
pub fn verify_sha256_header(secret: &[u8], body: &[u8], header: &str) -> bool {
    let expected = sha256_header(secret, body);
    let given = header.trim();
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// Twilio's signature of a form POST to `url`.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = String::from(url);
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks `X-Twilio-Signature` for a form POST, trying the URL as given, with and without
/// the scheme's default port, as Twilio's own validators do.
pub fn verify_twilio(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let given = header.trim().as_bytes();
    url_variants(url).iter().any(|u| {
        let expected = twilio_signature(auth_token, u, params);
        given.len() == expected.len() && bool::from(given.ct_eq(expected.as_bytes()))
    })
}

/// The URL as given, plus the variant with the default port added or removed.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    for (scheme, port) in [("https://", ":443"), ("http://", ":80")] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
            if let Some(host) = authority.strip_suffix(port) {
                out.push(format!("{scheme}{host}{path}"));
            } else if !authority.contains(':') {
                out.push(format!("{scheme}{authority}{port}{path}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// GitHub's published vector for the same scheme as Meta's.
    #[test]
    fn sha256_matches_the_published_vector() {
        let header = sha256_header(b"It's a Secret to Everybody", b"Hello, World!");
        assert_eq!(
            header,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert!(verify_sha256_header(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            &header
        ));
        assert!(!verify_sha256_header(
            b"It's a Secret to Everybody",
            b"Hello, World?",
            &header
        ));
        assert!(!verify_sha256_header(b"another secret", b"Hello, World!", &header));
        assert!(!verify_sha256_header(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            "sha256=00"
        ));
        assert!(!verify_sha256_header(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            ""
        ));
    }

    /// The delivered-status body of providers.md, byte for byte (432 bytes).
    #[test]
    fn sha256_matches_the_meta_status_vector() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.TEST1","status":"delivered","timestamp":"1750263773","recipient_id":"16505551234","pricing":{"billable":true,"pricing_model":"PMP","category":"marketing","type":"regular"}}]},"field":"messages"}]}]}"#;
        assert_eq!(body.len(), 432);
        assert_eq!(
            sha256_header(b"test_app_secret", body.as_bytes()),
            "sha256=a1dccd236146412cebdd48cc3da87d57e6771d8829fb8ded7aaeab0098fb4f56"
        );
    }

    /// twilio-python's `test_request_validator.py` vectors.
    #[test]
    fn twilio_matches_the_official_vectors() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(twilio_signature("12345", url, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(verify_twilio("12345", url, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(
            twilio_signature("12345", with_port, &params),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        // Either form of the URL validates either signature.
        assert!(verify_twilio(
            "12345",
            with_port,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(verify_twilio("12345", url, &params, "kvajT1Ptam85bY51eRf/AJRuM3w="));
        assert!(!verify_twilio("54321", url, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        let duplicates = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            twilio_signature("12345", url, &duplicates),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn twilio_matches_the_whatsapp_status_vector() {
        let a32 = "a".repeat(32);
        let params = pairs(&[
            ("AccountSid", &format!("AC{a32}")),
            ("ApiVersion", "2010-04-01"),
            ("ChannelPrefix", "whatsapp"),
            ("ChannelToAddress", "+14155550100"),
            ("From", "whatsapp:+14155238886"),
            ("MessageSid", &format!("SM{a32}")),
            ("MessageStatus", "delivered"),
            ("SmsSid", &format!("SM{a32}")),
            ("SmsStatus", "delivered"),
            ("To", "whatsapp:+14155550100"),
        ]);
        assert_eq!(
            twilio_signature("12345", "https://example.com/twilio/status", &params),
            "MkVb+L1z3STGucPxG6IvkclmQl4="
        );
    }
}
