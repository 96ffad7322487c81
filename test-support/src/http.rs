//! HTTP helpers for tests.

/// An HTTP client for tests (rustls with the ring provider, as the binaries use).
pub fn http_client() -> reqwest::Client {
    // Installing twice is harmless: the first provider stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("an HTTP client builds")
}
