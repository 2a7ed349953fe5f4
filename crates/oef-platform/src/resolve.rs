//! Resolution of the experiment of a launch to a v1 experiment file, and its identity.
//!
//! A launch gives its experiment as a v1 file, as serialized bytes (v0 or v1, any encoding) or
//! as an architecture key and overrides. All become a v1 [`ExperimentFile`]; the
//! [experiment id](experiment_id) is the SHA-256 of the canonical encoding of its `Experiment`
//! (deterministic protobuf binary: fields in number order, maps sorted), so one experiment has
//! one id whatever form it was sent in. The conversions that need other crates (v0 → v1,
//! building from the catalog) are behind the [`Resolver`] trait.
//!
//! Search spaces follow the format of what was sent: v1 files and architecture builds get
//! format v1's check (as `oef build` and `oef validate` apply it: every value at a
//! hyperparameter path inside its distribution, whatever set it), v0 experiments get none, as
//! deepomatic-oef builds and accepts v0 experiments whose defaults lie outside their spaces.

use std::collections::BTreeMap;

use oef_proto::{
    CodecErrorKind,
    codec::{self, Encoding},
    v0,
    v1::{self, ExperimentFile},
};
use prost::Message as _;
use sha2::{Digest, Sha256};

/// One invalid field of a request: its dotted path and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted path of the field in the request (e.g. `file.experiment.trainer`).
    pub field: String,
    /// Why it is invalid.
    pub reason: String,
}

impl Violation {
    /// A violation of `field` for `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

/// Why an experiment could not be resolved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    /// The experiment is invalid; paths are relative to what was resolved.
    #[error("invalid experiment: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.reason)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Violation>),
    /// This build cannot resolve this form of experiment.
    #[error("{0}")]
    Unsupported(String),
}

impl ResolveError {
    /// Prefixes every violation path with `prefix.`.
    fn under(self, prefix: &str) -> Self {
        match self {
            Self::Invalid(violations) => Self::Invalid(
                violations
                    .into_iter()
                    .map(|v| Violation::new(join(prefix, &v.field), v.reason))
                    .collect(),
            ),
            other => other,
        }
    }
}

fn join(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}.{field}"),
    }
}

/// An architecture of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchitectureInfo {
    /// Catalog key.
    pub key: String,
    /// Task (first part of the key).
    pub task: String,
}

/// The conversions a launch may need beyond decoding.
pub trait Resolver: Send + Sync + 'static {
    /// Migrates a v0 experiment to a v1 file.
    fn migrate_v0(&self, experiment: v0::Experiment) -> Result<ExperimentFile, ResolveError>;

    /// Builds the v1 file of an architecture key, overrides (`oef build --set` semantics) and
    /// hyperparameters (`oef build --hp`: a path and its distribution as proto3 JSON, or `None`
    /// for the schema's search space). Violation paths: `architecture`, `overrides["NAME"]`,
    /// `hyperparameters["PATH"]`.
    fn build(
        &self,
        architecture: &str,
        overrides: &BTreeMap<String, serde_json::Value>,
        hyperparameters: &BTreeMap<String, Option<serde_json::Value>>,
    ) -> Result<ExperimentFile, ResolveError>;

    /// The architectures [`build`](Self::build) accepts, sorted by key.
    fn architectures(&self) -> Vec<ArchitectureInfo>;
}

/// The resolver of this build: the catalog (`oef-catalog`), the builder (`oef-builder`) and
/// the v0 -> v1 migration step (`oef-migrations`) of the workspace.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultResolver;

/// The migration registry, built once (its architecture index reads the whole catalog).
fn registry() -> &'static oef_migrations::Registry {
    static REGISTRY: std::sync::OnceLock<oef_migrations::Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| {
        oef_migrations::Registry::standard(std::sync::Arc::new(oef_migrations::ArchitectureIndex::new(
            oef_migrations::CatalogDefaults,
        )))
    })
}

