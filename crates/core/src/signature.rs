//! Webhook signatures, one scheme both ways: what Pitboss sends (alert webhooks) and what it
//! takes (the telephony and inbound-mail webhooks) carry
//! `Pitboss-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The time inside
//! the signed text keeps an old request from being replayed outside the tolerance.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header's name.
pub const HEADER: &str = "pitboss-signature";

/// How far a signature's time may be from now, in seconds.
pub const TOLERANCE_SECONDS: i64 = 300;

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac
}

/// The signature header's value for `body` sent at `t` (unix seconds).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body).finalize().into_bytes()))
}

/// Whether `header` signs `body` with `secret` at a time within the tolerance of `now`; the
/// reason when it does not. The comparison takes the same time whatever the signature.
pub fn verify(secret: &str, header: Option<&str>, body: &[u8], now: i64) -> Result<(), String> {
    verify_within(secret, header, body, now, TOLERANCE_SECONDS)
}

/// [`verify`] with another tolerance, for a signature made well before it is used (a player's
/// identity signed into the casino's page when it was served).
pub fn verify_within(secret: &str, header: Option<&str>, body: &[u8], now: i64, tolerance: i64) -> Result<(), String> {
    let header = header.ok_or_else(|| format!("the request is not signed: send the {HEADER} header"))?;
    let (mut t, mut v1) = (None, Vec::new());
    for part in header.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| format!("{HEADER} has no time: expected t=<unix seconds>,v1=<hex>"))?;
    if (now - t).abs() > tolerance {
        return Err(format!("{HEADER} is {} seconds from now; at most {tolerance} are allowed", now - t));
    }
    if v1.iter().any(|sig| mac(secret, t, body).verify_slice(sig).is_ok()) {
        Ok(())
    } else {
        Err(format!("{HEADER} does not match the body: check the shared secret"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let header = sign("s3cret", 1_000, b"{\"a\":1}");
        assert_eq!(verify("s3cret", Some(&header), b"{\"a\":1}", 1_010), Ok(()));
        assert!(verify("s3cret", Some(&header), b"{\"a\":2}", 1_010).unwrap_err().contains("does not match"));
        assert!(verify("other", Some(&header), b"{\"a\":1}", 1_010).is_err());
        assert!(verify("s3cret", Some(&header), b"{\"a\":1}", 1_000 + 301).unwrap_err().contains("seconds from now"));
        assert!(verify("s3cret", None, b"", 1_000).unwrap_err().contains("not signed"));
        assert!(verify("s3cret", Some("v1=abcd"), b"", 1_000).unwrap_err().contains("no time"));
        assert!(verify("s3cret", Some("t=1000,v1=zz"), b"", 1_000).is_err());
    }

    #[test]
    fn the_signed_text_is_the_time_a_dot_and_the_body() {
        // HMAC-SHA256("key", "5.body"), computed independently.
        let expected = {
            let mut m = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
            m.update(b"5.body");
            hex::encode(m.finalize().into_bytes())
        };
        assert_eq!(sign("key", 5, b"body"), format!("t=5,v1={expected}"));
    }
}
