//! What the member page's and the study page's tests do alike: an HTTP client, a GET that
//! keeps the form cookie, the form's nonce, and a form POST with a cookie.

use std::time::Duration;

/// A client that gives up after 20 s, so a hung page fails its test instead of stalling it.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A GET's status, body and the form cookie it set (`name=value`, without its attributes).
pub async fn get(http: &reqwest::Client, url: &str) -> (u16, String, Option<String>) {
    let resp = http.get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (status, resp.text().await.unwrap(), cookie)
}

/// The nonce in the page's first form.
pub fn nonce_in(body: &str) -> String {
    let at = body
        .find("name=\"nonce\" value=\"")
        .expect("the page has a form nonce")
        + 20;
    body[at..].split('"').next().unwrap().to_owned()
}

/// POSTs an `application/x-www-form-urlencoded` `body`, with `cookie` when given; the status
/// and body.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    cookie: Option<&str>,
    body: String,
) -> (u16, String) {
    let mut req = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}
