//! The load test's baseline: a plain axum server that answers every `GET` with a fixed JSON
//! body (the size of a real 20-event `/search` answer), so the API's figures can be read
//! against what this machine does with no work at all.
//!
//! `cargo run --release -p graphql-api --example baseline -- 127.0.0.1:18900 body.json`

use axum::{Router, body::Bytes, http::header, routing::get};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18900".to_owned());
    let body = Bytes::from(std::fs::read(
        args.next().unwrap_or_else(|| "body.json".to_owned()),
    )?);
    let app = Router::new().fallback(get(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    }));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await
}
