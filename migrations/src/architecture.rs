//! Which catalog architecture a v0 experiment was built from.
//!
//! A v0 file does not say which architecture key it was built from; v1 records it. The
//! inferred key is the catalog entry whose default experiment is closest to the file: the one
//! with the fewest differing dotted field paths. Values are compared as the training sees them
//! (an unset proto2 field counts as its default, so explicit and implicit defaults are equal).
//! A tie, or a closest default that still differs in more than a quarter of its paths, is an
//! [`ArchitectureError`]; the operator then names the key (`--architecture`).
//!
//! The defaults come from an [`ArchitectureDefaults`] provider: the catalog through
//! `oef-builder` ([`CatalogDefaults`]: the default experiment of every key with
//! `config_path = "gs://bucket/dataset/config.prototxt"`), or a directory of `<key>.pb` files
//! ([`DirectoryDefaults`]).

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
    path::{Path, PathBuf},
    sync::OnceLock,
};

use prost::Message as _;
use prost_reflect::{DynamicMessage, Kind, ReflectMessage, Value};

use crate::snapshot;

/// The `config_path` the default experiments are built with.
pub const DEFAULT_CONFIG_PATH: &str = "gs://bucket/dataset/config.prototxt";

/// Supplies the default v0 experiment of every architecture key.
pub trait ArchitectureDefaults: Send + Sync {
    /// Every `(key, default experiment)` pair.
    fn defaults(&self) -> Result<Vec<(String, oef_proto::v0::Experiment)>, ArchitectureError>;

    /// Every key, without building the defaults when the provider can (used to check
    /// `--architecture`); by default the keys of [`defaults`](Self::defaults).
    fn keys(&self) -> Result<Vec<String>, ArchitectureError> {
        Ok(self.defaults()?.into_iter().map(|(key, _)| key).collect())
    }
}

/// The defaults of the architecture catalog, built by `oef-builder` (every key of
/// [`oef_catalog::Catalog::global`] with `config_path` = [`DEFAULT_CONFIG_PATH`]). What
/// `oef-migrate` uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatalogDefaults;

impl ArchitectureDefaults for CatalogDefaults {
    fn defaults(&self) -> Result<Vec<(String, oef_proto::v0::Experiment)>, ArchitectureError> {
        let catalog = oef_catalog::Catalog::global();
        let mut out = Vec::with_capacity(catalog.len());
        for architecture in catalog.iter() {
            let fail = |e: oef_builder::BuildError| ArchitectureError::Defaults(e.to_string());
            let experiment = oef_builder::ExperimentBuilder::new(&architecture.key)
                .map_err(fail)?
                .set("config_path", serde_json::json!(DEFAULT_CONFIG_PATH))
                .build()
                .map_err(fail)?;
            out.push((architecture.key.clone(), experiment));
        }
        Ok(out)
    }

    fn keys(&self) -> Result<Vec<String>, ArchitectureError> {
        Ok(oef_catalog::Catalog::global().iter().map(|a| a.key.clone()).collect())
    }
}

/// Defaults read from a directory of `<key>.pb` files (binary v0 experiments), such as
/// `tests/fixtures/legacy-oef/defaults`.
#[derive(Debug, Clone)]
pub struct DirectoryDefaults {
    dir: PathBuf,
}

