//! The operator's tools, as the operator uses them: the real `complaintd`
//! binary (`tickets …`, `check-config`) against the test's database and a
//! config file the test writes, while a daemon runs; mail read back from the
//! real inboxes.

use std::path::PathBuf;
use std::process::Command;

use std::collections::HashMap;

use complaintd::metrics::{Endpoint, Metrics, MetricsSettings};
use complaintd::ticket::{Status, TicketNo};
use prometheus_parse::{LineInfo, SampleType, Scrape, Value};

use crate::helpers::*;

/// What a run of the binary printed, and whether it succeeded.
struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `complaintd ARGS` to completion off the async workers.
async fn complaintd(args: Vec<String>) -> Output {
    complaintd_env(args, &[]).await
}

/// Runs `complaintd ARGS` with extra environment variables.
async fn complaintd_env(args: Vec<String>, env: &[(&str, &str)]) -> Output {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_complaintd"))
            .args(&args)
            .env_remove("COMPLAINTD_DATABASE_URL")
            .env_remove("COMPLAINTD_IMAP_PASSWORD")
            .envs(env)
            .output()
            .expect("complaintd runs");
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("complaintd finished")
}

/// A daemon with one complaint filed, and the operator's config for it.
struct Desk {
    app: TestApp,
    config: PathBuf,
    handler: String,
    desk: String,
}

impl Desk {
    async fn new() -> Self {
        let app = spawn_app().await;
        let config = private_config(&app.net.prefix, &app.settings.database.url);
        let (handler, desk) = (app.net.hq("liujia"), app.net.hq("complaints"));
        Self { app, config, handler, desk }
    }

    /// Files `form` as complaint `n` and waits until it is handled.
    async fn file(&self, n: usize, form: &str) -> TicketNo {
        let id = format!("{}.c{n}@hq.example.test", self.app.net.prefix);
        smtp_send(&self.handler, &[&self.desk], &complaint_mail(&self.handler, &self.desk, &id, form)).await;
        wait_for_folder(&self.desk, "Handled", n).await;
        let tickets = self.app.store.tickets(None, None).await.expect("tickets");
        tickets.first().expect("a ticket").number.clone()
    }

    /// `complaintd tickets ARGS` at the daemon's (manual) time.
    async fn tickets(&self, args: &[&str]) -> Output {
        self.tickets_at(&self.app.clock.now().to_rfc3339(), args).await
    }

    async fn tickets_at(&self, now: &str, args: &[&str]) -> Output {
        let mut all: Vec<String> = vec!["tickets".into()];
        all.extend(args.iter().map(|a| a.to_string()));
        all.extend(["--config".into(), self.config.display().to_string(), "--now".into(), now.into()]);
        complaintd(all).await
    }

    async fn ticket(&self, number: &TicketNo) -> complaintd::ticket::Ticket {
        self.app.store.ticket(number).await.expect("db").expect("ticket")
    }
}

