//! Migration steps and the registry that chains them.
//!
//! A [`Step`] turns a root message of one format version into the root message of the next
//! (or previous) one. The [`Registry`] holds one step per adjacent pair of versions in each
//! direction and chains them, so that any version can be brought to any other: a future v2
//! adds `v1_to_v2` and `v2_to_v1` and nothing else changes.

use std::{sync::Arc, time::SystemTime};

use oef_proto::codec::Encoding;
use prost_reflect::DynamicMessage;

use crate::{
    Document, LATEST_VERSION, MigrateError, architecture::ArchitectureIndex, v0_to_v1::V0ToV1,
    v1_to_v0::V1ToV0,
};

/// The tool that performs a migration, recorded in the v1 envelope (`writer`, `migrations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// Name of the tool.
    pub name: String,
    /// Version of the tool.
    pub version: String,
}

impl Tool {
    /// This crate's `oef-migrate`, at this crate's version.
    pub fn oef_migrate() -> Self {
        Self { name: "oef-migrate".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

/// What a step may need to know about the file it works on and the run it is part of.
#[derive(Debug, Clone)]
pub struct StepContext {
    /// SHA-256 (lowercase hex) of the bytes of the file as read.
    pub source_sha256: String,
    /// The tool performing the migration.
    pub tool: Tool,
    /// The time recorded in provenance.
    pub time: SystemTime,
    /// Architecture key given by the operator (`--architecture`), overriding inference.
    pub architecture: Option<String>,
}

/// One migration step between two adjacent format versions.
pub trait Step: Send + Sync {
    /// Format version of the input.
    fn source_version(&self) -> u32;
    /// Format version of the output.
    fn target_version(&self) -> u32;
    /// Migrates the root message of a `source_version` file (decoded through that version's
    /// snapshot) into the root message of a `target_version` file (in that version's snapshot).
    fn apply(&self, input: &DynamicMessage, context: &StepContext)
    -> Result<DynamicMessage, MigrateError>;

    /// Migrates a whole stored file from its encoded bytes (`input` encoding, detected by the
    /// caller) to the encoded target file (`output` encoding), when the step has a route for
    /// these bytes faster than decoding, [`apply`](Self::apply) and encoding; the result must
    /// be the very bytes that route gives. `None` (the default): no such route for these
    /// bytes, including any input the general route would reject (it reports the error).
    fn apply_encoded(
        &self,
        _bytes: &[u8],
        _input: Encoding,
        _output: Encoding,
        _context: &StepContext,
    ) -> Option<Vec<u8>> {
        None
    }

    /// Builds now what the step would build on first use (tables, indexes), so that it can
    /// be done on another thread while there is other work. The default: nothing to build.
    fn prepare(&self) {}
}

/// The chain of every known step.
pub struct Registry {
    steps: Vec<Box<dyn Step>>,
}

impl Registry {
    /// The steps of this build (v0 ↔ v1), with `architectures` for v0 → v1 inference.
    pub fn standard(architectures: Arc<ArchitectureIndex>) -> Self {
        Self::from_steps(vec![Box::new(V0ToV1::new(architectures)), Box::new(V1ToV0::new())])
    }

    /// A registry of the given steps.
    pub fn from_steps(steps: Vec<Box<dyn Step>>) -> Self {
        Self { steps }
    }

    /// Builds now what the steps would build on first use (the architecture index, the
    /// byte-level route's tables): `oef-migrate` does it on a second thread while it lists the
    /// input files. Failures are left for the files to report.
    pub fn prepare(&self) {
        for step in &self.steps {
            step.prepare();
        }
    }

    /// The newest version reachable.
    pub fn latest(&self) -> u32 {
        self.steps.iter().map(|s| s.target_version().max(s.source_version())).max().unwrap_or(LATEST_VERSION)
    }

    /// The step from `from` to `to`, if registered.
    pub fn step(&self, from: u32, to: u32) -> Option<&dyn Step> {
        self.steps
            .iter()
            .find(|s| s.source_version() == from && s.target_version() == to)
            .map(|s| s.as_ref())
    }

    /// The encoded file `bytes` (`input` encoding) brought to version `to` in `output`
    /// encoding by the byte-level route of the single step that ends at `to` coming from
    /// `to - 1`, with the source version: `Some` only when that step has such a route for these
    /// bytes ([`Step::apply_encoded`]). The result equals decoding, [`migrate`](Self::migrate)
    /// and encoding; `None` means: take that way.
    pub fn migrate_encoded(
        &self,
        bytes: &[u8],
        input: Encoding,
        to: u32,
        output: Encoding,
        context: &StepContext,
    ) -> Option<(u32, Vec<u8>)> {
        let step = self.step(to.checked_sub(1)?, to)?;
        step.apply_encoded(bytes, input, output, context).map(|out| (step.source_version(), out))
    }

    /// Brings `document` to version `to` by applying each step in turn (one version at a time,
    /// up or down). A document already at `to` is returned unchanged.
    pub fn migrate(
        &self,
        document: &Document,
        to: u32,
        context: &StepContext,
    ) -> Result<Document, MigrateError> {
        let mut current = document.clone();
        while current.version != to {
            let next = if current.version < to { current.version + 1 } else { current.version - 1 };
            let step = self
                .step(current.version, next)
                .ok_or(MigrateError::NoStep { from: current.version, to: next })?;
            current = Document { version: next, message: step.apply(&current.message, context)? };
        }
        Ok(current)
    }
}
