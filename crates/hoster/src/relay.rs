//! The proxy's fast path: plain HTTP/1.1 exchanges with a running deployment relayed as bytes,
//! one connection task doing both sides, the way nginx does it. Each request head is parsed in
//! place; the upstream gets the request line and headers as the client wrote them, less the
//! hop-by-hop ones, plus the forwarding headers; the response head is rewritten likewise and every
//! body is copied as it arrives, framed by its length or its chunks. Each client connection keeps
//! one upstream connection alive across its requests.
//!
//! Anything out of the ordinary (HTTP/1.0 or HTTP/2, `Transfer-Encoding` or a doubtful length on
//! a request, upgrades, `Expect`, `Connection: close`, a target that is not a path, a host that is
//! not a running deployment's, an ACME challenge, a head over 16 KiB) hands the connection, with
//! the bytes already read, to hyper and the axum stack for good. So this path never answers
//! anything but a relayed response or "the upstream did not answer".

use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use hoster_core::error_code::ErrorCode;
use hoster_core::hostname::{self, Host};
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::api::AppState;
use crate::metrics::{self, HostLabels};
use crate::proxy::{self, Forwarding};

/// A request head longer than this goes to hyper, which answers 431 past its own limit.
const MAX_HEAD: usize = 16 * 1024;
/// Headers parsed per request or response; more goes to hyper (requests) or fails (responses).
const MAX_HEADERS: usize = 64;
/// An upstream response head may be this long.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// How a connection left the fast path.
pub enum End<I> {
    Closed,
    /// To hyper, with the bytes read and not yet answered.
    HandOver(I, BytesMut),
}

/// Relays requests on `io` until the client leaves, something goes wrong, shutdown is signalled
/// between requests, or a request needs the full stack.
pub async fn serve<I>(
    mut io: I,
    state: &AppState,
    peer: SocketAddr,
    over_tls: bool,
    stop: &mut watch::Receiver<bool>,
) -> End<I>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = BytesMut::with_capacity(4096);
    let mut upstream: Option<Upstream> = None;
    let mut counters = HostCounters::default();
    let scheme = if over_tls { "https" } else { "http" };
    loop {
        let request = loop {
            match inspect(&buffer, |path, host| proxy::direct_name(state, path, host)) {
                Inspection::Partial if buffer.len() < MAX_HEAD => {}
                Inspection::Partial | Inspection::HandOver => return End::HandOver(io, buffer),
                Inspection::Relay(request) => break request,
            }
            let idle = buffer.is_empty();
            buffer.reserve(4096);
            let read = tokio::select! {
                read = io.read_buf(&mut buffer) => read,
                _ = stopped(stop), if idle => return End::Closed,
            };
            if !matches!(read, Ok(n) if n > 0) {
                return End::Closed;
            }
        };
        let Some(address) = proxy::direct_upstream(state, &request.host).await else {
            return End::HandOver(io, buffer);
        };
        let mut outbound = upstream_head(&buffer[..request.head_len], |sent| {
            state.proxy.forwarding(peer, scheme, &request.host, sent)
        });
        buffer.advance(request.head_len);
        let in_buffer = buffer.len().min(usize::try_from(request.body).unwrap_or(usize::MAX));
        outbound.extend_from_slice(&buffer.split_to(in_buffer));
        let exchange = Exchange {
            address,
            outbound,
            body_left: request.body - in_buffer as u64,
            head_only: request.head_only,
            idempotent: request.idempotent,
        };
        let result = exchange.run(&mut io, &mut upstream).await;
        let sent = match &result {
            Ok((_, sent)) => *sent,
            Err(_) => 0,
        };
        counters.count(&request.host, sent);
        match result {
            Ok((true, _)) => {}
            Ok((false, _)) => return End::Closed,
            Err(failure) => {
                if !failure.answered {
                    tracing::warn!(host = %request.host, %address, error = %failure.error, "upstream did not answer");
                    let page = proxy::render(
                        ErrorCode::UpstreamUnavailable,
                        format!("{} did not answer.", request.host),
                        request.json,
                    );
                    let _ = write_closing(&mut io, page).await;
                }
                return End::Closed;
            }
        }
    }
}

