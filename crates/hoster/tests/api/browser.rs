//! A real headless Chromium, driven over WebDriver by Debian's chromedriver, for the console's
//! tests; screenshots of what it shows.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: install Debian's {package} (`make testenv` or `apt-get install -y chromium chromium-driver`)"
            );
        }
        let port = crate::helpers::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        // The flags keep Chromium off the network it cannot reach here (background services
        // otherwise retry connections) and on a fresh profile.
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session through chromedriver");
        client.set_window_size(1280, 900).await.unwrap();
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    /// The text of the first element `css` finds, waiting up to 10 s for it.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let found = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element,
            Err(e) => panic!("no `{css}` on {}: {e}", self.url().await),
        }
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Waits up to 10 s for the browser to be at a URL containing `part`; the URL.
    pub async fn wait_for_url(&self, part: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.url().await;
            if url.contains(part) {
                return url;
            }
            assert!(Instant::now() < deadline, "never got to `{part}`; at {url}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn body(&self) -> String {
        self.text("body").await
    }

    /// Waits up to `seconds` until the text of `css` contains `wanted` (live parts change
    /// without a reload).
    pub async fn wait_for_text(&self, css: &str, wanted: &str, seconds: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(wanted) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "`{css}` never showed `{wanted}` within {seconds} s; it shows `{text}` on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Screenshots of the page at desktop and phone widths, under `target/screenshots/` (or
    /// `docs/screenshots/` with `HOSTER_UPDATE_SCREENSHOTS=1`, to commit them).
    pub async fn screenshots(&self, name: &str) {
        let dir = if std::env::var_os("HOSTER_UPDATE_SCREENSHOTS").is_some() {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
        };
        std::fs::create_dir_all(&dir).unwrap();
        let mut widths = Vec::new();
        for (width, height, kind) in [(1280, 900, "desktop"), (390, 844, "phone")] {
            self.client.set_window_size(width, height).await.unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
            let png = self.client.screenshot().await.unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name} {kind}: not a PNG");
            widths.push(u32::from_be_bytes(png[16..20].try_into().unwrap()));
            std::fs::write(dir.join(format!("{name}-{kind}.png")), png).unwrap();
        }
        assert!(
            widths[1] < widths[0],
            "{name}: the phone screenshot is not narrower: {widths:?}"
        );
        // A page too wide for a phone scrolls sideways: the layout must fit 390 px.
        self.client.set_window_size(390, 844).await.unwrap();
        let overflow = self
            .client
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            overflow.as_i64().unwrap_or(0) <= 1,
            "{name}: wider than a phone by {overflow} px"
        );
        self.client.set_window_size(1280, 900).await.unwrap();
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
