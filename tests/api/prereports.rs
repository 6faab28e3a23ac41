//! Pre-reports (投诉报备) end to end: acknowledged with a ticket number, the
//! regional manager copied, a major one flagged to the supervisor, a later
//! complaint linked to it and, closed in time, not counted in the assessment.

use complaintd::report::{Period, assess};
use complaintd::ticket::TicketNo;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_pre_report_is_acknowledged_the_manager_copied_and_a_major_one_flagged() {
    let mut app = spawn_app().await;
    let desk = app.net.hq("complaints");
    let baobei = app.net.hq("baobei");
    let (gz03, north, south) = (app.net.station("GZ03"), app.net.hq("manager-north"), app.net.hq("manager-south"));
    let supervisor = app.net.hq("supervisor");

    // GZ03 mails the pre-report address, which the deployment aliases to the
    // dispatch mailbox: header To baobei@, delivered to complaints@. It did
    // not copy its manager, so the daemon does.
    let id = format!("{}.p1@stations.example.test", app.net.prefix);
    smtp_send(&gz03, &[&desk], &pre_report_mail(&gz03, &baobei, None, &id, PRE_REPORT_GZ03)).await;
    let ack = wait_for_mail(&gz03, 1, |m| m.subject.contains("投诉报备已受理")).await;
    let number = TicketNo::find_in(&ack[0].subject).expect("ticket number in the subject");
    assert!(ack[0].text.contains(number.as_str()) && ack[0].text.contains("郑洁"), "{}", ack[0].text);
    assert!(!ack[0].text.contains("电话联系"), "not major: {}", ack[0].text);
    assert_eq!(ack[0].cc, vec![south.clone()], "the manager is copied");
    assert_eq!(ack[0].header("In-Reply-To"), Some(format!("<{id}>").as_str()));
    wait_for_mail(&south, 1, |m| m.subject.contains(number.as_str())).await;
    let t = app.store.ticket(&number).await.unwrap().unwrap();
    assert_eq!(
        (t.kind.as_str(), t.pre_reported, t.major, t.station.as_deref()),
        ("pre_report", true, false, Some("GZ03"))
    );
    assert_eq!(t.handler, south, "the regional manager follows the pre-report");

    // BJ01 sends a major one To baobei@ with the dispatch mailbox and its
    // manager copied: no second copy for the manager; the supervisor is told
    // and the station reminded to phone.
    let bj01 = app.net.station("BJ01");
    let major = PRE_REPORT_GZ03
        .replace("服务站：GZ03\n", "")
        .replace("郑洁", "王强")
        .replace("13700004444", "13600005555")
        .replace("是否重大投诉：否", "是否重大投诉：是");
    let id = format!("{}.p2@stations.example.test", app.net.prefix);
    let raw = pre_report_mail(&bj01, &format!("{baobei}, {desk}"), Some(&north), &id, &major);
    smtp_send(&bj01, &[&baobei, &desk, &north], &raw).await;
    let ack = wait_for_mail(&bj01, 1, |m| m.subject.contains("投诉报备已受理")).await;
    assert!(ack[0].text.contains("请同时电话联系"), "{}", ack[0].text);
    assert!(ack[0].cc.is_empty(), "the station copied its manager: {:?}", ack[0].cc);
    let flagged = wait_for_mail(&supervisor, 1, |m| m.subject.contains("重大投诉报备")).await;
    assert!(flagged[0].text.contains("王强") && flagged[0].subject.contains("BJ01"), "{}", flagged[0].text);
    let major_no = TicketNo::find_in(&flagged[0].subject).unwrap();
    let t = app.store.ticket(&major_no).await.unwrap().unwrap();
    assert_eq!((t.station.as_deref(), t.major), (Some("BJ01"), true));

    // Not from a station: quarantined, nothing filed.
    let handler = app.net.hq("liujia");
    let id = format!("{}.p3@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &pre_report_mail(&handler, &baobei, None, &id, PRE_REPORT_GZ03)).await;
    // A station pre-reporting for another station: the sender is told why.
    let id = format!("{}.p4@stations.example.test", app.net.prefix);
    let other = PRE_REPORT_GZ03.replace("服务站：GZ03", "服务站：SH02");
    smtp_send(&gz03, &[&desk], &pre_report_mail(&gz03, &baobei, None, &id, &other)).await;
    wait_for_folder(&desk, "Quarantine", 2).await;
    let refused = wait_for_mail(&gz03, 1, |m| m.subject.contains("无法受理")).await;
    assert!(refused[0].text.contains("SH02"), "{}", refused[0].text);
    assert_eq!(app.store.tickets(None, None).await.unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_later_complaint_is_linked_to_the_pre_report_and_exempt_when_closed_in_time() {
    let mut app = spawn_app().await;
    let (desk, baobei, handler) = (app.net.hq("complaints"), app.net.hq("baobei"), app.net.hq("liujia"));
    let gz03 = app.net.station("GZ03");
    let id = format!("{}.p1@stations.example.test", app.net.prefix);
    smtp_send(&gz03, &[&desk], &pre_report_mail(&gz03, &baobei, None, &id, PRE_REPORT_GZ03)).await;
    let ack = wait_for_mail(&gz03, 1, |m| m.subject.contains("投诉报备已受理")).await;
    let pre = TicketNo::find_in(&ack[0].subject).unwrap();

    // The customer calls the hotline the next day; the call center names
    // the same service order (phone written differently).
    app.set_local_time("2026-11-17 10:00");
    let form = "紧急程度：一般\n投诉分类：服务类-服务质量-维修周期\n服务站：GZ03\n客户姓名：郑洁\n\
                联系电话：137-0000-4444\n服务单号：SO-2026-110003\n投诉内容：上门超时，客户来电投诉。\n";
    let cid = format!("{}.c1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &cid, form)).await;
    let forward = wait_for_mail(&gz03, 1, |m| m.subject.contains("投诉转出")).await;
    assert!(forward[0].text.contains(&format!("本投诉已由贵站报备（{pre}）")), "{}", forward[0].text);
    let number = TicketNo::find_in(&forward[0].subject).unwrap();
    let hq_ack = wait_for_mail(&handler, 1, |m| m.subject.contains("已受理")).await;
    assert!(hq_ack[0].text.contains(&format!("报备此投诉（{pre}）")), "{}", hq_ack[0].text);
    let t = app.store.ticket(&number).await.unwrap().unwrap();
    assert_eq!((t.pre_reported, t.major, t.linked_to.as_ref()), (true, false, Some(&pre)));
    let pre_events = app.store.events(&pre).await.unwrap();
    assert!(pre_events.iter().any(|e| e.kind == "linked" && e.detail.as_deref() == Some(number.as_str())));

    // The station reports the result, the handler closes it in time: the
    // complaint is valid and in a counted category, yet not counted.
    let subject = format!("Re: [{number}] 投诉转出");
    let r1 = format!("{}.r1@stations.example.test", app.net.prefix);
    let text = "处理结果：已改约上门，客户满意。";
    smtp_send(&gz03, &[&desk], &reply_mail(&gz03, &desk, &r1, &forward[0].message_id, &subject, text)).await;
    wait_for_mail(&handler, 1, |m| m.subject.contains("回复（处理结果）")).await;
    let r2 = format!("{}.r2@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &reply_mail(&handler, &desk, &r2, &forward[0].message_id, &subject, "结案")).await;
    wait_for_folder(&desk, "Handled", 4).await;
    let period = Period::parse("2026-11", chrono_tz::Asia::Shanghai).unwrap();
    let tickets = app.store.assessment_tickets(period.start, period.end).await.unwrap();
    let gz = assess(&app.settings, &period, &tickets).stations.into_iter().find(|s| s.code == "GZ03").unwrap();
    assert_eq!((gz.closed, gz.in_scope, gz.pre_reported, gz.exempt, gz.counted), (1, 1, 1, 1, 0));
    assert_eq!(gz.pre_reports, 1);

    // Beyond the link window (30 days) the same customer's complaint stands alone.
    app.set_local_time("2026-12-17 10:00");
    let cid = format!("{}.c2@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &cid, form)).await;
    let later = wait_for_mail(&gz03, 1, |m| m.subject.contains("[TS-20261217-")).await;
    assert!(!later[0].text.contains("报备"), "{}", later[0].text);
    let t = app.store.ticket(&TicketNo::find_in(&later[0].subject).unwrap()).await.unwrap().unwrap();
    assert_eq!((t.pre_reported, t.linked_to), (false, None));
    app.stop().await;
}
