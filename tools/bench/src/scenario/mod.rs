//! The scenarios, each run on every target in turn (the targets of one
//! scenario run back to back, so they meet the same machine):
//!
//! - [`idle`]: memory per idle stream, at each `--connections` size;
//! - [`load`]: `fanout` (paced publishing) and `saturate` (flat out).

pub mod idle;
pub mod load;

use anyhow::{Context, Result, bail};

use crate::opts::{NchanChoice, Opts, Scenario, TargetKind};
use crate::report::{self, Report};
use crate::target::nchan::{self, Install};
use load::Mode;

/// One scenario at one size.
#[derive(Debug, Clone, Copy)]
enum Run {
    Idle(usize),
    Load(Mode),
}

impl Run {
    fn name(self) -> &'static str {
        match self {
            Run::Idle(_) => "idle",
            Run::Load(mode) => mode.scenario(),
        }
    }
}

fn runs(opts: &Opts, scenario: Scenario) -> Vec<Run> {
    match scenario {
        Scenario::Idle => opts.connections.iter().map(|&n| Run::Idle(n)).collect(),
        Scenario::Fanout => vec![Run::Load(Mode::Paced {
            rate: opts.rate,
            batch: opts.fanout_batch,
        })],
        Scenario::Saturate => vec![Run::Load(Mode::FlatOut { batch: opts.batch })],
        Scenario::All => Vec::new(),
    }
}

/// Finds Nchan as `--nchan` asks; says so when it is not measured.
fn find_nchan(opts: &Opts) -> Result<Option<Install>> {
    match opts.nchan {
        NchanChoice::No => Ok(None),
        NchanChoice::Yes => nchan::detect(opts).map(Some).context("--nchan yes"),
        NchanChoice::Auto => match nchan::detect(opts) {
            Ok(install) => Ok(Some(install)),
            Err(e) => {
                println!("Nchan is NOT measured in this run: {e:#}");
                Ok(None)
            }
        },
    }
}

/// Runs every scenario on every target; prints each result as it comes and
/// the comparison at the end.
pub async fn run_all(opts: &Opts) -> Result<()> {
    let fds = rlimit::increase_nofile_limit(u64::MAX).context("raise RLIMIT_NOFILE")?;
    let nchan = find_nchan(opts)?;
    let mut targets = opts.beacon_targets();
    if nchan.is_some() {
        targets.push(TargetKind::Nchan);
    }
    if targets.is_empty() {
        bail!("nothing to measure: --backend none and no Nchan");
    }
    let mut servers = Vec::new();
    if targets.iter().any(|t| t.is_beacon()) {
        servers.push(opts.server_path()?.display().to_string());
    }
    if let Some(install) = &nchan {
        servers.push(format!(
            "{} ({}) with {}",
            install.nginx.display(),
            install.version,
            install.module.display()
        ));
    }
    println!(
        "beacon-bench: {}; {} cores, RLIMIT_NOFILE {fds}",
        servers.join(", "),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let mut reports: Vec<Report> = Vec::new();
    let mut failures = 0;
    for scenario in opts.scenarios() {
        for run in runs(opts, scenario) {
            for &kind in &targets {
                let result = match run {
                    Run::Idle(n) => idle::run(opts, kind, nchan.as_ref(), n).await,
                    Run::Load(mode) => load::run(opts, kind, nchan.as_ref(), mode).await,
                };
                match result {
                    Ok(report) => {
                        report.print();
                        reports.push(report);
                    }
                    Err(e) => {
                        failures += 1;
                        println!();
                        println!("== {} · {} FAILED ==", run.name(), kind.name());
                        println!("  {e:#}");
                    }
                }
            }
        }
    }
    if reports.len() > 1 {
        print!("{}", report::summary(&reports));
    }
    if failures > 0 {
        bail!("{failures} run(s) failed");
    }
    Ok(())
}
