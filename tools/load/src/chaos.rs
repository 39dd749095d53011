//! Chaos switches: at set times of the run, stop, crash, pause, resume or
//! start a region's origin, through the control script of the deployment
//! (`deploy/local/region.sh` for run.sh's system; the lab has its own).
//! What happened, and when, goes into the report beside the timeline.

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

const ACTIONS: [&str; 5] = ["stop", "kill", "pause", "resume", "start"];

/// `AT:ACTION:REGION`, e.g. `10s:kill:portland`, `2500ms:pause:dallas`.
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
        if !ACTIONS.contains(&action) {
            bail!("--chaos {s:?}: the action is one of {}", ACTIONS.join(", "));
        }
        if region.is_empty() || !region.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
            bail!("--chaos {s:?}: a region id like portland or new-york");
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

/// Flips every switch at its time from now; the script is called as
/// `CONTROL ACTION REGION`.
pub async fn run(control: PathBuf, mut switches: Vec<Switch>) -> Vec<Flipped> {
    switches.sort_by_key(|s| s.at);
    let began = tokio::time::Instant::now();
    let mut flipped = Vec::new();
    for s in switches {
        tokio::time::sleep_until(began + s.at).await;
        let at_s = began.elapsed().as_secs_f64();
        let out = tokio::process::Command::new(&control)
            .arg(&s.action)
            .arg(&s.region)
            .output()
            .await;
        let (ok, said) = match out {
            Ok(o) => {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                (o.status.success(), text.trim().to_owned())
            }
            Err(e) => (false, format!("{}: {e}", control.display())),
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
            ("1s:kill:Portland;rm", "region id"),
        ] {
            let e = bad.parse::<Switch>().unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn flips_through_the_control_script_and_reports_its_answer() {
        let dir = std::env::temp_dir().join(format!("meridian-chaos-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("control.sh");
        std::fs::write(&script, "#!/bin/sh\necho \"$1 $2\"\n[ \"$1\" != start ]\n").unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
        let flipped = run(
            script,
            vec![
                "50ms:start:dallas".parse().unwrap(),
                "0s:pause:portland".parse().unwrap(),
            ],
        )
        .await;
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(flipped.len(), 2);
        assert_eq!((flipped[0].action.as_str(), flipped[0].ok), ("pause", true));
        assert_eq!(flipped[0].said, "pause portland");
        assert_eq!(
            (flipped[1].action.as_str(), flipped[1].ok),
            ("start", false)
        );
        assert!(flipped[1].at_s >= 0.05);
    }
}
