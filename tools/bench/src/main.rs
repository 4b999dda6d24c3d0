//! `beacon-bench`: load figures for a real `beacon serve`, with Nchan side by
//! side (see the library's documentation and `docs/benchmarks.md`).
//!
//! ```text
//! cargo build --release -p beacon -p beacon-bench
//! ./target/release/beacon-bench                      # every scenario, every target
//! ./target/release/beacon-bench --scenario idle --connections 10000,18000 --backend embedded
//! ./target/release/beacon-bench --scenario fanout --subscribers 100 --rate 50 --duration 5
//! ```

use anyhow::Result;
use beacon_bench::client;
use beacon_bench::opts::{Cli, Command};
use clap::Parser;

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Client) = cli.command {
        return client::child::main();
    }
    let opts = cli.opts;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.client_threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async {
        tokio::select! {
            result = beacon_bench::scenario::run_all(&opts) => result,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted; stopping child processes");
                Ok(())
            }
        }
    })
}