impl DirectoryDefaults {
    /// Defaults from `dir/<key>.pb`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

impl ArchitectureDefaults for DirectoryDefaults {
    fn defaults(&self) -> Result<Vec<(String, oef_proto::v0::Experiment)>, ArchitectureError> {
        let fail = |what: String| ArchitectureError::Defaults(what);
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| fail(format!("reading {}: {e}", self.dir.display())))?;
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| fail(format!("reading {}: {e}", self.dir.display())))?.path();
            if path.extension().is_none_or(|e| e != "pb") {
                continue;
            }
            let Some(key) = path.file_stem().and_then(|s| s.to_str()) else { continue };
            let bytes = std::fs::read(&path).map_err(|e| fail(format!("reading {}: {e}", path.display())))?;
            let experiment = oef_proto::v0::Experiment::decode(bytes.as_slice())
                .map_err(|e| fail(format!("decoding {}: {e}", path.display())))?;
            out.push((key.to_owned(), experiment));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// Why no architecture key could be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArchitectureError {
    /// Several keys are equally close.
    #[error(
        "ambiguous architecture: {} are equally close ({differing} differing field paths); \
         name one with --architecture",
        candidates.join(", ")
    )]
    Ambiguous {
        /// The tied keys, sorted.
        candidates: Vec<String>,
        /// Their number of differing field paths.
        differing: usize,
    },
    /// Even the closest default differs too much to be what the file was built from.
    #[error(
        "no plausible architecture: the closest, {closest}, differs in {differing} of its \
         {paths} field paths; name one with --architecture"
    )]
    NoPlausibleMatch {
        /// The closest key.
        closest: String,
        /// Its number of differing field paths.
        differing: usize,
        /// The number of field paths of its default.
        paths: usize,
    },
    /// `--architecture` named a key the catalog does not have.
    #[error("unknown architecture key {0:?}")]
    UnknownKey(String),
    /// The defaults could not be obtained.
    #[error("architecture defaults unavailable: {0}")]
    Defaults(String),
}

/// The inferred architecture of one experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inference {
    /// The closest key.
    pub key: String,
    /// Its number of differing field paths.
    pub differing: usize,
}

/// Nearest-default search over every architecture, built on first use.
pub struct ArchitectureIndex {
    provider: Box<dyn ArchitectureDefaults>,
    built: OnceLock<Result<Built, ArchitectureError>>,
    keys: OnceLock<Result<Vec<String>, ArchitectureError>>,
}

struct Built {
    keys: Vec<String>,
    /// Number of leaf paths of each key's default.
    sizes: Vec<u32>,
    /// Leaf path hash → keys whose default has that path.
    paths: HashIndex<Postings>,
    /// (path, value) hash → keys whose default has that path with that value.
    pairs: HashIndex<Postings>,
}

/// The keys that have a path (or a path with a value). Most paths are in most defaults, so a
/// list longer than half the keys is stored as its complement: counting a file's leaf then
/// touches the few keys that lack it instead of the many that have it.
#[derive(Debug)]
enum Postings {
    /// These keys have it.
    Keys(Vec<u16>),
    /// Every key but these has it.
    AllBut(Vec<u16>),
}

impl Postings {
    /// `keys` (sorted, distinct) out of `total`, in the shorter form.
    fn new(keys: Vec<u16>, total: usize) -> Self {
        if keys.len() * 2 <= total {
            return Postings::Keys(keys);
        }
        let mut have = keys.into_iter().peekable();
        let mut lack = Vec::new();
        for k in 0..total {
            let k = u16::try_from(k).unwrap_or(u16::MAX);
            if have.peek() == Some(&k) {
                have.next();
            } else {
                lack.push(k);
            }
        }
        Postings::AllBut(lack)
    }
}

impl ArchitectureIndex {
    /// An index over the defaults of `provider` (read on first use).
    pub fn new(provider: impl ArchitectureDefaults + 'static) -> Self {
        Self { provider: Box::new(provider), built: OnceLock::new(), keys: OnceLock::new() }
    }

    fn built(&self) -> Result<&Built, ArchitectureError> {
        self.built.get_or_init(|| build(self.provider.as_ref())).as_ref().map_err(Clone::clone)
    }

    /// Every key, sorted (without building the defaults when the provider can).
    pub fn keys(&self) -> Result<&[String], ArchitectureError> {
        self.keys
            .get_or_init(|| {
                let mut keys = self.provider.keys()?;
                keys.sort();
                keys.dedup();
                Ok(keys)
            })
            .as_deref()
            .map_err(Clone::clone)
    }

    /// Checks that `key` is a known architecture.
    pub fn check_key(&self, key: &str) -> Result<(), ArchitectureError> {
        if self.keys()?.binary_search_by(|k| k.as_str().cmp(key)).is_ok() {
            Ok(())
        } else {
            Err(ArchitectureError::UnknownKey(key.to_owned()))
        }
    }

