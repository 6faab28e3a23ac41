//! Deadline repair against the real lab: a ticket opened while 2027 is
//! provisional gets the deadline of the imported arrangement after a
//! restart, its timeline says so, the station is told, and the next
//! reminder uses the new deadline.

use complaintd::calendar::statutory;
use complaintd::ticket::TicketNo;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn an_imported_year_moves_the_deadline_of_an_open_ticket() {
    // Thursday 2026-12-31 16:00: an expedited complaint (one business day).
    let app = spawn_app_at("2026-12-31T08:00:00Z".parse().expect("date")).await;
    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let id = format!("{}.c1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    let forward = wait_for_mail(&station, 1, |m| m.subject.contains("投诉转出")).await;
    let number = TicketNo::find_in(&forward[0].subject).expect("ticket in subject");
    // Provisional 2027 has only 1 January off: due Monday 4 January 16:00.
    assert!(forward[0].text.contains("请于 2027-01-04 16:00 前回复"), "{}", forward[0].text);
    assert!(forward[0].text.contains("2027年放假安排尚未公布"), "{}", forward[0].text);

    // The notice comes: say 4 January is off too. Imported with the CLI.
    let dir = std::env::temp_dir().join(format!("complaintd-cal-{}", app.net.prefix));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut days: Vec<String> = statutory::provisional_days(2027)
        .expect("2027 is in the table")
        .into_iter()
        .map(|(d, _)| format!("\"{d}\""))
        .collect();
    days.push("\"2027-01-04\"".into());
    let notice = dir.join("notice.toml");
    std::fs::write(&notice, format!("[[year]]\nyear = 2027\nholidays = [{}]\n", days.join(", "))).expect("write");
    let out = dir.join("cn-2027.toml");
    let import = std::process::Command::new(env!("CARGO_BIN_EXE_complaintd"))
        .args(["calendar", "import"])
        .arg(&notice)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("complaintd runs");
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));

    let app = app.restart_with(|s| s.calendar.holiday_files.push(out.clone())).await;
    let t = app.store.ticket(&number).await.unwrap().unwrap();
    let local = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d %H:%M").to_string()
    };
    // Thursday 2 h, then Tuesday 6 h: Tuesday 16:00.
    assert_eq!(t.reply_due.map(local).as_deref(), Some("2027-01-05 16:00"));
    let events = app.store.events(&number).await.unwrap();
    let moved = events.iter().find(|e| e.kind == "rescheduled").expect("on the timeline");
    let detail = moved.detail.as_deref().unwrap_or_default();
    assert!(detail.contains("reply_due 2027-01-04 16:00 -> 2027-01-05 16:00"), "{detail}");
    let told = wait_for_mail(&station, 1, |m| m.subject.contains("期限调整")).await;
    assert!(told[0].text.contains("调整为 2027-01-05 16:00"), "{}", told[0].text);

    // Half the window (4 working hours) is Tuesday 11:00: the reminder
    // names the new deadline.
    app.set_local_time("2027-01-05 11:01");
    let reminder = wait_for_mail(&station, 1, |m| m.subject.contains("提醒：首次回复")).await;
    let reminder = &reminder[0];
    assert!(reminder.subject.contains("2027-01-05 16:00"), "{}", reminder.subject);
    assert!(!reminder.text.contains("尚未公布"), "2027 is official now: {}", reminder.text);
}
