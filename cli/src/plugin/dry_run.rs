//! `beacon plugin test`: a dry run of a plugin version on an event; the
//! outcome, output, log lines and time are shown, nothing is stored.

use std::io::Write;
use std::process::ExitCode;

use beacon_protocol::api::plugins::{TestOutcome, TestQuery, TestResult};
use serde_json::Value;

use super::logs::log_line;
use super::show::micros;
use crate::connect::{Node, refused};

/// `beacon plugin test`.
pub async fn test(
    node: &Node,
    name: &str,
    body: &Value,
    query: &TestQuery,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let result = node
        .answer(node.client().test_plugin(name, body, query).await)?
        .map_err(|p| refused(&format!("{name}: the test was refused"), &p))?;
    let failed = result.outcome == TestOutcome::Failed;
    if json_out {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::to_value(&result)?)?
        )?;
    } else {
        print_test(name, body, &result, out)?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_test(
    name: &str,
    body: &Value,
    result: &TestResult,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let outcome = match &result.failure {
        Some(code) => format!("failed ({code})"),
        None => result.outcome.to_string(),
    };
    writeln!(
        out,
        "{name} version {}, {} hook: {outcome} in {}",
        result.version,
        result.hook,
        micros(result.duration_us)
    )?;
    if let Some(reason) = &result.reason {
        writeln!(out, "reason: {reason}")?;
    }
    if let Some(output) = &result.output {
        writeln!(out, "output:")?;
        for line in serde_json::to_string_pretty(output)?.lines() {
            writeln!(out, "  {line}")?;
        }
    }
    if let Some(answers) = &result.deliver {
        writeln!(out, "deliver:")?;
        let groups = body["subscribers"].as_array();
        let users: Vec<String> = (0..answers.len())
            .map(|i| {
                groups
                    .and_then(|g| g.get(i)?["user_id"].as_str())
                    .map_or_else(|| format!("#{}", i + 1), str::to_owned)
            })
            .collect();
        let width = users.iter().map(String::len).max().unwrap_or(0);
        for (user, deliver) in users.iter().zip(answers) {
            let answer = if *deliver { "deliver" } else { "hold back" };
            writeln!(out, "  {user:width$}  {answer}")?;
        }
    }
    if result.logs.is_empty() {
        writeln!(out, "logs: none")?;
    } else {
        writeln!(out, "logs:")?;
        for line in &result.logs {
            writeln!(out, "  {}", log_line(line))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugin::testing::{component, node, order_created};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_prints_the_outcome_output_logs_and_time() {
        let node = node().await;
        node.ok(&["push", "display-amount", &component("display-amount")])
            .await;
        let event = node.file("order.json", &order_created());

        let modified = node.ok(&["test", "display-amount", &event]).await;
        assert!(
            modified.starts_with("display-amount version 1, publish hook: modify in "),
            "{modified}"
        );
        for expected in [
            "\noutput:\n  {\n",
            "    \"type\": \"order.created\",\n",
            "      \"displayAmount\": \"KSh 850.00\",\n",
            "\nlogs: none\n",
        ] {
            assert!(modified.contains(expected), "{expected:?} in:\n{modified}");
        }

        let plain = json!({"type": "note.added", "data": {"text": "no amount here"}});
        let kept = node
            .ok(&["test", "display-amount", &node.file("plain.json", &plain)])
            .await;
        assert!(kept.contains("publish hook: keep in "), "{kept}");
        assert!(!kept.contains("output:"), "{kept}");

        let json: Value = serde_json::from_str(
            &node
                .ok(&["test", "display-amount", &event, "--version", "1", "--json"])
                .await,
        )
        .expect("test --json prints JSON");
        assert_eq!(json["outcome"], "modify");
        assert_eq!(json["output"]["data"]["displayAmount"], "KSh 850.00");
        assert!(json["duration_us"].is_u64(), "{json}");

        // The node's refusals are shown with their code.
        let no_hook = node
            .error(&["test", "display-amount", &event, "--hook", "deliver"])
            .await;
        assert_eq!(
            no_hook,
            "display-amount: the test was refused: version 1 does not export the hook \
             \"deliver\" (400 invalid_hook)"
        );
        let bad_event = node
            .error(&[
                "test",
                "display-amount",
                &node.file("bad.json", &json!({"type": "", "data": {}})),
            ])
            .await;
        assert!(
            bad_event.contains("(400 invalid_event)\n  - /type: "),
            "{bad_event}"
        );

        // A plugin that fails: exit status 1, with the failure shown.
        node.ok(&["push", "misbehave", &component("misbehave")])
            .await;
        let trap = json!({"type": "test.misbehave", "data": {"do": "trap"}});
        let (result, out) = node
            .run(&["test", "misbehave", &node.file("trap.json", &trap)])
            .await;
        assert_eq!(
            result.expect("the call was made"),
            ExitCode::FAILURE,
            "{out}"
        );
        assert!(
            out.contains("publish hook: failed (trap) in ") && out.contains("\nreason: "),
            "{out}"
        );
    }
}
