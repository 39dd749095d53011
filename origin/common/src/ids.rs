//! Typed identifiers: a `UserId` can never be passed where a `ProductId` is
//! expected, and every id parses from and prints as a plain UUID.

/// Defines a typed id: a UUID newtype that serialises as the plain UUID,
/// documents itself as one, parses from a string, and names itself in the
/// error of a malformed path parameter (`PathId`). Services define their
/// own ids with it (`typed_id!(/// An order. OrderId, "order id");`).
#[macro_export]
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident, $noun:literal) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            ::serde::Serialize,
            ::serde::Deserialize,
            ::utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub ::uuid::Uuid);

        impl $name {
            /// A new time-ordered (v7) id, so ids sort roughly by creation.
            pub fn new() -> Self {
                Self(::uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl $crate::extract::PathId for $name {
            const NAME: &'static str = $noun;
        }
    };
}

typed_id!(
    /// A registered account.
    UserId,
    "user id"
);
typed_id!(
    /// A seller (shop). Sellers are users with a shop; the id is the shop's.
    SellerId,
    "seller id"
);
typed_id!(
    /// A catalog product.
    ProductId,
    "product id"
);
typed_id!(
    /// An order (the orders service's; logistics and events name it too).
    OrderId,
    "order id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_string_and_json() {
        let id = ProductId::new();
        assert_eq!(id.to_string().parse::<ProductId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<ProductId>(&json).unwrap(), id);
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }
}
