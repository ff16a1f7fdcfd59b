//! The real `hookline dev` binary as a child process, for tests that kill and restart it.

use super::{ADMIN_KEY, Api};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `hookline dev` process of the real binary, on the embedded store in `data_dir`.
pub struct Dev {
    pub child: Child,
    pub api: Api,
}

/// Starts the binary and waits until it answers; `env` adds environment variables (such as a
/// crash point).
pub async fn spawn_dev(data_dir: &Path, schedule: &str, env: &[(&str, &str)]) -> Dev {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args([
            "dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--allow-private-destinations",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env("HOOKLINE_RETRY_SCHEDULE", schedule)
        .env("HOOKLINE_ADMIN_KEY", ADMIN_KEY)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hookline binary starts");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while reqwest::get(format!("http://{addr}/healthz"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "hookline dev did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Dev {
        child,
        api: Api::new(addr, ADMIN_KEY),
    }
}

pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} failed");
}

pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "hookline dev did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}
