//! A clickhouse-server of the bench's own, on free ports with data under `target/tmp`, from the
//! same config templates as the stack (`scripts/clickhouse/`), plus extra server config: used
//! where the shared server's configuration must not change (the Kafka table engine's librdkafka
//! settings are server-wide).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PrivateClickHouse {
    pub dir: PathBuf,
    pub http_port: u16,
    child: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

impl PrivateClickHouse {
    /// Starts a server named `name` whose `config.xml` gets `extra_config` before its closing
    /// tag; waits until it answers.
    pub fn start(name: &str, extra_config: &str) -> PrivateClickHouse {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        for sub in [
            "logs",
            "clickhouse/etc",
            "clickhouse/data",
            "clickhouse/tmp",
        ] {
            std::fs::create_dir_all(dir.join(sub)).expect("private ClickHouse directories");
        }
        let http_port = free_port();
        let (tcp_port, interserver_port) = (free_port(), free_port());
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/clickhouse");
        for file in ["config.xml", "users.xml"] {
            let template = std::fs::read_to_string(templates.join(file))
                .unwrap_or_else(|e| panic!("scripts/clickhouse/{file}: {e}"));
            let mut rendered = template
                .replace("@STACK_DIR@", &dir.display().to_string())
                .replace("<http_port>8123<", &format!("<http_port>{http_port}<"))
                .replace("<tcp_port>9000<", &format!("<tcp_port>{tcp_port}<"))
                .replace(
                    "<interserver_http_port>9009<",
                    &format!("<interserver_http_port>{interserver_port}<"),
                );
            if file == "config.xml" {
                assert!(rendered.contains(&format!("<http_port>{http_port}<")));
                let close = rendered
                    .rfind("</yandex>")
                    .expect("config.xml ends with </yandex>");
                rendered.insert_str(close, extra_config);
            }
            std::fs::write(dir.join("clickhouse/etc").join(file), rendered).expect("config");
        }
        let config = dir.join("clickhouse/etc/config.xml");
        let out = std::fs::File::create(dir.join("logs/stdout.log")).expect("log file");
        let child = Command::new("clickhouse-server")
            .arg(format!("--config-file={}", config.display()))
            .current_dir(dir.join("clickhouse"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("clickhouse-server starts (scripts/stack installs it)");
        let server = PrivateClickHouse {
            dir,
            http_port,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.query("SELECT 1").is_err() {
            assert!(
                Instant::now() < deadline,
                "private ClickHouse not serving within 60 s; see {}",
                server.dir.join("logs").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Runs `sql` over HTTP; the body on 200, else the server's error text.
    pub fn query(&self, sql: &str) -> Result<String, String> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.http_port))
            .map_err(|e| e.to_string())?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let request = format!(
            "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{sql}",
            sql.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .map_err(|e| e.to_string())?;
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") {
            Ok(body.to_string())
        } else {
            Err(body.trim().to_string())
        }
    }

    /// The server's stdout/stderr (where librdkafka's own log lines go).
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("logs/stdout.log")).unwrap_or_default()
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
