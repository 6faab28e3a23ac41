//! Deadline and ladder tests on the shipped calendar (Mon-Fri 09:00-12:00,
//! 13:00-18:00 Asia/Shanghai, cn.toml); expected values worked out by hand.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

use super::*;
use crate::calendar::CalendarSettings;

fn cn() -> Calendar {
    let settings = CalendarSettings {
        timezone: "Asia/Shanghai".into(),
        working_days: ["MON", "TUE", "WED", "THU", "FRI"].map(String::from).into(),
        working_hours: vec!["09:00-12:00".into(), "13:00-18:00".into()],
        holiday_files: vec![PathBuf::from("data/calendar/cn.toml")],
    };
    Calendar::from_settings(&settings, |p| Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap()
}

/// Shanghai wall time `YYYY-MM-DD HH:MM` as an instant.
fn at(wall: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(wall, "%Y-%m-%d %H:%M").unwrap();
    Shanghai.from_local_datetime(&naive).unwrap().with_timezone(&Utc)
}

fn wall(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai).format("%Y-%m-%d %H:%M").to_string()
}

fn walls(d: &Deadlines) -> [String; 6] {
    [d.starts_at, d.reply_due, d.escalate_at, d.result_due, d.close_due, d.extension_cap].map(wall)
}

fn policy(toml_text: &str) -> Result<DeadlinePolicy, String> {
    toml::from_str(toml_text).map_err(|e| e.to_string())
}

#[test]
fn defaults_are_seed_004() {
    let p = DeadlinePolicy::default();
    let half = |p: BusinessDays| p.half_days();
    assert_eq!((half(p.urgent.reply), half(p.urgent.escalate)), (1, 1));
    assert_eq!((half(p.expedited.reply), half(p.expedited.escalate)), (2, 2));
    assert_eq!((half(p.normal.reply), half(p.normal.escalate)), (4, 6));
    assert_eq!((half(p.result), half(p.close), half(p.extension_cap)), (4, 6, 10));
    assert_eq!(half(p.supervisor_after), 2);
    assert_eq!(p.reminders, [Reminder::at(RungAt::Elapsed(0.5)), Reminder::at(RungAt::BeforeMinutes(60))]);
    // An empty or absent [deadlines] section is the default, and so is the
    // section written out in DeadlinePolicy's documentation.
    assert_eq!(policy("").unwrap(), p);
    let written_out = r#"
        urgent = { reply = 0.5, escalate = 0.5 }
        expedited = { reply = 1, escalate = 1 }
        normal = { reply = 2, escalate = 3 }
        result = 2
        close = 3
        extension_cap = 5
        reminders = [{ elapsed = 0.5 }, { before_minutes = 60 }]
        supervisor_after = 1
        escalation = { to = ["station"], cc = ["manager", "handler"] }
        supervisor = { to = ["supervisor"], cc = ["manager", "handler"] }
    "#;
    assert_eq!(policy(written_out).unwrap(), p);
}

#[test]
fn policy_reads_from_toml() {
    let p = policy(
        r#"
        normal = { reply = 2.5, escalate = "3" }
        result = 1
        extension_cap = 10
        reminders = [{ elapsed = 0.25 }, { before_minutes = 30 }]
        supervisor_after = 0.5
        "#,
    )
    .unwrap();
    assert_eq!(p.normal.reply.half_days(), 5);
    assert_eq!(p.normal.escalate.half_days(), 6);
    assert_eq!(p.result.half_days(), 2);
    assert_eq!(p.extension_cap.half_days(), 20);
    assert_eq!(p.reminders, [Reminder::at(RungAt::Elapsed(0.25)), Reminder::at(RungAt::BeforeMinutes(30))]);
    assert_eq!(p.supervisor_after.half_days(), 1);
    // Untouched keys keep their defaults.
    assert_eq!(p.urgent, DeadlinePolicy::default().urgent);
    assert_eq!(p.close, DeadlinePolicy::default().close);

    for (text, needle) in [
        ("reply = 1", "reply"),
        ("result = 0.3", "0.3"),
        ("result = -1", "-1"),
        ("close = \"soon\"", "soon"),
        ("normal = { reply = 2 }", "escalate"),
        ("reminders = [{ at = 1 }]", "at"),
    ] {
        let e = policy(text).unwrap_err();
        assert!(e.contains(needle), "{text}: {e}");
    }
}

