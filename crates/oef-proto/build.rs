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

#[path = "build/one_pass.rs"]
mod one_pass;

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

    // The runtime reflection pool needs no comments: without source info the set is a third
    // of the size and decodes three times faster (~6 ms instead of ~19 ms), which every `oef`
    // command pays at start. Stripped at the wire level: decoding with prost-types would drop
    // the custom options (extensions are unknown fields to prost).
    let runtime = strip_source_info(&descriptor_bytes)?;
    // The format v0 files alone (the legacy root message and what it imports): the builder
    // works in v0 and needs no more, and this subset decodes in a third of the time.
    let v0_files = import_closure(&fds, V0_ROOT_PACKAGE, V0_ROOT_MESSAGE)?;
    fs::write(out_dir.join("oef_descriptor_set_v0.bin"), keep_files(&runtime, &v0_files)?)?;
    fs::write(out_dir.join("oef_descriptor_set_runtime.bin"), runtime)?;

    let mut config = prost_build::Config::new();
    config
        .btree_map(["."])
        // Well-known types come from pbjson-types (prost types with serde).
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::pbjson_types")
        .out_dir(&out_dir);
    // Before the set is moved into prost-build: the one-pass codec (`src/encoder.rs`,
    // `src/decoder.rs`).
    fs::write(out_dir.join("oef_encoder.rs"), one_pass::generate_encoder(&fds)?)?;
    fs::write(out_dir.join("oef_decoder.rs"), one_pass::generate_decoder(&fds)?)?;
    fs::write(out_dir.join("oef_explicit.rs"), one_pass::generate_explicit(&fds)?)?;
    for path in boxed_oneof_messages(&fds) {
        config.boxed(path);
    }

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
    use_own_number_reader(&out_dir)?;
    Ok(())
}

/// Every member of a oneof whose type is a message that holds more than plain scalars, as
/// prost-build paths (`.pkg.Message.oneof.field`).
///
/// A oneof is a Rust enum as large as its largest member, and OEF's oneofs choose between whole
/// architectures: `Trainer.model_type` held a 1.2 KB `Detection`, itself holding a 1 KB SSD
/// configuration. Every decode built those in place and moved them up level by level (a tenth
/// of binary decode time was `memmove`). Boxed, such a oneof is one pointer and a member is
/// built where it stays. Members made of scalars only stay inline: they are small, and prost
/// derives `Copy` for their oneof, which a `Box` would break.
fn boxed_oneof_messages(fds: &prost_types::FileDescriptorSet) -> Vec<String> {
    use prost_types::{DescriptorProto, field_descriptor_proto::{Label, Type}};
    use std::collections::HashMap;

    /// Every message by full name, with whether its oneofs may be boxed.
    type Index<'a> = HashMap<String, (&'a DescriptorProto, bool)>;

    fn index<'a>(prefix: &str, message: &'a DescriptorProto, boxable: bool, all: &mut Index<'a>) {
        let name = format!("{prefix}.{}", message.name());
        for nested in &message.nested_type {
            index(&name, nested, boxable, all);
        }
        all.insert(name, (message, boxable));
    }
    /// Scalars and enums only, directly or through nested messages of the same kind.
    fn plain(name: &str, all: &Index<'_>) -> bool {
        all.get(name).is_some_and(|(message, _)| {
            message.field.iter().all(|field| {
                field.label() != Label::Repeated
                    && match field.r#type() {
                        Type::String | Type::Bytes | Type::Group => false,
                        Type::Message => plain(field.type_name(), all),
                        _ => true,
                    }
            })
        })
    }

    let mut all = Index::new();
    for file in &fds.file {
        let package = format!(".{}", file.package());
        // Our packages only; files that declare services hold RPC envelopes, built by hand and
        // small: not boxed.
        let boxable = file.service.is_empty() && PACKAGES.iter().any(|p| package.starts_with(p));
        for message in &file.message_type {
            index(&package, message, boxable, &mut all);
        }
    }
    let mut out = Vec::new();
    for (name, (message, boxable)) in &all {
        if !boxable {
            continue;
        }
        for field in &message.field {
            let real_oneof = field.oneof_index.filter(|_| !field.proto3_optional());
            let oneof = real_oneof.and_then(|i| message.oneof_decl.get(usize::try_from(i).ok()?));
            if let Some(oneof) = oneof {
                if field.r#type() == Type::Message && !plain(field.type_name(), &all) {
                    out.push(format!("{name}.{}.{}", oneof.name(), field.name()));
                }
            }
        }
    }
    out.sort();
    out
}

