//! The settings file: `pregon --config pregon.toml serve`.
//!
//! Every setting of `pregon serve` and `pregon worker` is a flag with a `PREGON_…`
//! environment variable (crate::config). The file names each by its variable without the
//! prefix, in lower case (`PREGON_LEASE_TTL_SECS` is `lease_ttl_secs`), so the file, the
//! environment and `--help` can never disagree on what exists. A flag beats the
//! environment, the environment beats the file, and the file beats the default: the file is
//! read before the flags are, and each of its values is put in the environment unless the
//! environment already has that variable.
//!
//! The list of settings is read from the command definitions themselves ([`Settings::of`]),
//! and every value is checked by the same parser its flag has, so `pregon config check`
//! answers exactly what `pregon serve` would, for every problem at once, naming the file's
//! key rather than the flag.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Largest settings file read; a file of settings is a few kilobytes.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The environment variable naming the file when `--config` is not given.
pub const CONFIG_VARIABLE: &str = "PREGON_CONFIG";

/// Variables read outside clap: logging is set up before the command line is parsed, and
/// the host name is read where a dispatcher registers.
const OTHER_SETTINGS: [(&str, &str, &str); 4] = [
    (
        "PREGON_DB_POOL_SIZE",
        "PostgreSQL connections per process, 2 to 1000",
        "16",
    ),
    (
        "PREGON_LOG",
        "Log filter, in tracing's EnvFilter syntax",
        "info,tower_http=warn,sqlx=warn",
    ),
    (
        "PREGON_LOG_FORMAT",
        "Log format: text or json (one JSON object a line)",
        "text",
    ),
    (
        "PREGON_HOSTNAME",
        "The host name this process reports in /api/v1/system (default: the machine's)",
        "",
    ),
];

/// The commands whose flags the file may set.
const COMMANDS: [&str; 2] = ["serve", "worker"];

/// One setting the file may hold.
#[derive(Debug, Clone)]
pub struct Setting {
    /// Its environment variable, `PREGON_LEASE_TTL_SECS`.
    pub variable: String,
    /// Its flag, `--lease-ttl-secs`, when it has one.
    pub flag: Option<String>,
    /// The first line of its help.
    pub help: String,
    /// Its default, as the flag shows it.
    pub default: Option<String>,
    /// Whether it takes no value (`--no-dispatcher`): `true` or `false` in the file.
    pub switch: bool,
    /// Whether its value is a secret, left out of what is printed.
    pub secret: bool,
    /// The command and argument whose parser checks its value.
    arg: Option<(String, clap::Id)>,
}

/// Every setting, by its key in the file.
#[derive(Debug, Clone)]
pub struct Settings {
    by_key: BTreeMap<String, Setting>,
    command: clap::Command,
}

/// What is wrong with a settings file: one line per problem, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ConfigFileError {
    pub path: PathBuf,
    pub problems: Vec<String>,
}

impl ConfigFileError {
    fn describe(&self) -> String {
        let mut text = format!("{}: ", self.path.display());
        match self.problems.as_slice() {
            [one] => text.push_str(one),
            many => {
                let _ = write!(text, "{} problems:", many.len());
                for p in many {
                    let _ = write!(text, "\n  - {p}");
                }
            }
        }
        text
    }
}

