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
    if let Some(path) = &config.logfile {
        if let Err(e) = log::to_file(std::path::Path::new(path)) {
            eprintln!("roost: Can't open the log file {path} (logfile): {e}");
            return ExitCode::from(1);
        }
    }
    if config.syslog_enabled {
        // The table allows only the names `log` knows.
        let facility = log::syslog_facility(&config.syslog_facility).expect("a known facility");
        if let Err(e) = log::to_syslog(&config.syslog_ident, facility) {
            eprintln!("roost: configuration error: 'syslog-ident': {e}");
            return ExitCode::from(1);
        }
    }
    log_startup(&config);
    for directive in ignored {
        log::warning(&format!(
            "Config directive '{directive}' is a Redis setting Roost does not implement; ignored"
        ));
    }
    let config = fit_open_files(config);
    if let Err(e) = roost::persist::prepare_data_dir(&config.dir) {
        log::warning(&format!("Fatal: {e}"));
        eprintln!("roost: {e}");
        return ExitCode::from(1);
    }
    // Checked first, so that what stops startup reaches the terminal.
    if config.daemonize {
        if let Err(e) = daemonize() {
            eprintln!("roost: cannot daemonize: {e}");
            return ExitCode::FAILURE;
        }
        log::notice(&format!(
            "Running in the background, pid={}",
            std::process::id()
        ));
    }
    // As Redis: a daemon writes a pid file even when none is configured.
    let pidfile = config
        .pidfile
        .clone()
        .or_else(|| config.daemonize.then(|| DEFAULT_PIDFILE.to_string()));
    if let Some(path) = &pidfile {
        if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
            log::warning(&format!("Failed to write PID file {path}: {e}"));
        }
    }
    let code = serve(config);
    if let Some(path) = &pidfile {
        let _ = std::fs::remove_file(path);
    }
    code
}

/// Where a daemon writes its pid when `pidfile` is not set (Redis: /var/run/redis.pid).
const DEFAULT_PIDFILE: &str = "/var/run/roost.pid";

/// Detaches as redis-server does: the parent exits at once; the child starts a session
/// of its own, and its standard streams go to /dev/null (the log too, unless `logfile`
/// is set).
fn daemonize() -> std::io::Result<()> {
    // SAFETY: fork is called before the runtime or any other thread starts, so the child
    // is a complete copy; the parent only exits.
    match unsafe { libc::fork() } {
        -1 => return Err(std::io::Error::last_os_error()),
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: setsid, open and dup2 have no memory-safety preconditions; the path is a
    // NUL-terminated literal.
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null < 0 {
            return Err(std::io::Error::last_os_error());
        }
        for stream in 0..3 {
            libc::dup2(null, stream);
        }
        if null > 2 {
            libc::close(null);
        }
    }
    Ok(())
}

/// Runs the server until it shuts down.
fn serve(config: Config) -> ExitCode {
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
                // In the log too: a daemon's stderr goes nowhere.
                log::warning(&format!("Fatal: cannot listen: {e}"));
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
    } else if config.save.is_empty() {
        log::warning(&format!(
            "Data directory {}: appendonly no and no save schedule, the data lives in memory only and a restart loses it",
            dir.display()
        ));
    } else {
        log::notice(&format!(
            "Data directory {}: appendonly no, the data is saved to {} (save {})",
            dir.display(),
            config.dbfilename,
            config.save
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
