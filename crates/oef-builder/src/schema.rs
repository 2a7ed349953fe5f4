//! The schema the engine walks: per-message plans precomputed from protobuf descriptors.
//!
//! A [`Schema`] is built once from a root message descriptor; nothing in the engine names a
//! v0 message, so the same code can run over another format's descriptors.

use std::{collections::HashMap, sync::LazyLock};

/// Field-name lookups run for every key of every dict a build reads: foldhash, not SipHash
/// (names come from the schema and the catalog, not from an adversary).
type NameMap<V> = foldhash::HashMap<String, V>;

use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor, OneofDescriptor};

/// One field of a [`MessagePlan`].
#[derive(Debug, Clone)]
pub struct FieldPlan {
    /// The descriptor.
    pub desc: FieldDescriptor,
    /// The field name.
    pub name: String,
    /// For a singular (not repeated, not map) message field: the index of its message plan.
    pub message: Option<usize>,
    /// Whether the field is a message type (singular, repeated or map entry).
    pub is_message_type: bool,
    /// Whether the field is proto2 `required`.
    pub required: bool,
}

/// One oneof of a [`MessagePlan`].
#[derive(Debug, Clone)]
pub struct OneofPlan {
    /// The descriptor.
    pub desc: OneofDescriptor,
    /// The oneof name.
    pub name: String,
    /// Indexes of its members in [`MessagePlan::fields`].
    pub members: Vec<usize>,
}

/// A message with its fields in declaration order (the order the reference visits them).
#[derive(Debug, Clone)]
pub struct MessagePlan {
    /// The descriptor.
    pub desc: MessageDescriptor,
    /// The short name (`Trainer`), as the reference prints it.
    pub name: String,
    /// Fields in declaration order.
    pub fields: Vec<FieldPlan>,
    /// Oneofs in declaration order.
    pub oneofs: Vec<OneofPlan>,
    /// For each field, the oneof it belongs to (index into `oneofs`).
    pub field_oneof: Vec<Option<usize>>,
    /// Whether a required field can be missing in this message or below it (a required field
    /// here or in a singular sub-message plan, or messages in a list or map): the required
    /// check skips subtrees where this is false.
    pub may_miss_required: bool,
    /// Field indexes by name.
    by_name: NameMap<usize>,
}

impl MessagePlan {
    /// The index of the field named `name`, if any.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
}

/// Precomputed plans of every message reachable from a root message.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Plans; index 0 is the root.
    pub messages: Vec<MessagePlan>,
    /// The root's map field that receives hyperparameters (`hyperparameters`).
    pub hyperparameters_field: FieldDescriptor,
    /// The hyperparameter (distribution) message.
    pub hyperparameter_message: MessageDescriptor,
    /// Hyperparameter paths refused outright.
    pub not_optimizable: &'static [&'static str],
    /// For each field name, the plans where [`Schema::reaches_name`] holds.
    name_plans: NameMap<Vec<usize>>,
}

static V0: LazyLock<Result<Schema, String>> = LazyLock::new(|| {
    // From the v0-only pool: a third of the full pool's start-up cost, and v0 is all a build
    // reflects over.
    let root = oef_proto::descriptor::v0_pool()
        .get_message_by_name(oef_proto::descriptor::V0_EXPERIMENT)
        .ok_or_else(|| format!("{} is not in the v0 descriptor set", oef_proto::descriptor::V0_EXPERIMENT))?;
    Schema::new(
        root,
        "hyperparameters",
        &["trainer.num_train_steps", "trainer.num_train_epochs"],
    )
});

impl Schema {
    /// The format v0 schema (`deepomatic.oef.experiment.Experiment`), over
    /// [`oef_proto::descriptor::v0_pool`].
    pub fn v0() -> Result<&'static Schema, String> {
        V0.as_ref().map_err(Clone::clone)
    }

    /// Plans every message reachable from `root`. `hyperparameters_field` names the root's
    /// `map<string, HyperParameter>` field.
    pub fn new(
        root: MessageDescriptor,
        hyperparameters_field: &str,
        not_optimizable: &'static [&'static str],
    ) -> Result<Schema, String> {
        let hp_field = root
            .get_field_by_name(hyperparameters_field)
            .ok_or_else(|| format!("{} has no field {hyperparameters_field}", root.full_name()))?;
        let hp_message = match hp_field.kind() {
            Kind::Message(entry) if hp_field.is_map() => match entry.map_entry_value_field().kind()
            {
                Kind::Message(m) => m,
                _ => return Err(format!("{hyperparameters_field} values are not messages")),
            },
            _ => return Err(format!("{hyperparameters_field} is not a map field")),
        };
        let mut planner = Planner {
            messages: Vec::new(),
            index: HashMap::new(),
        };
        planner.plan(&root);
        // For each plan, every field name of the message and of the messages below it
        // through singular message fields: the names a keyword argument can match there.
        let name_plans = reachable_names(&planner.messages);
        mark_may_miss_required(&mut planner.messages);
        Ok(Schema {
            name_plans,
            messages: planner.messages,
            hyperparameters_field: hp_field,
            hyperparameter_message: hp_message,
            not_optimizable,
        })
    }

    /// The root plan.
    pub fn root(&self) -> &MessagePlan {
        &self.messages[0]
    }

    /// For each plan, whether any of `names` names a field of it or below it.
    pub fn reach_mask<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> Vec<bool> {
        let mut mask = vec![false; self.messages.len()];
        for name in names {
            for &plan in self
                .name_plans
                .get(name)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                mask[plan] = true;
            }
        }
        mask
    }
}

