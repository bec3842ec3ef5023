//! `pitboss bench segments` compares like with like: its hand-written SQL counts the same
//! players as the segments it times, before and after the event path changed some of them.

use std::path::PathBuf;
use std::process::{Command, Output};

use pitboss_store::{Db, sqlx};

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pitboss-bench-segments-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bench(dir: &std::path::Path, url: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pitboss"));
    cmd.args(["bench", "segments"]).args(args).current_dir(dir);
    // The settings refuse PITBOSS_* names they do not know (the test servers' among them).
    for (key, _) in std::env::vars() {
        if key.starts_with("PITBOSS_") {
            cmd.env_remove(key);
        }
    }
    if let Some(url) = url {
        cmd.env("PITBOSS_DATABASE_URL", url);
    }
    cmd.output().expect("the binary runs")
}

#[test]
fn refuses_the_embedded_store_with_a_clear_message() {
    let dir = temp_dir();
    let out = bench(&dir, None, &["--players", "1000"]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(message.contains("PostgreSQL only") && message.contains("PITBOSS_DATABASE_URL"), "{message}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PITBOSS_TEST_DATABASE_URL and run with --ignored"]
async fn hand_written_sql_counts_the_segment_members() {
    let server = std::env::var(pitboss_store::testing::TEST_DATABASE_URL_VAR).expect("PITBOSS_TEST_DATABASE_URL");
    // Named like the store's test databases, so that a leftover is dropped after a day.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let name = format!("pitboss_test_{now}_{}", uuid::Uuid::now_v7().simple());
    let admin = Db::open_postgres(&server, 1).await.unwrap();
    let Db::Postgres(pool) = &admin else { unreachable!() };
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(pool).await.unwrap();
    let url = pitboss_store::testing::replace_database(&server, &name);

    let dir = temp_dir();
    let json = dir.join("figures.json");
    let run = |reuse: bool| {
        let mut args = vec!["--players", "3000", "--events", "300", "--json", json.to_str().unwrap()];
        if reuse {
            args.push("--reuse");
        }
        let out = bench(&dir, Some(&url), &args);
        assert!(out.status.success(), "{}", text(&out));
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        (text(&out), doc)
    };
    for reuse in [false, true] {
        let (output, doc) = run(reuse);
        assert_eq!(doc["players"], 3000);
        assert_eq!(doc["load_seconds"].is_null(), reuse, "{output}");
        let segments = doc["segments"].as_array().unwrap();
        assert_eq!(segments.len(), 5);
        for s in segments {
            let (members, hand) = (&s["members"], &s["handwritten_count"]);
            assert_eq!(members, hand, "{}: members against hand-written SQL\n{output}", s["name"]);
            assert_eq!(members, &s["compiled_count"], "{}\n{output}", s["name"]);
            let after = &s["after_events"];
            assert_eq!(after["members"], after["handwritten_count"], "{}: after the events\n{output}", s["name"]);
            assert_eq!(after["members"], after["compiled_count"], "{}\n{output}", s["name"]);
            assert_eq!(after["full_refresh_entered"], 0, "{}: the event path missed entries\n{output}", s["name"]);
            assert_eq!(after["full_refresh_exited"], 0, "{}: the event path missed exits\n{output}", s["name"]);
        }
        // Every segment has members, so that the comparison compares something.
        let empty: Vec<&serde_json::Value> =
            segments.iter().filter(|s| s["members"].as_i64() == Some(0)).map(|s| &s["name"]).collect();
        assert!(empty.is_empty(), "empty segments: {empty:?}\n{output}");
        assert_eq!(doc["events"]["n"], 300);
        assert!(output.contains("goal"), "{output}");
    }

    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(pool).await.unwrap();
    admin.close().await;
}
