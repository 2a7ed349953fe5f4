//! The embedded catalog, parsed once.

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    sync::LazyLock,
};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{Architecture, CatalogError, LazyJson, Switch, edit_distance, legacy_key};

/// The embedded catalog files: `(task family, JSON text)`. Each file is an object mapping
/// architecture keys (sorted) to `{display_name, default_args, switch_args}`.
pub const SOURCES: &[(&str, &str)] = &[
    (
        "image_classification",
        include_str!("../catalog/image_classification.json"),
    ),
    (
        "image_detection",
        include_str!("../catalog/image_detection.json"),
    ),
    ("image_ocr", include_str!("../catalog/image_ocr.json")),
    (
        "image_segmentation",
        include_str!("../catalog/image_segmentation.json"),
    ),
];

/// How many suggestions [`CatalogError::UnknownArchitecture`] carries.
const SUGGESTIONS: usize = 3;

/// One entry as stored in a catalog file (the key is the map key).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry<'a> {
    display_name: String,
    /// Kept as text, borrowed from the file: parsed on first use ([`LazyJson`]).
    #[serde(borrow)]
    default_args: &'a RawValue,
    #[serde(default)]
    switch_args: Vec<Switch>,
}

/// The architecture catalog: every architecture, sorted by key.
#[derive(Debug, Clone)]
pub struct Catalog {
    architectures: Vec<Architecture>,
    index: HashMap<String, usize>,
}

static GLOBAL: LazyLock<Catalog> = LazyLock::new(|| {
    // Invariant: the embedded files are checked by this crate's tests (`embedded_catalog_parses`
    // and the schema validation); a failure here is a build defect, not an input error. The
    // entries' `default_args` are parsed on first use (each entry's text was checked here).
    Catalog::split_sources(SOURCES, Cow::Borrowed).unwrap_or_else(|e| panic!("embedded catalog is invalid: {e}"))
});

/// Selects architectures by key part; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Task family, e.g. `image_detection`.
    pub task: Option<String>,
    /// Pretraining, e.g. `pretraining_none`.
    pub pretraining: Option<String>,
    /// Meta-architecture, e.g. `ssd`.
    pub meta_arch: Option<String>,
    /// Backbone, e.g. `mobilenet_v1`.
    pub backbone: Option<String>,
}

impl Filter {
    /// Whether `architecture` passes every criterion that is set.
    pub fn matches(&self, architecture: &Architecture) -> bool {
        let ok = |want: &Option<String>, got: &str| want.as_deref().is_none_or(|w| w == got);
        ok(&self.task, architecture.task())
            && ok(&self.pretraining, architecture.pretraining())
            && ok(&self.meta_arch, architecture.meta_arch())
            && ok(&self.backbone, architecture.backbone())
    }
}

