//! The rules stay pure: no runtime, socket, clock, store or media crate in
//! `src/circle/`. A mechanical check, so purity cannot slip unnoticed.

#[test]
fn the_state_machine_imports_no_io() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/circle");
    let forbidden = [
        "tokio",
        "axum",
        "sqlx",
        "webrtc",
        "std::net",
        "std::fs",
        "std::time",
        "SystemTime",
        "Instant",
        "std::thread",
        "rand::",
        "crate::store",
        "crate::signal",
        "crate::media",
    ];
    let mut files = vec![dir.clone()];
    let mut checked = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            if path.ends_with("tests") {
                continue;
            }
            for entry in std::fs::read_dir(&path).expect("read src/circle") {
                files.push(entry.expect("dir entry").path());
            }
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        for word in forbidden {
            assert!(!text.contains(word), "{} mentions {word}", path.display());
        }
        checked += 1;
    }
    assert!(
        checked >= 8,
        "expected the state machine's files, found {checked}"
    );
}