#[test]
fn deadlines_per_urgency() {
    let cal = cn();
    let p = DeadlinePolicy::default();
    let cases = [
        // Urgent, Tue 10:00: reply 4h = 10-12, 13-15. Result 2 bd = Thu 10:00,
        // close 3 bd = Fri 10:00, cap 5 bd = Fri + 2 = Tue 10:00.
        (
            "2026-03-10 10:00",
            Urgency::Urgent,
            [
                "2026-03-10 10:00",
                "2026-03-10 15:00",
                "2026-03-10 15:00",
                "2026-03-12 10:00",
                "2026-03-13 10:00",
                "2026-03-17 10:00",
            ],
        ),
        // Normal, Mon 10:00: reply 2 bd = Wed 10:00, escalation 3 bd = Thu 10:00.
        (
            "2026-03-09 10:00",
            Urgency::Normal,
            [
                "2026-03-09 10:00",
                "2026-03-11 10:00",
                "2026-03-12 10:00",
                "2026-03-11 10:00",
                "2026-03-12 10:00",
                "2026-03-16 10:00",
            ],
        ),
        // Expedited, Saturday night: clock starts Mon 09:00, 1 bd runs out at
        // 18:00 that day, not Tue 09:00. Result Tue 18:00, close Wed 18:00,
        // cap Fri 18:00.
        (
            "2026-03-14 23:00",
            Urgency::Expedited,
            [
                "2026-03-16 09:00",
                "2026-03-16 18:00",
                "2026-03-16 18:00",
                "2026-03-17 18:00",
                "2026-03-18 18:00",
                "2026-03-20 18:00",
            ],
        ),
        // Urgent, Wed Sep 30 16:00, before 国庆 2026 (Oct 1-7; Sat Oct 10 worked):
        // reply 16-18 + Oct 8 09-11. 1 bd = Oct 8 16:00, so result Oct 9 16:00,
        // close Sat Oct 10 16:00, cap (Mon 12 = 4) Tue Oct 13 16:00.
        (
            "2026-09-30 16:00",
            Urgency::Urgent,
            [
                "2026-09-30 16:00",
                "2026-10-08 11:00",
                "2026-10-08 11:00",
                "2026-10-09 16:00",
                "2026-10-10 16:00",
                "2026-10-13 16:00",
            ],
        ),
        // Normal, the afternoon before 春节 2026 (make-up Sat Feb 14, off 15-23,
        // make-up Sat Feb 28): Fri Feb 13 17:00. 1 bd: 17-18, Sat 09-12, 13-17
        // = Sat 17:00; 2 bd = Tue Feb 24 17:00; 3 bd = Wed Feb 25 17:00;
        // 5 bd = Fri Feb 27 17:00.
        (
            "2026-02-13 17:00",
            Urgency::Normal,
            [
                "2026-02-13 17:00",
                "2026-02-24 17:00",
                "2026-02-25 17:00",
                "2026-02-24 17:00",
                "2026-02-25 17:00",
                "2026-02-27 17:00",
            ],
        ),
        // Normal, Wed Dec 30 2025 15:00 over 元旦 2026 (Jan 1-3 off, Sun Jan 4
        // worked): 1 bd = Dec 31 15:00, 2 bd = Sun Jan 4 15:00, 3 bd = Mon
        // Jan 5 15:00, 5 bd = Wed Jan 7 15:00.
        (
            "2025-12-30 15:00",
            Urgency::Normal,
            [
                "2025-12-30 15:00",
                "2026-01-04 15:00",
                "2026-01-05 15:00",
                "2026-01-04 15:00",
                "2026-01-05 15:00",
                "2026-01-07 15:00",
            ],
        ),
    ];
    for (received, urgency, expected) in cases {
        let d = compute(&cal, &p, at(received), urgency);
        assert_eq!(walls(&d), expected, "{received} {urgency:?}");
    }
}

