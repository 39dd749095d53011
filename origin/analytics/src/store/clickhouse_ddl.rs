//! The migrations' DDL for where the tables live: one server as written in
//! `migrations/`, or a ClickHouse cluster of replicas (Keeper or ZooKeeper
//! behind it), where every table is `Replicated*MergeTree` and every
//! statement runs `ON CLUSTER`, so each replica gets the tables and the
//! rows written to any of them.
//!
//! One shard: each replica holds every row (the analytics data of a
//! marketplace this size fits one node; replicas are for availability and
//! for reads near each region). The migration files stay single-node SQL
//! that anyone can read and run; this rewrites the few shapes they use and
//! refuses any other, so a new migration cannot silently skip the cluster.

/// A cluster as the servers' `remote_servers` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster(pub String);

/// `CREATE DATABASE` for the store's database.
pub fn create_database(database: &str, cluster: Option<&Cluster>) -> String {
    match cluster {
        None => format!("CREATE DATABASE IF NOT EXISTS {database}"),
        Some(Cluster(c)) => format!("CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER {c}"),
    }
}

const TABLE: &str = "CREATE TABLE IF NOT EXISTS ";
const VIEW: &str = "CREATE MATERIALIZED VIEW IF NOT EXISTS ";

/// One migration statement for `cluster` (unchanged without one).
pub fn adapt(statement: &str, database: &str, cluster: Option<&Cluster>) -> Result<String, String> {
    let Some(Cluster(c)) = cluster else {
        return Ok(statement.to_owned());
    };
    if let Some(rest) = statement.strip_prefix(TABLE) {
        let (name, body) = split_name(rest)?;
        let body = replicated_engine(body, database, name)?;
        return Ok(format!("{TABLE}{database}.{name} ON CLUSTER {c}{body}"));
    }
    if let Some(rest) = statement.strip_prefix(VIEW) {
        let (name, body) = split_name(rest)?;
        let (target, select) = body
            .trim_start()
            .strip_prefix("TO ")
            .and_then(|b| b.split_once(" AS"))
            .ok_or_else(|| format!("view {name}: expected `TO <table> AS`"))?;
        // The statement runs on every host in whatever database it is
        // in there: every table it names carries the database.
        let select = qualify_from(select, database)?;
        return Ok(format!(
            "{VIEW}{database}.{name} ON CLUSTER {c} TO {database}.{} AS{select}",
            target.trim()
        ));
    }
    Err(format!(
        "a cluster takes CREATE TABLE and CREATE MATERIALIZED VIEW only, not: {}",
        statement.lines().next().unwrap_or_default()
    ))
}

fn split_name(rest: &str) -> Result<(&str, &str), String> {
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    match rest.split_at(end) {
        ("", _) => Err(format!("no table name in: {rest}")),
        (name, body) => Ok((name, body)),
    }
}

/// `ENGINE = XMergeTree` → `ENGINE = ReplicatedXMergeTree(path, replica)`:
/// the replicas of a table meet at one Keeper path per shard and table;
/// `{shard}` and `{replica}` are each server's macros.
fn replicated_engine(body: &str, database: &str, table: &str) -> Result<String, String> {
    const ENGINE: &str = "ENGINE = ";
    let at = body
        .find(ENGINE)
        .ok_or_else(|| format!("table {table}: no ENGINE"))?
        + ENGINE.len();
    let (head, tail) = body.split_at(at);
    let end = tail
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(tail.len());
    let (engine, rest) = tail.split_at(end);
    if !engine.ends_with("MergeTree") || rest.starts_with('(') {
        return Err(format!(
            "table {table}: engine {engine}{} cannot be made replicated here",
            if rest.starts_with('(') { "(…)" } else { "" }
        ));
    }
    Ok(format!(
        "{head}Replicated{engine}('/clickhouse/tables/{{shard}}/{database}/{table}', '{{replica}}'){rest}"
    ))
}

