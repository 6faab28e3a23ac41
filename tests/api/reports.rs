//! Reports against the real lab: a simulated month of tickets whose
//! assessment is computed here, independently, and compared with the CSV
//! attached to the mail in channel management's inbox; sent once across
//! restarts and instances; the weekly digest in a manager's inbox.

use std::collections::BTreeMap;

use complaintd::app::App;
use complaintd::cli::report::monthly_on_demand;
use complaintd::desk::{Desk as DeskLogic, Disposition, Incoming};
use complaintd::jobs::Step as _;
use complaintd::report::Period;
use complaintd::store::InboundRecord;
use complaintd::ticket::TicketNo;
use mail_parser::MimeHeaders as _;

use crate::helpers::*;

/// The desk's dispatch on the app's database and clock, fed parsed mail
/// directly: a month of tickets without a month of IMAP round trips.
struct Desk {
    logic: DeskLogic,
    app: TestApp,
    seq: u32,
}

impl Desk {
    async fn apply(&mut self, raw: &[u8]) -> Disposition {
        let parsed = complaintd::intake::parse(raw, &self.app.settings);
        let mut tx = self.app.store.begin().await.unwrap();
        // Recorded in the intake log first, as intake does.
        self.seq += 1;
        let record = InboundRecord::new("direct".into(), 1, self.seq, &parsed, self.app.clock.now());
        let inbound = tx.claim_inbound(&record).await.unwrap().expect("a new message");
        let d = self.logic.apply(&mut tx, Incoming { msg: &parsed, inbound, auth: None }).await.unwrap();
        tx.commit().await.unwrap();
        d
    }

    fn id(&mut self) -> String {
        self.seq += 1;
        format!("{}.m{}@example.test", self.app.net.prefix, self.seq)
    }
}

