//! The build pass: per message, select oneof members (kwargs > switch > defaults), take scalar
//! and repeated values whole (kwargs > switch > defaults), recurse into every singular message
//! field and keep it if named anywhere or required; then construct the message with the Python
//! constructor's type rules ([`crate::convert`]).

use std::collections::HashMap;

use prost_reflect::DynamicMessage;
use serde_json::{Map, Value};

use crate::{
    BuildError, convert,
    hyper::HpEntry,
    node::{self, Fresh, Node},
    pyvalue::{py_repr, py_type},
    schema::{MessagePlan, OneofPlan, Schema},
};

/// A dotted field path, built on the stack while walking and rendered only for errors.
#[derive(Clone, Copy)]
pub(crate) struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    name: &'p str,
}

impl<'p> Path<'p> {
    /// The root (renders as the empty string).
    pub(crate) const ROOT: Path<'static> = Path {
        parent: None,
        name: "",
    };

    /// The path of field `name` below this one.
    pub(crate) fn child(&'p self, name: &'p str) -> Path<'p> {
        Path {
            parent: Some(self),
            name,
        }
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(parent) = self.parent {
            if parent.parent.is_some() {
                write!(f, "{parent}.")?;
            }
        }
        f.write_str(self.name)
    }
}

/// Keyword arguments visible at one level, in insertion order: names are unique.
pub(crate) type Kwargs<'a> = Vec<(&'a str, &'a Value)>;

pub(crate) fn oneof_conflict(
    key: &str,
    path: &Path<'_>,
    message: &MessagePlan,
    oneof: &OneofPlan,
    selected: &[usize],
) -> BuildError {
    let mut members: Vec<String> = selected
        .iter()
        .map(|&m| message.fields[m].name.clone())
        .collect();
    members.sort();
    BuildError::OneofConflict {
        key: key.to_owned(),
        path: path.to_string(),
        message: message.name.clone(),
        oneof: oneof.name.clone(),
        members,
    }
}

/// Pops the kwarg named `name` (a message field) and returns the kwargs of the sub-level: the
/// popped dict's entries, overridden by the remaining outer kwargs.
pub(crate) fn sub_kwargs<'a>(
    key: &str,
    kwargs: &mut Kwargs<'a>,
    name: &str,
    message: &str,
    path: &Path<'_>,
) -> Result<Kwargs<'a>, BuildError> {
    let mut sub: Kwargs<'a> = Vec::new();
    if let Some(i) = kwargs.iter().position(|(k, _)| *k == name) {
        let (_, value) = kwargs.remove(i);
        let Some(object) = value.as_object() else {
            return Err(BuildError::InvalidValue {
                key: key.to_owned(),
                path: path.to_string(),
                reason: format!(
                    "expected a dict (message {message}), got {} {}",
                    py_type(value),
                    py_repr(value)
                ),
            });
        };
        sub.reserve(object.len() + kwargs.len());
        sub.extend(object.iter().map(|(k, v)| (k.as_str(), v)));
    }
    for &(k, v) in kwargs.iter() {
        match sub.iter_mut().find(|(s, _)| *s == k) {
            Some(slot) => slot.1 = v,
            None => sub.push((k, v)),
        }
    }
    Ok(sub)
}

/// `parent[name]` as a dict (absent: `None`); anything else is an invalid value.
pub(crate) fn sub_object<'a>(
    key: &str,
    parent: Option<&'a Map<String, Value>>,
    name: &str,
    path: &Path<'_>,
    what: &str,
) -> Result<Option<&'a Map<String, Value>>, BuildError> {
    as_object(key, parent.and_then(|p| p.get(name)), path, what)
}

/// A default or switch value for a message field: a dict, or absent.
pub(crate) fn as_object<'a>(
    key: &str,
    value: Option<&'a Value>,
    path: &Path<'_>,
    what: &str,
) -> Result<Option<&'a Map<String, Value>>, BuildError> {
    match value {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(BuildError::InvalidValue {
            key: key.to_owned(),
            path: path.to_string(),
            reason: format!(
                "{what} must be a dict for a message field, got {}",
                py_repr(other)
            ),
        }),
    }
}

