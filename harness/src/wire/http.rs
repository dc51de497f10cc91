//! The little HTTP/1.1 that MTA-STS needs (RFC 8461 §3.3): one GET over TLS and its
//! answer, for the reference client that fetches a policy and for the fake policy host
//! that serves one. Heads are parsed by `httparse`; bodies are a `Content-Length` or
//! everything up to the close. Nothing else (no redirects, no chunking, no keep-alive):
//! RFC 8461 §3.3 forbids following redirects, and a policy is a small static file.

use std::time::{Duration, Instant};

use super::{Conn, ConnError};

/// The most a head may take; more is an error, not a wait.
pub const HEAD_CAP: usize = 8 * 1024;

/// Why an HTTP exchange failed, in words for a transcript.
#[derive(Debug)]
pub struct HttpError(pub String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ConnError> for HttpError {
    fn from(e: ConnError) -> Self {
        Self(e.to_string())
    }
}

/// An answer as the client read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`, if given.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// A request as the server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, or whatever came.
    pub method: String,
    /// The request target.
    pub path: String,
    /// The `Host` header, if given.
    pub host: Option<String>,
}

/// Ask `conn` (already in TLS) for `path` at `host`, and read the answer within
/// `limit`, its body at most `max_body` octets (more is an error: RFC 8461 §3.3 lets a
/// sender cap a policy's size).
pub async fn get(
    conn: &mut Conn,
    host: &str,
    path: &str,
    limit: Duration,
    max_body: usize,
) -> Result<Response, HttpError> {
    // HTTP/1.0, so that no server answers with a chunked body (RFC 9112 §6.1: not
    // to a 1.0 client), which this reader does not take; Host still names the site.
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: smtpspec\r\nConnection: close\r\n\r\n"
    );
    conn.send(request.as_bytes(), limit).await?;
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut head = httparse::Response::new(&mut headers);
        match head.parse(&got) {
            Ok(httparse::Status::Complete(at)) => {
                let status = head.code.unwrap_or(0);
                let length = header(head.headers, "content-length")
                    .map(|v| {
                        v.trim()
                            .parse::<usize>()
                            .map_err(|_| HttpError(format!("Content-Length {v:?}")))
                    })
                    .transpose()?;
                if header(head.headers, "transfer-encoding").is_some() {
                    return Err(HttpError(
                        "the answer is sent with a Transfer-Encoding, which a policy fetch \
                         does not take"
                            .into(),
                    ));
                }
                let content_type = header(head.headers, "content-type");
                let body = read_body(conn, got.split_off(at), length, deadline, max_body).await?;
                return Ok(Response {
                    status,
                    content_type,
                    body,
                });
            }
            Ok(httparse::Status::Partial) if got.len() < HEAD_CAP => {}
            Ok(httparse::Status::Partial) => {
                return Err(HttpError(format!(
                    "no end of head within {HEAD_CAP} octets"
                )));
            }
            Err(e) => return Err(HttpError(format!("the answer's head: {e}"))),
        }
        let more = read(conn, deadline).await?;
        if more.is_empty() {
            return Err(HttpError("closed before the answer's head ended".into()));
        }
        got.extend_from_slice(&more);
    }
}

/// Read one request's head from `conn` within `limit`.
pub async fn request(conn: &mut Conn, limit: Duration) -> Result<Request, HttpError> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    loop {
        let more = read(conn, deadline).await?;
        if more.is_empty() {
            return Err(HttpError("closed before the request's head ended".into()));
        }
        got.extend_from_slice(&more);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut head = httparse::Request::new(&mut headers);
        match head.parse(&got) {
            Ok(httparse::Status::Complete(_)) => {
                return Ok(Request {
                    method: head.method.unwrap_or_default().to_string(),
                    path: head.path.unwrap_or_default().to_string(),
                    host: header(head.headers, "host"),
                });
            }
            Ok(httparse::Status::Partial) if got.len() < HEAD_CAP => {}
            Ok(httparse::Status::Partial) => {
                return Err(HttpError(format!(
                    "no end of head within {HEAD_CAP} octets"
                )));
            }
            Err(e) => return Err(HttpError(format!("the request's head: {e}"))),
        }
    }
}

/// Answer with `status` and a `text/plain` body, then close.
pub async fn respond(
    conn: &mut Conn,
    status: u16,
    body: &[u8],
    limit: Duration,
) -> Result<(), HttpError> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Status",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    conn.send(&out, limit).await?;
    conn.shutdown(limit).await;
    Ok(())
}

fn header(headers: &[httparse::Header<'_>], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(h.value).into_owned())
}

async fn read(conn: &mut Conn, deadline: Instant) -> Result<Vec<u8>, HttpError> {
    let left = deadline.saturating_duration_since(Instant::now());
    match conn.read_raw(left).await {
        Ok(bytes) => Ok(bytes),
        // A TLS peer that closes without close_notify: the end, as far as a body
        // delimited by the close goes.
        Err(ConnError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

async fn read_body(
    conn: &mut Conn,
    mut body: Vec<u8>,
    length: Option<usize>,
    deadline: Instant,
    max_body: usize,
) -> Result<Vec<u8>, HttpError> {
    if length.is_some_and(|n| n > max_body) {
        return Err(HttpError(format!(
            "the body is longer than {max_body} octets"
        )));
    }
    loop {
        if let Some(n) = length
            && body.len() >= n
        {
            body.truncate(n);
            return Ok(body);
        }
        if body.len() > max_body {
            return Err(HttpError(format!(
                "the body is longer than {max_body} octets"
            )));
        }
        let more = read(conn, deadline).await?;
        if more.is_empty() {
            return match length {
                Some(n) => Err(HttpError(format!(
                    "closed after {} of {n} octets of the body",
                    body.len()
                ))),
                None => Ok(body),
            };
        }
        body.extend_from_slice(&more);
    }
}
