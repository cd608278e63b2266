//! The four roles and who they let through which door.
//!
//! | role | may |
//! |---|---|
//! | `viewer` | the dashboard, stats, lists (no personal data) |
//! | `curator` | what a viewer may, plus match previews and base-address curation |
//! | `auditor` | what a viewer may, plus the audit endpoints |
//! | `admin` | everything |
//!
//! Curator and auditor are siblings: neither includes the other.

use std::fmt;
use std::str::FromStr;

/// A role a token may carry, by its name in the roles claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Curator,
    Auditor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Curator, Role::Auditor, Role::Admin];

    /// The name in tokens, settings and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Curator => "curator",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// The role named `name`, in any case. Identity providers often carry
    /// other roles of their own beside ours; those are `None`, not errors.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether holding `self` opens a door that requires `required`.
    pub fn grants(self, required: Role) -> bool {
        match (self, required) {
            (Role::Admin, _) => true,
            (held, needed) if held == needed => true,
            (Role::Curator | Role::Auditor, Role::Viewer) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of ours (for command-line parsing).
#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}: use viewer, curator, auditor or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Who a valid token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`, when it has one. An identifier, never logged
    /// beside personal data.
    pub subject: Option<String>,
    /// Our roles among the token's; others are dropped.
    pub roles: Vec<Role>,
    /// The token's `exp`, seconds since the epoch (a session cookie lives
    /// no longer than its token).
    pub expires_at: u64,
}

impl Principal {
    /// Whether any of the principal's roles opens a door requiring `required`.
    pub fn may(&self, required: Role) -> bool {
        self.roles.iter().any(|r| r.grants(required))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table, written out: who may pass which door.
    #[test]
    fn inclusion_follows_the_table() {
        use Role::*;
        let allowed = [
            (Viewer, vec![Viewer]),
            (Curator, vec![Viewer, Curator]),
            (Auditor, vec![Viewer, Auditor]),
            (Admin, vec![Viewer, Curator, Auditor, Admin]),
        ];
        for (held, doors) in allowed {
            for needed in Role::ALL {
                assert_eq!(held.grants(needed), doors.contains(&needed), "{held} at a {needed} door");
            }
        }
    }

    #[test]
    fn names_parse_in_any_case_and_others_are_ignored() {
        assert_eq!(Role::parse("Curator"), Some(Role::Curator));
        assert_eq!(Role::parse(" admin "), Some(Role::Admin));
        assert_eq!(Role::parse("offline_access"), None);
        assert!("superuser".parse::<Role>().unwrap_err().to_string().contains("viewer, curator"));
    }

    #[test]
    fn a_principal_may_what_any_of_its_roles_may() {
        let p = Principal { subject: None, roles: vec![Role::Auditor, Role::Curator], expires_at: 0 };
        assert!(p.may(Role::Curator) && p.may(Role::Auditor) && p.may(Role::Viewer));
        assert!(!p.may(Role::Admin));
        let nobody = Principal { subject: None, roles: vec![], expires_at: 0 };
        assert!(!nobody.may(Role::Viewer));
    }
}
