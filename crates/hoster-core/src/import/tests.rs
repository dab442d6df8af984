use super::*;
use crate::template::{Limits, TemplateFields};

fn convert(compose: &str) -> Conversion {
    import(compose, &BTreeMap::new(), &compose::Limits::default()).unwrap()
}

#[test]
fn references_become_variables_and_magic_names_become_hosters() {
    let c = convert(
        "name: my-app
services:
  app:
    image: ghcr.io/example/app:${APP_VERSION:-1.2}
    environment:
      DB_URL: postgres://${SERVICE_USER_POSTGRES}:${SERVICE_PASSWORD_POSTGRES}@db/${DB_NAME:?name the database}
      SECRET_KEY: ${SERVICE_BASE64_64_KEY}
      PUBLIC_URL: ${SERVICE_URL_APP}
      HOST: $SERVICE_FQDN_APP
      LITERAL: $$HOME
  db:
    image: postgres:15-alpine
    environment:
      POSTGRES_USER: ${SERVICE_USER_POSTGRES}
      POSTGRES_PASSWORD: ${SERVICE_PASSWORD_POSTGRES}
      POSTGRES_DB: ${DB_NAME}
",
    );
    assert_eq!(c.name.as_deref(), Some("my-app"));
    let by_name: BTreeMap<&str, &Variable> = c.variables.iter().map(|v| (v.name.as_str(), v)).collect();
    assert_eq!(by_name["APP_VERSION"].default.as_deref(), Some("1.2"));
    assert!(by_name["DB_NAME"].required);
    assert_eq!(by_name["DB_NAME"].description, "name the database");
    assert_eq!(by_name["SERVICE_PASSWORD_POSTGRES"].kind, Kind::Password);
    assert_eq!(by_name["SERVICE_BASE64_64_KEY"].generate.unwrap().length, 64);
    assert!(by_name["SERVICE_USER_POSTGRES"].secret);
    assert!(!by_name.contains_key("SERVICE_URL_APP") && !by_name.contains_key("SERVICE_FQDN_APP"));
    assert!(
        c.compose_spec.contains("${HOSTER_URL}") && c.compose_spec.contains("${HOSTER_DOMAIN}"),
        "{}",
        c.compose_spec
    );
    assert!(
        c.compose_spec.contains("$$HOME"),
        "a literal stays escaped: {}",
        c.compose_spec
    );
    let notes: Vec<&str> = c.converted.iter().map(|n| n.path.as_str()).collect();
    assert!(notes.contains(&"services.app.environment.PUBLIC_URL"), "{notes:?}");
    // The result is a template that validates as it is.
    TemplateFields {
        name: c.name.clone(),
        version: Some("1.0.0".into()),
        creator_id: Some("importer".into()),
        compose_spec: Some(c.compose_spec.clone()),
        config_files: Some(c.config_files.clone()),
        variables: Some(c.variables.clone()),
        ..TemplateFields::default()
    }
    .validate(&Limits::default())
    .unwrap();
}

#[test]
fn the_catalogs_public_service_marker_becomes_the_primary_service() {
    let c = convert(
        "services:\n  app:\n    image: x\n    environment:\n      - SERVICE_FQDN_APP_3000\n      - MODE=prod\n  worker:\n    image: x\n    environment:\n      SERVICE_URL_WORKER:\n",
    );
    let doc = compose::load(&c.compose_spec, &compose::Limits::default()).unwrap();
    assert_eq!(doc["services"]["app"]["labels"][compose::PRIMARY_LABEL], "true");
    assert_eq!(doc["services"]["app"]["ports"], serde_json::json!(["3000"]));
    assert_eq!(doc["services"]["app"]["environment"], serde_json::json!(["MODE=prod"]));
    assert_eq!(doc["services"]["worker"]["environment"], serde_json::json!({}));
    let notes: Vec<&str> = c.converted.iter().map(|n| n.note.as_str()).collect();
    assert_eq!(
        notes,
        [
            "`SERVICE_FQDN_APP_3000`: this service, on port 3000, is what the deployment's address leads to",
            "`SERVICE_URL_WORKER` dropped: another service already has the deployment's address"
        ]
    );
}

