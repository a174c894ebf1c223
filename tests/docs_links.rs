//! The repository stands alone: every link of the README and of `docs/` to
//! a file points to a file inside the repository that exists.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .expect("root")
}

/// The targets of `[text](target)` links in a markdown text.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].trim().to_owned());
            rest = &rest[end..];
        }
    }
    targets
}

fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

#[test]
fn readme_and_docs_link_only_to_files_in_the_repository() {
    let root = root();
    let mut checked = 0;
    for file in markdown_files(&root) {
        let text = std::fs::read_to_string(&file).expect("markdown");
        for target in link_targets(&text) {
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
                || target.starts_with('#')
            {
                continue;
            }
            let path = target.split('#').next().unwrap_or("");
            let resolved = file.parent().expect("dir").join(path);
            let resolved = resolved
                .canonicalize()
                .unwrap_or_else(|_| panic!("{}: `{target}` does not exist", file.display()));
            assert!(
                resolved.starts_with(&root),
                "{}: `{target}` is outside the repository",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} links found");
}

#[test]
fn the_contract_and_the_keepers_guide_are_in_docs() {
    let root = root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    for doc in ["docs/spec.md", "docs/keepers-guide.md"] {
        assert!(root.join(doc).is_file(), "{doc}");
        assert!(
            readme.contains(&format!("]({doc})")),
            "the README links {doc}"
        );
    }
    assert!(readme.contains("## Try it from your phone"));
    let config = std::fs::read_to_string(root.join("config/circlekeeper.toml")).expect("config");
    assert!(
        !config.contains("not implemented"),
        "stale words in the config"
    );
}
