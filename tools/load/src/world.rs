//! The run's world, made before the first session through the public API:
//! the demo catalog to browse, a seller with a shop whose products the
//! shoppers buy (plenty of stock, and a few scarce ones to fight over), and
//! a pool of signed-in shoppers. Sessions share it; verification reads it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::api::Api;

/// A signed-in shopper and what the run knows of its orders.
pub struct Shopper {
    pub token: String,
    /// Orders the system said it placed (201, or a replay of one).
    pub placed: Vec<Uuid>,
    /// Checkouts with no definite answer after every retry.
    pub unresolved: u32,
}

/// Shoppers lent to one session at a time, so two sessions never share a
/// cart (a checkout buys the whole cart).
pub struct Pool {
    free: Mutex<Vec<Shopper>>,
    available: Semaphore,
    /// Sessions that found every shopper busy and waited for one: past a
    /// few, the pool (`--shoppers`), not the system, bounds the checkouts.
    waited: AtomicU64,
}

impl Pool {
    fn new(shoppers: Vec<Shopper>) -> Self {
        Self {
            available: Semaphore::new(shoppers.len()),
            free: Mutex::new(shoppers),
            waited: AtomicU64::new(0),
        }
    }

    pub async fn take(&self) -> Shopper {
        let permit = match self.available.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                self.waited.fetch_add(1, Ordering::Relaxed);
                self.available
                    .acquire()
                    .await
                    .expect("the pool's semaphore is never closed")
            }
        };
        permit.forget();
        lock(&self.free).pop().expect("a permit means a shopper")
    }

    /// How many sessions waited for a free shopper.
    pub fn waited(&self) -> u64 {
        self.waited.load(Ordering::Relaxed)
    }

    pub fn give(&self, shopper: Shopper) {
        lock(&self.free).push(shopper);
        self.available.add_permits(1);
    }

    /// Every shopper, once the sessions are over.
    pub fn drain(&self) -> Vec<Shopper> {
        std::mem::take(&mut *lock(&self.free))
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A stock figure the run starts from and must account for at the end.
pub struct Stocked {
    pub id: Uuid,
    pub initial: u64,
}

pub struct World {
    pub run: String,
    pub demo_products: Vec<Uuid>,
    pub categories: Vec<String>,
    pub words: Vec<String>,
    pub seller_token: String,
    /// Products the shoppers buy: plenty of stock.
    pub plenty: Vec<Stocked>,
    /// Products with little stock, bought concurrently: oversell shows here.
    pub scarce: Vec<Stocked>,
    pub shoppers: Pool,
    /// Paid sub-orders of the run's shop, waiting to be shipped.
    pub to_ship: Mutex<VecDeque<(Uuid, Uuid)>>,
    /// Tracking numbers shipped, with the next scan to send.
    pub in_transit: Mutex<VecDeque<(String, usize)>>,
    /// Products the seller scenario created during the run.
    pub created: Mutex<Vec<Uuid>>,
    pub carrier_secret: String,
}

pub struct Sizes {
    pub shoppers: usize,
    pub plenty: usize,
    pub scarce: usize,
    pub scarce_stock: u64,
}

pub const PLENTY_STOCK: u64 = 1_000_000;
pub const PASSWORD: &str = "load-test-password-1";

impl World {
    pub async fn build(api: &Api, sizes: &Sizes, carrier_secret: String) -> anyhow::Result<Self> {
        let run = Uuid::new_v4().simple().to_string()[..10].to_owned();
        let (demo_products, categories, words) = catalog(api).await?;
        let seller_token = register(api, &format!("seller-{run}@load.example.com")).await?;
        open_shop(api, &seller_token, &run).await?;
        let category = categories
            .first()
            .context("the catalog has no categories")?;
        let stock = |kind: &'static str, n: usize, units: u64| {
            let (token, run) = (&seller_token, &run);
            async move {
                let mut made = Vec::new();
                for i in 0..n {
                    let title = format!("Load {kind} {i} {run}");
                    let id = create_product(api, token, &title, category, units).await?;
                    made.push(Stocked { id, initial: units });
                }
                anyhow::Ok(made)
            }
        };
        let plenty = stock("plenty", sizes.plenty, PLENTY_STOCK).await?;
        let scarce = stock("scarce", sizes.scarce, sizes.scarce_stock).await?;
        // Registering hashes a password (argon2): in parallel, a few at a time.
        let mut tasks = JoinSet::new();
        let mut shoppers = Vec::new();
        for i in 0..sizes.shoppers {
            let api = api.clone();
            let email = format!("shopper-{i}-{run}@load.example.com");
            tasks.spawn(async move {
                let token = register(&api, &email).await?;
                anyhow::Ok(Shopper {
                    token,
                    placed: Vec::new(),
                    unresolved: 0,
                })
            });
            if tasks.len() >= 8 {
                shoppers.push(tasks.join_next().await.expect("a task")??);
            }
        }
        while let Some(done) = tasks.join_next().await {
            shoppers.push(done??);
        }
        Ok(Self {
            run,
            demo_products,
            categories,
            words,
            seller_token,
            plenty,
            scarce,
            shoppers: Pool::new(shoppers),
            to_ship: Mutex::default(),
            in_transit: Mutex::default(),
            created: Mutex::default(),
            carrier_secret,
        })
    }

    /// Every product whose stock the run must account for.
    pub fn stocked(&self) -> impl Iterator<Item = &Stocked> {
        self.plenty.iter().chain(&self.scarce)
    }
}

