//! The desk board: server-rendered Chinese pages for the supervisor,
//! handlers and regional managers, read-only. "Now" (open tickets by station
//! and state, overdue, due soon), a ticket's page, search, and the month's
//! assessment with its chart and CSV. Logged-in users only (`session`);
//! pages from `templates/board/*.html` (`templates`), data from `pages`.
//! Served by the metrics endpoint's axum server, or on `[http] listen`.

pub mod pages;
mod samples;
pub mod session;
pub mod templates;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use crate::config::BoardUser;
use crate::desk::Desk;
use crate::report::{Period, assess};
use crate::store::Store;
use crate::ticket::TicketNo;
pub use templates::{BoardTemplates, PageError};

/// What the board's handlers share: the running desk (swapped on reload),
/// the database, the pages and the sessions.
pub struct Board {
    pub desk: Arc<ArcSwap<Desk>>,
    pub store: Store,
    pub pages: Arc<ArcSwap<BoardTemplates>>,
    sessions: session::Sessions,
}

impl Board {
    pub fn new(desk: Arc<ArcSwap<Desk>>, store: Store, pages: Arc<ArcSwap<BoardTemplates>>) -> Self {
        Self { desk, store, pages, sessions: session::Sessions::default() }
    }

    /// The board's routes, with their state applied.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(|| async { Redirect::to("/board") }))
            .route("/login", get(login_page).post(login))
            .route("/logout", post(logout))
            .route("/board", get(now))
            .route("/board/ticket/{number}", get(ticket))
            .route("/board/search", get(search))
            .route("/board/assessment", get(assessment))
            .route("/board/assessment.csv", get(assessment_csv))
            .with_state(Arc::new(self))
    }

    fn tls(&self) -> bool {
        self.desk.load().settings.http.as_ref().is_some_and(|h| h.tls)
    }

    /// The logged-in user of this request, as the running config has them.
    fn user(&self, headers: &HeaderMap) -> Option<BoardUser> {
        let desk = self.desk.load();
        let cookie = headers.get(header::COOKIE)?.to_str().ok()?;
        let name = self.sessions.user(session::token_in(cookie)?, desk.clock.now())?;
        desk.settings.http.as_ref()?.users.iter().find(|u| u.name == name).cloned()
    }

    /// Renders `page` with `ctx` as `page` and the user's name as `user`
    /// (straight from `ctx`: no JSON copy of a large page in between).
    fn render(&self, status: StatusCode, page: &str, user: Option<&BoardUser>, ctx: impl Serialize) -> Response {
        #[derive(Serialize)]
        struct Context<'a, T> {
            user: Option<&'a str>,
            page: T,
        }
        let user = user.map(|u| u.name.as_str());
        match self.pages.load().render(page, Context { user, page: ctx }) {
            Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
            Err(e) => {
                warn!(error = %e, "board: page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "页面出错\n").into_response()
            }
        }
    }
}

/// Serves the board until `stop`, under the endpoint's limits.
pub async fn serve(board: Board, listener: tokio::net::TcpListener, stop: tokio::sync::watch::Receiver<bool>) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "board: listening");
    }
    let mut stop = stop;
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let app = crate::metrics::endpoint::limited(board.router());
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
        warn!(error = %e, "board: server failed");
    }
}

type Shared = State<Arc<Board>>;

/// Not logged in (or the session ended): to the login page.
fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

fn failed(e: impl std::fmt::Display) -> Response {
    warn!(error = %e, "board: database");
    (StatusCode::SERVICE_UNAVAILABLE, "数据库暂不可用\n").into_response()
}

/// A POST from another site (or from no page at all): refused, see
/// [`session::same_origin`].
fn cross_site(headers: &HeaderMap) -> Option<Response> {
    let get = |name| headers.get(name).and_then(|v: &header::HeaderValue| v.to_str().ok());
    if session::same_origin(get(header::HOST), get(header::ORIGIN), get(header::REFERER)) {
        return None;
    }
    info!(origin = ?get(header::ORIGIN).map(crate::printable::one_line), "board: cross-site POST refused");
    Some((StatusCode::FORBIDDEN, "请从看板页面提交\n").into_response())
}

async fn login_page(State(b): Shared) -> Response {
    b.render(StatusCode::OK, "login.html", None, json!({ "error": false }))
}

#[derive(Deserialize)]
struct Login {
    name: String,
    password: String,
}

async fn login(State(b): Shared, headers: HeaderMap, Form(form): Form<Login>) -> Response {
    if let Some(refused) = cross_site(&headers) {
        return refused;
    }
    let users = b.desk.load().settings.http.as_ref().map(|h| h.users.clone()).unwrap_or_default();
    let name = form.name.trim().to_owned();
    let who = name.clone();
    let ok = tokio::task::spawn_blocking(move || session::authenticate(&users, &who, &form.password).is_some())
        .await
        .unwrap_or(false);
    if !ok {
        info!(user = %crate::printable::one_line(&name), "board: login refused");
        return b.render(StatusCode::UNAUTHORIZED, "login.html", None, json!({ "error": true }));
    }
    let now = b.desk.load().clock.now();
    match b.sessions.open(&name, now) {
        Ok(token) => {
            info!(user = %name, "board: logged in");
            let cookie = session::set_cookie(&token, b.tls());
            ([(header::SET_COOKIE, cookie)], Redirect::to("/board")).into_response()
        }
        Err(e) => failed(e),
    }
}

