//! Test harness: a real `moto_server` per test on a free loopback port, and
//! a fault-injecting EC2 proxy in front of it.
//!
//! The proxy speaks the EC2 Query protocol on real HTTP connections. It can
//! answer chosen actions with EC2 XML errors (throttling, 5xx, quota), make
//! snapshots look `pending` with a progress or `error` with a message,
//! enforce `MaxResults`/`NextToken` paging on DescribeSnapshots (moto returns
//! everything in one page), and serve the Fast Snapshot Restore actions that
//! moto does not implement, in EC2's response shapes.
//!
//! Two modes imitate EC2 behaviour moto does not have:
//! - eventual consistency ([`FaultProxy::not_found_after_create`]): the
//!   first DescribeSnapshots naming a snapshot that CreateSnapshot or
//!   CopySnapshot just returned answer `InvalidSnapshot.NotFound`, as EC2
//!   may ("Eventual consistency in the Amazon EC2 API", EC2 API Reference);
//! - a call that reaches EC2 but whose answer is lost
//!   ([`FaultProxy::fail_after_forward`]): the request is forwarded to moto,
//!   then answered with an error, as when a connection drops after EC2
//!   acted.
//!
//! DescribeVolumeStatus is not implemented by moto (5.x answers "not yet
//! implemented"), so the proxy serves it: for each `VolumeId.N` that moto
//! knows it answers a `volumeStatusSet` item in EC2's shape, with the
//! `initializationStatusDetails` (`initializationType`, `progress`,
//! `estimatedTimeToCompleteInSeconds`) set by
//! [`FaultProxy::volume_initialization`], and an unknown volume with
//! `InvalidVolume.NotFound`.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use golden_aws::EbsProvider;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// The Region every test works in (moto's default account lives everywhere).
pub(crate) const REGION: &str = "us-east-1";

// ---------------------------------------------------------------------------
// moto_server

/// How to start moto on this machine, resolved once per test binary.
fn moto_command() -> &'static Vec<String> {
    static CMD: OnceLock<Vec<String>> = OnceLock::new();
    CMD.get_or_init(|| {
        if let Some(bin) = find_on_path("moto_server") {
            return vec![bin.display().to_string()];
        }
        let python = find_on_path("python3")
            .or_else(|| find_on_path("python"))
            .unwrap_or_else(|| {
                panic!(
                    "moto is needed for the golden-aws tests and no python3 was found; install \
                     Python 3 and then `python3 -m pip install 'moto[server]'`"
                )
            });
        let py = python.display().to_string();
        let has_moto = || {
            Command::new(&py)
                .args(["-c", "import moto.server"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !has_moto() {
            eprintln!("moto is not installed; running `{py} -m pip install 'moto[server]'`");
            let _ = Command::new(&py)
                .args(["-m", "pip", "install", "--quiet", "moto[server]"])
                .status();
            assert!(
                has_moto(),
                "moto is needed for the golden-aws tests and could not be installed \
                 automatically; run `python3 -m pip install 'moto[server]'`"
            );
        }
        vec![py, "-m".into(), "moto.server".into()]
    })
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a loopback port")
        .local_addr()
        .unwrap()
        .port()
}

/// A `moto_server` process of this test, killed on drop.
pub(crate) struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) endpoint: String,
    addr: String,
    log: PathBuf,
}

