//! Shops and API keys, valid by construction.

use chrono::{DateTime, Utc};
use meridian_common::email::Email;
use meridian_common::internal::Scope;
use meridian_common::{SellerId, UserId};
use serde::{Deserialize, Serialize};

/// URL name of a shop: 3–40 of `a-z 0-9 -`, no leading/trailing/double `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, pattern = "^(?=.{3,40}$)[a-z0-9]+(-[a-z0-9]+)*$")]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        // Not trimmed: the schema's pattern has no room for blanks.
        let slug = raw;
        let ok = (3..=40).contains(&slug.len())
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !slug.starts_with('-')
            && !slug.ends_with('-')
            && !slug.contains("--");
        if ok {
            Ok(Self(slug.to_owned()))
        } else {
            Err("must be 3-40 lowercase letters, digits and single hyphens".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub use meridian_common::error::text;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Shop {
    pub id: SellerId,
    pub owner_id: UserId,
    pub name: String,
    pub slug: Slug,
    pub description: String,
    pub contact_email: Email,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What `PATCH /me` may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub contact_email: Option<Email>,
}

meridian_common::typed_id!(
    /// A seller API key (not its secret).
    ApiKeyId,
    "key id"
);
meridian_common::typed_id!(
    /// An uploaded product photo.
    ImageId,
    "image id"
);

/// A stored API key: only the SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub seller_id: SellerId,
    pub name: String,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    #[serde(skip)]
    pub hash: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub fn parse_scopes(raw: &[String]) -> Result<Vec<Scope>, String> {
    if raw.is_empty() {
        return Err("give at least one scope".into());
    }
    let mut scopes = Vec::new();
    for s in raw {
        let scope = Scope::parse(s).ok_or_else(|| {
            format!("unknown scope {s:?} (catalog:write, orders:read, orders:write)")
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes.sort();
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("hudson-workshop").is_ok());
        for bad in [
            "ab",
            "-abc",
            "abc-",
            "a--b",
            "Abc",
            "a b c",
            " abc",
            "abc\t",
            &"a".repeat(41),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_are_known_and_deduplicated() {
        let s = parse_scopes(&[
            "orders:read".into(),
            "catalog:write".into(),
            "orders:read".into(),
        ])
        .unwrap();
        assert_eq!(s, [Scope::CatalogWrite, Scope::OrdersRead]);
        assert!(parse_scopes(&[]).is_err());
        assert!(parse_scopes(&["admin".into()]).is_err());
    }
}
