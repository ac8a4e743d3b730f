//! The `roost` binary: flags -> Config -> server.

use std::process::ExitCode;

use roost::config::Config;
use roost::server::Server;

#[global_allocator]
static ALLOCATOR: roost::alloc::CountingAllocator = roost::alloc::CountingAllocator;

fn main() -> ExitCode {
    let config = Config::default();
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
        match server.run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("roost: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
