//! Switches: accumulation of `switch_args` and the switch pass.
//!
//! `switch_args` are merged into `{path…: {oneof: {member: target_value}}}` (dotted keys
//! split, conflicts are errors). The switch pass then walks the tree like the build pass, with
//! the member of each oneof selected by kwargs, else by defaults (switch values are not
//! considered), and merges the root-relative `target_value` of every selected member that has
//! one.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

use serde_json::{Map, Value};

use crate::{
    BuildError,
    build::{Kwargs, Path, sub_kwargs},
    pyvalue::py_repr,
    schema::Schema,
};

/// A merge conflict: the dotted path and the two values.
pub(crate) struct Conflict {
    pub(crate) path: String,
    pub(crate) current: String,
    pub(crate) new: String,
}

impl Conflict {
    pub(crate) fn into_error(self, key: &str) -> BuildError {
        BuildError::ConflictingSwitch {
            key: key.to_owned(),
            path: self.path,
            current: self.current,
            new: self.new,
        }
    }
}

/// The reference's `dict_inject`: a copy of `initial` with `values` merged in, dotted keys of
/// `values` expanded into nested dicts; a key present on both sides with different non-dict
/// values is a conflict.
pub(crate) fn dict_inject(
    initial: &Map<String, Value>,
    values: &Map<String, Value>,
) -> Result<Map<String, Value>, Conflict> {
    let mut result = initial.clone();
    inject_into(&mut result, values)?;
    Ok(result)
}

/// [`dict_inject`] in place.
fn inject_into(
    result: &mut Map<String, Value>,
    values: &Map<String, Value>,
) -> Result<(), Conflict> {
    for (key, value) in values {
        let mut wrapped = match value {
            Value::Object(inner) => Value::Object(dict_inject(&Map::new(), inner)?),
            other => other.clone(),
        };
        let mut parts: Vec<&str> = key.split('.').collect();
        let first = parts.remove(0);
        for part in parts.iter().rev() {
            let mut m = Map::new();
            m.insert((*part).to_owned(), wrapped);
            wrapped = Value::Object(m);
        }
        let mut single = Map::new();
        single.insert(first.to_owned(), wrapped);
        inject_sub(result, single, None)?;
    }
    Ok(())
}