#[test]
fn policy_out_of_order_is_read_in_order() {
    let cal = cn();
    let p = policy("normal = { reply = 2, escalate = 1 }\nresult = 3\nclose = 2\nextension_cap = 1").unwrap();
    let d = compute(&cal, &p, at("2026-03-09 10:00"), Urgency::Normal);
    assert_eq!(d.escalate_at, d.reply_due);
    assert_eq!(d.close_due, d.result_due);
    assert_eq!(d.extension_cap, d.close_due);
}

#[test]
fn ladder_of_an_urgent_ticket() {
    let cal = cn();
    let p = DeadlinePolicy::default();
    // Tue 2026-03-10 10:00: reply due 15:00, result Thu 10:00, close Fri 10:00.
    let d = compute(&cal, &p, at("2026-03-10 10:00"), Urgency::Urgent);
    let all = [Milestone::Reply, Milestone::Result, Milestone::Close];
    let plan: Vec<_> = ladder(&cal, &p, &d, Urgency::Urgent, &all)
        .into_iter()
        .map(|a| (a.key, wall(a.send_at), wall(a.due)))
        .collect();
    let expected = [
        // Reply window 4h: half = 2h in = 12:00, mailed 13:00; 1h before = 14:00.
        ("reply.reminder.1", "2026-03-10 13:00", "2026-03-10 15:00"),
        ("reply.reminder.2", "2026-03-10 14:00", "2026-03-10 15:00"),
        ("reply.escalation", "2026-03-10 15:00", "2026-03-10 15:00"),
        // Result window 16h: half = Wed 10:00.
        ("result.reminder.1", "2026-03-11 10:00", "2026-03-12 10:00"),
        // Reply supervisor: 15:00 + 8h = Wed 15:00. Close window 24h: half =
        // 12h = Tue 7h + Wed 09-12, 13-15.
        ("reply.supervisor", "2026-03-11 15:00", "2026-03-10 15:00"),
        ("close.reminder.1", "2026-03-11 15:00", "2026-03-13 10:00"),
        // Result 1h before: 15h in = Wed 18:00, mailed Thu 09:00.
        ("result.reminder.2", "2026-03-12 09:00", "2026-03-12 10:00"),
        ("result.escalation", "2026-03-12 10:00", "2026-03-12 10:00"),
        // Close 1h before: 23h in = Thu 18:00, mailed Fri 09:00.
        ("close.reminder.2", "2026-03-13 09:00", "2026-03-13 10:00"),
        ("result.supervisor", "2026-03-13 10:00", "2026-03-12 10:00"),
        ("close.escalation", "2026-03-13 10:00", "2026-03-13 10:00"),
        ("close.supervisor", "2026-03-16 10:00", "2026-03-13 10:00"),
    ]
    .map(|(k, s, d)| (k.to_string(), s.to_string(), d.to_string()));
    assert_eq!(plan, expected);
}

#[test]
fn ladder_of_a_normal_reply_escalates_at_three_days() {
    let cal = cn();
    let p = DeadlinePolicy::default();
    // Mon 2026-03-09 10:00: reply due Wed 10:00 (16h), escalation Thu 10:00.
    let d = compute(&cal, &p, at("2026-03-09 10:00"), Urgency::Normal);
    let plan: Vec<_> = ladder(&cal, &p, &d, Urgency::Normal, &[Milestone::Reply])
        .into_iter()
        .map(|a| (a.key, a.level, wall(a.send_at)))
        .collect();
    assert_eq!(
        plan,
        [
            // Half: 8h in = Tue 10:00; 1h before: 15h in = Tue 18:00 -> Wed 09:00.
            ("reply.reminder.1".into(), AlertLevel::Reminder, "2026-03-10 10:00".into()),
            ("reply.reminder.2".into(), AlertLevel::Reminder, "2026-03-11 09:00".into()),
            ("reply.escalation".into(), AlertLevel::Escalation, "2026-03-12 10:00".into()),
            ("reply.supervisor".into(), AlertLevel::Supervisor, "2026-03-13 10:00".into()),
        ]
    );
}

