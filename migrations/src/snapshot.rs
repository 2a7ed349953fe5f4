//! Frozen descriptor sets, one per format version.
//!
//! `snapshots/v<N>.fds.pb` is the `FileDescriptorSet` (without source info) of format version
//! N as it was when its migration steps were written. Steps decode and encode through pools
//! built from these files, never through today's `.proto` files, so that editing the live
//! schema cannot change what an old step does. A test pins the SHA-256 of every snapshot.

use std::{cell::OnceCell, sync::LazyLock};

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

fn decode_all() -> Vec<DescriptorPool> {
    SNAPSHOTS
        .iter()
        .map(|s| {
            // Invariant: the snapshots are checked in and pinned by a test (`snapshots.rs`) that
            // also decodes them; a failure here is a build defect, not an input error.
            DescriptorPool::decode(s.bytes).expect("a checked-in schema snapshot is valid")
        })
        .collect()
}

static POOLS: LazyLock<Vec<DescriptorPool>> = LazyLock::new(decode_all);

thread_local! {
    /// This thread's own copy of [`POOLS`], once [`use_thread_pools`] was called on it.
    static THREAD_POOLS: OnceCell<Vec<DescriptorPool>> = const { OnceCell::new() };
}

/// Gives the calling thread its own decoded copy of every snapshot pool: from then on,
/// [`root_message`] and [`message`] called on this thread return descriptors of that copy.
///
/// Why: a descriptor is a reference-counted handle to its pool, and reflection clones
/// descriptors at every field it visits. Threads sharing one pool all increment the same
/// counter, and two threads on two cores then spend their time passing that cache line back
/// and forth (measured with `oef-migrate --jobs 2`: +36 % CPU for the same work, the `lock
/// inc` of the count being the hottest instruction of `FieldDescriptor::kind`). The copy costs
/// one decode of each snapshot and its memory, per thread: meant for long-lived worker threads
/// that migrate many files. Messages made on the thread can still be used anywhere.
pub fn use_thread_pools() {
    THREAD_POOLS.with(|pools| {
        pools.get_or_init(decode_all);
    });
}

/// `f` applied to the pool of `version`'s snapshot: this thread's copy if it has one, else the
/// process-wide pool.
fn with_pool<T>(version: u32, f: impl FnOnce(&DescriptorPool) -> Option<T>) -> Option<T> {
    let i = SNAPSHOTS.iter().position(|s| s.version == version)?;
    THREAD_POOLS.with(|local| match local.get() {
        Some(pools) => f(pools.get(i)?),
        None => f(POOLS.get(i)?),
    })
}

/// The snapshot of `version`, if this build has one.
pub fn get(version: u32) -> Option<&'static Snapshot> {
    SNAPSHOTS.iter().find(|s| s.version == version)
}

/// The process-wide reflection pool of `version`'s snapshot, built once (see also
/// [`use_thread_pools`]).
pub fn pool(version: u32) -> Option<&'static DescriptorPool> {
    let i = SNAPSHOTS.iter().position(|s| s.version == version)?;
    POOLS.get(i)
}

/// The root message of a stored file of `version` (v0 `Experiment`, v1+ `ExperimentFile`), in
/// that version's snapshot pool (this thread's copy after [`use_thread_pools`]).
pub fn root_message(version: u32) -> Option<MessageDescriptor> {
    let snapshot = get(version)?;
    with_pool(version, |pool| pool.get_message_by_name(snapshot.root_message))
}

/// A message of `version`'s snapshot by full name.
pub fn message(version: u32, full_name: &str) -> Option<MessageDescriptor> {
    with_pool(version, |pool| pool.get_message_by_name(full_name))
}
