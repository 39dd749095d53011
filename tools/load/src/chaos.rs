//! Chaos switches: at set times of the run, stop, crash, pause, resume or
//! start a region's origin, through the control script of the deployment
//! (`deploy/local/region.sh` for run.sh's system; the lab has its own), or
//! cut, restore or delay a link of a `meridian-relay` (a store, or the way
//! to a region) through its control API. What happened, and when, goes
//! into the report beside the timeline.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    pub at: Duration,
    pub action: String,
    pub region: String,
}

const REGION_ACTIONS: [&str; 5] = ["stop", "kill", "pause", "resume", "start"];
const LINK_ACTIONS: [&str; 2] = ["cut", "restore"];

/// `AT:ACTION:TARGET`, e.g. `10s:kill:portland`, `2500ms:pause:dallas`,
/// `5s:cut:redis`, `8s:delay=40ms:portland` (a relay link's name).
impl Switch {
    /// Flipped through the relay's control API rather than the script.
    pub fn is_link(&self) -> bool {
        LINK_ACTIONS.contains(&self.action.as_str()) || self.action.starts_with("delay=")
    }
}

impl FromStr for Switch {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        let mut parts = s.splitn(3, ':');
        let (Some(at), Some(action), Some(region)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("--chaos {s:?}: write AT:ACTION:REGION, e.g. 10s:kill:portland");
        };
        let at = if let Some(ms) = at.strip_suffix("ms") {
            ms.parse().ok().map(Duration::from_millis)
        } else if let Some(secs) = at.strip_suffix('s') {
            secs.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
        } else {
            None
        }
        .with_context(|| format!("--chaos {s:?}: the time is like 10s or 2500ms"))?;
        let delay_ok = action
            .strip_prefix("delay=")
            .and_then(|d| d.strip_suffix("ms"))
            .is_some_and(|ms| {
                ms.parse::<f64>()
                    .is_ok_and(|ms| (0.0..=10_000.0).contains(&ms))
            });
        if !REGION_ACTIONS.contains(&action) && !LINK_ACTIONS.contains(&action) && !delay_ok {
            bail!(
                "--chaos {s:?}: the action is one of {}, {} or delay=<ms>ms",
                REGION_ACTIONS.join(", "),
                LINK_ACTIONS.join(", ")
            );
        }
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            bail!("--chaos {s:?}: a region id like new-york or a link name like redis");
        }
        Ok(Self {
            at,
            action: action.to_owned(),
            region: region.to_owned(),
        })
    }
}

/// A switch as it was flipped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Flipped {
    pub at_s: f64,
    pub action: String,
    pub region: String,
    pub ok: bool,
    /// What the control script said.
    pub said: String,
}

/// Where switches go: the region script, and the relay's control API.
#[derive(Clone)]
pub struct Controls {
    pub script: PathBuf,
    pub relay: Option<String>,
}

/// Flips every switch at its time from now; the script is called as
/// `SCRIPT ACTION REGION`, the relay as `POST {relay}/links/{name}/{action}`
/// (`PUT …/delay` for a delay).
pub async fn run(controls: Controls, mut switches: Vec<Switch>) -> Vec<Flipped> {
    switches.sort_by_key(|s| s.at);
    let began = tokio::time::Instant::now();
    let mut flipped = Vec::new();
    for s in switches {
        tokio::time::sleep_until(began + s.at).await;
        let at_s = began.elapsed().as_secs_f64();
        let (ok, said) = if s.is_link() {
            flip_link(&controls, &s).await
        } else {
            flip_region(&controls.script, &s).await
        };
        eprintln!(
            "meridian-load: chaos at {at_s:.1}s: {} {} → {}",
            s.action,
            s.region,
            if ok { "done" } else { "FAILED" }
        );
        flipped.push(Flipped {
            at_s,
            action: s.action,
            region: s.region,
            ok,
            said,
        });
    }
    flipped
}

async fn flip_region(script: &std::path::Path, s: &Switch) -> (bool, String) {
    let out = tokio::process::Command::new(script)
        .arg(&s.action)
        .arg(&s.region)
        .output()
        .await;
    match out {
        Ok(o) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            (o.status.success(), text.trim().to_owned())
        }
        Err(e) => (false, format!("{}: {e}", script.display())),
    }
}