#[test]
fn breaches_out_of_hours_are_mailed_in_working_time() {
    let cal = cn();
    let p = DeadlinePolicy::default();
    // Expedited from Saturday night: reply due Mon 18:00. Reminders at 4h
    // (09-12, 13-14) and 7h (17:00); the escalation waits for Tue 09:00, the
    // supervisor (18:00 + 8h = Tue 18:00) for Wed 09:00.
    let d = compute(&cal, &p, at("2026-03-14 23:00"), Urgency::Expedited);
    let sends: Vec<_> =
        ladder(&cal, &p, &d, Urgency::Expedited, &[Milestone::Reply]).iter().map(|a| wall(a.send_at)).collect();
    assert_eq!(sends, ["2026-03-16 14:00", "2026-03-16 17:00", "2026-03-17 09:00", "2026-03-18 09:00"]);

    // A deadline at 02:00 (moved by hand) is mailed at 09:00.
    let night = Deadlines { reply_due: at("2026-03-11 02:00"), escalate_at: at("2026-03-11 02:00"), ..d };
    let escalation = ladder(&cal, &p, &night, Urgency::Expedited, &[Milestone::Reply])
        .into_iter()
        .find(|a| a.level == AlertLevel::Escalation)
        .unwrap();
    assert_eq!(wall(escalation.send_at), "2026-03-11 09:00");
    assert_eq!(wall(escalation.due), "2026-03-11 02:00");
}

#[test]
fn reminders_outside_the_window_or_twice_are_dropped() {
    let cal = cn();
    let p = policy(
        "reminders = [{ elapsed = 0.5 }, { elapsed = 0.5 }, { before_minutes = 300 }, { elapsed = 1 }, { before_minutes = 0 }]",
    )
    .unwrap();
    // Urgent: a 4h window. 300 min before is before the start; 100% and 0 min
    // before are the deadline itself; the second half-way one repeats the first.
    let d = compute(&cal, &p, at("2026-03-10 09:00"), Urgency::Urgent);
    let keys: Vec<_> = ladder(&cal, &p, &d, Urgency::Urgent, &[Milestone::Reply]).into_iter().map(|a| a.key).collect();
    assert_eq!(keys, ["reply.reminder.1", "reply.escalation", "reply.supervisor"]);
}

/// Over the holiday seasons, every start half-hour and every urgency: the
/// plan is sorted, in working time, keys unique, and reminders come before
/// their deadline.
#[test]
fn ladders_are_always_sent_in_working_time() {
    let cal = cn();
    let p = DeadlinePolicy::default();
    let all = [Milestone::Reply, Milestone::Result, Milestone::Close];
    for (from, to) in [
        ("2026-02-10 00:00", "2026-02-26 00:00"),
        ("2026-09-17 00:00", "2026-10-12 00:00"),
        ("2025-12-29 00:00", "2026-01-06 00:00"),
    ] {
        let mut start = at(from);
        while start < at(to) {
            for urgency in [Urgency::Urgent, Urgency::Expedited, Urgency::Normal] {
                let d = compute(&cal, &p, start, urgency);
                assert!(d.starts_at <= d.reply_due && d.reply_due <= d.escalate_at);
                assert!(d.result_due <= d.close_due && d.close_due <= d.extension_cap);
                assert_eq!(
                    cal.working_between(d.starts_at, d.reply_due),
                    p.window(urgency).reply.working_time(cal.business_day())
                );
                let plan = ladder(&cal, &p, &d, urgency, &all);
                assert!(plan.windows(2).all(|w| w[0].send_at <= w[1].send_at));
                let mut keys: Vec<_> = plan.iter().map(|a| a.key.as_str()).collect();
                keys.sort_unstable();
                keys.dedup();
                assert_eq!(keys.len(), plan.len());
                for alert in &plan {
                    assert!(cal.is_working(alert.send_at), "{} {:?}", wall(start), alert);
                    if alert.level == AlertLevel::Reminder {
                        assert!(alert.send_at < alert.due, "{} {:?}", wall(start), alert);
                    }
                }
            }
            start += Duration::minutes(30);
        }
    }
}

