//! One contract suite per store role, run against every implementation:
//! memory always, PostgreSQL / Redis when `MERIDIAN_TEST_POSTGRES` /
//! `MERIDIAN_TEST_REDIS` point at a server (required under
//! `MERIDIAN_REQUIRE_BACKENDS=1`).

use std::sync::Arc;
use std::time::Duration;

use meridian_auth::domain::{self, Bio, DisplayName, Email, ProfileUpdate, Session, User};
use meridian_auth::store::memory::{MemorySessionStore, MemoryUserStore};
use meridian_auth::store::{unix_now, SessionStore, StoreError, UserStore};
use meridian_auth::token::SessionToken;
use meridian_common::testing::{backend_endpoint, unique_namespace};
use meridian_common::UserId;

fn user(email: &str) -> User {
    let now = domain::now();
    User {
        id: UserId::new(),
        email: Email::parse(email).unwrap(),
        display_name: DisplayName::parse("Test User").unwrap(),
        bio: Bio::empty(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: now,
        updated_at: now,
    }
}

async fn user_store_contract(store: Arc<dyn UserStore>) {
    store.ping().await.unwrap();

    let ann = user("ann@example.com");
    store.insert(&ann).await.unwrap();
    assert_eq!(store.by_id(ann.id).await.unwrap().as_ref(), Some(&ann));
    assert_eq!(
        store.by_email(&ann.email).await.unwrap().as_ref(),
        Some(&ann)
    );
    assert_eq!(store.by_id(UserId::new()).await.unwrap(), None);
    let nobody = Email::parse("nobody@example.com").unwrap();
    assert_eq!(store.by_email(&nobody).await.unwrap(), None);

    // One account per (normalised) email, and nothing half-written on conflict.
    let mut dup = user("ANN@example.com");
    dup.display_name = DisplayName::parse("Impostor").unwrap();
    assert!(matches!(
        store.insert(&dup).await,
        Err(StoreError::Conflict("email"))
    ));
    assert_eq!(store.by_id(dup.id).await.unwrap(), None);
    assert_eq!(
        store.by_email(&ann.email).await.unwrap().unwrap().id,
        ann.id
    );

    // Partial update keeps the untouched field.
    let later = ann.updated_at + chrono::Duration::seconds(5);
    let update = ProfileUpdate {
        display_name: None,
        bio: Some(Bio::parse("Collects teapots").unwrap()),
    };
    let updated = store
        .update_profile(ann.id, &update, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.display_name, ann.display_name);
    assert_eq!(updated.bio.as_str(), "Collects teapots");
    assert_eq!(updated.updated_at, later);
    assert_eq!(updated.created_at, ann.created_at);
    assert_eq!(store.by_id(ann.id).await.unwrap(), Some(updated));
    assert_eq!(
        store
            .update_profile(UserId::new(), &update, later)
            .await
            .unwrap(),
        None
    );

    // Racing registrations of one email: exactly one wins.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.insert(&user("race@example.com")).await })
        })
        .collect();
    let mut wins = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict("email")) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(wins, 1);
}

async fn session_store_contract(store: Arc<dyn SessionStore>) {
    store.ping().await.unwrap();
    let now = unix_now();
    let token = SessionToken::generate();
    let session = Session {
        user_id: UserId::new(),
        created_at: now,
        expires_at: now + 3600,
    };
    store.create(&token.hash(), &session).await.unwrap();
    assert_eq!(store.get(&token.hash()).await.unwrap(), Some(session));
    assert_eq!(
        store.get(&SessionToken::generate().hash()).await.unwrap(),
        None
    );

    assert!(store.revoke(&token.hash()).await.unwrap());
    assert_eq!(store.get(&token.hash()).await.unwrap(), None);
    assert!(!store.revoke(&token.hash()).await.unwrap());

    // Already expired: never returned.
    let stale = SessionToken::generate();
    let expired = Session {
        expires_at: now - 1,
        ..session
    };
    store.create(&stale.hash(), &expired).await.unwrap();
    assert_eq!(store.get(&stale.hash()).await.unwrap(), None);

    // Expires while stored.
    let short = SessionToken::generate();
    let brief = Session {
        expires_at: unix_now() + 1,
        ..session
    };
    store.create(&short.hash(), &brief).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(store.get(&short.hash()).await.unwrap(), None);
}

#[tokio::test]
async fn memory_user_store() {
    user_store_contract(Arc::new(MemoryUserStore::default())).await;
}

#[tokio::test]
async fn memory_session_store() {
    session_store_contract(Arc::new(MemorySessionStore::default())).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_user_store() {
    use meridian_auth::store::postgres::PostgresUserStore;
    use meridian_common::pg::PgSettings;

    let Some(url) = backend_endpoint("MERIDIAN_TEST_POSTGRES") else {
        return;
    };
    let schema = unique_namespace("auth_test");
    let settings = PgSettings {
        schema: Some(schema.clone()),
        ..PgSettings::new("users", &url)
    };
    let store = PostgresUserStore::connect(&settings).await.unwrap();
    user_store_contract(Arc::new(store)).await;
    meridian_common::testing::drop_pg_schema(&url, &schema).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_session_store() {
    use meridian_auth::store::redis::RedisSessionStore;

    let Some(url) = backend_endpoint("MERIDIAN_TEST_REDIS") else {
        return;
    };
    let prefix = format!("{}:", unique_namespace("auth_test"));
    let store = RedisSessionStore::connect(&url, &prefix).await.unwrap();
    session_store_contract(Arc::new(store)).await;
}

#[cfg(not(all(feature = "postgres", feature = "redis")))]
#[test]
fn real_backends_compiled_in_when_required() {
    assert_ne!(
        std::env::var("MERIDIAN_REQUIRE_BACKENDS").as_deref(),
        Ok("1"),
        "MERIDIAN_REQUIRE_BACKENDS=1 but the postgres/redis features are off"
    );
}
