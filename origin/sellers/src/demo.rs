//! The demo catalog's six shops, so its products have real seller pages.

use chrono::{TimeZone, Utc};
use meridian_common::demo::{seller_ids, seller_owner_ids, slug_of, SELLERS};
use meridian_common::email::Email;

use crate::domain::{Shop, Slug};
use crate::store::{SellerStore, StoreError};

/// Creates the demo shops that are missing; returns how many were created.
pub async fn seed_if_empty(store: &dyn SellerStore) -> Result<u64, StoreError> {
    let created_at = Utc
        .with_ymd_and_hms(2025, 12, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    let mut created = 0;
    for ((name, id), owner) in SELLERS.iter().zip(seller_ids()).zip(seller_owner_ids()) {
        if store.shop(id).await?.is_some() {
            continue;
        }
        let slug = slug_of(name);
        let shop = Shop {
            id,
            owner_id: owner,
            name: (*name).to_owned(),
            slug: Slug::parse(&slug).expect("demo slugs are valid"),
            description: format!("{name}: a demo shop of the Meridian marketplace."),
            contact_email: Email::parse(&format!("hello@{slug}.example.com")).expect("valid email"),
            created_at,
            updated_at: created_at,
        };
        store.create_shop(&shop, Vec::new()).await?;
        created += 1;
    }
    Ok(created)
}
