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
    for directive in ignored {
        log::warning(&format!(
            "Config directive '{directive}' is a Redis setting Roost does not implement; ignored"
        ));
    }
    let config = fit_open_files(config);
    if let Err(e) = std::fs::create_dir_all(&config.dir) {
        eprintln!("roost: cannot create dir {}: {e}", config.dir.display());
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
    let fix = args.iter().any(|a| a == "--fix");
    let files: Vec<&std::ffi::OsString> = args.iter().filter(|a| *a != "--fix").collect();
    let [file] = files.as_slice() else {
        eprintln!("usage: roost check-aof [--fix] FILE");
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

/// Descriptors kept for other than clients (listeners, log files), as Redis keeps 32.
const RESERVED_FDS: u64 = 32;

/// Raises the open-files limit to what `maxclients` needs, as Redis does at startup
/// (root may raise the hard limit too); if the system refuses, lowers `maxclients` to
/// what fits and says so in Redis's words, rather than failing accepts at run time.
fn fit_open_files(mut config: Config) -> Config {
    let wanted = (config.maxclients as u64).saturating_add(RESERVED_FDS);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write a valid struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return config;
    }
    let (current, hard): (u64, u64) = (limit.rlim_cur, limit.rlim_max);
    if current >= wanted {
        return config;
    }
    let set = |soft: u64| {
        let new = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard.max(soft),
        };
        // SAFETY: as above.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 }
    };
    if set(wanted) {
        return config;
    }
    let error = std::io::Error::last_os_error();
    let got = if hard > current && set(hard) {
        hard
    } else {
        current
    };
    log::warning(&format!(
        "You requested maxclients of {} requiring at least {wanted} max file descriptors.",
        config.maxclients
    ));
    log::warning(&format!(
        "Server can't set maximum open files to {wanted} because of OS error: {error}."
    ));
    if got > RESERVED_FDS {
        config.maxclients = (got - RESERVED_FDS) as usize;
        log::warning(&format!(
            "Current maximum open files is {got}. maxclients has been reduced to {} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
            config.maxclients
        ));
    }
    config
}
