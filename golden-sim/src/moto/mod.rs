//! EC2 for tests: a real `moto_server` per test on a free loopback port
//! ([`MotoServer`]), and a fault-injecting EC2 proxy in front of it
//! ([`FaultProxy`]) for the behaviour moto does not have.
//!
//! [moto](https://github.com/getmoto/moto) is a Python emulator of the AWS
//! APIs; its server mode speaks EC2's Query protocol over HTTP, so the real
//! aws-sdk-ec2 client talks to it unchanged. Install it with
//! `python3 -m pip install 'moto[server]'` (`scripts/test` does). The
//! launcher looks for `moto_server` on `PATH`, else runs
//! `python3 -m moto.server`, and says how to install moto when neither
//! works.
//!
//! ```no_run
//! use golden_sim::moto::{FaultProxy, MotoServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let moto = MotoServer::start();
//! // Point an EC2 client (golden-aws: `EbsBuilder::with_endpoint`) at
//! // `moto.endpoint()`, or at a proxy that can fail chosen actions:
//! let proxy = FaultProxy::start(moto.addr()).await;
//! proxy.fail("CreateSnapshot", 1, 503, "Unavailable", "try again");
//! assert!(proxy.endpoint().starts_with("http://127.0.0.1:"));
//! # }
//! ```

mod proxy;

use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use proxy::{FaultProxy, Init, Look, Seen, ec2_error_body};

/// How to install moto, quoted in every error about it.
const INSTALL: &str = "install Python 3 and run `python3 -m pip install 'moto[server]'`";

/// How long a starting `moto_server` may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why moto could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotoError {
    message: String,
}

impl MotoError {
    fn new(message: impl Into<String>) -> Self {
        MotoError {
            message: message.into(),
        }
    }
}

impl fmt::Display for MotoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MotoError {}

/// How to start moto on this machine, resolved once per process.
fn moto_command() -> Result<&'static [String], MotoError> {
    static CMD: OnceLock<Result<Vec<String>, MotoError>> = OnceLock::new();
    CMD.get_or_init(|| {
        if let Some(bin) = find_on_path("moto_server") {
            return Ok(vec![bin.display().to_string()]);
        }
        let python = find_on_path("python3")
            .or_else(|| find_on_path("python"))
            .ok_or_else(|| {
                MotoError::new(format!(
                    "moto is needed (the EC2 emulator) and neither moto_server nor python3 is on \
                     PATH; {INSTALL}"
                ))
            })?;
        let py = python.display().to_string();
        let has_moto = Command::new(&py)
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_moto {
            return Err(MotoError::new(format!(
                "moto is needed (the EC2 emulator) and `{py} -c 'import moto.server'` fails: \
                 run `{py} -m pip install 'moto[server]'`"
            )));
        }
        Ok(vec![py, "-m".into(), "moto.server".into()])
    })
    .as_ref()
    .map(Vec::as_slice)
    .map_err(Clone::clone)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn free_port() -> Result<u16, MotoError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| MotoError::new(format!("could not find a free loopback port: {e}")))
}

/// A `moto_server` process on a free loopback port, killed on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    endpoint: String,
    addr: String,
    log: PathBuf,
}

impl MotoServer {
    /// [`MotoServer::try_start`], panicking with its error: for tests.
    pub fn start() -> MotoServer {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts moto on a free loopback port and waits until it answers
    /// (`POST /moto-api/reset`), with a fresh port up to three times when
    /// another process took the port first. The error says how to install
    /// moto when it is missing, and shows moto's output when it exits early.
    pub fn try_start() -> Result<MotoServer, MotoError> {
        let cmd = moto_command()?;
        for _attempt in 0..3 {
            let port = free_port()?;
            let addr = format!("127.0.0.1:{port}");
            let log = std::env::temp_dir().join(format!("golden-moto-{port}.log"));
            let out = std::fs::File::create(&log)
                .and_then(|f| Ok((f.try_clone()?, f)))
                .map_err(|e| MotoError::new(format!("could not create {}: {e}", log.display())))?;
            let child = Command::new(&cmd[0])
                .args(&cmd[1..])
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
                .stdin(Stdio::null())
                .stdout(out.0)
                .stderr(out.1)
                .spawn()
                .map_err(|e| MotoError::new(format!("could not start {cmd:?}: {e}; {INSTALL}")))?;
            let mut server = MotoServer {
                child,
                endpoint: format!("http://{addr}"),
                addr,
                log,
            };
            if server.wait_ready()? {
                return Ok(server);
            }
        }
        Err(MotoError::new(format!(
            "moto_server ({cmd:?}) lost its loopback port to another process three times; \
             run the tests again"
        )))
    }

    /// `Ok(false)` when the port was taken before moto bound it.
    fn wait_ready(&mut self) -> Result<bool, MotoError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                if log.contains("Address already in use") {
                    return Ok(false);
                }
                return Err(MotoError::new(format!(
                    "moto_server exited with {status} before answering; its output:\n{log}"
                )));
            }
            if self.post_reset().is_ok() {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(MotoError::new(format!(
            "moto_server did not answer on {} within {} s; its output is in {}",
            self.endpoint,
            READY_TIMEOUT.as_secs(),
            self.log.display()
        )))
    }

    fn post_reset(&self) -> std::io::Result<()> {
        let mut s = TcpStream::connect(&self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "POST /moto-api/reset HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr
        )?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        if resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200") {
            Ok(())
        } else {
            Err(std::io::Error::other(resp))
        }
    }

    /// Forgets every resource (`POST /moto-api/reset`).
    pub fn reset(&self) -> std::io::Result<()> {
        self.post_reset()
    }

    /// `http://127.0.0.1:<port>`, the endpoint to give an EC2 client.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `127.0.0.1:<port>`, the upstream to give a [`FaultProxy`].
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
