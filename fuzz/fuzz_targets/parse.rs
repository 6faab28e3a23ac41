//! Feeds arbitrary bytes to the mail parser. `intake::parse` turns a panic
//! into an "unrecognized" result, but libfuzzer's panic hook aborts first,
//! so any panic still shows up here as a crash.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use complaintd::config::Settings;
use libfuzzer_sys::fuzz_target;

static SETTINGS: LazyLock<Settings> = LazyLock::new(|| {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/example.toml");
    Settings::load(&path).expect("config/example.toml loads")
});

fuzz_target!(|data: &[u8]| {
    let parsed = complaintd::intake::parse(data, &SETTINGS);
    // Serializing is part of what the CLI does with every message.
    let _ = parsed.to_json();
});
