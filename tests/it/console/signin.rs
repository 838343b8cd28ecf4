//! The rules around sign-in, asked over plain HTTP as a stranger would: nothing says whether a
//! phone is registered, a POST from another origin or without its token does nothing, a code
//! takes 5 tries and works 5 minutes, a phone gets one code a minute, a session ends after 8
//! hours idle, and a revoked user's session ends at once.

use chrono::Duration;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::env::TestEnv;

use super::{console_world, next_code};

/// A browser's view of the console: its cookies by hand, no redirects followed.
struct Visitor {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
    /// The nonce of the last sign-in page seen: each page carries a fresh one with its cookie.
    nonce: String,
}

impl Visitor {
    fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            cookies: Vec::new(),
            nonce: String::new(),
        }
    }

    fn keep(&mut self, resp: &reqwest::Response) {
        for c in resp.headers().get_all(SET_COOKIE) {
            let first = c.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = first.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, path: &str) -> (u16, String, Option<String>) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&resp);
        let status = resp.status().as_u16();
        let to = resp
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let body = resp.text().await.unwrap();
        if body.contains("name=\"nonce\"") {
            self.nonce = hidden(&body, "nonce");
        }
        (status, body, to)
    }

    async fn post(
        &mut self,
        path: &str,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> (u16, String, Option<String>) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form);
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        let resp = req.send().await.unwrap();
        self.keep(&resp);
        let status = resp.status().as_u16();
        let to = resp
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let body = resp.text().await.unwrap();
        if body.contains("name=\"nonce\"") {
            self.nonce = hidden(&body, "nonce");
        }
        (status, body, to)
    }
}