impl Settings {
    /// Reads the settings off the binary's command definition.
    pub fn of(command: &clap::Command) -> Self {
        let mut by_key = BTreeMap::new();
        for name in COMMANDS {
            let Some(sub) = command.find_subcommand(name) else {
                continue;
            };
            for arg in sub.get_arguments() {
                let Some(variable) = arg.get_env().and_then(OsStr::to_str) else {
                    continue;
                };
                let Some(key) = key_of(variable) else { continue };
                by_key.entry(key).or_insert_with(|| Setting {
                    variable: variable.to_string(),
                    flag: arg.get_long().map(|l| format!("--{l}")),
                    help: arg
                        .get_help()
                        .map(|h| h.to_string().lines().next().unwrap_or_default().to_string())
                        .unwrap_or_default(),
                    default: match arg.get_default_values() {
                        [] => None,
                        values => Some(values.iter().map(|v| v.to_string_lossy()).collect::<Vec<_>>().join(",")),
                    },
                    switch: !arg.get_action().takes_values(),
                    secret: arg.is_hide_env_values_set(),
                    arg: Some((name.to_string(), arg.get_id().clone())),
                });
            }
        }
        for (variable, help, default) in OTHER_SETTINGS {
            by_key.insert(
                key_of(variable).expect("a PREGON_ variable"),
                Setting {
                    variable: variable.to_string(),
                    flag: None,
                    help: help.to_string(),
                    default: Some(default.to_string()).filter(|d| !d.is_empty()),
                    switch: false,
                    secret: false,
                    arg: None,
                },
            );
        }
        Settings {
            by_key,
            command: command.clone(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.by_key.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Setting)> {
        self.by_key.iter()
    }

    /// Reads and checks a settings file: its syntax, that every key is a setting, and that
    /// every value is one its flag would take. Every problem is reported, not only the first.
    pub fn load(&self, path: &Path) -> Result<ConfigFile, ConfigFileError> {
        let fail = |problem: String| ConfigFileError {
            path: path.to_path_buf(),
            problems: vec![problem],
        };
        let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        if !meta.is_file() {
            return Err(fail("is not a file".into()));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(fail(format!(
                "is {} bytes; a settings file may have at most {MAX_FILE_BYTES}",
                meta.len()
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|_| fail("is not UTF-8 text".into()))?;
        self.parse(path, &text)
    }

    /// [`Settings::load`] on text already read.
    pub fn parse(&self, path: &Path, text: &str) -> Result<ConfigFile, ConfigFileError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigFileError {
            path: path.to_path_buf(),
            problems: vec![
                format!("is not valid TOML: {}", e.message().trim())
                    + &e.span()
                        .map(|s| format!(" (at line {})", line_of(text, s.start)))
                        .unwrap_or_default(),
            ],
        })?;
        let mut problems = Vec::new();
        let mut values = BTreeMap::new();
        for (key, value) in &table {
            let Some(setting) = self.by_key.get(key) else {
                problems.push(self.unknown_key(key));
                continue;
            };
            let text = match scalar_text(value, setting) {
                Ok(text) => text,
                Err(why) => {
                    problems.push(format!("{key}: {why}"));
                    continue;
                }
            };
            if let Err(why) = self.check_value(setting, &text) {
                problems.push(format!("{key} = {}: {why}", shown(setting, value)));
                continue;
            }
            values.insert(key.clone(), text);
        }
        if problems.is_empty() {
            Ok(ConfigFile {
                path: path.to_path_buf(),
                values,
            })
        } else {
            Err(ConfigFileError {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    fn unknown_key(&self, key: &str) -> String {
        let closest = self
            .by_key
            .keys()
            .map(|k| (strsim::jaro_winkler(key, k), k))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match closest {
            Some((_, k)) => format!("{key}: no such setting; did you mean {k}?"),
            None => format!("{key}: no such setting (`pregon config example` lists them all)"),
        }
    }

    /// Runs the flag's own value parser on a value.
    fn check_value(&self, setting: &Setting, value: &str) -> Result<(), String> {
        let Some((command, id)) = &setting.arg else {
            return check_other_setting(&setting.variable, value);
        };
        let sub = self
            .command
            .find_subcommand(command)
            .expect("a command the settings were read from");
        let arg = sub
            .get_arguments()
            .find(|a| a.get_id() == id)
            .expect("an argument of that command");
        if setting.switch {
            return match value {
                "true" | "false" => Ok(()),
                _ => Err("must be true or false".into()),
            };
        }
        // The argument alone, without its environment variable, so that nothing but this
        // value is read; its long name is all clap needs.
        let long = arg.get_long().expect("every setting with a variable has a flag");
        let alone = clap::Command::new("pregon")
            .no_binary_name(true)
            .arg(arg.clone().env(None).required(false).default_values(Vec::<&str>::new()));
        alone
            .try_get_matches_from([format!("--{long}={value}")])
            .map(drop)
            .map_err(|e| clap_reason(&e))
    }

    /// Every setting, commented out at its default, for a new `pregon.toml`.
    pub fn example(&self) -> String {
        let mut out = String::from(
            "# pregon settings. Each key is an environment variable without its PREGON_ prefix,\n\
             # in lower case; a flag beats the environment, which beats this file.\n\
             # Use it with `pregon --config pregon.toml serve`; check it with\n\
             # `pregon config check --config pregon.toml`.\n",
        );
        for (key, s) in &self.by_key {
            let _ = write!(out, "\n# {}", s.help);
            let _ = write!(
                out,
                "\n# ({}{})",
                s.variable,
                s.flag.as_ref().map(|f| format!(", {f}")).unwrap_or_default()
            );
            let value = match (&s.default, s.switch) {
                (_, true) => "false".to_string(),
                (Some(d), false) if d.parse::<f64>().is_ok() => d.clone(),
                (Some(d), false) => toml::Value::String(d.clone()).to_string(),
                (None, false) => "\"\"".to_string(),
            };
            let _ = writeln!(out, "\n# {key} = {value}");
        }
        out
    }
}

/// A checked settings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// Each key's value, as the flag would take it.
    values: BTreeMap<String, String>,
}

/// Which of a file's settings took effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Keys set from the file.
    pub from_file: Vec<String>,
    /// Keys the file sets that the environment overrides.
    pub overridden: Vec<String>,
}

impl ConfigFile {
    /// Puts the file's values in the process environment, leaving alone every variable the
    /// environment already sets. Call it before any other thread starts, and before the
    /// command line is parsed.
    pub fn apply(&self, settings: &Settings) -> Applied {
        let mut applied = Applied::default();
        for (key, value) in &self.values {
            let variable = &settings.by_key[key].variable;
            if std::env::var_os(variable).is_some() {
                applied.overridden.push(key.clone());
            } else {
                std::env::set_var(variable, value);
                applied.from_file.push(key.clone());
            }
        }
        applied
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// The settings file the command line or the environment names, if any: `--config FILE`
/// or `--config=FILE` anywhere before a lone `--`, else `PREGON_CONFIG`.
pub fn named_file(args: &[std::ffi::OsString]) -> Result<Option<PathBuf>, String> {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == "--config" {
            return match iter.next() {
                Some(path) if !path.is_empty() => Ok(Some(PathBuf::from(path))),
                _ => Err("--config needs a file".into()),
            };
        }
        if let Some(path) = text.strip_prefix("--config=") {
            if path.is_empty() {
                return Err("--config needs a file".into());
            }
            return Ok(Some(PathBuf::from(path)));
        }
    }
    Ok(std::env::var_os(CONFIG_VARIABLE)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from))
}

fn key_of(variable: &str) -> Option<String> {
    variable.strip_prefix("PREGON_").map(str::to_ascii_lowercase)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A value as its flag would read it: strings, numbers and booleans as they are; a list of
/// strings joined by commas (`stop_words = ["STOP", "BAJA"]`).
fn scalar_text(value: &toml::Value, setting: &Setting) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) if f.is_finite() => Ok(f.to_string()),
        toml::Value::Float(_) => Err("must be a finite number".into()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    toml::Value::String(s) if !s.contains(',') => parts.push(s.clone()),
                    toml::Value::String(_) => return Err("a list's items may not contain commas".into()),
                    _ => return Err("a list may hold only strings".into()),
                }
            }
            Ok(parts.join(","))
        }
        toml::Value::Datetime(_) => Err(format!("must be {}, not a date", expected(setting))),
        toml::Value::Table(_) => Err(format!("must be {}, not a table", expected(setting))),
    }
}

fn expected(setting: &Setting) -> &'static str {
    if setting.switch {
        "true or false"
    } else {
        "a value"
    }
}

