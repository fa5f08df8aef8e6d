//! The fault-injecting EC2 proxy: it speaks the EC2 Query protocol on real
//! HTTP connections, forwards to moto, and imitates what moto does not.
//!
//! What it can do, and where each behaviour comes from:
//! - answer chosen actions with EC2 XML errors (throttling, 5xx, quota) in
//!   the shape every EC2 Query error has (`<Response><Errors><Error>` with
//!   `Code` and `Message`, and a `RequestID`; EC2 API Reference, "Error
//!   codes for the Amazon EC2 API");
//! - make snapshots look `pending` with a progress or `error` with a
//!   `statusMessage` in DescribeSnapshots answers (EC2 API Reference,
//!   `Snapshot` data type: `status`, `progress`, `statusMessage`), and make
//!   CreateSnapshot answer `pending` at `0%` as EC2 does;
//! - enforce `MaxResults`/`NextToken` paging on DescribeSnapshots (EC2 API
//!   Reference, `DescribeSnapshots`; moto returns everything in one page);
//! - eventual consistency ([`FaultProxy::not_found_after_create`]): the
//!   first DescribeSnapshots naming a snapshot that CreateSnapshot or
//!   CopySnapshot just returned answer `InvalidSnapshot.NotFound`, as EC2
//!   may ("Eventual consistency in the Amazon EC2 API", EC2 API Reference);
//! - a call that reaches EC2 but whose answer is lost
//!   ([`FaultProxy::fail_after_forward`]): the request is forwarded to moto,
//!   then answered with an error, as when a connection drops after EC2
//!   acted;
//! - the Fast Snapshot Restore actions moto does not implement
//!   (`EnableFastSnapshotRestores`, `DisableFastSnapshotRestores`,
//!   `DescribeFastSnapshotRestores`, in EC2's response shapes, EC2 API
//!   Reference): enabling goes `enabling` -> `optimizing` -> `enabled` and
//!   disabling `disabling` -> `disabled`, one step per describe (the states
//!   of the EC2 User Guide, "Amazon EBS fast snapshot restore"); a snapshot
//!   moto does not know is reported in `unsuccessful` with
//!   `InvalidSnapshot.NotFound`;
//! - DescribeVolumeStatus, which moto 5.x answers "not yet implemented":
//!   for each `VolumeId.N` that moto knows it answers a `volumeStatusSet`
//!   item in EC2's shape, with the `initializationStatusDetails`
//!   (`initializationType`, `progress`, `estimatedTimeToCompleteInSeconds`;
//!   EC2 API Reference, `InitializationStatusDetails`) set by
//!   [`FaultProxy::volume_initialization`], and an unknown volume with
//!   `InvalidVolume.NotFound`.
//!
//! Every request is logged on arrival ([`FaultProxy::seen`]), so a request
//! whose client gave up still counts.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The EC2 action.
    pub action: String,
    /// Every form parameter, decoded.
    pub params: Vec<(String, String)>,
    /// The HTTP status returned.
    pub status: u16,
}

impl Seen {
    /// The first value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a snapshot should look in the next DescribeSnapshots answer.
#[derive(Debug, Clone)]
pub struct Look {
    state: &'static str,
    progress: String,
    message: Option<String>,
}

impl Look {
    /// `pending` at `percent`.
    pub fn pending(percent: u8) -> Look {
        Look {
            state: "pending",
            progress: format!("{percent}%"),
            message: None,
        }
    }

    /// `error` with EC2's state message.
    pub fn error(message: &str) -> Look {
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
pub struct Init {
    /// `default`, `provisioned-rate` or `volume-copy`.
    pub kind: &'static str,
    /// Percent done.
    pub progress: u8,
    /// Seconds left, when EC2 reports it (provisioned rate only).
    pub eta_seconds: Option<u64>,
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
/// Stops serving when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    endpoint: String,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// [`FaultProxy::try_start`], panicking when no loopback port can be
    /// bound: for tests.
    pub async fn start(upstream: &str) -> FaultProxy {
        Self::try_start(upstream)
            .await
            .unwrap_or_else(|e| panic!("could not start the EC2 fault proxy: {e}"))
    }

    /// Starts a proxy forwarding to `upstream` (`host:port`, e.g.
    /// [`MotoServer::addr`](super::MotoServer::addr)) on a free loopback port.
    /// Must be called inside a Tokio runtime.
    pub async fn try_start(upstream: &str) -> std::io::Result<FaultProxy> {
        let state: Shared = Arc::new((upstream.to_string(), Mutex::new(ProxyState::default())));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("golden-sim EC2 fault proxy stopped: {e}");
            }
        });
        Ok(FaultProxy {
            endpoint,
            state,
            task,
        })
    }

