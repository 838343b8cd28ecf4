//! A small W3C WebDriver client for the pages' browser tests: chromedriver drives headless
//! Chromium at a phone's viewport (360 x 780 CSS pixels) and screenshots go to
//! `target/screenshots/{prefix}_{name}.png`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium and chromedriver from `PATH`. Without them the test is skipped, loudly, except
/// under `CI=true`, where it fails; `test` names the test in the message.
pub fn tools(test: &str) -> Option<(PathBuf, PathBuf)> {
    let found = (
        which(&["chromium", "chromium-browser"]),
        which(&["chromedriver"]),
    );
    if let (Some(chromium), Some(driver)) = found {
        return Some((chromium, driver));
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "chromium and chromedriver are required with CI=true: apt-get install -y chromium chromium-driver (scripts/test does)"
    );
    eprintln!(
        "\n!!!!!!!! SKIPPED: {test} needs chromium and chromedriver (apt-get install -y chromium chromium-driver; scripts/test installs them) !!!!!!!!\n"
    );
    None
}

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// The screen a test uses.
#[derive(Clone, Copy, Debug)]
pub struct Screen {
    pub width: u32,
    pub height: u32,
    /// Emulated as a phone (touch, its viewport), not a desktop window.
    pub phone: bool,
    pub javascript: bool,
}

impl Screen {
    pub const PHONE_360: Screen = Screen {
        width: 360,
        height: 780,
        phone: true,
        javascript: true,
    };
    /// A small phone: what must be seen without scrolling is measured here.
    pub const PHONE_360_640: Screen = Screen {
        width: 360,
        height: 640,
        phone: true,
        javascript: true,
    };
    pub const PHONE_390: Screen = Screen {
        width: 390,
        height: 844,
        phone: true,
        javascript: true,
    };
    pub const DESKTOP: Screen = Screen {
        width: 1280,
        height: 800,
        phone: false,
        javascript: true,
    };

    pub const fn without_javascript(self) -> Screen {
        Screen {
            javascript: false,
            ..self
        }
    }
}

/// One chromedriver with one session.
pub struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    child: tokio::process::Child,
    /// Screenshots are named `{shots}_{name}.png`.
    shots: &'static str,
}

impl Driver {
    pub async fn start(chromium: &Path, chromedriver: &Path, shots: &'static str) -> Self {
        Self::start_as(chromium, chromedriver, shots, Screen::PHONE_360).await
    }

    /// A browser of `screen`'s size, with or without JavaScript.
    pub async fn start_as(
        chromium: &Path,
        chromedriver: &Path,
        shots: &'static str,
        screen: Screen,
    ) -> Self {
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
        let (w, h) = (screen.width, screen.height);
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            format!("--window-size={w},{h}"),
            "--disable-dev-shm-usage".into(),
        ];
        if !screen.javascript {
            args.push("--blink-settings=scriptEnabled=false".into());
        }
        let mut options = json!({"binary": chromium, "args": args});
        if screen.phone {
            // Headless windows have a minimum width above 360 px; the phone's viewport is
            // emulated so the page is laid out (and shot) at its CSS pixels.
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": w, "height": h, "pixelRatio": 1.0}});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}});
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
            shots,
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

    async fn find(&self, using: &str, value: &str) -> String {
        let find = json!({"using": using, "value": value});
        let el = self
            .call(reqwest::Method::POST, "/element", Some(find))
            .await;
        el[ELEMENT].as_str().unwrap().to_owned()
    }

    /// Types `text` into the field whose visible `<label>` reads `label`, as a person does.
    pub async fn fill(&self, label: &str, text: &str) {
        let xpath = format!("//label[normalize-space(.)='{label}']");
        let l = self.find("xpath", &xpath).await;
        let target = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{l}/attribute/for"),
                None,
            )
            .await;
        let id = target
            .as_str()
            .unwrap_or_else(|| panic!("the label {label:?} names no field (no for=)"));
        let field = self.find("css selector", &format!("#{id}")).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{field}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{field}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Chooses `option` in the select whose visible `<label>` reads `label`.
    pub async fn choose(&self, label: &str, option: &str) {
        let xpath = format!(
            "//select[@id=//label[normalize-space(.)='{label}']/@for]/option[normalize-space(.)='{option}']"
        );
        let el = self.find("xpath", &xpath).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Ticks the radio button or checkbox whose visible `<label>` reads `label` (a click on the
    /// label, as a person taps the words).
    pub async fn check(&self, label: &str) {
        let xpath = format!("//label[normalize-space(.)='{label}']");
        let l = self.find("xpath", &xpath).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{l}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Presses the button (or link, or a folded section's summary) whose text is `name`.
    pub async fn press(&self, name: &str) {
        let xpath = format!(
            "//button[normalize-space(.)='{name}'] | //a[normalize-space(.)='{name}'] | //input[@type='submit' and @value='{name}'] | //summary[normalize-space(.)='{name}']"
        );
        let el = self.find("xpath", &xpath).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn tap(&self, css: &str) {
        let find = json!({"using": "css selector", "value": css});
        let el = self
            .call(reqwest::Method::POST, "/element", Some(find))
            .await;
        let id = el[ELEMENT].as_str().unwrap().to_owned();
        let path = format!("/element/{id}/click");
        self.call(reqwest::Method::POST, &path, Some(json!({})))
            .await;
    }

    /// Scrolls the element into view: to the top of the screen when `to_top`, else to its
    /// bottom.
    pub async fn scroll_to(&self, css: &str, to_top: bool) {
        let script = format!("document.querySelector({css:?}).scrollIntoView({to_top})");
        let body = json!({"script": script, "args": []});
        self.call(reqwest::Method::POST, "/execute/sync", Some(body))
            .await;
    }

    /// Runs `js` in the page (JavaScript on) and returns what it returns.
    pub async fn script(&self, js: &str) -> Value {
        let body = json!({"script": js, "args": []});
        self.call(reqwest::Method::POST, "/execute/sync", Some(body))
            .await
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The page once it contains `text` (a tap's navigation ends on its own time).
    pub async fn source_with(&self, text: &str) -> String {
        // Generous: under a loaded CI machine a page that waits on the registry takes a while.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
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

    /// Saves what the screen shows as `target/screenshots/{shots}_{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{}_{name}.png", self.shots));
        // A prefix may name a folder of its own (`console-department/phone`).
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(file, bytes).unwrap();
    }

    /// The value of the cookie `name` the browser holds for the page's site (HttpOnly ones
    /// too), to fetch a download over plain HTTP as the signed-in person.
    pub async fn cookie(&self, name: &str) -> String {
        let v = self
            .call(reqwest::Method::GET, &format!("/cookie/{name}"), None)
            .await;
        v["value"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn quit(mut self) {
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
