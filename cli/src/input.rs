//! JSON input of the commands: a file, or standard input for `-`, bounded.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

/// Largest input read (an event file, a plugin test's input).
pub const MAX_INPUT_BYTES: u64 = 16 << 20;

/// A JSON input: a file, or standard input for `-`.
pub fn read(input: &str) -> anyhow::Result<Value> {
    let (text, origin) = if input == "-" {
        let mut text = String::new();
        std::io::stdin()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_string(&mut text)
            .context("reading standard input")?;
        (text, "standard input".to_owned())
    } else {
        let path = Path::new(input);
        let size = std::fs::metadata(path)
            .with_context(|| input.to_owned())?
            .len();
        if size > MAX_INPUT_BYTES {
            bail!("{input}: {size} bytes; an event file is at most {MAX_INPUT_BYTES} bytes");
        }
        let text = std::fs::read_to_string(path).with_context(|| input.to_owned())?;
        (text, input.to_owned())
    };
    if text.len() as u64 > MAX_INPUT_BYTES {
        bail!("{origin}: more than {MAX_INPUT_BYTES} bytes");
    }
    serde_json::from_str(&text).with_context(|| format!("{origin}: not valid JSON"))
}
