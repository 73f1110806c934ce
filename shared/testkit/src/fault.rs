//! A fault-injecting HTTP/1.1 proxy: sits in front of an emulator or a local server and, by
//! rule, answers with throttling or 5xx, delays, or drops the connection; everything else is
//! forwarded. It counts requests and bytes, for the benchmarks and for retry assertions.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What to do to a matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, headers and body instead of forwarding.
    Status {
        /// Status code (429, 503, ...).
        status: u16,
        /// Extra headers (`Retry-After`, ...).
        headers: Vec<(String, String)>,
        /// Body (an AWS error document, ...).
        body: String,
    },
    /// Wait, then forward.
    Delay(Duration),
    /// Close the connection without answering.
    Drop,
    /// Hold the request until the test opens the gate, then forward it: a request slowed
    /// exactly across what the test does meanwhile.
    Hold(Gate),
}

/// A gate a held request waits at: the test learns when the request arrived, acts, and opens.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    arrived: Arc<tokio::sync::Notify>,
    open: Arc<tokio::sync::Notify>,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Waits until a request is held at the gate.
    pub async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// Lets the held request through.
    pub fn open(&self) {
        self.open.notify_one();
    }
}

impl Fault {
    /// `429 Too Many Requests` with a `Retry-After` in seconds.
    pub fn too_many_requests(retry_after_secs: u32) -> Fault {
        Fault::Status {
            status: 429,
            headers: vec![("Retry-After".into(), retry_after_secs.to_string())],
            body: "rate limited".into(),
        }
    }

    /// `503 Service Unavailable`.
    pub fn unavailable() -> Fault {
        Fault::Status {
            status: 503,
            headers: vec![],
            body: "service unavailable".into(),
        }
    }

    /// AWS's JSON-protocol throttling error.
    pub fn aws_throttling() -> Fault {
        Fault::Status {
            status: 400,
            headers: vec![
                ("x-amzn-ErrorType".into(), "ThrottlingException".into()),
                ("Content-Type".into(), "application/x-amz-json-1.1".into()),
            ],
            body: r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
        }
    }

    /// AWS's query-protocol (RDS, SNS) throttling error.
    pub fn aws_query_throttling() -> Fault {
        Fault::Status {
            status: 400,
            headers: vec![("Content-Type".into(), "text/xml".into())],
            body: "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>".into(),
        }
    }
}

#[derive(Debug)]
struct Rule {
    needle: String,
    remaining: u32,
    fault: Fault,
}

/// Request and byte counts seen by the proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Requests received.
    pub requests: u64,
    /// Requests answered with a fault (or dropped).
    pub faulted: u64,
    /// Request body bytes received.
    pub bytes_up: u64,
    /// Response body bytes sent back.
    pub bytes_down: u64,
    /// `METHOD path` of requests refused for lacking the required header (see
    /// [`FaultProxy::require_header`]).
    pub denied: Vec<String>,
}

/// The proxy; it runs until the test's runtime ends.
#[derive(Clone)]
pub struct FaultProxy {
    addr: SocketAddr,
    rules: Arc<Mutex<Vec<Rule>>>,
    stats: Arc<Mutex<ProxyStats>>,
    required: Arc<Mutex<Option<(String, String)>>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://host:port`) on a free loopback port.
    pub async fn start(upstream: &str) -> Self {
        Self::start_on(upstream, 0).await
    }