/// Migrates a v0 experiment to v1, recording `architecture` when known.
fn migrate(experiment: &v0::Experiment, architecture: Option<String>) -> Result<ExperimentFile, ResolveError> {
    let bytes = experiment.encode_to_vec();
    let invalid = |e: oef_migrations::MigrateError| ResolveError::Invalid(vec![Violation::new("", e.to_string())]);
    let (_, document) = oef_migrations::document::decode(&bytes).map_err(invalid)?;
    let context = oef_migrations::StepContext {
        source_sha256: crate::auth::hex(&Sha256::digest(&bytes)),
        tool: oef_migrations::Tool { name: "oef-platform".into(), version: env!("CARGO_PKG_VERSION").into() },
        time: std::time::SystemTime::now(),
        architecture,
    };
    let migrated = registry().migrate(&document, codec::FORMAT_V1, &context).map_err(invalid)?;
    let v1_bytes = oef_migrations::document::encode(&migrated, Encoding::Binary).map_err(invalid)?;
    ExperimentFile::decode(v1_bytes.as_slice())
        .map_err(|e| ResolveError::Invalid(vec![Violation::new("", format!("migrated file: {e}"))]))
}

impl Resolver for DefaultResolver {
    fn migrate_v0(&self, experiment: v0::Experiment) -> Result<ExperimentFile, ResolveError> {
        migrate(&experiment, None)
    }

    fn build(
        &self,
        architecture: &str,
        overrides: &BTreeMap<String, serde_json::Value>,
        hyperparameters: &BTreeMap<String, Option<serde_json::Value>>,
    ) -> Result<ExperimentFile, ResolveError> {
        let mut builder = oef_builder::ExperimentBuilder::new(architecture)
            .map_err(|e| ResolveError::Invalid(vec![Violation::new("architecture", e.to_string())]))?;
        for (name, value) in overrides {
            builder.set_mut(name.clone(), value.clone());
        }
        for (path, distribution) in hyperparameters {
            builder = builder.hyperparameter_json(path, distribution.as_ref());
        }
        let experiment = builder.build().map_err(|e| build_violations(&e, overrides))?;
        // A file written as v1 from the start, as `oef build` writes it: no migration record
        // (whose time would make two builds of the same experiment differ).
        let mut file = migrate(&experiment, Some(builder.architecture().key.clone()))?;
        file.migrations.clear();
        Ok(file)
    }