/// The metrics of the host a connection last asked for: a keep-alive connection mostly asks
/// one host, so the registry's lock is taken once, not per request.
#[derive(Default)]
struct HostCounters(Option<(String, Counter, Counter)>);

impl HostCounters {
    fn count(&mut self, host: &str, sent: u64) {
        if self.0.as_ref().is_none_or(|(h, _, _)| h != host) {
            let labels = HostLabels { host: host.to_string() };
            let figures = metrics::global();
            self.0 = Some((
                host.to_string(),
                figures.proxy_requests.get_or_create_owned(&labels),
                figures.proxy_bytes.get_or_create_owned(&labels),
            ));
        }
        if let Some((_, requests, bytes)) = &self.0 {
            requests.inc();
            bytes.inc_by(sent);
        }
    }
}

/// Resolves once shutdown has been signalled (or the listener is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await: it is not `Send`.
    let _ = stop.wait_for(|stopping| *stopping).await.is_ok();
}

/// A request the fast path takes, as far as its head tells.
#[derive(Debug, PartialEq)]
struct Request {
    host: String,
    head_len: usize,
    body: u64,
    head_only: bool,
    /// Whether sending it again is harmless (RFC 9110 §9.2.2).
    idempotent: bool,
    /// Whether an error page should be JSON.
    json: bool,
}

#[derive(Debug, PartialEq)]
enum Inspection {
    Partial,
    HandOver,
    Relay(Request),
}

