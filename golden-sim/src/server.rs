//! The HTTP side: routing, discovery, verbs, watch streams, latency, faults.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;

use crate::error::ApiError;
use crate::metrics::{Fault, FaultKind, Latency, RequestCounts};
use crate::resources::{self, Res, VERBS};
use crate::select::{FieldSelector, LabelSelector};
use crate::store::{Change, ChangeKind, DeleteOptions, PatchKind, Store, Stored, Writer};
use crate::util;

/// State shared by the server, the controllers and the handle.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) counts: Mutex<RequestCounts>,
    pub(crate) latency: Mutex<Latency>,
    pub(crate) faults: Mutex<Vec<Fault>>,
    pub(crate) addr: SocketAddr,
    /// Nanoseconds each simulated component spent reacting (its task's
    /// passes), since the last counter reset, by
    /// [`crate::controllers::Component::index`].
    pub(crate) controllers_busy:
        [std::sync::atomic::AtomicU64; crate::controllers::Component::TASKS.len()],
}

impl Shared {
    pub(crate) fn new(addr: SocketAddr, latency: Latency, cross_namespace: bool) -> Self {
        Shared {
            store: Store::new(cross_namespace),
            counts: Mutex::new(RequestCounts::default()),
            latency: Mutex::new(latency),
            faults: Mutex::new(Vec::new()),
            addr,
            controllers_busy: Default::default(),
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
pub(crate) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

/// Accepts connections until the task is aborted; aborting it closes every
/// connection (they live in its JoinSet).
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        conns.spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
        while conns.try_join_next().is_some() {}
    }
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(Body::from(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A stored object as the response body, from its encoding.
fn stored_response(code: u16, o: &Stored) -> Response<Body> {
    let mut r = Response::new(Body::from(o.json().clone()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A list: `head` (kind, apiVersion, metadata) with the stored objects'
/// encodings as `items`, without decoding or copying the objects.
fn list_response(head: &Value, items: &[Arc<Stored>]) -> Response<Body> {
    let mut out = serde_json::to_vec(head).unwrap_or_else(|_| b"{}".to_vec());
    out.pop();
    if out.len() > 1 {
        out.push(b',');
    }
    out.extend_from_slice(b"\"items\":[");
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(o.json());
    }
    out.extend_from_slice(b"]}");
    let mut r = Response::new(Body::from(out));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.status())
}

/// Decoded query parameters.
#[derive(Debug, Default)]
struct Query(Vec<(String, String)>);

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Query(
            q.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True"))
    }
}

/// What a path names.
enum Route {
    Version,
    Healthy,
    CoreVersions,
    Groups,
    Group(String),
    ResourceList(String, String),
    OpenApiRoot,
    OpenApi(String, String),
    Resource {
        res: Res,
        ns: Option<String>,
        name: Option<String>,
        sub: Option<String>,
    },
    NotFound,
}

fn route(path: &str) -> Route {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Route::Version,
        ["healthz" | "livez" | "readyz"] => return Route::Healthy,
        ["openapi", "v3"] => return Route::OpenApiRoot,
        ["openapi", "v3", "api", v] => return Route::OpenApi(String::new(), v.to_string()),
        ["openapi", "v3", "apis", g, v] => return Route::OpenApi(g.to_string(), v.to_string()),
        ["api"] => return Route::CoreVersions,
        ["apis"] => return Route::Groups,
        ["api", v] => return Route::ResourceList(String::new(), v.to_string()),
        ["apis", g] => return Route::Group(g.to_string()),
        ["apis", g, v] => return Route::ResourceList(g.to_string(), v.to_string()),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Route::NotFound,
    };
    let namespaced_res = |p: &str| resources::by_plural(group, version, p).filter(|r| r.namespaced);
    let (ns, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..] if namespaced_res(plural).is_some() => {
            (Some(ns.to_string()), {
                let mut v = vec![*plural];
                v.extend_from_slice(tail);
                v
            })
        }
        _ => (None, rest.to_vec()),
    };
    let Some(res) = rest
        .first()
        .and_then(|p| resources::by_plural(group, version, p))
    else {
        return Route::NotFound;
    };
    match rest.as_slice() {
        [_] => Route::Resource {
            res,
            ns,
            name: None,
            sub: None,
        },
        [_, name] => Route::Resource {
            res,
            ns,
            name: Some(percent_decode(name)),
            sub: None,
        },
        [_, name, sub] => Route::Resource {
            res,
            ns,
            name: Some(percent_decode(name)),
            sub: Some(sub.to_string()),
        },
        _ => Route::NotFound,
    }
}

fn verb_of(method: &Method, name: bool, q: &Query) -> &'static str {
    match (method.as_str(), name) {
        ("GET", _) if q.flag("watch") => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

/// Sleeps for `d`, give or take tens of microseconds. Tokio's timer works
/// in millisecond ticks and rounds deadlines up, which adds a millisecond
/// or more to every few-millisecond sleep; so the timer covers all but the
/// last `SLACK`, and a blocking-pool thread sleeps the rest.
async fn sleep_precisely(d: Duration) {
    const SLACK: Duration = Duration::from_millis(2);
    let deadline = std::time::Instant::now() + d;
    if d > SLACK {
        tokio::time::sleep(d - SLACK).await;
    }
    let rest = deadline.saturating_duration_since(std::time::Instant::now());
    if !rest.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(DropConnection),
    };
    let q = Query::parse(parts.uri.query());
    let route = route(parts.uri.path());
    let (verb, resource, name) = match &route {
        Route::Resource { res, name, .. } => (
            verb_of(&parts.method, name.is_some(), &q),
            res.plural,
            name.clone(),
        ),
        _ => ("get", "", None),
    };
    lock(&shared.counts).add(verb, resource);
    let delay = lock(&shared.latency).for_verb(verb);
    if !delay.is_zero() {
        sleep_precisely(delay).await;
    }
    let fault = {
        let mut faults = lock(&shared.faults);
        let hit = faults
            .iter_mut()
            .find(|f| f.matches(verb, resource, name.as_deref()));
        hit.map(|f| {
            f.times -= 1;
            f.kind.clone()
        })
    };
    if let Some(kind) = fault {
        return match kind {
            FaultKind::DropConnection => Err(DropConnection),
            FaultKind::InternalError => Ok(error_response(&ApiError::new(
                500,
                "InternalError",
                "Internal error occurred: injected fault",
            ))),
            FaultKind::Conflict => {
                let res = match &route {
                    Route::Resource { res, .. } => *res,
                    _ => &resources::NAMESPACES,
                };
                Ok(error_response(&ApiError::modified(
                    res,
                    name.as_deref().unwrap_or(""),
                )))
            }
            FaultKind::TooManyRequests { retry_after_secs } => {
                let mut e = ApiError::new(
                    429,
                    "TooManyRequests",
                    "the server has received too many requests and has asked us to try again later",
                );
                e.details = Some(json!({"retryAfterSeconds": retry_after_secs}));
                let mut r = error_response(&e);
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_str(&retry_after_secs.to_string())
                        .unwrap_or(HeaderValue::from_static("1")),
                );
                Ok(r)
            }
        };
    }
    Ok(
        match dispatch(&shared, &parts.method, &parts.headers, &q, route, &body) {
            Ok(r) => r,
            Err(e) => error_response(&e),
        },
    )
}

fn dispatch(
    shared: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    q: &Query,
    route: Route,
    body: &Bytes,
) -> Result<Response<Body>, ApiError> {
    let ok = |v: Value| Ok(json_response(200, &v));
    match route {
        Route::Version => ok(version()),
        Route::Healthy => {
            let mut r = Response::new(Body::from("ok"));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(r)
        }
        Route::CoreVersions => ok(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.addr.to_string()}],
        })),
        Route::Groups => ok(group_list()),
        Route::Group(g) => group_list()["groups"]
            .as_array()
            .and_then(|gs| gs.iter().find(|x| x["name"] == g.as_str()).cloned())
            .map(|mut g| {
                g["kind"] = json!("APIGroup");
                g["apiVersion"] = json!("v1");
                json_response(200, &g)
            })
            .ok_or_else(ApiError::path_not_found),
        Route::ResourceList(g, v) => resource_list(&g, &v)
            .map(|l| json_response(200, &l))
            .ok_or_else(ApiError::path_not_found),
        Route::OpenApiRoot => ok(openapi_root()),
        Route::OpenApi(g, v) => openapi_doc(&g, &v)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::path_not_found),
        Route::NotFound => Err(ApiError::path_not_found()),
        Route::Resource { res, ns, name, sub } => {
            resource_request(shared, method, headers, q, res, ns, name, sub, body)
        }
    }
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-golden-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn group_list() -> Value {
    let groups: Vec<Value> = resources::group_versions()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut list = Vec::new();
    for r in resources::all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        list.push(json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": VERBS,
            "shortNames": r.short_names,
        }));
        if r.status {
            list.push(json!({
                "name": format!("{}/status", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if list.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": list,
    }))
}

/// The OpenAPI v3 index: one document per served group/version.
fn openapi_root() -> Value {
    let mut paths = serde_json::Map::new();
    for (g, v) in resources::group_versions() {
        let p = if g.is_empty() {
            format!("api/{v}")
        } else {
            format!("apis/{g}/{v}")
        };
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=golden-sim")}),
        );
    }
    json!({"paths": paths})
}

