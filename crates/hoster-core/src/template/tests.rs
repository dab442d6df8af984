use super::*;
use crate::variables::{Generate, Kind};

fn valid() -> TemplateFields {
    TemplateFields {
        name: Some("My Web App".into()),
        version: Some("1.0.0".into()),
        creator_id: Some("user-1".into()),
        compose_spec: Some("services:\n  web:\n    image: nginx:alpine\n".into()),
        ..TemplateFields::default()
    }
}

fn problems(fields: TemplateFields) -> Vec<String> {
    match fields.validate(&Limits::default()) {
        Ok(_) => panic!("accepted"),
        Err(Problems(p)) => p.iter().map(ToString::to_string).collect(),
    }
}

/// A compose file whose one service names each of `names` in its environment.
fn uses(names: &[&str]) -> String {
    let mut spec = "services:\n  web:\n    image: nginx:alpine\n    environment:\n".to_string();
    for name in names {
        spec.push_str(&format!("      {name}: ${{{name}}}\n"));
    }
    spec
}

fn file(path: &str) -> ConfigFile {
    ConfigFile {
        name: "f".into(),
        path: path.into(),
        content: "x".into(),
        mode: None,
        service: None,
        interpolate: false,
    }
}

#[test]
fn a_valid_template_gets_a_slug_and_defaults() {
    let (spec, compose) = valid().validate(&Limits::default()).unwrap();
    assert_eq!(spec.slug, "my-web-app");
    assert_eq!(spec.price_monthly, 0);
    assert_eq!(spec.description, "");
    assert_eq!(compose.services[0].name, "web");
}

#[test]
fn every_missing_field_is_reported_at_once() {
    assert_eq!(
        problems(TemplateFields::default()),
        vec![
            "name: required",
            "version: required",
            "creator_id: required",
            "compose_spec: required"
        ]
    );
}

#[test]
fn field_rules() {
    let cases: Vec<(TemplateFields, &str)> = vec![
        (
            TemplateFields {
                name: Some("x".repeat(101)),
                ..valid()
            },
            "name: must be 1 to 100 characters long (is 101)",
        ),
        (
            TemplateFields {
                name: Some("!!!".into()),
                ..valid()
            },
            "name: must contain at least one letter or digit",
        ),
        (
            TemplateFields {
                version: Some("1.0".into()),
                ..valid()
            },
            "version: `1.0` is not a semantic version such as 1.0.0",
        ),
        (
            TemplateFields {
                price_monthly: Some(-1),
                ..valid()
            },
            "price_monthly: must be a whole number of cents from 0 to 100000000",
        ),
        (
            TemplateFields {
                creator_id: Some("a b".into()),
                ..valid()
            },
            "creator_id: must be 1 to 100 characters of a-z, A-Z, 0-9, `-`, `_`, `.`, `@`",
        ),
        (
            TemplateFields {
                tags: Some(vec!["a".into(), "a".into()]),
                ..valid()
            },
            "tags[1]: `a` is listed twice",
        ),
        (
            TemplateFields {
                tags: Some(vec![String::new()]),
                ..valid()
            },
            "tags[0]: must be 1 to 30 characters long (is 0)",
        ),
        (
            TemplateFields {
                category: Some(String::new()),
                ..valid()
            },
            "category: must be 1 to 50 characters long (is 0)",
        ),
        (
            TemplateFields {
                compose_spec: Some("services:\n  web:\n    build: .\n    image: x\n".into()),
                ..valid()
            },
            "compose_spec: services.web.build: not supported, use an image",
        ),
    ];
    for (fields, expected) in cases {
        let got = problems(fields);
        assert!(got.iter().any(|p| p == expected), "wanted `{expected}` in {got:?}");
    }
}

