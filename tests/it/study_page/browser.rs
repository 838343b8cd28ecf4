//! The study page in headless Chromium at a phone's viewport (360 x 780), through chromedriver's
//! W3C WebDriver HTTP API: open the member's link, tap "我已学完", see the thanks, open it again
//! and see the completion recorded; a tampered and an expired link's pages. Screenshots go to `target/screenshots/study_page_*.png`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{expiry, start, token};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    child: tokio::process::Child,
}

impl Driver {
    async fn start(chromium: &Path, chromedriver: &Path) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&http, &base).await;
        // Headless windows are at least 500 px wide; the phone's viewport is emulated so the
        // page is laid out (and shot) at 360 CSS pixels.
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--window-size=360,780", "--disable-dev-shm-usage"],
            "mobileEmulation": {"deviceMetrics": {"width": 360, "height": 780, "pixelRatio": 1.0}}}}}});
        let v: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_owned();
        Self {
            http,
            base,
            session,
            child,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(v["value"]["error"].is_null(), "WebDriver {path}: {v}");
        v["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn tap(&self, css: &str) {
        let find = json!({"using": "css selector", "value": css});
        let el = self
            .call(reqwest::Method::POST, "/element", Some(find))
            .await;
        let id = el[ELEMENT].as_str().unwrap().to_owned();
        let path = format!("/element/{id}/click");
        self.call(reqwest::Method::POST, &path, Some(json!({})))
            .await;
    }

    async fn scroll_to(&self, css: &str) {
        let script = format!("document.querySelector({css:?}).scrollIntoView(false)");
        let body = json!({"script": script, "args": []});
        self.call(reqwest::Method::POST, "/execute/sync", Some(body))
            .await;
    }

    /// The page once it contains `text` (a tap's navigation ends on its own time).
    async fn source_with(&self, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let page = self.call(reqwest::Method::GET, "/source", None).await;
            let page = page.as_str().unwrap().to_owned();
            if page.contains(text) {
                return page;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page never showed {text:?}: {page}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("study_page_{name}.png")), bytes).unwrap();
    }

    async fn quit(mut self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = self.http.delete(url).send().await;
        let _ = self.child.kill().await;
    }
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{base}/status")).send().await
            && let Ok(v) = r.json::<Value>().await
            && v["value"]["ready"] == true
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_member_marks_a_pack_studied_on_a_phone() {
    let (Some(chromium), Some(driver)) = (
        which(&["chromium", "chromium-browser"]),
        which(&["chromedriver"]),
    ) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium and chromedriver are required with CI=true: apt-get install -y chromium chromium-driver (scripts/test does)"
        );
        eprintln!(
            "\n!!!!!!!! SKIPPED: the study page browser test needs chromium and chromedriver (apt-get install -y chromium chromium-driver; scripts/test installs them) !!!!!!!!\n"
        );
        return;
    };
    let s = start().await;
    let d = Driver::start(&chromium, &driver).await;
    let url = format!("{}/s/p1/{}", s.base, token("p1", expiry()));
    d.open(&url).await;
    d.source_with("观看视频").await;
    d.screenshot("open").await;
    d.scroll_to("#done").await;
    d.screenshot("button").await;
    d.tap("#done").await;
    d.source_with("谢谢，已记录").await;
    d.screenshot("thanks").await;
    s.env
        .eventually("the registry records the completion", || async {
            s.env
                .scalar_i64("SELECT count(*) FROM study_completions")
                .await
                == 1
        })
        .await;
    d.open(&url).await;
    d.source_with("您已于2026年3月1日学完").await;
    d.scroll_to("#completed").await;
    d.screenshot("completed").await;
    d.open(&format!("{}/s/p1/{}x", s.base, token("p1", expiry())))
        .await;
    d.source_with("链接无法使用").await;
    d.screenshot("refusal").await;
    s.env.clock.set(expiry() + chrono::TimeDelta::seconds(1));
    d.open(&url).await;
    d.source_with("链接已过期").await;
    d.screenshot("expired").await;
    d.quit().await;
    s.finish().await;
}