    /// `http://127.0.0.1:<port>`, the endpoint to give an EC2 client.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProxyState> {
        self.state.1.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers the next `times` calls of `action` with an EC2 XML error.
    pub fn fail(&self, action: &str, times: u32, status: u16, code: &str, message: &str) {
        self.lock().faults.push(Fault {
            action: action.into(),
            remaining: times,
            status,
            code: code.into(),
            message: message.into(),
        });
    }

    /// Holds the next `times` calls of `action` for `by` before answering.
    pub fn delay(&self, action: &str, times: u32, by: Duration) {
        self.lock().delays.push(Delay {
            action: action.into(),
            remaining: times,
            by,
        });
    }

    /// The next DescribeSnapshots answers show snapshot `id` as `looks`, one
    /// per answer; after that, as moto has it.
    pub fn script(&self, id: &str, looks: Vec<Look>) {
        self.lock().looks.insert(id.into(), looks.into());
    }

    /// CreateSnapshot answers show the new snapshot `pending` at 0%, as EC2 does.
    pub fn pending_on_create(&self) {
        self.lock().pending_on_create = true;
    }

    /// Eventual consistency: the first `reads` DescribeSnapshots naming a
    /// snapshot that CreateSnapshot or CopySnapshot returned from now on
    /// answer `InvalidSnapshot.NotFound`.
    pub fn not_found_after_create(&self, reads: u32) {
        self.lock().not_found_reads = reads;
    }

    /// Forwards the next `times` calls of `action` to moto (which acts on
    /// them), then answers them with an EC2 XML error: the answer is lost.
    pub fn fail_after_forward(
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
    pub fn volume_initialization(&self, volume: &str, init: Init) {
        self.lock().inits.insert(volume.into(), init);
    }

    /// Every request of `action` seen so far.
    pub fn seen(&self, action: &str) -> Vec<Seen> {
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
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (code, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    r
}

/// EC2's error body (the shape every EC2 Query error has).
pub fn ec2_error_body(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors>\
         <RequestID>9c1b9a4e-4a3e-4b8e-9d43-1c5e8f0f2a11</RequestID></Response>"
    )
}

async fn handle(State(state): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 16 << 20).await {
        Ok(b) => b,
        Err(e) => {
            let msg = format!("the proxy could not read the request body: {e}");
            return xml(400, ec2_error_body("InvalidRequest", &msg));
        }
    };
    let params = parse_form(&body);
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    // Logged on arrival, so a request whose client gave up still counts.
    let (index, delay) = {
        let mut st = state.1.lock().unwrap_or_else(|e| e.into_inner());
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
    state.1.lock().unwrap_or_else(|e| e.into_inner()).log[index].status = status;
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
        let mut st = state.1.lock().unwrap_or_else(|e| e.into_inner());
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
        let mut st = state.1.lock().unwrap_or_else(|e| e.into_inner());
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
        let mut st = state.1.lock().unwrap_or_else(|e| e.into_inner());
        if st.not_found_reads > 0
            && let Some(id) = tag_text(&text, "snapshotId")
        {
            let n = st.not_found_reads;
            st.hidden.insert(id.to_string(), n);
        }
    }
    if status == 200 {
        let mut st = state.1.lock().unwrap_or_else(|e| e.into_inner());
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

/// Sends the request on to moto; a failure to reach it is answered as a
/// `502` EC2 error naming the upstream.
async fn forward(upstream: &str, parts: &axum::http::request::Parts, body: Bytes) -> (u16, String) {
    match try_forward(upstream, parts, body).await {
        Ok(answer) => answer,
        Err(e) => (
            502,
            ec2_error_body(
                "ProxyUpstreamUnavailable",
                &format!("the EC2 fault proxy could not reach moto at {upstream}: {e}"),
            ),
        ),
    }
}

async fn try_forward(
    upstream: &str,
    parts: &axum::http::request::Parts,
    body: Bytes,
) -> Result<(u16, String), Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut b = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    for (k, v) in &parts.headers {
        if k != header::HOST && k != header::CONTENT_LENGTH && k != header::TRANSFER_ENCODING {
            b = b.header(k, v);
        }
    }
    let req = b.header(header::HOST, upstream).body(Full::new(body))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
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
            depth = depth.saturating_sub(1);
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
        let Some(len) = body[inner..].find("</snapshotSet>") else {
            return body.to_string();
        };
        let e = inner + len;
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
        let mut st = state.1.lock().unwrap_or_else(|e| e.into_inner());
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
        let mut st = state.1.lock().unwrap_or_else(|e| e.into_inner());
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
    let mut st = state.1.lock().unwrap_or_else(|e| e.into_inner());
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
        let init = state
            .1
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .inits
            .get(vol)
            .cloned();
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
