//! `meridian-relay`: TCP links with a one-way delay, switchable at run time.
//!
//!   meridian-relay --link redis/127.0.0.1:26379=127.0.0.1:6379 --control 127.0.0.1:17900
//!
//! Control (HTTP, loopback or lab address only); a link is named by its
//! name or its listen address:
//!   GET  /links                      every link: name, listen, upstream, delay, cut
//!   POST /links/{link}/cut           close its connections, refuse new ones
//!   POST /links/{link}/restore
//!   PUT  /links/{link}/delay  {"ms": 25}

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use clap::Parser;
use meridian_relay::{serve, Control};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
struct LinkSpec {
    name: String,
    listen: SocketAddr,
    upstream: SocketAddr,
    delay: Duration,
}

/// `[NAME/]LISTEN=UPSTREAM[@DELAYms]`, e.g.
/// `portland/10.77.0.1:7105=10.77.5.2:7105@12ms`; the name defaults to the
/// listen address.
impl FromStr for LinkSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        let (name, rest) = match s.split_once('/') {
            Some((name, rest)) => (Some(name), rest),
            None => (None, s),
        };
        if name.is_some_and(|n| {
            n.is_empty()
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }) {
            bail!("--link {s:?}: a name of letters, digits, - and _");
        }
        let (addrs, delay) = rest.split_once('@').unwrap_or((rest, "0ms"));
        let (listen, upstream) = addrs
            .split_once('=')
            .with_context(|| format!("--link {s:?}: write LISTEN=UPSTREAM@DELAYms"))?;
        let delay = delay
            .strip_suffix("ms")
            .and_then(|ms| ms.parse::<f64>().ok())
            .filter(|ms| ms.is_finite() && (0.0..=10_000.0).contains(ms))
            .with_context(|| {
                format!("--link {s:?}: the delay is like 12ms or 0.5ms (at most 10000)")
            })?;
        let listen: SocketAddr = listen
            .parse()
            .with_context(|| format!("--link {s:?}: listen address"))?;
        Ok(Self {
            name: name.map_or_else(|| listen.to_string(), str::to_owned),
            listen,
            upstream: upstream
                .parse()
                .with_context(|| format!("--link {s:?}: upstream address"))?,
            delay: Duration::from_secs_f64(delay / 1000.0),
        })
    }
}

#[derive(Parser, Debug)]
#[command(
    version,
    about = "TCP links with a one-way delay, switchable at run time"
)]
struct Args {
    /// [NAME/]LISTEN=UPSTREAM[@DELAYms]; repeat for more links.
    #[arg(long = "link", required = true)]
    links: Vec<String>,
    /// Address of the control API.
    #[arg(long)]
    control: Option<SocketAddr>,
}

struct Link {
    listen: SocketAddr,
    upstream: SocketAddr,
    control: Arc<Control>,
}

/// By name.
type Links = Arc<BTreeMap<String, Link>>;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // Linux lets a thread's timers fire up to its "slack" late (50 µs by
    // default) to batch wake-ups; a delayed chunk waits on a timer twice
    // per round trip. Threads inherit the slack, so it is set before the
    // runtime starts its workers. Not fatal where /proc is not Linux's.
    if let Err(e) = std::fs::write("/proc/self/timerslack_ns", "1") {
        tracing::warn!(error = %e, "could not lower the timer slack; delays may run 50 µs long");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut links = BTreeMap::new();
    for spec in &args.links {
        let spec: LinkSpec = spec.parse()?;
        let listener = tokio::net::TcpListener::bind(spec.listen)
            .await
            .with_context(|| format!("listening on {}", spec.listen))?;
        let control = Control::new(spec.delay);
        tokio::spawn(serve(listener, spec.upstream, control.clone()));
        tracing::info!(listen = %spec.listen, upstream = %spec.upstream, delay_ms = spec.delay.as_secs_f64() * 1000.0, "link up");
        let link = Link {
            listen: spec.listen,
            upstream: spec.upstream,
            control,
        };
        if links.insert(spec.name.clone(), link).is_some() {
            bail!("--link: the name {} is given twice", spec.name);
        }
    }
    let links: Links = Arc::new(links);
    match args.control {
        Some(addr) => {
            if !(addr.ip().is_loopback()
                || matches!(addr.ip(), std::net::IpAddr::V4(v4) if v4.octets()[0] == 10))
            {
                bail!("--control {addr}: loopback or a lab address (10.0.0.0/8) only");
            }
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--control {addr}"))?;
            axum::serve(listener, control_api(links)).await?;
        }
        None => std::future::pending::<()>().await,
    }
    Ok(())
}

