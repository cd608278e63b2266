//! Opaque pagination cursors.
//!
//! A cursor names the position of the last item returned in the list's sort
//! order — never an offset — so that the next page is one index seek however
//! deep it is, and rows inserted meanwhile neither repeat nor vanish. It is
//! base64url of a small text record, versioned so the format can change:
//!
//! * subscriptions (newest first): `s1:<created_at µs>:<id>`
//! * addresses: `a1:<id>:<index key>` where the index key is the search word
//!   the address was found under for `q` searches and empty otherwise.
//! * review items (oldest first): `r1:<created_at µs>:<id>`

use crate::error::StoreError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscriptionCursor {
    pub created_us: i64,
    pub id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReviewCursor {
    pub created_us: i64,
    pub id: Uuid,
}

impl ReviewCursor {
    pub fn encode(&self) -> String {
        B64.encode(format!("r1:{}:{}", self.created_us, self.id))
    }

    pub fn decode(cursor: &str) -> Result<Self, StoreError> {
        let text = decode_text(cursor)?;
        let rest = text.strip_prefix("r1:").ok_or(StoreError::InvalidCursor)?;
        let (ts, id) = rest.split_once(':').ok_or(StoreError::InvalidCursor)?;
        Ok(Self {
            created_us: ts.parse().map_err(|_| StoreError::InvalidCursor)?,
            id: id.parse().map_err(|_| StoreError::InvalidCursor)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddressCursor {
    pub id: Uuid,
    pub key: String,
}

fn decode_text(cursor: &str) -> Result<String, StoreError> {
    let bytes = B64.decode(cursor.as_bytes()).map_err(|_| StoreError::InvalidCursor)?;
    String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)
}

impl SubscriptionCursor {
    pub fn encode(&self) -> String {
        B64.encode(format!("s1:{}:{}", self.created_us, self.id))
    }

    pub fn decode(cursor: &str) -> Result<Self, StoreError> {
        let text = decode_text(cursor)?;
        let rest = text.strip_prefix("s1:").ok_or(StoreError::InvalidCursor)?;
        let (ts, id) = rest.split_once(':').ok_or(StoreError::InvalidCursor)?;
        Ok(Self {
            created_us: ts.parse().map_err(|_| StoreError::InvalidCursor)?,
            id: id.parse().map_err(|_| StoreError::InvalidCursor)?,
        })
    }
}

impl AddressCursor {
    pub fn encode(&self) -> String {
        B64.encode(format!("a1:{}:{}", self.id, self.key))
    }

    pub fn decode(cursor: &str) -> Result<Self, StoreError> {
        let text = decode_text(cursor)?;
        let rest = text.strip_prefix("a1:").ok_or(StoreError::InvalidCursor)?;
        let (id, key) = rest.split_once(':').ok_or(StoreError::InvalidCursor)?;
        Ok(Self { id: id.parse().map_err(|_| StoreError::InvalidCursor)?, key: key.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_each_other() {
        let s = SubscriptionCursor { created_us: -5, id: Uuid::from_u128(7) };
        assert_eq!(SubscriptionCursor::decode(&s.encode()).unwrap(), s);
        let a = AddressCursor { id: Uuid::from_u128(9), key: "kerk:straat".into() };
        assert_eq!(AddressCursor::decode(&a.encode()).unwrap(), a);
        assert!(matches!(AddressCursor::decode(&s.encode()), Err(StoreError::InvalidCursor)));
        assert!(matches!(SubscriptionCursor::decode("not base64!"), Err(StoreError::InvalidCursor)));
        assert!(matches!(SubscriptionCursor::decode(&B64.encode("s1:x:y")), Err(StoreError::InvalidCursor)));
    }
}
