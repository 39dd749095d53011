//! `origin --region regions/chicago.toml [--stores FILE] [--check]`
//!
//! Loads the region's config, builds every service and serves until SIGINT or
//! SIGTERM, then drains in-flight requests. `--check` validates the config and
//! exits. `--stores` (or `MERIDIAN_STORES`) takes the `[stores.*]` tables
//! from a file shared by every region, e.g. `deploy/local/real-stores.toml`.

use std::path::PathBuf;
use std::process::ExitCode;

use meridian_common::telemetry;
use meridian_server::config::RegionConfig;

// Measured (perf, 1,600 checkouts/s offered through the edge): glibc's
// malloc, free and consolidation were 30% of the origin's CPU; mimalloc is
// what the edge already uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: origin --region <regions/NAME.toml> [--stores <FILE>] [--check]";

struct Args {
    region: PathBuf,
    stores: Option<PathBuf>,
    check: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut region = None;
    let mut stores = std::env::var_os("MERIDIAN_STORES").map(PathBuf::from);
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--region" => region = args.next().map(PathBuf::from),
            "--stores" => stores = args.next().map(PathBuf::from),
            "--check" => check = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let region = region.ok_or_else(|| USAGE.to_owned())?;
    Ok(Args {
        region,
        stores,
        check,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let (path, check) = (args.region, args.check);
    let config = match RegionConfig::load_with_stores(&path, args.stores.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if check {
        println!("{}: ok", path.display());
        return ExitCode::SUCCESS;
    }
    let pipeline = match telemetry::init("origin", config.tracing.as_ref(), &config.id) {
        Ok(pipeline) => pipeline,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let code = match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "origin failed");
            eprintln!("origin failed: {e:#}");
            ExitCode::FAILURE
        }
    };
    // The last seconds' spans are still batched.
    if let Some(pipeline) = pipeline {
        tokio::task::block_in_place(|| pipeline.shutdown());
    }
    code
}

async fn run(config: RegionConfig) -> anyhow::Result<()> {
    let origin = meridian_server::build(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    match &config.tls {
        Some(tls) => {
            let tls = meridian_server::tls::server_config(tls)?;
            meridian_server::tls::serve_tls(listener, origin, tls, shutdown_signal()).await?;
        }
        None => meridian_server::serve(listener, origin, shutdown_signal()).await?,
    }
    tracing::info!("origin stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
