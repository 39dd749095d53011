//! `edge --config deploy/local/edge.toml [--check] [--upgrade] [--watch]`
//!
//! Loads and validates the config, builds the services and hands them to
//! Pingora's server, which runs them until SIGTERM/SIGINT (or hands the
//! listening sockets to a new binary with `--upgrade`, see deploy/README).

use std::path::PathBuf;
use std::process::ExitCode;

use meridian_edge::config::EdgeConfig;
use pingora::server::configuration::Opt;
use pingora::server::Server;
use pingora::services::background::background_service;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: edge --config <edge.toml> [--check] [--upgrade] [--watch]";

struct Args {
    config: PathBuf,
    check: bool,
    upgrade: bool,
    /// Reload when the config or a certificate file changes (a mounted
    /// ConfigMap or Secret in Kubernetes), as on SIGHUP.
    watch: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut config = None;
    let (mut check, mut upgrade, mut watch) = (false, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => config = args.next().map(PathBuf::from),
            "--check" => check = true,
            "--upgrade" => upgrade = true,
            "--watch" => watch = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let config = config.ok_or_else(|| USAGE.to_owned())?;
    Ok(Args {
        config,
        check,
        upgrade,
        watch,
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("MERIDIAN_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    init_logging();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let config = match EdgeConfig::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let app = match meridian_edge::build(&config, &args.config) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("invalid configuration: {e:#}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("{}: ok", args.config.display());
        return ExitCode::SUCCESS;
    }
    let opt = Opt {
        upgrade: args.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, meridian_edge::server_conf(&config));
    server.bootstrap();
    server.add_service(background_service("health checks", app.health));
    server.add_service(background_service("cache purge feed", app.purge_feed));
    server.add_service(background_service(
        "sighup reload",
        meridian_edge::SighupReload(app.reloader.clone()),
    ));
    if args.watch {
        server.add_service(background_service(
            "config file watch",
            meridian_edge::ops::watch::WatchReload(app.reloader.clone()),
        ));
    }
    if let Some(pipeline) = app.tracing.clone() {
        server.add_service(background_service(
            "span flush",
            meridian_edge::FlushSpans(pipeline),
        ));
    }
    server.add_service(app.proxy);
    if let Some(redirect) = app.redirect {
        server.add_service(redirect);
    }
    if let Some(endpoint) = app.metrics_endpoint {
        server.add_service(endpoint);
    }
    if let Some(admin) = app.admin {
        server.add_service(admin);
    }
    tracing::info!(https = %config.listen.https, "edge starting");
    server.run_forever()
}