/// A value as the file wrote it, or `(hidden)` for a secret.
fn shown(setting: &Setting, value: &toml::Value) -> String {
    if setting.secret {
        "(hidden)".into()
    } else {
        value.to_string()
    }
}

fn check_other_setting(variable: &str, value: &str) -> Result<(), String> {
    match variable {
        "PREGON_LOG_FORMAT" => match value {
            "text" | "json" => Ok(()),
            _ => Err("must be text or json".into()),
        },
        "PREGON_LOG" => tracing_subscriber::EnvFilter::try_new(value)
            .map(drop)
            .map_err(|e| e.to_string()),
        "PREGON_DB_POOL_SIZE" => match value.parse::<u32>() {
            Ok(2..=1000) => Ok(()),
            _ => Err("must be a whole number from 2 to 1000".into()),
        },
        _ => Ok(()),
    }
}

/// clap's reason, without its `error:` prefix, usage and the flag it names.
fn clap_reason(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    if let Some(ContextValue::String(reason)) = e.get(ContextKind::Custom) {
        return reason.clone();
    }
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        return format!("must be one of {}", valid.join(", "));
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "invalid value 'x' for '--flag <FLAG>': reason" → "reason"
    match first.split_once("': ") {
        Some((_, reason)) => reason.to_string(),
        None => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction, Command};

    fn command() -> Command {
        let serve = Command::new("serve")
            .arg(
                Arg::new("listen")
                    .long("listen")
                    .env("PREGON_LISTEN")
                    .default_value("127.0.0.1:8080")
                    .help("Address to listen on."),
            )
            .arg(
                Arg::new("lease")
                    .long("lease-ttl-secs")
                    .env("PREGON_LEASE_TTL_SECS")
                    .default_value("10")
                    .value_parser(clap::value_parser!(u64).range(1..=3600)),
            )
            .arg(
                Arg::new("no_dispatcher")
                    .long("no-dispatcher")
                    .env("PREGON_NO_DISPATCHER")
                    .action(ArgAction::SetTrue),
            )
            .arg(
                Arg::new("key")
                    .long("master-key")
                    .env("PREGON_MASTER_KEY")
                    .hide_env_values(true),
            )
            .arg(
                Arg::new("stop")
                    .long("stop-words")
                    .env("PREGON_STOP_WORDS")
                    .default_value("STOP,BAJA"),
            );
        let worker = Command::new("worker").arg(
            Arg::new("lease")
                .long("lease-ttl-secs")
                .env("PREGON_LEASE_TTL_SECS")
                .value_parser(clap::value_parser!(u64).range(1..=3600)),
        );
        Command::new("pregon").subcommand(serve).subcommand(worker)
    }

    fn parse(text: &str) -> Result<ConfigFile, ConfigFileError> {
        Settings::of(&command()).parse(Path::new("pregon.toml"), text)
    }

    #[test]
    fn reads_the_keys_of_every_command_once() {
        let settings = Settings::of(&command());
        let keys: Vec<_> = settings.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "db_pool_size",
                "hostname",
                "lease_ttl_secs",
                "listen",
                "log",
                "log_format",
                "master_key",
                "no_dispatcher",
                "stop_words"
            ]
        );
        let lease = settings.get("lease_ttl_secs").unwrap();
        assert_eq!(
            lease.default.as_deref(),
            Some("10"),
            "the first command's definition wins"
        );
        assert!(settings.get("no_dispatcher").unwrap().switch);
        assert!(settings.get("master_key").unwrap().secret);
    }

    #[test]
    fn takes_values_of_each_kind() {
        let file = parse(
            "listen = \"0.0.0.0:9000\"\nlease_ttl_secs = 30\nno_dispatcher = true\nstop_words = [\"STOP\", \"BASTA\"]\n",
        )
        .unwrap();
        assert_eq!(file.values["listen"], "0.0.0.0:9000");
        assert_eq!(file.values["lease_ttl_secs"], "30");
        assert_eq!(file.values["no_dispatcher"], "true");
        assert_eq!(file.values["stop_words"], "STOP,BASTA");
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn reports_every_problem_naming_the_key() {
        let err = parse(
            "lease_ttl_sec = 5\nlease_ttl_secs = 0\nno_dispatcher = \"yes\"\nlisten = { host = \"x\" }\nbogus = 1\n\
             master_key = inf\nlog_format = \"xml\"\n",
        )
        .unwrap_err();
        assert_eq!(
            err.problems,
            [
                "bogus: no such setting (`pregon config example` lists them all)",
                "lease_ttl_sec: no such setting; did you mean lease_ttl_secs?",
                "lease_ttl_secs = 0: 0 is not in 1..=3600",
                "listen: must be a value, not a table",
                "log_format = \"xml\": must be text or json",
                "master_key: must be a finite number",
                "no_dispatcher = \"yes\": must be true or false",
            ]
        );
        assert!(
            err.to_string().starts_with("pregon.toml: 7 problems:\n  - bogus"),
            "{err}"
        );
    }

    #[test]
    fn a_secret_is_never_echoed() {
        let settings = Settings::of(&command());
        let setting = settings.get("master_key").unwrap();
        assert_eq!(shown(setting, &toml::Value::String("00ff".into())), "(hidden)");
        let err = parse("master_key = [1]").unwrap_err();
        assert!(!err.to_string().contains('1'), "{err}");
    }

    #[test]
    fn refuses_what_is_not_toml_with_its_line() {
        let err = parse("listen = \"a\"\nlease_ttl_secs = = 3\n").unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert!(err.problems[0].starts_with("is not valid TOML"), "{err}");
        assert!(err.problems[0].ends_with("(at line 2)"), "{err}");
        let err = parse("stop_words = [\"A,B\"]").unwrap_err();
        assert_eq!(err.problems, ["stop_words: a list's items may not contain commas"]);
        let err = parse("stop_words = [1]").unwrap_err();
        assert_eq!(err.problems, ["stop_words: a list may hold only strings"]);
    }

    #[test]
    fn too_big_or_missing_files_are_refused() {
        let settings = Settings::of(&command());
        let dir = tempfile::tempdir().unwrap();
        let missing = settings.load(&dir.path().join("none.toml")).unwrap_err();
        assert!(missing.problems[0].starts_with("cannot read it"), "{missing}");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        let err = settings.load(&big).unwrap_err();
        assert!(err.problems[0].contains("at most"), "{err}");
        let binary = dir.path().join("bin.toml");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        assert_eq!(settings.load(&binary).unwrap_err().problems, ["is not UTF-8 text"]);
    }

    #[test]
    fn finds_the_file_on_the_command_line_or_in_the_environment() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            named_file(&args(&["pregon", "--config", "a.toml", "serve"])).unwrap(),
            Some("a.toml".into())
        );
        assert_eq!(
            named_file(&args(&["pregon", "serve", "--config=b.toml"])).unwrap(),
            Some("b.toml".into())
        );
        assert!(named_file(&args(&["pregon", "serve", "--config"])).is_err());
        assert!(named_file(&args(&["pregon", "--config="])).is_err());
    }

    #[test]
    fn the_example_lists_every_setting_and_reads_back() {
        let settings = Settings::of(&command());
        let example = settings.example();
        for (key, _) in settings.iter() {
            assert!(example.contains(&format!("\n# {key} = ")), "{key} missing:\n{example}");
        }
        // Uncommented, the example is a valid file, except where a value is required.
        let uncommented: String = example
            .lines()
            .filter(|l| l.starts_with("# ") && l.contains(" = ") && !l.contains("= \"\""))
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        let file = settings.parse(Path::new("example.toml"), &uncommented).unwrap();
        assert_eq!(file.values["stop_words"], "STOP,BAJA");
        assert_eq!(file.values["lease_ttl_secs"], "10");
    }
}
