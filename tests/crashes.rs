//! Inputs that crashed the parser under `cargo fuzz run parse`, kept in
//! `tests/fixtures/crashes/`: each must parse without taking the caller down.
//!
//! `intake::parse` reports a caught panic as the problem "parser failure".
//! Release builds must not panic at all. Debug builds may: mail-parser 0.11
//! has `debug_assert!`s that hostile MIME trips (crash-bfbe…: "Invalid part
//! ID, could not find multipart."), compiled out of release builds.

use std::path::Path;

use complaintd::config::Settings;

#[test]
fn former_crashes_parse_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let settings = Settings::load(&root.join("config/example.toml")).expect("example config");
    let dir = root.join("tests/fixtures/crashes");
    let entries = std::fs::read_dir(&dir).expect("crashes directory");
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.extension().is_some_and(|x| x == "md") {
            continue;
        }
        let raw = std::fs::read(&path).expect("read crash input");
        let parsed = complaintd::intake::parse(&raw, &settings);
        let caught_panic = parsed.problems.iter().any(|p| p == "parser failure");
        assert!(!caught_panic || cfg!(debug_assertions), "{} panics the parser in a release build", path.display());
    }
}
