//! strict-peer: answers unary gRPC calls with tonic's own server, over a Unix socket or TCP.
//!
//!     strict-peer unix:/path/to/peer.sock
//!     strict-peer tcp:127.0.0.1:0 [--tls CERT KEY [CLIENT_CA]]
//!
//! With `--tls` it serves TLS (rustls, ALPN h2), and with CLIENT_CA it requires a client
//! certificate issued by that CA (mTLS).
//! Prints `listening <address>` on stdout once it accepts connections, then serves until stdin
//! closes, so it never outlives the process that started it. The peer checks the transport, not a
//! schema: messages pass through as bytes. Every answer carries the `:authority` the caller sent in
//! the response header `strict-peer-authority`.

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UnixListener};
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, UnaryService};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

const PEER_NAME: &str = "strict-peer";
const PEER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Messages as opaque bytes.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// A protobuf string field (wire type 2), enough to name the peer in two known answers.
fn string_field(out: &mut Vec<u8>, number: u8, value: &str) {
    out.push((number << 3) | 2);
    out.push(value.len() as u8); // short strings only: a one-byte varint length
    out.extend_from_slice(value.as_bytes());
}

/// ComputeDriver.GetCapabilities names the peer (driver_name = 1, driver_version = 2) and
/// OpenShell.Health reports its version (version = 2); any other method answers OK with an empty
/// message, which decodes as all-defaults in every schema.
fn answer_for(path: &str) -> Bytes {
    let mut out = Vec::new();
    match path {
        "/openshell.compute.v1.ComputeDriver/GetCapabilities" => {
            string_field(&mut out, 1, PEER_NAME);
            string_field(&mut out, 2, PEER_VERSION);
        }
        "/openshell.v1.OpenShell/Health" => string_field(&mut out, 2, PEER_NAME),
        _ => {}
    }
    Bytes::from(out)
}

struct Answer(Bytes);

impl UnaryService<Bytes> for Answer {
    type Response = Bytes;
    type Future = Ready<Result<Response<Bytes>, Status>>;
    fn call(&mut self, _request: Request<Bytes>) -> Self::Future {
        ready(Ok(Response::new(self.0.clone())))
    }
}

#[derive(Clone, Copy)]
struct Peer;

impl tower_service::Service<http::Request<Body>> for Peer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let authority = request.uri().authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        let answer = Answer(answer_for(request.uri().path()));
        eprintln!("strict-peer: {} (authority {authority:?})", request.uri().path());
        Box::pin(async move {
            let mut response = Grpc::new(Raw).unary(answer, request).await;
            if let Ok(value) = http::HeaderValue::from_str(&authority) {
                response.headers_mut().insert("strict-peer-authority", value);
            }
            Ok(response)
        })
    }
}

/// Resolves when stdin reaches end of file (the parent closed it or died).
async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
}

fn listening(address: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening {address}");
    let _ = out.flush();
}

/// TLS settings from `--tls CERT KEY [CLIENT_CA]`, if given.
fn tls_config(args: &[String]) -> Result<Option<ServerTlsConfig>, Box<dyn std::error::Error>> {
    match args {
        [] => Ok(None),
        [flag, cert, key, rest @ ..] if flag == "--tls" && rest.len() <= 1 => {
            let identity = Identity::from_pem(std::fs::read(cert)?, std::fs::read(key)?);
            let mut config = ServerTlsConfig::new().identity(identity);
            if let [client_ca] = rest {
                config = config.client_ca_root(Certificate::from_pem(std::fs::read(client_ca)?));
            }
            Ok(Some(config))
        }
        _ => Err("usage: strict-peer unix:PATH | tcp:HOST:PORT [--tls CERT KEY [CLIENT_CA]]".into()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = args.first().cloned().unwrap_or_default();
    let mut server = Server::builder();
    if let Some(tls) = tls_config(args.get(1..).unwrap_or_default())? {
        server = server.tls_config(tls)?;
    }
    if let Some(path) = target.strip_prefix("unix:") {
        let listener = UnixListener::bind(path)?;
        listening(&target);
        server.serve_with_incoming_shutdown(Peer, UnixListenerStream::new(listener), stdin_closed()).await?;
    } else if let Some(address) = target.strip_prefix("tcp:") {
        let listener = TcpListener::bind(address).await?;
        listening(&format!("tcp:{}", listener.local_addr()?));
        server.serve_with_incoming_shutdown(Peer, TcpListenerStream::new(listener), stdin_closed()).await?;
    } else {
        return Err("usage: strict-peer unix:PATH | tcp:HOST:PORT [--tls CERT KEY [CLIENT_CA]]".into());
    }
    Ok(())
}