#[test]
fn config_file_paths_must_be_safe() {
    for (path, expected) in [
        ("etc/x", "config_files[0].path: `etc/x` must be an absolute path"),
        (
            "/etc/../root/.ssh/authorized_keys",
            "config_files[0].path: `/etc/../root/.ssh/authorized_keys` must not contain `.` or `..` segments",
        ),
        (
            "/etc/nginx/",
            "config_files[0].path: `/etc/nginx/` names a directory; give a file path",
        ),
        ("/a//b", "config_files[0].path: `/a//b` must not contain empty segments"),
        (
            "/etc/hosts",
            "config_files[0].path: `/etc/hosts` cannot be a config file: Docker writes this file itself and would silently replace it",
        ),
        (
            "/etc/resolv.conf",
            "config_files[0].path: `/etc/resolv.conf` cannot be a config file: Docker writes this file itself and would silently replace it",
        ),
        (
            "/proc/self/x",
            "config_files[0].path: `/proc/self/x` cannot be a config file: the runtime mounts this kernel filesystem itself",
        ),
    ] {
        let got = problems(TemplateFields {
            config_files: Some(vec![file(path)]),
            ..valid()
        });
        assert!(got.iter().any(|p| p == expected), "wanted `{expected}` in {got:?}");
    }
    let twice = problems(TemplateFields {
        config_files: Some(vec![file("/a"), file("/a")]),
        ..valid()
    });
    assert!(
        twice.contains(&"config_files[1].path: `/a` is written twice".to_string()),
        "{twice:?}"
    );
    let mut wrong_service = file("/a");
    wrong_service.service = Some("db".into());
    wrong_service.mode = Some("999".into());
    let got = problems(TemplateFields {
        config_files: Some(vec![wrong_service]),
        ..valid()
    });
    assert!(
        got.contains(&"config_files[0].service: no service named `db` in compose_spec".to_string()),
        "{got:?}"
    );
    assert!(
        got.contains(&"config_files[0].mode: `999` is not an octal mode such as 0644".to_string()),
        "{got:?}"
    );
    let big = ConfigFile {
        content: "x".repeat(300 * 1024),
        ..file("/big")
    };
    assert!(
        problems(TemplateFields {
            config_files: Some(vec![big]),
            ..valid()
        })[0]
            .contains("the limit is 262144")
    );
}

#[test]
fn variables_are_upper_snake_case_and_unique() {
    let var = |name: &str| Variable {
        name: name.into(),
        ..Variable::default()
    };
    let got = problems(TemplateFields {
        variables: Some(vec![var("db_pass"), var("A"), var("A")]),
        compose_spec: Some("services:\n  web:\n    image: nginx:alpine\n    command: [$db_pass, $A]\n".into()),
        ..valid()
    });
    assert_eq!(
        got,
        vec![
            "variables[0].name: `db_pass` must be UPPER_SNAKE_CASE, at most 64 characters",
            "variables[2].name: `A` is declared twice"
        ]
    );
}

#[test]
fn updates_merge_over_the_stored_template() {
    let (current, _) = valid().validate(&Limits::default()).unwrap();
    let patch = TemplateFields {
        description: Some("new".into()),
        price_monthly: Some(500),
        ..TemplateFields::default()
    };
    let (merged, _) = patch
        .merged_over(&current)
        .unwrap()
        .validate(&Limits::default())
        .unwrap();
    assert_eq!(merged.description, "new");
    assert_eq!(merged.price_monthly, 500);
    assert_eq!(merged.name, current.name);
    let steal = TemplateFields {
        creator_id: Some("someone-else".into()),
        ..TemplateFields::default()
    };
    assert_eq!(
        steal.merged_over(&current).unwrap_err().summary(),
        "creator_id: cannot be changed"
    );
}

#[test]
fn secret_defaults_are_write_only_and_survive_a_read_modify_write() {
    let secret = Variable {
        name: "DB_PASSWORD".into(),
        default: Some("hunter2".into()),
        secret: true,
        ..Variable::default()
    };
    let plain = Variable {
        name: "SITE".into(),
        default: Some("hello".into()),
        secret: false,
        ..secret.clone()
    };
    assert_eq!(secret.clone().redacted().default, None);
    assert_eq!(plain.clone().redacted().default.as_deref(), Some("hello"));

    let (current, _) = TemplateFields {
        variables: Some(vec![secret.clone(), plain.clone()]),
        compose_spec: Some(uses(&["DB_PASSWORD", "SITE"])),
        ..valid()
    }
    .validate(&Limits::default())
    .unwrap();
    // What a client read (secret withheld) and sent back with one change.
    let echoed = vec![
        secret.clone().redacted(),
        Variable {
            description: "changed".into(),
            ..plain.clone()
        },
    ];
    let (merged, _) = TemplateFields {
        variables: Some(echoed),
        ..TemplateFields::default()
    }
    .merged_over(&current)
    .unwrap()
    .validate(&Limits::default())
    .unwrap();
    assert_eq!(merged.variables[0].default.as_deref(), Some("hunter2"));
    assert_eq!(merged.variables[1].description, "changed");
    // A new value replaces it.
    let (replaced, _) = TemplateFields {
        variables: Some(vec![
            Variable {
                default: Some("new-secret".into()),
                ..secret
            },
            plain,
        ]),
        ..TemplateFields::default()
    }
    .merged_over(&current)
    .unwrap()
    .validate(&Limits::default())
    .unwrap();
    assert_eq!(replaced.variables[0].default.as_deref(), Some("new-secret"));
}

