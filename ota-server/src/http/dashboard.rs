//! `GET /dashboard`: a live operator page (rollouts, fleet versions, releases). Static,
//! unauthenticated and compiled in — HTML, one script, one stylesheet, one icon; nothing is
//! fetched from anywhere else. The script reads an admin token from the URL fragment
//! (`/dashboard#token=ota_…`, never sent to the server), keeps it in session storage and calls
//! the admin API with it, so every piece of data still goes through [`super::auth::AdminAuth`].

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;

const HTML: &str = include_str!("../../assets/dashboard.html");
const JS: &str = include_str!("../../assets/dashboard.js");
const CSS: &str = include_str!("../../assets/dashboard.css");
const ICON: &str = include_str!("../../assets/dashboard-icon.svg");

/// Same-origin only: no inline script or style, no framing, no form posts, no `<base>`.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes; merged into [`super::router`].
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/dashboard", get(|| async { asset("text/html; charset=utf-8", HTML) }))
        .route("/dashboard/", get(|| async { Redirect::permanent("/dashboard") }))
        .route(
            "/dashboard/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
        .route(
            "/dashboard/app.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route("/dashboard/icon.svg", get(|| async { asset("image/svg+xml", ICON) }))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            // The page is small and changes with the server binary: never serve a stale copy.
            (CACHE_CONTROL, "no-store"),
            (CONTENT_SECURITY_POLICY, CSP),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (X_FRAME_OPTIONS, "DENY"),
            (REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    use super::*;

    const ASSETS: [(&str, &str); 4] = [
        ("/dashboard", "text/html; charset=utf-8"),
        ("/dashboard/app.js", "text/javascript; charset=utf-8"),
        ("/dashboard/app.css", "text/css; charset=utf-8"),
        ("/dashboard/icon.svg", "image/svg+xml"),
    ];

    async fn get(app: Router, path: &str) -> axum::response::Response {
        app.oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn dashboard_assets_have_content_type_csp_and_no_store() {
        for (path, content_type) in ASSETS {
            let r = get(routes(), path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let h = r.headers();
            assert_eq!(h[CONTENT_TYPE], content_type, "{path}");
            assert_eq!(h[CACHE_CONTROL], "no-store", "{path}");
            assert_eq!(h[CONTENT_SECURITY_POLICY], CSP, "{path}");
            assert_eq!(h[X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            assert!(!body.is_empty(), "{path}");
        }
        let r = get(routes(), "/dashboard/").await;
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(r.headers()["location"], "/dashboard");
    }

    #[test]
    fn dashboard_csp_is_same_origin_only() {
        let directives: Vec<&str> = CSP.split(';').map(str::trim).collect();
        assert!(directives.contains(&"default-src 'self'"));
        assert!(directives.contains(&"script-src 'self'"));
        assert!(directives.contains(&"frame-ancestors 'none'"));
        assert!(!CSP.contains("unsafe"), "no unsafe-inline / unsafe-eval");
        assert!(!CSP.contains('*') && !CSP.contains("data:") && !CSP.contains("http"));
    }

    #[test]
    fn dashboard_references_no_external_url() {
        for (name, text) in [("html", HTML), ("js", JS), ("css", CSS)] {
            let lower = text.to_ascii_lowercase();
            for needle in ["http://", "https://", "url(", "@import", "src=\"//", "href=\"//"] {
                assert!(!lower.contains(needle), "dashboard {name} contains {needle:?}");
            }
        }
        // No inline script or style (the CSP would block them anyway) and every reference is ours.
        let lower = HTML.to_ascii_lowercase();
        assert!(!lower.contains("<style"), "inline style element");
        assert!(!lower.contains(" style="), "inline style attribute");
        for (i, _) in lower.match_indices(" on") {
            let name: String = lower[i + 3..].chars().take_while(char::is_ascii_alphabetic).collect();
            assert!(
                !lower[i + 3 + name.len()..].starts_with('='),
                "inline event handler attribute on{name}="
            );
        }
        for attr in ["src=\"", "href=\""] {
            for (i, _) in lower.match_indices(attr) {
                let target = &HTML[i + attr.len()..];
                assert!(
                    target.starts_with("/dashboard/"),
                    "{attr}… points outside /dashboard/: {}",
                    &target[..target.find('"').unwrap_or(target.len()).min(60)]
                );
            }
        }
        assert_eq!(lower.matches("<script").count(), 1);
        assert!(HTML.contains("<script src=\"/dashboard/app.js\" defer></script>"));
        assert!(!ICON.contains("href"), "the icon links to nothing");
    }

    /// The production router (`ota-server init` + `start`, over HTTPS with the development CA)
    /// serves the page and leaves the admin API behind its token.
    #[tokio::test]
    async fn dashboard_is_served_by_the_running_server() {
        let dir = tempfile::tempdir().unwrap();
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let key = repo.join("fixtures/keys/test-only-ed25519-a.pub.pem");
        let home = dir.path().join("server");
        crate::init::init(&crate::init::InitOptions {
            dir: home.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            image_keys: vec![key.clone()],
            manifest_keys: vec![key],
            classes: vec![crate::config::DeviceClass {
                name: "sensor-v2".into(),
                vendor_domain: "example.com".into(),
                registration: Default::default(),
            }],
        })
        .await
        .unwrap();
        let config = crate::config::Config::load(&home.join("ota-server.toml")).unwrap();
        let server = crate::serve::start(config).await.unwrap();
        let ca = reqwest::Certificate::from_pem(&std::fs::read(home.join("tls/fleet-ca.pem")).unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .resolve("localhost", server.addr)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let base = format!("https://localhost:{}", server.addr.port());
        for (path, content_type) in ASSETS {
            let r = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(r.headers()[CONTENT_TYPE], content_type, "{path}");
            assert_eq!(r.headers()[CONTENT_SECURITY_POLICY], CSP, "{path}");
            assert_eq!(r.headers()[CACHE_CONTROL], "no-store", "{path}");
        }
        let page = client
            .get(format!("{base}/dashboard"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(page, HTML);
        let r = client
            .get(format!("{base}/api/v1/admin/releases"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "the page is public, the data is not");
        server.shutdown().await;
    }
}