    /// Every key with its number of differing field paths from `experiment` (a v0
    /// `Experiment` of the v0 snapshot) and the number of field paths of its default, closest
    /// first (ties by key).
    pub fn ranking(&self, experiment: &DynamicMessage) -> Result<Vec<(String, usize, usize)>, ArchitectureError> {
        let built = self.built()?;
        let mut leaves = Vec::with_capacity(256);
        collect_leaves(experiment, SEED, &mut leaves);
        let distances = distances(built, &leaves);
        let mut out: Vec<(String, usize, usize)> = distances
            .iter()
            .enumerate()
            .map(|(k, d)| (built.keys[k].clone(), *d, built.sizes[k] as usize))
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    /// The key whose default is closest to `experiment` (a v0 `Experiment` of the v0 snapshot).
    pub fn infer(&self, experiment: &DynamicMessage) -> Result<Inference, ArchitectureError> {
        let mut leaves = Vec::with_capacity(256);
        collect_leaves(experiment, SEED, &mut leaves);
        self.infer_leaves(&leaves)
    }

    /// [`infer`](Self::infer) over leaves already collected (by the byte-level fast path of
    /// [`crate::transcode`], which hashes them exactly as [`collect_leaves`] does).
    pub(crate) fn infer_leaves(&self, leaves: &[(u64, u64)]) -> Result<Inference, ArchitectureError> {
        let built = self.built()?;
        let distances = distances(built, leaves);
        let Some(&differing) = distances.iter().min() else {
            return Err(ArchitectureError::Defaults("no architecture defaults".into()));
        };
        let best: Vec<usize> = (0..distances.len()).filter(|&k| distances[k] == differing).collect();
        if let [k] = best.as_slice() {
            let paths = built.sizes[*k] as usize;
            if differing * PLAUSIBLE_FRACTION > paths {
                return Err(ArchitectureError::NoPlausibleMatch {
                    closest: built.keys[*k].clone(),
                    differing,
                    paths,
                });
            }
            return Ok(Inference { key: built.keys[*k].clone(), differing });
        }
        Err(ArchitectureError::Ambiguous {
            candidates: best.iter().map(|&k| built.keys[k].clone()).collect(),
            differing,
        })
    }
}

/// A match is plausible when at most 1/PLAUSIBLE_FRACTION of the default's paths differ.
const PLAUSIBLE_FRACTION: usize = 2;

/// The number of differing field paths between `experiment` and each key's default:
/// `|A| + |B_k| - common_paths(k) - equal_pairs(k)`, over the file's `leaves`.
fn distances(built: &Built, leaves: &[(u64, u64)]) -> Vec<usize> {
    // shared(k) = everyone + adjust[k]: `AllBut` postings count for every key once and are
    // taken back from the keys they list.
    let mut adjust = vec![0i64; built.keys.len()];
    let mut everyone = 0i64;
    for (path, pair) in leaves {
        for postings in [built.paths.get(path), built.pairs.get(pair)].into_iter().flatten() {
            match postings {
                Postings::Keys(keys) => {
                    for &k in keys {
                        adjust[usize::from(k)] += 1;
                    }
                }
                Postings::AllBut(keys) => {
                    everyone += 1;
                    for &k in keys {
                        adjust[usize::from(k)] -= 1;
                    }
                }
            }
        }
    }
    let own = leaves.len();
    adjust
        .iter()
        .zip(&built.sizes)
        .map(|(adjust, size)| {
            let shared = usize::try_from(everyone + adjust).unwrap_or(0);
            (own + *size as usize).saturating_sub(shared)
        })
        .collect()
}

fn build(provider: &dyn ArchitectureDefaults) -> Result<Built, ArchitectureError> {
    let mut defaults = provider.defaults()?;
    defaults.sort_by(|a, b| a.0.cmp(&b.0));
    defaults.dedup_by(|a, b| a.0 == b.0);
    if defaults.is_empty() {
        return Err(ArchitectureError::Defaults("the provider gave no defaults".into()));
    }
    if defaults.len() > usize::from(u16::MAX) {
        return Err(ArchitectureError::Defaults("more than 65535 architectures".into()));
    }
    let desc = snapshot::root_message(0)
        .ok_or_else(|| ArchitectureError::Defaults("no v0 snapshot".into()))?;
    let mut keys = Vec::with_capacity(defaults.len());
    let mut sizes = Vec::with_capacity(defaults.len());
    let mut leaves = Vec::new();
    let mut paths: HashIndex<Vec<u16>> = HashIndex::default();
    let mut pairs: HashIndex<Vec<u16>> = HashIndex::default();
    for (i, (key, experiment)) in defaults.into_iter().enumerate() {
        let message = DynamicMessage::decode(desc.clone(), experiment.encode_to_vec().as_slice())
            .map_err(|e| ArchitectureError::Defaults(format!("{key}: {e}")))?;
        leaves.clear();
        collect_leaves(&message, SEED, &mut leaves);
        let i = u16::try_from(i).unwrap_or(u16::MAX);
        for (path, pair) in &leaves {
            paths.entry(*path).or_default().push(i);
            pairs.entry(*pair).or_default().push(i);
        }
        keys.push(key);
        sizes.push(u32::try_from(leaves.len()).unwrap_or(u32::MAX));
    }
    let total = keys.len();
    // A path can occur twice in one default (never in practice: paths are unique leaves), so
    // lists are deduplicated before the complement is taken.
    let postings = |map: HashIndex<Vec<u16>>| {
        map.into_iter()
            .map(|(hash, mut keys)| {
                keys.dedup();
                (hash, Postings::new(keys, total))
            })
            .collect()
    };
    Ok(Built { keys, sizes, paths: postings(paths), pairs: postings(pairs) })
}

/// The path hash of the root message.
pub(crate) const SEED: u64 = 0x243f_6a88_85a3_08d3;

/// A map keyed by hashes already mixed by [`mix`]: they are used as they are instead of being
/// hashed again (SipHash of every leaf of every file was a visible part of inference).
type HashIndex<V> = HashMap<u64, V, BuildHasherDefault<PreHashed>>;

/// The [`Hasher`] of [`HashIndex`]: a `u64` key is its own hash.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `u64` keys; other input is still hashed, by [`mix`].
        self.0 = mix_bytes(self.0, bytes);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// FxHash-style mixing: fast and good enough to tell field paths and values apart.
pub(crate) fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95)
}