#[test]
fn inline_and_beside_files_become_config_files() {
    let beside = BTreeMap::from([("nginx.conf".to_string(), "events {}\n".to_string())]);
    let c = import(
        "services:
  web:
    image: nginx:alpine
    volumes:
      - ./nginx.conf:/etc/nginx/nginx.conf:ro
      - type: bind
        source: ./index.html
        target: /usr/share/nginx/html/index.html
        content: <h1>hi</h1>
      - data:/data
",
        &beside,
        &compose::Limits::default(),
    )
    .unwrap();
    let files: Vec<(&str, &str, &str)> = c
        .config_files
        .iter()
        .map(|f| (f.name.as_str(), f.path.as_str(), f.content.as_str()))
        .collect();
    assert_eq!(
        files,
        [
            ("nginx.conf", "/etc/nginx/nginx.conf", "events {}\n"),
            ("index.html", "/usr/share/nginx/html/index.html", "<h1>hi</h1>"),
        ]
    );
    assert!(c.compose_spec.contains("data:/data") && !c.compose_spec.contains("nginx.conf"));
    assert_eq!(c.converted.len(), 2);
}

#[test]
fn the_stored_text_reads_back_as_the_converted_document() {
    let c = convert(
        "services:\n  a:\n    image: x\n    environment:\n      F: '010'\n      B: 'yes'\n      N: \"x\\nprivileged: true\"\n",
    );
    let doc = compose::load(&c.compose_spec, &compose::Limits::default()).unwrap();
    assert_eq!(doc["services"]["a"]["environment"]["F"], "010");
    assert_eq!(doc["services"]["a"]["environment"]["B"], "yes");
    assert_eq!(doc["services"]["a"]["environment"]["N"], "x\nprivileged: true");
}

/// Compose files as popular self-hosted projects document them (`testdata/compose-wild`, see
/// its README), imported as a creator would: how many become templates, and why each of the
/// others is refused. `expected.txt` holds one line per file: `FILE: accepted`, or
/// `FILE: refused` and the paths refused.
#[test]
fn the_compose_files_people_write() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/compose-wild");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    names.sort();
    let mut got = Vec::new();
    let mut table = Vec::new();
    for name in &names {
        let compose = std::fs::read_to_string(dir.join(name)).unwrap();
        let stem = name.trim_end_matches(".yml");
        let mut beside = BTreeMap::new();
        let files = dir.join(format!("{stem}.files"));
        let mut stack = vec![files.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    let relative = e.path().strip_prefix(&files).unwrap().to_string_lossy().into_owned();
                    beside.insert(relative, std::fs::read_to_string(e.path()).unwrap());
                }
            }
        }
        let outcome = import(&compose, &beside, &compose::Limits::default()).and_then(|c| {
            TemplateFields {
                name: Some(stem.to_string()),
                version: Some("1.0.0".into()),
                creator_id: Some("importer".into()),
                compose_spec: Some(c.compose_spec),
                config_files: Some(c.config_files),
                variables: Some(c.variables),
                ..TemplateFields::default()
            }
            .validate(&Limits::default())
            .map_err(|p| p.0)
        });
        match outcome {
            Ok(_) => {
                got.push(format!("{name}: accepted"));
                table.push(format!("{name}: accepted"));
            }
            Err(problems) => {
                let paths: Vec<String> = problems
                    .iter()
                    .map(|p| p.path.clone().unwrap_or_else(|| p.field.clone()))
                    .collect();
                got.push(format!("{name}: refused {}", paths.join("; ")));
                table.push(format!("{name}: refused"));
                table.extend(problems.iter().map(|p| format!("    {p}")));
            }
        }
    }
    let accepted = got.iter().filter(|l| l.ends_with(": accepted")).count();
    println!("{accepted} of {} accepted\n{}", got.len(), table.join("\n"));
    let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    let expected: Vec<&str> = expected
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(got, expected, "\n{}", table.join("\n"));
}
