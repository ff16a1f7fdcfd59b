//! Starts moto's server for this test process when no endpoint is given, so that plain
//! `cargo test` runs the AWS tests too: moto is installed into a venv on first use, and the
//! server exits with the process that started it (tests have no exit hook to stop it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The same requirement `tests/run.sh` installs.
const MOTO: &str = "moto[server]>=5,<6";

/// Installs moto under a lock: test processes run in parallel (cargo-nextest runs one per test),
/// and `flock` is released by the kernel even if an installer dies midway. It runs on every
/// start, not only when moto looks missing, because a venv being filled by another process
/// already has some of its scripts.
const INSTALL: &str = r#"
import fcntl, os, subprocess, sys
venv, lock, requirement = sys.argv[1:4]
os.makedirs(os.path.dirname(os.path.abspath(lock)), exist_ok=True)
with open(lock, "w") as held:
    fcntl.flock(held, fcntl.LOCK_EX)
    if not os.access(os.path.join(venv, "bin", "moto_server"), os.X_OK):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--quiet",
                        "--disable-pip-version-check", requirement], check=True)
"#;

/// Serves on a port the OS picks and prints it. It exits when its stdin closes (the test process
/// is gone, whatever way it ended) or, should a forked child keep that pipe open, when it is
/// orphaned. Its output goes to /dev/null once started: nobody reads the pipes after that.
/// DynamoDB requests are serialised first (`atomic_dynamodb.py`) and SQS calls are spared moto's
/// looks through whole queues (`fast_sqs.py`), as `tests/run.sh` does.
const SERVE: &str = concat!(
    include_str!("atomic_dynamodb.py"),
    "\n",
    include_str!("fast_sqs.py"),
    r#"
import logging, os, sys, threading, time
from moto.server import ThreadedMotoServer
parent = os.getppid()
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
quiet = os.open(os.devnull, os.O_WRONLY)
os.dup2(quiet, 1)
os.dup2(quiet, 2)
def exit_when_orphaned():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=exit_when_orphaned, daemon=True).start()
sys.stdin.read()
os._exit(0)
"#
);

/// A running server. Kept in a static, so never dropped: its stdin pipe stays open for as long
/// as this process lives.
pub(super) struct Server {
    pub(super) endpoint: String,
    _process: Child,
}

/// The venv holding moto: `HOOKLINE_PYTOOLS` (relative to the workspace root), else the
/// workspace's `target/pytools`, which `tests/run.sh` fills too.
fn pytools() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("this crate sits two levels under the workspace root");
    match std::env::var_os("HOOKLINE_PYTOOLS") {
        Some(dir) => root.join(dir),
        None => root.join("target").join("pytools"),
    }
}

pub(super) fn start() -> Result<Server, String> {
    let venv = pytools();
    install(&venv)?;
    let mut process = Command::new(venv.join("bin").join("python"))
        .args(["-c", SERVE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}/bin/python: {e}", venv.display()))?;
    let port = match read_port(&mut process) {
        Ok(port) => port,
        Err(why) => {
            let _ = process.kill();
            let mut stderr = String::new();
            if let Some(mut err) = process.stderr.take() {
                let _ = err.read_to_string(&mut stderr);
            }
            let _ = process.wait();
            return Err(format!("{why}\n{stderr}"));
        }
    };
    wait_until_answering(port)?;
    // Silenced once started; nothing more comes down that pipe.
    drop(process.stderr.take());
    Ok(Server {
        endpoint: format!("http://127.0.0.1:{port}"),
        _process: process,
    })
}

fn install(venv: &Path) -> Result<(), String> {
    let mut lock = venv.as_os_str().to_owned();
    lock.push(".lock");
    let out = Command::new("python3")
        .args(["-c", INSTALL])
        .arg(venv)
        .arg(&lock)
        .arg(MOTO)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run python3 to install moto: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "installing {MOTO} into {} failed:\n{}",
            venv.display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The first line the server prints; read on a thread so that a server stuck starting fails the
/// test instead of hanging it.
fn read_port(process: &mut Child) -> Result<u16, String> {
    let stdout = process.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| "moto's server printed no port within 60 s".to_string())?;
    line.trim()
        .parse()
        .map_err(|_| format!("moto's server did not start (printed {line:?})"))
}

fn wait_until_answering(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if answers(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "moto's server on port {port} did not answer /moto-api/ within 30 s"
    ))
}

/// Whether `GET /moto-api/` answers 200, over a bare socket: no HTTP client is needed for one
/// status line.
pub(super) fn answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let mut status = [0u8; 12];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut status).is_ok()
        && status.starts_with(b"HTTP/1.")
        && &status[9..12] == b"200"
}