fn mix_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    h = mix(h, bytes.len() as u64);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = mix(h, u64::from_le_bytes(word));
    }
    let mut word = [0u8; 8];
    let rest = chunks.remainder();
    word[..rest.len()].copy_from_slice(rest);
    mix(h, u64::from_le_bytes(word))
}

/// The leaves of a message as (path hash, (path, value) hash): every singular scalar field as
/// the training sees it (set, or unset outside a oneof: its default), every repeated field as
/// one leaf, every map entry as one leaf. Sub-messages are entered only when present.
fn collect_leaves(message: &DynamicMessage, path: u64, out: &mut Vec<(u64, u64)>) {
    for field in message.descriptor().fields() {
        let field_path = mix(path, u64::from(field.number()));
        let present = message.has_field(&field);
        if field.is_map() {
            if let Some(Value::Map(entries)) = present.then(|| message.get_field(&field)).as_deref()
            {
                for (key, value) in entries {
                    let key_path = mix(field_path, hash_map_key(key));
                    out.push((key_path, hash_value(key_path, value)));
                }
            }
        } else if field.is_list() {
            if present {
                out.push((field_path, hash_value(field_path, &message.get_field(&field))));
            }
        } else if let Kind::Message(_) = field.kind() {
            if present {
                if let Value::Message(sub) = message.get_field(&field).as_ref() {
                    collect_leaves(sub, field_path, out);
                }
            }
        } else if present || field.containing_oneof().is_none() {
            out.push((field_path, hash_value(field_path, &message.get_field(&field))));
        }
    }
}

