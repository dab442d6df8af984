//! Compose parse + validate throughput on the spec's largest example and on a larger,
//! realistic document.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hoster_core::compose::{Limits, parse};
use hoster_core::template::{self, TemplateFields};

fn example(file: &str) -> serde_json::Value {
    let path = format!("{}/../../testdata/examples/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn largest_example() -> (String, serde_json::Value) {
    let dir = format!("{}/../../testdata/examples", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| (f.clone(), example(&f)))
        .max_by_key(|(_, body)| body["compose_spec"].as_str().unwrap().len())
        .unwrap()
}

fn benches(c: &mut Criterion) {
    let (name, body) = largest_example();
    let spec = body["compose_spec"].as_str().unwrap().to_string();
    let limits = Limits::default();
    let mut group = c.benchmark_group("compose");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("parse {name}"), |b| b.iter(|| parse(&spec, &limits).unwrap()));
    let fields: TemplateFields = serde_json::from_value(body.clone()).unwrap();
    let template_limits = template::Limits::default();
    group.bench_function(format!("validate template {name}"), |b| {
        b.iter(|| fields.clone().validate(&template_limits).unwrap())
    });
    group.finish();
}

criterion_group!(compose, benches);
criterion_main!(compose);
