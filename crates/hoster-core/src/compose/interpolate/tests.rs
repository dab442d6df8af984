//! The interpolation section of the Compose specification, case by case.

use serde_json::json;

use super::*;

/// `SET=value`, `EMPTY=""`, `FOO=foo`; everything else unset.
fn lookup(name: &str) -> Option<String> {
    match name {
        "SET" => Some("value".into()),
        "EMPTY" => Some(String::new()),
        "FOO" => Some("foo".into()),
        _ => None,
    }
}

#[test]
fn the_specification_table() {
    let cases = [
        // Plain references, braced and not.
        ("$SET", "value"),
        ("${SET}", "value"),
        ("x$SET-y", "xvalue-y"),
        ("${SET}suffix", "valuesuffix"),
        ("$SETsuffix", ""),
        ("$UNSET", ""),
        ("${UNSET}", ""),
        ("${EMPTY}", ""),
        ("$EXTERNAL_PORT:5000", ":5000"),
        ("${lower_case}", ""),
        // `:-` and `-`.
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${SET:-default}", "value"),
        ("${UNSET-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${SET-default}", "value"),
        ("${UNSET:-}", ""),
        ("${UNSET:-with spaces: and colons}", "with spaces: and colons"),
        ("${UNSET:-{braces}", "{braces"),
        // `:+` and `+`.
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${UNSET:+alt}", ""),
        ("${SET+alt}", "alt"),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        // `:?` and `?` when the value is there.
        ("${SET:?message}", "value"),
        ("${SET?message}", "value"),
        ("${EMPTY?message}", ""),
        // Nesting, as the specification shows it.
        ("${UNSET:-${FOO}}", "foo"),
        ("${UNSET:-${OTHER:-default}}", "default"),
        ("${UNSET:-$FOO}", "foo"),
        ("${SET:+${FOO}-x}", "foo-x"),
        ("${SET?$FOO}", "value"),
        ("${UNSET:-a${FOO}b${SET}c}", "afoobvaluec"),
        // `$$` is a literal `$`, never a reference; a lone `$` stays.
        ("$$", "$"),
        ("$$SET", "$SET"),
        ("$${SET}", "${SET}"),
        ("echo $$VAR_NOT_INTERPOLATED", "echo $VAR_NOT_INTERPOLATED"),
        ("price: 5$", "price: 5$"),
        ("$1 and $ and $-", "$1 and $ and $-"),
        ("${UNSET:-$$}", "$"),
        ("no references", "no references"),
        ("", ""),
    ];
    for (text, expected) in cases {
        assert_eq!(interpolate(text, &lookup).as_deref(), Ok(expected), "{text}");
    }
}

#[test]
fn required_values_fail_with_their_message() {
    let cases = [
        (
            "${UNSET:?give a name}",
            "required variable UNSET is missing a value: give a name",
        ),
        (
            "${EMPTY:?give a name}",
            "required variable EMPTY is missing a value: give a name",
        ),
        ("${UNSET?gone}", "required variable UNSET is missing a value: gone"),
        ("${UNSET:?}", "required variable UNSET is missing a value"),
        (
            "${UNSET?$FOO is needed}",
            "required variable UNSET is missing a value: foo is needed",
        ),
        (
            "${UNSET:-${OTHER:?inner}}",
            "required variable OTHER is missing a value: inner",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(interpolate(text, &lookup), Err(expected.to_string()), "{text}");
    }
    // A branch not taken is not evaluated.
    assert_eq!(interpolate("${SET:-${OTHER:?inner}}", &lookup).as_deref(), Ok("value"));
}

#[test]
fn malformed_references_are_errors() {
    for text in [
        "${",
        "${SET",
        "${}",
        "${ SET}",
        "${1ABC}",
        "${SET/foo/bar}",
        "${SET:0:2}",
        "${SET^^}",
        "${#SET}",
        "${UNSET:-${}",
        "${UNSET:-${1}}",
    ] {
        let err = interpolate(text, &lookup).unwrap_err();
        assert!(err.starts_with("invalid interpolation format in"), "{text}: {err}");
        assert!(err.contains("$$"), "{text}: the message says how to escape: {err}");
    }
}

#[test]
fn references_are_listed_nested_ones_included() {
    let refs = references("${DB_NAME:?needed} $USER ${PORT:-${DEFAULT_PORT:-80}} $$NOT").unwrap();
    let named: Vec<(&str, Option<Operator>, Option<&str>)> = refs
        .iter()
        .map(|r| (r.name.as_str(), r.operator, r.argument.as_deref()))
        .collect();
    assert_eq!(
        named,
        vec![
            ("DB_NAME", Some(Operator::RequireNonEmpty), Some("needed")),
            ("USER", None, None),
            ("PORT", Some(Operator::DefaultIfEmpty), Some("${DEFAULT_PORT:-80}")),
            ("DEFAULT_PORT", Some(Operator::DefaultIfEmpty), Some("80")),
        ]
    );
    assert_eq!(
        references("${UNSET:-a$$b}").unwrap()[0].argument.as_deref(),
        Some("a$$b")
    );
}

#[test]
fn documents_interpolate_scalars_and_never_add_keys() {
    let doc = json!({
        "services": {
            "web": {
                "image": "nginx:${TAG:-alpine}",
                "environment": {"A": "$SET", "N": 5, "B": true, "$SET": "keys stay"},
                "command": ["echo", "$$HOME", "${INJECT}"],
            }
        }
    });
    let inject = |name: &str| match name {
        "INJECT" => Some("x\nprivileged: true".to_string()),
        other => lookup(other),
    };
    let out = interpolate_document(&doc, &inject).unwrap();
    assert_eq!(
        out,
        json!({
            "services": {
                "web": {
                    "image": "nginx:alpine",
                    "environment": {"A": "value", "N": 5, "B": true, "$SET": "keys stay"},
                    "command": ["echo", "$HOME", "x\nprivileged: true"],
                }
            }
        })
    );
    let bad = json!({"services": {"web": {"image": "${", "ports": ["${P:?port}"]}}});
    let problems = interpolate_document(&bad, &lookup).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["services.web.image", "services.web.ports[0]"]);
    let (refs, problems) = document_references(&bad);
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].0, "services.web.ports[0]");
    assert_eq!(problems.len(), 1);
}

#[test]
fn nesting_is_bounded() {
    let deep = |levels: usize| format!("{}x{}", "${UNSET:-".repeat(levels), "}".repeat(levels));
    assert_eq!(interpolate(&deep(16), &lookup).as_deref(), Ok("x"));
    assert_eq!(
        interpolate(&deep(10_000), &lookup),
        Err("references nest more than 16 levels deep".to_string())
    );
}
