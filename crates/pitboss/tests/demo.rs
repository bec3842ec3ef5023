//! `pitboss demo` end to end: the real binary seeds a small casino, writes its credentials,
//! serves, streams live traffic into itself, and stops cleanly on SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Kills the demo if the test fails half-way, and shows its output.
struct Demo {
    child: Option<Child>,
    dir: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("--- demo stdout ---\n{}", read(&self.dir.join("stdout.log")));
            eprintln!("--- demo stderr ---\n{}", read(&self.dir.join("stderr.log")));
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Demo {
    fn start(dir: &Path) -> Demo {
        let data = dir.join("data");
        let child = Command::new(env!("CARGO_BIN_EXE_pitboss"))
            .args(["demo", "--data-dir"])
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--players", "300", "--rate", "50"])
            .current_dir(dir)
            .env_remove("PITBOSS_DATABASE_URL")
            .env_remove("PITBOSS_CONFIG")
            .env_remove("PITBOSS_DATA_DIR")
            .env_remove("PITBOSS_LISTEN")
            .env("PITBOSS_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .expect("the pitboss binary starts");
        Demo { child: Some(child), dir: dir.to_path_buf() }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("the demo exited early with {status}");
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < deadline, "the demo did not stop within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

async fn accepted_events(http: &reqwest::Client, url: &str) -> u64 {
    let text = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with("pitboss_events_ingested_total") && l.contains("outcome=\"accepted\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

#[tokio::test]
async fn demo_seeds_serves_streams_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let mut demo = Demo::start(tmp.path());
    let file = tmp.path().join("data").join("initial-credentials.json");

    // Seeding 300 players and creating the admin take a few seconds, even in a debug build.
    let deadline = Instant::now() + Duration::from_secs(90);
    while !file.exists() {
        demo.assert_running();
        assert!(Instant::now() < deadline, "no {} after 90s", file.display());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let credentials: Value = serde_json::from_str(&read(&file)).expect("the credentials are JSON");
    for key in ["admin_user", "admin_password", "api_key", "url"] {
        assert!(credentials[key].as_str().is_some_and(|s| !s.is_empty()), "{key} is missing: {credentials}");
    }
    assert_eq!(credentials["admin_user"], "admin");
    let roles: Vec<&str> = credentials["operators"]
        .as_array()
        .expect("the demo's operators")
        .iter()
        .map(|o| o["roles"][0].as_str().unwrap())
        .collect();
    for role in ["support_agent", "vip_manager", "payments_officer", "compliance_officer", "marketer", "analyst"] {
        assert!(roles.contains(&role), "no demo operator is a {role}: {roles:?}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the credentials file must be readable by its owner only");
    }
    let url = credentials["url"].as_str().unwrap().to_string();
    let key = credentials["api_key"].as_str().unwrap().to_string();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    let ready = http.get(format!("{url}/readyz")).send().await.expect("the server answers");
    assert_eq!(ready.status(), 200);

    let players = http.get(format!("{url}/api/v1/players?limit=5")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(players.status(), 200);
    let page: Value = players.json().await.unwrap();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(5), "{page}");

    // The ready-made segments, computed over the seeded casino.
    let segments: Value =
        http.get(format!("{url}/api/v1/segments")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = segments.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    for name in ["New depositors", "VIP candidates", "At-risk players", "Dormant", "Bonus hunters", "High rollers"] {
        assert!(names.contains(&name), "{name} is missing: {names:?}");
    }
    let populated = segments.as_array().unwrap().iter().filter(|s| s["member_count"].as_i64() > Some(0)).count();
    assert!(populated >= 3, "most ready-made segments have members in a seeded casino: {segments}");

    // Live traffic keeps arriving.
    let first = accepted_events(&http, &url).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        demo.assert_running();
        let now = accepted_events(&http, &url).await;
        if now > first {
            break;
        }
        assert!(Instant::now() < deadline, "no live events were accepted in 20s (stuck at {now})");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rejected = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    let rejected = rejected
        .lines()
        .find(|l| l.starts_with("pitboss_events_ingested_total") && l.contains("outcome=\"rejected\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert_eq!(rejected, 0.0, "live events were rejected");

    let status = demo.terminate(Duration::from_secs(30));
    assert!(status.success(), "the demo exited with {status} on SIGTERM");
    let out = read(&tmp.path().join("stdout.log"));
    assert!(out.contains(&url), "the demo prints its URL: {out}");
    assert!(out.contains(credentials["admin_password"].as_str().unwrap()), "the demo prints the credentials");

    // A second run reuses the store and the credentials.
    let mut again = Demo::start(tmp.path());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        again.assert_running();
        let out = read(&tmp.path().join("stdout.log"));
        if out.contains("Press Ctrl-C") {
            break;
        }
        assert!(Instant::now() < deadline, "the second run did not start in 60s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let err = read(&tmp.path().join("stderr.log"));
    assert!(err.contains("not seeding"), "the second run must not seed again: {err}");
    let second: Value = serde_json::from_str(&read(&file)).unwrap();
    assert_eq!(second["api_key"], credentials["api_key"]);
    assert_eq!(second["admin_password"], credentials["admin_password"]);
    let status = again.terminate(Duration::from_secs(30));
    assert!(status.success(), "the second run exited with {status}");
}