impl Catalog {
    /// The embedded catalog, parsed on first use.
    pub fn global() -> &'static Catalog {
        &GLOBAL
    }

    /// Parses catalog files (`(task family, JSON text)` pairs, as in [`SOURCES`]), every entry
    /// whole. A key present in two files is an error.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Catalog, String> {
        let catalog = Catalog::split_sources(sources, |raw| Cow::Owned(raw.to_owned()))?;
        for architecture in &catalog.architectures {
            architecture
                .default_args
                .try_parse()
                .map_err(|e| format!("{}: default_args: {e}", architecture.key))?;
        }
        Ok(catalog)
    }

    /// Splits catalog files into entries, each checked as JSON text, with `default_args` left
    /// unparsed ([`LazyJson`]) and kept by `keep` (borrowed when the files are `'static`). A key
    /// present in two files is an error.
    fn split_sources<'a>(
        sources: &[(&'a str, &'a str)],
        keep: impl Fn(&'a RawValue) -> Cow<'static, RawValue>,
    ) -> Result<Catalog, String> {
        // The files are parsed on scoped threads, one per file: the catalog is parsed at the
        // start of every `oef` command that needs it, and this halves that wait on 2 cores.
        let parsed: Vec<Result<BTreeMap<String, Entry<'a>>, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = sources
                .iter()
                .map(|&(family, text)| {
                    scope.spawn(move || {
                        serde_json::from_str(text).map_err(|e| format!("catalog/{family}.json: {e}"))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        });
        let mut all = BTreeMap::new();
        for ((family, _), entries) in sources.iter().zip(parsed) {
            for (key, entry) in entries? {
                if all.contains_key(&key) {
                    return Err(format!("catalog/{family}.json: duplicate key '{key}'"));
                }
                all.insert(key, entry);
            }
        }
        let architectures: Vec<Architecture> = all
            .into_iter()
            .map(|(key, e)| Architecture {
                key,
                display_name: e.display_name,
                default_args: LazyJson::from_raw(keep(e.default_args)),
                switch_args: e.switch_args,
            })
            .collect();
        Ok(Catalog::from_architectures(architectures))
    }

    /// A catalog of the given architectures (sorted by key; a later duplicate replaces an
    /// earlier one).
    pub fn from_architectures(mut architectures: Vec<Architecture>) -> Catalog {
        architectures.sort_by(|a, b| a.key.cmp(&b.key));
        architectures.dedup_by(|later, earlier| {
            if later.key == earlier.key {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        let index = architectures
            .iter()
            .enumerate()
            .map(|(i, a)| (a.key.clone(), i))
            .collect();
        Catalog {
            architectures,
            index,
        }
    }

    /// The architecture named `key`, or, like the reference builder, the one named by its
    /// legacy reordering ([`legacy_key`]). Unknown: an error listing the closest keys.
    pub fn get(&self, key: &str) -> Result<&Architecture, CatalogError> {
        if let Some(found) = self.get_exact(key) {
            return Ok(found);
        }
        let tried = legacy_key(key);
        if let Some(found) = self.get_exact(&tried) {
            return Ok(found);
        }
        Err(CatalogError::UnknownArchitecture {
            key: key.to_owned(),
            tried,
            closest: self
                .closest(key, SUGGESTIONS)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        })
    }

    /// The architecture named exactly `key`, if any.
    pub fn get_exact(&self, key: &str) -> Option<&Architecture> {
        self.index.get(key).map(|&i| &self.architectures[i])
    }

    /// Every architecture, sorted by key.
    pub fn iter(&self) -> std::slice::Iter<'_, Architecture> {
        self.architectures.iter()
    }

    /// The number of architectures.
    pub fn len(&self) -> usize {
        self.architectures.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.architectures.is_empty()
    }

    /// The architectures passing `filter`, sorted by key.
    pub fn filter<'a>(&'a self, filter: &'a Filter) -> impl Iterator<Item = &'a Architecture> + 'a {
        self.iter().filter(move |a| filter.matches(a))
    }

    /// The architectures of one task family (first key part).
    pub fn by_task<'a>(&'a self, task: &'a str) -> impl Iterator<Item = &'a Architecture> + 'a {
        self.iter().filter(move |a| a.task() == task)
    }

    /// The architectures with one pretraining (second key part).
    pub fn by_pretraining<'a>(
        &'a self,
        pretraining: &'a str,
    ) -> impl Iterator<Item = &'a Architecture> + 'a {
        self.iter().filter(move |a| a.pretraining() == pretraining)
    }

    /// The architectures with one meta-architecture (third key part).
    pub fn by_meta_arch<'a>(
        &'a self,
        meta_arch: &'a str,
    ) -> impl Iterator<Item = &'a Architecture> + 'a {
        self.iter().filter(move |a| a.meta_arch() == meta_arch)
    }

    /// The architectures with one backbone (last key part).
    pub fn by_backbone<'a>(
        &'a self,
        backbone: &'a str,
    ) -> impl Iterator<Item = &'a Architecture> + 'a {
        self.iter().filter(move |a| a.backbone() == backbone)
    }

    /// The `n` keys closest to `key` by edit distance, nearest first (ties by key order).
    pub fn closest(&self, key: &str, n: usize) -> Vec<&str> {
        let mut scored: Vec<(usize, &str)> = self
            .iter()
            .map(|a| (edit_distance(key, &a.key), a.key.as_str()))
            .collect();
        scored.sort_unstable();
        scored.into_iter().take(n).map(|(_, k)| k).collect()
    }
}

impl<'a> IntoIterator for &'a Catalog {
    type Item = &'a Architecture;
    type IntoIter = std::slice::Iter<'a, Architecture>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