/// What the buffered bytes hold: not yet a whole head, a request for the full stack, or one to
/// relay. `direct` names the deployment a path and host may lead to (the proxy's rules: not an
/// API host, not an ACME challenge). Pure, so the rules are tested without sockets.
fn inspect(buffer: &[u8], direct: impl Fn(&str, Result<Host, &'static str>) -> Option<String>) -> Inspection {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Inspection::Partial,
        Err(_) => return Inspection::HandOver,
    };
    let (Some(method), Some(path), Some(1)) = (parsed.method, parsed.path, parsed.version) else {
        return Inspection::HandOver;
    };
    if method == "CONNECT" || !path.starts_with('/') {
        return Inspection::HandOver;
    }
    let (mut host, mut body, mut json) = (None, None, false);
    for header in parsed.headers.iter() {
        let name = header.name;
        let value = header.value;
        if name.eq_ignore_ascii_case("host") {
            if host.replace(value).is_some() {
                return Inspection::HandOver;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let Some(length) = decimal(value) else {
                return Inspection::HandOver;
            };
            if body.replace(length).is_some() {
                return Inspection::HandOver;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            // Only `keep-alive` is taken here; `close` and named headers are hyper's.
            let plain = std::str::from_utf8(value)
                .is_ok_and(|v| v.split(',').all(|t| t.trim().eq_ignore_ascii_case("keep-alive")));
            if !plain {
                return Inspection::HandOver;
            }
        } else if ["transfer-encoding", "upgrade", "expect", "te"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            return Inspection::HandOver;
        } else if name.eq_ignore_ascii_case("accept") {
            json = proxy::accept_wants_json(std::str::from_utf8(value).unwrap_or(""));
        }
    }
    let host = host
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(hostname::parse_authority)
        .ok_or("the Host header is not a valid hostname");
    let Some(host) = direct(path, host) else {
        return Inspection::HandOver;
    };
    Inspection::Relay(Request {
        host,
        head_len,
        body: body.unwrap_or(0),
        head_only: method == "HEAD",
        idempotent: ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"].contains(&method),
        json,
    })
}

/// A `Content-Length` value: digits only (no sign, no list), at most 18 of them.
fn decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The head the upstream gets: the client's request line and headers, less the hop-by-hop and
/// forwarding ones, then the forwarding headers `forwarding` decides from what the client sent.
fn upstream_head<'a>(
    head: &'a [u8],
    forwarding: impl FnOnce(&dyn Fn(&str) -> Option<&'a str>) -> Forwarding,
) -> Vec<u8> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    // `inspect` parsed this very head already.
    let _ = parsed.parse(head);
    let forwarding = forwarding(&|name| {
        let header = parsed.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name))?;
        std::str::from_utf8(header.value).ok()
    });
    let mut out = Vec::with_capacity(head.len() + 128);
    out.extend_from_slice(parsed.method.unwrap_or("GET").as_bytes());
    out.push(b' ');
    out.extend_from_slice(parsed.path.unwrap_or("/").as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for header in parsed.headers.iter() {
        if proxy::is_hop_by_hop(header.name) || forwarding.replaces(header.name) {
            continue;
        }
        push_header(&mut out, header.name.as_bytes(), header.value);
    }
    for (name, value) in forwarding.values() {
        push_header(&mut out, name.as_bytes(), value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// One request's round trip.
struct Exchange {
    address: SocketAddr,
    /// The rewritten head and as much of the body as had arrived with it.
    outbound: Vec<u8>,
    /// Body bytes still to come from the client.
    body_left: u64,
    head_only: bool,
    idempotent: bool,
}

struct Failure {
    error: io::Error,
    /// Whether part of a response reached the client (then only closing is left).
    answered: bool,
}

impl Failure {
    fn before(error: io::Error) -> Self {
        Failure { error, answered: false }
    }
    fn after(error: io::Error) -> Self {
        Failure { error, answered: true }
    }
}

/// An upstream connection kept for the client connection's next request.
struct Upstream {
    address: SocketAddr,
    stream: TcpStream,
    buffer: BytesMut,
}

impl Upstream {
    async fn connect(address: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Upstream {
            address,
            stream,
            buffer: BytesMut::with_capacity(8192),
        })
    }

    /// Whether an idle connection may still be used: the upstream has neither closed it nor
    /// sent anything unasked. Asks the kernel only when the reactor saw it readable.
    fn still_open(&self) -> bool {
        use futures_util::FutureExt;
        if self.stream.readable().now_or_never().is_none() {
            return true;
        }
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

impl Exchange {
    /// Sends the request and relays the response. Answers whether the client connection can
    /// take another request, and the bytes sent to the client.
    async fn run<I>(self, client: &mut I, slot: &mut Option<Upstream>) -> Result<(bool, u64), Failure>
    where
        I: AsyncRead + AsyncWrite + Unpin,
    {
        let kept = slot.take().filter(|u| u.address == self.address && u.still_open());
        let mut upstream = match kept {
            Some(kept) => match self.send(client, kept).await {
                Ok(upstream) => Some(upstream),
                // A kept connection the upstream closed meanwhile: once more on a new one, when
                // the whole request is still at hand.
                Err(_) if self.body_left == 0 && self.idempotent => None,
                Err(e) => return Err(Failure::before(e)),
            },
            None => None,
        };
        if upstream.is_none() {
            let fresh = Upstream::connect(self.address).await.map_err(Failure::before)?;
            upstream = Some(self.send(client, fresh).await.map_err(Failure::before)?);
        }
        let mut upstream = upstream.expect("connected above");
        let mut counted = Counted { io: client, sent: 0 };
        let reusable = self.relay_response(&mut counted, &mut upstream).await?;
        if reusable.upstream {
            *slot = Some(upstream);
        }
        Ok((reusable.client, counted.sent))
    }

    /// Writes the request and waits for the first byte of the answer, so that a kept
    /// connection found closed fails here, where retrying is still safe.
    async fn send<I>(&self, client: &mut I, mut upstream: Upstream) -> io::Result<Upstream>
    where
        I: AsyncRead + Unpin,
    {
        upstream.stream.write_all(&self.outbound).await?;
        if self.body_left > 0 {
            let mut body = (&mut *client).take(self.body_left);
            let copied = tokio::io::copy(&mut body, &mut upstream.stream).await?;
            if copied < self.body_left {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        upstream.buffer.clear();
        if upstream.stream.read_buf(&mut upstream.buffer).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(upstream)
    }

    async fn relay_response<I>(&self, client: &mut I, upstream: &mut Upstream) -> Result<Reuse, Failure>
    where
        I: AsyncWrite + Unpin,
    {
        let mut answered = false;
        let fail = |answered: bool| move |e: io::Error| Failure { error: e, answered };
        loop {
            let head = loop {
                match response_head(&upstream.buffer, self.head_only).map_err(fail(answered))? {
                    Some(head) => break head,
                    None if upstream.buffer.len() > MAX_RESPONSE_HEAD => {
                        return Err(fail(answered)(invalid("the upstream's response head is too long")));
                    }
                    None => {}
                }
                if upstream
                    .stream
                    .read_buf(&mut upstream.buffer)
                    .await
                    .map_err(fail(answered))?
                    == 0
                {
                    return Err(fail(answered)(io::ErrorKind::UnexpectedEof.into()));
                }
            };
            upstream.buffer.advance(head.len);
            let mut out = head.rewritten;
            if head.informational {
                client.write_all(&out).await.map_err(Failure::after)?;
                answered = true;
                continue;
            }
            let reuse = match head.framing {
                Framing::Length(length) => {
                    let length = self.copy_length(client, upstream, out, length).await?;
                    Reuse {
                        client: true,
                        upstream: head.upstream_keeps && length,
                    }
                }
                Framing::Chunked => {
                    self.copy_chunked(client, upstream, out).await?;
                    Reuse {
                        client: true,
                        upstream: head.upstream_keeps,
                    }
                }
                Framing::UntilClose => {
                    out.extend_from_slice(&upstream.buffer);
                    upstream.buffer.clear();
                    client.write_all(&out).await.map_err(Failure::after)?;
                    tokio::io::copy(&mut upstream.stream, client)
                        .await
                        .map_err(Failure::after)?;
                    Reuse {
                        client: false,
                        upstream: false,
                    }
                }
            };
            client.flush().await.map_err(Failure::after)?;
            return Ok(reuse);
        }
    }

    /// Copies a body of `length` bytes; `Ok(false)` when the upstream sent more than that.
    async fn copy_length<I>(
        &self,
        client: &mut I,
        upstream: &mut Upstream,
        mut out: Vec<u8>,
        length: u64,
    ) -> Result<bool, Failure>
    where
        I: AsyncWrite + Unpin,
    {
        let in_buffer = upstream.buffer.len().min(usize::try_from(length).unwrap_or(usize::MAX));
        out.extend_from_slice(&upstream.buffer.split_to(in_buffer));
        client.write_all(&out).await.map_err(Failure::after)?;
        let left = length - in_buffer as u64;
        if left > 0 {
            let mut body = (&mut upstream.stream).take(left);
            let copied = tokio::io::copy(&mut body, client).await.map_err(Failure::after)?;
            if copied < left {
                return Err(Failure::after(io::ErrorKind::UnexpectedEof.into()));
            }
        }
        Ok(upstream.buffer.is_empty())
    }

    async fn copy_chunked<I>(&self, client: &mut I, upstream: &mut Upstream, mut out: Vec<u8>) -> Result<(), Failure>
    where
        I: AsyncWrite + Unpin,
    {
        let mut chunks = Chunked::default();
        loop {
            let end = chunks
                .feed(&upstream.buffer)
                .map_err(|why| Failure::after(invalid(why)))?;
            let taken = end.unwrap_or(upstream.buffer.len());
            out.extend_from_slice(&upstream.buffer.split_to(taken));
            client.write_all(&out).await.map_err(Failure::after)?;
            out.clear();
            if end.is_some() {
                return Ok(());
            }
            if upstream
                .stream
                .read_buf(&mut upstream.buffer)
                .await
                .map_err(Failure::after)?
                == 0
            {
                return Err(Failure::after(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }
}

struct Reuse {
    client: bool,
    upstream: bool,
}

/// A writer that counts what passes, for the proxy's byte counts.
struct Counted<'a, I> {
    io: &'a mut I,
    sent: u64,
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Counted<'_, I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut *self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            self.sent += n as u64;
        }
        written
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_shutdown(cx)
    }
}

fn invalid(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Writes an error page and asks the client to close.
async fn write_closing<I: AsyncWrite + Unpin>(io: &mut I, page: axum::response::Response) -> io::Result<()> {
    let (parts, body) = page.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024).await.map_err(io::Error::other)?;
    let mut out = format!("HTTP/1.1 {}\r\n", parts.status).into_bytes();
    for (name, value) in &parts.headers {
        push_header(&mut out, name.as_str().as_bytes(), value.as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    io.write_all(&out).await?;
    io.flush().await
}

/// How a response's body ends (RFC 9112 §6.3).
#[derive(Debug, PartialEq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

#[derive(Debug, PartialEq)]
struct ResponseHead {
    len: usize,
    /// A 1xx head, relayed before the final one.
    informational: bool,
    framing: Framing,
    /// Whether the upstream will take another request on this connection.
    upstream_keeps: bool,
    /// The head the client gets.
    rewritten: Vec<u8>,
}

/// The upstream's response head, if the buffer holds all of it. Pure.
fn response_head(buffer: &[u8], head_only: bool) -> io::Result<Option<ResponseHead>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let len = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(invalid("the upstream's response head is not valid HTTP/1")),
    };
    let code = parsed.code.unwrap_or(502);
    let (mut length, mut chunked, mut encoded, mut close) = (None, false, false, parsed.version != Some(1));
    let mut listed = Vec::new();
    for header in parsed.headers.iter() {
        let value = || std::str::from_utf8(header.value).unwrap_or("");
        if header.name.eq_ignore_ascii_case("content-length") {
            let parsed = decimal(header.value).ok_or_else(|| invalid("the upstream sent a bad Content-Length"))?;
            if length.replace(parsed).is_some_and(|earlier| earlier != parsed) {
                return Err(invalid("the upstream sent two Content-Lengths"));
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            encoded = true;
            chunked = value()
                .rsplit(',')
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value().split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if !token.eq_ignore_ascii_case("keep-alive") {
                    listed.push(token.to_ascii_lowercase());
                }
            }
        }
    }
    let informational = (100..200).contains(&code);
    let framing = if informational || head_only || code == 204 || code == 304 {
        Framing::Length(0)
    } else if encoded {
        if chunked { Framing::Chunked } else { Framing::UntilClose }
    } else {
        length.map_or(Framing::UntilClose, Framing::Length)
    };
    // Room for the body that came with the head, which is usually all of it.
    let mut rewritten = Vec::with_capacity(buffer.len() + 64);
    let _ = write!(rewritten, "HTTP/1.1 {code} {}\r\n", parsed.reason.unwrap_or(""));
    for header in parsed.headers.iter() {
        let name = header.name;
        let dropped = (proxy::is_hop_by_hop(name) && !name.eq_ignore_ascii_case("transfer-encoding"))
            || (encoded && name.eq_ignore_ascii_case("content-length"))
            || listed.iter().any(|l| name.eq_ignore_ascii_case(l));
        if !dropped {
            push_header(&mut rewritten, name.as_bytes(), header.value);
        }
    }
    if framing == Framing::UntilClose {
        rewritten.extend_from_slice(b"connection: close\r\n");
    }
    rewritten.extend_from_slice(b"\r\n");
    Ok(Some(ResponseHead {
        len,
        informational,
        upstream_keeps: !close && framing != Framing::UntilClose,
        framing,
        rewritten,
    }))
}

/// Finds where a chunked body ends (RFC 9112 §7.1), fed the bytes as they arrive; the bytes
/// themselves are relayed unchanged.
#[derive(Debug, Default)]
struct Chunked {
    state: ChunkState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum ChunkState {
    #[default]
    SizeStart,
    Size(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    TrailerLineStart,
    TrailerLine,
    TrailerLf,
    LastLf,
}

impl Chunked {
    /// Consumes `bytes`; `Some(n)` when the body ends after the first `n` of them.
    fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, &'static str> {
        use ChunkState::*;
        let mut at = 0;
        while at < bytes.len() {
            let byte = bytes[at];
            self.state = match self.state {
                SizeStart => Size(hex(byte).ok_or("a chunk size is not hexadecimal")?),
                Size(size) => match (byte, hex(byte)) {
                    (_, Some(digit)) => Size(
                        size.checked_mul(16)
                            .and_then(|s| s.checked_add(digit))
                            .ok_or("a chunk size is too large")?,
                    ),
                    (b';' | b' ' | b'\t', _) => Extension(size),
                    (b'\r', _) => SizeLf(size),
                    _ => return Err("a chunk size line is malformed"),
                },
                Extension(size) => match byte {
                    b'\r' => SizeLf(size),
                    b'\n' => return Err("a chunk size line is malformed"),
                    _ => Extension(size),
                },
                SizeLf(size) => match (byte, size) {
                    (b'\n', 0) => TrailerLineStart,
                    (b'\n', size) => Data(size),
                    _ => return Err("a chunk size line is malformed"),
                },
                Data(size) => {
                    let available = (bytes.len() - at) as u64;
                    let taken = size.min(available);
                    at += taken as usize;
                    self.state = if taken == size { DataCr } else { Data(size - taken) };
                    continue;
                }
                DataCr if byte == b'\r' => DataLf,
                DataLf if byte == b'\n' => SizeStart,
                DataCr | DataLf => return Err("a chunk does not end with CRLF"),
                TrailerLineStart if byte == b'\r' => LastLf,
                TrailerLineStart | TrailerLine if byte != b'\r' => TrailerLine,
                TrailerLine => TrailerLf,
                TrailerLf if byte == b'\n' => TrailerLineStart,
                LastLf if byte == b'\n' => return Ok(Some(at + 1)),
                TrailerLineStart | TrailerLf | LastLf => return Err("a chunked body's trailer is malformed"),
            };
            at += 1;
        }
        Ok(None)
    }
}

fn hex(byte: u8) -> Option<u64> {
    (byte as char).to_digit(16).map(u64::from)
}

/// The connection hyper takes over: the bytes the fast path read first, then the rest.
pub struct Prefixed<I> {
    prefix: BytesMut,
    io: I,
}

impl<I> Prefixed<I> {
    pub fn new(io: I, prefix: BytesMut) -> Self {
        Prefixed { prefix, io }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_host(_: &str, host: Result<Host, &'static str>) -> Option<String> {
        match host {
            Ok(Host::Name(name)) => Some(name),
            _ => None,
        }
    }

    fn relayed(head: &str) -> Request {
        match inspect(head.as_bytes(), any_host) {
            Inspection::Relay(request) => request,
            other => panic!("{head:?} was not relayed: {other:?}"),
        }
    }

    #[test]
    fn plain_requests_are_relayed_and_their_bodies_measured() {
        let get = relayed("GET /a?b=c HTTP/1.1\r\nHost: Shop.apps.localhost:8080\r\nAccept: */*\r\n\r\nGET /next");
        assert_eq!(get.host, "shop.apps.localhost");
        assert_eq!(get.head_len, 68);
        assert_eq!(
            (get.body, get.head_only, get.idempotent, get.json),
            (0, false, true, false)
        );
        let post = relayed(
            "POST /x HTTP/1.1\r\nhost: a.b\r\nContent-Length: 12\r\nConnection: keep-alive\r\naccept: application/json\r\n\r\n",
        );
        assert_eq!((post.body, post.idempotent, post.json), (12, false, true));
        assert!(relayed("HEAD / HTTP/1.1\r\nHost: a.b\r\n\r\n").head_only);
    }

    #[test]
    fn anything_unusual_goes_to_the_full_stack() {
        for head in [
            "GET / HTTP/1.0\r\nHost: a.b\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "CONNECT a.b:443 HTTP/1.1\r\nHost: a.b\r\n\r\n",
            "GET http://a.b/ HTTP/1.1\r\nHost: a.b\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a.b\r\nHost: c.d\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a.b\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a.b\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a.b\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a.b\r\nContent-Length: 5, 5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a.b\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a.b\r\nConnection: close\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a.b\r\nConnection: keep-alive, x-secret\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a.b\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a.b\r\nTE: trailers\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : a.b\r\n\r\n",
            "GET /\x01 HTTP/1.1\r\nHost: a.b\r\n\r\n",
        ] {
            assert_eq!(inspect(head.as_bytes(), any_host), Inspection::HandOver, "{head:?}");
        }
        // What the proxy's rules say is not a deployment's (an API host, say) is handed over too.
        assert_eq!(
            inspect(b"GET / HTTP/1.1\r\nHost: a.b\r\n\r\n", |_, _| None),
            Inspection::HandOver
        );
        assert_eq!(
            inspect(b"GET / HTTP/1.1\r\nHost: a.b\r\n", any_host),
            Inspection::Partial
        );
        assert_eq!(inspect(b"", any_host), Inspection::Partial);
    }

    #[test]
    fn the_upstream_head_drops_hop_by_hop_and_forwarding_claims() {
        let head = b"GET /p HTTP/1.1\r\nHost: a.b\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\n\
            X-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nCookie: c=1\r\n\r\n";
        let out = upstream_head(head, |sent| {
            assert_eq!(sent("x-forwarded-for"), Some("6.6.6.6"));
            Forwarding::for_test(false, vec![("x-forwarded-for", "127.0.0.1".into())])
        });
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /p HTTP/1.1\r\nHost: a.b\r\nCookie: c=1\r\nx-forwarded-for: 127.0.0.1\r\n\r\n"
        );
    }

    fn head(response: &str, head_only: bool) -> ResponseHead {
        response_head(response.as_bytes(), head_only)
            .unwrap()
            .expect("a whole head")
    }

    #[test]
    fn response_framing_follows_rfc_9112() {
        let fixed = head(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nKeep-Alive: timeout=5\r\n\r\nabc",
            false,
        );
        assert_eq!(
            (fixed.framing, fixed.upstream_keeps, fixed.len),
            (Framing::Length(3), true, 61)
        );
        assert_eq!(
            String::from_utf8(fixed.rewritten).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
        );
        let chunked = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 9\r\nConnection: x-a\r\nx-a: 1\r\n\r\n",
            false,
        );
        assert_eq!(chunked.framing, Framing::Chunked);
        assert_eq!(
            String::from_utf8(chunked.rewritten).unwrap(),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        );
        let closing = head("HTTP/1.0 200 OK\r\n\r\n", false);
        assert_eq!((closing.framing, closing.upstream_keeps), (Framing::UntilClose, false));
        assert!(
            String::from_utf8(closing.rewritten)
                .unwrap()
                .ends_with("connection: close\r\n\r\n")
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true).framing,
            Framing::Length(0)
        );
        assert_eq!(
            head("HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n", false).framing,
            Framing::Length(0)
        );
        assert!(head("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false).informational);
        let close = head(
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            false,
        );
        assert!(!close.upstream_keeps);
        assert_eq!(response_head(b"HTTP/1.1 200 OK\r\n", false).unwrap(), None);
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/2 200\r\n\r\n",
        ] {
            assert!(response_head(bad.as_bytes(), false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_chunked_body_ends_where_its_last_chunk_and_trailer_end_however_it_is_split() {
        let body = b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: t\r\n\r\nNEXT";
        let end = body.len() - 4;
        for split in 0..=body.len() {
            let mut chunks = Chunked::default();
            let first = chunks.feed(&body[..split]).unwrap();
            let found = match first {
                Some(n) => n,
                None => split + chunks.feed(&body[split..]).unwrap().expect("the end"),
            };
            assert_eq!(found, end, "split at {split}");
        }
        assert_eq!(Chunked::default().feed(b"0\r\n\r\n").unwrap(), Some(5));
        for bad in [
            &b"x\r\n"[..],
            b"5\r\nhelloXX",
            b"5\nhello",
            b"0\r\nTrailer\r\r",
            b"fffffffffffffffff\r\n",
        ] {
            assert!(
                Chunked::default().feed(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
