//! The public builder.

use std::{borrow::Cow, collections::HashMap, sync::Arc};

use oef_catalog::{Architecture, Catalog};
use oef_proto::v0::{Experiment, hyperparameter::HyperParameter};
use prost_reflect::{DynamicMessage, MapKey, Value as PValue};
use serde_json::{Map, Value};

use crate::{
    BuildError,
    build::{BuildPass, Kwargs, Path, Tracker},
    hyper::{self, DistributionArg, HpEntry},
    node::Node,
    schema::Schema,
    switch::{self, SwitchPass},
};

/// Builds an experiment from an architecture, keyword arguments and hyperparameters, with the
/// semantics of the reference builder (`docs/reference-builder-semantics.md`).
///
/// Arguments are *names*, not paths: `set("batch_size", json!(8))` is offered to the whole
/// message tree. [`set`](Self::set) and [`hyperparameter`](Self::hyperparameter) never fail;
/// a problem with a hyperparameter is reported by [`build`](Self::build), first one first,
/// before anything else (the reference raises it when the hyperparameter is added).
#[derive(Debug, Clone)]
pub struct ExperimentBuilder {
    architecture: Cow<'static, Architecture>,
    schema: &'static Schema,
    switches: Result<Arc<Map<String, Value>>, BuildError>,
    kwargs: Vec<(String, Value)>,
    hyperparameters: Vec<(String, HpEntry)>,
    error: Option<BuildError>,
}

impl ExperimentBuilder {
    /// Starts from the catalog architecture `key` (or its legacy reordering).
    pub fn new(key: &str) -> Result<Self, BuildError> {
        let architecture = Catalog::global().get(key)?;
        Self::with_architecture(Cow::Borrowed(architecture))
    }

    /// Starts from an architecture that is not in the catalog (tests, experiments with new
    /// defaults). The entry is trusted to fit the schema like catalog entries do.
    pub fn from_architecture(architecture: Architecture) -> Result<Self, BuildError> {
        Self::with_architecture(Cow::Owned(architecture))
    }

    fn with_architecture(architecture: Cow<'static, Architecture>) -> Result<Self, BuildError> {
        let schema = Schema::v0().map_err(|reason| BuildError::InvalidValue {
            key: architecture.key.clone(),
            path: String::new(),
            reason: format!("the v0 schema cannot be planned: {reason}"),
        })?;
        let switches = match &architecture {
            // Catalog entries are `'static`: their merged switches are computed once.
            Cow::Borrowed(a) => switch::accumulate_shared(a),
            Cow::Owned(a) => switch::accumulate(&a.switch_args)
                .map(Arc::new)
                .map_err(|c| c.into_error(&a.key)),
        };
        Ok(ExperimentBuilder {
            architecture,
            schema,
            switches,
            kwargs: Vec::new(),
            hyperparameters: Vec::new(),
            error: None,
        })
    }

    /// The architecture this builder starts from.
    pub fn architecture(&self) -> &Architecture {
        &self.architecture
    }

    /// Sets the keyword argument `name` (exact, never trimmed) to `value`; setting a name
    /// again replaces its value. A dict value sets a message (`optimizer={"adam_optimizer":{}}`).
    pub fn set(mut self, name: impl Into<String>, value: Value) -> Self {
        self.set_mut(name, value);
        self
    }

