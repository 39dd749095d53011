//! `meridian-load`: drives shoppers, a seller and a carrier through the
//! edge, reports what the system did (docs/performance.md), and checks the
//! books afterwards.
//!
//!   meridian-load --rate 50,100,200 --step-secs 10 --out .run/load
//!   meridian-load --users 8 --step-secs 5 --mix checkout=1

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

mod api;
mod chaos;
mod chart;
mod drive;
mod plan;
mod record;
mod report;
mod scenarios;
mod target;
mod verify;
mod world;

use plan::{Arrival, Mix};
use record::Recorder;

const DEFAULT_MIX: &str =
    "browse=40,search=15,checkout=25,new_shopper=2,returning=8,seller=5,carrier=5";

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Shopper load for Meridian: scenarios, arrivals, report, verification"
)]
struct Args {
    /// The edge to load: loopback or a lab address only.
    #[arg(long, default_value = "https://localhost:8443")]
    base: String,
    /// CA certificate to trust for https (default: certs/ca.crt when present).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Scenario weights, e.g. browse=40,checkout=25 (scenarios: browse,
    /// search, checkout, new_shopper, returning, seller, carrier).
    #[arg(long, default_value = DEFAULT_MIX)]
    mix: String,
    /// Open loop: sessions started per second, one value per step.
    #[arg(long, conflicts_with = "users")]
    rate: Option<String>,
    /// Closed loop: concurrent users, one value per step.
    #[arg(long)]
    users: Option<String>,
    /// Closed loop: pause between a user's sessions.
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
    /// Length of each step.
    #[arg(long, default_value_t = 10.0)]
    step_secs: f64,
    /// Sessions in all, at most.
    #[arg(long, default_value_t = 10_000_000)]
    max_sessions: u64,
    /// Open loop: sessions in flight at most (more arrivals are dropped
    /// and reported).
    #[arg(long, default_value_t = 8192)]
    max_in_flight: usize,
    /// Connections to the edge the sessions spread over (one h2 connection
    /// each; the edge serves 100 requests at a time on one connection).
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// Per-request timeout.
    #[arg(long, default_value_t = 10.0)]
    timeout_secs: f64,
    /// Signed-in shoppers made before the run.
    #[arg(long, default_value_t = 64)]
    shoppers: usize,
    /// The run shop's products with plenty of stock.
    #[arg(long, default_value_t = 8)]
    plenty: usize,
    /// Its products with little stock (fought over: oversell shows here).
    #[arg(long, default_value_t = 4)]
    scarce: usize,
    #[arg(long, default_value_t = 40)]
    scarce_stock: u64,
    /// The carrier's secret (the region files' logistics.carrier_secret).
    #[arg(
        long,
        env = "MERIDIAN_CARRIER_SECRET",
        default_value = "meridian-dev-carrier-secret-0001"
    )]
    carrier_secret: String,
    /// Directory for report.json, report.txt and report.svg.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip the check of the books after the run.
    #[arg(long)]
    no_verify: bool,
    /// Exit 1 when a request failed or the books do not balance (CI).
    #[arg(long)]
    strict: bool,
    /// A chaos switch, AT:ACTION:TARGET; repeat for more. Regions: stop,
    /// kill, pause, resume, start (10s:kill:portland). Relay links: cut,
    /// restore, delay=<ms>ms (5s:cut:redis, 8s:delay=40ms:portland).
    #[arg(long)]
    chaos: Vec<String>,
    /// What flips region switches, called as `CONTROL ACTION REGION`.
    #[arg(long, default_value = "deploy/local/region.sh")]
    region_control: PathBuf,
    /// The meridian-relay control API that flips link switches, e.g.
    /// http://127.0.0.1:17900 (deploy/local/load.sh --relays starts one).
    #[arg(long, env = "MERIDIAN_RELAY_CONTROL")]
    relay_control: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = target::check_base(&args.base)?;
    let mix: Mix = args.mix.parse().context("--mix")?;
    let arrival = match (&args.rate, &args.users) {
        (Some(r), None) => Arrival::Open {
            rates: plan::list(r, "--rate")?,
        },
        (None, Some(u)) => Arrival::Closed {
            users: plan::list(u, "--users")?,
            think: Duration::from_millis(args.think_ms),
        },
        _ => bail!("give --rate (open loop) or --users (closed loop)"),
    };
    if !(0.1..=3600.0).contains(&args.step_secs) {
        bail!("--step-secs must be 0.1 to 3600");
    }
    let switches: Vec<chaos::Switch> = args
        .chaos
        .iter()
        .map(|c| c.parse())
        .collect::<anyhow::Result<_>>()?;
    if !switches.is_empty() && !args.region_control.exists() {
        bail!(
            "--region-control {}: not found",
            args.region_control.display()
        );
    }
    if args.plenty == 0 || args.shoppers == 0 {
        bail!("--plenty and --shoppers must be at least 1");
    }
    let ca = args.ca.clone().or_else(|| {
        let dev = PathBuf::from("certs/ca.crt");
        dev.exists().then_some(dev)
    });
    if !(1..=4096).contains(&args.connections) {
        bail!("--connections must be 1 to 4096");
    }
    let clients: Arc<[reqwest::Client]> = target::clients(
        ca.as_deref(),
        Duration::from_secs_f64(args.timeout_secs),
        args.connections,
    )?
    .into();

    let setup = api::Api {
        http: clients[0].clone(),
        base: base.as_str().into(),
        recorder: Arc::new(Recorder::new(1)),
        step: 0,
        scenario: "setup",
    };
    eprintln!(
        "meridian-load: setting up (a shop, {} products, {} shoppers)",
        args.plenty + args.scarce,
        args.shoppers
    );
    let sizes = world::Sizes {
        shoppers: args.shoppers,
        plenty: args.plenty,
        scarce: args.scarce,
        scarce_stock: args.scarce_stock,
    };
    let world = Arc::new(world::World::build(&setup, &sizes, args.carrier_secret.clone()).await?);

    let recorder = Arc::new(Recorder::new(arrival.steps()));
    let drive = drive::Drive {
        api: api::Api {
            recorder: recorder.clone(),
            ..setup.clone()
        },
        world: world.clone(),
        clients,
        mix,
        arrival: arrival.clone(),
        step: Duration::from_secs_f64(args.step_secs),
        max_sessions: args.max_sessions,
        max_in_flight: args.max_in_flight,
        started: Arc::new(AtomicU64::new(0)),
    };
    let progress = progress(&recorder, &drive.started);
    let bar = progress.0.clone();
    let offered: Vec<f64> = (0..arrival.steps()).map(|i| arrival.offered(i)).collect();
    let controls = chaos::Controls {
        script: args.region_control.clone(),
        relay: args.relay_control.clone(),
    };
    let flips = tokio::spawn(chaos::run(controls, switches));
    let driven = drive
        .run(|step| {
            bar.set_prefix(format!(
                "step {}/{} ({} {})",
                step + 1,
                offered.len(),
                offered[step],
                arrival.unit()
            ))
        })
        .await;
    progress.0.finish_and_clear();
    progress.1.abort();
    // Switches set past the end of the run are not flipped.
    let flipped = if flips.is_finished() {
        flips.await.unwrap_or_default()
    } else {
        flips.abort();
        Vec::new()
    };

    let waited_for_shoppers = world.shoppers.waited();
    let verdict = if args.no_verify {
        None
    } else {
        eprintln!("meridian-load: checking the books");
        let shoppers = world.shoppers.drain();
        Some(verify::verify(&setup, &world, &shoppers).await)
    };
    let steps_run = driven.seconds.len();
    let report = recorder.snapshot(|s| {
        let snapshot = record::Snapshot {
            steps: &s.steps[..steps_run],
            ..s
        };
        report::Report::new(
            report::Meta {
                target: &base,
                mix: &args.mix,
                offered_unit: arrival.unit(),
                offered: offered[..steps_run].to_vec(),
                seconds: driven.seconds.clone(),
            },
            snapshot,
            verdict,
            flipped,
        )
    });
    print!("{}", report.text());
    if driven.dropped > 0 {
        println!(
            "the generator dropped {} arrivals (more than --max-in-flight sessions were running)",
            driven.dropped
        );
    }
    if waited_for_shoppers > 0 {
        println!(
            "{waited_for_shoppers} sessions waited for a free shopper (all --shoppers were busy: the pool, not the system, held them)"
        );
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
        report.write_json(&dir.join("report.json"))?;
        std::fs::write(dir.join("report.txt"), report.text())?;
        chart::draw(&report, &dir.join("report.svg"))?;
        println!("report: {}/report.{{json,txt,svg}}", dir.display());
    }
    let failed: u64 = report.steps.iter().map(|s| s.failed).sum();
    let books_ok = report.verification.as_ref().is_none_or(|v| v.ok);
    if args.strict && (failed > 0 || !books_ok || driven.dropped > 0) {
        bail!(
            "strict: {failed} failed requests, books {}",
            if books_ok {
                "balanced"
            } else {
                "DO NOT balance"
            }
        );
    }
    Ok(())
}

/// The live line (indicatif): step, sessions, requests, failures, orders.
fn progress(
    recorder: &Arc<Recorder>,
    started: &Arc<AtomicU64>,
) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix} {msg}")
            .expect("static template is valid"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let (r, s, b) = (recorder.clone(), started.clone(), bar.clone());
    let ticker = tokio::spawn(async move {
        loop {
            let (requests, failed, placed) = r.totals();
            b.set_message(format!(
                "sessions {}  requests {requests}  failed {failed}  orders {placed}",
                s.load(Ordering::Relaxed)
            ));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    (bar, ticker)
}
