use serde_json::json;

use super::*;

fn declared() -> Vec<Variable> {
    vec![
        Variable {
            name: "DB_NAME".into(),
            required: true,
            ..Variable::default()
        },
        Variable {
            name: "DB_PASSWORD".into(),
            kind: Kind::Password,
            generate: Some(Generate {
                length: 12,
                charset: Charset::Hex,
            }),
            ..Variable::default()
        },
        Variable {
            name: "WORKERS".into(),
            kind: Kind::Number,
            default: Some("2".into()),
            ..Variable::default()
        },
        Variable {
            name: "MODE".into(),
            kind: Kind::Enum,
            options: vec!["dev".into(), "prod".into()],
            default: Some("prod".into()),
            ..Variable::default()
        },
        Variable {
            name: "API_KEY".into(),
            secret: true,
            default: Some("creator-key".into()),
            ..Variable::default()
        },
    ]
}

/// A counter standing in for the CSPRNG: the same sequence every run.
fn counter() -> impl FnMut(usize) -> usize {
    let mut n = 0;
    move |below| {
        n += 1;
        n % below
    }
}

fn given(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn customers_give_values_and_passwords_are_generated() {
    let values = assign(
        &declared(),
        &given(json!({"DB_NAME": "shop", "WORKERS": 4})),
        &Values::new(),
        &mut counter(),
    )
    .unwrap();
    assert_eq!(values["DB_NAME"].value, "shop");
    assert!(!values["DB_NAME"].generated);
    assert_eq!(values["WORKERS"].value, "4", "numbers are kept as their text");
    assert_eq!(values["DB_PASSWORD"].value, "123456789abc");
    assert!(values["DB_PASSWORD"].generated);
    assert!(
        !values.contains_key("MODE"),
        "defaults come from the template at each start"
    );
    assert!(
        !values.contains_key("API_KEY"),
        "a secret with a default is not generated"
    );
    let b = BuiltIns::placeholder();
    assert_eq!(lookup(&declared(), &values, &b, "MODE").as_deref(), Some("prod"));
    assert_eq!(
        lookup(&declared(), &values, &b, "HOSTER_DOMAIN").as_deref(),
        Some("app.example.com")
    );
    assert_eq!(lookup(&declared(), &values, &b, "NOPE"), None);
    assert!(!format!("{values:?}").contains("shop"), "debug output hides values");
}

#[test]
fn every_wrong_value_is_reported_with_its_name() {
    let got = assign(
        &declared(),
        &given(json!({"WORKERS": "many", "MODE": "test", "COLOR": "red", "HOSTER_URL": "x", "DB_PASSWORD": ["a"]})),
        &Values::new(),
        &mut counter(),
    )
    .unwrap_err();
    let got: Vec<String> = got.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "variables.WORKERS: `many` is not a number",
            "variables.MODE: `test` is not one of dev, prod",
            "variables.COLOR: `COLOR` is not a variable of this template",
            "variables.HOSTER_URL: `HOSTER_URL` is set by Hoster",
            "variables.DB_PASSWORD: must be a string, a number or a boolean",
            "variables.DB_NAME: required: this template needs a value",
        ]
    );
    let empty = assign(
        &declared(),
        &given(json!({"DB_NAME": ""})),
        &Values::new(),
        &mut counter(),
    )
    .unwrap_err();
    assert_eq!(
        empty[0].to_string(),
        "variables.DB_NAME: required: this template needs a value"
    );
}

#[test]
fn an_update_keeps_what_it_does_not_name_and_null_resets() {
    let first = assign(
        &declared(),
        &given(json!({"DB_NAME": "shop", "WORKERS": 4})),
        &Values::new(),
        &mut counter(),
    )
    .unwrap();
    let second = assign(
        &declared(),
        &given(json!({"WORKERS": null, "MODE": "dev"})),
        &first,
        &mut counter(),
    )
    .unwrap();
    assert_eq!(second["DB_NAME"].value, "shop");
    assert_eq!(
        second["DB_PASSWORD"], first["DB_PASSWORD"],
        "a generated password is kept"
    );
    assert!(!second.contains_key("WORKERS"));
    assert_eq!(second["MODE"].value, "dev");
    // Resetting the password generates a new one; a required value cannot be reset.
    let third = assign(&declared(), &given(json!({"DB_PASSWORD": null})), &second, &mut |_| 0).unwrap();
    assert_eq!(third["DB_PASSWORD"].value, "000000000000");
    assert!(assign(&declared(), &given(json!({"DB_NAME": null})), &second, &mut counter()).is_err());
}

#[test]
fn generated_values_use_their_charset_and_length() {
    let mut rng = counter();
    let value = Generate::default().value(&mut rng);
    assert_eq!(value.len(), 32);
    assert!(value.chars().all(|c| c.is_ascii_alphanumeric()));
    let hex = Generate {
        length: 20,
        charset: Charset::Hex,
    }
    .value(&mut rng);
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()) && hex.len() == 20);
}

#[test]
fn a_wrong_secret_value_is_not_repeated() {
    let pin = Variable {
        name: "PIN".into(),
        kind: Kind::Number,
        secret: true,
        default: Some("1".into()),
        ..Variable::default()
    };
    let got = assign(
        &[pin],
        &given(json!({"PIN": "hunter2"})),
        &Values::new(),
        &mut counter(),
    )
    .unwrap_err();
    assert_eq!(got[0].to_string(), "variables.PIN: the value is not a number");
}

#[test]
fn the_revision_changes_with_any_value() {
    let one = assign(
        &declared(),
        &given(json!({"DB_NAME": "shop"})),
        &Values::new(),
        &mut |_| 0,
    )
    .unwrap();
    let two = assign(
        &declared(),
        &given(json!({"DB_NAME": "shop2"})),
        &Values::new(),
        &mut |_| 0,
    )
    .unwrap();
    assert_eq!(revision(&one), revision(&one.clone()));
    assert_ne!(revision(&one), revision(&two));
    assert_eq!(revision(&Values::new()).len(), 16);
}
