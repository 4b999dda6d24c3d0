//! Where the programs under test are: `redis-server` and `redis-cli`
//! (`$REDIS_SERVER` / `$REDIS_CLI`, `$PATH`, `/usr/bin`) and the `beacon`
//! binary of this workspace (`$BEACON_BIN`, or built on first use).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::LaunchError;

const REDIS_HINT: &str = "`bash tests/run.sh` (see tests/README.md) installs it, or \
                          `apt-get install -y redis-server`";

/// The `redis-server` executable.
pub fn redis_server_bin() -> Result<PathBuf, LaunchError> {
    find_program("redis-server", "REDIS_SERVER", REDIS_HINT)
}

/// The `redis-cli` executable (it comes with `redis-server`).
pub fn redis_cli_bin() -> Result<PathBuf, LaunchError> {
    find_program("redis-cli", "REDIS_CLI", REDIS_HINT)
}

/// `program` in `$<env_var>`, `$PATH` or `/usr/bin`.
fn find_program(
    program: &'static str,
    env_var: &str,
    hint: &'static str,
) -> Result<PathBuf, LaunchError> {
    let candidates = std::env::var_os(env_var)
        .map(PathBuf::from)
        .into_iter()
        .chain(std::env::var_os("PATH").into_iter().flat_map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .collect::<Vec<_>>()
        }))
        .chain([Path::new("/usr/bin").join(program)]);
    candidates
        .into_iter()
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| LaunchError::NotFound {
            program,
            looked_at: format!("${env_var}, $PATH and /usr/bin"),
            hint,
        })
}

/// The `beacon` executable: `$BEACON_BIN` if set; otherwise `beacon` in the
/// profile directory holding the running test executable
/// (`<target>/<profile>/deps/..`), brought up to date first with
/// `cargo build -p beacon` when the tests run under cargo (set
/// `BEACON_E2E_NO_BUILD=1` to skip that). Looked up once per process.
pub fn beacon_bin() -> Result<PathBuf, LaunchError> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| locate_beacon().map_err(|e| e.to_string()))
        .clone()
        .map_err(|detail| LaunchError::Helper {
            command: "locating the beacon binary".into(),
            detail,
        })
}

fn locate_beacon() -> Result<PathBuf, LaunchError> {
    if let Some(path) = std::env::var_os("BEACON_BIN") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(LaunchError::BadPath {
                path,
                why: "set by BEACON_BIN",
            })
        };
    }
    let exe =
        std::env::current_exe().map_err(|e| LaunchError::io("path of the test executable", e))?;
    let Some(profile_dir) = exe.parent().and_then(Path::parent) else {
        return Err(LaunchError::BadPath {
            path: exe,
            why: "the test executable does not live in <target>/<profile>/deps/",
        });
    };
    let bin = profile_dir.join(format!("beacon{}", std::env::consts::EXE_SUFFIX));
    let skip_build = std::env::var_os("BEACON_E2E_NO_BUILD").is_some_and(|v| v != "0");
    if let (Some(cargo), false) = (std::env::var_os("CARGO"), skip_build) {
        let mut build = std::process::Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", "beacon", "--bin", "beacon"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if let Some(target_dir) = profile_dir.parent() {
            build.arg("--target-dir").arg(target_dir);
        }
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let output = build
            .output()
            .map_err(|e| LaunchError::io("run cargo build -p beacon", e))?;
        if !output.status.success() {
            return Err(LaunchError::Helper {
                command: "cargo build -p beacon".into(),
                detail: format!(
                    "{}:\n{}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                ),
            });
        }
    }
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(LaunchError::BadPath {
            path: bin,
            why: "build the server first (`cargo build -p beacon`) or set BEACON_BIN",
        })
    }
}
