//! The real binary's offline commands: `policy check` and the audit log's verify and export.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pitboss(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pitboss"))
        .args(args)
        .current_dir(dir)
        .env_remove("PITBOSS_DATABASE_URL")
        .env_remove("PITBOSS_CONFIG")
        .env_remove("PITBOSS_POLICY_DIR")
        .env("USER", "auditor")
        .output()
        .expect("the binary runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pitboss-cli-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn policies() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

#[test]
fn policy_check_accepts_the_shipped_policies_and_names_the_line_of_a_bad_one() {
    let dir = temp_dir();
    let ok = pitboss(&dir, &["policy", "check"]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("valid against the schema"), "{}", text(&ok));
    let ok = pitboss(&dir, &["policy", "check", "--dir", policies().to_str().unwrap()]);
    assert!(ok.status.success(), "{}", text(&ok));

    let bad = dir.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    for entry in std::fs::read_dir(policies()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, bad.join(path.file_name().unwrap())).unwrap();
    }
    let roles = std::fs::read_to_string(bad.join("roles.cedar")).unwrap();
    std::fs::write(bad.join("roles.cedar"), roles.replace("principal.brands.contains", "principal.shops.contains"))
        .unwrap();
    let refused = pitboss(&dir, &["policy", "check", "--dir", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    let message = text(&refused);
    assert!(message.contains("roles.cedar:") && message.contains("shops"), "{message}");
    assert!(message.contains("support-agents-see-only-players-of-their-brands"), "{message}");

    // The server does not start on them either.
    let data = dir.join("data");
    let serve = Command::new(env!("CARGO_BIN_EXE_pitboss"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()])
        .current_dir(&dir)
        .env_remove("PITBOSS_DATABASE_URL")
        .env_remove("PITBOSS_CONFIG")
        .env("PITBOSS_POLICY_DIR", &bad)
        .output()
        .unwrap();
    assert!(!serve.status.success());
    assert!(text(&serve).contains("access policies") && text(&serve).contains("roles.cedar:"), "{}", text(&serve));
}

#[test]
fn an_audit_export_is_verifiable_and_is_itself_audited() {
    let dir = temp_dir();
    let data = dir.join("data");
    let data = data.to_str().unwrap();
    assert!(pitboss(&dir, &["migrate", "--data-dir", data]).status.success());
    // An API key creation writes the first audit record.
    let key = pitboss(&dir, &["api-key", "create", "--data-dir", data, "--name", "platform"]);
    assert!(key.status.success(), "{}", text(&key));
    // The key is made on first use (serve makes it too) and signs checkpoints.
    let public = pitboss(&dir, &["audit", "public-key", "--data-dir", data]);
    assert!(public.status.success(), "{}", text(&public));
    let public = String::from_utf8_lossy(&public.stdout).trim().to_string();
    assert!(pitboss(&dir, &["audit", "checkpoint", "--data-dir", data]).status.success());
    let verified = pitboss(&dir, &["audit", "verify", "--data-dir", data]);
    assert!(verified.status.success(), "{}", text(&verified));

    let out = dir.join("export.jsonl");
    let export = |out: &Path| {
        pitboss(
            &dir,
            &[
                "audit",
                "export",
                "--data-dir",
                data,
                "--from",
                "2000-01-01",
                "--to",
                "2100-01-01",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    let first = export(&out);
    assert!(first.status.success(), "{}", text(&first));
    let checked = pitboss(&dir, &["audit", "check-export", out.to_str().unwrap(), "--public-key", &public]);
    assert!(checked.status.success(), "{}", text(&checked));

    let again = dir.join("again.jsonl");
    assert!(export(&again).status.success());
    let records = std::fs::read_to_string(&again).unwrap();
    assert!(records.contains("\"audit.export\"") && records.contains("cli:auditor"), "{records}");
}
