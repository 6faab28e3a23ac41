//! Reports on demand and once: a repeated pre-report linked to the first,
//! and `complaintd report weekly` printing a manager's digest as mailed.

use std::process::Command;

use complaintd::ticket::{TicketKind, TicketNo};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_pre_report_is_linked_to_the_first_not_a_second_ticket() {
    let mut app = spawn_app().await;
    let (desk, baobei, gz03) = (app.net.hq("complaints"), app.net.hq("baobei"), app.net.station("GZ03"));
    let id = format!("{}.p1@stations.example.test", app.net.prefix);
    smtp_send(&gz03, &[&desk], &pre_report_mail(&gz03, &baobei, None, &id, PRE_REPORT_GZ03)).await;
    let ack = wait_for_mail(&gz03, 1, |m| m.subject.contains("投诉报备已受理")).await;
    let first = TicketNo::find_in(&ack[0].subject).expect("ticket number");

    // The same customer again (same phone), reported a second time: the same number.
    let again = PRE_REPORT_GZ03.replace("郑洁", "郑洁（再次）");
    let id = format!("{}.p2@stations.example.test", app.net.prefix);
    smtp_send(&gz03, &[&desk], &pre_report_mail(&gz03, &baobei, None, &id, &again)).await;
    let acks = wait_for_mail(&gz03, 2, |m| m.subject.contains("投诉报备已受理")).await;
    assert!(
        acks.iter().all(|a| a.subject.contains(first.as_str())),
        "{:?}",
        acks.iter().map(|a| &a.subject).collect::<Vec<_>>()
    );
    let pre_reports: Vec<_> =
        app.store.tickets(None, None).await.unwrap().into_iter().filter(|t| t.kind == TicketKind::PreReport).collect();
    assert_eq!(pre_reports.len(), 1);
    let events = app.store.events(&first).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "repeat"), "{events:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn report_weekly_prints_a_managers_digest_as_mailed() {
    let mut app = spawn_app().await;
    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let id = format!("{}.c1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    let forward = wait_for_mail(&station, 1, |m| m.subject.contains("投诉转出")).await;
    let number = TicketNo::find_in(&forward[0].subject).expect("ticket");
    let config = private_config(&app.net.prefix, &app.settings.database.url);
    let run = |manager: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_complaintd"))
            .args(["report", "weekly", "--config", &config.display().to_string(), "--manager", manager])
            .env_remove("COMPLAINTD_DATABASE_URL")
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let north = app.net.hq("manager-north");
    let digest = run(&north);
    assert!(digest.contains(&format!("To: {north}")) && digest.contains("未结投诉周报"), "{digest}");
    assert!(digest.contains(number.as_str()) && digest.contains("北京海淀服务站"), "{digest}");
    let south = run(&app.net.hq("manager-south"));
    assert!(south.contains("no open tickets"), "{south}");
    app.stop().await;
}
