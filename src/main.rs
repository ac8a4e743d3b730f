//! The `roost` binary: flags (and an optional redis.conf) -> Config -> server.

use std::process::ExitCode;

use roost::config::Config;
use roost::log;
use roost::server::Server;

#[global_allocator]
static ALLOCATOR: roost::alloc::CountingAllocator = roost::alloc::CountingAllocator;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "check-aof") {
        return check_aof(&args[2..]);
    }
    let (config, ignored) = match Config::from_args(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            // clap formats help and version requests itself, with exit code 0.
            if let Some(clap_error) = e.downcast_ref::<clap::Error>() {
                let _ = clap_error.print();
                return if clap_error.use_stderr() {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            eprintln!("roost: configuration error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = roost::cmd::check_config(&config) {
        eprintln!("roost: configuration error: {e}");
        return ExitCode::from(1);
    }
    if let Some(level) = log::Level::parse(&config.loglevel) {
        log::set_level(level);
    }
    log_startup(&config);
    for directive in ignored {
        log::warning(&format!(
            "Config directive '{directive}' is a Redis setting Roost does not implement; ignored"
        ));
    }
    if let Err(e) = roost::persist::prepare_data_dir(&config.dir) {
        log::warning(&format!("Fatal: {e}"));
        eprintln!("roost: {e}");
        return ExitCode::from(1);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roost: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("roost: cannot listen: {e}");
                return ExitCode::FAILURE;
            }
        };
        // A file size limit (ulimit -f) must reach the log writer as a write error it can
        // report and retry, not kill the process with SIGXFSZ.
        let _file_size_signal =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(25));
        let shared = server.shared();
        tokio::spawn(async move {
            wait_for_signal().await;
            log::warning("Received a shutdown signal, scheduling shutdown...");
            // As Redis: a running script is not cut short by a signal; clients keep
            // getting BUSY and may SCRIPT KILL it, and the server stops once it ends.
            if shared.scripts.running.is_running() {
                log::warning("A script is running: shutting down once it ends (SCRIPT KILL, SHUTDOWN NOSAVE)");
                shared.scripts.running.done().await;
            }
            shared.request_shutdown();
        });
        match server.run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("roost: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// What an operator reading the log needs first: which binary, which configuration,
/// where the data lives and how it is kept.
fn log_startup(config: &Config) {
    log::notice("oO0OoO0OoO0Oo Roost is starting oO0OoO0OoO0Oo");
    log::notice(&format!(
        "Roost version={}, answering as Redis {}, bits={}, pid={}, just started",
        roost::VERSION,
        roost::VERSION_COMPAT,
        usize::BITS,
        std::process::id()
    ));
    match &config.config_file {
        Some(file) => log::notice(&format!("Configuration loaded from {}", file.display())),
        None => log::notice("No config file given: defaults and flags (roost --help)"),
    }
    let dir = std::path::absolute(&config.dir).unwrap_or_else(|_| config.dir.clone());
    if config.appendonly {
        log::notice(&format!(
            "Data directory {}: append-only log on, appendfsync {}",
            dir.display(),
            config.get("appendfsync").unwrap_or_default()
        ));
    } else {
        log::warning(&format!(
            "Data directory {}: appendonly no, the data lives in memory only and a restart loses it",
            dir.display()
        ));
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// `roost check-aof [--fix] FILE`: reports what a log segment holds and where it is
/// damaged; exits non-zero if it is damaged and was not fixed.
fn check_aof(args: &[std::ffi::OsString]) -> ExitCode {
    const USAGE: &str = "usage: roost check-aof [--fix] FILE\n\n\
        Checks a Roost log file (a segment of appendonly/, or a rewrite's base): reports the\n\
        records it holds and where it is damaged, and exits non-zero if it is damaged.\n\n\
        --fix   truncate a damaged file to its last whole record (asks nothing: keep a copy)\n";
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let fix = args.iter().any(|a| a == "--fix");
    let files: Vec<&std::ffi::OsString> = args.iter().filter(|a| *a != "--fix").collect();
    let [file] = files.as_slice() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    match roost::aof::check::check(std::path::Path::new(file), fix) {
        Ok(report) => {
            print!("{}", report.text);
            if report.valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!(
                "roost check-aof: {}: {e}",
                std::path::Path::new(file).display()
            );
            ExitCode::from(2)
        }
    }
}
