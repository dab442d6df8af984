//! The console's stylesheet and script, built into the binary. Each is served under a name
//! carrying a hash of its content, so a page always loads the version it was rendered with and
//! browsers may keep them forever.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub struct Asset {
    name: &'static str,
    extension: &'static str,
    content_type: &'static str,
    body: &'static str,
    path: LazyLock<String>,
}

impl Asset {
    /// `/ui/assets/<name>.<hash>.<extension>`.
    pub fn path(&'static self) -> &'static str {
        self.path.as_str()
    }
}

macro_rules! asset {
    ($name:literal, $extension:literal, $content_type:literal) => {
        Asset {
            name: $name,
            extension: $extension,
            content_type: $content_type,
            body: include_str!(concat!("../../assets/", $name, ".", $extension)),
            path: LazyLock::new(|| {
                let body = include_str!(concat!("../../assets/", $name, ".", $extension));
                let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
                let hash: String = digest.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
                format!("/ui/assets/{}.{hash}.{}", $name, $extension)
            }),
        }
    };
}

pub static CSS: Asset = asset!("console", "css", "text/css; charset=utf-8");
pub static JS: Asset = asset!("console", "js", "text/javascript; charset=utf-8");

pub async fn serve(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    for asset in [&CSS, &JS] {
        if asset.path().rsplit('/').next() == Some(name.as_str()) {
            return (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=31536000, immutable"),
                    ),
                ],
                asset.body,
            )
                .into_response();
        }
    }
    let known = [&CSS, &JS]
        .iter()
        .any(|a| name.starts_with(a.name) && name.ends_with(a.extension));
    let why = if known {
        "an older version of this asset; reload the page"
    } else {
        "no such asset"
    };
    (StatusCode::NOT_FOUND, why).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_carry_their_content_hash() {
        assert!(CSS.path().starts_with("/ui/assets/console.") && CSS.path().ends_with(".css"));
        assert!(JS.path().ends_with(".js"));
        assert_ne!(CSS.path(), JS.path());
        assert_eq!(CSS.path().len(), "/ui/assets/console.".len() + 12 + ".css".len());
    }
}