fn control_api(links: Links) -> Router {
    Router::new()
        .route("/links", get(list))
        .route("/links/{link}/cut", post(cut))
        .route("/links/{link}/restore", post(restore))
        .route("/links/{link}/delay", put(set_delay))
        .with_state(links)
}

fn describe(name: &str, link: &Link) -> Value {
    json!({
        "name": name,
        "listen": link.listen.to_string(),
        "upstream": link.upstream.to_string(),
        "delay_ms": link.control.delay().as_secs_f64() * 1000.0,
        "cut": link.control.is_cut(),
        "connections": link.control.connections(),
    })
}

type Answer = (StatusCode, Json<Value>);

fn error(status: StatusCode, code: &str, message: String) -> Answer {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
}

/// The link named `key`, or listening on it.
fn with_link(links: &Links, key: &str, f: impl FnOnce(&Link)) -> Answer {
    let found = links.get_key_value(key).or_else(|| {
        let addr = key.parse::<SocketAddr>().ok()?;
        links.iter().find(|(_, l)| l.listen == addr)
    });
    match found {
        Some((name, link)) => {
            f(link);
            (StatusCode::OK, Json(describe(name, link)))
        }
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no link is named {key:?} or listens there"),
        ),
    }
}

async fn list(State(links): State<Links>) -> Json<Value> {
    Json(Value::Array(
        links.iter().map(|(l, link)| describe(l, link)).collect(),
    ))
}

async fn cut(State(links): State<Links>, Path(link): Path<String>) -> Answer {
    with_link(&links, &link, |l| l.control.cut())
}

async fn restore(State(links): State<Links>, Path(link): Path<String>) -> Answer {
    with_link(&links, &link, |l| l.control.restore())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Delay {
    ms: f64,
}

async fn set_delay(
    State(links): State<Links>,
    Path(link): Path<String>,
    body: Result<Json<Delay>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let Ok(Json(Delay { ms })) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "send {\"ms\": <0 to 10000>}".into(),
        );
    };
    if !(ms.is_finite() && (0.0..=10_000.0).contains(&ms)) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "ms: 0 to 10000".into(),
        );
    }
    with_link(&links, &link, |l| {
        l.control.set_delay(Duration::from_secs_f64(ms / 1000.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_specs_parse_and_bad_ones_say_why() {
        let l: LinkSpec = "127.0.0.1:1=127.0.0.1:2@12.5ms".parse().unwrap();
        assert_eq!(l.name, "127.0.0.1:1");
        let named: LinkSpec = "redis/127.0.0.1:1=127.0.0.1:2".parse().unwrap();
        assert_eq!(named.name, "redis");
        assert_eq!(l.delay, Duration::from_micros(12_500));
        assert_eq!(l.upstream, "127.0.0.1:2".parse().unwrap());
        assert_eq!(
            "127.0.0.1:1=127.0.0.1:2".parse::<LinkSpec>().unwrap().delay,
            Duration::ZERO
        );
        for (bad, says) in [
            ("127.0.0.1:1", "LISTEN=UPSTREAM"),
            ("127.0.0.1:1=127.0.0.1:2@12", "like 12ms"),
            ("127.0.0.1:1=127.0.0.1:2@-1ms", "like 12ms"),
            ("localhost:1=127.0.0.1:2", "listen address"),
            ("a b/127.0.0.1:1=127.0.0.1:2", "a name of"),
        ] {
            let e = format!("{:#}", bad.parse::<LinkSpec>().unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