fn assert_ok(out: &Output) {
    assert!(out.ok, "complaintd failed\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_and_show_tell_the_operator_where_each_ticket_stands() {
    let mut d = Desk::new().await;
    let number = d.file(1, FORM_BJ01).await;
    let station = d.app.net.station("BJ01");
    wait_for_mail(&station, 1, |m| m.subject.contains("投诉转出")).await;

    let out = d.tickets(&["list"]).await;
    assert_ok(&out);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("TICKET"), "{}", out.stdout);
    let row = lines.iter().find(|l| l.starts_with(number.as_str())).expect("the ticket's row");
    for cell in ["BJ01", "expedited", "open", "2026-11-16 09:30", "reply 2026-11-17 09:30"] {
        assert!(row.contains(cell), "{cell} missing in {row}");
    }
    assert!(!row.contains("OVERDUE"), "{row}");
    assert!(d.tickets(&["list", "--station", "sh02"]).await.stdout.contains("0 ticket(s)"));
    assert!(d.tickets(&["list", "--status", "open", "--station", "bj01"]).await.stdout.contains(number.as_str()));
    let bad = d.tickets(&["list", "--status", "pending"]).await;
    assert!(!bad.ok && bad.stderr.contains("--status \"pending\""), "{}", bad.stderr);

    // A day later the reply is overdue: marked in the table and found by --overdue.
    let tomorrow = "2026-11-17T10:00:00+08:00";
    assert!(d.tickets(&["list", "--overdue"]).await.stdout.contains("0 ticket(s)"));
    let late = d.tickets_at(tomorrow, &["list", "--overdue"]).await;
    assert!(late.stdout.lines().any(|l| l.starts_with(number.as_str()) && l.ends_with("OVERDUE")), "{}", late.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&d.tickets_at(tomorrow, &["list", "--json"]).await.stdout).expect("list --json");
    assert_eq!(json[0]["ticket"], number.as_str());
    assert_eq!(json[0]["overdue"], true);
    assert_eq!(json[0]["next_deadline"]["due"], "2026-11-17T09:30:00+08:00");

    // The timeline: the complaint in, the events, the forward and the ack out and sent.
    let handler = d.handler.clone();
    wait_for_mail(&handler, 1, |m| m.subject.contains("已受理")).await;
    let show = d.tickets(&["show", number.as_str()]).await;
    assert_ok(&show);
    let text = &show.stdout;
    for needle in [
        "BJ01 北京海淀服务站",
        "reply          2026-11-17 09:30  open",
        "close          2026-11-19 09:30  open",
        "extension cap  2026-11-23 09:30",
        "Planned alerts",
        &format!("in    complaint from {handler}: handled"),
        &format!("event received by {handler}"),
        "event forwarded: BJ01",
        "投诉转出-马丽（加急）",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in\n{text}");
    }
    assert!(
        text.lines().filter(|l| l.contains(" out ") && l.contains("[sent 2026-11-16 09:30]")).count() >= 2,
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&d.tickets(&["show", number.as_str(), "--json"]).await.stdout).expect("show --json");
    assert_eq!(json["status"], "open");
    assert_eq!(json["deadlines"][0]["due"], "2026-11-17T09:30:00+08:00");
    let types: Vec<&str> = json["timeline"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"in"));
    assert!(types.contains(&"event") && types.contains(&"out"), "{types:?}");

    let missing = d.tickets(&["show", "TS-20261116-9999"]).await;
    assert!(!missing.ok && missing.stderr.contains("no ticket TS-20261116-9999"), "{}", missing.stderr);
    let garbage = d.tickets(&["show", "TS-1"]).await;
    assert!(!garbage.ok && garbage.stderr.contains("not a ticket number"), "{}", garbage.stderr);
    d.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_actions_work_like_replies_and_reach_the_inboxes() {
    let mut d = Desk::new().await;
    let number = d.file(1, FORM_BJ01).await;
    let (bj01, sh02) = (d.app.net.station("BJ01"), d.app.net.station("SH02"));
    let handler = d.handler.clone();
    wait_for_mail(&bj01, 1, |m| m.subject.contains("投诉转出")).await;

    // Reassign: SH02 gets the complaint, the handler an ack, BJ01 a notice;
    // the running daemon sends them without being woken.
    d.app.set_local_time("2026-11-16 10:00");
    assert_ok(&d.tickets(&["reassign", number.as_str(), "--station", "sh02", "--note", "地址在上海"]).await);
    let forward = wait_for_mail(&sh02, 1, |m| m.subject.contains("投诉转出")).await;
    assert!(forward[0].text.contains("请于 2026-11-17 10:00 前回复"), "{}", forward[0].text);
    assert!(forward[0].cc.contains(&handler));
    wait_for_mail(&handler, 1, |m| m.subject.contains("已受理") && m.text.contains("SH02")).await;
    let notice = wait_for_mail(&bj01, 1, |m| m.subject.contains("操作员已改派给 SH02")).await;
    assert!(notice[0].text.contains("地址在上海"), "{}", notice[0].text);
    let t = d.ticket(&number).await;
    assert_eq!((t.station.as_deref(), t.status), (Some("SH02"), Status::Open));
    let events = d.app.store.events(&number).await.unwrap();
    let reassign = events.iter().find(|e| e.kind == "operator:reassign").expect("recorded");
    assert!(reassign.actor.as_deref().unwrap_or("").starts_with("operator"), "{reassign:?}");
    let same = d.tickets(&["reassign", number.as_str(), "--station", "SH02"]).await;
    assert!(!same.ok && same.stderr.contains("already with SH02"), "{}", same.stderr);
    let unknown = d.tickets(&["reassign", number.as_str(), "--station", "XX9"]).await;
    assert!(!unknown.ok && unknown.stderr.contains("unknown station"), "{}", unknown.stderr);

    // Extend: past the cap refused (nothing changes), within it granted and
    // announced to the station; a second time only with --force.
    let past = d.tickets(&["extend", number.as_str(), "--until", "2026-12-01 18:00"]).await;
    assert!(!past.ok && past.stderr.contains("--force"), "{}", past.stderr);
    assert!(!d.ticket(&number).await.extended);
    assert_ok(&d.tickets(&["extend", number.as_str(), "--until", "2026-11-20 18:00"]).await);
    let ext = wait_for_mail(&sh02, 1, |m| m.subject.contains("操作员已延期至 2026-11-20 18:00")).await;
    assert!(ext[0].cc.contains(&handler) && ext[0].text.contains("结案期限：2026-11-23 10:00"), "{}", ext[0].text);
    let again = d.tickets(&["extend", number.as_str(), "--until", "2026-11-23 10:00"]).await;
    assert!(!again.ok && again.stderr.contains("已延期一次"), "{}", again.stderr);
    assert_ok(&d.tickets(&["extend", number.as_str(), "--until", "2026-12-01 18:00", "--force"]).await);
    let t = d.ticket(&number).await;
    let local = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.unwrap().with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d %H:%M").to_string()
    };
    assert_eq!((local(t.result_due), local(t.close_due)), ("2026-12-01 18:00".into(), "2026-12-01 18:00".into()));

    // Close as invalid with a note: the handler is told, the follow-up is planned.
    assert_ok(&d.tickets(&["close", number.as_str(), "--invalid", "--note", "客户撤诉"]).await);
    let closed = wait_for_mail(&handler, 1, |m| m.subject.contains("操作员已结案（无效）")).await;
    assert!(closed[0].text.contains("客户撤诉"), "{}", closed[0].text);
    let t = d.ticket(&number).await;
    assert_eq!((t.status, t.valid), (Status::Closed, Some(false)));
    let twice = d.tickets(&["close", number.as_str()]).await;
    assert!(!twice.ok && twice.stderr.contains("is closed"), "{}", twice.stderr);
    let outbox = d.app.store.outbox(Some(&number)).await.unwrap();
    assert!(outbox.iter().any(|m| m.key.contains(":followup:") && m.sent_at.is_none()));

    // Reopen: the handler is told and the follow-up withdrawn.
    assert_ok(&d.tickets(&["reopen", number.as_str()]).await);
    wait_for_mail(&handler, 1, |m| m.subject.contains("操作员已重新打开")).await;
    let t = d.ticket(&number).await;
    assert_eq!((t.status, t.valid, t.closed_at), (Status::Open, None, None));
    assert!(d.app.store.outbox(Some(&number)).await.unwrap().iter().all(|m| !m.key.contains(":followup:")));
    let open = d.tickets(&["reopen", number.as_str()]).await;
    assert!(!open.ok && open.stderr.contains("not closed"), "{}", open.stderr);

    // The timeline shows what the operator did.
    let show = d.tickets(&["show", number.as_str()]).await.stdout;
    for kind in ["operator:reassign", "operator:extension", "operator:close", "operator:reopen"] {
        assert!(show.contains(kind), "{kind} missing in\n{show}");
    }
    d.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unrouted_complaint_is_routed_by_reassign_as_the_handler_is_told() {
    let mut d = Desk::new().await;
    let form = FORM_BJ01.replace("服务站：BJ01 北京海淀服务站\n", "").replace("北京市海淀区", "内蒙古呼和浩特");
    let number = d.file(1, &form).await;
    let unrouted = wait_for_mail(&d.handler, 1, |m| m.subject.contains("无法分派")).await;
    let hint = "第一行写“转 服务站代码”（例如“转 SH02”）";
    assert!(unrouted[0].text.contains(hint), "{}", unrouted[0].text);
    assert_eq!(d.ticket(&number).await.status, Status::Unrouted);
    assert!(d.tickets(&["list", "--status", "unrouted"]).await.stdout.contains(number.as_str()));

    assert_ok(&d.tickets(&["reassign", number.as_str(), "--station", "CD04"]).await);
    let cd04 = d.app.net.station("CD04");
    wait_for_mail(&cd04, 1, |m| m.subject.contains(number.as_str()) && m.subject.contains("投诉转出")).await;
    let t = d.ticket(&number).await;
    assert_eq!((t.station.as_deref(), t.status), (Some("CD04"), Status::Open));
    assert!(t.reply_due.is_some());
    d.app.stop().await;
}