/// Names whose use is checked after the build (top-level kwargs and default keys).
pub(crate) struct Tracker<'a> {
    pub(crate) names: Vec<&'a str>,
    used: Vec<bool>,
}

impl<'a> Tracker<'a> {
    pub(crate) fn new(names: Vec<&'a str>) -> Self {
        let used = vec![false; names.len()];
        Tracker { names, used }
    }

    fn mark(&mut self, name: &str) {
        for (i, n) in self.names.iter().enumerate() {
            if *n == name {
                self.used[i] = true;
            }
        }
    }

    /// The names never used, sorted and deduplicated.
    pub(crate) fn unused(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .names
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|(n, _)| (*n).to_owned())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// What a build pass knows of one field of the message it is building.
#[derive(Clone, Copy, Default)]
struct Slot<'a> {
    /// The catalog default.
    default: Option<&'a Value>,
    /// The value of an activated switch.
    switch: Option<&'a Value>,
    /// Whether a keyword argument names the field.
    kwarg: bool,
    /// Whether the field is a oneof member the pass does not select.
    skipped: bool,
}

enum Real<'a> {
    Json(&'a Value),
    Built(Node),
}

pub(crate) struct BuildPass<'s, 'a> {
    pub(crate) schema: &'s Schema,
    pub(crate) key: &'s str,
    /// Hyperparameters by the last segment of their path (a later path wins).
    pub(crate) hps: HashMap<&'a str, (&'a str, &'a HpEntry)>,
    pub(crate) tracker: Tracker<'a>,
    /// For each plan: whether a name that may be offered or checked in this build names a
    /// field there or below ([`Schema::reach_mask`]).
    pub(crate) reach: Vec<bool>,
    /// Whether default-only subtrees may be shared across builds (catalog architectures,
    /// whose data is `'static`).
    pub(crate) share_defaults: bool,
    /// Whether the pass is inside a default-only subtree that will be cached whole: subtrees
    /// below it are not cached on their own (they would only repeat its bytes).
    pub(crate) in_shared: bool,
}