/// The value of the hidden field `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in {page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn sign_in_keeps_its_rules() {
    let mut env = TestEnv::new().await;
    let base = console_world(&mut env).await;
    let origin = base.clone();
    let mut sms = env.watch("notification.requested").await;
    let mut v = Visitor::new(&base);

    // Not signed in: the 工作台 sends you to the sign-in page.
    let (status, _, to) = v.get("/console/").await;
    assert_eq!((status, to.as_deref()), (303, Some("/console/login")));
    // A link from an SMS opens its page after sign-in: the way to sign in remembers it.
    let (status, _, to) = v.get("/console/ledger?months=0").await;
    assert_eq!(status, 303);
    assert_eq!(
        to.as_deref(),
        Some("/console/login?next=%2Fconsole%2Fledger%3Fmonths%3D0")
    );
    let (status, page, _) = v
        .get("/console/login?next=%2Fconsole%2Fledger%3Fmonths%3D0")
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("value=\"/console/ledger?months=0\""),
        "{page}"
    );

    // Another site's POST, or one without the page's nonce: 403, no code asked.
    let (status, _, _) = v
        .post(
            "/console/login/code",
            Some("http://evil.example"),
            &[("phone", "13800138000"), ("nonce", &v.nonce.clone())],
        )
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = v
        .post(
            "/console/login/code",
            Some(&origin),
            &[("phone", "13800138000")],
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM console_codes").await,
        0
    );

    // An unknown phone gets the same page as a registered one, and no SMS.
    let (status, unknown, _) = v
        .post(
            "/console/login/code",
            Some(&origin),
            &[("phone", "139-0000-9999"), ("nonce", &v.nonce.clone())],
        )
        .await;
    assert_eq!(status, 200);
    let (status, known, _) = v
        .post(
            "/console/login/code",
            Some(&origin),
            &[("phone", "13800138000"), ("nonce", &v.nonce.clone())],
        )
        .await;
    assert_eq!(status, 200);
    let shape = |p: &str| {
        p.replace("139****9999", "X")
            .replace("13900009999", "Y")
            .replace("138****8000", "X")
            .replace("13800138000", "Y")
    };
    let strip_nonce = |p: &str| {
        let n = hidden(p, "nonce");
        p.replace(&n, "")
    };
    assert_eq!(
        shape(&strip_nonce(&unknown)),
        shape(&strip_nonce(&known)),
        "the pages say nothing about who is registered"
    );
    let code = next_code(&mut sms).await;
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM console_codes").await,
        2
    );

    // One code a minute per phone.
    let (status, page, _) = v
        .post(
            "/console/login/code",
            Some(&origin),
            &[("phone", "13800138000"), ("nonce", &v.nonce.clone())],
        )
        .await;
    assert_eq!(status, 429);
    assert!(page.contains("一分钟"), "{page}");

    // Five wrong tries and the code is spent; a new one is needed.
    for left in (1..5).rev() {
        let (status, page, _) = v
            .post(
                "/console/login",
                Some(&origin),
                &[
                    ("phone", "13800138000"),
                    ("code", "999999"),
                    ("nonce", &v.nonce.clone()),
                ],
            )
            .await;
        assert_eq!(status, 422);
        assert!(page.contains(&format!("还可以再试{left}次")), "{page}");
    }
    let (_, page, _) = v
        .post(
            "/console/login",
            Some(&origin),
            &[
                ("phone", "13800138000"),
                ("code", "999999"),
                ("nonce", &v.nonce.clone()),
            ],
        )
        .await;
    assert!(page.contains("验证码已失效"), "{page}");
    let (_, page, _) = v
        .post(
            "/console/login",
            Some(&origin),
            &[
                ("phone", "13800138000"),
                ("code", &code),
                ("nonce", &v.nonce.clone()),
            ],
        )
        .await;
    assert!(
        page.contains("验证码已失效"),
        "the right code after five wrong ones is refused: {page}"
    );

    // A code asked a minute later works, but not after 5 minutes.
    env.clock.advance(Duration::seconds(61));
    v.post(
        "/console/login/code",
        Some(&origin),
        &[("phone", "13800138000"), ("nonce", &v.nonce.clone())],
    )
    .await;
    let late = next_code(&mut sms).await;
    env.clock
        .advance(Duration::minutes(5) + Duration::seconds(1));
    let (_, page, _) = v
        .post(
            "/console/login",
            Some(&origin),
            &[
                ("phone", "13800138000"),
                ("code", &late),
                ("nonce", &v.nonce.clone()),
            ],
        )
        .await;
    assert!(page.contains("验证码已失效"), "{page}");

    // The right code in time signs in, behind a Strict, HttpOnly cookie.
    env.clock.advance(Duration::seconds(60));
    v.post(
        "/console/login/code",
        Some(&origin),
        &[("phone", "13800138000"), ("nonce", &v.nonce.clone())],
    )
    .await;
    let good = next_code(&mut sms).await;
    let resp = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
        .post(format!("{base}/console/login"))
        .header(COOKIE, v.cookie_header())
        .header(ORIGIN, &origin)
        .form(&[
            ("phone", "13800138000"),
            ("code", good.as_str()),
            ("nonce", v.nonce.as_str()),
            ("next", "/console/ledger?months=0"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(
        resp.headers().get(LOCATION).unwrap(),
        "/console/ledger?months=0",
        "signed in, the link the person followed opens"
    );
    let set = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        set.contains("hy_console=") && set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    v.keep(&resp);
    let (status, home, _) = v.get("/console/").await;
    assert_eq!(status, 200);
    assert!(home.contains("工作台") && home.contains("李书记"), "{home}");
    let form_token = hidden(&home, "form_token");

    // 台账's exports are section 3's files, for the signed-in org's subtree only.
    let resp = reqwest::Client::new()
        .get(format!("{base}/console/ledger.csv"))
        .header(COOKIE, v.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let csv = resp.bytes().await.unwrap();
    assert!(
        csv.starts_with(b"\xEF\xBB\xBF"),
        "a BOM, so Excel reads Chinese"
    );
    let csv = String::from_utf8_lossy(&csv);
    assert!(
        csv.contains("姓名,手机号码,所在支部") && csv.contains("党员cs1"),
        "{csv}"
    );
    let (_, page, _) = v.get("/console/ledger?q=%E5%85%9A%E5%91%98cs1").await;
    assert!(
        page.contains("共1人符合条件") && page.contains("党员cs1") && !page.contains("党员cs2"),
        "{page}"
    );
    let stranger = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let resp = stranger
        .get(format!("{base}/console/ledger.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303, "no session, no ledger");

    // A form's POST without its token, or from another site, publishes nothing. The registry
    // applies events in order, so once a good POST sent after them is applied, a published
    // refusal would have shown.
    let home_for_good = [("returned_on", "2026-04-10"), ("kind", "permanent")];
    let (status, _, _) = v
        .post("/console/members/cs1/return", Some(&origin), &home_for_good)
        .await;
    assert_eq!(status, 403, "no form token");
    let mut with_token = home_for_good.to_vec();
    with_token.push(("form_token", form_token.as_str()));
    let (status, _, _) = v
        .post(
            "/console/members/cs1/return",
            Some("http://evil.example"),
            &with_token,
        )
        .await;
    assert_eq!(status, 403, "another origin");
    let (status, _, to) = v
        .post(
            "/console/members/cs1/contact",
            Some(&origin),
            &[
                ("form_token", form_token.as_str()),
                ("kind", "phone"),
                ("on", "2026-04-10"),
                ("by", "李书记"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let event = to.unwrap().split("event=").nth(1).unwrap().to_owned();
    env.wait_processed(&event).await;
    let cs1 = env.record("cs1").await.unwrap();
    assert_eq!(cs1["status"], "out", "the refused returns changed nothing");
    assert_eq!(cs1["contacts"]["phone"], "2026-04-10", "the good POST did");

    // An event the registry never applies (refused and parked, say) is not shown as done:
    // the page waits, then says the answer is late and what to do.
    let never = uuid::Uuid::new_v4();
    let (_, page, _) = v.get(&format!("/console/members/cs1?event={never}")).await;
    assert!(
        page.contains("正在登记") && !page.contains("已登记"),
        "{page}"
    );
    let (_, page, _) = v
        .get(&format!("/console/members/cs1?event={never}&look=15"))
        .await;
    assert!(
        page.contains("还没有处理结果")
            && !page.contains("已登记")
            && !page.contains("http-equiv=\"refresh\""),
        "{page}"
    );

    // 退出 from another origin does nothing; the session stays.
    let (status, _, _) = v
        .post(
            "/console/logout",
            Some("http://evil.example"),
            &[("form_token", &form_token)],
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(v.get("/console/").await.0, 200);

    // Eight hours idle and the session is over.
    env.clock.advance(Duration::hours(8) + Duration::minutes(1));
    let (status, _, to) = v.get("/console/").await;
    assert_eq!((status, to.as_deref()), (303, Some("/console/login")));
    env.finish().await;
}