/// A minimal OpenAPI v3 document for a group/version: the object paths
/// with their operations, enough for kubectl to see that the server
/// validates fields itself (`fieldValidation`), so it sends objects as is.
fn openapi_doc(group: &str, version: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    let string = json!({"type": "string"});
    let query = |n: &str| json!({"name": n, "in": "query", "schema": string, "uniqueItems": true});
    for r in resources::all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let base = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let collection = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        let gvk = json!({"group": group, "version": version, "kind": r.kind});
        let op = |action: &str| {
            json!({
                "operationId": format!("{action}{}", r.kind),
                "parameters": [query("dryRun"), query("fieldManager"), query("fieldValidation"), query("force")],
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let mut params = vec![
            json!({"name": "name", "in": "path", "required": true, "schema": string}),
            query("fieldValidation"),
        ];
        if r.namespaced {
            params.push(
                json!({"name": "namespace", "in": "path", "required": true, "schema": string}),
            );
        }
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({"parameters": params, "get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}),
        );
        paths.insert(
            collection,
            json!({"parameters": [query("fieldValidation")], "get": op("list"), "post": op("post")}),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(json_err) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if ct.contains("yaml") {
                serde_saphyr::from_str::<Value>(text)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
            } else {
                Err(ApiError::bad_request(format!(
                    "couldn't get version/kind; json parse error: {json_err}"
                )))
            }
        }
    }
}

fn field_manager<'a>(q: &'a Query, headers: &'a HeaderMap, fallback: &'a str) -> &'a str {
    if let Some(m) = q.get("fieldManager")
        && !m.is_empty()
    {
        return m;
    }
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or(fallback)
}

#[allow(clippy::too_many_arguments)]
fn resource_request(
    shared: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    q: &Query,
    res: Res,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
    body: &Bytes,
) -> Result<Response<Body>, ApiError> {
    let store = &shared.store;
    if let Some(s) = &sub
        && !(s == "status" && res.status)
    {
        return Err(ApiError::path_not_found());
    }
    if res.namespaced && name.is_some() && ns.is_none() {
        return Err(ApiError::path_not_found());
    }
    let ns_str = ns.clone().unwrap_or_default();
    let dry_run = q.get("dryRun").is_some_and(|v| v == "All");
    let manager = field_manager(q, headers, "unknown");
    let strict = q.get("fieldValidation") == Some("Strict");
    let writer = Writer {
        manager,
        sub: sub.as_deref(),
        dry_run,
        strict,
    };
    match (method.as_str(), name) {
        ("GET", None) => {
            let label = LabelSelector::parse(q.get("labelSelector").unwrap_or(""))?;
            let field = FieldSelector::parse(q.get("fieldSelector").unwrap_or(""))?;
            if q.flag("watch") {
                let table = crate::table::wants_table(
                    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
                );
                return watch(shared, res, ns, q, label, field, table);
            }
            let (items, rv) = store.list_stored(res, ns.as_deref());
            let mut items: Vec<Arc<Stored>> = items
                .into_iter()
                .filter(|o| label.matches(&o.value) && field.matches(&o.value))
                .collect();
            let key = |o: &Value| format!("{}/{}", util::namespace_of(o), util::name_of(o));
            // A paged list is one consistent list, as on a real API server:
            // every page reports the resourceVersion of the first page (the
            // token carries it), so a watch started from it replays every
            // change made while the pages were read. Later pages show current
            // objects; changes the watch replays again are harmless.
            let mut rv = rv;
            if let Some(cont) = q.get("continue").filter(|c| !c.is_empty()) {
                let (first_rv, after) = decode_continue(cont)?;
                rv = first_rv;
                items.retain(|o| key(&o.value) > after);
            }
            let mut meta = json!({"resourceVersion": rv.to_string()});
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
            if let Some(limit) = q.get("limit").and_then(|l| l.parse::<usize>().ok())
                && limit > 0
                && items.len() > limit
            {
                let rest = items.len() - limit;
                items.truncate(limit);
                meta["continue"] = json!(encode_continue(rv, &key(&items[limit - 1].value)));
                meta["remainingItemCount"] = json!(rest);
            }
            if crate::table::wants_table(accept) {
                let items: Vec<Value> = items.iter().map(|o| o.value.clone()).collect();
                let mut t = crate::table::table(res, &items, &rv.to_string());
                if let Some(c) = meta.get("continue") {
                    t["metadata"]["continue"] = c.clone();
                }
                return Ok(json_response(200, &t));
            }
            let head = json!({
                "kind": format!("{}List", res.kind),
                "apiVersion": res.api_version(),
                "metadata": meta,
            });
            lock(&shared.counts).add_objects_read(items.len() as u64);
            Ok(list_response(&head, &items))
        }
        ("GET", Some(name)) => {
            let o = store
                .get_stored(res, &ns_str, &name)
                .ok_or_else(|| ApiError::not_found(res, &name))?;
            lock(&shared.counts).add_objects_read(1);
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
            if crate::table::wants_table(accept) {
                let rv = util::meta_str(&o.value, "resourceVersion")
                    .unwrap_or("")
                    .to_string();
                let t = crate::table::table(res, std::slice::from_ref(&o.value), &rv);
                return Ok(json_response(200, &t));
            }
            Ok(stored_response(200, &o))
        }
        ("POST", None) => {
            if res.namespaced && ns.is_none() {
                return Err(ApiError::method_not_allowed("POST"));
            }
            let obj = parse_body(headers, body)?;
            let manager = field_manager(q, headers, "unknown");
            let w = Writer {
                manager,
                sub: None,
                dry_run,
                strict,
            };
            let created = store.create(res, &ns_str, obj, w)?;
            Ok(stored_response(201, &created))
        }
        ("PUT", Some(name)) => {
            let obj = parse_body(headers, body)?;
            let out = store.update(res, &ns_str, &name, obj, writer)?;
            Ok(stored_response(200, &out))
        }
        ("PATCH", Some(name)) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let kind = match ct.as_str() {
                "application/apply-patch+yaml" => {
                    if q.get("fieldManager").is_none_or(str::is_empty) {
                        return Err(ApiError::bad_request(
                            "PATCH, application/apply-patch+yaml requests must include the fieldManager query parameter",
                        ));
                    }
                    PatchKind::Apply {
                        force: q.flag("force"),
                    }
                }
                "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                    PatchKind::Merge
                }
                "application/json-patch+json" => PatchKind::Json,
                other => return Err(ApiError::unsupported_media(other)),
            };
            if !matches!(kind, PatchKind::Apply { .. }) && q.get("force").is_some() {
                return Err(ApiError::bad_request(
                    "force is only allowed for apply patches",
                ));
            }
            let patch = parse_body(headers, body)?;
            let (out, created) = store.patch(res, &ns_str, &name, kind, &patch, writer)?;
            Ok(stored_response(if created { 201 } else { 200 }, &out))
        }
        ("DELETE", Some(name)) => {
            let opts = delete_options(body, dry_run);
            let out = store.delete(res, &ns_str, &name, &opts)?;
            Ok(stored_response(200, &out))
        }
        ("DELETE", None) => {
            let label = LabelSelector::parse(q.get("labelSelector").unwrap_or(""))?;
            let field = FieldSelector::parse(q.get("fieldSelector").unwrap_or(""))?;
            let (items, rv) = store.list(res, ns.as_deref());
            let mut deleted = Vec::new();
            for o in items
                .into_iter()
                .filter(|o| label.matches(o) && field.matches(o))
            {
                let n = util::name_of(&o);
                let nsn = util::namespace_of(&o);
                if let Ok(d) = store.delete(
                    res,
                    nsn,
                    n,
                    &DeleteOptions {
                        dry_run,
                        ..Default::default()
                    },
                ) {
                    deleted.push(d.value.clone());
                }
            }
            Ok(json_response(
                200,
                &json!({
                    "kind": format!("{}List", res.kind),
                    "apiVersion": res.api_version(),
                    "metadata": {"resourceVersion": rv.to_string()},
                    "items": deleted,
                }),
            ))
        }
        (m, _) => Err(ApiError::method_not_allowed(m)),
    }
}

