//! The request decoders on arbitrary bytes: a template body as the API decodes it (strict JSON
//! into TemplateFields, then validation), a custom domain and a token.
#![no_main]

use hoster_core::template::{Limits, TemplateFields};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(fields) = serde_json::from_slice::<TemplateFields>(data) {
        let _ = fields.clone().validate(&Limits::default());
        let _ = fields.validate_trusted(&Limits::default());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let api = hoster_core::hostname::ApiHosts::new(["localhost"]).expect("a valid API host");
        let _ = hoster_core::hostname::custom_domain(text, "apps.localhost", &api);
        let _ = hoster_core::hostname::parse_authority(text);
        let _ = hoster_core::access::token::well_formed(text);
    }
});
