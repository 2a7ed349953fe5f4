//! Frozen descriptor sets, one per format version.
//!
//! `snapshots/v<N>.fds.pb` is the `FileDescriptorSet` (without source info) of format version
//! N as it was when its migration steps were written. Steps decode and encode through pools
//! built from these files, never through today's `.proto` files, so that editing the live
//! schema cannot change what an old step does. A test pins the SHA-256 of every snapshot.

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, MessageDescriptor};

/// One frozen schema.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// The format major version.
    pub version: u32,
    /// File name under `migrations/snapshots/`.
    pub file_name: &'static str,
    /// The encoded `google.protobuf.FileDescriptorSet`.
    pub bytes: &'static [u8],
    /// Full name of the root message of a stored file of this version.
    pub root_message: &'static str,
}

/// Every snapshot, by version.
pub const SNAPSHOTS: [Snapshot; 2] = [
    Snapshot {
        version: 0,
        file_name: "v0.fds.pb",
        bytes: include_bytes!("../snapshots/v0.fds.pb"),
        root_message: "deepomatic.oef.experiment.Experiment",
    },
    Snapshot {
        version: 1,
        file_name: "v1.fds.pb",
        bytes: include_bytes!("../snapshots/v1.fds.pb"),
        root_message: "oef.v1.ExperimentFile",
    },
];

static POOLS: LazyLock<Vec<DescriptorPool>> = LazyLock::new(|| {
    SNAPSHOTS
        .iter()
        .map(|s| {
            // Invariant: the snapshots are checked in and pinned by a test (`snapshots.rs`) that
            // also decodes them; a failure here is a build defect, not an input error.
            DescriptorPool::decode(s.bytes).expect("a checked-in schema snapshot is valid")
        })
        .collect()
});

/// The snapshot of `version`, if this build has one.
pub fn get(version: u32) -> Option<&'static Snapshot> {
    SNAPSHOTS.iter().find(|s| s.version == version)
}

/// The reflection pool of `version`'s snapshot, built once.
pub fn pool(version: u32) -> Option<&'static DescriptorPool> {
    let i = SNAPSHOTS.iter().position(|s| s.version == version)?;
    POOLS.get(i)
}

/// The root message of a stored file of `version` (v0 `Experiment`, v1+ `ExperimentFile`), in
/// that version's snapshot pool.
pub fn root_message(version: u32) -> Option<MessageDescriptor> {
    let snapshot = get(version)?;
    pool(version)?.get_message_by_name(snapshot.root_message)
}

/// A message of `version`'s snapshot by full name.
pub fn message(version: u32, full_name: &str) -> Option<MessageDescriptor> {
    pool(version)?.get_message_by_name(full_name)
}