/// `FROM table` → `FROM database.table` in a view's query (the migrations
/// put each FROM at the start of a line).
fn qualify_from(select: &str, database: &str) -> Result<String, String> {
    let refused = || Err("a view's FROM must start a line and name one table".to_owned());
    let mut out = String::with_capacity(select.len() + 32);
    let mut found = false;
    for line in select.split_inclusive('\n') {
        let trimmed = line.trim_start();
        match trimmed.strip_prefix("FROM ") {
            Some(rest) if !rest.starts_with('(') => {
                let indent = &line[..line.len() - trimmed.len()];
                out.push_str(&format!("{indent}FROM {database}.{rest}"));
                found = true;
            }
            Some(_) => return refused(),
            None if line.contains("FROM ") => return refused(),
            None => out.push_str(line),
        }
    }
    if !found {
        return refused();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One server: no cluster.
    const ONE_SERVER: Option<&Cluster> = None;

    fn cluster() -> Cluster {
        Cluster("meridian".into())
    }

    #[test]
    fn without_a_cluster_the_sql_is_as_written() {
        let sql =
            "CREATE TABLE IF NOT EXISTS events (id String) ENGINE = ReplacingMergeTree ORDER BY id";
        assert_eq!(adapt(sql, "m", ONE_SERVER).unwrap(), sql);
        assert_eq!(
            create_database("m", ONE_SERVER),
            "CREATE DATABASE IF NOT EXISTS m"
        );
    }

    #[test]
    fn tables_become_replicated_on_the_cluster() {
        let sql = "CREATE TABLE IF NOT EXISTS sales_daily (\n    day Date\n) ENGINE = SummingMergeTree\nORDER BY day";
        assert_eq!(
            adapt(sql, "meridian", Some(&cluster())).unwrap(),
            "CREATE TABLE IF NOT EXISTS meridian.sales_daily ON CLUSTER meridian (\n    day Date\n) \
             ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/meridian/sales_daily', \
             '{replica}')\nORDER BY day"
        );
        assert_eq!(
            create_database("meridian", Some(&cluster())),
            "CREATE DATABASE IF NOT EXISTS meridian ON CLUSTER meridian"
        );
    }

    #[test]
    fn views_name_their_tables_with_the_database() {
        let sql = "CREATE MATERIALIZED VIEW IF NOT EXISTS funnel_mv TO funnel AS\nSELECT day\nFROM events ARRAY JOIN subs\nWHERE stage != ''";
        assert_eq!(
            adapt(sql, "m", Some(&cluster())).unwrap(),
            "CREATE MATERIALIZED VIEW IF NOT EXISTS m.funnel_mv ON CLUSTER meridian TO m.funnel AS\n\
             SELECT day\nFROM m.events ARRAY JOIN subs\nWHERE stage != ''"
        );
    }

    #[test]
    fn shapes_it_cannot_rewrite_are_refused() {
        let c = Some(cluster());
        for sql in [
            "ALTER TABLE events ADD COLUMN x UInt8",
            "CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = Memory",
            "CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = MergeTree(day, x, 8192)",
            "CREATE TABLE IF NOT EXISTS t (x UInt8) ORDER BY x",
            "CREATE MATERIALIZED VIEW IF NOT EXISTS v ENGINE = Memory AS SELECT 1",
            "CREATE MATERIALIZED VIEW IF NOT EXISTS v TO t AS SELECT x FROM events",
        ] {
            assert!(adapt(sql, "m", c.as_ref()).is_err(), "{sql}");
        }
    }

    /// Every shipped migration can run on a cluster, and on one every
    /// table is replicated and every table name carries the database.
    #[test]
    fn every_migration_adapts_to_a_cluster() {
        let c = Some(cluster());
        for (_, name, sql) in super::super::clickhouse::MIGRATIONS {
            for statement in super::super::clickhouse::statements(sql) {
                let adapted = adapt(&statement, "m", c.as_ref())
                    .unwrap_or_else(|e| panic!("migration {name}: {e}"));
                assert!(adapted.contains(" ON CLUSTER meridian"), "{adapted}");
                if adapted.starts_with(TABLE) {
                    assert!(adapted.contains("ENGINE = Replicated"), "{adapted}");
                }
                if let Some((_, from)) = adapted.split_once("\nFROM ") {
                    assert!(from.starts_with("m."), "{adapted}");
                }
            }
        }
    }
}
