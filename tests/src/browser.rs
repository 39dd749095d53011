//! Real headless Chromium for tests of pages as a person uses them: driven
//! over WebDriver (Debian's `chromium` + `chromium-driver`, installed by
//! `deploy/local/prereqs.sh --browser`), with screenshots written to a
//! folder the tests print and an axe-core accessibility scan.
//!
//! A missing browser skips the test, unless `MERIDIAN_REQUIRE_BACKENDS=1`
//! (CI), where it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How a browser is set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct Setup {
    /// JavaScript off (every page must work without it).
    pub no_javascript: bool,
    /// A phone: 390 × 844 CSS pixels, touch, a phone's user agent.
    pub phone: bool,
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
    base: String,
    phone: bool,
    no_javascript: bool,
}

fn binary(var: &str, default: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_owned()));
    path.exists().then_some(path)
}

/// Where screenshots go: `MERIDIAN_SCREENSHOTS`, else a folder beside the
/// build output.
pub fn screenshot_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MERIDIAN_SCREENSHOTS") {
        return PathBuf::from(dir);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("storefront-screenshots")
}

/// axe-core's script (`deploy/local/prereqs.sh --browser` fetches it).
fn axe_source() -> Option<String> {
    let path = std::env::var("MERIDIAN_AXE_JS").unwrap_or_else(|_| {
        let tools = std::env::var("MERIDIAN_TOOLS_DIR")
            .unwrap_or_else(|_| "/var/tmp/meridian-tools".into());
        format!("{tools}/axe-core-4.10.3/package/axe.min.js")
    });
    std::fs::read_to_string(path).ok()
}

fn missing(what: &str) -> Option<Browser> {
    if std::env::var("MERIDIAN_REQUIRE_BACKENDS").as_deref() == Ok("1") {
        panic!("{what} is missing but MERIDIAN_REQUIRE_BACKENDS=1 (run deploy/local/prereqs.sh --browser)");
    }
    eprintln!("skipping: {what} is missing (deploy/local/prereqs.sh --browser installs it)");
    None
}

impl Browser {
    /// A fresh browser (own profile, no cookies) for pages under `base`
    /// (`https://localhost:<port>`); `None` to skip when none is installed.
    pub async fn start(base: &str, setup: Setup) -> Option<Browser> {
        let Some(chromium) = binary("MERIDIAN_CHROMIUM", "/usr/bin/chromium") else {
            return missing("chromium");
        };
        let Some(chromedriver) = binary("MERIDIAN_CHROMEDRIVER", "/usr/bin/chromedriver") else {
            return missing("chromedriver");
        };
        if axe_source().is_none() {
            return missing("axe-core");
        }
        let port = crate::free_port().port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile =
            std::env::temp_dir().join(format!("meridian-chrome-{}", uuid::Uuid::new_v4().simple()));
        // As this machine's Chromium is known to run: headless, and without
        // the background networking a closed network refuses.
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        if !setup.phone {
            args.push("--window-size=1280,900".to_owned());
        }
        let mut options = json!({ "binary": chromium, "args": args });
        if setup.no_javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        if setup.phone {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 2.0, "touch": true },
                "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36"
            });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        // The test CA is not in the browser's store: accept its leaf.
        caps.insert("acceptInsecureCerts".into(), json!(true));
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        // A cold start on a busy machine takes a while.
        for _ in 0..300 {
            match ClientBuilder::rustls()
                .expect("TLS roots")
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        driver,
                        profile,
                        base: base.trim_end_matches('/').to_owned(),
                        phone: setup.phone,
                        no_javascript: setup.no_javascript,
                    });
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start a session: {last:?}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&self.url(path))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The current path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits (up to 10 s) for an element, then returns it.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!("no {css} on {}: {e}", self.path().await),
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// The text of the whole page body (read by script, so a page being
    /// replaced mid-read is just read again).
    pub async fn body(&self) -> String {
        for _ in 0..50 {
            if let Ok(v) = self
                .client
                .execute(
                    "return document.body ? document.body.innerText : '';",
                    vec![],
                )
                .await
            {
                return v.as_str().unwrap_or("").to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never settled at {}", self.path().await)
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Chooses an `<option>` by value.
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// Fills and sends the registration form of the current page.
    pub async fn register(&self, name: &str, email: &str) {
        self.fill("#display_name", name).await;
        self.fill("#email", email).await;
        self.fill("#password", crate::PASSWORD).await;
        self.click("form[action='/register'] button").await;
    }

    /// Fills the checkout's shipping address.
    pub async fn fill_address(&self, name: &str, line1: &str, city: &str, state: &str, zip: &str) {
        self.fill("#name", name).await;
        self.fill("#line1", line1).await;
        self.fill("#city", city).await;
        self.select("#state", state).await;
        self.fill("#postal_code", zip).await;
    }

    /// Waits (up to 10 s) until the page's text contains `text`.
    pub async fn wait_for_text(&self, text: &str) {
        for _ in 0..100 {
            if self.body().await.contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{text:?} never appeared on {}: {}",
            self.path().await,
            self.body().await
        );
    }

    /// Saves the page as `<screenshot_dir>/<name>.png` and returns its
    /// path: the whole page on a desktop (the window grows to fit it for
    /// the shot), the screen on a phone.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(900) as u32;
        let grow = !self.phone && height > 900;
        if grow {
            self.client
                .set_window_size(1280, height.min(6000) + 140)
                .await
                .unwrap();
        }
        let png = self.client.screenshot().await.unwrap();
        if grow {
            self.client.set_window_size(1280, 900).await.unwrap();
        }
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// axe-core's serious and critical violations on the current page, as
    /// `rule: what (where)` lines.
    pub async fn accessibility_problems(&self) -> Vec<String> {
        let axe = axe_source().expect("checked at start");
        self.client
            .execute(&format!("{axe}\n;return true;"), vec![])
            .await
            .unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done(JSON.stringify(r.violations)))
                    .catch(e => done(JSON.stringify([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }])));",
                vec![],
            )
            .await
            .unwrap();
        let violations: Vec<Value> = serde_json::from_str(result.as_str().unwrap_or("[]")).unwrap();
        violations
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(|v| {
                let targets: Vec<String> = v["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .take(3)
                    .map(|n| n["target"].to_string())
                    .collect();
                format!("{}: {} ({})", v["id"], v["help"], targets.join(", "))
            })
            .collect()
    }

    /// Screenshot and accessibility scan of the current page; panics with
    /// the problems found. (With JavaScript off the scan cannot run in the
    /// page; the same pages are scanned with it on.)
    pub async fn look(&self, name: &str) {
        self.screenshot(name).await;
        if self.no_javascript {
            return;
        }
        let problems = self.accessibility_problems().await;
        assert!(
            problems.is_empty(),
            "accessibility problems on {name}:\n{}",
            problems.join("\n")
        );
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        // The rest in `drop`.
    }
}

impl Drop for Browser {
    /// Also when a test fails half way: no driver or browser outlives it.
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // The browser's processes are named by their own profile folder.
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self.profile.display().to_string())
            .status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