fn hash_map_key(key: &prost_reflect::MapKey) -> u64 {
    use prost_reflect::MapKey;
    match key {
        MapKey::Bool(b) => u64::from(*b),
        MapKey::I32(v) => *v as u64,
        MapKey::I64(v) => *v as u64,
        MapKey::U32(v) => u64::from(*v),
        MapKey::U64(v) => *v,
        MapKey::String(s) => mix_bytes(SEED, s.as_bytes()),
    }
}

/// A scalar value as [`hash_value`] sees it: one variant per scalar [`Value`] variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar<'a> {
    Bool(bool),
    I32(i32),
    I64(i64),
    U32(u32),
    U64(u64),
    F32(f32),
    F64(f64),
    String(&'a str),
    Bytes(&'a [u8]),
    EnumNumber(i32),
}

impl<'a> Scalar<'a> {
    /// The scalar of `value`, `None` for messages, lists and maps.
    pub(crate) fn of(value: &'a Value) -> Option<Self> {
        Some(match value {
            Value::Bool(v) => Scalar::Bool(*v),
            Value::I32(v) => Scalar::I32(*v),
            Value::I64(v) => Scalar::I64(*v),
            Value::U32(v) => Scalar::U32(*v),
            Value::U64(v) => Scalar::U64(*v),
            Value::F32(v) => Scalar::F32(*v),
            Value::F64(v) => Scalar::F64(*v),
            Value::String(s) => Scalar::String(s),
            Value::Bytes(b) => Scalar::Bytes(b),
            Value::EnumNumber(n) => Scalar::EnumNumber(*n),
            Value::Message(_) | Value::List(_) | Value::Map(_) => return None,
        })
    }
}

/// The hash of a scalar leaf value at path hash `h`.
pub(crate) fn hash_scalar(h: u64, value: Scalar<'_>) -> u64 {
    match value {
        Scalar::Bool(b) => mix(h, 1 + u64::from(b)),
        Scalar::I32(v) => mix(mix(h, 3), v as u64),
        Scalar::I64(v) => mix(mix(h, 4), v as u64),
        Scalar::U32(v) => mix(mix(h, 5), u64::from(v)),
        Scalar::U64(v) => mix(mix(h, 6), v),
        Scalar::F32(v) => mix(mix(h, 7), u64::from(v.to_bits())),
        Scalar::F64(v) => mix(mix(h, 8), v.to_bits()),
        Scalar::String(s) => mix_bytes(mix(h, 9), s.as_bytes()),
        Scalar::Bytes(b) => mix_bytes(mix(h, 10), b),
        Scalar::EnumNumber(n) => mix(mix(h, 11), n as u64),
    }
}

/// The start of the hash of a message value (then each set field in number order:
/// `h = hash(mix(h, number), value)`).
pub(crate) fn hash_message_start(h: u64) -> u64 {
    mix(h, 12)
}

/// The start of the hash of a list of `len` items (then each item: `h = hash(h, item)`).
pub(crate) fn hash_list_start(h: u64, len: usize) -> u64 {
    mix(mix(h, 13), len as u64)
}

fn hash_value(h: u64, value: &Value) -> u64 {
    if let Some(scalar) = Scalar::of(value) {
        return hash_scalar(h, scalar);
    }
    match value {
        Value::Message(m) => {
            let mut h = hash_message_start(h);
            for (field, value) in m.fields() {
                h = hash_value(mix(h, u64::from(field.number())), value);
            }
            h
        }
        Value::List(items) => {
            let mut h = hash_list_start(h, items.len());
            for item in items {
                h = hash_value(h, item);
            }
            h
        }
        Value::Map(entries) => {
            // Order-independent: sum of the entries' hashes.
            let sum = entries
                .iter()
                .map(|(k, v)| hash_value(mix(SEED, hash_map_key(k)), v))
                .fold(0u64, u64::wrapping_add);
            mix(mix(h, 14), sum)
        }
        _ => h, // scalars: handled above
    }
}

/// The path of the default fixtures of this repository, for tests and examples.
pub fn fixture_defaults_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/legacy-oef/defaults"))
}
