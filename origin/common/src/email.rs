//! Email addresses, normalised and checked once at the boundary.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
/// The schema states the rule of `parse` (local part of visible ASCII but
/// `"(),:;<>@[\]`, dot-separated domain labels of letters, digits and inner
/// hyphens, at most 254 in all).
#[schema(value_type = String, format = Email, pattern = "^(?=.{1,254}$)[!#-'*+\\-/-9=?A-Z^-~]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")]
pub struct Email(String);

impl Email {
    /// Lower-cased, so `Ann@Example.com` and `ann@example.com` are one
    /// account. Not trimmed: the schema's pattern has no room for blanks, and
    /// an API that took what its document rejects would mislead its clients
    /// (the storefront trims what people type before it calls).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.to_lowercase();
        if email.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must be an email address like name@example.com".into());
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .chars()
                .all(|c| c.is_ascii_graphic() && !"@()<>[]:;,\\\"".contains(c));
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.split('.').all(|l| {
                !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-')
            })
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !local_ok || !domain_ok {
            return Err("must be an email address like name@example.com".into());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(
            Email::parse("Ann@Example.COM").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            " ann@example.com",
            "ann@example.com\n",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "a n@example.com",
            "ann@exa_mple.com",
            "ann@.example.com",
            "ann@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }
}
