//! Template bodies and header images, and rendering them with any fields: parsing never
//! panics, and when every variable has a value none renders empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pregon_domain::template::Variables;
use pregon_domain::Template;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.split('\u{1}');
    let body = parts.next().unwrap_or_default();
    let header = parts.next();
    let vars: Variables = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Ok(template) = Template::parse(body, header) {
        let rendered = template.render(&vars);
        if template.missing_variable(&vars).is_none() {
            assert!(
                rendered.body_parameters.iter().all(|p| !p.is_empty()),
                "a present variable rendered empty"
            );
        }
    }
});
