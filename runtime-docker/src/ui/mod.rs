//! The live cluster page (`--ui-addr IP:PORT`, off unless given; managers only): nodes as
//! columns of task cards, services with replicas and update progress, pending tasks with the
//! scheduler's reason, recent events — core's [`cluster_view`], pushed to the browser on every
//! change of this manager's store.
//!
//! * Served over HTTPS with a certificate of the swarm's CA naming the node's addresses. Who
//!   may look: a client showing a certificate of the swarm's CA (a client bundle's or a
//!   manager's, as for the Engine API), or a browser with this manager's read-only token
//!   (`shoal ui token`, token.rs): `/?token=T` sets it as an HttpOnly cookie and redirects to
//!   `/`, so the token leaves the address bar.
//!   The cookie is the host's, not the port's: a browser also sends it to other HTTPS
//!   services on the manager's address; it opens nothing but this page.
//! * `GET /` the page (page.html, embedded: no build step), `GET /view` the view as JSON,
//!   `GET /stream` server-sent events: the view now, then again after each change of the store
//!   (coalesced over [`COALESCE`]), a comment every [`KEEPALIVE`] to notice closed pages.
//! * One producer builds the view, once per change and only while a page is open; every page's
//!   stream forwards it (a view is a scan of the store under its lock: never one per page).
//! * Bounded: at most [`STREAMS_MAX`] open pages and [`tls::OPTIONAL_CONNECTIONS_MAX`]
//!   connections (anyone may finish a handshake here); core bounds the task cards listed.
//! * A stream opened with a token ends when the token is rotated (checked before each view
//!   and at each keep-alive).

mod token;

pub use token::{load_or_make as token_load_or_make, rotate as token_rotate};

use crate::engine_api::tls::{self, ClientAuth, Peer};
use crate::engine_api::EngineApi;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode, Uri};
use shoal_core::ui::{cluster_view, EVENTS_SHOWN};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Pages open at once on one manager; more are refused (503) until one closes.
pub const STREAMS_MAX: usize = 32;
/// Changes closer than this are sent as one view.
pub const COALESCE: Duration = Duration::from_millis(50);
pub const KEEPALIVE: Duration = Duration::from_secs(15);
const COOKIE: &str = "shoal_ui";
const PAGE: &str = include_str!("page.html");

struct Ui {
    api: Arc<EngineApi>,
    /// The data directory (the token file).
    dir: PathBuf,
    streams: Arc<tokio::sync::Semaphore>,
    /// The latest view as JSON, from the producer.
    views: tokio::sync::watch::Sender<Arc<str>>,
    /// A page opened: the producer sends a fresh view.
    wanted: tokio::sync::Notify,
}

type Resp = Response<Body>;

/// How a request proved it may look.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Access {
    Certificate,
    /// The token, from the cookie or the query.
    Token(String),
}

fn query_token(uri: &Uri) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    pairs.into_iter().find(|(k, _)| k == "token").map(|(_, v)| v)
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE).and_then(|r| r.strip_prefix('=')).map(str::to_string))
}

impl Ui {
    fn access(&self, peer: &Peer, headers: &HeaderMap, uri: &Uri) -> Option<Access> {
        if peer.certified {
            return Some(Access::Certificate);
        }
        [query_token(uri), cookie_token(headers)].into_iter().flatten().find(|t| token::matches(&self.dir, t)).map(Access::Token)
    }

    fn still_allowed(&self, a: &Access) -> bool {
        match a {
            Access::Certificate => true,
            Access::Token(t) => token::matches(&self.dir, t),
        }
    }

