//! Signing keys for the tests: generated per run, never stored.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// One signing key with its id, and its public half as a JWK.
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    key: EncodingKey,
}

impl SigningKey {
    pub fn rsa(kid: &str) -> Self {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa key");
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).expect("der");
        let key = EncodingKey::from_rsa_der(&pkcs1_from_pkcs8(pkcs8.as_ref()));
        Self { kid: kid.to_owned(), alg: Algorithm::RS256, key }
    }

    pub fn p256(kid: &str) -> Self {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).expect("ec");
        Self { kid: kid.to_owned(), alg: Algorithm::ES256, key: EncodingKey::from_ec_der(doc.as_ref()) }
    }

    pub fn ed25519(kid: &str) -> Self {
        let doc = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).expect("ed25519");
        Self { kid: kid.to_owned(), alg: Algorithm::EdDSA, key: EncodingKey::from_ed_der(doc.as_ref()) }
    }

    /// The public key as a JWKS entry.
    pub fn jwk(&self) -> Value {
        let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&self.key, self.alg).expect("jwk")).expect("json");
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        jwk
    }

    /// A token with `claims`, naming this key's kid.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
    }
}

/// A JWKS document of `keys`.
pub fn set(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

/// Claims valid for an hour, with `roles`.
pub fn claims(roles: &[&str]) -> Value {
    json!({"sub": "tester", "exp": now() + 3600, "roles": roles})
}

/// aws-lc-rs writes RSA keys as PKCS#8; jsonwebtoken signs with the
/// PKCS#1 key inside it: PrivateKeyInfo ::= SEQUENCE { version, algorithm,
/// privateKey OCTET STRING }.
fn pkcs1_from_pkcs8(der: &[u8]) -> Vec<u8> {
    fn tlv(b: &[u8]) -> (u8, &[u8], &[u8]) {
        let (len, header) = if b[1] < 0x80 {
            (b[1] as usize, 2)
        } else {
            let n = (b[1] & 0x7f) as usize;
            (b[2..2 + n].iter().fold(0usize, |acc, &x| acc << 8 | x as usize), 2 + n)
        };
        (b[0], &b[header..header + len], &b[header + len..])
    }
    let (_, info, _) = tlv(der);
    let (_, _, rest) = tlv(info);
    let (_, _, rest) = tlv(rest);
    let (tag, key, _) = tlv(rest);
    assert_eq!(tag, 0x04, "PKCS#8 private key is an OCTET STRING");
    key.to_vec()
}