impl Schema {
    /// Dotted paths of the proto2 `required` fields missing in `message` or below it
    /// (`dataset.config_path`, `hyperparameters["x"].uniform.max`): the codec's
    /// [`oef_proto::codec::missing_required`].
    pub fn missing_required(&self, message: &prost_reflect::DynamicMessage) -> Vec<String> {
        oef_proto::codec::missing_required(message)
    }
}

/// For each field name, the plans where it names a field of the message or of a message
/// below it through singular message fields (a fixpoint over bitsets: schemas may recurse).
fn reachable_names(messages: &[MessagePlan]) -> NameMap<Vec<usize>> {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for field in messages.iter().flat_map(|m| &m.fields) {
        let next = ids.len();
        ids.entry(field.name.as_str()).or_insert(next);
    }
    let words = ids.len().div_ceil(64);
    let mut sets: Vec<Vec<u64>> = messages
        .iter()
        .map(|m| {
            let mut set = vec![0u64; words];
            for f in &m.fields {
                let id = ids[f.name.as_str()];
                set[id / 64] |= 1 << (id % 64);
            }
            set
        })
        .collect();
    propagate_up(messages, &mut sets, |set, below| {
        let mut changed = false;
        for (word, add) in set.iter_mut().zip(below) {
            if *word | add != *word {
                *word |= add;
                changed = true;
            }
        }
        changed
    });
    let mut out: NameMap<Vec<usize>> = NameMap::with_capacity_and_hasher(ids.len(), Default::default());
    for (name, id) in ids {
        let plans: Vec<usize> = (0..messages.len())
            .filter(|&p| sets[p][id / 64] & (1 << (id % 64)) != 0)
            .collect();
        out.insert(name.to_owned(), plans);
    }
    out
}

/// Sets [`MessagePlan::may_miss_required`] (a fixpoint: schemas may recurse).
fn mark_may_miss_required(messages: &mut [MessagePlan]) {
    let mut may_miss: Vec<bool> = messages
        .iter()
        .map(|plan| plan.fields.iter().any(|f| f.required || (f.is_message_type && f.message.is_none())))
        .collect();
    propagate_up(messages, &mut may_miss, |here, &below| {
        let changed = below && !*here;
        *here |= below;
        changed
    });
    for (plan, may_miss) in messages.iter_mut().zip(may_miss) {
        plan.may_miss_required = may_miss;
    }
}

/// Merges each plan's state from the plans of its singular sub-message fields, again until
/// nothing changes (schemas may recurse). `absorb(state, below)` merges `below` into `state`
/// and says whether `state` changed.
fn propagate_up<S: Clone>(messages: &[MessagePlan], state: &mut [S], absorb: impl Fn(&mut S, &S) -> bool) {
    loop {
        let mut changed = false;
        for (i, message) in messages.iter().enumerate() {
            for child in message.fields.iter().filter_map(|f| f.message) {
                if child != i {
                    let below = state[child].clone();
                    changed |= absorb(&mut state[i], &below);
                }
            }
        }
        if !changed {
            break;
        }
    }
}

struct Planner {
    messages: Vec<MessagePlan>,
    index: HashMap<String, usize>,
}

impl Planner {
    fn plan(&mut self, desc: &MessageDescriptor) -> usize {
        if let Some(&i) = self.index.get(desc.full_name()) {
            return i;
        }
        let me = self.messages.len();
        self.index.insert(desc.full_name().to_owned(), me);
        // Placeholder, filled once the fields (and recursive children) are planned.
        self.messages.push(MessagePlan {
            desc: desc.clone(),
            name: desc.name().to_owned(),
            fields: Vec::new(),
            oneofs: Vec::new(),
            field_oneof: Vec::new(),
            may_miss_required: false,
            by_name: NameMap::default(),
        });
        // Declaration order: `MessageDescriptor::fields` iterates by number.
        let declared: Vec<FieldDescriptor> = desc
            .descriptor_proto()
            .field
            .iter()
            .filter_map(|f| desc.get_field_by_name(f.name()))
            .collect();
        let mut fields = Vec::with_capacity(declared.len());
        for field in declared {
            let is_message_type = matches!(field.kind(), Kind::Message(_));
            let message = match field.kind() {
                Kind::Message(m) if !field.is_list() && !field.is_map() => Some(self.plan(&m)),
                _ => None,
            };
            fields.push(FieldPlan {
                name: field.name().to_owned(),
                required: field.cardinality() == Cardinality::Required,
                message,
                is_message_type,
                desc: field,
            });
        }
        let oneofs: Vec<OneofPlan> = desc
            .oneofs()
            .filter(|o| !o.is_synthetic())
            .map(|o| OneofPlan {
                name: o.name().to_owned(),
                members: o
                    .fields()
                    .filter_map(|m| fields.iter().position(|f: &FieldPlan| f.name == m.name()))
                    .collect(),
                desc: o,
            })
            .collect();
        let mut field_oneof = vec![None; fields.len()];
        for (i, o) in oneofs.iter().enumerate() {
            for &m in &o.members {
                field_oneof[m] = Some(i);
            }
        }
        let plan = &mut self.messages[me];
        plan.fields = fields;
        plan.oneofs = oneofs;
        plan.field_oneof = field_oneof;
        plan.by_name = plan
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        me
    }
}
