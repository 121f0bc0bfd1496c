//! Real Redis servers for the tests and the benchmarks: each one on a free
//! port, with its data in a fresh temporary folder, stopped when dropped
//! (also when a test panics).
//!
//! It lives in the library rather than under `tests/` because the benchmark
//! binaries start their own Redis too.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A `redis-server` child process.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra_args: Vec<String>,
}

impl RedisServer {
    /// Starts a server with persistence off.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments, such as
    /// `["--requirepass", "pw"]` or `["--appendonly", "yes"]`.
    pub fn start_with(extra_args: &[&str]) -> Self {
        Self::start_on(free_port(), extra_args)
    }

    fn start_on(port: u16, extra_args: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tutoring-redis-{}-{}",
            std::process::id(),
            unique_suffix()
        ));
        std::fs::create_dir_all(&dir).expect("create a folder for the test Redis");
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
        };
        server.spawn();
        server
    }

    /// Starts a server that speaks TLS only, on [`RedisServer::port`], with
    /// the certificate and key files given (PEM) and extra arguments such as
    /// a `--user` line. Clients need no certificate of their own.
    pub fn start_tls(cert: &Path, key: &Path, ca: &Path, extra_args: &[&str]) -> Self {
        let port = free_port().to_string();
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let (cert, key, ca) = (path(cert), path(key), path(ca));
        // Later arguments win over the `--port` that `spawn` puts first.
        let mut args = vec![
            "--port",
            "0",
            "--tls-port",
            &port,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
        ];
        args.extend_from_slice(extra_args);
        Self::start_on(port.parse().expect("a port number"), &args)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for it, without credentials.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it at once, as a crash would (SIGKILL): nothing is saved.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and folder, after [`kill`].
    ///
    /// [`kill`]: RedisServer::kill
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--dir"])
            .arg(&self.dir)
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (see the README's set-up)");
        self.child = Some(child);
        wait_until_listening(self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the OS hands out a free port")
}

fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn wait_until_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not start listening on port {port} within 10 s");
}