    /// Starts a proxy to `upstream` on loopback `port` (0: any free port).
    pub async fn start_on(upstream: &str, port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let stats: Arc<Mutex<ProxyStats>> = Arc::default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let required: Arc<Mutex<Option<(String, String)>>> = Arc::default();
        let (r, s, q) = (rules.clone(), stats.clone(), required.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (r, s, q, c) = (r.clone(), s.clone(), q.clone(), client.clone());
                let ends = (upstream.clone(), format!("http://{addr}"));
                tokio::spawn(async move {
                    let _ = serve(sock, r, s, q, c, ends).await;
                });
            }
        });
        FaultProxy {
            addr,
            rules,
            stats,
            required,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies `fault` to the next `times` requests whose `METHOD path?query` contains `needle`
    /// (an empty needle matches every request).
    pub fn inject(&self, needle: &str, times: u32, fault: Fault) {
        self.rules.lock().unwrap().push(Rule {
            needle: needle.into(),
            remaining: times,
            fault,
        });
    }

    /// Refuses (401, as Google's APIs do) every request whose header `name` is not exactly
    /// `value`, and records it in [`ProxyStats::denied`]: a cloud that checks credentials.
    pub fn require_header(&self, name: &str, value: &str) {
        *self.required.lock().unwrap() = Some((name.to_owned(), value.to_owned()));
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    /// Counts so far.
    pub fn stats(&self) -> ProxyStats {
        self.stats.lock().unwrap().clone()
    }
}

async fn serve(
    sock: TcpStream,
    rules: Arc<Mutex<Vec<Rule>>>,
    stats: Arc<Mutex<ProxyStats>>,
    required: Arc<Mutex<Option<(String, String)>>>,
    client: reqwest::Client,
    (upstream, own): (String, String),
) -> std::io::Result<()> {
    let mut reader = BufReader::new(sock);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(target)) = (
            parts.next().map(str::to_owned),
            parts.next().map(str::to_owned),
        ) else {
            return Ok(());
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).await?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).await?;
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                    .unwrap_or(0);
                let mut chunk = vec![0; n + 2];
                reader.read_exact(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            body.resize(n, 0);
            reader.read_exact(&mut body).await?;
        }
        let refused = required
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|(name, value)| get(name).as_deref() != Some(value.as_str()));
        let fault = {
            let mut st = stats.lock().unwrap();
            st.requests += 1;
            st.bytes_up += body.len() as u64;
            let key = format!("{method} {target}");
            if refused {
                st.faulted += 1;
                st.denied.push(key.clone());
            }
            let mut rules = rules.lock().unwrap();
            let hit = rules
                .iter_mut()
                .find(|r| r.remaining > 0 && key.contains(&r.needle))
                .map(|r| {
                    r.remaining -= 1;
                    r.fault.clone()
                });
            if matches!(hit, Some(Fault::Status { .. } | Fault::Drop)) {
                st.faulted += 1;
            }
            if refused {
                Some(Fault::Status {
                    status: 401,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: r#"{"error":{"code":401,"message":"Request is missing required authentication credential."}}"#.into(),
                })
            } else {
                hit
            }
        };
        let sock = reader.get_mut();
        let (status, resp_headers, resp_body) = match fault {
            Some(Fault::Drop) => return Ok(()),
            Some(Fault::Status {
                status,
                headers,
                body,
            }) => (status, headers, body.into_bytes()),
            other => {
                match other {
                    Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
                    Some(Fault::Hold(gate)) => {
                        gate.arrived.notify_one();
                        gate.open.notified().await;
                    }
                    _ => {}
                }
                let m =
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
                let mut req = client.request(m, format!("{upstream}{target}"));
                for (k, v) in &headers {
                    if !matches!(
                        k.to_ascii_lowercase().as_str(),
                        "host"
                            | "connection"
                            | "content-length"
                            | "transfer-encoding"
                            | "keep-alive"
                    ) {
                        req = req.header(k.as_str(), v.as_str());
                    }
                }
                match req.body(body).send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let hs: Vec<(String, String)> = resp
                            .headers()
                            .iter()
                            .filter(|(k, _)| {
                                !matches!(
                                    k.as_str(),
                                    "connection" | "transfer-encoding" | "keep-alive"
                                ) && (k.as_str() != "content-length" || method == "HEAD")
                            })
                            .map(|(k, v)| {
                                let v = v.to_str().unwrap_or("");
                                // A redirect or an upload session points back through the proxy.
                                let v = if k.as_str() == "location" {
                                    v.replace(&upstream, &own)
                                } else {
                                    v.to_owned()
                                };
                                (k.as_str().to_owned(), v)
                            })
                            .collect();
                        let b = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                        (status, hs, b)
                    }
                    Err(e) => (
                        502,
                        vec![],
                        format!("proxy: upstream failed: {e}").into_bytes(),
                    ),
                }
            }
        };
        stats.lock().unwrap().bytes_down += resp_body.len() as u64;
        let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (k, v) in &resp_headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if method != "HEAD" {
            out.push_str(&format!("content-length: {}\r\n", resp_body.len()));
        }
        out.push_str("\r\n");
        sock.write_all(out.as_bytes()).await?;
        if method != "HEAD" {
            sock.write_all(&resp_body).await?;
        }
        sock.flush().await?;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        412 => "Precondition Failed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
