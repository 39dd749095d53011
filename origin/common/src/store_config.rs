//! A store role's backend, as a region file names it (`[stores.<role>]`):
//! the vocabulary every service's `store::connect` reads, and the errors
//! of connecting.
//!
//! The region file itself is the server's (`meridian_server::config`);
//! this is the part each service needs to connect its own stores.

use std::sync::Arc;

use serde::Deserialize;

use crate::events::{MemoryOutbox, OutboxReader};

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
pub enum StoreConfig {
    #[default]
    Memory,
    Redis {
        url: String,
        #[serde(default = "default_redis_prefix")]
        key_prefix: String,
    },
    Postgres {
        url: String,
        #[serde(default = "default_pool_size")]
        max_connections: u32,
        #[serde(default = "default_connect_timeout_ms")]
        connect_timeout_ms: u64,
        /// Schema for this role's tables (created if missing). Services
        /// sharing one database need their own, so their migrations do not
        /// collide; the default is the server's search path.
        schema: Option<String>,
    },
    /// Amazon DynamoDB (or DynamoDB Local through `endpoint`).
    Dynamodb {
        /// A local server, e.g. `http://127.0.0.1:18000`; omit for AWS. May
        /// carry static credentials as `http://KEY:SECRET@host:port`.
        endpoint: Option<String>,
        #[serde(default = "default_aws_region")]
        region: String,
        /// Table name; created (with its indexes) when missing.
        table: String,
        /// Redis read-through cache in front of the table (catalog only).
        cache_url: Option<String>,
        #[serde(default = "default_cache_ttl")]
        cache_ttl_secs: u64,
    },
    /// A Redis Cluster; `nodes` are seed addresses (`redis://host:port`).
    #[serde(rename = "redis-cluster")]
    RedisCluster {
        nodes: Vec<String>,
        #[serde(default = "default_redis_prefix")]
        key_prefix: String,
        /// Idle lifetime of a cart; every write renews it.
        #[serde(default = "default_cart_ttl")]
        ttl_secs: u64,
    },
    Mongodb {
        url: String,
        #[serde(default = "default_database")]
        database: String,
    },
    Cassandra {
        /// Contact points, `host:port`.
        nodes: Vec<String>,
        keyspace: String,
        /// Replicas when the origin creates the keyspace, in one data
        /// center (SimpleStrategy; 1 when neither this nor `datacenters`
        /// is set).
        replication_factor: Option<u32>,
        /// Replicas per data center when the origin creates the keyspace
        /// (NetworkTopologyStrategy), e.g. `{ us-east = 3, us-west = 3 }`:
        /// a cluster spanning regions. Instead of `replication_factor`.
        #[serde(default)]
        datacenters: std::collections::BTreeMap<String, u32>,
        /// The data center this origin sends its queries to (token-aware
        /// within it; others only when it is down), so a region's reads
        /// and writes stay local at `LOCAL_QUORUM`. Unset: any node.
        local_datacenter: Option<String>,
    },
    Elasticsearch {
        url: String,
        /// Index name (created with its mapping when missing).
        index: String,
    },
    /// Amazon S3 (or an S3-compatible server through `endpoint`).
    S3 {
        endpoint: Option<String>,
        #[serde(default = "default_aws_region")]
        region: String,
        bucket: String,
    },
    /// ClickHouse over HTTP; tables and views are created by migrations.
    Clickhouse {
        /// e.g. `http://127.0.0.1:8123`
        url: String,
        #[serde(default = "default_database")]
        database: String,
        user: Option<String>,
        /// `MERIDIAN_CLICKHOUSE_PASSWORD` overrides it.
        password: Option<String>,
        /// A cluster of replicas (as the servers' `remote_servers` name it,
        /// with Keeper or ZooKeeper and the `{shard}`/`{replica}` macros):
        /// tables are `Replicated*MergeTree` and DDL runs `ON CLUSTER`.
        /// Unset: one server, single-node engines.
        cluster: Option<String>,
    },
}

