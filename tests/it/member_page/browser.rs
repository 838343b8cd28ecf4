//! The member page in headless Chromium at a phone's viewport (360 x 780), driven through
//! chromedriver's W3C WebDriver HTTP API: open the link, tap confirm, see the ledger change,
//! open it again and see the refusal page. Screenshots go to `target/screenshots/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{start, token};

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
    async fn start(chromium: &std::path::Path, chromedriver: &std::path::Path) -> Self {
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
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--window-size=360,780", "--disable-dev-shm-usage"],
            // Headless windows have a minimum width above 360 px; the phone's viewport is
            // emulated so the page is laid out (and shot) at 360 CSS pixels.
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
        let el = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        let id = el[ELEMENT].as_str().unwrap().to_owned();
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Scrolls the element to the top of the screen (the edit form lies below the first one).
    async fn scroll_to(&self, css: &str) {
        let script = format!("document.querySelector({css:?}).scrollIntoView(true)");
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await;
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The page once it contains `text` (a tap's navigation ends on its own time).
    async fn source_with(&self, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let page = self.source().await;
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
        save(name, png.as_str().unwrap());
    }

    async fn quit(mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        let _ = self.child.kill().await;
    }
}

fn save(name: &str, png_base64: &str) {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(png_base64)
        .unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("member_page_{name}.png")), bytes).unwrap();
}

#[tokio::test]
async fn a_member_confirms_on_a_phone_and_the_link_is_then_spent() {
    let chromium = which(&["chromium", "chromium-browser"]);
    let driver = which(&["chromedriver"]);
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium and chromedriver are required with CI=true: apt-get install -y chromium chromium-driver (scripts/test does)"
        );
        eprintln!(
            "\n!!!!!!!! SKIPPED: the member page browser test needs chromium and chromedriver (apt-get install -y chromium chromium-driver; scripts/test installs them) !!!!!!!!\n"
        );
        return;
    };
    let p = start().await;
    let d = Driver::start(&chromium, &driver).await;
    let url = format!("{}/m/{}", p.base, token());
    d.open(&url).await;
    let page = d.source().await;
    assert!(
        page.contains("广东省广州市天河区") && page.contains("138****5678"),
        "{page}"
    );
    d.screenshot("open").await;
    d.scroll_to("#edit").await;
    d.screenshot("edit_form").await;
    // Choosing another city lists its counties: the page's script sends the form back.
    d.tap("#city option[value='4403']").await;
    let page = d.source_with(">南山区<").await;
    assert!(
        page.contains("天河路1号"),
        "what was in the form stays: {page}"
    );
    d.tap("#confirm").await;
    d.source_with("谢谢，已收到").await;
    d.screenshot("thanks").await;
    p.env
        .eventually("the ledger records March's confirmation", || async {
            p.env.record("m1").await.unwrap()["last_confirmed_on"] == "2026-03-01"
        })
        .await;
    d.open(&url).await;
    let page = d.source().await;
    assert!(
        page.contains("本月已确认") && page.contains("139****0003"),
        "{page}"
    );
    d.screenshot("refusal").await;
    d.quit().await;
    p.env.finish().await;
}