/// One complaint of the month and what it should come to, by construction.
struct Case {
    station: &'static str,
    category: &'static str,
    received: &'static str,
    /// Contacted / result / close times; `None`: never happened.
    contacted: Option<&'static str>,
    result: Option<&'static str>,
    close: Option<&'static str>,
    valid: bool,
    /// Filed as a pre-report by the station first (time, major).
    pre_report: Option<(&'static str, bool)>,
    /// What the rules say of it (normal urgency: reply and result due 2
    /// business days after receipt, close 3).
    reply_on_time: bool,
    result_on_time: bool,
    close_on_time: bool,
    counted_category: bool,
    /// Still open at the end of November, and overdue then.
    open_at_end: bool,
    overdue_at_end: bool,
}

const QUALITY: &str = "服务类-服务质量-维修周期";

fn cases() -> Vec<Case> {
    let c = |station, category, received| Case {
        station,
        category,
        received,
        contacted: None,
        result: None,
        close: None,
        valid: true,
        pre_report: None,
        reply_on_time: true,
        result_on_time: true,
        close_on_time: true,
        counted_category: true,
        open_at_end: false,
        overdue_at_end: false,
    };
    vec![
        // On time throughout, counted.
        Case {
            contacted: Some("2026-11-02 11:00"),
            result: Some("2026-11-03 10:00"),
            close: Some("2026-11-04 09:30"),
            ..c("BJ01", QUALITY, "2026-11-02 10:00")
        },
        // Late throughout (due Thu 05 10:00, close Fri 06 10:00), counted.
        Case {
            contacted: Some("2026-11-06 10:00"),
            result: Some("2026-11-06 11:00"),
            close: Some("2026-11-09 10:00"),
            reply_on_time: false,
            result_on_time: false,
            close_on_time: false,
            ..c("BJ01", "服务类-服务质量-维修质量", "2026-11-03 10:00")
        },
        // Closed invalid.
        Case {
            contacted: Some("2026-11-04 11:00"),
            result: Some("2026-11-05 10:00"),
            close: Some("2026-11-05 15:00"),
            valid: false,
            ..c("BJ01", QUALITY, "2026-11-04 10:00")
        },
        // A product complaint: valid, not the station's assessment.
        Case {
            contacted: Some("2026-11-05 11:00"),
            result: Some("2026-11-06 10:00"),
            close: Some("2026-11-09 09:30"),
            counted_category: false,
            ..c("BJ01", "产品类-产品质量", "2026-11-05 10:00")
        },
        // Pre-reported, not major, closed in time: exempt.
        Case {
            pre_report: Some(("2026-11-09 09:00", false)),
            contacted: Some("2026-11-10 11:00"),
            result: Some("2026-11-11 10:00"),
            close: Some("2026-11-12 10:00"),
            ..c("SH02", QUALITY, "2026-11-10 10:00")
        },
        // Pre-reported but major: counted.
        Case {
            pre_report: Some(("2026-11-09 09:30", true)),
            contacted: Some("2026-11-10 11:30"),
            result: Some("2026-11-11 11:00"),
            close: Some("2026-11-12 11:00"),
            ..c("SH02", QUALITY, "2026-11-10 11:00")
        },
        // Pre-reported, closed late (due Tue 17 10:00): counted.
        Case {
            pre_report: Some(("2026-11-09 10:00", false)),
            contacted: Some("2026-11-12 11:00"),
            result: Some("2026-11-13 10:00"),
            close: Some("2026-11-18 10:00"),
            close_on_time: false,
            ..c("SH02", QUALITY, "2026-11-12 10:00")
        },
        // An internal complaint against the station: counted.
        Case {
            contacted: Some("2026-11-16 11:00"),
            result: Some("2026-11-17 10:00"),
            close: Some("2026-11-18 09:00"),
            ..c("GZ03", "服务类-内部投诉-服务站态度", "2026-11-16 10:00")
        },
        // Contacted, then nothing: open at the end, result overdue since Tue 24.
        Case {
            contacted: Some("2026-11-20 11:00"),
            open_at_end: true,
            overdue_at_end: true,
            ..c("GZ03", QUALITY, "2026-11-20 10:00")
        },
        // An internal complaint about the call center: not the station's.
        Case {
            contacted: Some("2026-11-23 11:00"),
            result: Some("2026-11-24 10:00"),
            close: Some("2026-11-24 11:00"),
            counted_category: false,
            ..c("HK05", "服务类-内部投诉-呼叫中心", "2026-11-23 10:00")
        },
        // Received on the last afternoon: open at the end, not yet due.
        Case { open_at_end: true, ..c("CD04", QUALITY, "2026-11-30 17:00") },
    ]
}

/// A pre-report that no complaint follows.
const LONE_PRE_REPORT: (&str, &str) = ("CD04", "2026-11-25 10:00");

/// The expected CSV columns per station, summed from the cases' flags.
fn expected(cases: &[Case], stations: &[&str]) -> BTreeMap<String, BTreeMap<&'static str, String>> {
    let mut out = BTreeMap::new();
    for code in stations {
        let mine: Vec<&Case> = cases.iter().filter(|c| c.station == *code).collect();
        let closed: Vec<&&Case> = mine.iter().filter(|c| c.close.is_some()).collect();
        let n = |f: &dyn Fn(&Case) -> bool| closed.iter().filter(|c| f(c)).count();
        let in_scope = |c: &Case| c.valid && c.counted_category;
        let exempt = |c: &Case| in_scope(c) && matches!(c.pre_report, Some((_, false))) && c.close_on_time;
        let rate = |k: usize| {
            if closed.is_empty() { "-".to_owned() } else { format!("{}%", (k * 100 + closed.len() / 2) / closed.len()) }
        };
        let pre_reports =
            mine.iter().filter(|c| c.pre_report.is_some()).count() + usize::from(LONE_PRE_REPORT.0 == *code);
        let reply = n(&|c| c.reply_on_time);
        let result = n(&|c| c.result_on_time);
        let close = n(&|c| c.close_on_time);
        let cols = BTreeMap::from([
            ("收到投诉", mine.len().to_string()),
            ("投诉报备", pre_reports.to_string()),
            ("结案", closed.len().to_string()),
            ("有效", n(&|c| c.valid).to_string()),
            ("无效", n(&|c| !c.valid).to_string()),
            ("考核范围内有效", n(&in_scope).to_string()),
            ("其中已报备", n(&|c| in_scope(c) && c.pre_report.is_some()).to_string()),
            ("报备免考核", n(&exempt).to_string()),
            ("计入考核", n(&|c| in_scope(c) && !exempt(c)).to_string()),
            ("首次回复及时率", rate(reply)),
            ("处理结果及时率", rate(result)),
            ("结案及时率", rate(close)),
            ("超时结案", n(&|c| !(c.reply_on_time && c.result_on_time && c.close_on_time)).to_string()),
            ("月末未结", mine.iter().filter(|c| c.open_at_end).count().to_string()),
            ("月末未结且超时", mine.iter().filter(|c| c.overdue_at_end).count().to_string()),
        ]);
        out.insert((*code).to_owned(), cols);
    }
    out
}

