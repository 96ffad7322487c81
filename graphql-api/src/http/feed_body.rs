//! `GET /jobs/{id}/body`: the feed body a job kept, byte for byte as the provider sent it, for
//! a viewer who wants to see exactly what came (the snapshot behind `replayJob`).
//!
//! The stored zstd frame is read whole (it is the compressed size), and decompressed as it is
//! sent, a chunk at a time on a blocking thread: a large body never sits in memory inflated.

use std::{io::Read as _, sync::Arc};

use axum::{
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use entity::{JobId, query};

use super::rest::{error_response, viewer_refusal};
use crate::{error::ApiError, state::AppState};

/// Bytes per chunk sent.
const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks decompressed ahead of the client.
const CHUNKS_AHEAD: usize = 4;

/// Sends job `id`'s kept feed body (viewer token required).
pub async fn download(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = viewer_refusal(&state, &headers) {
        return refused;
    }
    let Some(job) = id.parse::<i64>().ok().filter(|n| *n > 0).map(JobId) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "a job id is a positive number",
        );
    };
    let db = match state.database.available() {
        Ok(db) => db,
        Err(err) => {
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                err.code(),
                &err.to_string(),
            );
        }
    };
    let stored = match query::feed_snapshot::find(db, job).await {
        Ok(Some(stored)) => stored,
        Ok(None) => {
            return error_response(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!(
                    "job {} kept no feed body (it read no changed feed, or retention dropped it)",
                    job.0
                ),
            );
        }
        Err(err) => {
            let err = ApiError::from(err);
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                err.code(),
                &err.to_string(),
            );
        }
    };
    let stored = match stored.with_frame(state.config.snapshot_dir.as_ref()).await {
        Ok(stored) => stored,
        Err(err) => {
            // The file's path stays in this process's log.
            tracing::warn!(job.id = %job, error = %err, "a kept feed body could not be read");
            return error_response(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!(
                    "job {}'s feed body is kept in a snapshot directory this API cannot read (see graphql-api serve --snapshot-dir)",
                    job.0
                ),
            );
        }
    };
    let (chunks, received) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_AHEAD);
    let frame = stored.body;
    tokio::task::spawn_blocking(move || decompress_into(&frame, &chunks));
    let stream = futures::stream::unfold(received, |mut received| async move {
        received.recv().await.map(|chunk| (chunk, received))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(stored.raw_bytes));
    if let Ok(disposition) =
        HeaderValue::from_str(&format!("attachment; filename=\"job-{}.xml\"", job.0))
    {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    response
}

/// Decompresses `frame` into `chunks`, [`CHUNK_BYTES`] at a time, waiting while the channel is
/// full: a client that reads slowly (or not at all) holds at most the channel's chunks and the
/// one in hand, whatever the body's size. Stops when the client goes away.
fn decompress_into(frame: &[u8], chunks: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>) {
    let mut decoder = match entity::feed_snapshot::decoder(frame) {
        Ok(decoder) => decoder,
        Err(err) => {
            let _ = chunks.blocking_send(Err(err));
            return;
        }
    };
    loop {
        let mut chunk = vec![0; CHUNK_BYTES];
        match decoder.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                chunk.truncate(n);
                if chunks.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                    return;
                }
            }
            Err(err) => {
                let _ = chunks.blocking_send(Err(err));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_that_does_not_read_holds_a_few_chunks_of_a_large_body() {
        let body: Vec<u8> = (0..400_000u32)
            .flat_map(|i| format!("<event event_id=\"{i}\"/>\n").into_bytes())
            .collect();
        assert!(body.len() > 100 * CHUNK_BYTES, "{} bytes", body.len());
        let frame = entity::feed_snapshot::Compressed::of(&body).unwrap().body;
        let (chunks, mut received) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
        let decompressing = std::thread::spawn(move || decompress_into(&frame, &chunks));
        // Nobody reads: the decoder fills the channel, then waits with one chunk in hand.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while received.len() < CHUNKS_AHEAD && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(
            received.len(),
            CHUNKS_AHEAD,
            "no more than the channel holds"
        );
        assert!(!decompressing.is_finished(), "it waits for the client");
        // Read at last: the whole body, in order.
        let mut back = Vec::with_capacity(body.len());
        while let Some(chunk) = received.blocking_recv() {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= CHUNK_BYTES);
            back.extend_from_slice(&chunk);
        }
        decompressing.join().unwrap();
        assert_eq!(back, body);
    }
}