    /// [`set`](Self::set) through a mutable reference.
    pub fn set_mut(&mut self, name: impl Into<String>, value: Value) -> &mut Self {
        let name = name.into();
        match self.kwargs.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.kwargs.push((name, value)),
        }
        self
    }

    /// Adds the hyperparameter `path` (dotted, e.g. `trainer.initial_learning_rate`) with a
    /// distribution, or with the default search space the schema declares when `None`.
    pub fn hyperparameter(mut self, path: &str, distribution: Option<HyperParameter>) -> Self {
        let arg = distribution.map_or(DistributionArg::Default, DistributionArg::Typed);
        self.add_hyperparameter(path, arg);
        self
    }

    /// [`hyperparameter`](Self::hyperparameter) with the distribution as proto3 JSON
    /// (`{"uniform": {"min": 1, "max": 2}}`; field names in either JSON or proto spelling).
    pub fn hyperparameter_json(mut self, path: &str, distribution: Option<&Value>) -> Self {
        let arg = distribution.map_or(DistributionArg::Default, DistributionArg::Json);
        self.add_hyperparameter(path, arg);
        self
    }

    fn add_hyperparameter(&mut self, path: &str, distribution: DistributionArg<'_>) {
        if self.error.is_some() {
            return; // the reference stopped at the first failing call
        }
        match hyper::add(self.schema, &self.architecture.key, path, distribution) {
            Ok(entry) => match self.hyperparameters.iter_mut().find(|(p, _)| p == path) {
                Some(slot) => slot.1 = entry,
                None => self.hyperparameters.push((path.to_owned(), entry)),
            },
            Err(e) => self.error = Some(e),
        }
    }

    /// Builds the v0 experiment.
    pub fn build(&self) -> Result<Experiment, BuildError> {
        let node = self.build_node()?;
        let mut bytes = Vec::with_capacity(4096);
        node.encode(self.schema, &mut bytes);
        oef_proto::decoder::decode::<Experiment>(&bytes).map_err(|e| {
            self.internal(format!(
                "the built message does not decode as the v0 type: {e}"
            ))
        })
    }

    /// Builds the experiment as a reflection message (required fields checked), in
    /// [`oef_proto::descriptor::v0_pool`].
    pub fn build_dynamic(&self) -> Result<DynamicMessage, BuildError> {
        self.build_node()?
            .into_dynamic(self.schema)
            .map_err(|e| self.internal(e))
    }

    fn internal(&self, reason: String) -> BuildError {
        BuildError::InvalidValue {
            key: self.architecture.key.clone(),
            path: String::new(),
            reason,
        }
    }

    fn build_node(&self) -> Result<Node, BuildError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let key = self.architecture.key.as_str();
        let switches: &Map<String, Value> = self.switches.as_ref().map_err(Clone::clone)?;
        let defaults = self.architecture.default_object();
        let kwargs: Kwargs<'_> = self.kwargs.iter().map(|(k, v)| (k.as_str(), v)).collect();

        // Every name that may be offered at some level (kwarg names and, recursively, the
        // keys of dict values) or whose use is checked: sub-builds no such name reaches are
        // skipped or shared.
        let mut names: Vec<&str> = defaults.keys().map(String::as_str).collect();
        names.extend(self.kwargs.iter().map(|(k, _)| k.as_str()));
        let mut offered = names.clone();
        for (_, value) in &self.kwargs {
            dict_keys(value, &mut offered);
        }
        let reach = self.schema.reach_mask(offered);

        let activated = SwitchPass {
            schema: self.schema,
            key,
            reach: &reach,
        }
        .run(
            0,
            Some(defaults),
            Some(switches),
            kwargs.clone(),
            &Path::ROOT,
        )?;

        let mut hps = HashMap::new();
        for (path, entry) in &self.hyperparameters {
            let last = path.rsplit('.').next().unwrap_or(path);
            hps.insert(last, (path.as_str(), entry));
        }
        let share_defaults = matches!(self.architecture, Cow::Borrowed(_));
        let mut pass = BuildPass {
            schema: self.schema,
            key,
            hps,
            tracker: Tracker::new(names),
            reach,
            share_defaults,
            in_shared: false,
        };
        let mut root = pass.run(0, Some(defaults), Some(&activated), kwargs, &Path::ROOT)?;

        let unused = pass.tracker.unused();
        if !unused.is_empty() {
            return Err(BuildError::UnusedArgument {
                key: key.to_owned(),
                names: unused,
            });
        }
        if let Node::Fresh(fresh) = &mut root {
            if !self.hyperparameters.is_empty() {
                let field = &self.schema.hyperparameters_field;
                let mut map = match fresh.message.get_field(field).into_owned() {
                    PValue::Map(map) => map,
                    _ => HashMap::new(),
                };
                for (path, entry) in &self.hyperparameters {
                    map.insert(
                        MapKey::String(path.clone()),
                        PValue::Message(entry.message.clone()),
                    );
                }
                fresh.message.set_field(field, PValue::Map(map));
            }
        }
        let mut missing = Vec::new();
        root.missing(self.schema, &mut String::new(), &mut missing);
        if !missing.is_empty() {
            return Err(BuildError::MissingRequired {
                key: key.to_owned(),
                fields: missing,
            });
        }
        Ok(root)
    }
}

/// Appends the keys of `value` if it is a dict, and of the dicts inside, recursively.
fn dict_keys<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    if let Value::Object(map) = value {
        for (k, v) in map {
            out.push(k);
            dict_keys(v, out);
        }
    }
}