    fn architectures(&self) -> Vec<ArchitectureInfo> {
        let mut out: Vec<ArchitectureInfo> = oef_catalog::Catalog::global()
            .iter()
            .map(|a| ArchitectureInfo { key: a.key.clone(), task: a.task().to_owned() })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

/// Maps a builder error to violations: hyperparameter errors on `hyperparameters["PATH"]`,
/// unused names on `overrides["NAME"]`, the rest on `overrides` (or on the override named in
/// the message).
fn build_violations(error: &oef_builder::BuildError, overrides: &BTreeMap<String, serde_json::Value>) -> ResolveError {
    use oef_builder::BuildError as E;
    let message = error.to_string();
    if let E::UnknownHyperparameterPath { path, .. }
    | E::NotOptimizable { path, .. }
    | E::NotAOneof { path, .. }
    | E::NoDefaultDistribution { path, .. }
    | E::InvalidDistribution { path, .. } = error
    {
        return ResolveError::Invalid(vec![Violation::new(format!("hyperparameters[{path:?}]"), message)]);
    }
    if let oef_builder::BuildError::UnusedArgument { names, .. } = error {
        return ResolveError::Invalid(
            names.iter().map(|n| Violation::new(format!("overrides[{n:?}]"), message.clone())).collect(),
        );
    }
    let named: Vec<Violation> = overrides
        .keys()
        .filter(|name| message.contains(&format!("'{name}'")))
        .map(|name| Violation::new(format!("overrides[{name:?}]"), message.clone()))
        .collect();
    if named.is_empty() {
        ResolveError::Invalid(vec![Violation::new("overrides", message)])
    } else {
        ResolveError::Invalid(named)
    }
}

/// The experiment id: SHA-256, lowercase hex, of the canonical binary encoding of `experiment`.
pub fn experiment_id(experiment: &v1::Experiment) -> String {
    crate::auth::hex(&Sha256::digest(experiment.encode_to_vec()))
}

/// A launch's experiment, resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The v1 file.
    pub file: ExperimentFile,
    /// Its experiment id.
    pub experiment_id: String,
}

/// Resolves the `experiment` oneof of a launch request; violation paths are request paths.
pub fn resolve(
    resolver: &dyn Resolver,
    experiment: Option<&v1::launch_experiment_request::Experiment>,
) -> Result<Resolved, ResolveError> {
    use v1::launch_experiment_request::Experiment as Source;
    let file = match experiment {
        None => {
            return Err(ResolveError::Invalid(vec![Violation::new(
                "experiment",
                "required: one of file, serialized or architecture",
            )]));
        }
        Some(Source::File(file)) => {
            check_v1(file).map_err(|e| e.under("file"))?;
            check_search_spaces(file).map_err(|e| e.under("file"))?;
            file.clone()
        }
        Some(Source::Serialized(serialized)) => decode_serialized(resolver, serialized)?,
        Some(Source::Architecture(arch)) => build_architecture(resolver, arch).map_err(|e| e.under("architecture"))?,
    };
    let experiment = file.experiment.as_ref().ok_or_else(|| {
        ResolveError::Invalid(vec![Violation::new("experiment", "resolved to a file without an experiment")])
    })?;
    Ok(Resolved { experiment_id: experiment_id(experiment), file })
}

/// Builds the file of an architecture key and overrides; paths relative to the message.
pub fn build_architecture(
    resolver: &dyn Resolver,
    arch: &v1::ArchitectureExperiment,
) -> Result<ExperimentFile, ResolveError> {
    if arch.architecture.is_empty() {
        return Err(ResolveError::Invalid(vec![Violation::new("architecture", "required")]));
    }
    let mut overrides = BTreeMap::new();
    let mut violations = Vec::new();
    for (name, value) in &arch.overrides {
        if name.is_empty() {
            violations.push(Violation::new("overrides", "an override name is empty"));
            continue;
        }
        match serde_json::to_value(value) {
            Ok(json) => {
                overrides.insert(name.clone(), integral_numbers(json));
            }
            Err(e) => violations.push(Violation::new(format!("overrides[{name:?}]"), e.to_string())),
        }
    }
    let mut hyperparameters = BTreeMap::new();
    for (path, distribution) in &arch.hyperparameters {
        if path.is_empty() {
            violations.push(Violation::new("hyperparameters", "a hyperparameter path is empty"));
            continue;
        }
        if distribution.distribution.is_none() {
            hyperparameters.insert(path.clone(), None);
            continue;
        }
        match serde_json::to_value(distribution) {
            Ok(json) => {
                hyperparameters.insert(path.clone(), Some(json));
            }
            Err(e) => violations.push(Violation::new(format!("hyperparameters[{path:?}]"), e.to_string())),
        }
    }
    if !violations.is_empty() {
        return Err(ResolveError::Invalid(violations));
    }
    let file = resolver.build(&arch.architecture, &overrides, &hyperparameters)?;
    check_v1(&file)?;
    // The request names hyperparameters, not field paths: each problem goes on its entry.
    check_search_spaces(&file).map_err(|error| match error {
        ResolveError::Invalid(found) => ResolveError::Invalid(
            found
                .into_iter()
                .map(|v| match v.field.strip_prefix("experiment.") {
                    Some(entry) if entry.starts_with("hyperparameters[") => Violation::new(entry, v.reason),
                    Some(path) => Violation::new(
                        format!("hyperparameters[{path:?}]"),
                        format!(
                            "the built experiment's value at {path} (from the defaults, a switch or an override; \
                             format v1 checks every value) is outside this search space: {}",
                            v.reason
                        ),
                    ),
                    None => v,
                })
                .collect(),
        ),
        other => other,
    })?;
    Ok(file)
}

/// Format v1's search-space check of a file's experiment (`oef_builder::validate`): each
/// `hyperparameters` entry names a field and holds a well-formed distribution, and the value at
/// its path lies in it. Violation paths are relative to the file (`experiment.…`).
pub fn check_search_spaces(file: &ExperimentFile) -> Result<(), ResolveError> {
    let Some(experiment) = &file.experiment else { return Ok(()) };
    if experiment.hyperparameters.is_empty() {
        return Ok(());
    }
    let message = prost_reflect::DynamicMessage::decode(
        oef_proto::descriptor::v1_experiment(),
        experiment.encode_to_vec().as_slice(),
    )
    .map_err(|e| ResolveError::Invalid(vec![Violation::new("experiment", e.to_string())]))?;
    let problems = oef_builder::validate::search_spaces(&message);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ResolveError::Invalid(
        problems.into_iter().map(|p| Violation::new(join("experiment", &p.path), p.reason)).collect(),
    ))
}

