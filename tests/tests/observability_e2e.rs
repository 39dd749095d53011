//! Observability: the Grafana dashboards and Prometheus files are valid and
//! name only series the code exports (or tables the migrations create), and
//! a real Prometheus scrapes the edge and every origin of a running cluster.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use meridian_common::testing::backend_endpoint;
use meridian_e2e::call::Send as _;
use meridian_e2e::{free_port, Cluster, Options};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.ends_with("target") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `meridian_*` words in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("meridian_") {
        let start = i + at;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = start
            + text[start..]
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(text.len() - start);
        if boundary {
            names.insert(text[start..end].to_owned());
        }
        i = end;
    }
    names
}

/// Every metric name the edge and the origins declare in their source.
fn exported_metrics() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&repo().join("edge/src"), &mut files);
    rust_files(&repo().join("origin"), &mut files);
    files
        .iter()
        .flat_map(|f| metric_names(&std::fs::read_to_string(f).unwrap()))
        .filter(|n| {
            n.ends_with("_total")
                || n.ends_with("_seconds")
                || n.ends_with("_bytes")
                || n.ends_with("_events")
                || n.ends_with("_healthy")
                || n.ends_with("_open")
                || n.ends_with("_drained")
                || n.ends_with("_entries")
        })
        .collect()
}

fn series_name(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

fn dashboards() -> Vec<(String, Value)> {
    let dir = repo().join("deploy/grafana/dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), json)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn dashboards_are_valid_and_use_only_exported_series_and_tables() {
    let exported = exported_metrics();
    assert!(
        exported.contains("meridian_edge_requests_total"),
        "{exported:?}"
    );
    assert!(exported.contains("meridian_http_request_duration_seconds"));
    let migrations: String = ["0001_events.sql", "0002_rollups.sql"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(repo().join("origin/analytics/migrations").join(f)).unwrap()
        })
        .collect();
    let provisioning = std::fs::read_to_string(
        repo().join("deploy/grafana/provisioning/datasources/meridian.yml"),
    )
    .unwrap();

    let boards = dashboards();
    let names: Vec<&str> = boards.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "business-kpis.json",
            "edge-overview.json",
            "service-red.json"
        ]
    );
    let mut uids = BTreeSet::new();
    for (file, board) in &boards {
        assert!(
            uids.insert(board["uid"].as_str().unwrap().to_owned()),
            "{file}: duplicate uid"
        );
        assert!(
            board["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{file}: title"
        );
        let panels = board["panels"].as_array().unwrap();
        assert!(panels.len() >= 5, "{file}: too few panels");
        let mut ids = BTreeSet::new();
        for panel in panels {
            let title = panel["title"].as_str().unwrap();
            assert!(
                ids.insert(panel["id"].as_u64().unwrap()),
                "{file}: {title}: duplicate id"
            );
            let uid = panel["datasource"]["uid"].as_str().unwrap();
            assert!(
                provisioning.contains(&format!("uid: {uid}")),
                "{file}: {title}: datasource {uid} is not provisioned"
            );
            let targets = panel["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{file}: {title}: no queries");
            for target in targets {
                if let Some(expr) = target["expr"].as_str() {
                    let used = metric_names(expr);
                    assert!(
                        !used.is_empty(),
                        "{file}: {title}: no meridian series in {expr}"
                    );
                    for name in used {
                        assert!(
                            exported.contains(series_name(&name)),
                            "{file}: {title}: {name} is not exported by any service"
                        );
                    }
                } else {
                    let sql = target["rawSql"].as_str().unwrap();
                    let table = sql
                        .split("FROM ")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .unwrap();
                    assert!(
                        migrations.contains(&format!("CREATE TABLE IF NOT EXISTS {table} ")),
                        "{file}: {title}: table {table} is not created by the migrations"
                    );
                }
            }
        }
    }

    // Alert rules and the scrape config name real series too.
    let alerts = std::fs::read_to_string(repo().join("deploy/prometheus/alerts.yml")).unwrap();
    for name in metric_names(&alerts) {
        assert!(
            exported.contains(series_name(&name)),
            "alerts.yml: {name} is not exported"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_edge_and_every_origin() {
    let Some(prometheus) = backend_endpoint("MERIDIAN_TEST_PROMETHEUS") else {
        return;
    };
    // The checked-in config is valid for the real tool.
    let promtool = Path::new(&prometheus).with_file_name("promtool");
    if promtool.exists() {
        let check = std::process::Command::new(&promtool)
            .args(["check", "config"])
            .arg(repo().join("deploy/prometheus/prometheus.yml"))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }

    let cluster = Cluster::start(Options::default()).await;
    for _ in 0..5 {
        cluster.get("/api/catalog/categories").reply().await;
    }
    let origins: Vec<String> = cluster
        .regions
        .iter()
        .map(|r| format!("\"{}\"", r.addr))
        .collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: edge\n    static_configs:\n      - targets: [\"{}\"]\n  - job_name: origin\n    static_configs:\n      - targets: [{}]\n",
        cluster.metrics,
        origins.join(", ")
    );
    let dir = cluster.dir.join("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let web = free_port();
    let mut server = std::process::Command::new(&prometheus)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus starts");

    let api = reqwest::Client::new();
    let query = |q: &'static str| {
        let api = api.clone();
        async move {
            let r: Value = api
                .get(format!("http://{web}/api/v1/query"))
                .query(&[("query", q)])
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            r["data"]["result"][0]["value"][1]
                .as_str()?
                .parse::<f64>()
                .ok()
        }
    };
    let started = Instant::now();
    let result = loop {
        let up = query("sum(up)").await;
        let edge = query("sum(meridian_edge_requests_total)").await;
        let regions = query("count(count by (region) (meridian_http_requests_total))").await;
        if up == Some(7.0) && edge.is_some_and(|n| n >= 5.0) && regions == Some(6.0) {
            break Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            break Err(format!(
                "up {up:?}, edge requests {edge:?}, origin regions {regions:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let _ = server.kill();
    let _ = server.wait();
    result.expect("Prometheus sees the edge and six origins");
    cluster.shutdown().await;
}
