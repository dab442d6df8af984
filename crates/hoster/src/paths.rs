//! Where Hoster keeps what it writes, and the start-up check that it can: a path it cannot
//! write is one clear line naming the setting, not a failure halfway through a deployment.

use std::path::{Path, PathBuf};

/// The directory for state the operator did not place: systemd's `StateDirectory`
/// (`$STATE_DIRECTORY`), else `/var/lib/hoster` when this user may write there (root, or the
/// `hoster` user of the packaged unit), else `$XDG_STATE_HOME/hoster` (by default
/// `~/.local/state/hoster`), so an ordinary user in the `docker` group needs no settings.
/// Decided once per process: the choice probes the file system.
pub fn state_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(choose_state_dir).clone()
}

fn choose_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd may list several, separated by colons; the first is ours.
        let first = dir.to_string_lossy().split(':').next().unwrap_or_default().to_string();
        return PathBuf::from(first);
    }
    let system = Path::new("/var/lib/hoster");
    if writable(system, true).is_ok() {
        return system.to_path_buf();
    }
    let xdg = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| Path::new(d).is_absolute())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/state")));
    match xdg {
        Some(base) => base.join("hoster"),
        None => system.to_path_buf(),
    }
}

/// Whether a file can be written in `dir`, which is created (owner-only) if missing when
/// `create` says so.
pub fn writable(dir: &Path, create: bool) -> std::io::Result<()> {
    if create {
        crate::private_fs::create_dir_all(dir)?;
    }
    let probe = dir.join(format!(".hoster-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// [`writable`], as the line an operator reads: which path, why, and which setting moves it.
pub fn check(dir: &Path, create: bool, setting: &str) -> Result<(), String> {
    writable(dir, create).map_err(|e| {
        format!(
            "cannot write {} ({e}); set {setting} to a directory this user ({}) can write",
            dir.display(),
            user()
        )
    })
}

/// The directory a file path lives in, absolute (the working directory for a bare name).
pub fn parent_of(file: &Path) -> PathBuf {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&parent).unwrap_or(parent)
}

fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid {}", rustix::process::getuid().as_raw()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritable_paths_name_their_setting() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check(&dir.path().join("a/b"), true, "HOSTER_CONFIG_DIR"), Ok(()));
        assert!(
            check(&dir.path().join("c/d"), false, "HOSTER_DATABASE_PATH").is_err(),
            "not created"
        );
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let err = check(&file.join("below"), true, "HOSTER_CONFIG_DIR").unwrap_err();
        assert!(err.contains("HOSTER_CONFIG_DIR") && err.contains("below"), "{err}");
        assert_eq!(parent_of(Path::new("hoster.db")), std::env::current_dir().unwrap());
        assert_eq!(parent_of(Path::new("/a/hoster.db")), PathBuf::from("/a"));
    }
}
