//! The compose parser and interpolation on arbitrary bytes: it must answer (a model or problems), never panic or
//! hang, and whatever it accepts must render and parse back to the same model.
#![no_main]

use hoster_core::compose::{self, Limits, policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Interpolation answers for any text: a value, a missing required variable, or a malformed
    // reference; a text it accepts with every variable unset lists its references too.
    let unset = |_: &str| None;
    if compose::interpolate::interpolate(text, &unset).is_ok() {
        compose::interpolate::references(text).expect("what interpolates parses");
    }
    if let Ok(model) = compose::parse(text, &Limits::default()) {
        let _ = policy::violations(&model, &policy::Policy::default());
        let _ = model.primary_service();
        let again =
            compose::parse_value(&model.to_canonical(), &Limits::default()).expect("a canonical document parses");
        assert_eq!(again, model, "parse(render(m)) == m");
    }
});