/// google.protobuf.Value has only doubles: integral numbers become JSON integers, as
/// `oef build --set batch_size=16` parses them (an integer field rejects 16.0).
fn integral_numbers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(integral_numbers).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, integral_numbers(v))).collect()),
        other => other,
    }
}

fn decode_serialized(resolver: &dyn Resolver, serialized: &v1::SerializedExperiment) -> Result<ExperimentFile, ResolveError> {
    const FIELD: &str = "serialized.content";
    let bytes = serialized.content.as_slice();
    if bytes.is_empty() {
        return Err(ResolveError::Invalid(vec![Violation::new(FIELD, "required: the experiment bytes")]));
    }
    let codec_violations = |e: oef_proto::CodecError| match &e.kind {
        CodecErrorKind::MissingRequired(paths) => ResolveError::Invalid(
            paths.iter().map(|p| Violation::new(join(FIELD, p), "missing required field")).collect(),
        ),
        _ => ResolveError::Invalid(vec![Violation::new(FIELD, e.to_string())]),
    };
    let detected = codec::detect(bytes).map_err(codec_violations)?;
    let encoding = match v1::ExperimentEncoding::try_from(serialized.encoding) {
        Ok(v1::ExperimentEncoding::Binary) => Encoding::Binary,
        Ok(v1::ExperimentEncoding::Json) => Encoding::Json,
        Ok(v1::ExperimentEncoding::Text) => Encoding::Text,
        Ok(v1::ExperimentEncoding::Unspecified) => detected.encoding,
        Err(_) => {
            return Err(ResolveError::Invalid(vec![Violation::new(
                "serialized.encoding",
                format!("unknown encoding {}", serialized.encoding),
            )]));
        }
    };
    match detected.version {
        codec::FORMAT_V0 => {
            let experiment = codec::decode_v0(bytes, encoding).map_err(codec_violations)?;
            let file = resolver.migrate_v0(experiment).map_err(|e| e.under(FIELD))?;
            check_v1(&file).map_err(|e| e.under(FIELD))?;
            Ok(file)
        }
        codec::FORMAT_V1 => {
            let file = codec::decode_v1_file(bytes, encoding).map_err(codec_violations)?;
            check_v1(&file).map_err(|e| e.under(FIELD))?;
            check_search_spaces(&file).map_err(|e| e.under(FIELD))?;
            Ok(file)
        }
        other => Err(ResolveError::Invalid(vec![Violation::new(
            FIELD,
            format!("format version {other} is not supported (newest: {})", codec::LATEST_FORMAT),
        )])),
    }
}

/// Checks what a v1 file must hold: format version 1, an experiment with a dataset and a
/// trainer (both required since v0), and every value stated ([`oef_proto::explicit`]): an
/// unset value would be the reader's guess (the v0 default? zero?) and would give the same
/// experiment two ids, so it is a violation, as `oef validate` reports it.
pub fn check_v1(file: &ExperimentFile) -> Result<(), ResolveError> {
    let mut violations = Vec::new();
    if file.format_version != codec::FORMAT_V1 {
        violations.push(Violation::new(
            "format_version",
            format!("must be {} (found {})", codec::FORMAT_V1, file.format_version),
        ));
    }
    match &file.experiment {
        None => violations.push(Violation::new("experiment", "required")),
        Some(experiment) => {
            if experiment.dataset.is_none() {
                violations.push(Violation::new("experiment.dataset", "required"));
            }
            if experiment.trainer.is_none() {
                violations.push(Violation::new("experiment.trainer", "required"));
            }
            for path in oef_proto::explicit::unset_values(experiment) {
                violations.push(Violation::new(path, oef_proto::explicit::UNSET_REASON));
            }
        }
    }
    if violations.is_empty() { Ok(()) } else { Err(ResolveError::Invalid(violations)) }
}
