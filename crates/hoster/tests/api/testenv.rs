//! The test setup's stand-in images never replace a real image of the same name.

use crate::helpers::require_docker;

fn run(program: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(program).args(args).output().unwrap()
}

fn image_id(tag: &str) -> Option<String> {
    let out = run("docker", &["image", "inspect", "--format", "{{.Id}}", tag]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn a_real_image_survives_the_setup_and_a_missing_one_gets_a_labelled_stand_in() {
    require_docker();
    let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testenv/setup.sh");
    let context = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testenv/images/whoami");
    let tag = format!("hoster-survival-{:x}:latest", rand::random::<u32>());
    // A "real" image: not built by the setup, so without its label.
    let mut import = std::process::Command::new("sh")
        .args(["-c", &format!("tar -c --files-from /dev/null | docker import - {tag}")])
        .status()
        .unwrap();
    assert!(import.success());
    let real = image_id(&tag).unwrap();
    let out = run(setup, &["image", &tag, context]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        image_id(&tag).as_deref(),
        Some(real.as_str()),
        "the real image was replaced"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("keeping"));

    // Absent (and not pullable here): a stand-in is built, and says what it is.
    run("docker", &["rmi", "-f", &tag]);
    let out = run(setup, &["image", &tag, context]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let label = run(
        "docker",
        &[
            "image",
            "inspect",
            "--format",
            "{{ index .Config.Labels \"io.hoster.testenv.stand-in\" }}",
            &tag,
        ],
    );
    assert!(String::from_utf8_lossy(&label.stdout).contains("stand-in"), "{label:?}");
    import = std::process::Command::new("docker")
        .args(["rmi", "-f", &tag])
        .status()
        .unwrap();
    assert!(import.success());
}
