//! Every crate of the workspace takes its lints from `[workspace.lints]`, so a lint set there
//! (`unsafe_code`, `missing_docs`, …) holds everywhere; a crate that declares its own
//! `[lints.rust]` table replaces the workspace's instead of adding to it.

use std::path::Path;

/// The `members = [...]` of the workspace manifest.
fn members(manifest: &str) -> Vec<String> {
    let start = manifest.find("members").expect("workspace members");
    let list = &manifest[start..];
    let list = &list[list.find('[').expect("[") + 1..list.find(']').expect("]")];
    list.split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

/// The lines of the TOML table `[name]` (up to the next table header).
fn table<'a>(manifest: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let header = format!("[{name}]");
    let mut lines = manifest.lines().skip_while(|l| l.trim() != header);
    lines.next()?;
    Some(
        lines
            .take_while(|l| !l.trim_start().starts_with('['))
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect(),
    )
}

#[test]
fn every_crate_inherits_the_workspace_lints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let rust = table(&workspace, "workspace.lints.rust").expect("[workspace.lints.rust]");
    for lint in ["unsafe_code = \"forbid\"", "missing_docs = \"warn\""] {
        assert!(
            rust.contains(&lint),
            "[workspace.lints.rust] lacks {lint}: {rust:?}"
        );
    }
    let members = members(&workspace);
    assert!(members.len() >= 3, "{members:?}");
    for member in members {
        let path = root.join(&member).join("Cargo.toml");
        let manifest = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            table(&manifest, "lints"),
            Some(vec!["workspace = true"]),
            "{}: must say `[lints] workspace = true`",
            path.display()
        );
        assert!(
            !manifest
                .lines()
                .any(|l| l.trim_start().starts_with("[lints.")),
            "{}: a [lints.*] table replaces the workspace's lints",
            path.display()
        );
    }
}