impl<'a> BuildPass<'_, 'a> {
    pub(crate) fn run(
        &mut self,
        plan: usize,
        defaults: Option<&'a Map<String, Value>>,
        switch: Option<&'a Map<String, Value>>,
        mut kwargs: Kwargs<'a>,
        path: &Path<'_>,
    ) -> Result<Node, BuildError> {
        let schema = self.schema;
        let message = &schema.messages[plan];
        let n = message.fields.len();
        // What defaults, switch values and kwargs give, by field index (each map read once).
        let mut slots: Vec<Slot<'a>> = vec![Slot::default(); n];
        if let Some(d) = defaults {
            let mut unexpected: Vec<&str> = Vec::new();
            for (k, v) in d {
                match message.field_index(k) {
                    Some(i) => slots[i].default = Some(v),
                    None => unexpected.push(k),
                }
            }
            if !unexpected.is_empty() {
                unexpected.sort_unstable();
                return Err(BuildError::InvalidValue {
                    key: self.key.to_owned(),
                    path: path.to_string(),
                    reason: format!(
                        "unexpected default argument(s) for message {}: {}",
                        message.name,
                        unexpected.join(", ")
                    ),
                });
            }
        }
        if let Some(s) = switch {
            for (k, v) in s {
                if let Some(i) = message.field_index(k) {
                    slots[i].switch = Some(v);
                }
            }
        }
        // A kwarg named after field i is only ever popped while field i is processed.
        for (k, _) in &kwargs {
            if let Some(i) = message.field_index(k) {
                slots[i].kwarg = true;
            }
        }

        for oneof in &message.oneofs {
            let named_in = |set: &dyn Fn(&Slot<'a>) -> bool| -> Vec<usize> {
                oneof.members.iter().copied().filter(|&m| set(&slots[m])).collect()
            };
            let mut selected = named_in(&|s| s.kwarg);
            if selected.is_empty() {
                selected = named_in(&|s| s.switch.is_some());
            }
            if selected.is_empty() {
                selected = named_in(&|s| s.default.is_some());
            }
            if selected.len() > 1 {
                return Err(oneof_conflict(self.key, path, message, oneof, &selected));
            }
            for &m in &oneof.members {
                slots[m].skipped = !selected.contains(&m);
            }
        }

        let mut real: Vec<(usize, Real<'a>)> = Vec::new();
        for (i, (field, slot)) in message.fields.iter().zip(&slots).enumerate() {
            if slot.skipped {
                continue;
            }
            let name = field.name.as_str();
            match field.message {
                None => {
                    if slot.kwarg {
                        let pos = kwargs
                            .iter()
                            .position(|(k, _)| *k == name)
                            .unwrap_or_default();
                        let value = kwargs[pos].1;
                        self.check_space(field, value, &path.child(name))?;
                        kwargs.remove(pos);
                        real.push((i, Real::Json(value)));
                    } else if let Some(v) = slot.switch.or(slot.default) {
                        real.push((i, Real::Json(v)));
                    }
                }
                Some(child) => {
                    let here = path.child(name);
                    let mut used = false;
                    if slot.kwarg {
                        if let Some(&(_, value)) = kwargs.iter().find(|(k, _)| *k == name) {
                            self.check_space(field, value, &here)?;
                        }
                        used = true;
                    }
                    let child_name = &schema.messages[child].name;
                    let sub = if slot.kwarg || !kwargs.is_empty() {
                        sub_kwargs(self.key, &mut kwargs, name, child_name, &here)?
                    } else {
                        Vec::new()
                    };
                    let sub_defaults =
                        as_object(self.key, slot.default, &here, "default_args")?;
                    used |= sub_defaults.is_some();
                    let sub_switch = as_object(self.key, slot.switch, &here, "switch value")?;
                    used |= sub_switch.is_some();
                    // No kwarg can be consumed below, and no name whose use is checked can be
                    // marked there (empty required sub-messages are named even when discarded).
                    let unreachable = !self.reach[child];
                    if !used && !field.required && unreachable {
                        // The reference's sub-build would be empty, silent and discarded.
                        continue;
                    }
                    let shareable = self.share_defaults && sub_switch.is_none() && unreachable;
                    let built = if shareable {
                        // Built from defaults alone: the same for every build of this
                        // architecture (no kwarg, switch value or tracked name reaches it).
                        let key = (
                            child,
                            sub_defaults.map_or(0, |d| std::ptr::from_ref(d) as usize),
                        );
                        match node::cached(key) {
                            Some(c) => Node::Cached(c),
                            // The enclosing shared subtree caches this one within its bytes.
                            None if self.in_shared => {
                                self.run(child, sub_defaults, sub_switch, sub, &here)?
                            }
                            None => {
                                self.in_shared = true;
                                let fresh = self.run(child, sub_defaults, sub_switch, sub, &here);
                                self.in_shared = false;
                                node::store(schema, key, fresh?)
                            }
                        }
                    } else {
                        self.run(child, sub_defaults, sub_switch, sub, &here)?
                    };
                    if used || field.required {
                        real.push((i, Real::Built(built)));
                    }
                }
            }
        }

        let mut out = DynamicMessage::new(message.desc.clone());
        let mut children = Vec::new();
        for (i, value) in real {
            let field = &message.fields[i];
            self.tracker.mark(&field.name);
            match value {
                Real::Built(node) => children.push((i, node)),
                Real::Json(v) => match convert::field_value(&field.desc, v) {
                    Ok(Some(converted)) => out.set_field(&field.desc, converted),
                    Ok(None) => {}
                    Err(e) => {
                        return Err(BuildError::InvalidValue {
                            key: self.key.to_owned(),
                            path: format!("{}{}", path.child(&field.name), e.suffix),
                            reason: e.reason,
                        });
                    }
                },
            }
        }
        Ok(Node::Fresh(Fresh {
            message: out,
            children,
            plan,
        }))
    }
}