impl MotoServer {
    /// Starts moto on a free loopback port and waits until it answers.
    pub(crate) fn start() -> MotoServer {
        let cmd = moto_command();
        for _attempt in 0..3 {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let log = std::env::temp_dir().join(format!("golden-aws-moto-{port}.log"));
            let out = std::fs::File::create(&log).expect("create the moto log file");
            let child = Command::new(&cmd[0])
                .args(&cmd[1..])
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "could not start {cmd:?}: {e}; install moto with \
                         `python3 -m pip install 'moto[server]'`"
                    )
                });
            let mut server = MotoServer {
                child,
                endpoint: format!("http://{addr}"),
                addr,
                log,
            };
            if server.wait_ready() {
                return server;
            }
        }
        panic!("moto_server ({cmd:?}) did not come up on a loopback port three times");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                if log.contains("Address already in use") {
                    return false;
                }
                panic!("moto_server exited with {status} before answering:\n{log}");
            }
            if self.post_reset().is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "moto_server did not answer on {} within 30 s; log: {}",
            self.endpoint,
            self.log.display()
        );
    }

    fn post_reset(&self) -> std::io::Result<()> {
        let mut s = TcpStream::connect(&self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "POST /moto-api/reset HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr
        )?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        if resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200") {
            Ok(())
        } else {
            Err(std::io::Error::other(resp))
        }
    }

    /// Forgets every resource (POST /moto-api/reset).
    pub(crate) fn reset(&self) {
        self.post_reset().expect("reset moto");
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

// ---------------------------------------------------------------------------
// providers and fixtures

/// A provider for `endpoint` with static test credentials, fast SDK retries
/// (4 attempts, 5-40 ms backoff) and fast polling.
pub(crate) async fn provider(endpoint: &str) -> EbsProvider {
    provider_with(endpoint, |b| b).await
}

/// [`provider`] with extra builder settings.
pub(crate) async fn provider_with(
    endpoint: &str,
    f: impl FnOnce(golden_aws::EbsBuilder) -> golden_aws::EbsBuilder,
) -> EbsProvider {
    let b = EbsProvider::builder()
        .with_region(REGION)
        .with_endpoint(endpoint)
        .with_static_credentials("testing", "testing")
        .with_retry_config(
            aws_sdk_ec2::config::retry::RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(5))
                .with_max_backoff(Duration::from_millis(40)),
        )
        .with_poll_intervals(Duration::from_millis(5), Duration::from_millis(20))
        .with_wait_timeout(Duration::from_secs(20));
    f(b).build().await.expect("build the EBS provider")
}

/// Creates a volume of `gib` GiB in `zone` with `tags`; returns its id.
pub(crate) async fn create_volume(
    p: &EbsProvider,
    zone: &str,
    gib: i32,
    tags: &[(&str, &str)],
) -> String {
    create_volume_with(p, zone, gib, tags, None).await
}

/// [`create_volume`], encrypted with `kms_key` when given.
pub(crate) async fn create_volume_with(
    p: &EbsProvider,
    zone: &str,
    gib: i32,
    tags: &[(&str, &str)],
    kms_key: Option<&str>,
) -> String {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification, VolumeType};
    let mut req = p
        .client()
        .create_volume()
        .availability_zone(zone)
        .size(gib)
        .volume_type(VolumeType::Gp3);
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Volume);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        req = req.tag_specifications(spec.build());
    }
    if let Some(k) = kms_key {
        req = req.encrypted(true).kms_key_id(k);
    }
    req.send()
        .await
        .expect("create a test volume")
        .volume_id()
        .expect("volume id")
        .to_string()
}

// ---------------------------------------------------------------------------
// the fault-injecting EC2 proxy

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// The EC2 action.
    pub(crate) action: String,
    /// Every form parameter, decoded.
    pub(crate) params: Vec<(String, String)>,
    /// The HTTP status returned.
    pub(crate) status: u16,
}

impl Seen {
    /// The first value of parameter `name`.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a snapshot should look in the next DescribeSnapshots answer.
#[derive(Debug, Clone)]
pub(crate) struct Look {
    state: &'static str,
    progress: String,
    message: Option<String>,
}

impl Look {
    /// `pending` at `percent`.
    pub(crate) fn pending(percent: u8) -> Look {
        Look {
            state: "pending",
            progress: format!("{percent}%"),
            message: None,
        }
    }