/// What the endpoint answered: status, headers (names in lower case) and body.
pub(crate) struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Sends one raw HTTP/1.1 request (`Connection: close`, plus `headers`)
/// and reads the whole response.
pub(crate) async fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("endpoint accepts");
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\nConnection: close\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("request sent");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("response read");
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("head and body");
    let head = String::from_utf8(response[..split].to_vec()).expect("head is text");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpResponse { status, headers, body: response[split + 4..].to_vec() }
}

/// GETs (or `method`s) `path` from the metrics endpoint: status and body,
/// checked against its Content-Length.
pub(crate) async fn http(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    let r = http_request(addr, method, path, &[]).await;
    let length: usize = r.header("content-length").and_then(|n| n.parse().ok()).expect("Content-Length");
    assert_eq!(length, r.body.len());
    (r.status, String::from_utf8(r.body).expect("body is text"))
}

/// The exposition read by a Prometheus text parser (prometheus-parse),
/// strictly: every line is a HELP, TYPE or UNIT line or a sample of a
/// declared family (a counter's samples end in `_total`, OpenMetrics
/// style), and it ends with `# EOF`. Returns the family types and samples.
pub(crate) fn parse_exposition(text: &str) -> (HashMap<String, SampleType>, Scrape) {
    let mut types = HashMap::new();
    assert!(text.ends_with("# EOF\n"), "{text}");
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { .. } => {}
            LineInfo::Type { metric_name, sample_type, .. } => {
                assert!(types.insert(metric_name.clone(), sample_type).is_none(), "{metric_name} declared twice");
            }
            LineInfo::Sample { metric_name, .. } => {
                let family = match metric_name.strip_suffix("_total") {
                    Some(base) if types.get(base) == Some(&SampleType::Counter) => base,
                    _ => metric_name,
                };
                let kind = types.get(family).unwrap_or_else(|| panic!("{metric_name}: no TYPE before it"));
                assert!(
                    *kind != SampleType::Counter || metric_name.ends_with("_total"),
                    "counter sample {metric_name} without _total"
                );
                assert!(metric_name.starts_with("complaintd_"), "{metric_name}");
            }
            _ if line.starts_with("# UNIT ") || line == "# EOF" => {}
            other => panic!("unparsed line {line:?}: {other:?}"),
        }
    }
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("exposition parses");
    (types, scrape)
}