/// What happens when, over the month.
enum Step {
    PreReport { case: usize, major: bool },
    LonePreReport,
    Complaint(usize),
    Reply { case: usize, text: &'static str, from_handler: bool },
}

fn pre_report_form(code: &str, i: usize, major: bool) -> String {
    format!(
        "投诉报备表\n服务站：{code}\n客户姓名：客户{i}\n联系电话：1390000{i:04}\n服务单号：SO-{i:04}\n\
         投诉内容：上门不及时。\n已采取措施：已致歉。\n是否重大投诉：{}\n",
        if major { "是" } else { "否" }
    )
}

fn complaint_form(c: &Case, i: usize) -> String {
    // Pre-reported cases are matched by the service order, the others are
    // told apart by phone and service order (no repeats of one another).
    format!(
        "紧急程度：一般\n投诉分类：{}\n服务站：{}\n客户姓名：客户{i}\n联系电话：1390000{i:04}\n\
         服务单号：SO-{i:04}\n投诉内容：第 {i} 件投诉。\n",
        c.category, c.station
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_month_of_tickets_is_assessed_once_and_mailed_to_channel_management() {
    let app = spawn_app_at("2026-11-02T00:00:00Z".parse().unwrap()).await; // Mon 08:00 local
    let logic = complaintd::setup::desk(app.settings.clone(), app.clock.clone()).unwrap();
    let mut desk = Desk { logic, app, seq: 0 };
    let (handler, hq, baobei) = (desk.app.net.hq("liujia"), desk.app.net.hq("complaints"), desk.app.net.hq("baobei"));

    let cases = cases();
    let mut steps: Vec<(&str, Step)> = vec![(LONE_PRE_REPORT.1, Step::LonePreReport)];
    for (i, c) in cases.iter().enumerate() {
        if let Some((at, major)) = c.pre_report {
            steps.push((at, Step::PreReport { case: i, major }));
        }
        steps.push((c.received, Step::Complaint(i)));
        for (at, text, from_handler) in [
            (c.contacted, "已联系客户，约好上门。", false),
            (c.result, "处理结果：已修好，客户满意。", false),
            (c.close, if c.valid { "结案" } else { "结案 无效" }, true),
        ] {
            if let Some(at) = at {
                steps.push((at, Step::Reply { case: i, text, from_handler }));
            }
        }
    }
    steps.sort_by_key(|(at, _)| *at);

    let mut numbers: BTreeMap<usize, TicketNo> = BTreeMap::new();
    for (at, step) in steps {
        desk.app.set_local_time(at);
        let disposition = match step {
            Step::PreReport { case, major } => {
                let station = desk.app.net.station(cases[case].station);
                let (id, form) = (desk.id(), pre_report_form(cases[case].station, case, major));
                desk.apply(&pre_report_mail(&station, &baobei, None, &id, &form)).await
            }
            Step::LonePreReport => {
                let station = desk.app.net.station(LONE_PRE_REPORT.0);
                let (id, form) = (desk.id(), pre_report_form(LONE_PRE_REPORT.0, 99, false));
                desk.apply(&pre_report_mail(&station, &baobei, None, &id, &form)).await
            }
            Step::Complaint(case) => {
                let id = desk.id();
                let d = desk.apply(&complaint_mail(&handler, &hq, &id, &complaint_form(&cases[case], case))).await;
                if let Disposition::Handled { ticket: Some(t), .. } = &d {
                    numbers.insert(case, t.clone());
                }
                d
            }
            Step::Reply { case, text, from_handler } => {
                let from = if from_handler { handler.clone() } else { desk.app.net.station(cases[case].station) };
                let subject = format!("Re: [{}] 投诉转出", numbers[&case]);
                let id = desk.id();
                desk.apply(&reply_mail(&from, &hq, &id, "earlier@example.test", &subject, text)).await
            }
        };
        assert!(matches!(disposition, Disposition::Handled { .. }), "{at}: {disposition:?}");
    }
    for (case, number) in &numbers {
        let t = desk.app.store.ticket(number).await.unwrap().unwrap();
        assert_eq!(t.pre_reported, cases[*case].pre_report.is_some(), "{number} linked to its pre-report");
    }

    // 09:00 on 1 December: the November assessment goes to channel management.
    desk.app.set_local_time("2026-12-01 09:01");
    let channel = desk.app.net.hq("channel");
    let mail = wait_for_mail(&channel, 1, |m| m.subject.contains("考核月报 2026-11")).await;
    assert_eq!(mail[0].header("Auto-Submitted"), Some("auto-generated"));
    let message = mail_parser::MessageParser::default().parse(&mail[0].raw).unwrap();
    let html = message.body_html(0).expect("an HTML part").into_owned();
    assert!(html.contains("<table") && html.contains("上海徐汇服务站") && html.contains("bgcolor="), "{html}");
    assert!(!html.contains("<script") && !html.contains("<svg"));
    let attachment = message.attachments().next().expect("the CSV attachment");
    assert_eq!(attachment.attachment_name(), Some("assessment-2026-11.csv"));
    let csv = attachment.contents().to_vec();
    let text = String::from_utf8(csv.clone()).unwrap();
    let mut lines = text.trim_start_matches('\u{feff}').lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: BTreeMap<String, Vec<&str>> =
        lines.map(|l| l.split(',').collect::<Vec<_>>()).map(|r| (r[0].to_owned(), r)).collect();
    let stations = ["BJ01", "SH02", "GZ03", "CD04", "HK05"];
    for (code, columns) in expected(&cases, &stations) {
        for (column, want) in columns {
            let i = header.iter().position(|h| *h == column).unwrap_or_else(|| panic!("column {column}"));
            assert_eq!(rows[&code][i], want, "{code} {column}");
        }
    }
    // Spot checks of the expectation itself, so a wrong flag cannot hide.
    let counted = header.iter().position(|h| *h == "计入考核").unwrap();
    assert_eq!([rows["BJ01"][counted], rows["SH02"][counted], rows["GZ03"][counted]], ["2", "2", "1"]);
    assert!(mail[0].text.contains("BJ01 北京海淀服务站") && mail[0].text.contains("计入考核 2"), "{}", mail[0].text);

    // `complaintd report monthly` prints the same figures and writes the same CSV.
    let file = std::env::temp_dir().join(format!("{}-assessment.csv", desk.app.net.prefix));
    let printed = monthly_on_demand(&desk.app.settings, "2026-11", Some(&file), desk.app.clock.now()).await.unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), csv);
    std::fs::remove_file(&file).unwrap();
    for line in mail[0].text.lines().filter(|l| l.contains("计入考核") || l.contains("及时率")) {
        assert!(printed.contains(line.trim_end()), "{line:?} not in\n{printed}");
    }

    // Restarted, and with a second instance on the same database: the
    // period is claimed, nothing is sent again.
    let Desk { app, .. } = desk;
    let mut app = app.restart().await;
    app.set_local_time("2026-12-01 10:00");
    let others = [
        App::build(app.settings.clone(), app.clock.clone()).await.unwrap(),
        App::build(app.settings.clone(), app.clock.clone()).await.unwrap(),
    ];
    let workers: Vec<_> = others.iter().map(|a| a.report_worker()).collect();
    assert_eq!(workers[0].try_step().await.unwrap(), 0);
    let november = Period::parse("2026-11", chrono_tz::Asia::Shanghai).unwrap();
    assert_eq!(workers[1].monthly(&november).await.unwrap(), 0);
    // Two instances asked for the same new period at once: one mail.
    let october = Period::parse("2026-10", chrono_tz::Asia::Shanghai).unwrap();
    let (a, b) = tokio::join!(workers[0].monthly(&october), workers[1].monthly(&october));
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    for other in &others {
        other.store.close().await;
    }
    wait_for_mail(&channel, 1, |m| m.subject.contains("考核月报 2026-10")).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.store.unsent_count().await.unwrap() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "outbox never drained");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let reports = mailbox(&channel, "INBOX").await;
    assert_eq!(reports.iter().filter(|m| m.subject.contains("考核月报 2026-11")).count(), 1);
    assert_eq!(reports.iter().filter(|m| m.subject.contains("考核月报 2026-10")).count(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_manager_gets_a_weekly_digest_of_open_and_overdue_tickets_once() {
    let app = spawn_app().await; // Monday 16 November 09:30, after that week's digest time
    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let id = format!("{}.c1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    let forward = wait_for_mail(&station, 1, |m| m.subject.contains("投诉转出")).await;
    let number = TicketNo::find_in(&forward[0].subject).unwrap();

    // Monday 23rd 09:00: the expedited complaint was due on the 17th.
    app.set_local_time("2026-11-23 09:01");
    let north = app.net.hq("manager-north");
    let digest = wait_for_mail(&north, 1, |m| m.subject.contains("未结投诉周报")).await;
    assert!(digest[0].subject.contains("2026-11-23：1 件未结，1 件超时"), "{}", digest[0].subject);
    assert!(digest[0].text.contains(number.as_str()), "{}", digest[0].text);
    // How overdue each deadline is, never a passed one as the next.
    assert!(digest[0].text.contains("已超时：首次回复（超时 "), "{}", digest[0].text);
    assert!(!digest[0].text.contains("下一期限"), "{}", digest[0].text);
    assert!(digest[0].text.starts_with("区域服务经理："), "{}", digest[0].text);
    let message = mail_parser::MessageParser::default().parse(&digest[0].raw).unwrap();
    assert!(message.body_html(0).is_some_and(|h| h.contains(number.as_str())));

    // Restarted and looked at again: not sent twice; other managers, with
    // nothing open, get nothing.
    let mut app = app.restart().await;
    app.set_local_time("2026-11-23 09:05");
    let other = App::build(app.settings.clone(), app.clock.clone()).await.unwrap();
    assert_eq!(other.report_worker().try_step().await.unwrap(), 0);
    other.store.close().await;
    let weekly: Vec<_> =
        app.store.outbox(None).await.unwrap().into_iter().filter(|m| m.key.starts_with("report:weekly:")).collect();
    assert_eq!(weekly.len(), 1, "{weekly:?}");
    assert_eq!(weekly[0].recipients, vec![north.clone()]);
    app.stop().await;
}
