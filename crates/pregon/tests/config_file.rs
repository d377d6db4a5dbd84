//! The settings file on the real binary: `pregon --config FILE serve` takes its settings,
//! the environment and flags override it, and `pregon config check` reports every problem
//! with the file's own names, before anything is started or written.

mod support;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use support::pregon_command;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Starts `pregon` with `args` and `env`, waits for its "listening" line, and answers the
/// status of `GET /api/v1/me` with `key` there, then kills it.
async fn serve_and_ask(args: &[&str], env: &[(&str, &str)], key: &str) -> (String, u16) {
    let mut cmd = pregon_command();
    cmd.args(args)
        .envs(env.iter().copied())
        .env("PREGON_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("pregon starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.expect("stdout") {
            if let Some(addr) = line.strip_prefix("pregon listening on ") {
                return addr.trim().to_string();
            }
        }
        panic!("pregon exited before listening")
    })
    .await
    .expect("pregon listens within 20 s");
    let status = reqwest::Client::new()
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(key)
        .send()
        .await
        .expect("pregon answers")
        .status()
        .as_u16();
    child.kill().await.ok();
    (base, status)
}

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    pregon_command()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("pregon runs")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn serve_takes_the_file_and_the_environment_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("file.db");
    let from_env = dir.path().join("env.db");
    let config = write(
        dir.path(),
        "pregon.toml",
        &format!(
            "database_url = \"sqlite://{}\"\nlisten = \"127.0.0.1:0\"\nbootstrap_api_key = \"pgn_from_file\"\n\
             stop_words = [\"STOP\", \"BASTA\"]\nno_dispatcher = true\n",
            from_file.display()
        ),
    );

    // The file alone: its database, its key.
    let (_, status) = serve_and_ask(&["--config", &config, "serve"], &[], "pgn_from_file").await;
    assert_eq!(status, 200, "the bootstrap key from the file opens the API");
    assert!(from_file.exists(), "the database the file names was created");

    // PREGON_CONFIG names the file too; the environment overrides the database it names.
    let env_url = format!("sqlite://{}", from_env.display());
    let (_, status) = serve_and_ask(
        &["serve"],
        &[
            ("PREGON_CONFIG", &config),
            ("PREGON_DATABASE_URL", &env_url),
            ("PREGON_BOOTSTRAP_API_KEY", "pgn_from_env"),
        ],
        "pgn_from_env",
    )
    .await;
    assert_eq!(status, 200, "the environment's key, on the environment's database");
    assert!(from_env.exists(), "the environment's database was created");

    // A flag beats both.
    let (base, _) = serve_and_ask(
        &[
            "--config",
            &config,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &env_url,
        ],
        &[("PREGON_LISTEN", "127.0.0.1:1")],
        "pgn_from_env",
    )
    .await;
    assert!(
        !base.ends_with(":1"),
        "the flag's address, not the environment's: {base}"
    );
}

#[tokio::test]
async fn config_check_names_every_problem_and_nothing_starts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.db");
    let config = write(
        dir.path(),
        "bad.toml",
        &format!(
            "database_url = \"sqlite://{}\"\nlease_ttl_secs = 0\nretention_day = 3\nno_dispatcher = \"sometimes\"\n\
             master_key = \"s3cret-not-hex\"\n",
            db.display()
        ),
    );

    let out = run(&["config", "check", "--config", &config], &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("lease_ttl_secs = 0: 0 is not in 1..=3600"), "{stderr}");
    assert!(
        stderr.contains("retention_day: no such setting; did you mean retention_days?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no_dispatcher = \"sometimes\": must be true or false"),
        "{stderr}"
    );

    // serve refuses the same file before it opens anything.
    let out = run(&["--config", &config, "serve"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("3 problems"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!db.exists(), "nothing was created");

    // Fixed, the key that only a whole check can judge is reported, without its value.
    let config = write(dir.path(), "key.toml", "master_key = \"s3cret-not-hex\"\n");
    let out = run(&["config", "check", "--config", &config], &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("master_key: must be 64 hexadecimal characters"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "a secret is never echoed: {stderr}");

    // A value from the environment is checked as well as the file's.
    let good = write(
        dir.path(),
        "good.toml",
        "listen = \"127.0.0.1:8080\"\nlease_ttl_secs = 20\n",
    );
    let out = run(
        &["config", "check", "--config", &good],
        &[("PREGON_LEASE_TTL_SECS", "soon")],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("soon"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &["config", "check", "--config", &good],
        &[("PREGON_LEASE_TTL_SECS", "15")],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("1 setting(s) from the file, overridden by the environment: lease_ttl_secs"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_committed_example_is_what_the_binary_prints() {
    let out = run(&["config", "example"], &[]).await;
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../pregon.example.toml")).unwrap();
    assert_eq!(
        printed, committed,
        "pregon.example.toml is stale: run `pregon config example > pregon.example.toml`"
    );
    // And it is a file `config check` accepts as it is.
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "example.toml", &printed);
    let out = run(&["config", "check", "--config", &path], &[]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