#[test]
fn references_and_declarations_match() {
    let declared = |name: &str| Variable {
        name: name.into(),
        ..Variable::default()
    };
    let got = problems(TemplateFields {
        compose_spec: Some(uses(&["USED", "UNDECLARED", "HOSTER_DOMAIN"])),
        variables: Some(vec![declared("USED"), declared("UNUSED"), declared("IN_CONFIG")]),
        config_files: Some(vec![
            ConfigFile {
                content: "listen ${IN_CONFIG}; $nginx_var".into(),
                interpolate: true,
                ..file("/etc/a.conf")
            },
            ConfigFile {
                content: "${NOT_INTERPOLATED}".into(),
                ..file("/etc/b.conf")
            },
        ]),
        ..valid()
    });
    assert_eq!(
        got,
        vec![
            "compose_spec: services.web.environment.UNDECLARED: `${UNDECLARED}` is not a declared variable; declare it in `variables`",
            "config_files[0].content: `${nginx_var}` is not a declared variable; declare it in `variables`",
            "variables[1].name: `UNUSED` is declared but never used in compose_spec or an interpolated config file",
        ]
    );
}

#[test]
fn declarations_are_typed() {
    let v = |kind: Kind, default: Option<&str>| Variable {
        name: "V".into(),
        kind,
        default: default.map(Into::into),
        ..Variable::default()
    };
    let cases = [
        (
            v(Kind::Number, Some("ten")),
            "variables[0].default: `ten` is not a number",
        ),
        (
            v(Kind::Boolean, Some("yes")),
            "variables[0].default: `yes` is not true or false",
        ),
        (v(Kind::Enum, None), "variables[0].options: an enum lists its options"),
        (
            Variable {
                options: vec!["a".into(), "b".into()],
                ..v(Kind::Enum, Some("c"))
            },
            "variables[0].default: `c` is not one of a, b",
        ),
        (
            Variable {
                options: vec!["a".into()],
                ..v(Kind::String, None)
            },
            "variables[0].options: only an enum has options",
        ),
        (
            v(Kind::Password, Some("hunter2")),
            "variables[0].default: a password is generated for each deployment; describe it with `generate` instead",
        ),
        (
            Variable {
                generate: Some(Generate::default()),
                ..v(Kind::String, None)
            },
            "variables[0].generate: only a password, or a secret without a default, is generated",
        ),
        (
            Variable {
                generate: Some(Generate {
                    length: 4,
                    ..Generate::default()
                }),
                ..v(Kind::Password, None)
            },
            "variables[0].generate.length: must be 8 to 256",
        ),
        (
            Variable {
                name: "HOSTER_URL".into(),
                ..v(Kind::String, None)
            },
            "variables[0].name: `HOSTER_URL` is set by Hoster",
        ),
    ];
    for (variable, expected) in cases {
        let name = variable.name.clone();
        let got = problems(TemplateFields {
            compose_spec: Some(uses(&[&name])),
            variables: Some(vec![variable]),
            ..valid()
        });
        assert_eq!(got, vec![expected.to_string()]);
    }
    // Typed defaults may be written as JSON numbers and booleans.
    let parsed: Variable = serde_json::from_str(r#"{"name":"N","type":"number","default":5}"#).unwrap();
    assert_eq!(parsed.default.as_deref(), Some("5"));
}

#[test]
fn the_template_is_checked_with_its_defaults_and_placeholders() {
    // A default that would mount the host is refused, naming the variable.
    let got = problems(TemplateFields {
        compose_spec: Some("services:\n  web:\n    image: nginx:alpine\n    volumes: [\"${DATA}:/data\"]\n".into()),
        variables: Some(vec![Variable {
            name: "DATA".into(),
            default: Some("/".into()),
            ..Variable::default()
        }]),
        ..valid()
    });
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("compose_spec: services.web.volumes[0]: "), "{got:?}");
    assert!(got[0].ends_with("(with the value of DATA)"), "{got:?}");
    // A required number without a default is checked with a number: `cpus` parses.
    let (spec, compose) = TemplateFields {
        compose_spec: Some("services:\n  web:\n    image: nginx:${TAG:-alpine}\n    cpus: ${CPUS:?how many}\n".into()),
        variables: Some(vec![
            Variable {
                name: "CPUS".into(),
                kind: Kind::Number,
                required: true,
                ..Variable::default()
            },
            Variable {
                name: "TAG".into(),
                ..Variable::default()
            },
        ]),
        ..valid()
    }
    .validate(&Limits::default())
    .unwrap();
    assert_eq!(compose.services[0].image, "nginx:alpine");
    assert!(
        spec.compose_spec.contains("${CPUS:?how many}"),
        "the text is stored as written"
    );
}

