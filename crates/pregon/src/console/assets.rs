//! The console's static files, our own only (no third-party or minified code): the style
//! sheet, the ES modules and the icon in `crates/pregon/assets/`, compiled into the binary.
//!
//! Each is served at a URL carrying a hash of its content, `/assets/app.3f9a1c20b4.js`, so
//! it can be cached for a year (`immutable`) and a new build is fetched at once. Pages get
//! the URL from [`url`]. A module importing another (`import … from "./api.js"`) has the
//! import rewritten to the other's hashed name when the table is built, so a change to an
//! imported module changes its importer's hash too; `SOURCES` lists imported modules
//! before their importers. A name or hash we do not have is a 404.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::http::error::ApiError;

/// One file as written in the repository.
struct Source {
    name: &'static str,
    body: &'static str,
    content_type: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every asset. Modules come after the modules they import.
const SOURCES: &[Source] = &[
    Source {
        name: "app.css",
        body: include_str!("../../assets/app.css"),
        content_type: "text/css; charset=utf-8",
    },
    Source {
        name: "icon.svg",
        body: include_str!("../../assets/icon.svg"),
        content_type: "image/svg+xml",
    },
    Source {
        name: "confirm.js",
        body: include_str!("../../assets/confirm.js"),
        content_type: JS,
    },
    Source {
        name: "live.js",
        body: include_str!("../../assets/live.js"),
        content_type: JS,
    },
    Source {
        name: "api.js",
        body: include_str!("../../assets/api.js"),
        content_type: JS,
    },
    Source {
        name: "forms.js",
        body: include_str!("../../assets/forms.js"),
        content_type: JS,
    },
    Source {
        name: "catalog.js",
        body: include_str!("../../assets/catalog.js"),
        content_type: JS,
    },
    Source {
        name: "wizard.js",
        body: include_str!("../../assets/wizard.js"),
        content_type: JS,
    },
    Source {
        name: "app.js",
        body: include_str!("../../assets/app.js"),
        content_type: JS,
    },
];

/// One asset as served.
struct Asset {
    /// `app.js`: the name pages ask for.
    name: &'static str,
    /// `app.3f9a1c20b4.js`: the name with the content hash before the extension.
    hashed: String,
    body: String,
    content_type: &'static str,
    /// The hash, quoted, as an entity tag.
    etag: HeaderValue,
}

struct Table {
    by_name: HashMap<&'static str, usize>,
    by_hashed: HashMap<String, usize>,
    assets: Vec<Asset>,
}

static TABLE: LazyLock<Table> = LazyLock::new(build);

fn build() -> Table {
    let mut table = Table {
        by_name: HashMap::new(),
        by_hashed: HashMap::new(),
        assets: Vec::new(),
    };
    for source in SOURCES {
        let mut body = source.body.to_string();
        if source.content_type == JS {
            for earlier in table.assets.iter().filter(|a| a.content_type == JS) {
                for quote in ['"', '\''] {
                    body = body.replace(
                        &format!("{quote}./{}{quote}", earlier.name),
                        &format!("{quote}./{}{quote}", earlier.hashed),
                    );
                }
            }
        }
        let digest = hex::encode(Sha256::digest(body.as_bytes()));
        let hash = &digest[..10];
        let (stem, extension) = source.name.rsplit_once('.').expect("an asset name has an extension");
        let hashed = format!("{stem}.{hash}.{extension}");
        let etag = HeaderValue::from_str(&format!("\"{hash}\"")).expect("hex is a valid header value");
        let index = table.assets.len();
        table.by_name.insert(source.name, index);
        table.by_hashed.insert(hashed.clone(), index);
        table.assets.push(Asset {
            name: source.name,
            hashed,
            body,
            content_type: source.content_type,
            etag,
        });
    }
    table
}

/// The URL of the asset `name` (`"app.js"` → `/assets/app.3f9a1c20b4.js`). An unknown
/// name is a programming error: it is logged, and the URL answers 404.
pub fn url(name: &str) -> String {
    match TABLE.by_name.get(name) {
        Some(&i) => format!("/assets/{}", TABLE.assets[i].hashed),
        None => {
            tracing::error!(name, "a console page asks for an asset that does not exist");
            format!("/assets/missing-{name}")
        }
    }
}

/// `GET /assets/{file}`: an asset by its hashed name, cached for a year; 304 when the
/// browser already has it.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(&i) = TABLE.by_hashed.get(&file) else {
        return ApiError::not_found("asset").into_response();
    };
    let asset = &TABLE.assets[i];
    let cached = [
        (
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ),
        (ETAG, asset.etag.clone()),
    ];
    let fresh = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").as_bytes() == asset.etag.as_bytes()
        });
    if fresh {
        return (StatusCode::NOT_MODIFIED, cached).into_response();
    }
    (
        cached,
        [(CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
        asset.body.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_a_content_hash() {
        let app = url("app.js");
        assert!(app.starts_with("/assets/app.") && app.ends_with(".js"), "{app}");
        let hash = app.trim_start_matches("/assets/app.").trim_end_matches(".js");
        assert_eq!(hash.len(), 10);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
        assert_ne!(url("app.css"), url("api.js"));
    }

    #[test]
    fn imports_point_at_hashed_modules_that_exist() {
        for asset in TABLE.assets.iter().filter(|a| a.content_type == JS) {
            for line in asset.body.lines().filter(|l| l.trim_start().starts_with("import ")) {
                let target = line
                    .split(['"', '\''])
                    .nth(1)
                    .unwrap_or_else(|| panic!("{}: an import without a quoted path: {line}", asset.hashed));
                let file = target
                    .strip_prefix("./")
                    .unwrap_or_else(|| panic!("{}: imports must be relative: {line}", asset.hashed));
                assert!(
                    TABLE.by_hashed.contains_key(file),
                    "{}: {file} is not a served asset (listed after its importer?)",
                    asset.hashed
                );
            }
        }
    }

    #[test]
    fn every_file_in_the_assets_folder_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        for entry in std::fs::read_dir(&dir).expect("the assets folder") {
            let name = entry.expect("an entry").file_name().to_string_lossy().to_string();
            assert!(
                SOURCES.iter().any(|s| s.name == name),
                "{name} is in assets/ but not in SOURCES"
            );
        }
    }
}