/// The value of the sample `name` whose labels are exactly `labels`.
pub(crate) fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && s.labels.len() == labels.len())
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => panic!("{name}: not a plain sample"),
        })
        .collect();
    assert_eq!(found.len(), 1, "{name}{labels:?}: {} samples", found.len());
    found[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_health_are_served_over_http_while_the_daemon_runs() {
    let start = "2026-11-16T01:30:00Z".parse().expect("date");
    let mut app = spawn_app_with(start, |s| {
        s.metrics = Some(MetricsSettings::on("127.0.0.1:0".parse().expect("addr")));
    })
    .await;
    let addr = app.metrics_addr.expect("endpoint bound");

    // Healthy once the workers run and the database answers.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let health = loop {
        let (status, body) = http(addr, "GET", "/health").await;
        if status == 200 || tokio::time::Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(health.0, 200, "{}", health.1);
    let json: serde_json::Value = serde_json::from_str(&health.1).expect("health is JSON");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["workers"]["intake"], true);

    // A complaint in, two mails out.
    let (handler, desk) = (app.net.hq("liujia"), app.net.hq("complaints"));
    let id = format!("{}.m1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    wait_for_mail(&handler, 1, |m| m.subject.contains("已受理")).await;
    wait_for_mail(&app.net.station("BJ01"), 1, |m| m.subject.contains("投诉转出")).await;
    let r = http_request(addr, "GET", "/metrics", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    let (types, m) = parse_exposition(std::str::from_utf8(&r.body).expect("text"));
    assert_eq!(types["complaintd_mail_in"], SampleType::Counter);
    assert_eq!(types["complaintd_tickets"], SampleType::Gauge);
    let mail_in = |kind, outcome| value(&m, "complaintd_mail_in_total", &[("kind", kind), ("outcome", outcome)]);
    assert_eq!(mail_in("complaint", "handled"), 1.0);
    assert_eq!(mail_in("reply", "handled"), 0.0);
    assert_eq!(mail_in("oversized", "duplicate"), 0.0);
    assert_eq!(value(&m, "complaintd_tickets", &[("status", "open")]), 1.0);
    assert_eq!(value(&m, "complaintd_tickets", &[("status", "closed")]), 0.0);
    assert_eq!(value(&m, "complaintd_tickets_overdue", &[]), 0.0);
    assert_eq!(value(&m, "complaintd_outbox_sent_total", &[]), 2.0);
    assert_eq!(value(&m, "complaintd_outbox_failed_total", &[]), 0.0);
    assert_eq!(value(&m, "complaintd_outbox_unsent", &[]), 0.0);
    assert_eq!(value(&m, "complaintd_database_up", &[]), 1.0);
    let imap = |state| value(&m, "complaintd_imap_state", &[("state", state)]);
    assert_eq!(imap("reconnecting"), 0.0);
    assert_eq!(imap("idle") + imap("connected"), 1.0);
    for worker in ["intake", "sweep", "outbox", "report"] {
        assert_eq!(value(&m, "complaintd_worker_up", &[("worker", worker)]), 1.0, "{worker}");
    }
    let last_round = value(&m, "complaintd_intake_last_round_timestamp_seconds", &[]);
    assert!(last_round >= start.timestamp() as f64, "{last_round}");

    // Compressed for a client that asks.
    let r = http_request(addr, "GET", "/metrics", &["Accept-Encoding: gzip"]).await;
    assert_eq!((r.status, r.header("content-encoding")), (200, Some("gzip")));

    // The next morning the reply is overdue.
    app.set_local_time("2026-11-17 10:00");
    let (_, text) = http(addr, "GET", "/metrics").await;
    assert_eq!(value(&parse_exposition(&text).1, "complaintd_tickets_overdue", &[]), 1.0);

    assert_eq!(http(addr, "GET", "/nothing").await.0, 404);
    assert_eq!(http(addr, "POST", "/metrics").await.0, 405);
    assert_eq!(http_request(addr, "BREW /metrics", "HTCPCP/1.0", &[]).await.status, 400);

    // Without running workers the same endpoint says unavailable.
    app.stop().await;
    let idle = Endpoint {
        metrics: std::sync::Arc::new(Metrics::default()),
        store: complaintd::store::Store::connect(&app.settings.database.url, &root()).await.expect("db"),
        clock: app.clock.clone(),
        settings: MetricsSettings::on("127.0.0.1:0".parse().expect("addr")),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(idle.serve(listener, stop_rx));
    let (status, body) = http(addr, "GET", "/health").await;
    assert_eq!(status, 503, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("health is JSON");
    assert_eq!((json["status"].as_str(), json["database"].as_str()), (Some("unavailable"), Some("ok")));
    assert_eq!((json["workers"]["report"].as_bool(), json["intake"]["last_round"].as_str()), (Some(false), None));
    let _ = stop.send(true);
    server.await.expect("endpoint stops");
}

/// `complaintd check-config --config PATH [ARGS]`.
async fn check_config(path: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["check-config".to_owned(), "--config".to_owned(), path.display().to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    complaintd_env(all, env).await
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_names_the_file_and_the_key_of_each_problem() {
    let prefix = unique_prefix();
    let settings = test_settings(&prefix).await;
    let good = private_config(&prefix, &settings.database.url);
    let text = std::fs::read_to_string(&good).expect("config");
    let out = check_config(&good, &[], &[]).await;
    assert_ok(&out);
    assert!(out.stdout.contains("0 error(s)"), "{}", out.stdout);
    // The example's stations share one domain: what DKIM proves there is said.
    let shared = "auth.require.station: BJ01, SH02, GZ03, CD04, HK05 share the mail domain stations.example.test";
    assert!(out.stdout.contains(&format!("warning: {}: {shared}", good.display())), "{}", out.stdout);

    // Values: a bad station address, a station address used twice, an SMTP
    // login without its password in the environment.
    let bad = good.with_file_name("bad.toml");
    let broken = text
        .replace(&format!("\"{prefix}-station-gz03@stations.example.test\""), "\"gz03 at stations\"")
        .replace(
            &format!("\"{prefix}-station-hk05@stations.example.test\""),
            &format!("\"{prefix}-station-bj01@stations.example.test\""),
        )
        .replace("pool_size = 4", "pool_size = 4\nuser = \"desk\"\npassword_env = \"COMPLAINTD_TEST_NO_SUCH_VAR\"");
    std::fs::write(&bad, broken).expect("write");
    let out = check_config(&bad, &[], &[]).await;
    assert!(!out.ok, "{}", out.stdout);
    let path = bad.display().to_string();
    for line in [
        format!("error: {path}: stations[2].emails[0]: \"gz03 at stations\" is not an email address"),
        format!(
            "error: {path}: stations[4].emails[0]: {prefix}-station-bj01@stations.example.test is also an address of BJ01"
        ),
        format!(
            "error: {path}: smtp.password_env: COMPLAINTD_TEST_NO_SUCH_VAR is not set and there is no smtp.password"
        ),
        format!("{path}: 3 error(s)"),
    ] {
        assert!(out.stdout.contains(&line), "{line:?} missing in\n{}", out.stdout);
    }
    // The daemon refuses the same file at start, naming the first problem.
    let run = complaintd(vec!["run".into(), "--config".into(), path.clone()]).await;
    assert!(!run.ok && run.stderr.contains("stations[2].emails[0]"), "{}", run.stderr);

    // Unknown keys and broken templates.
    let unknown = good.with_file_name("unknown.toml");
    std::fs::write(&unknown, text.replace("idle = true", "idle = true\npoll_secs = 5")).expect("write");
    let out = check_config(&unknown, &[], &[]).await;
    assert!(!out.ok && out.stdout.contains(&format!("{}: mailbox.poll_secs: unknown field", unknown.display())));
    let templates = good.with_file_name("templates");
    std::fs::create_dir_all(&templates).expect("dir");
    for entry in std::fs::read_dir(root().join("templates")).expect("templates") {
        let entry = entry.expect("entry");
        // The mail templates; board/ is for the board, not configured here.
        if entry.path().is_file() {
            std::fs::copy(entry.path(), templates.join(entry.file_name())).expect("copy");
        }
    }
    std::fs::write(templates.join("ack.txt"), "Subject: [{{ ticket.numbr }}]\n\nx\n").expect("write");
    let typo = good.with_file_name("typo.toml");
    let dir = root().join("templates").display().to_string();
    std::fs::write(&typo, text.replace(&format!("\"{dir}\""), &format!("\"{}\"", templates.display()))).expect("write");
    let out = check_config(&typo, &[], &[]).await;
    assert!(!out.ok && out.stdout.contains(&format!("{}: templates: template ack", typo.display())), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_connect_logs_in_to_the_lab_and_never_shows_a_password() {
    let prefix = unique_prefix();
    let settings = test_settings(&prefix).await;
    let config = private_config(&prefix, &settings.database.url);
    let out = check_config(&config, &["--connect"], &[]).await;
    assert_ok(&out);
    let path = config.display();
    assert!(out.stdout.contains(&format!("ok: {path}: mailbox: logged in as {prefix}-complaints@hq.example.test")));
    assert!(out.stdout.contains(&format!("ok: {path}: smtp: ")), "{}", out.stdout);
    // SQLite: created by the first run; PostgreSQL: the test's database answers.
    assert!(out.stdout.contains(&format!("{path}: database.url: ")), "{}", out.stdout);

    // A wrong password is reported, never printed.
    let secret = "s3cret-Wrong-42";
    let out = check_config(&config, &["--connect"], &[("COMPLAINTD_IMAP_PASSWORD", secret)]).await;
    assert!(!out.ok && out.stdout.contains(&format!("error: {path}: mailbox: IMAP ")), "{}", out.stdout);
    assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));

    // The daemon's JSON log with the same wrong password: every line JSON, no password.
    let log = config.with_file_name("daemon.log");
    let file = std::fs::File::create(&log).expect("log file");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_complaintd"))
        .args(["run", "--config"])
        .arg(&config)
        .env("COMPLAINTD_LOG_FORMAT", "json")
        .env("COMPLAINTD_IMAP_PASSWORD", secret)
        .stdout(std::process::Stdio::null())
        .stderr(file)
        .spawn()
        .expect("daemon starts");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("mailbox unavailable") {
        assert!(tokio::time::Instant::now() < deadline, "no login failure logged");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    daemon.kill().expect("stop");
    daemon.wait().expect("reaped");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(!text.contains(secret), "{text}");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    }
}

/// `complaintd hash-password` with `input` on stdin.
fn hash_password(input: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_complaintd"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("complaintd runs");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("password written");
    child.wait_with_output().expect("complaintd finished")
}

#[test]
fn hash_password_prints_a_phc_string_that_verifies_and_refuses_an_empty_one() {
    let out = hash_password("门户 pass\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let phc = String::from_utf8(out.stdout).expect("text");
    let phc = phc.trim_end();
    assert!(phc.starts_with("$argon2id$v=19$") && !phc.contains("门户"), "{phc}");
    assert!(complaintd::cli::hash_password::verify("门户 pass", phc));
    let empty = hash_password("");
    assert!(!empty.status.success() && empty.stdout.is_empty());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no password on stdin"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reassigned_complaint_carries_the_original_attachments_byte_for_byte() {
    let mut d = Desk::new().await;
    let id = format!("{}.att@hq.example.test", d.app.net.prefix);
    smtp_send(&d.handler, &[&d.desk], &complaint_with_photo(&d.handler, &d.desk, &id, FORM_BJ01)).await;
    let bj01 = d.app.net.station("BJ01");
    let first = wait_for_mail(&bj01, 1, |m| m.subject.contains("投诉转出")).await;
    let number = TicketNo::find_in(&first[0].subject).expect("ticket");
    wait_for_folder(&d.desk, "Handled", 1).await;

    assert_ok(&d.tickets(&["reassign", number.as_str(), "--station", "SH02"]).await);
    let sh02 = d.app.net.station("SH02");
    let forward = wait_for_mail(&sh02, 1, |m| m.subject.contains("投诉转出")).await;
    assert_carries_the_photo(&forward[0]);
    d.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn show_lists_each_refusal_under_the_mail_it_answers() {
    let mut d = Desk::new().await;
    let number = d.file(1, FORM_BJ01).await;
    let bj01 = d.app.net.station("BJ01");
    let forward = wait_for_mail(&bj01, 1, |m| m.subject.contains("投诉转出")).await;
    // Two replies at the same (manual) time: an extension past the cap, refused, then a contact.
    for (n, subject, text) in
        [(1, "延期请求", "申请延期至2026-12-31，配件未到。"), (2, "联系结果", "已联系客户，明天上门。")]
    {
        let id = format!("{}.r{n}@stations.example.test", d.app.net.prefix);
        let subject = format!("Re: [{number}] {subject}");
        smtp_send(&bj01, &[&d.desk], &reply_mail(&bj01, &d.desk, &id, &forward[0].message_id, &subject, text)).await;
        wait_for_folder(&d.desk, "Handled", n + 1).await;
    }
    let show = d.tickets(&["show", number.as_str()]).await;
    assert_ok(&show);
    let at = |needle: &str| {
        show.stdout.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}: {}", show.stdout))
    };
    assert!(at("延期请求") < at("延期申请未获批准") && at("延期申请未获批准") < at("联系结果"), "{}", show.stdout);
    d.app.stop().await;
}
