//! Generates the OEF Rust types at build time, from one protoc pass.
//!
//! 1. The vendored `protoc` (crate `protoc-bin-vendored`, never downloaded, never the system
//!    one) compiles every `.proto` under `<workspace>/protos` into one `FileDescriptorSet`
//!    (imports and source info included, so doc comments reach rustdoc).
//! 2. prost-build (or tonic-prost-build with the `grpc` feature) generates the types from that
//!    set, maps as `BTreeMap` so encodings are deterministic.
//! 3. pbjson-build generates the proto3 JSON mapping (serde) from the same set.
//!
//! The set itself is written to `$OUT_DIR/oef_descriptor_set.bin` and exported by the crate as
//! `FILE_DESCRIPTOR_SET` for prost-reflect (lossless decode, text format, custom options).

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use prost::Message as _;

type BoxError = Box<dyn std::error::Error>;

/// Proto packages for which Rust code is generated, as pbjson prefixes.
const PACKAGES: &[&str] = &[".deepomatic", ".oef"];

fn main() -> Result<(), BoxError> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest.join("../../protos").canonicalize()?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let mut protos = Vec::new();
    collect_protos(&proto_root, &mut protos)?;
    protos.sort();
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    let descriptor_path = out_dir.join("oef_descriptor_set.bin");
    run_protoc(&proto_root, &protos, &descriptor_path)?;
    let descriptor_bytes = fs::read(&descriptor_path)?;
    let fds = prost_types::FileDescriptorSet::decode(descriptor_bytes.as_slice())?;

    let mut config = prost_build::Config::new();
    config
        .btree_map(["."])
        // Well-known types come from pbjson-types (prost types with serde).
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::pbjson_types")
        .out_dir(&out_dir);

    if env::var_os("CARGO_FEATURE_GRPC").is_some() {
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(true)
            .build_transport(false)
            .compile_fds_with_config(fds, config)?;
    } else {
        config.compile_fds(fds)?;
    }

    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .out_dir(&out_dir)
        .btree_map(["."])
        // `deepomatic.oef.dataset_v1.Region` has a nested enum `RegionType` and a oneof
        // `region_type`. prost renames the oneof's Rust enum to `RegionTypeOneOf` to avoid the
        // clash, but pbjson-build assumes `RegionType` and its generated serde code does not
        // compile. The message is a dataset-dump record, not part of an Experiment, so it keeps
        // binary support and JSON through prost-reflect (`oef_proto::codec`) only, and so do
        // the three messages that contain it.
        .exclude([
            ".deepomatic.oef.dataset_v1.Region",
            ".deepomatic.oef.dataset_v1.InputData",
            ".deepomatic.oef.dataset_v1.DataPoint",
            ".deepomatic.oef.dataset_v1.DatasetDump",
        ])
        .build(PACKAGES)?;
    Ok(())
}

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), BoxError> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn run_protoc(root: &Path, protos: &[PathBuf], descriptor_out: &Path) -> Result<(), BoxError> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let include = protoc_bin_vendored::include_path()?;
    let mut cmd = Command::new(protoc);
    cmd.arg("--include_imports")
        .arg("--include_source_info")
        .arg(format!("--descriptor_set_out={}", descriptor_out.display()))
        .arg(format!("--proto_path={}", root.display()))
        .arg(format!("--proto_path={}", include.display()));
    for proto in protos {
        cmd.arg(proto.strip_prefix(root)?);
    }
    let output = cmd.output()?;
    if !output.status.success() {
        return Err(format!(
            "protoc failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(())
}