#[test]
fn relative_binds_of_the_templates_own_files_become_those_files() {
    let compose = "services:\n  web:\n    image: nginx:alpine\n    volumes:\n      - ./conf/site.conf:/etc/nginx/conf.d/default.conf:ro\n      - {type: bind, source: ./motd, target: /srv/motd}\n";
    let files = vec![
        ConfigFile {
            name: "site.conf".into(),
            ..file("/etc/hoster/site.conf")
        },
        ConfigFile {
            name: "motd".into(),
            ..file("/etc/hoster/motd")
        },
    ];
    let document = crate::compose::load(compose, &Default::default()).unwrap();
    let (compose, bound) = instantiate(
        &document,
        &files,
        &[],
        &Values::new(),
        &BuiltIns::placeholder(),
        &Limits::default(),
        false,
    )
    .unwrap();
    assert!(compose.services[0].volumes.is_empty(), "the binds left the model");
    let at: Vec<(&str, Option<&str>)> = bound.iter().map(|f| (f.path.as_str(), f.service.as_deref())).collect();
    assert_eq!(
        at,
        [
            ("/etc/hoster/site.conf", None),
            ("/etc/hoster/motd", None),
            ("/etc/nginx/conf.d/default.conf", Some("web")),
            ("/srv/motd", Some("web"))
        ]
    );
    // Another relative path is still no project directory; a reserved target is refused.
    let got = problems(TemplateFields {
        compose_spec: Some(
            "services:\n  web:\n    image: nginx:alpine\n    volumes: [\"./other:/x\", \"./motd:/etc/hosts\"]\n".into(),
        ),
        config_files: Some(vec![ConfigFile {
            name: "motd".into(),
            ..file("/etc/hoster/motd")
        }]),
        ..valid()
    });
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with("compose_spec: services.web.volumes[1]: `/etc/hosts` cannot be a config file"),
        "{got:?}"
    );
    assert!(got[1].contains("`./other` is a relative host path"), "{got:?}");
}

#[test]
fn a_malformed_reference_is_reported_once() {
    let got = problems(TemplateFields {
        compose_spec: Some("services:\n  web:\n    image: \"nginx:${\"\n".into()),
        ..valid()
    });
    assert_eq!(
        got,
        ["compose_spec: services.web.image: invalid interpolation format in `nginx:${`: write `$$` for a literal `$`"]
    );
}

#[test]
fn the_upgrade_is_the_newest_later_release_in_semver_order() {
    let versions = vec![
        ("a", "1.2.0".to_string()),
        ("b", "1.10.0".to_string()),
        ("c", "0.9.0".to_string()),
        ("d", "not a version".to_string()),
        ("e", "2.0.0-rc.1".to_string()),
    ];
    assert_eq!(
        newest_after("1.2.0", &versions).map(|e| e.0),
        Some("b"),
        "1.10 after 1.2, not the rc"
    );
    assert_eq!(newest_after("1.10.0", &versions), None, "only a pre-release is newer");
    assert_eq!(
        newest_after("2.0.0-beta.1", &versions).map(|e| e.0),
        Some("e"),
        "pre-release to pre-release"
    );
    assert_eq!(newest_after("junk", &versions), None);
    assert!(is_newest("1.10.1", &["1.2.0", "1.10.0"]));
    assert!(!is_newest("1.9.0", &["1.2.0", "1.10.0"]), "1.10 is newer than 1.9");
    assert!(!is_newest("1.10.0", &["1.10.0"]), "the same is not newer");
    assert!(!is_newest("x", &[]));
}
