//! Masthead's identity: who a request's bearer token says the caller is.
//!
//! - [`Authenticator`] validates JWTs: HS256 against a shared secret
//!   (`MASTHEAD_AUTH_HS256_SECRET`), RS256, ES256 and EdDSA against the
//!   identity provider's JWKS (`MASTHEAD_AUTH_JWKS_URL`, cached, refetched
//!   on an unknown `kid`, see [`jwks`]); `exp` always, `nbf` when present,
//!   issuer and audience when configured, at most 60 s of clock skew. The
//!   signature work is jsonwebtoken's; nothing here computes one.
//! - [`Role`] and [`Principal`]: the roles a token carries in its roles
//!   claim ([`ClaimPath`], a name or a dotted path such as Keycloak's
//!   `realm_access.roles`) and which doors they open.
//! - [`local`]: the zero-setup default, a secret in the data directory and
//!   the tokens `masthead token issue` signs with it.
//!
//! Which endpoint needs which role is the HTTP layer's business
//! (`masthead-http`'s `access` module); this crate knows only tokens.

pub mod claims;
pub mod error;
pub mod jwks;
pub mod local;
pub mod role;
pub mod validator;

pub use claims::ClaimPath;
pub use error::{AuthError, IssueError, JwksError, SetupError};
pub use role::{Principal, Role};
pub use validator::{AuthSettings, Authenticator, MAX_CLOCK_SKEW};
