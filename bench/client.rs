//! The clients `bench/run.sh` needs beyond h2load and wrk, one subcommand
//! each; all talk to `127.0.0.1:PORT` only and stop by themselves.
//!
//! ```text
//! bench-client ws PORT MESSAGES        WebSocket echo: MESSAGES messages of 16 bytes, one at a time
//! bench-client connections PORT COUNT  COUNT GET / requests, each on a new connection that
//!                                      the client closes after the response (then waits for
//!                                      the server to close too)
//! bench-client connections-close PORT COUNT
//!                                      the same with `Connection: close`: the server closes
//! bench-client hold PORT COUNT         COUNT keep-alive connections, one GET / each, then held
//!                                      open until stdin closes ("open COUNT" on stdout once open)
//! bench-client download PORT BYTES TIMEOUT_S
//!                                      GET /bytes/BYTES over HTTP/2 with the protocol's default
//!                                      65,535-byte windows, reading one frame every 3 ms; prints
//!                                      {"seconds": …, "received": …, "complete": …}
//! ```
//!
//! Exit status 0 when the work was done, 1 when a request failed, 2 on bad
//! arguments.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// RFC 9113's default SETTINGS_INITIAL_WINDOW_SIZE, and the connection
/// window every HTTP/2 connection starts with.
const DEFAULT_WINDOW: u32 = 65_535;
/// How long the download client waits after each frame it reads.
const FRAME_INTERVAL: Duration = Duration::from_millis(3);
/// A WebSocket message of the matrix's size.
const MESSAGE: &str = "sixteen bytes!!!";

const USAGE: &str = "usage: bench-client ws PORT MESSAGES | connections PORT COUNT | \
                     connections-close PORT COUNT | hold PORT COUNT | download PORT BYTES TIMEOUT_S";

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.first().map(String::as_str) {
        Some("ws" | "connections" | "connections-close" | "hold") if args.len() == 3 => {
            numbers(&args[1..]).map(|n| (args[0].clone(), n))
        }
        Some("download") if args.len() == 4 => numbers(&args[1..]).map(|n| (args[0].clone(), n)),
        _ => Err(USAGE.to_string()),
    };
    let (command, n) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("bench-client: {message}");
            return ExitCode::from(2);
        }
    };
    let Ok(port) = u16::try_from(n[0]) else {
        eprintln!("bench-client: PORT must be 0-65535, not {}", n[0]);
        return ExitCode::from(2);
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let result = match command.as_str() {
        "ws" => ws(addr, n[1]).await,
        "connections" => connections(addr, n[1]).await,
        "connections-close" => connections_close(addr, n[1]).await,
        "hold" => hold(addr, n[1]).await,
        _ => download(addr, n[1], Duration::from_secs(n[2])).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-client {command}: {error}");
            ExitCode::FAILURE
        }
    }
}

fn numbers(args: &[String]) -> Result<Vec<u64>, String> {
    args.iter()
        .map(|arg| {
            arg.parse()
                .map_err(|_| format!("expected a whole number, not {arg:?}\n{USAGE}"))
        })
        .collect()
}

/// Sends `messages` text messages of 16 bytes over one WebSocket, each after
/// the echo of the one before.
async fn ws(addr: SocketAddr, messages: u64) -> Result<(), Error> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (mut socket, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp).await?;
    for _ in 0..messages {
        socket.send(Message::text(MESSAGE)).await?;
        match socket.next().await {
            Some(Ok(Message::Text(echo))) if echo.as_str() == MESSAGE => {}
            other => return Err(format!("expected the echo, got {other:?}").into()),
        }
    }
    socket.close(None).await?;
    while let Some(Ok(_)) = socket.next().await {}
    Ok(())
}

/// `count` requests `GET /`, each on a new connection that the client
/// closes once it has the response, as curl does. The client waits for the
/// server's close before the next connection, so that one connection's end
/// never overlaps the next one's start (which made the count depend on
/// timing).
async fn connections(addr: SocketAddr, count: u64) -> Result<(), Error> {
    let mut rest = Vec::new();
    for _ in 0..count {
        let mut tcp = open_keep_alive(addr).await?;
        tcp.shutdown().await?;
        rest.clear();
        tcp.read_to_end(&mut rest).await?;
    }
    Ok(())
}

/// `count` requests `GET /`, each on a new connection that the server
/// closes (`Connection: close`), as Python's urllib asks.
async fn connections_close(addr: SocketAddr, count: u64) -> Result<(), Error> {
    let mut response = Vec::new();
    for _ in 0..count {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            .await?;
        response.clear();
        tcp.read_to_end(&mut response).await?;
        if !response.starts_with(b"HTTP/1.1 200") {
            return Err(format!(
                "unexpected response {:?}",
                String::from_utf8_lossy(&response)
            )
            .into());
        }
    }
    Ok(())
}

/// Opens `count` keep-alive connections, each with one `GET /` answered,
/// says so on stdout, and holds them until stdin closes.
async fn hold(addr: SocketAddr, count: u64) -> Result<(), Error> {
    // A few at a time, so that the server's accept queue never overflows.
    let opened: Vec<TcpStream> = futures_util::stream::iter(0..count)
        .map(|_| open_keep_alive(addr))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    println!("open {}", opened.len());
    tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
        .await??;
    drop(opened);
    Ok(())
}

async fn open_keep_alive(addr: SocketAddr) -> Result<TcpStream, Error> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        .await?;
    // The response to `GET /` ends with its body, `hello`.
    let mut response = Vec::new();
    let mut buffer = [0; 1024];
    while !response.ends_with(b"hello") {
        let n = tcp.read(&mut buffer).await?;
        if n == 0 {
            return Err("the server closed a keep-alive connection".into());
        }
        response.extend_from_slice(&buffer[..n]);
    }
    Ok(tcp)
}

/// Downloads `GET /bytes/{size}` over HTTP/2 with 65,535-byte windows,
/// reading one frame every 3 ms, and prints how long it took.
async fn download(addr: SocketAddr, size: u64, limit: Duration) -> Result<(), Error> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(DEFAULT_WINDOW)
        .initial_connection_window_size(DEFAULT_WINDOW)
        .adaptive_window(false)
        .handshake(TokioIo::new(tcp))
        .await?;
    let connection = tokio::spawn(connection);
    sender.ready().await?;
    let request =
        hyper::Request::get(format!("http://bench/bytes/{size}")).body(Empty::<Bytes>::new())?;
    let started = Instant::now();
    let mut received = 0u64;
    let read = async {
        let response = sender.send_request(request).await?;
        if response.status() != 200 {
            return Err::<(), Error>(format!("status {}", response.status()).into());
        }
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                received += data.len() as u64;
            }
            tokio::time::sleep(FRAME_INTERVAL).await;
        }
        Ok(())
    };
    let outcome = tokio::time::timeout(limit, read).await;
    let seconds = started.elapsed().as_secs_f64();
    connection.abort();
    if let Ok(Err(error)) = outcome {
        return Err(error);
    }
    println!(
        "{{\"seconds\": {seconds:.4}, \"received\": {received}, \"complete\": {}}}",
        received == size
    );
    Ok(())
}
