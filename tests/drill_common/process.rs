//! `mailpulse edge` and `mailpulse aggregate` as child processes of a drill, logging to files in
//! the drill's directory. A process still running when its handle drops is killed, so a failed
//! assertion leaves nothing behind.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::env::DrillEnv;

pub struct Process {
    child: Child,
    pub name: String,
    pub log: PathBuf,
    /// Where its HTTP endpoint listens (the edge, or the aggregator's admin endpoint).
    pub addr: SocketAddr,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

fn spawn(
    env: &DrillEnv,
    name: &str,
    args: &[&str],
    extra: &[(String, String)],
    addr: SocketAddr,
) -> Process {
    let log = env.dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_mailpulse"))
        .args(args)
        .env_clear()
        .envs(env.env_vars())
        .envs(extra.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("mailpulse starts");
    Process {
        child,
        name: name.to_string(),
        log,
        addr,
    }
}

impl Process {
    /// `mailpulse edge` on a free port (or `port`), waiting until `/readyz` answers 200.
    pub async fn edge(env: &DrillEnv, name: &str, extra: &[(String, String)]) -> Process {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut extra = extra.to_vec();
        extra.push(("MAILPULSE_EDGE_INSTANCE".into(), name.into()));
        let process = spawn(
            env,
            name,
            &["edge", "--listen", &addr.to_string()],
            &extra,
            addr,
        );
        process.wait_ready("/readyz").await;
        process
    }

    /// `mailpulse aggregate` with its admin endpoint on a free port, waiting until it serves.
    pub async fn aggregator(env: &DrillEnv, name: &str) -> Process {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let extra = [(
            "MAILPULSE_AGGREGATOR_ADMIN_LISTEN".to_string(),
            addr.to_string(),
        )];
        let process = spawn(env, name, &["aggregate"], &extra, addr);
        process.wait_ready("/healthz").await;
        process
    }

    async fn wait_ready(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((200, _)) = http_get(self.addr, path).await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not serving {path} within 60 s\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The value of a counter or gauge on the process's `/metrics` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, body) = http_get(self.addr, "/metrics")
            .await
            .unwrap_or_else(|| panic!("{} answers /metrics", self.name));
        body.lines()
            .find_map(|line| {
                let (metric, value) = line.split_once(' ')?;
                (metric == name).then(|| value.trim().parse::<f64>().ok())?
            })
            .unwrap_or(0.0)
    }

    /// SIGTERM, then the exit status (panics if it does not exit within `within`).
    pub fn terminate(mut self, within: Duration) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM delivered to {}", self.name);
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running {within:?} after SIGTERM\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no chance to flush, commit or say goodbye.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL delivered");
        self.child.wait().expect("killed process reaped");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One `GET` on a fresh connection: status and body, or `None` if nothing answered in 5 s.
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text.get(9..12)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}