/// A continue token: the list's resourceVersion and the last key returned.
fn encode_continue(rv: u64, key: &str) -> String {
    format!("{rv}\n{key}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid: malformed token");
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Result<Vec<u8>, _> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect();
    let text = String::from_utf8(bytes.map_err(|_| bad())?).map_err(|_| bad())?;
    let (rv, key) = text.split_once('\n').ok_or_else(bad)?;
    Ok((rv.parse().map_err(|_| bad())?, key.to_string()))
}

fn delete_options(body: &Bytes, dry_run: bool) -> DeleteOptions {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let s = |p: &str| util::str_at(&v, p).map(str::to_string);
    DeleteOptions {
        uid: s("/preconditions/uid"),
        resource_version: s("/preconditions/resourceVersion"),
        dry_run: dry_run
            || v.get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x == "All")),
    }
}

/// How a change looks to a filtered watch.
fn filter_change<'c>(
    c: &'c Change,
    res: Res,
    ns: Option<&str>,
    label: &LabelSelector,
    field: &FieldSelector,
) -> Option<(&'static str, &'c Stored)> {
    if !std::ptr::eq(c.res, res) {
        return None;
    }
    if let Some(n) = ns
        && res.namespaced
        && c.namespace != n
    {
        return None;
    }
    let m = |o: &Value| label.matches(o) && field.matches(o);
    let now = m(&c.object.value);
    let before = c.old.as_ref().is_some_and(|o| m(&o.value));
    let kind = match c.kind {
        ChangeKind::Added if now => "ADDED",
        ChangeKind::Modified if now && before => "MODIFIED",
        ChangeKind::Modified if now => "ADDED",
        ChangeKind::Modified if before => "DELETED",
        ChangeKind::Deleted if now || before => ChangeKind::Deleted.as_str(),
        _ => return None,
    };
    Some((kind, &c.object))
}