async fn logout(State(b): Shared, headers: HeaderMap) -> Response {
    if let Some(refused) = cross_site(&headers) {
        return refused;
    }
    if let Some(token) = headers.get(header::COOKIE).and_then(|c| c.to_str().ok()).and_then(session::token_in) {
        b.sessions.close(token);
    }
    ([(header::SET_COOKIE, session::clear_cookie(b.tls()))], Redirect::to("/login")).into_response()
}

async fn now(State(b): Shared, headers: HeaderMap) -> Response {
    let Some(user) = b.user(&headers) else { return to_login() };
    let desk = b.desk.load_full();
    let tickets = match b.store.open_complaints().await {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    let mine: Vec<_> = tickets.into_iter().filter(|t| pages::may_see(&desk, &user, t.station.as_deref())).collect();
    b.render(StatusCode::OK, "now.html", Some(&user), pages::now(&desk, &mine))
}

async fn ticket(State(b): Shared, headers: HeaderMap, Path(number): Path<String>) -> Response {
    let Some(user) = b.user(&headers) else { return to_login() };
    let desk = b.desk.load_full();
    let missing = |b: &Board| b.render(StatusCode::NOT_FOUND, "missing.html", Some(&user), json!({ "number": number }));
    let Ok(no) = TicketNo::parse(&number) else { return missing(&b) };
    let t = match b.store.ticket(&no).await {
        Ok(Some(t)) if pages::may_see(&desk, &user, t.station.as_deref()) => t,
        // Another region's ticket looks like none: its number tells nothing.
        Ok(_) => return missing(&b),
        Err(e) => return failed(e),
    };
    let timeline = match crate::desk::view::timeline(&b.store, &no).await {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    b.render(StatusCode::OK, "ticket.html", Some(&user), pages::ticket(&desk, &t, &timeline))
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search(State(b): Shared, headers: HeaderMap, Query(q): Query<SearchQuery>) -> Response {
    let Some(user) = b.user(&headers) else { return to_login() };
    let desk = b.desk.load_full();
    let term = q.q.trim();
    let found = if term.is_empty() {
        Vec::new()
    } else {
        match b.store.search_tickets(term).await {
            Ok(t) => t,
            Err(e) => return failed(e),
        }
    };
    let mine: Vec<_> = found.into_iter().filter(|t| pages::may_see(&desk, &user, t.station.as_deref())).collect();
    let ctx = json!({ "q": term, "searched": !term.is_empty(), "rows": pages::rows(&desk, &mine) });
    b.render(StatusCode::OK, "search.html", Some(&user), ctx)
}

#[derive(Deserialize)]
struct MonthQuery {
    month: Option<String>,
}

/// The assessment of `month` (default: the last full month) over the
/// tickets `user` may see.
async fn assessment_for(
    b: &Board,
    user: &BoardUser,
    month: Option<&str>,
) -> Result<crate::report::Assessment, Response> {
    let desk = b.desk.load_full();
    let tz = desk.calendar.tz();
    let period = match month.filter(|m| !m.trim().is_empty()) {
        Some(m) => Period::parse(m, tz).map_err(|e| (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response())?,
        None => Period::before(desk.clock.now(), tz),
    };
    let tickets = b.store.assessment_tickets(period.start, period.end).await.map_err(failed)?;
    let mine: Vec<_> = tickets.into_iter().filter(|t| pages::may_see(&desk, user, t.station.as_deref())).collect();
    let mut a = assess(&desk.settings, &period, &mine);
    // A manager's page lists only their stations (the total is theirs already).
    a.stations.retain(|s| pages::may_see(&desk, user, Some(&s.code)));
    Ok(a)
}

async fn assessment(State(b): Shared, headers: HeaderMap, Query(q): Query<MonthQuery>) -> Response {
    let Some(user) = b.user(&headers) else { return to_login() };
    match assessment_for(&b, &user, q.month.as_deref()).await {
        Ok(a) => b.render(StatusCode::OK, "assessment.html", Some(&user), pages::assessment(&a)),
        Err(r) => r,
    }
}

async fn assessment_csv(State(b): Shared, headers: HeaderMap, Query(q): Query<MonthQuery>) -> Response {
    let Some(user) = b.user(&headers) else { return to_login() };
    match assessment_for(&b, &user, q.month.as_deref()).await {
        Ok(a) => {
            let disposition = format!("attachment; filename=\"{}\"", a.csv_name());
            let headers = [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ];
            (headers, a.csv()).into_response()
        }
        Err(r) => r,
    }
}
