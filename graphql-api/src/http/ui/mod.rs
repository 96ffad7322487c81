//! The pages a browser opens: the job-monitoring page at `/` (this module) and GraphiQL at
//! `GET /graphql` ([`graphiql`]).
//!
//! The job-monitoring page:
//!
//! One self-contained HTML file (inline CSS and a small script, nothing fetched from elsewhere)
//! that reads and acts only through the GraphQL API: `POST /graphql` for queries and the admin
//! mutations, and the `jobUpdates` subscription on `/graphql/ws` for live updates, falling back
//! to polling. Operator data needs a token: the page asks for one, sends it with every request
//! and in the subscription's `connection_init`, shows whose it is (`viewer { name role }`) and
//! offers the actions only to an admin token. It is compiled into the binary, so there is
//! nothing to deploy beside it.

pub mod graphiql;

use axum::{http::header, response::Html};

/// The page itself.
const MONITOR_HTML: &str = include_str!("monitor.html");

/// The page's Content-Security-Policy: nothing but its own inline script and style, requests
/// only to this origin (CSP Level 3 makes `'self'` cover `ws:`/`wss:` to the same host for
/// the subscription), no framing, no forms, no plugins.
pub const MONITOR_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the job-monitoring page, with a strict Content-Security-Policy.
pub async fn monitor() -> ([(header::HeaderName, &'static str); 4], Html<&'static str>) {
    (
        [
            (header::CONTENT_SECURITY_POLICY, MONITOR_CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Html(MONITOR_HTML),
    )
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse as _;

    use super::*;

    #[tokio::test]
    async fn serves_the_page_with_its_security_headers() {
        let response = monitor().await.into_response();
        let headers = response.headers();
        assert_eq!(
            headers.get(header::CONTENT_SECURITY_POLICY).unwrap(),
            MONITOR_CSP
        );
        assert_eq!(
            headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
            "nosniff"
        );
        assert!(
            headers
                .get(header::CONTENT_TYPE)
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }

    #[test]
    fn the_page_is_self_contained() {
        // The SVG namespace is a name, never fetched.
        let page = MONITOR_HTML.replace("\"http://www.w3.org/2000/svg\"", "");
        for external in ["http://", "https://", "//cdn", "src=\"//", "@import"] {
            assert!(
                !page.contains(external),
                "monitor.html must not load anything from elsewhere (found `{external}`)"
            );
        }
        for id in [
            "id=\"provider-filter\"",
            "id=\"state-filter\"",
            "id=\"token\"",
        ] {
            assert!(MONITOR_HTML.contains(id), "monitor.html lost `{id}`");
        }
    }
}