fn inject_sub(
    target: &mut Map<String, Value>,
    values: Map<String, Value>,
    prefix: Option<&str>,
) -> Result<(), Conflict> {
    for (key, value) in values {
        let Some(current) = target.get_mut(&key) else {
            target.insert(key, value);
            continue;
        };
        let path = match prefix {
            Some(p) => format!("{p}.{key}"),
            None => key.clone(),
        };
        match (current, value) {
            (Value::Object(cur), Value::Object(new)) => inject_sub(cur, new, Some(&path))?,
            (cur, new) => {
                if !crate::pyvalue::py_eq(cur, &new) || cur.is_object() || new.is_object() {
                    return Err(Conflict {
                        path,
                        current: py_repr(cur),
                        new: py_repr(&new),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Merges the switches of an architecture into `{path…: {oneof: {member: target}}}`.
pub(crate) fn accumulate(switches: &[oef_catalog::Switch]) -> Result<Map<String, Value>, Conflict> {
    let mut acc = Map::new();
    for switch in switches {
        let mut member = Map::new();
        member.insert(switch.triggering_value.clone(), switch.target_value.clone());
        let mut entry = Map::new();
        entry.insert(switch.field.clone(), Value::Object(member));
        inject_into(&mut acc, &entry)?; // in place: on a conflict the result is dropped anyway
    }
    Ok(acc)
}

type Shared = Result<Arc<Map<String, Value>>, BuildError>;

static SHARED: LazyLock<Mutex<HashMap<usize, Shared>>> = LazyLock::new(Default::default);

/// [`accumulate`] for a catalog architecture, computed once per process (keyed by the
/// address of the `'static` entry).
pub(crate) fn accumulate_shared(architecture: &'static oef_catalog::Architecture) -> Shared {
    let id = std::ptr::from_ref(architecture) as usize;
    if let Some(done) = SHARED.lock().ok().and_then(|cache| cache.get(&id).cloned()) {
        return done;
    }
    let done: Shared = accumulate(&architecture.switch_args)
        .map(Arc::new)
        .map_err(|c| c.into_error(&architecture.key));
    if let Ok(mut cache) = SHARED.lock() {
        cache.insert(id, done.clone());
    }
    done
}

pub(crate) struct SwitchPass<'s> {
    pub(crate) schema: &'s Schema,
    pub(crate) key: &'s str,
    /// See [`crate::build::BuildPass::reach`].
    pub(crate) reach: &'s [bool],
}

impl SwitchPass<'_> {
    /// The switch pass over message `plan`; returns the merged root-relative target values.
    pub(crate) fn run<'a>(
        &self,
        plan: usize,
        defaults: Option<&'a Map<String, Value>>,
        switch: Option<&'a Map<String, Value>>,
        mut kwargs: Kwargs<'a>,
        path: &Path<'_>,
    ) -> Result<Map<String, Value>, BuildError> {
        let message = &self.schema.messages[plan];
        let mut selected_args = Map::new();
        let mut skipped = vec![false; message.fields.len()];
        for oneof in &message.oneofs {
            let mut selected: Vec<usize> = oneof
                .members
                .iter()
                .copied()
                .filter(|&m| kwargs.iter().any(|(k, _)| *k == message.fields[m].name))
                .collect();
            if selected.is_empty() {
                selected = oneof
                    .members
                    .iter()
                    .copied()
                    .filter(|&m| defaults.is_some_and(|d| d.contains_key(&message.fields[m].name)))
                    .collect();
            }
            if selected.len() > 1 {
                return Err(crate::build::oneof_conflict(
                    self.key, path, message, oneof, &selected,
                ));
            }
            for &m in &oneof.members {
                skipped[m] = !selected.contains(&m);
            }
            // The reference indexes `selected[0]`: with nothing selected it would fail; no
            // catalog entry switches on a oneof its defaults leave empty (tested).
            let Some(&chosen) = selected.first() else {
                continue;
            };
            let target = switch
                .and_then(|s| s.get(&oneof.name))
                .and_then(Value::as_object)
                .and_then(|o| o.get(&message.fields[chosen].name));
            if let Some(target) = target {
                let Some(target) = target.as_object() else {
                    return Err(BuildError::InvalidValue {
                        key: self.key.to_owned(),
                        path: format!(
                            "switch_args[{}.{}]",
                            path.child(&oneof.name),
                            message.fields[chosen].name
                        ),
                        reason: format!("target_value must be a dict, got {}", py_repr(target)),
                    });
                };
                inject_into(&mut selected_args, target).map_err(|c| c.into_error(self.key))?;
            }
        }
        for (i, field) in message.fields.iter().enumerate() {
            if skipped[i] {
                continue;
            }
            let Some(child) = field.message else { continue };
            let popped = kwargs.iter().any(|(k, _)| *k == field.name);
            let sub_switch = switch
                .and_then(|s| s.get(&field.name))
                .and_then(Value::as_object);
            if !popped && sub_switch.is_none() && !self.reach[child] {
                // No switch below and no kwarg can reach it: defaults alone select members
                // (catalog defaults never set two of a oneof, tested), trigger nothing, fail
                // nowhere.
                continue;
            }
            let here = path.child(&field.name);
            let sub = sub_kwargs(
                self.key,
                &mut kwargs,
                &field.name,
                &self.schema.messages[child].name,
                &here,
            )?;
            let sub_defaults =
                crate::build::sub_object(self.key, defaults, &field.name, &here, "default_args")?;
            let result = self.run(child, sub_defaults, sub_switch, sub, &here)?;
            if selected_args.is_empty() {
                selected_args = result; // already expanded and merged below
            } else if !result.is_empty() {
                inject_into(&mut selected_args, &result).map_err(|c| c.into_error(self.key))?;
            }
        }
        Ok(selected_args)
    }
}
