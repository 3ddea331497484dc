//! Compiles the descriptors of Envoy's v3 API into `$OUT_DIR/envoy_descriptors.bin`, from the
//! `.proto` files the `envoy-types` crate ships. A ProxyTemplate's raw resources are YAML or
//! JSON (the proto3 JSON mapping, `Any` with `@type`); decoding them into the real v3 messages
//! by reflection needs these descriptors, which `envoy-types` (plain prost) does not carry.
//!
//! The proto folder is `URSA_ENVOY_PROTO_DIR` when set, else the `envoy-types` sources of the
//! version `Cargo.lock` pins, in cargo's registry (where cargo put them to build this package).

use std::path::{Path, PathBuf};

/// Folders under `data-plane-api/envoy` whose v3 messages a raw resource may hold, directly or
/// packed in an `Any` (filters, transport sockets, access loggers, tracers, ...).
const TREES: &[&str] = &["config", "extensions", "type", "service/discovery/v3"];

/// Import roots, relative to the proto folder.
const INCLUDES: &[&str] = &[
    "data-plane-api",
    "xds",
    "protoc-gen-validate",
    "googleapis",
    "cel-spec/proto",
    "opentelemetry-proto",
    "client_model",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../Cargo.lock");
    println!("cargo:rerun-if-env-changed=URSA_ENVOY_PROTO_DIR");
    let root = proto_dir();
    let envoy = root.join("data-plane-api");
    let mut files = Vec::new();
    for tree in TREES {
        collect(&envoy.join("envoy").join(tree), &mut files);
    }
    // v3 only: the v2-era folders under `type/` (and anything not versioned v3) are left out,
    // so no message is known twice under two package names.
    let mut files: Vec<String> = files
        .iter()
        .filter_map(|f| f.strip_prefix(&envoy).ok())
        .map(|f| f.to_string_lossy().replace('\\', "/"))
        .filter(|f| f.contains("/v3/"))
        .collect();
    files.sort();
    let includes: Vec<PathBuf> = INCLUDES.iter().map(|d| root.join(d)).collect();
    let compiler = || {
        let mut c = protox::Compiler::new(&includes).unwrap_or_else(|e| {
            panic!("proto include paths under {}: {e}", root.display());
        });
        c.include_imports(true);
        c.include_source_info(false);
        c
    };
    // Each file is compiled with only its own imports in the pool, as protoc does: protox
    // resolves a relative name such as `config.core.v3.X` against every package its pool
    // knows, so in one pool of every file a sibling package (`envoy.extensions.config.*`)
    // would shadow the intended one. A file already compiled as another's import is not
    // compiled again. The few files whose own imports hold such a sibling cannot be compiled
    // by protox at all; they are left out (listed beside the descriptors), and a raw resource
    // that packs one of their messages is refused as of an unknown type.
    let mut set = prost_types::FileDescriptorSet::default();
    let mut known = std::collections::HashSet::new();
    let mut skipped = Vec::new();
    for file in &files {
        if known.contains(file) {
            continue;
        }
        let mut one = compiler();
        if one.open_file(file).is_err() {
            skipped.push(file.as_str());
            continue;
        }
        for descriptor in one.file_descriptor_set().file {
            if known.insert(descriptor.name().to_string()) {
                set.file.push(descriptor);
            }
        }
    }
    let bytes = prost::Message::encode_to_vec(&set);
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("envoy_descriptors.bin"), bytes).expect("writing the descriptors");
    std::fs::write(
        out.join("envoy_descriptors_skipped.txt"),
        skipped.join("\n"),
    )
    .expect("writing the skipped files");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
}

/// The `proto` folder of the `envoy-types` sources this package builds with.
fn proto_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("URSA_ENVOY_PROTO_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let lock = std::fs::read_to_string(manifest.join("../Cargo.lock")).expect("Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"envoy-types\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .expect("envoy-types in Cargo.lock");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME or CARGO_HOME")).join(".cargo")
        });
    let registry = cargo_home.join("registry").join("src");
    std::fs::read_dir(&registry)
        .unwrap_or_else(|e| panic!("cargo registry sources {}: {e}", registry.display()))
        .flatten()
        .map(|index| {
            index
                .path()
                .join(format!("envoy-types-{version}"))
                .join("proto")
        })
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "envoy-types {version} sources not found under {}; set URSA_ENVOY_PROTO_DIR",
                registry.display()
            )
        })
}
