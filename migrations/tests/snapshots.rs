//! The schema snapshots are frozen: their SHA-256 is pinned here, so any change to a checked-in
//! snapshot fails this test. `OEF_WRITE_SNAPSHOTS=1 cargo test -p oef-migrations --test
//! snapshots -- --ignored write_snapshots` regenerates them from the live schema: only ever
//! for a new format version, whose snapshot then gets its own pin here.

use oef_migrations::snapshot::{self, SNAPSHOTS};
use prost::Message;
use prost_types::FileDescriptorSet;
use sha2::{Digest, Sha256};

const PINNED: [(&str, &str); 2] = [
    ("v0.fds.pb", "0f43ccd720d0fac3fe08d58d15769b47915d4c0b994a37a89640232c778c62f5"),
    ("v1.fds.pb", "5e3f8b28ece52d447603f0652e30958431f8e6bbbe56de393b72ff2914ea2bf0"),
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn snapshots_are_pinned() {
    for snapshot in SNAPSHOTS {
        let (_, pin) = PINNED.iter().find(|(name, _)| *name == snapshot.file_name).unwrap();
        let sha = hex(&Sha256::digest(snapshot.bytes));
        assert_eq!(&sha, pin, "snapshot {} changed: snapshots are frozen", snapshot.file_name);
        let pool = snapshot::pool(snapshot.version).unwrap();
        assert!(pool.get_message_by_name(snapshot.root_message).is_some());
    }
}

/// The live v0 schema is frozen too: it must still equal its snapshot, message by message.
#[test]
fn v0_snapshot_equals_the_live_v0_schema() {
    let live = extract(oef_proto::descriptor::FILE_DESCRIPTOR_SET, "deepomatic/");
    assert_eq!(live, SNAPSHOTS[0].bytes, "the live v0 schema differs from its snapshot");
}

/// The files of one version (by name prefix) and their `google/protobuf` imports, without
/// source info, in the order protoc wrote them.
fn extract(fds: &[u8], prefix: &str) -> Vec<u8> {
    let mut set = FileDescriptorSet::decode(fds).unwrap();
    set.file.retain(|f| {
        let name = f.name();
        name.starts_with(prefix) || name.starts_with("google/protobuf/")
    });
    for file in &mut set.file {
        file.source_code_info = None;
    }
    // Keep only the google files some kept file imports.
    let needed: std::collections::BTreeSet<String> = set
        .file
        .iter()
        .filter(|f| f.name().starts_with(prefix))
        .flat_map(|f| f.dependency.iter().cloned())
        .collect();
    set.file.retain(|f| f.name().starts_with(prefix) || needed.contains(f.name()));
    set.encode_to_vec()
}

#[test]
#[ignore = "writes the snapshots; only for a new format version"]
fn write_snapshots() {
    if std::env::var_os("OEF_WRITE_SNAPSHOTS").is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots");
    let fds = oef_proto::descriptor::FILE_DESCRIPTOR_SET;
    for (name, prefix) in [("v0.fds.pb", "deepomatic/"), ("v1.fds.pb", "oef/v1/")] {
        let bytes = extract(fds, prefix);
        std::fs::write(dir.join(name), &bytes).unwrap();
        println!("{name} {}", hex(&Sha256::digest(&bytes)));
    }
}
