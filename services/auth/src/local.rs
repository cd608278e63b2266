//! The zero-setup default: a shared HS256 secret kept in the data
//! directory, and tokens signed with it (`masthead token issue`).
//!
//! The secret file is created once, readable by its owner only (0600),
//! and written whole: it is written under a private name and then linked
//! into place, so two processes starting at once agree on one secret and
//! neither ever reads half of it.

use crate::claims::ClaimPath;
use crate::error::{IssueError, SetupError};
use crate::role::Role;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The secret's file name inside the data directory.
pub const SECRET_FILE: &str = "auth-hs256.secret";
/// The longest lifetime of a local token.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// The local secret and whether this call created it.
pub struct LocalSecret {
    pub secret: String,
    pub path: PathBuf,
    pub created: bool,
}

/// Reads `<data_dir>/auth-hs256.secret`, creating it (32 random bytes,
/// base64url, mode 0600) when it does not exist yet.
pub fn ensure_secret(data_dir: &Path) -> Result<LocalSecret, SetupError> {
    let path = data_dir.join(SECRET_FILE);
    let fail = |source| SetupError::SecretFile { path: path.clone(), source };
    let created = match read_secret(&path)? {
        Some(_) => false,
        None => {
            std::fs::create_dir_all(data_dir).map_err(fail)?;
            create_secret(&path).map_err(fail)?
        }
    };
    match read_secret(&path)? {
        Some(secret) => Ok(LocalSecret { secret, path, created }),
        None => Err(fail(std::io::Error::new(std::io::ErrorKind::NotFound, "vanished right after creation"))),
    }
}

/// The secret in `path`, `None` when there is no such file. Refuses a file
/// others may read.
fn read_secret(path: &Path) -> Result<Option<String>, SetupError> {
    let fail = |source| SetupError::SecretFile { path: path.to_owned(), source };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(fail)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SetupError::SecretFileMode { path: path.to_owned(), mode });
        }
    }
    let secret = text.trim().to_owned();
    if secret.len() < crate::validator::MIN_SECRET_LEN {
        return Err(fail(std::io::Error::new(std::io::ErrorKind::InvalidData, "shorter than 32 bytes")));
    }
    Ok(Some(secret))
}

/// Writes a new secret to `path` unless one appeared meanwhile; returns
/// whether this call's secret is the one in place.
fn create_secret(path: &Path) -> std::io::Result<bool> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".{}.partial", std::process::id()));
    let partial = PathBuf::from(partial);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&partial).and_then(|mut file| {
        use std::io::Write;
        file.write_all(format!("{}\n", URL_SAFE_NO_PAD.encode(bytes)).as_bytes())?;
        file.sync_all()
    });
    // A hard link fails if the name exists, so the first process to finish
    // wins and the others read its secret.
    let linked = written.and_then(|()| std::fs::hard_link(&partial, path));
    let _ = std::fs::remove_file(&partial);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Signs HS256 tokens the [`crate::Authenticator`] with the same secret,
/// issuer, audience and roles claim accepts.
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
    roles_claim: ClaimPath,
}

/// What one token says.
pub struct TokenRequest<'a> {
    pub subject: &'a str,
    pub roles: &'a [Role],
    pub ttl: Duration,
}

impl TokenIssuer {
    pub fn new(
        secret: &str,
        issuer: Option<&str>,
        audience: Option<&str>,
        roles_claim: &str,
    ) -> Result<Self, SetupError> {
        if secret.len() < crate::validator::MIN_SECRET_LEN {
            return Err(SetupError::WeakSecret(secret.len()));
        }
        // Only an empty secret is refused, and that was refused above.
        let key = EncodingKey::from_secret(secret.as_bytes()).map_err(|_| SetupError::WeakSecret(0))?;
        Ok(Self {
            key,
            issuer: issuer.filter(|s| !s.trim().is_empty()).map(str::to_owned),
            audience: audience.filter(|s| !s.trim().is_empty()).map(str::to_owned),
            roles_claim: ClaimPath::parse(roles_claim)?,
        })
    }

    /// A token for `request`, valid from now for its `ttl`.
    pub fn issue(&self, request: &TokenRequest<'_>) -> Result<String, IssueError> {
        self.issue_at(request, SystemTime::now())
    }

    /// A token as if issued at `now` (tests make expired and future tokens).
    pub fn issue_at(&self, request: &TokenRequest<'_>, now: SystemTime) -> Result<String, IssueError> {
        if request.roles.is_empty() {
            return Err(IssueError::NoRole);
        }
        if request.ttl.is_zero() || request.ttl > MAX_TTL {
            return Err(IssueError::Lifetime);
        }
        let iat = now.duration_since(UNIX_EPOCH).map_err(|_| IssueError::Lifetime)?.as_secs();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(request.subject));
        claims.insert("iat".into(), json!(iat));
        claims.insert("nbf".into(), json!(iat));
        claims.insert("exp".into(), json!(iat + request.ttl.as_secs()));
        if let Some(issuer) = &self.issuer {
            claims.insert("iss".into(), json!(issuer));
        }
        if let Some(audience) = &self.audience {
            claims.insert("aud".into(), json!(audience));
        }
        let names: Vec<&str> = request.roles.iter().map(|r| r.as_str()).collect();
        self.roles_claim.insert(&mut claims, json!(names));
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &Value::Object(claims), &self.key)
            .map_err(IssueError::Sign)
    }
}

/// Parses a lifetime such as `8h`, `30m`, `90s`, `7d` (a bare number is
/// seconds).
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a lifetime such as 8h, 30m or 7d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    let ttl = Duration::from_secs(number.saturating_mul(seconds));
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(format!("{text:?}: a lifetime must be between 1s and 366d"));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse_with_units() {
        assert_eq!(parse_ttl("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        for bad in ["", "h", "0s", "5w", "-1h", "400d", "1.5h"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_secret_is_created_once_private_and_then_reused() {
        let dir = tempfile::tempdir().expect("dir");
        let first = ensure_secret(dir.path()).expect("created");
        assert!(first.created);
        assert!(first.secret.len() >= 43, "32 bytes in base64url");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let second = ensure_secret(dir.path()).expect("read");
        assert!(!second.created);
        assert_eq!(second.secret, first.secret);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
        assert_eq!(leftovers.len(), 1, "no partial files left behind");
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let secret = ensure_secret(dir.path()).expect("created");
        std::fs::set_permissions(&secret.path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = ensure_secret(dir.path()).err().expect("refused");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn issuing_needs_a_role_and_a_sane_lifetime() {
        let issuer = TokenIssuer::new(&"s".repeat(32), None, None, "roles").expect("issuer");
        let ok = TokenRequest { subject: "ops", roles: &[Role::Viewer], ttl: Duration::from_secs(60) };
        assert!(issuer.issue(&ok).is_ok());
        let none = TokenRequest { roles: &[], ..ok };
        assert!(matches!(issuer.issue(&none), Err(IssueError::NoRole)));
        let zero = TokenRequest { subject: "ops", roles: &[Role::Admin], ttl: Duration::ZERO };
        assert!(matches!(issuer.issue(&zero), Err(IssueError::Lifetime)));
        assert!(TokenIssuer::new("short", None, None, "roles").is_err());
    }
}
