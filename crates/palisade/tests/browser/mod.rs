//! A real browser for the console tests: Debian's Chromium, headless, driven over WebDriver by
//! chromedriver through fantoccini. A missing browser fails the test with the command that
//! installs it (never a skip).
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const APT: &str = "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver";

/// The installed program, or a failure that says how to install it (never a skip).
pub fn program(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is missing: install it with `{APT}`");
}

/// chromedriver on a free loopback port; killed on drop.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_driver() -> Driver {
    let chromedriver = program("chromedriver");
    program("chromium");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(chromedriver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Killed and reaped on drop, whatever happens next.
    let driver = Driver { child, port };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return driver;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("chromedriver did not listen on {port}");
}

pub async fn browser(driver: &Driver) -> Client {
    // fantoccini's connector needs a process-wide rustls provider (chromedriver itself is http).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": program("chromium"),
            // The registry serves TLS with the test's own CA, which Chromium does not know.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--window-size=1280,860"]
        }),
    );
    ClientBuilder::rustls().expect("rustls").capabilities(caps).connect(&format!("http://127.0.0.1:{}", driver.port)).await.expect("a Chromium session")
}

/// Saves a screenshot into `dir` and `<target>/console-screenshots/`.
pub async fn screenshot(c: &Client, dir: &Path, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(dir.join(name), &png).unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        // tests run from target/<profile>/deps/<test>
        std::env::current_exe().unwrap().ancestors().nth(3).unwrap().to_path_buf()
    });
    let shots = target.join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(shots.join(name), &png).unwrap();
}

pub async fn text(c: &Client, css: &str) -> String {
    match c.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap(),
        Err(e) => panic!("{css}: {e}\nat {}:\n{}", c.current_url().await.unwrap(), c.source().await.unwrap_or_default()),
    }
}

pub async fn login(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/console/login")).await.unwrap();
    c.find(Locator::Id("user")).await.unwrap().send_keys(user).await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys(password).await.unwrap();
    c.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    // The click does not wait for the next page.
    text(c, "#login-error, #current-user").await;
}