impl StoreConfig {
    /// Checks the settings a backend cannot work without.
    pub fn validate(&self) -> Result<(), String> {
        let named = |what: &str, value: &str| {
            let ok = !value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "{what} must be non-empty letters, digits, '-', '_' or '.'"
                ))
            }
        };
        match self {
            StoreConfig::Postgres {
                max_connections: 0, ..
            } => Err("max_connections must be at least 1".into()),
            StoreConfig::Dynamodb {
                table,
                cache_ttl_secs,
                ..
            } => {
                named("table", table)?;
                if *cache_ttl_secs == 0 {
                    return Err("cache_ttl_secs must be at least 1".into());
                }
                Ok(())
            }
            StoreConfig::RedisCluster {
                nodes, ttl_secs, ..
            } => {
                if nodes.is_empty() {
                    return Err("nodes must list at least one node".into());
                }
                if *ttl_secs < 60 {
                    return Err("ttl_secs must be at least 60".into());
                }
                Ok(())
            }
            StoreConfig::Mongodb { database, .. } => named("database", database),
            StoreConfig::Cassandra {
                nodes,
                keyspace,
                replication_factor,
                datacenters,
                local_datacenter,
            } => {
                if nodes.is_empty() {
                    return Err("nodes must list at least one node".into());
                }
                if *replication_factor == Some(0) || datacenters.values().any(|n| *n == 0) {
                    return Err("replication_factor must be at least 1".into());
                }
                if replication_factor.is_some() && !datacenters.is_empty() {
                    return Err(
                        "set replication_factor (one data center) or datacenters (several), not both"
                            .into(),
                    );
                }
                for dc in datacenters.keys() {
                    named("datacenters", dc)?;
                }
                if let Some(dc) = local_datacenter {
                    named("local_datacenter", dc)?;
                }
                if keyspace.is_empty()
                    || !keyspace
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    return Err("keyspace must be lowercase letters, digits and '_'".into());
                }
                Ok(())
            }
            StoreConfig::Elasticsearch { index, .. } => {
                if index.is_empty() || index.bytes().any(|b| b.is_ascii_uppercase()) {
                    return Err("index must be a non-empty lowercase name".into());
                }
                named("index", index)
            }
            StoreConfig::S3 { bucket, .. } => named("bucket", bucket),
            StoreConfig::Clickhouse {
                url,
                database,
                cluster,
                ..
            } => {
                if !url.starts_with("http://") && !url.starts_with("https://") {
                    return Err("url must start with http:// or https://".into());
                }
                if let Some(cluster) = cluster {
                    named("cluster", cluster)?;
                }
                named("database", database)
            }
            _ => Ok(()),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            StoreConfig::Memory => "memory",
            StoreConfig::Redis { .. } => "redis",
            StoreConfig::Postgres { .. } => "postgres",
            StoreConfig::Dynamodb { .. } => "dynamodb",
            StoreConfig::RedisCluster { .. } => "redis-cluster",
            StoreConfig::Mongodb { .. } => "mongodb",
            StoreConfig::Cassandra { .. } => "cassandra",
            StoreConfig::Elasticsearch { .. } => "elasticsearch",
            StoreConfig::S3 { .. } => "s3",
            StoreConfig::Clickhouse { .. } => "clickhouse",
        }
    }
}

fn default_redis_prefix() -> String {
    "meridian:".to_owned()
}
fn default_aws_region() -> String {
    "us-east-1".to_owned()
}
fn default_cache_ttl() -> u64 {
    300
}
fn default_cart_ttl() -> u64 {
    30 * 24 * 3600
}
fn default_database() -> String {
    "meridian".to_owned()
}
fn default_pool_size() -> u32 {
    16
}
fn default_connect_timeout_ms() -> u64 {
    3_000
}

/// A store connected for a service: the store, and how its outbox is
/// drained (the relay wakes on an embedded one and polls a table).
pub struct Connected<S: ?Sized> {
    pub store: Arc<S>,
    pub outbox: Outbox,
}

pub enum Outbox {
    /// Written in process; the store was given it.
    Embedded(Arc<MemoryOutbox>),
    /// A table in the store's database, polled by the relay.
    Polled(Arc<dyn OutboxReader>),
}

impl<S: ?Sized> Connected<S> {
    /// A store of the embedded backend, made around a new outbox.
    pub fn embedded(make: impl FnOnce(Arc<MemoryOutbox>) -> Arc<S>) -> Self {
        let outbox = MemoryOutbox::new();
        Self {
            store: make(outbox.clone()),
            outbox: Outbox::Embedded(outbox),
        }
    }

    /// A real store whose outbox lives in its own database.
    pub fn polled(store: Arc<S>, outbox: Arc<dyn OutboxReader>) -> Self {
        Self {
            store,
            outbox: Outbox::Polled(outbox),
        }
    }
}

/// Why a store role could not be connected. Each names the role's key in
/// the region file.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("stores.{role}: backend {backend:?} is not available for this store role")]
    Unsupported {
        role: &'static str,
        backend: &'static str,
    },
    #[error(
        "stores.{role}: this origin was built without the `{feature}` cargo feature; \
         rebuild with `--features {feature}` or choose backend = \"memory\""
    )]
    CompiledOut {
        role: &'static str,
        feature: &'static str,
    },
    /// The backend was reached for and failed (`what`: "connecting to
    /// PostgreSQL", …); the cause is the error's source.
    #[error("stores.{role}: {what}")]
    Failed {
        role: &'static str,
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ConnectError {
    pub fn unsupported(role: &'static str, config: &StoreConfig) -> Self {
        Self::Unsupported {
            role,
            backend: config.backend_name(),
        }
    }

    pub fn compiled_out(role: &'static str, feature: &'static str) -> Self {
        Self::CompiledOut { role, feature }
    }

    /// `result`'s error as the failure of `what` for `role`.
    pub fn context<T, E>(
        role: &'static str,
        what: impl Into<String>,
        result: Result<T, E>,
    ) -> Result<T, Self>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        result.map_err(|e| Self::Failed {
            role,
            what: what.into(),
            source: e.into(),
        })
    }
}
