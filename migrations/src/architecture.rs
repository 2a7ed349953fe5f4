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
    /// `u64` words per key set (one bit per key).
    words: usize,
    /// Leaf path hash → the set of keys whose default has that path (number in `sets`).
    paths: HashIndex<u32>,
    /// (path, value) hash → the set of keys whose default has that path with that value, and
    /// the set of its path (as `paths` gives it: one lookup for both when the value is a
    /// default's; [`NO_SET`] when two paths gave one hash).
    pairs: HashIndex<(u32, u32)>,
    /// The distinct key sets (a few hundred: whole families of paths share one), `words`
    /// words each, one bit per key.
    sets: Vec<u64>,
    /// The largest default's number of leaf paths.
    max_size: usize,
    /// Bit planes of `max_size - size_k` for every key (see [`SlicedCounters`]).
    handicaps: Vec<u64>,
    /// One bit per key.
    keys_mask: Vec<u64>,
}

impl Built {
    fn set(&self, number: usize) -> &[u64] {
        &self.sets[number * self.words..(number + 1) * self.words]
    }
}

/// Per-key counters kept as bit planes ("bit-sliced"): plane `p` holds bit `p` of every key's
/// count. Adding a key set `m` times is a ripple-carry addition over a few words per bit of
/// `m`, however many keys the set holds; a file's leaves fall into a few dozen distinct sets,
/// each added once with its multiplicity (posting lists, one increment per key and leaf, made
/// inference the largest part of migrating a file).
struct SlicedCounters {
    words: usize,
    /// `PLANES` planes of `words` words.
    planes: Vec<u64>,
}

/// Counts up to 2^32 - 1.
const PLANES: usize = 32;

impl SlicedCounters {
    fn new(words: usize) -> Self {
        Self { words, planes: vec![0; words * PLANES] }
    }

    /// Adds `times` to the count of every key of `set`.
    fn add(&mut self, set: &[u64], times: u32) {
        let mut times = times;
        while times != 0 {
            let plane = times.trailing_zeros() as usize;
            self.add_at(set, plane);
            times &= times - 1;
        }
    }

    /// Adds `2^plane` to the count of every key of `set`.
    fn add_at(&mut self, set: &[u64], plane: usize) {
        for (w, &bits) in set.iter().enumerate() {
            let mut carry = bits;
            let mut p = plane;
            while carry != 0 && p < PLANES {
                let plane = &mut self.planes[p * self.words + w];
                let next = *plane & carry;
                *plane ^= carry;
                carry = next;
                p += 1;
            }
        }
    }

    /// The keys of `mask` with the largest count, and that count.
    fn largest(&self, mask: &[u64]) -> (Vec<usize>, usize) {
        let mut candidates = mask.to_vec();
        let mut value = 0;
        for p in (0..PLANES).rev() {
            let plane = &self.planes[p * self.words..(p + 1) * self.words];
            if candidates.iter().zip(plane).any(|(c, b)| c & b != 0) {
                for (c, b) in candidates.iter_mut().zip(plane) {
                    *c &= b;
                }
                value |= 1 << p;
            }
        }
        let mut keys = Vec::new();
        for (w, &word) in candidates.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                keys.push(w * 64 + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
        }
        (keys, value)
    }

    /// The count of every key of `0..keys`.
    fn counts(&self, keys: usize) -> Vec<usize> {
        let mut counts = vec![0usize; self.words * 64];
        for (i, plane) in self.planes.chunks_exact(self.words).enumerate() {
            for (w, &word) in plane.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    counts[w * 64 + bits.trailing_zeros() as usize] += 1 << i;
                    bits &= bits - 1;
                }
            }
        }
        counts.truncate(keys);
        counts
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

    /// Builds the index now if it is not built yet (else on the first inference).
    pub fn prepare(&self) -> Result<(), ArchitectureError> {
        self.built().map(|_| ())
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
        // The counters start at `max_size - size_k`: the largest counter is then the smallest
        // distance (`|A| + max_size - counter`), found from the top bit plane down.
        let mut counters = SlicedCounters { words: built.words, planes: built.handicaps.clone() };
        add_leaves(built, leaves, &mut counters);
        let (best, counter) = counters.largest(&built.keys_mask);
        if best.is_empty() {
            return Err(ArchitectureError::Defaults("no architecture defaults".into()));
        }
        let differing = (leaves.len() + built.max_size).saturating_sub(counter);
        #[cfg(debug_assertions)]
        {
            // The plain computation, for every test run (debug builds) to compare with.
            let all = distances(built, leaves);
            let min = all.iter().copied().min();
            assert_eq!(Some(differing), min);
            assert_eq!(best, (0..all.len()).filter(|&k| Some(all[k]) == min).collect::<Vec<_>>());
        }
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
    let mut shared = SlicedCounters::new(built.words);
    add_leaves(built, leaves, &mut shared);
    let own = leaves.len();
    let counts = shared.counts(built.sizes.len());
    built.sizes.iter().zip(counts).map(|(size, shared)| (own + *size as usize).saturating_sub(shared)).collect()
}

