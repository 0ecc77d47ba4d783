//! The web benchmark's load generator: one keep-alive HTTP/1.1 connection per
//! worker, each request written as bytes prepared up front.
//!
//! The generator shares the two cores with the server it measures, so its own
//! CPU is taken from the server. Through reqwest (a connection pool, a cookie
//! jar consulted and parsed per request, form encoding) it took about 28 % of
//! the benchmark process in a profile; like wrk, this one only writes a
//! request and reads the status line, the headers and a body of known length
//! (or chunked), and gives the server the rest.

use anyhow::{Context, bail, ensure};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A request for [`Connection::send`]: its method, path, cookie and form body.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The `Cookie` header's value (the session), if any.
    pub cookie: Option<&'a str>,
    /// An `application/x-www-form-urlencoded` body, already encoded.
    pub form: Option<&'a str>,
}

/// One keep-alive connection to the server.
pub struct Connection {
    address: String,
    stream: Option<BufReader<TcpStream>>,
    out: Vec<u8>,
    line: String,
}

impl Connection {
    /// A connection to `address` (`host:port`), opened at the first request.
    pub fn new(address: &str) -> Self {
        Connection { address: address.to_owned(), stream: None, out: Vec::new(), line: String::new() }
    }

    /// Sends `request` and reads the whole response; returns its status code.
    /// The connection is opened again when the server closed it.
    pub async fn send(&mut self, request: &Request<'_>) -> anyhow::Result<u16> {
        self.out.clear();
        let out = &mut self.out;
        out.extend_from_slice(request.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(request.path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(self.address.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(cookie) = request.cookie {
            out.extend_from_slice(b"Cookie: ");
            out.extend_from_slice(cookie.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(form) = request.form {
            out.extend_from_slice(b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ");
            out.extend_from_slice(form.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(form.as_bytes());
        } else {
            out.extend_from_slice(b"\r\n");
        }
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(&self.address).await.context("connecting")?;
                stream.set_nodelay(true)?;
                self.stream.insert(BufReader::new(stream))
            }
        };
        stream.get_mut().write_all(&self.out).await.context("writing the request")?;
        let (status, keep_alive) = read_response(stream, &mut self.line).await?;
        if !keep_alive {
            self.stream = None;
        }
        Ok(status)
    }
}

/// Reads one response, discarding its body; returns its status and whether
/// the connection stays open.
async fn read_response(stream: &mut BufReader<TcpStream>, line: &mut String) -> anyhow::Result<(u16, bool)> {
    line.clear();
    stream.read_line(line).await?;
    // "HTTP/1.1 200 OK"
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP status line: {line:?}"))?;
    let mut length = 0_usize;
    let mut chunked = false;
    let mut keep_alive = true;
    loop {
        line.clear();
        ensure!(stream.read_line(line).await? > 0, "the server closed the connection in the headers");
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else { bail!("not a header: {header:?}") };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().with_context(|| format!("content-length {value:?}"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    if chunked {
        loop {
            line.clear();
            stream.read_line(line).await?;
            let size = line.trim_end().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size, 16).with_context(|| format!("chunk size {size:?}"))?;
            // The chunk and its CRLF; the last chunk (0) is followed by an empty line.
            skip(stream, size + 2).await?;
            if size == 0 {
                break;
            }
        }
    } else {
        skip(stream, length).await?;
    }
    Ok((status, keep_alive))
}

async fn skip(stream: &mut BufReader<TcpStream>, mut bytes: usize) -> anyhow::Result<()> {
    while bytes > 0 {
        let buffered = stream.fill_buf().await?;
        ensure!(!buffered.is_empty(), "the server closed the connection in the body");
        let take = buffered.len().min(bytes);
        stream.consume(take);
        bytes -= take;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A server on loopback answering with a known length, then chunked,
    /// then closing: the connection reads each whole response and reconnects.
    #[tokio::test]
    async fn reads_whole_responses_and_reconnects() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let answers: [&[u8]; 3] = [
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
                b"HTTP/1.1 303 See Other\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ];
            let mut requests = Vec::new();
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut reader = BufReader::new(&mut socket);
            for answer in answers {
                let mut request = String::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).await.unwrap();
                    request.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                if let Some(length) = request.lines().find_map(|l| l.strip_prefix("Content-Length: ")) {
                    let mut body = vec![0; length.trim().parse().unwrap()];
                    reader.read_exact(&mut body).await.unwrap();
                    request.push_str(std::str::from_utf8(&body).unwrap());
                }
                requests.push(request);
                reader.get_mut().write_all(answer).await.unwrap();
            }
            // The client opens a new connection after "Connection: close".
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut line = String::new();
            BufReader::new(&mut socket).read_line(&mut line).await.unwrap();
            socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await.unwrap();
            requests.push(line);
            requests
        });
        let mut connection = Connection::new(&address);
        let get = Request { method: "GET", path: "/inbox", cookie: Some("s=1"), form: None };
        let post = Request { method: "POST", path: "/t", cookie: None, form: Some("a=1&b=x+y") };
        assert_eq!(connection.send(&get).await.unwrap(), 200);
        assert_eq!(connection.send(&post).await.unwrap(), 303);
        assert_eq!(connection.send(&get).await.unwrap(), 404);
        assert_eq!(connection.send(&get).await.unwrap(), 200);
        let requests = server.await.unwrap();
        assert!(requests[0].starts_with("GET /inbox HTTP/1.1\r\n"), "{}", requests[0]);
        assert!(requests[0].contains("\r\nCookie: s=1\r\n"));
        assert!(requests[1].starts_with("POST /t HTTP/1.1\r\n"));
        assert!(requests[1].ends_with("\r\n\r\na=1&b=x+y"), "{}", requests[1]);
        assert_eq!(requests[3], "GET /inbox HTTP/1.1\r\n");
    }
}
