//! `meridian-lab`: the measuring side of the geo lab (`deploy/lab/lab.sh`
//! builds the namespaces, links and processes, and calls this).
//!
//!   meridian-lab links  --regions new-york,dallas,…      city, region, one-way ms
//!   meridian-lab table  --regions …                      the same, as Markdown
//!   meridian-lab city   --regions … seattle              its latitude and longitude
//!   meridian-lab probe  --city seattle --what api --path /api/… --edge 10.77.2.2:8443 --out F
//!   meridian-lab watch  --path /api/… --edge … --rate 50 --secs 12 --out F
//!   meridian-lab judge  --dir .run/lab/results --regions …

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde::de::DeserializeOwned;

mod cities;
mod judge;
mod probe;

use cities::Lab;

#[derive(Parser)]
#[command(
    version,
    about = "The geo lab's measurements: link delays, probes, failover, goals"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Places {
    /// The shoppers' cities and the fibre constants.
    #[arg(long, default_value = "deploy/lab/cities.toml")]
    cities: PathBuf,
    /// Where `<region>.toml` files are (their coordinates).
    #[arg(long, default_value = "regions")]
    regions_dir: PathBuf,
    /// The regions in the lab, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    regions: Vec<String>,
}

impl Places {
    fn load(&self) -> anyhow::Result<Lab> {
        Lab::load(&self.cities, &self.regions_dir, &self.regions)
    }
}

#[derive(Args)]
struct Edge {
    /// The city's edge (lab address and port); requests name meridian.test.
    #[arg(long)]
    edge: SocketAddr,
    #[arg(long, default_value = "certs/ca.crt")]
    ca: PathBuf,
    /// Where the JSON result goes.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Every city–region link: `city<TAB>region<TAB>one-way ms`.
    Links(Places),
    /// The distances and delays as a Markdown table.
    Table(Places),
    /// A city's `latitude longitude` (its edge's location).
    City {
        #[command(flatten)]
        places: Places,
        id: String,
    },
    /// Timed GETs one after another on a kept-alive connection.
    Probe {
        #[command(flatten)]
        edge: Edge,
        #[arg(long)]
        city: String,
        /// A label: page, api, cached.
        #[arg(long)]
        what: String,
        #[arg(long)]
        path: String,
        #[arg(long, default_value_t = 200)]
        count: u64,
        #[arg(long, default_value_t = 20)]
        warmup: u64,
        /// A query string of its own on each request: no cache answers.
        #[arg(long)]
        bust: bool,
        /// A pause after each answer (the near pass: the round trip the far
        /// pass has between requests).
        #[arg(long, default_value_t = 0.0)]
        gap_ms: f64,
    },
    /// GETs at a steady rate, every one kept (for a failover).
    Watch {
        #[command(flatten)]
        edge: Edge,
        #[arg(long)]
        path: String,
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        #[arg(long, default_value_t = 12.0)]
        secs: f64,
        /// A query string of its own on each request: no cache answers.
        #[arg(long)]
        bust: bool,
    },
    /// Checks the goals on a results directory; writes report.md and
    /// report.json there; exit 1 when one is missed.
    Judge {
        #[command(flatten)]
        places: Places,
        #[arg(long)]
        dir: PathBuf,
        /// Show the latency rows without judging them (routing, failed
        /// requests and failover still are): CI's short run, where one
        /// shared machine's run-to-run drift is the same size as the goal.
        #[arg(long)]
        no_latency_goal: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Links(places) => {
            let lab = places.load()?;
            for city in &lab.table.cities {
                for l in lab.links_of(city) {
                    println!("{}\t{}\t{:.3}", l.city, l.region, l.one_way_ms);
                }
            }
        }
        Command::Table(places) => print!("{}", table(&places.load()?)),
        Command::City { places, id } => {
            let lab = places.load()?;
            let city = lab
                .table
                .cities
                .iter()
                .find(|c| c.id == id)
                .with_context(|| format!("no city {id:?} in {}", places.cities.display()))?;
            println!("{} {}", city.latitude, city.longitude);
        }
        Command::Probe {
            edge,
            city,
            what,
            path,
            count,
            warmup,
            bust,
            gap_ms,
        } => {
            if !(1..=100_000).contains(&count) {
                bail!("--count 1 to 100000");
            }
            if !(0.0..=10_000.0).contains(&gap_ms) {
                bail!("--gap-ms 0 to 10000");
            }
            let target = probe::Target::new(edge.edge, &edge.ca)?;
            let pace = probe::Pace {
                count,
                warmup,
                bust,
                gap: std::time::Duration::from_secs_f64(gap_ms / 1000.0),
            };
            let p = probe::probe(&target, &city, &what, &path, &pace).await?;
            write_json(&edge.out, &p)?;
        }
        Command::Watch {
            edge,
            path,
            rate,
            secs,
            bust,
        } => {
            let target = Arc::new(probe::Target::new(edge.edge, &edge.ca)?);
            let samples = probe::watch(target, &path, rate, secs, bust).await?;
            write_json(&edge.out, &samples)?;
        }
        Command::Judge {
            places,
            dir,
            no_latency_goal,
        } => {
            if !judge_dir(&places.load()?, &dir, !no_latency_goal)? {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

fn table(lab: &Lab) -> String {
    let mut out = String::from(
        "| city | region | great circle km | fibre km | one way ms | round trip ms |\n|---|---|---:|---:|---:|---:|\n",
    );
    for city in &lab.table.cities {
        for (i, l) in lab.links_of(city).iter().enumerate() {
            let region = if i == 0 {
                format!("**{}** (nearest)", l.region)
            } else {
                l.region.clone()
            };
            let _ = writeln!(
                out,
                "| {} | {region} | {:.0} | {:.0} | {:.2} | {:.2} |",
                city.name,
                l.great_circle_km,
                l.fibre_km,
                l.one_way_ms,
                l.rtt_ms()
            );
        }
    }
    out
}

/// Reads `near/` and `far/` probes (`<city>-<what>.json`) and `failover/`
/// watches (`<city>.json` with `<city>.events.json`) under `dir`.
fn judge_dir(lab: &Lab, dir: &Path, latency_goal: bool) -> anyhow::Result<bool> {
    let mut latency = Vec::new();
    let mut failover = Vec::new();
    for city in &lab.table.cities {
        let links = lab.links_of(city);
        for (what, checked) in [
            ("page", latency_goal),
            ("api", latency_goal),
            ("cached", false),
        ] {
            let file = format!("{}-{what}.json", city.id);
            let near: probe::Probe = read_json(&dir.join("near").join(&file))?;
            let far: probe::Probe = read_json(&dir.join("far").join(&file))?;
            latency.push(judge::latency(&links[0], &near, &far, checked));
        }
        let events = dir
            .join("failover")
            .join(format!("{}.events.json", city.id));
        if events.exists() {
            let ev: judge::Events = read_json(&events)?;
            let samples: Vec<probe::Sample> =
                read_json(&dir.join("failover").join(format!("{}.json", city.id)))?;
            let next = links
                .iter()
                .find(|l| l.region != ev.killed)
                .context("a second region to fail over to")?;
            failover.push(judge::failover(&ev, &next.region, &samples));
        }
    }
    let report = judge::markdown(&latency, &failover);
    std::fs::write(dir.join("report.md"), &report)?;
    write_json(
        &dir.join("report.json"),
        &serde_json::json!({ "latency": latency, "failover": failover }),
    )?;
    print!("{report}");
    Ok(latency.iter().all(|r| r.ok) && failover.iter().all(|f| f.ok))
}

fn read_json<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}", path.display()))
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", path.display()))
}