/// Adds to each key's counter the number of `leaves` whose path its default has, plus the
/// number whose path and value it has.
fn add_leaves(built: &Built, leaves: &[(u64, u64)], counters: &mut SlicedCounters) {
    let mut multiplicity = vec![0u32; built.sets.len() / built.words.max(1)];
    for (path, pair) in leaves {
        let (pair_set, path_set) = match built.pairs.get(pair) {
            Some(&(pair_set, path_set)) if path_set != NO_SET => (Some(pair_set), Some(path_set)),
            found => (found.map(|(pair_set, _)| *pair_set), built.paths.get(path).copied()),
        };
        for number in [path_set, pair_set].into_iter().flatten() {
            multiplicity[number as usize] += 1;
        }
    }
    for (number, times) in multiplicity.into_iter().enumerate() {
        if times != 0 {
            counters.add(built.set(number), times);
        }
    }
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
    // (path, value) hash → path hash, or `None` if two paths gave one (path, value) hash.
    let mut pair_paths: HashIndex<Option<u64>> = HashIndex::default();
    for (i, (key, experiment)) in defaults.into_iter().enumerate() {
        let message = DynamicMessage::decode(desc.clone(), experiment.encode_to_vec().as_slice())
            .map_err(|e| ArchitectureError::Defaults(format!("{key}: {e}")))?;
        leaves.clear();
        collect_leaves(&message, SEED, &mut leaves);
        let i = u16::try_from(i).unwrap_or(u16::MAX);
        for (path, pair) in &leaves {
            paths.entry(*path).or_default().push(i);
            pairs.entry(*pair).or_default().push(i);
            let known = pair_paths.entry(*pair).or_insert(Some(*path));
            if *known != Some(*path) {
                *known = None;
            }
        }
        keys.push(key);
        sizes.push(u32::try_from(leaves.len()).unwrap_or(u32::MAX));
    }
    let words = keys.len().div_ceil(64);
    let mut sets = Vec::new();
    let mut numbers: HashMap<Vec<u64>, u32> = HashMap::new();
    let mut to_sets = |map: HashIndex<Vec<u16>>| -> Result<HashIndex<u32>, ArchitectureError> {
        map.into_iter()
            .map(|(hash, keys)| {
                let mut set = vec![0u64; words];
                for k in keys {
                    set[usize::from(k) / 64] |= 1 << (k % 64);
                }
                let next = u32::try_from(numbers.len())
                    .ok()
                    .filter(|&n| n != NO_SET)
                    .ok_or_else(|| ArchitectureError::Defaults("too many distinct key sets".into()))?;
                let number = *numbers.entry(set).or_insert_with_key(|set| {
                    sets.extend_from_slice(set);
                    next
                });
                Ok((hash, number))
            })
            .collect()
    };
    let paths = to_sets(paths)?;
    let pairs = to_sets(pairs)?
        .into_iter()
        .map(|(pair, set)| {
            let path_set = pair_paths.get(&pair).copied().flatten().and_then(|path| paths.get(&path)).copied();
            (pair, (set, path_set.unwrap_or(NO_SET)))
        })
        .collect();
    let max_size = sizes.iter().copied().max().unwrap_or(0);
    let mut handicaps = vec![0u64; words * PLANES];
    let mut keys_mask = vec![0u64; words];
    for (k, size) in sizes.iter().enumerate() {
        let handicap = max_size - size;
        keys_mask[k / 64] |= 1 << (k % 64);
        for p in 0..PLANES {
            if handicap >> p & 1 == 1 {
                handicaps[p * words + k / 64] |= 1 << (k % 64);
            }
        }
    }
    Ok(Built { keys, sizes, words, paths, pairs, sets, max_size: max_size as usize, handicaps, keys_mask })
}

/// A set number that stands for none in [`Built::pairs`].
const NO_SET: u32 = u32::MAX;

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
        // `mix` ends with a multiplication, so its high bits are well mixed and its low bits
        // are not; the table picks buckets by the low bits: fold the high half onto them.
        self.0 = n ^ (n >> 32);
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
