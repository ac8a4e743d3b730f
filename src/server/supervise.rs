//! Telling a supervisor how the server is doing (`supervised`), as Redis does: systemd's
//! notify protocol (a datagram to `$NOTIFY_SOCKET`: `READY=1` once the data is loaded and
//! clients are served, `STOPPING=1` when shutdown begins), or upstart's convention of
//! the process stopping itself (SIGSTOP) once ready. `auto` picks by the environment.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

use crate::log;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Supervisor {
    Systemd,
    Upstart,
}

fn detect(setting: &str) -> Option<Supervisor> {
    match setting {
        "systemd" => Some(Supervisor::Systemd),
        "upstart" => Some(Supervisor::Upstart),
        "auto" if std::env::var_os("NOTIFY_SOCKET").is_some() => Some(Supervisor::Systemd),
        "auto" if std::env::var_os("UPSTART_JOB").is_some() => Some(Supervisor::Upstart),
        _ => None,
    }
}

/// The data is loaded and every listener accepts clients.
pub fn ready(setting: &str) {
    match detect(setting) {
        Some(Supervisor::Systemd) => {
            log::notice(
                "Supervised by systemd. Please make sure you set appropriate values for \
                 TimeoutStartSec and TimeoutStopSec in your service unit.",
            );
            notify("READY=1\nSTATUS=Ready to accept connections\n");
        }
        Some(Supervisor::Upstart) => {
            log::notice("Supervised by upstart, will stop to signal readiness.");
            // SAFETY: raise has no preconditions; upstart resumes the process.
            unsafe {
                libc::raise(libc::SIGSTOP);
            }
        }
        None => {}
    }
}

/// Shutdown has begun.
pub fn stopping(setting: &str) {
    if detect(setting) == Some(Supervisor::Systemd) {
        notify("STOPPING=1\n");
    }
}

fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        log::warning("systemd supervision requested, but NOTIFY_SOCKET not found!");
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|socket| {
        match path.as_bytes().strip_prefix(b"@") {
            // An abstract socket name (systemd's usual).
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(state.as_bytes(), &address)
            }
            None => socket.send_to(state.as_bytes(), &path),
        }
    });
    if let Err(e) = sent {
        log::warning(&format!(
            "Could not notify systemd through {}: {e}",
            path.to_string_lossy()
        ));
    }
}