    /// `error` with EC2's state message.
    pub(crate) fn error(message: &str) -> Look {
        Look {
            state: "error",
            progress: "0%".into(),
            message: Some(message.into()),
        }
    }
}

#[derive(Debug)]
struct Fault {
    action: String,
    remaining: u32,
    status: u16,
    code: String,
    message: String,
}

#[derive(Debug)]
struct Delay {
    action: String,
    remaining: u32,
    by: Duration,
}

/// What DescribeVolumeStatus reports for one volume's initialization.
#[derive(Debug, Clone)]
pub(crate) struct Init {
    /// `default`, `provisioned-rate` or `volume-copy`.
    pub(crate) kind: &'static str,
    /// Percent done.
    pub(crate) progress: u8,
    /// Seconds left, when EC2 reports it (provisioned rate only).
    pub(crate) eta_seconds: Option<u64>,
}

#[derive(Debug, Default)]
struct ProxyState {
    faults: Vec<Fault>,
    /// Faults answered after the request was forwarded.
    late_faults: Vec<Fault>,
    /// NotFound answers each new snapshot gets before it is visible.
    not_found_reads: u32,
    /// Snapshot id -> NotFound answers left.
    hidden: HashMap<String, u32>,
    /// Volume id -> its initialization.
    inits: HashMap<String, Init>,
    delays: Vec<Delay>,
    looks: HashMap<String, VecDeque<Look>>,
    pending_on_create: bool,
    /// (snapshot, zone) -> FSR state.
    fsr: BTreeMap<(String, String), String>,
    log: Vec<Seen>,
}

type Shared = Arc<(String, Mutex<ProxyState>)>;

/// An EC2 proxy on a free loopback port in front of `upstream` (moto).
pub(crate) struct FaultProxy {
    /// `http://127.0.0.1:<port>`.
    pub(crate) endpoint: String,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (`host:port`).
    pub(crate) async fn start(upstream: &str) -> FaultProxy {
        let state: Shared = Arc::new((upstream.to_string(), Mutex::new(ProxyState::default())));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("proxy serves");
        });
        FaultProxy {
            endpoint,
            state,
            task,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProxyState> {
        self.state.1.lock().unwrap()
    }

    /// Answers the next `times` calls of `action` with an EC2 XML error.
    pub(crate) fn fail(&self, action: &str, times: u32, status: u16, code: &str, message: &str) {
        self.lock().faults.push(Fault {
            action: action.into(),
            remaining: times,
            status,
            code: code.into(),
            message: message.into(),
        });
    }

    /// Holds the next `times` calls of `action` for `by` before answering.
    pub(crate) fn delay(&self, action: &str, times: u32, by: Duration) {
        self.lock().delays.push(Delay {
            action: action.into(),
            remaining: times,
            by,
        });
    }

    /// The next DescribeSnapshots answers show snapshot `id` as `looks`, one
    /// per answer; after that, as moto has it.
    pub(crate) fn script(&self, id: &str, looks: Vec<Look>) {
        self.lock().looks.insert(id.into(), looks.into());
    }

    /// CreateSnapshot answers show the new snapshot `pending` at 0%, as EC2 does.
    pub(crate) fn pending_on_create(&self) {
        self.lock().pending_on_create = true;
    }

    /// Eventual consistency: the first `reads` DescribeSnapshots naming a
    /// snapshot that CreateSnapshot or CopySnapshot returned from now on
    /// answer `InvalidSnapshot.NotFound`.
    pub(crate) fn not_found_after_create(&self, reads: u32) {
        self.lock().not_found_reads = reads;
    }

    /// Forwards the next `times` calls of `action` to moto (which acts on
    /// them), then answers them with an EC2 XML error: the answer is lost.
    pub(crate) fn fail_after_forward(
        &self,
        action: &str,
        times: u32,
        status: u16,
        code: &str,
        message: &str,
    ) {
        self.lock().late_faults.push(Fault {
            action: action.into(),
            remaining: times,
            status,
            code: code.into(),
            message: message.into(),
        });
    }

    /// DescribeVolumeStatus reports `init` for `volume`.
    pub(crate) fn volume_initialization(&self, volume: &str, init: Init) {
        self.lock().inits.insert(volume.into(), init);
    }

    /// Every request of `action` seen so far.
    pub(crate) fn seen(&self, action: &str) -> Vec<Seen> {
        self.lock()
            .log
            .iter()
            .filter(|s| s.action == action)
            .cloned()
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn xml(status: u16, body: String) -> Response {
    let mut r = (StatusCode::from_u16(status).unwrap(), body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    r
}

/// EC2's error body (the shape every EC2 Query error has).
pub(crate) fn ec2_error_body(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors>\
         <RequestID>9c1b9a4e-4a3e-4b8e-9d43-1c5e8f0f2a11</RequestID></Response>"
    )
}

async fn handle(State(state): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .expect("read request body");
    let params = parse_form(&body);
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    // Logged on arrival, so a request whose client gave up still counts.
    let (index, delay) = {
        let mut st = state.1.lock().unwrap();
        st.log.push(Seen {
            action: action.clone(),
            params: params.clone(),
            status: 0,
        });
        let delay = st
            .delays
            .iter_mut()
            .find(|d| d.action == action && d.remaining > 0)
            .map(|d| {
                d.remaining -= 1;
                d.by
            });
        (st.log.len() - 1, delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let (status, out) = respond(&state, &parts, &body, &action, &params).await;
    state.1.lock().unwrap().log[index].status = status;
    out
}

async fn respond(
    state: &Shared,
    parts: &axum::http::request::Parts,
    body: &Bytes,
    action: &str,
    params: &[(String, String)],
) -> (u16, Response) {
    let fault = {
        let mut st = state.1.lock().unwrap();
        st.faults
            .iter_mut()
            .find(|f| f.action == action && f.remaining > 0)
            .map(|f| {
                f.remaining -= 1;
                (f.status, ec2_error_body(&f.code, &f.message))
            })
    };
    if let Some((status, body)) = fault {
        return (status, xml(status, body));
    }
    match action {
        "EnableFastSnapshotRestores"
        | "DisableFastSnapshotRestores"
        | "DescribeFastSnapshotRestores" => {
            let (status, body) = fsr(state, parts, action, params).await;
            return (status, xml(status, body));
        }
        "DescribeVolumeStatus" => {
            let (status, body) = volume_status(state, parts, params).await;
            return (status, xml(status, body));
        }
        "DescribeSnapshots" => {
            if let Some(body) = hidden_snapshot(state, params) {
                return (400, xml(400, body));
            }
        }
        _ => {}
    }
    let page = (action == "DescribeSnapshots")
        .then(|| {
            let max: usize = get(params, "MaxResults")?.parse().ok()?;
            let from: usize = get(params, "NextToken").map_or(0, |t| t.parse().unwrap_or(0));
            Some((from, max))
        })
        .flatten();
    let forwarded = if page.is_some() {
        strip_params(body, &["MaxResults", "NextToken"])
    } else {
        body.clone()
    };
    let (status, mut text) = forward(&state.0, parts, forwarded).await;
    let late = {
        let mut st = state.1.lock().unwrap();
        st.late_faults
            .iter_mut()
            .find(|f| f.action == action && f.remaining > 0)
            .map(|f| {
                f.remaining -= 1;
                (f.status, ec2_error_body(&f.code, &f.message))
            })
    };
    if let Some((status, body)) = late {
        return (status, xml(status, body));
    }
    if status == 200 && matches!(action, "CreateSnapshot" | "CopySnapshot") {
        let mut st = state.1.lock().unwrap();
        if st.not_found_reads > 0
            && let Some(id) = tag_text(&text, "snapshotId")
        {
            let n = st.not_found_reads;
            st.hidden.insert(id.to_string(), n);
        }
    }
    if status == 200 {
        let mut st = state.1.lock().unwrap();
        if action == "DescribeSnapshots" {
            text = rewrite_snapshot_set(&text, &mut st.looks, page);
        } else if action == "CreateSnapshot" && st.pending_on_create {
            text = text
                .replacen("<status>completed</status>", "<status>pending</status>", 1)
                .replacen("<progress>100%</progress>", "<progress>0%</progress>", 1);
        }
    }
    (status, xml(status, text))
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn values<'a>(params: &'a [(String, String)], prefix: &str) -> Vec<&'a str> {
    params
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
        .map(|(_, v)| v.as_str())
        .collect()
}

async fn forward(upstream: &str, parts: &axum::http::request::Parts, body: Bytes) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(upstream)
        .await
        .expect("connect to moto");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake with moto");
    tokio::spawn(conn);
    let mut b = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    for (k, v) in &parts.headers {
        if k != header::HOST && k != header::CONTENT_LENGTH && k != header::TRANSFER_ENCODING {
            b = b.header(k, v);
        }
    }
    let req = b
        .header(header::HOST, upstream)
        .body(Full::new(body))
        .unwrap();
    let resp = sender.send_request(req).await.expect("moto answers");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Splits the top-level `<item>...</item>` elements of an XML list body.
fn top_level_items(list: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    let mut i = 0usize;
    while i < list.len() {
        let rest = &list[i..];
        if rest.starts_with("<item>") {
            if depth == 0 {
                start = i;
            }
            depth += 1;
            i += "<item>".len();
        } else if rest.starts_with("</item>") {
            depth -= 1;
            i += "</item>".len();
            if depth == 0 {
                items.push(&list[start..i]);
            }
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    items
}

fn tag_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let s = xml.find(&open)? + open.len();
    let e = s + xml[s..].find(&close)?;
    Some(&xml[s..e])
}

fn replace_tag(xml: &str, tag: &str, value: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    match (xml.find(&open), xml.find(&close)) {
        (Some(s), Some(e)) => format!("{}{open}{value}{}", &xml[..s], &xml[e..]),
        _ => xml.to_string(),
    }
}

fn rewrite_snapshot_set(
    body: &str,
    looks: &mut HashMap<String, VecDeque<Look>>,
    page: Option<(usize, usize)>,
) -> String {
    let (head, list, tail) = if let Some(s) = body.find("<snapshotSet>") {
        let inner = s + "<snapshotSet>".len();
        let e = inner + body[inner..].find("</snapshotSet>").expect("closed set");
        (
            &body[..s],
            &body[inner..e],
            &body[e + "</snapshotSet>".len()..],
        )
    } else if let Some(s) = body.find("<snapshotSet/>") {
        (&body[..s], "", &body[s + "<snapshotSet/>".len()..])
    } else {
        return body.to_string();
    };
    let all = top_level_items(list);
    let (items, next) = match page {
        Some((from, max)) => {
            let end = (from + max).min(all.len());
            let next = (end < all.len()).then_some(end);
            (all[from.min(all.len())..end].to_vec(), next)
        }
        None => (all, None),
    };
    let mut out = String::from(head);
    out.push_str("<snapshotSet>");
    for item in items {
        let id = tag_text(item, "snapshotId").unwrap_or("").to_string();
        let look = looks.get_mut(&id).and_then(VecDeque::pop_front);
        match look {
            Some(l) => {
                let mut it = replace_tag(item, "status", l.state);
                it = replace_tag(&it, "progress", &l.progress);
                if let Some(m) = &l.message {
                    it = it.replacen(
                        "</status>",
                        &format!("</status><statusMessage>{m}</statusMessage>"),
                        1,
                    );
                }
                out.push_str(&it);
            }
            None => out.push_str(item),
        }
    }
    out.push_str("</snapshotSet>");
    if let Some(n) = next {
        out.push_str(&format!("<nextToken>{n}</nextToken>"));
    }
    out.push_str(tail);
    out
}

async fn fsr(
    state: &Shared,
    parts: &axum::http::request::Parts,
    action: &str,
    params: &[(String, String)],
) -> (u16, String) {
    let ns = "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"";
    let request_id = "<requestId>3f4b6c2e-8f0a-4a57-9a3c-2b1d0e9f7c65</requestId>";
    if action == "DescribeFastSnapshotRestores" {
        let filter_ids: Vec<String> = (1..=10)
            .filter(|i| get(params, &format!("Filter.{i}.Name")) == Some("snapshot-id"))
            .flat_map(|i| values(params, &format!("Filter.{i}.Value")))
            .map(str::to_string)
            .collect();
        let mut st = state.1.lock().unwrap();
        let mut items = String::new();
        for ((snap, zone), s) in st.fsr.iter_mut() {
            if !filter_ids.is_empty() && !filter_ids.contains(snap) {
                continue;
            }
            // Each describe moves a transition one step on, like time passing.
            let shown = s.clone();
            *s = match s.as_str() {
                "enabling" => "optimizing".into(),
                "optimizing" => "enabled".into(),
                "disabling" => "disabled".into(),
                other => other.into(),
            };
            items.push_str(&format!(
                "<item><snapshotId>{snap}</snapshotId><availabilityZone>{zone}</availabilityZone>\
                 <state>{shown}</state><stateTransitionReason>Client.UserInitiated - Lifecycle \
                 state transition</stateTransitionReason><ownerId>123456789012</ownerId></item>"
            ));
        }
        return (
            200,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeFastSnapshotRestoresResponse \
                 {ns}>{request_id}<fastSnapshotRestoreSet>{items}</fastSnapshotRestoreSet>\
                 </DescribeFastSnapshotRestoresResponse>"
            ),
        );
    }
    let enable = action == "EnableFastSnapshotRestores";
    let zones: Vec<String> = values(params, "AvailabilityZone")
        .into_iter()
        .map(str::to_string)
        .collect();
    let snaps: Vec<String> = values(params, "SourceSnapshotId")
        .into_iter()
        .map(str::to_string)
        .collect();
    if zones.is_empty() || snaps.is_empty() {
        return (
            400,
            ec2_error_body(
                "MissingParameter",
                "The request must contain the parameter AvailabilityZone and SourceSnapshotId",
            ),
        );
    }
    let mut ok = String::new();
    let mut bad = String::new();
    for snap in &snaps {
        let probe = format!("Action=DescribeSnapshots&Version=2016-11-15&SnapshotId.1={snap}");
        let (status, _) = forward(&state.0, parts, Bytes::from(probe)).await;
        if status != 200 {
            let errs: String = zones
                .iter()
                .map(|z| {
                    format!(
                        "<item><availabilityZone>{z}</availabilityZone><error><code>\
                         InvalidSnapshot.NotFound</code><message>The snapshot '{snap}' does not \
                         exist.</message></error></item>"
                    )
                })
                .collect();
            bad.push_str(&format!(
                "<item><snapshotId>{snap}</snapshotId><fastSnapshotRestoreStateErrorSet>{errs}\
                 </fastSnapshotRestoreStateErrorSet></item>"
            ));
            continue;
        }
        let mut st = state.1.lock().unwrap();
        for z in &zones {
            let new_state = if enable { "enabling" } else { "disabling" };
            st.fsr.insert((snap.clone(), z.clone()), new_state.into());
            ok.push_str(&format!(
                "<item><snapshotId>{snap}</snapshotId><availabilityZone>{z}</availabilityZone>\
                 <state>{new_state}</state><stateTransitionReason>Client.UserInitiated\
                 </stateTransitionReason><ownerId>123456789012</ownerId>\
                 <enablingTime>2026-11-27T00:00:00.000Z</enablingTime></item>"
            ));
        }
    }
    let name = if enable {
        "EnableFastSnapshotRestoresResponse"
    } else {
        "DisableFastSnapshotRestoresResponse"
    };
    (
        200,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{name} {ns}>{request_id}<successful>{ok}\
             </successful><unsuccessful>{bad}</unsuccessful></{name}>"
        ),
    )
}

/// The NotFound answer for a DescribeSnapshots naming a snapshot that is
/// not visible yet, if it names one.
fn hidden_snapshot(state: &Shared, params: &[(String, String)]) -> Option<String> {
    let mut st = state.1.lock().unwrap();
    let id = values(params, "SnapshotId")
        .into_iter()
        .find(|id| st.hidden.get(*id).is_some_and(|n| *n > 0))?
        .to_string();
    if let Some(n) = st.hidden.get_mut(&id) {
        *n -= 1;
    }
    Some(ec2_error_body(
        "InvalidSnapshot.NotFound",
        &format!("The snapshot '{id}' does not exist."),
    ))
}

/// DescribeVolumeStatus in EC2's shape, for the volumes moto knows.
async fn volume_status(
    state: &Shared,
    parts: &axum::http::request::Parts,
    params: &[(String, String)],
) -> (u16, String) {
    let ns = "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"";
    let mut items = String::new();
    for vol in values(params, "VolumeId") {
        let probe = format!("Action=DescribeVolumes&Version=2016-11-15&VolumeId.1={vol}");
        let (status, body) = forward(&state.0, parts, Bytes::from(probe)).await;
        if status != 200 {
            return (
                400,
                ec2_error_body(
                    "InvalidVolume.NotFound",
                    &format!("The volume '{vol}' does not exist."),
                ),
            );
        }
        let zone = tag_text(&body, "availabilityZone").unwrap_or("us-east-1a");
        let init = state.1.lock().unwrap().inits.get(vol).cloned();
        let (detail, details) = match &init {
            Some(i) => {
                let state = if i.progress >= 100 {
                    "completed"
                } else {
                    "initializing"
                };
                let eta = i
                    .eta_seconds
                    .map(|s| format!("<estimatedTimeToCompleteInSeconds>{s}</estimatedTimeToCompleteInSeconds>"))
                    .unwrap_or_default();
                (
                    format!(
                        "<item><name>initialization-state</name><status>{state}</status></item>"
                    ),
                    format!(
                        "<initializationStatusDetails><initializationType>{}</initializationType>\
                         <progress>{}</progress>{eta}</initializationStatusDetails>",
                        i.kind, i.progress
                    ),
                )
            }
            None => (String::new(), String::new()),
        };
        items.push_str(&format!(
            "<item><volumeId>{vol}</volumeId><availabilityZone>{zone}</availabilityZone>\
             <volumeStatus><status>ok</status><details><item><name>io-enabled</name>\
             <status>passed</status></item>{detail}</details></volumeStatus><eventsSet/>\
             <actionsSet/>{details}</item>"
        ));
    }
    (
        200,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeVolumeStatusResponse {ns}>\
             <requestId>5e1f3a9c-2b7d-4c8e-9f01-6a2b3c4d5e6f</requestId><volumeStatusSet>{items}\
             </volumeStatusSet></DescribeVolumeStatusResponse>"
        ),
    )
}

fn strip_params(body: &[u8], names: &[&str]) -> Bytes {
    let s = String::from_utf8_lossy(body);
    let kept: Vec<&str> = s
        .split('&')
        .filter(|kv| !names.iter().any(|n| kv.starts_with(&format!("{n}="))))
        .collect();
    Bytes::from(kept.join("&"))
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