    fn view_json(&self) -> String {
        let events = self.api.events.recent(EVENTS_SHOWN);
        let view = self.api.manager.state.with_store(|s| cluster_view(s, &events));
        serde_json::to_string(&view).unwrap_or_else(|e| format!("{{\"error\":\"cannot encode the view: {e}\"}}"))
    }
}

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Resp {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("X-Content-Type-Options", HeaderValue::from_static("nosniff"));
    // The page's script and style are inline; it loads nothing from elsewhere and is framed
    // by no one.
    h.insert(
        "Content-Security-Policy",
        HeaderValue::from_static("default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    r
}

fn text(status: StatusCode, msg: String) -> Resp {
    answer(status, "text/plain; charset=utf-8", msg + "\n")
}

fn denied(peer: &Peer) -> Resp {
    tracing::debug!(target: "shoal", peer = %peer.addr, "cluster page: no certificate and no current token");
    text(
        StatusCode::UNAUTHORIZED,
        "This is a Shoal manager's cluster page. Show a client certificate of the swarm (shoal ca client-bundle DIR), \
         or open /?token=TOKEN with the token `shoal ui token` prints on this manager."
            .into(),
    )
}

/// What every route checks first: a manager (a demoted node's store is no longer kept).
fn not_a_manager(ui: &Ui) -> Option<Resp> {
    (!ui.api.is_manager()).then(|| text(StatusCode::SERVICE_UNAVAILABLE, "This node is no longer a manager: open a manager's page.".into()))
}

async fn page(State(ui): State<Arc<Ui>>, ConnectInfo(peer): ConnectInfo<Peer>, headers: HeaderMap, uri: Uri) -> Resp {
    if let Some(r) = not_a_manager(&ui) {
        return r;
    }
    match ui.access(&peer, &headers, &uri) {
        None if query_token(&uri).is_some() => text(StatusCode::UNAUTHORIZED, "This token is not this manager's current one: run `shoal ui token` on it.".into()),
        None => denied(&peer),
        // A token in the address: keep it in a cookie only this server reads, and take it out
        // of the address bar (and of the browser's history).
        Some(Access::Token(t)) if query_token(&uri).is_some() => {
            let mut r = answer(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", "");
            // Lax, not Strict: a link to `/?token=` followed from another site must still
            // carry the cookie through this redirect. The page only reads.
            let cookie = format!("{COOKIE}={t}; Path=/; Secure; HttpOnly; SameSite=Lax");
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/"));
            r
        }
        Some(_) => answer(StatusCode::OK, "text/html; charset=utf-8", PAGE),
    }
}

async fn view(State(ui): State<Arc<Ui>>, ConnectInfo(peer): ConnectInfo<Peer>, headers: HeaderMap, uri: Uri) -> Resp {
    if let Some(r) = not_a_manager(&ui) {
        return r;
    }
    match ui.access(&peer, &headers, &uri) {
        None => denied(&peer),
        Some(_) => answer(StatusCode::OK, "application/json", ui.view_json()),
    }
}

async fn stream(State(ui): State<Arc<Ui>>, ConnectInfo(peer): ConnectInfo<Peer>, headers: HeaderMap, uri: Uri) -> Resp {
    if let Some(r) = not_a_manager(&ui) {
        return r;
    }
    let Some(access) = ui.access(&peer, &headers, &uri) else { return denied(&peer) };
    let Ok(permit) = ui.streams.clone().try_acquire_owned() else {
        return text(StatusCode::SERVICE_UNAVAILABLE, format!("{STREAMS_MAX} pages are open on this manager already: close one, or open another manager's page"));
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let mut views = ui.views.subscribe();
    ui.wanted.notify_one();
    tokio::spawn(async move {
        let _permit = permit;
        let mut last: Arc<str> = Arc::from("");
        let mut next_check = tokio::time::Instant::now() + KEEPALIVE;
        // Why the stream ends, told to the page (it then stops reconnecting).
        let refusal = |ui: &Ui| -> Option<&'static [u8]> {
            if !ui.api.is_manager() {
                Some(b"event: denied\ndata: this node is no longer a manager\n\n")
            } else if !ui.still_allowed(&access) {
                Some(b"event: denied\ndata: the token was rotated: open the page with the new one (shoal ui token)\n\n")
            } else {
                None
            }
        };
        loop {
            // What to send next: a new view, or a keep-alive; both only while the page may look.
            let next = tokio::select! {
                biased;
                r = views.changed() => {
                    if r.is_err() {
                        return;
                    }
                    let json = views.borrow_and_update().clone();
                    if json.is_empty() || json == last {
                        continue;
                    }
                    last = json;
                    Bytes::from(format!("data: {last}\n\n"))
                }
                _ = tx.closed() => return,
                _ = tokio::time::sleep_until(next_check) => {
                    next_check += KEEPALIVE;
                    Bytes::from_static(b": keep-alive\n\n")
                }
            };
            if let Some(why) = refusal(&ui) {
                let _ = tx.send(Bytes::from_static(why)).await;
                return;
            }
            if tx.send(next).await.is_err() {
                return;
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx)) });
    let mut r = answer(StatusCode::OK, "text/event-stream", Body::from_stream(body));
    r.headers_mut().insert("X-Accel-Buffering", HeaderValue::from_static("no"));
    r
}

/// Builds the view after each change of the store (coalesced) while a page is open, and at
/// once for a page that just opened.
async fn produce(ui: Arc<Ui>) {
    let mut changes = ui.api.events.changes();
    loop {
        tokio::select! {
            biased;
            r = changes.changed() => {
                if r.is_err() {
                    return;
                }
                tokio::time::sleep(COALESCE).await;
                changes.borrow_and_update();
            }
            _ = ui.wanted.notified() => {}
        }
        // No page open: nothing to build (the next page asks for a fresh view).
        if ui.views.receiver_count() > 0 {
            ui.views.send_replace(Arc::from(ui.view_json()));
        }
    }
}

/// Serves the page on `addr` for the node's life. Only managers hold the store it shows.
pub async fn start(addr: SocketAddr, api: Arc<EngineApi>, dir: PathBuf, names: &[String]) -> Result<(), String> {
    if !api.is_manager() {
        return Err(format!("--ui-addr {addr}: only managers serve the cluster page (they hold the swarm's state): open a manager's page"));
    }
    token::load_or_make(&dir)?;
    let root = crate::engine_api::wait_for_root(&api.manager, "--ui-addr").await?;
    let names = crate::engine_api::cert_names(names, addr);
    let listener = tls::bind(addr, &root, crate::engine_api::current_root(&api.manager), &names, ClientAuth::Optional, "cluster page").await?;
    tracing::info!(target: "shoal", "cluster page at https://{addr}/ (a client certificate of the swarm, or the token `shoal ui token` prints)");
    let ui = Arc::new(Ui {
        api,
        dir,
        streams: Arc::new(tokio::sync::Semaphore::new(STREAMS_MAX)),
        views: tokio::sync::watch::Sender::new(Arc::from("")),
        wanted: tokio::sync::Notify::new(),
    });
    tokio::spawn(produce(ui.clone()));
    let app = axum::Router::new()
        .route("/", axum::routing::get(page))
        .route("/view", axum::routing::get(view))
        .route("/stream", axum::routing::get(stream))
        .with_state(ui);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app.into_make_service_with_connect_info::<Peer>()).await {
            tracing::warn!(target: "shoal", "the cluster page stopped: {e}");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_from_the_query_and_the_cookie() {
        let uri: Uri = "/?a=1&token=SHUI-1-ab%2Bc".parse().unwrap();
        assert_eq!(query_token(&uri).as_deref(), Some("SHUI-1-ab+c"));
        assert_eq!(query_token(&"/view".parse().unwrap()), None);
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("other=1; shoal_ui=SHUI-1-x"));
        assert_eq!(cookie_token(&h).as_deref(), Some("SHUI-1-x"));
        h.clear();
        h.append(header::COOKIE, HeaderValue::from_static("shoal_uix=1"));
        assert_eq!(cookie_token(&h), None, "another cookie whose name starts the same");
    }
}
