//! The station directory as a spreadsheet file: 300 stations saved by
//! Excel in GBK, checked by the real binary (row and column of each
//! problem), then routing on the lab by city before province.

use std::process::Command;

use complaintd::config::directory::Directory;
use complaintd::ticket::TicketNo;

use crate::helpers::*;

/// 300 stations as a Chinese Excel saves them (GBK, CRLF): HZ01 serves
/// 杭州, the others far-away cities. `bad` breaks rows 12 and 205.
fn spreadsheet(prefix: &str, bad: bool) -> Vec<u8> {
    let mut text = String::from("代码,名称,邮箱,省份,城市,区域经理,备用邮箱,工作日\r\n");
    for i in 1..=300 {
        let (code, city) = if i == 1 {
            ("HZ01".to_owned(), "杭州市".to_owned())
        } else {
            (format!("X{i:03}"), format!("第{i}市"))
        };
        let email = format!("{prefix}-station-{}@stations.example.test", code.to_ascii_lowercase());
        let email = if bad && i == 11 { "x011.stations.example.test".to_owned() } else { email };
        let days = if bad && i == 204 { "MON TUX" } else { "" };
        let manager = format!("{prefix}-manager-east@hq.example.test");
        text.push_str(&format!("{code},\"{city}服务站\",{email},浙江省,{city},{manager},,{days}\r\n"));
    }
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    gbk.into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gbk_directory_of_300_stations_is_checked_by_row_and_column_and_routes_by_city() {
    let prefix = unique_prefix();
    let settings = test_settings(&prefix).await;
    let good = private_config(&prefix, &settings.database.url);
    let csv = good.with_file_name("stations.csv");
    let config = good.with_file_name("directory.toml");
    let text = std::fs::read_to_string(&good).expect("config");
    std::fs::write(&config, format!("stations_file = \"stations.csv\"\n{text}")).expect("write");

    std::fs::write(&csv, spreadsheet(&prefix, true)).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_complaintd"))
        .args(["check-config", "--config", &config.display().to_string()])
        .env_remove("COMPLAINTD_DATABASE_URL")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    for line in [
        "stations.csv row 12, column C (emails): \"x011.stations.example.test\" is not an email address",
        "stations.csv row 205, column H (working_days): ",
        ": 2 error(s)",
    ] {
        assert!(stdout.contains(line), "{line:?} missing in\n{stdout}");
    }

    // Fixed, the 300 stations load (after the file's own) and 浙江省杭州市 goes to HZ01, not SH02 (浙江).
    std::fs::write(&csv, spreadsheet(&prefix, false)).expect("write");
    let dir = Directory::read(&csv, "stations.csv");
    assert!(dir.problems.is_empty(), "{:?}", dir.problems);
    assert_eq!(dir.stations.len(), 300);
    let hz01 = dir.stations[0].emails[0].clone();
    let mut app = spawn_app_with("2026-11-16T01:30:00Z".parse().unwrap(), |s| s.stations.extend(dir.stations)).await;
    let (handler, desk) = (app.net.hq("liujia"), app.net.hq("complaints"));
    let form = FORM_BJ01.replace("服务站：BJ01 北京海淀服务站\n", "").replace("北京市海淀区", "浙江省杭州市西湖区");
    let id = format!("{}.dir@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, &form)).await;
    let forward = wait_for_mail(&hz01, 1, |m| m.subject.contains("投诉转出")).await;
    let number = TicketNo::find_in(&forward[0].subject).expect("ticket");
    assert_eq!(app.store.ticket(&number).await.unwrap().unwrap().station.as_deref(), Some("HZ01"));
    app.stop().await;
}
