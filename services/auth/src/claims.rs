//! Where the roles sit in a token's claims: `MASTHEAD_AUTH_ROLES_CLAIM`,
//! a claim name or a dotted path into nested objects (Keycloak's
//! `realm_access.roles`).

use crate::error::SetupError;
use crate::role::Role;
use serde_json::{Map, Value};

/// A roles claim: a top-level name, or a dotted path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    /// The setting as given: tried first as one claim name, because some
    /// providers use namespaced names with dots (`https://example.org/roles`).
    whole: String,
    segments: Vec<String>,
}

impl ClaimPath {
    pub fn parse(setting: &str) -> Result<Self, SetupError> {
        let whole = setting.trim().to_owned();
        let segments: Vec<String> = whole.split('.').map(str::to_owned).collect();
        if whole.is_empty() || segments.iter().any(String::is_empty) {
            return Err(SetupError::RolesClaim(setting.to_owned()));
        }
        Ok(Self { whole, segments })
    }

    /// The claim's value in `claims`, if present.
    pub fn find<'a>(&self, claims: &'a Value) -> Option<&'a Value> {
        if let Some(v) = claims.get(&self.whole) {
            return Some(v);
        }
        self.segments.iter().try_fold(claims, |node, segment| node.get(segment))
    }

    /// Our roles in `claims`: a list of strings (a single string counts as
    /// a list of one). Unknown names and non-strings are ignored.
    pub fn roles(&self, claims: &Value) -> Vec<Role> {
        let mut roles: Vec<Role> = match self.find(claims) {
            Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().and_then(Role::parse)).collect(),
            Some(Value::String(one)) => Role::parse(one).into_iter().collect(),
            _ => Vec::new(),
        };
        roles.sort();
        roles.dedup();
        roles
    }

    /// Writes `value` at this path (nested objects for a dotted path), so
    /// that tokens we issue are read back by [`ClaimPath::roles`].
    pub fn insert(&self, claims: &mut Map<String, Value>, value: Value) {
        let (last, parents) = self.segments.split_last().unwrap_or((&self.whole, &[]));
        let mut node = claims;
        for segment in parents {
            let entry = node.entry(segment.clone()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let Value::Object(map) = entry else { return };
            node = map;
        }
        node.insert(last.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dotted_path_reads_nested_roles() {
        let path = ClaimPath::parse("realm_access.roles").expect("path");
        let claims = json!({"realm_access": {"roles": ["offline_access", "curator", "uma_authorization"]}});
        assert_eq!(path.roles(&claims), vec![Role::Curator]);
        assert_eq!(path.roles(&json!({"realm_access": {}})), vec![]);
        assert_eq!(path.roles(&json!({"roles": ["admin"]})), vec![], "only the configured path counts");
    }

    #[test]
    fn a_namespaced_name_with_dots_is_one_claim() {
        let path = ClaimPath::parse("https://masthead.example/roles").expect("path");
        let claims = json!({"https://masthead.example/roles": ["viewer", "admin", "viewer"]});
        assert_eq!(path.roles(&claims), vec![Role::Viewer, Role::Admin]);
    }

    #[test]
    fn a_single_string_is_one_role_and_junk_is_none() {
        let path = ClaimPath::parse("roles").expect("path");
        assert_eq!(path.roles(&json!({"roles": "auditor"})), vec![Role::Auditor]);
        assert_eq!(path.roles(&json!({"roles": [1, null, {"a": 1}]})), vec![]);
        assert_eq!(path.roles(&json!({"roles": 7})), vec![]);
    }

    #[test]
    fn inserted_roles_are_found_again() {
        let path = ClaimPath::parse("resource_access.masthead.roles").expect("path");
        let mut claims = Map::new();
        path.insert(&mut claims, json!(["admin"]));
        assert_eq!(path.roles(&Value::Object(claims)), vec![Role::Admin]);
    }

    #[test]
    fn empty_segments_are_refused() {
        for bad in ["", "a..b", ".roles", "roles."] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad:?}");
        }
    }
}
