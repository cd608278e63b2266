//! The validator against real tokens: HS256 with a shared secret, and
//! RS256, ES256 and EdDSA against a JWKS served by an HTTP server in this
//! process. Nothing of the validator is replaced.

mod jwks;
mod keys;
mod secret;
