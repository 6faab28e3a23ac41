//! Headless Chromium (Debian's `chromium` and `chromium-driver`) driven over
//! WebDriver with fantoccini: a chromedriver of the test's own on a free
//! port, a fresh profile, and screenshots under `target/board-screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

/// A browser session and the chromedriver behind it (ended on drop).
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
    shots: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium; `name` names the
    /// screenshot folder.
    pub async fn start(name: &str) -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/test installs chromium-driver)");
        let profile = std::env::temp_dir().join(format!("complaintd-chromium-{}-{port}", std::process::id()));
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| crate::helpers::root().join("target"));
        let shots = target.join("board-screenshots").join(name);
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1100,1400",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = serde_json::json!({ "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args } });
        let caps = caps.as_object().expect("object").clone();
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen: bounded retries.
        let mut tries = 0;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        Self { client, driver, profile, shots }
    }

    /// Saves a screenshot of the page as `NAME.png`.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Logs in through the form (Argon2 takes its time: waits for the answer).
    pub async fn log_in(&self, base: &str, name: &str, password: &str) {
        let c = &self.client;
        c.goto(&format!("{base}/login")).await.expect("login page");
        c.find(Locator::Id("name")).await.expect("name").send_keys(name).await.expect("type");
        c.find(Locator::Id("password")).await.expect("password").send_keys(password).await.expect("type");
        c.find(Locator::Id("login")).await.expect("button").click().await.expect("click");
        // Until the answer is shown: refused (the fresh form has no error)
        // or a page of the board.
        c.wait().for_element(Locator::Css("#login-error, header .who")).await.expect("login answered");
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.client.find(Locator::Css("body")).await.expect("body").text().await.expect("text")
    }

    /// Ends the browser session (Chromium with it).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
