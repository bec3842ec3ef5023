//! The real binary's `model refit` on an embedded store: it migrates, refits, records the fit
//! and prints it; a fit that cannot be made (no depositors yet) is recorded as failed, printed,
//! and the exit status says so.

use std::process::Command;

#[test]
fn model_refit_records_and_prints_the_fit_and_fails_loudly_without_depositors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_pitboss"))
        .args(["model", "refit", "--data-dir"])
        .arg(&data)
        .current_dir(dir.path())
        .env_remove("PITBOSS_CONFIG")
        .env_remove("PITBOSS_DATABASE_URL")
        .env("USER", "analyst-at-terminal")
        .env("PITBOSS_LOG_LEVEL", "warn")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a failed fit is a failed command: {stderr}");
    assert!(stderr.contains("at least 20"), "{stderr}");
    let fit: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the fit is printed as JSON");
    assert_eq!(fit["status"], "failed");
    assert_eq!(fit["trigger"], "cli");
    assert_eq!(fit["requested_by"], "cli:analyst-at-terminal");
    assert_eq!(fit["players"], 0);
    assert!(data.join("pitboss.db").exists());
}
