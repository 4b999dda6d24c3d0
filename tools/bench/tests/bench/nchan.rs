//! The whole bench against the real Nchan, when nginx and the module are
//! installed (Debian: nginx, libnginx-mod-nchan).

use std::process::Command;

use serde_json::Value;

fn results(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .map(|json| serde_json::from_str(json).expect("RESULT lines are JSON"))
        .collect()
}

#[test]
fn a_small_run_on_nchan_loses_nothing() {
    if !std::path::Path::new("/usr/sbin/nginx").exists() {
        eprintln!("skipped: /usr/sbin/nginx is not installed");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_beacon-bench"))
        .args(["--backend", "none", "--nchan", "yes", "--scenario", "all"])
        .args(["--connections", "40", "--idle-hold", "0s"])
        .args(["--subscribers", "8", "--rate", "40", "--duration", "1"])
        .args(["--publishers", "2"])
        .output()
        .expect("run the bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let results = results(&stdout);
    let scenarios: Vec<&str> = results
        .iter()
        .map(|r| r["scenario"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(scenarios, ["idle", "fanout", "saturate"], "{stdout}");
    for r in &results {
        assert_eq!(r["target"], "nchan");
        assert!(r.get("warnings").is_none(), "{r}");
    }
    assert_eq!(results[0]["opened"], 40);
    assert_eq!(results[0]["server_processes"], 2, "master and worker");
    assert!(results[0]["rss_per_conn_kib"].as_f64().unwrap_or(0.0) > 0.0);
    for r in &results[1..] {
        let published = r["published"].as_u64().expect("published");
        assert!(published > 0, "{r}");
        assert_eq!(r["loss"], 0, "{r}");
        assert_eq!(
            r["deliveries_received"].as_u64(),
            Some(published * 8),
            "{r}"
        );
    }
    assert_eq!(results[1]["published"], 40);
    assert!(stdout.contains("**idle · 40 streams**"), "{stdout}");
}