/// Demo product ids, category slugs and title words to search for.
async fn catalog(api: &Api) -> anyhow::Result<(Vec<Uuid>, Vec<String>, Vec<String>)> {
    let cats = api
        .get("/api/catalog/categories")
        .require(200, "listing the categories")
        .await?;
    let list = cats.json()["items"].as_array();
    let categories: Vec<String> = list
        .into_iter()
        .flatten()
        .filter_map(|c| c["slug"].as_str().map(str::to_owned))
        .collect();
    let mut products = Vec::new();
    let mut words = Vec::new();
    for category in categories.iter().take(8) {
        let page = api
            .get(&format!(
                "/api/catalog/products?category={category}&limit=50"
            ))
            .require(200, &format!("listing category {category}"))
            .await?;
        // Earlier runs' products live only in the region that took them
        // (embedded stores): browse the demo catalog, which every region has.
        let demo = |item: &&Value| {
            !item["title"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Load ")
        };
        for item in page.json()["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(demo)
        {
            if let Some(id) = item["id"].as_str().and_then(|i| i.parse().ok()) {
                products.push(id);
            }
            if let Some(title) = item["title"].as_str() {
                words.extend(
                    title
                        .split_whitespace()
                        .filter(|w| w.len() > 3)
                        .map(str::to_lowercase)
                        .take(2),
                );
            }
        }
    }
    if products.is_empty() || categories.is_empty() {
        bail!("the catalog is empty: start the system with its demo data (deploy/local/run.sh)");
    }
    words.sort();
    words.dedup();
    Ok((products, categories, words))
}

/// Registers and signs in; the session token.
pub async fn register(api: &Api, email: &str) -> anyhow::Result<String> {
    let account = json!({ "email": email, "password": PASSWORD, "display_name": "Load shopper" });
    api.post("/api/auth/register")
        .json(&account)
        .require(201, &format!("registering {email}"))
        .await?;
    login(api, email)
        .await
        .with_context(|| format!("signing in {email}"))
}

pub async fn login(api: &Api, email: &str) -> anyhow::Result<String> {
    let creds = json!({ "email": email, "password": PASSWORD });
    let a = api
        .post("/api/auth/login")
        .json(&creds)
        .require(200, "signing in")
        .await?;
    a.json()["token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{} {}", a.status, a.json()))
}

async fn open_shop(api: &Api, token: &str, run: &str) -> anyhow::Result<()> {
    let shop = json!({
        "name": format!("Load shop {run}"),
        "slug": format!("load-{run}"),
        "description": "made by meridian-load",
        "contact_email": format!("shop-{run}@load.example.com"),
    });
    api.post("/api/sellers/shops")
        .bearer(token)
        .json(&shop)
        .require(201, "opening the run's shop")
        .await?;
    Ok(())
}

pub async fn create_product(
    api: &Api,
    token: &str,
    title: &str,
    category: &str,
    stock: u64,
) -> anyhow::Result<Uuid> {
    let product = json!({
        "title": title,
        "description": "a product of a load run",
        "price": { "amount": 1999, "currency": "USD" },
        "category": category,
        "stock": stock,
    });
    let a = api
        .post("/api/catalog/products")
        .bearer(token)
        .json(&product)
        .require(201, &format!("creating product {title:?}"))
        .await?;
    id_of(a.json()).context("the created product has no id")
}

pub fn id_of(v: &Value) -> Option<Uuid> {
    v["id"].as_str().and_then(|s| s.parse().ok())
}

/// Quantities per product in an order's lines.
pub fn quantities(order: &Value) -> HashMap<Uuid, u64> {
    let mut q = HashMap::new();
    for sub in order["sub_orders"].as_array().into_iter().flatten() {
        for line in sub["lines"].as_array().into_iter().flatten() {
            if let (Some(id), Some(n)) = (
                line["product_id"].as_str().and_then(|s| s.parse().ok()),
                line["quantity"].as_u64(),
            ) {
                *q.entry(id).or_default() += n;
            }
        }
    }
    q
}
