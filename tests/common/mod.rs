//! Helpers shared by the root integration tests: a minimal HTTP/1.1 client and an in-process
//! edge bound to `127.0.0.1:0`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use mailpulse_config::Config;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One request on a fresh connection.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let stream = TcpStream::connect(addr).await.expect("connect to edge");
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Empty::<Bytes>::new()).expect("request");
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .expect("edge answered within 10 s")
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    HttpResponse {
        status,
        headers,
        body,
    }
}

pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    request(addr, Method::GET, path, headers).await
}

/// An edge running in this process.
pub struct RunningEdge {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningEdge {
    pub async fn start(config: &Config) -> RunningEdge {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state_config = config.clone();
        let state = tokio::task::spawn_blocking(move || mailpulse_edge::build_state(&state_config))
            .await
            .expect("join")
            .expect("edge state builds against the stack");
        let (stop, stopped) = oneshot::channel();
        let config = config.clone();
        let task = tokio::spawn(async move {
            mailpulse_edge::serve(&config, state, listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("edge serves and shuts down cleanly");
        });
        RunningEdge {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Graceful shutdown: drain, flush or spool.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("edge task");
        }
    }
}

/// The path and query of a URL minted by the toolkit (`http://host/o/…` → `/o/…`).
pub fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or_else(|| "/".to_string(), |i| after_scheme[i..].to_string())
}
