//! The TOML config file (`beacon serve --config beacon.toml`, or
//! `BEACON_CONFIG`): any setting of [`Settings`], each key the flag's
//! name in snake case (`max_batch` for `--max-batch`).
//!
//! Precedence: a flag or its `BEACON_*` variable wins over the file, and
//! the file wins over the defaults. Values go through the flags' own
//! parsers, so `"15s"` means the same in the file as on the command line,
//! and every new setting is a file key too. Unknown keys and invalid
//! values are errors naming the key. `beacon.example.toml` at the
//! repository root lists every key with its default.

use std::path::Path;

use clap::{Args, FromArgMatches};

use super::Settings;

/// The file key of `--log-json`, which is a flag of `beacon serve` rather
/// than a [`Settings`] field.
pub const LOG_JSON: &str = "log_json";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: String, message: String },
}

/// A parsed config file: each setting with its values as flag arguments.
#[derive(Debug, Default)]
pub struct ConfigFile {
    /// `(field, values)`, in the file's order.
    settings: Vec<(String, Vec<String>)>,
    /// `log_json`, if the file sets it.
    pub log_json: Option<bool>,
}

/// The settings' flags, without defaults or environment variables, so a
/// parse holds exactly what the file gives.
fn file_command() -> clap::Command {
    Settings::augment_args(clap::Command::new("beacon.toml").no_binary_name(true))
        .mut_args(|arg| arg.default_value(None::<&str>).env(None::<&str>))
}

impl ConfigFile {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses and checks the text of a config file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let command = file_command();
        let mut file = ConfigFile::default();
        for (key, value) in table {
            if key == LOG_JSON {
                let json = value
                    .as_bool()
                    .ok_or_else(|| format!("`{LOG_JSON}` must be true or false"))?;
                file.log_json = Some(json);
                continue;
            }
            if command.get_arguments().all(|a| a.get_id() != key.as_str()) {
                let mut known: Vec<String> = command
                    .get_arguments()
                    .map(|a| a.get_id().to_string())
                    .collect();
                known.push(LOG_JSON.into());
                return Err(format!(
                    "unknown setting `{key}`; the settings are {}",
                    known.join(", ")
                ));
            }
            let values = match value {
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|item| scalar(&key, item))
                    .collect::<Result<_, _>>()?,
                other => vec![scalar(&key, other)?],
            };
            file.settings.push((key, values));
        }
        file.matches(|_| false)?;
        Ok(file)
    }

    /// The file's settings as flag matches, leaving out those `skip` names.
    fn matches(&self, skip: impl Fn(&str) -> bool) -> Result<clap::ArgMatches, String> {
        let command = file_command();
        let mut argv = Vec::new();
        for (key, values) in self.settings.iter().filter(|(key, _)| !skip(key)) {
            let long = command
                .get_arguments()
                .find(|a| a.get_id() == key.as_str())
                .and_then(|a| a.get_long())
                .ok_or_else(|| format!("`{key}` cannot be set in the file"))?;
            for value in values {
                argv.push(format!("--{long}={value}"));
            }
        }
        command.try_get_matches_from(argv).map_err(|e| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            first.trim_start_matches("error: ").to_owned()
        })
    }

    /// Sets each setting the file gives, unless `explicit` says its flag
    /// (or environment variable) was given; `explicit` takes the field name.
    pub fn apply(
        &self,
        settings: &mut Settings,
        explicit: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        let mut matches = self.matches(explicit)?;
        settings
            .update_from_arg_matches_mut(&mut matches)
            .map_err(|e| e.to_string())
    }
}

/// A TOML scalar as flag text.
fn scalar(key: &str, value: toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(format!(
            "`{key}` must be a string, a number, a boolean or an array of them"
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;

    const EXAMPLE: &str = include_str!("../../../beacon.example.toml");

    /// The field names of `Settings`, from its flags.
    fn settings_fields() -> BTreeSet<String> {
        file_command()
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect()
    }

    /// The example with its commented-out settings (`# key = value`) enabled.
    fn uncommented() -> String {
        EXAMPLE
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|rest| rest.split_once(" = ").is_some_and(|(k, _)| is_key(k)))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn is_key(text: &str) -> bool {
        !text.is_empty() && text.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    }

    #[test]
    fn the_example_parses_and_lists_every_setting_with_its_default() {
        let example = ConfigFile::parse(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        let mut from_example = Settings::defaults();
        example.apply(&mut from_example, |_| false).unwrap();
        assert_eq!(
            format!("{from_example:?}"),
            format!("{:?}", Settings::defaults()),
            "the example's values are the defaults"
        );
        assert_eq!(example.log_json, Some(false));

        let every = ConfigFile::parse(&uncommented()).unwrap_or_else(|e| panic!("{e}"));
        let listed: BTreeSet<String> = every.settings.iter().map(|(k, _)| k.clone()).collect();
        let missing: Vec<_> = settings_fields().difference(&listed).cloned().collect();
        assert!(
            missing.is_empty(),
            "beacon.example.toml lacks {missing:?}: add each with its default and a comment"
        );
    }

    #[test]
    fn a_flag_wins_over_the_file_and_the_file_over_the_defaults() {
        let file = ConfigFile::parse(
            "listen = \"0.0.0.0:9000\"\nheartbeat = \"20s\"\nqueue = 7\n\
             redis_url = \"redis://r/\"\ncors_origins = [\"https://a.example\", \"https://b.example\"]\n\
             builtin_catalog = false\n",
        )
        .unwrap();
        let mut settings = Settings::defaults();
        settings.queue = 99;
        file.apply(&mut settings, |field| field == "queue").unwrap();
        assert_eq!(settings.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(settings.heartbeat, Duration::from_secs(20));
        assert_eq!(settings.queue, 99, "the flag wins");
        assert_eq!(settings.redis_url.as_deref(), Some("redis://r/"));
        assert_eq!(
            settings.cors_origins,
            ["https://a.example", "https://b.example"]
        );
        assert!(!settings.builtin_catalog);
        assert_eq!(
            settings.retry,
            Settings::defaults().retry,
            "the default stays"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_clear_errors() {
        let error = ConfigFile::parse("heartbeet = \"5s\"\n").unwrap_err();
        assert!(error.contains("unknown setting `heartbeet`"), "{error}");
        assert!(
            error.contains("heartbeat"),
            "the known ones are listed: {error}"
        );
        let error = ConfigFile::parse("heartbeat = \"soon\"\n").unwrap_err();
        assert!(error.contains("--heartbeat"), "{error}");
        let error = ConfigFile::parse("queue = \"many\"\n").unwrap_err();
        assert!(error.contains("--queue"), "{error}");
        let error = ConfigFile::parse("log_json = \"yes\"\n").unwrap_err();
        assert!(error.contains("log_json"), "{error}");
        let error = ConfigFile::parse("[server]\nlisten = \"x\"\n").unwrap_err();
        assert!(error.contains("unknown setting `server`"), "{error}");
        let missing = ConfigFile::load(Path::new("/nonexistent/beacon.toml")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/beacon.toml"));
    }
}