/// A watch event line for a stored object, from its encoding.
fn stored_line(kind: &str, object: &Stored) -> Bytes {
    let json = object.json();
    let mut v = Vec::with_capacity(json.len() + kind.len() + 24);
    v.extend_from_slice(b"{\"type\":");
    v.extend_from_slice(&serde_json::to_vec(kind).unwrap_or_default());
    v.extend_from_slice(b",\"object\":");
    v.extend_from_slice(json);
    v.extend_from_slice(b"}\n");
    Bytes::from(v)
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn watch(
    shared: &Arc<Shared>,
    res: Res,
    ns: Option<String>,
    q: &Query,
    label: LabelSelector,
    field: FieldSelector,
    table: bool,
) -> Result<Response<Body>, ApiError> {
    let rv = match q.get("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(r) => Some(
            r.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {r:?}")))?,
        ),
    };
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let bookmarks = q.flag("allowWatchBookmarks");
    let (replay, rx) = match shared.store.watch_from(res, ns.as_deref(), rv) {
        Ok(x) => x,
        Err(e) => {
            let body = line("ERROR", &e.status());
            return Ok(stream_response(futures::stream::once(async move {
                Ok::<_, Infallible>(body)
            })));
        }
    };
    let render = move |k: &str, o: &Stored| {
        if table {
            let rv = util::meta_str(&o.value, "resourceVersion")
                .unwrap_or("")
                .to_string();
            line(
                k,
                &crate::table::table(res, std::slice::from_ref(&o.value), &rv),
            )
        } else {
            stored_line(k, o)
        }
    };
    let mut first: Vec<Bytes> = replay
        .iter()
        .filter_map(|c| filter_change(c, res, ns.as_deref(), &label, &field))
        .map(|(k, o)| render(k, o))
        .collect();
    if q.flag("sendInitialEvents") && rv.is_none() {
        let now = shared
            .store
            .current_rv()
            .max(replay.iter().map(|c| c.rv).max().unwrap_or(0));
        first.push(line(
            "BOOKMARK",
            &json!({
                "kind": res.kind,
                "apiVersion": res.api_version(),
                "metadata": {
                    "resourceVersion": now.to_string(),
                    "annotations": {"k8s.io/initial-events-end": "true"},
                },
            }),
        ));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    struct St<F> {
        first: std::vec::IntoIter<Bytes>,
        rx: tokio::sync::broadcast::Receiver<Arc<Change>>,
        res: Res,
        ns: Option<String>,
        label: LabelSelector,
        field: FieldSelector,
        deadline: tokio::time::Instant,
        bookmarks: bool,
        last_rv: u64,
        shared: Arc<Shared>,
        render: F,
    }
    let last_rv = rv.unwrap_or_else(|| shared.store.current_rv());
    let st = St {
        first: first.into_iter(),
        rx,
        res,
        ns,
        label,
        field,
        deadline,
        bookmarks,
        last_rv,
        shared: shared.clone(),
        render,
    };
    let stream = futures::stream::unfold(st, |mut st| async move {
        if let Some(b) = st.first.next() {
            return Some((Ok::<_, Infallible>(b), st));
        }
        loop {
            let tick = tokio::time::sleep(Duration::from_secs(1));
            tokio::select! {
                _ = tokio::time::sleep_until(st.deadline) => return None,
                _ = tick, if st.bookmarks => {
                    let rv = st.shared.store.current_rv();
                    if !st.rx.is_empty() {
                        continue;
                    }
                    let rv = rv.max(st.last_rv);
                    let obj = json!({
                        "kind": st.res.kind,
                        "apiVersion": st.res.api_version(),
                        "metadata": {"resourceVersion": rv.to_string()},
                    });
                    return Some((Ok(line("BOOKMARK", &obj)), st));
                }
                msg = st.rx.recv() => match msg {
                    Ok(c) => {
                        if let Some((k, o)) = filter_change(&c, st.res, st.ns.as_deref(), &st.label, &st.field) {
                            st.last_rv = c.rv;
                            let b = (st.render)(k, o);
                            return Some((Ok(b), st));
                        }
                    }
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(stream_response(stream))
}

fn stream_response<S>(s: S) -> Response<Body>
where
    S: futures::Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
{
    let mut r = Response::new(Body::from_stream(s));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |p: &str| match route(p) {
            Route::Resource { res, ns, name, sub } => {
                format!("{} {:?} {:?} {:?}", res.plural, ns, name, sub)
            }
            Route::NotFound => "404".into(),
            _ => "other".into(),
        };
        assert_eq!(r("/api/v1/namespaces"), "namespaces None None None");
        assert_eq!(
            r("/api/v1/namespaces/team"),
            "namespaces None Some(\"team\") None"
        );
        assert_eq!(
            r("/api/v1/namespaces/team/status"),
            "namespaces None Some(\"team\") Some(\"status\")"
        );
        assert_eq!(
            r("/api/v1/namespaces/team/persistentvolumeclaims/data/status"),
            "persistentvolumeclaims Some(\"team\") Some(\"data\") Some(\"status\")"
        );
        assert_eq!(
            r("/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/a.b"),
            "volumesnapshotcontents None Some(\"a.b\") None"
        );
        assert_eq!(r("/apis/example.com/v1/widgets"), "404");
    }

    #[test]
    fn queries_and_bodies() {
        let q = Query::parse(Some(
            "labelSelector=a%20in%20(b%2Cc)&watch=1&fieldManager=golden",
        ));
        assert_eq!(q.get("labelSelector"), Some("a in (b,c)"));
        assert!(q.flag("watch"));
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/apply-patch+yaml"),
        );
        let v = parse_body(
            &h,
            &Bytes::from_static(b"kind: Namespace\nmetadata:\n  name: a\n"),
        )
        .unwrap();
        assert_eq!(v["metadata"]["name"], "a");
        assert_eq!(
            decode_continue(&encode_continue(42, "ns/name")).unwrap(),
            (42, "ns/name".to_string())
        );
        assert!(decode_continue("zz").is_err());
        assert!(
            decode_continue(
                &"ns/name"
                    .bytes()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            )
            .is_err()
        );
    }
}