/// Through the relay; a link it does not carry (no relay, or 404: Kafka,
/// whose clients no relay can stand in front of) is the deployment
/// script's to cut (`region.sh cut kafka`).
async fn flip_link(controls: &Controls, s: &Switch) -> (bool, String) {
    let Some(relay) = controls.relay.as_deref() else {
        return flip_region(&controls.script, s).await;
    };
    let client = reqwest::Client::new();
    let base = format!("{}/links/{}", relay.trim_end_matches('/'), s.region);
    let request = match s
        .action
        .strip_prefix("delay=")
        .and_then(|d| d.strip_suffix("ms"))
    {
        Some(ms) => client
            .put(format!("{base}/delay"))
            .json(&serde_json::json!({ "ms": ms.parse::<f64>().unwrap_or(0.0) })),
        None => client.post(format!("{base}/{}", s.action)),
    };
    match request.timeout(Duration::from_secs(5)).send().await {
        Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
            flip_region(&controls.script, s).await
        }
        Ok(r) => {
            let ok = r.status().is_success();
            (ok, r.text().await.unwrap_or_default())
        }
        Err(e) => (false, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_parse_and_bad_ones_say_why() {
        let s: Switch = "10s:kill:portland".parse().unwrap();
        assert_eq!(
            s,
            Switch {
                at: Duration::from_secs(10),
                action: "kill".into(),
                region: "portland".into()
            }
        );
        assert_eq!(
            "2500ms:pause:new-york".parse::<Switch>().unwrap().at,
            Duration::from_millis(2500)
        );
        for (bad, says) in [
            ("10s:kill", "AT:ACTION:REGION"),
            ("10:kill:portland", "like 10s"),
            ("-1s:kill:portland", "like 10s"),
            ("1s:explode:portland", "one of"),
            ("1s:delay=xms:portland", "one of"),
            ("1s:kill:portland;rm", "region id"),
        ] {
            let e = bad.parse::<Switch>().unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    /// An executable control script in a directory of its own (removed by
    /// the caller).
    fn control_script(name: &str, body: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("meridian-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("control.sh");
        std::fs::write(&script, body).unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
        (dir, script)
    }

    #[tokio::test]
    async fn flips_through_the_control_script_and_reports_its_answer() {
        let (dir, script) =
            control_script("chaos", "#!/bin/sh\necho \"$1 $2\"\n[ \"$1\" != start ]\n");
        let controls = Controls {
            script,
            relay: None,
        };
        let flipped = run(
            controls,
            vec![
                "60ms:cut:redis".parse().unwrap(),
                "50ms:start:dallas".parse().unwrap(),
                "0s:pause:portland".parse().unwrap(),
            ],
        )
        .await;
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(flipped.len(), 3);
        assert_eq!((flipped[0].action.as_str(), flipped[0].ok), ("pause", true));
        assert_eq!(flipped[0].said, "pause portland");
        assert_eq!(
            (flipped[1].action.as_str(), flipped[1].ok),
            ("start", false)
        );
        assert!(flipped[1].at_s >= 0.05);
        // A link switch without a relay goes to the script.
        assert_eq!((flipped[2].action.as_str(), flipped[2].ok), ("cut", true));
        assert_eq!(flipped[2].said, "cut redis");
    }

    #[tokio::test]
    async fn a_link_the_relay_does_not_carry_goes_to_the_script() {
        use axum::routing::post;
        let relay = axum::Router::new().route(
            "/links/redis/cut",
            post(|| async { "redis cut by the relay" }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, relay).await });
        let (dir, script) = control_script("chaos-relay", "#!/bin/sh\necho \"script: $1 $2\"\n");
        let controls = Controls {
            script,
            relay: Some(format!("http://{addr}")),
        };
        let flipped = run(
            controls,
            vec![
                "0s:cut:redis".parse().unwrap(),
                "10ms:cut:kafka".parse().unwrap(),
            ],
        )
        .await;
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(flipped[0].said, "redis cut by the relay");
        assert_eq!(flipped[1].said, "script: cut kafka");
        assert!(flipped.iter().all(|f| f.ok));
    }
}