/// Points the generated serde code at `oef_proto::json_number::NumberDeserialize` instead of
/// `pbjson::private::NumberDeserialize`: same inputs accepted, without pbjson's untagged-enum
/// detour that builds a formatted error for every plain JSON number (see `src/json_number.rs`).
fn use_own_number_reader(out_dir: &Path) -> Result<(), BoxError> {
    const PBJSON: &str = "::pbjson::private::NumberDeserialize";
    const OURS: &str = "crate::json_number::NumberDeserialize";
    for entry in fs::read_dir(out_dir)? {
        let path = entry?.path();
        if path.to_str().is_some_and(|p| p.ends_with(".serde.rs")) {
            let code = fs::read_to_string(&path)?;
            if code.contains(PBJSON) {
                fs::write(&path, code.replace(PBJSON, OURS))?;
            }
        }
    }
    Ok(())
}

/// `FileDescriptorSet.file` (1) and `FileDescriptorProto.source_code_info` (9).
const SET_FILE: u32 = 1;
const FILE_SOURCE_CODE_INFO: u32 = 9;
/// `FileDescriptorProto.name`.
const FILE_NAME: u32 = 1;
/// Package and name of the format v0 root message, whose file and imports make the v0 set.
const V0_ROOT_PACKAGE: &str = "deepomatic.oef.experiment";
const V0_ROOT_MESSAGE: &str = "Experiment";

/// The encoded set with every file's `source_code_info` removed; every other byte is kept.
fn strip_source_info(set: &[u8]) -> Result<Vec<u8>, BoxError> {
    let mut out = Vec::with_capacity(set.len());
    for (number, field) in wire_fields(set)? {
        if number != SET_FILE {
            out.extend_from_slice(field.whole);
            continue;
        }
        let mut file = Vec::with_capacity(field.payload.len());
        for (inner, part) in wire_fields(field.payload)? {
            if inner != FILE_SOURCE_CODE_INFO {
                file.extend_from_slice(part.whole);
            }
        }
        prost::encoding::encode_key(SET_FILE, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(file.len() as u64, &mut out);
        out.extend_from_slice(&file);
    }
    Ok(out)
}

/// Names of the file declaring `package.message` and of every file it imports, transitively.
fn import_closure(
    set: &prost_types::FileDescriptorSet,
    package: &str,
    message: &str,
) -> Result<std::collections::HashSet<String>, BoxError> {
    let root = set
        .file
        .iter()
        .find(|f| f.package() == package && f.message_type.iter().any(|m| m.name() == message))
        .ok_or_else(|| format!("no file declares {package}.{message}"))?;
    let mut keep = std::collections::HashSet::new();
    let mut todo = vec![root.name().to_owned()];
    while let Some(name) = todo.pop() {
        if keep.insert(name.clone()) {
            let file = set.file.iter().find(|f| f.name() == name).ok_or_else(|| format!("import {name} is not in the set"))?;
            todo.extend(file.dependency.iter().cloned());
        }
    }
    Ok(keep)
}

/// `set` with only the files named in `keep`, in their order, each byte for byte (at the wire
/// level, for the same reason as [`strip_source_info`]).
fn keep_files(set: &[u8], keep: &std::collections::HashSet<String>) -> Result<Vec<u8>, BoxError> {
    let mut out = Vec::with_capacity(set.len());
    for (number, field) in wire_fields(set)? {
        if number == SET_FILE {
            let name = wire_fields(field.payload)?
                .into_iter()
                .find(|(inner, _)| *inner == FILE_NAME)
                .map(|(_, name)| String::from_utf8_lossy(name.payload).into_owned())
                .ok_or("a file without a name")?;
            if !keep.contains(&name) {
                continue;
            }
        }
        out.extend_from_slice(field.whole);
    }
    Ok(out)
}

/// One field of an encoded message: its whole encoding, and for a length-delimited field
/// the payload.
struct WireField<'a> {
    whole: &'a [u8],
    payload: &'a [u8],
}

/// Splits an encoded message into its fields, in order.
fn wire_fields(mut bytes: &[u8]) -> Result<Vec<(u32, WireField<'_>)>, BoxError> {
    use prost::encoding::{WireType, decode_key, decode_varint};
    let mut fields = Vec::new();
    while !bytes.is_empty() {
        let start = bytes;
        let (number, wire_type) = decode_key(&mut bytes)?;
        let payload = match wire_type {
            WireType::Varint => {
                decode_varint(&mut bytes)?;
                &[][..]
            }
            WireType::SixtyFourBit => take(&mut bytes, 8)?,
            WireType::ThirtyTwoBit => take(&mut bytes, 4)?,
            WireType::LengthDelimited => {
                let len = usize::try_from(decode_varint(&mut bytes)?)?;
                take(&mut bytes, len)?
            }
            WireType::StartGroup | WireType::EndGroup => return Err("groups in a descriptor set".into()),
        };
        let used = start.len() - bytes.len();
        fields.push((number, WireField { whole: &start[..used], payload }));
    }
    Ok(fields)
}

/// The next `len` bytes.
fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Result<&'a [u8], BoxError> {
    if bytes.len() < len {
        return Err("truncated descriptor set".into());
    }
    let (head, tail) = bytes.split_at(len);
    *bytes = tail;
    Ok(head)
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
