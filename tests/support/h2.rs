//! An HTTP/2 prior-knowledge (h2c) client over hyper's client connection
//! API: one TCP connection, many streams, with the flow-control windows under
//! the test's control.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};

pub type Sender = http2::SendRequest<Empty<Bytes>>;

/// The client's receive windows (hyper's fixed defaults unless a test
/// wants a slow reader).
pub struct Windows {
    pub stream: u32,
    pub connection: u32,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            stream: 1 << 20,
            connection: 1 << 20,
        }
    }
}

/// Connects and returns the request sender and the connection's task,
/// which ends when the server closes the connection.
pub async fn connect(
    addr: SocketAddr,
    windows: Windows,
) -> (Sender, tokio::task::JoinHandle<Result<(), hyper::Error>>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(windows.stream)
        .initial_connection_window_size(windows.connection)
        .adaptive_window(false)
        .handshake(TokioIo::new(tcp))
        .await
        .expect("h2c handshake");
    (sender, tokio::spawn(connection))
}

pub fn request(path: &str) -> hyper::Request<Empty<Bytes>> {
    hyper::Request::get(format!("http://test{path}"))
        .body(Empty::new())
        .unwrap()
}

/// Sends `GET path` on a new stream and reads the whole body.
pub async fn get(sender: &mut Sender, path: &str) -> (u16, String) {
    sender.ready().await.expect("connection ready");
    let response = sender.send_request(request(path)).await.expect("response");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("whole body")
        .to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A runtime with its own worker, so that the client's connection task keeps
/// running (answering pings, sending resets and reading the GOAWAY) between
/// `block_on` calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}
