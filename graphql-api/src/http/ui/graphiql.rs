//! GraphiQL at `GET /graphql`, served from the binary: nothing is fetched from elsewhere, so it
//! works offline and under a Content-Security-Policy that allows scripts from this origin only.
//!
//! GraphiQL and React are vendored from npm, gzipped, in `graphql-api/assets/graphiql/` (see
//! `scripts/vendor-graphiql.sh` and the licenses beside them). The page and its assets are
//! addressed under `/graphiql/{tag}/`, where the tag is a hash of every asset: a browser may
//! keep them forever, and a new build changes the address.

use std::{fmt::Write as _, io::Read as _, sync::LazyLock};

use axum::{
    extract::Path,
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use sha2::{Digest as _, Sha256};

/// The page's Content-Security-Policy: scripts and styles from this origin only (GraphiQL's
/// editor also sets inline style attributes), requests to this origin only (CSP Level 3
/// covers `ws:`/`wss:` to the same host for subscriptions), no framing, no forms.
pub const GRAPHIQL_CSP: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; \
     font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Where the assets are served: `/graphiql/{tag}/{name}`.
const ASSET_ROOT: &str = "/graphiql";

/// One file of the page.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: Body,
}

/// How an asset is stored in the binary.
enum Body {
    /// Gzipped (the vendored files): sent as is to clients that accept gzip.
    Gzip(&'static [u8]),
    /// Plain text (our own small files).
    Plain(&'static str),
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const ASSETS: [Asset; 6] = [
    Asset {
        name: "graphiql.min.js",
        content_type: JS,
        body: Body::Gzip(include_bytes!(
            "../../../assets/graphiql/graphiql.min.js.gz"
        )),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: CSS,
        body: Body::Gzip(include_bytes!(
            "../../../assets/graphiql/graphiql.min.css.gz"
        )),
    },
    Asset {
        name: "react.production.min.js",
        content_type: JS,
        body: Body::Gzip(include_bytes!(
            "../../../assets/graphiql/react.production.min.js.gz"
        )),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: JS,
        body: Body::Gzip(include_bytes!(
            "../../../assets/graphiql/react-dom.production.min.js.gz"
        )),
    },
    Asset {
        name: "page.js",
        content_type: JS,
        body: Body::Plain(include_str!("graphiql.js")),
    },
    Asset {
        name: "page.css",
        content_type: CSS,
        body: Body::Plain(include_str!("graphiql.css")),
    },
];

/// A hash of every asset: part of their address, so they can be cached for good.
static TAG: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = Sha256::new();
    for asset in &ASSETS {
        hasher.update(asset.name.as_bytes());
        match asset.body {
            Body::Gzip(bytes) => hasher.update(bytes),
            Body::Plain(text) => hasher.update(text.as_bytes()),
        }
    }
    hasher.finalize()[..8]
        .iter()
        .fold(String::with_capacity(16), |mut tag, byte| {
            let _ = write!(tag, "{byte:02x}");
            tag
        })
});

/// The page, pointing at the assets of this build.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    include_str!("graphiql.html").replace("{{ASSETS}}", &format!("{ASSET_ROOT}/{}", *TAG))
});

/// The headers every GraphiQL response carries.
fn security_headers() -> [(header::HeaderName, &'static str); 3] {
    [
        (header::CONTENT_SECURITY_POLICY, GRAPHIQL_CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ]
}

/// `GET /graphql` from a browser: the GraphiQL page.
pub fn page() -> Response {
    (
        security_headers(),
        [(header::CACHE_CONTROL, "no-cache")],
        Html(PAGE.as_str()),
    )
        .into_response()
}

/// `GET /graphiql/{tag}/{name}`: one asset of the page. An asset of another build (an old tag)
/// is not found, so a cached page never mixes builds.
pub async fn asset(Path((tag, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS
        .iter()
        .find(|a| a.name == name)
        .filter(|_| tag == *TAG)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cache = (header::CACHE_CONTROL, "public, max-age=31536000, immutable");
    let content_type = (header::CONTENT_TYPE, asset.content_type);
    match asset.body {
        Body::Plain(text) => (security_headers(), [cache, content_type], text).into_response(),
        Body::Gzip(bytes) if accepts_gzip(&headers) => (
            security_headers(),
            [
                cache,
                content_type,
                (header::CONTENT_ENCODING, "gzip"),
                (header::VARY, "accept-encoding"),
            ],
            bytes,
        )
            .into_response(),
        Body::Gzip(bytes) => {
            // Every browser accepts gzip; a client that does not gets the file decoded.
            let mut decoded = Vec::new();
            if flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut decoded)
                .is_err()
            {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            (
                security_headers(),
                [cache, content_type, (header::VARY, "accept-encoding")],
                decoded,
            )
                .into_response()
        }
    }
}

/// Whether `Accept-Encoding` allows gzip (and does not refuse it with `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| p.replace(' ', "") == "q=0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for external in ["http://", "https://", "src=\"//", "href=\"//", "@import"] {
            assert!(!PAGE.contains(external), "found `{external}` in the page");
        }
        for asset in &ASSETS {
            if asset.name.starts_with("page.") {
                continue;
            }
            assert!(
                PAGE.contains(&format!("{ASSET_ROOT}/{}/{}", *TAG, asset.name)),
                "{} is not linked",
                asset.name
            );
        }
        assert!(
            !PAGE.contains("<script>"),
            "an inline script would need 'unsafe-inline'"
        );
    }

    #[test]
    fn gzip_is_sent_only_to_clients_that_accept_it() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