#[test]
fn json_for_the_cli() {
    let cal = cn();
    let p = DeadlinePolicy::default();
    // 16:00 in Shanghai given in UTC; see deadlines_per_urgency for the values.
    let received = DateTime::parse_from_rfc3339("2026-09-30T08:00:00Z").unwrap();
    let v = deadline_json(&cal, &p, received, Urgency::Urgent);
    assert_eq!(v["received"], "2026-09-30T16:00:00+08:00");
    assert_eq!(v["urgency"], "urgent");
    assert_eq!(v["starts_at"], "2026-09-30T16:00:00+08:00");
    assert_eq!(v["reply_due"], "2026-10-08T11:00:00+08:00");
    assert_eq!(v["escalate_at"], "2026-10-08T11:00:00+08:00");
    assert_eq!(v["result_due"], "2026-10-09T16:00:00+08:00");
    assert_eq!(v["close_due"], "2026-10-10T16:00:00+08:00");
    assert_eq!(v["extension_cap"], "2026-10-13T16:00:00+08:00");
    // Reply window 4h: half = 2h in = Sep 30 18:00, mailed after 国庆 on Oct 8 09:00.
    assert_eq!(v["alerts"][0]["key"], "reply.reminder.1");
    assert_eq!(v["alerts"][0]["level"], "reminder");
    assert_eq!(v["alerts"][0]["send_at"], "2026-10-08T09:00:00+08:00");
    assert_eq!(v["alerts"][0]["due"], "2026-10-08T11:00:00+08:00");
    assert_eq!(v["alerts"].as_array().unwrap().len(), 12);

    // Received at night in another zone: the clock starts next morning.
    let received = DateTime::parse_from_rfc3339("2026-03-10T20:30:00+01:00").unwrap();
    let v = deadline_json(&cal, &p, received, Urgency::Expedited);
    assert_eq!(v["received"], "2026-03-11T03:30:00+08:00");
    assert_eq!(v["starts_at"], "2026-03-11T09:00:00+08:00");
    assert_eq!(v["reply_due"], "2026-03-11T18:00:00+08:00");
}

#[test]
fn a_normal_complaints_reply_and_result_alerts_are_one_mail_and_never_early() {
    let cal = cn();
    let p = DeadlinePolicy::default();
    // Mon 10:00: reply and result both due Wed 10:00; the reply escalates Thu 10:00.
    let d = compute(&cal, &p, at("2026-03-09 10:00"), Urgency::Normal);
    let plan = ladder(&cal, &p, &d, Urgency::Normal, &[Milestone::Reply, Milestone::Result]);
    let seen: Vec<_> = plan.iter().map(|a| (a.key.as_str(), wall(a.send_at), a.also.clone())).collect();
    let both = vec![Milestone::Result];
    assert_eq!(
        seen,
        [
            ("reply.reminder.1", "2026-03-10 10:00".to_string(), both.clone()),
            ("reply.reminder.2", "2026-03-11 09:00".to_string(), both.clone()),
            ("reply.escalation", "2026-03-12 10:00".to_string(), both.clone()),
            ("reply.supervisor", "2026-03-13 10:00".to_string(), both),
        ]
    );
}

#[test]
fn a_rung_may_copy_the_manager_for_one_urgency() {
    let p = policy(
        r#"normal = { reply = 2, escalate = 3, reminders = [{ elapsed = 0.5 }, { elapsed = 0.75, copy = ["manager"] }] }
        escalation = { to = ["station"], cc = ["handler"] }"#,
    )
    .unwrap();
    assert_eq!(p.reminders(Urgency::Normal)[1].copy, [Party::Manager]);
    assert_eq!(p.reminders(Urgency::Urgent), DeadlinePolicy::default().reminders.as_slice());
    assert_eq!(p.recipients(AlertLevel::Escalation).cc, [Party::Handler]);
    let cal = cn();
    let d = compute(&cal, &p, at("2026-03-09 10:00"), Urgency::Normal);
    let plan = ladder(&cal, &p, &d, Urgency::Normal, &[Milestone::Reply]);
    let rung = plan.iter().find(|a| a.key == "reply.reminder.2").unwrap();
    // 75 % of 16 working hours: 12h in = Tue 15:00.
    assert_eq!((wall(rung.send_at).as_str(), rung.copy.as_slice()), ("2026-03-10 15:00", [Party::Manager].as_slice()));
    assert!(policy("reminders = [{ elapsed = 2 }]").is_err());
    assert!(policy("reminders = [{ elapsed = 0.5, before_minutes = 3 }]").is_err());
}
