//! A small HTTP/1.1 server side for the agent: one request per connection (`Connection:
//! close`), bodies by `Content-Length` only, bounded head and body, and server-sent event
//! streams. The agent serves a handful of JSON endpoints and one page on loopback; nothing here
//! needs keep-alive, chunked uploads or pipelining, and refusing them keeps the parser small.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest request head read.
pub const MAX_HEAD: usize = 16 * 1024;

/// The largest request body read (browser results are a few kilobytes).
pub const MAX_BODY: usize = 256 * 1024;

/// How long a client may take to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query's `name=value` pairs, percent-decoded.
    pub query: BTreeMap<String, String>,
    /// Header names lowercase; a repeated header keeps its last value.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// Why a request could not be read; the status to answer with.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    /// The status.
    pub status: u16,
    /// Why.
    pub reason: String,
}

fn refused(status: u16, reason: impl Into<String>) -> Refused {
    Refused {
        status,
        reason: reason.into(),
    }
}

/// Reads one request from `stream`.
pub async fn read_request(stream: &mut TcpStream) -> Result<Request, Refused> {
    let mut buffer = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = find_head_end(&buffer) {
            break end;
        }
        if buffer.len() >= MAX_HEAD {
            return Err(refused(431, "the request head is too large"));
        }
        let read = tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk))
            .await
            .map_err(|_| refused(408, "the request took too long"))?
            .map_err(|error| refused(400, error.to_string()))?;
        if read == 0 {
            return Err(refused(400, "the connection ended before a request"));
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let mut request = parse_head(&buffer[..head_end])?;
    let length = match request.header("content-length") {
        Some(text) => text
            .trim()
            .parse::<usize>()
            .map_err(|_| refused(400, "Content-Length is not a number"))?,
        None => 0,
    };
    if request.header("transfer-encoding").is_some() {
        return Err(refused(411, "send the body with a Content-Length"));
    }
    if length > MAX_BODY {
        return Err(refused(413, format!("the body is over {MAX_BODY} bytes")));
    }
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let read = tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk))
            .await
            .map_err(|_| refused(408, "the body took too long"))?
            .map_err(|error| refused(400, error.to_string()))?;
        if read == 0 {
            return Err(refused(400, "the connection ended inside the body"));
        }
        body.extend_from_slice(&chunk[..read]);
    }
    body.truncate(length);
    request.body = body;
    Ok(request)
}

fn find_head_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// Parses a request head (request line and headers).
pub fn parse_head(head: &[u8]) -> Result<Request, Refused> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(refused(400, "an incomplete request head")),
        Err(error) => return Err(refused(400, format!("not an HTTP request: {error}"))),
    }
    let target = parsed.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut request = Request {
        method: parsed.method.unwrap_or("").to_string(),
        path: percent_decode(path),
        ..Request::default()
    };
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        request
            .query
            .insert(percent_decode(name), percent_decode(value));
    }
    for header in parsed.headers.iter() {
        let value = std::str::from_utf8(header.value)
            .map_err(|_| refused(400, format!("the {} header is not UTF-8", header.name)))?;
        request
            .headers
            .insert(header.name.to_ascii_lowercase(), value.trim().to_string());
    }
    Ok(request)
}

fn percent_decode(text: &str) -> String {
    let hex = |byte: u8| (byte as char).to_digit(16).map(|digit| digit as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(bytes[i + 1])? * 16 + hex(bytes[i + 2])?))
            .flatten();
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status.
    pub status: u16,
    /// Headers besides `Content-Length`, `Connection` and `Date`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: format!("{value}\n").into_bytes(),
        }
    }

    /// A JSON error: `{"error": CODE, "message": "…"}`.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
        Response::json(
            status,
            &serde_json::json!({"error": code, "message": message.into()}),
        )
    }

    /// An empty response.
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// The reason phrase of a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "",
    }
}

/// Headers every answer carries: no caching, no sniffing, no framing by other sites.
const COMMON: &[(&str, &str)] = &[
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
];

/// Writes `response` and closes the write side.
pub async fn write_response(stream: &mut TcpStream, response: &Response) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.body.len()
    );
    for (name, value) in COMMON.iter().map(|(n, v)| (*n, *v)).chain(
        response
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
    ) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&response.body).await?;
    stream.shutdown().await
}

/// Starts a server-sent event stream (`headers` are added, e.g. CORS).
pub async fn start_events(
    stream: &mut TcpStream,
    headers: &[(String, String)],
) -> std::io::Result<()> {
    let mut head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nConnection: close\r\n".to_string();
    for (name, value) in COMMON
        .iter()
        .map(|(n, v)| (*n, *v))
        .chain(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await
}

/// Writes one event (`data` is one line of JSON).
pub async fn write_event(stream: &mut TcpStream, event: &str, data: &str) -> std::io::Result<()> {
    let mut text = format!("event: {event}\n");
    for line in data.lines() {
        text.push_str("data: ");
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    stream.write_all(text.as_bytes()).await
}

/// Writes a comment line (a keep-alive for idle event streams).
pub async fn write_event_comment(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.write_all(b": keep-alive\n\n").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_head_is_parsed_with_its_query() {
        let request = parse_head(
            b"GET /api/v1/checks/c1/events?token=ab%2Bc&x HTTP/1.1\r\nHost: 127.0.0.1:47077\r\nOrigin: http://app.example\r\n\r\n",
        )
        .unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/api/v1/checks/c1/events");
        assert_eq!(request.query["token"], "ab+c");
        assert_eq!(request.query["x"], "");
        assert_eq!(request.header("host"), Some("127.0.0.1:47077"));
        assert_eq!(request.header("origin"), Some("http://app.example"));
    }

    #[test]
    fn garbage_is_a_400() {
        assert_eq!(parse_head(b"\x16\x03\x01\r\n\r\n").unwrap_err().status, 400);
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%20b%zz%"), "a b%zz%");
        assert_eq!(percent_decode("%41"), "A");
        assert_eq!(percent_decode("%é%4"), "%é%4");
    }
}
