//! Search-space validation of a decoded experiment (v0 `Experiment` or v1 `Experiment`), used
//! by `oef validate`, `oef build --format-version 1` and the platform service.
//!
//! For each entry of `Experiment.hyperparameters` (key = dotted path, value = distribution):
//! the path must resolve in the schema (a path ending at a message means that message's single
//! oneof), must not be `trainer.num_train_steps` / `trainer.num_train_epochs`, the distribution
//! must be well formed, and the experiment's value at that path, when set, must lie in it
//! (categorical: among the values; uniform / log-uniform: within [min, max]; normal: within
//! mu ± 5 sigma).

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, ReflectMessage, Value};

/// One problem, located by dotted field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted field path of the offending value or hyperparameter entry.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// Paths that the reference refuses to optimize.
const NOT_OPTIMIZABLE: [&str; 2] = ["trainer.num_train_steps", "trainer.num_train_epochs"];

/// Checks the search spaces of an experiment (a v0 `Experiment` or a v1 `Experiment`): every
/// problem, in the order of the `hyperparameters` keys.
pub fn search_spaces(experiment: &DynamicMessage) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(Value::Map(entries)) = experiment.get_field_by_name("hyperparameters").map(|v| v.into_owned()) else {
        return problems;
    };
    let mut entries: Vec<_> = entries.into_iter().collect();
    entries.sort_by(|(a, _), (b, _)| a.cmp(b));
    for (key, distribution) in &entries {
        let (MapKey::String(path), Value::Message(distribution)) = (key, distribution) else {
            continue;
        };
        let at = format!("hyperparameters[{path:?}]");
        if NOT_OPTIMIZABLE.contains(&path.as_str()) {
            problems.push(Problem { path: at, reason: format!("`{path}` is not available for hyperparameter optimization") });
            continue;
        }
        match resolve(experiment, path) {
            Err(reason) => problems.push(Problem { path: at, reason }),
            Ok(current) => {
                if let Err(reason) = check_distribution(distribution) {
                    problems.push(Problem { path: at.clone(), reason });
                } else if let Some(value) = current {
                    if let Err(reason) = contains(distribution, &value) {
                        problems.push(Problem { path: path.clone(), reason });
                    }
                }
            }
        }
    }
    problems
}

/// A value found at a hyperparameter path.
#[derive(Debug, Clone, PartialEq)]
enum Current {
    Number(f64),
    Bool(bool),
    Text(String),
}

impl std::fmt::Display for Current {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Current::Number(x) => f.write_str(&show(*x)),
            Current::Bool(b) => write!(f, "{b}"),
            Current::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// A number as written in the schema: float32 values (most OEF fields) in their shortest form.
fn show(x: f64) -> String {
    // Bounds computed in double from float32 values (mu ± 5 sigma) print as float32 too.
    let narrow = x as f32;
    if (f64::from(narrow) - x).abs() <= x.abs() * 1e-7 { narrow.to_string() } else { x.to_string() }
}

/// Resolves `path` in the schema of `root` and returns the value set there, if any.
fn resolve(root: &DynamicMessage, path: &str) -> Result<Option<Current>, String> {
    let mut desc = root.descriptor();
    let mut message: Option<DynamicMessage> = Some(root.clone());
    let segments: Vec<&str> = path.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let field = desc.get_field_by_name(segment).ok_or_else(|| {
            format!("'{segment}' field not found in protobuf message '{}'", desc.name())
        })?;
        let value = message.as_ref().filter(|m| m.has_field(&field)).map(|m| m.get_field(&field).into_owned());
        match field.kind() {
            Kind::Message(sub) if !field.is_list() && !field.is_map() => {
                let sub_value = match value {
                    Some(Value::Message(m)) => Some(m),
                    _ => None,
                };
                if last {
                    let oneofs: Vec<_> = sub.oneofs().filter(|o| !o.is_synthetic()).collect();
                    if oneofs.len() != 1 {
                        return Err(format!("Number of OneOfs should be 1, found {} in '{}'", oneofs.len(), sub.name()));
                    }
                    let selected = sub_value.and_then(|m| {
                        oneofs[0].fields().find(|f| m.has_field(f)).map(|f| f.name().to_owned())
                    });
                    return Ok(selected.map(Current::Text));
                }
                desc = sub;
                message = sub_value;
            }
            _ => {
                // The reference stops at the first scalar field and ignores later segments.
                return Ok(value.and_then(|v| scalar(&field, &v)));
            }
        }
    }
    Ok(None)
}

fn scalar(field: &FieldDescriptor, value: &Value) -> Option<Current> {
    Some(match value {
        Value::Bool(b) => Current::Bool(*b),
        Value::I32(n) => Current::Number(f64::from(*n)),
        Value::I64(n) => Current::Number(*n as f64),
        Value::U32(n) => Current::Number(f64::from(*n)),
        Value::U64(n) => Current::Number(*n as f64),
        Value::F32(x) => Current::Number(f64::from(*x)),
        Value::F64(x) => Current::Number(*x),
        Value::String(s) => Current::Text(s.clone()),
        Value::EnumNumber(n) => {
            let name = field.kind().as_enum().and_then(|e| e.get_value(*n)).map(|v| v.name().to_owned());
            Current::Text(name.unwrap_or_else(|| n.to_string()))
        }
        _ => return None,
    })
}

fn float(message: &DynamicMessage, name: &str) -> Option<f64> {
    match message.get_field_by_name(name)?.as_ref() {
        Value::F32(x) => Some(f64::from(*x)),
        Value::F64(x) => Some(*x),
        _ => None,
    }
}

fn selected(distribution: &DynamicMessage) -> Option<(String, DynamicMessage)> {
    distribution.descriptor().oneofs().next()?.fields().find_map(|f| {
        if !distribution.has_field(&f) {
            return None;
        }
        match distribution.get_field(&f).into_owned() {
            Value::Message(m) => Some((f.name().to_owned(), m)),
            _ => None,
        }
    })
}

fn check_distribution(distribution: &DynamicMessage) -> Result<(), String> {
    let Some((kind, params)) = selected(distribution) else {
        return Err("no distribution given".into());
    };
    let bounds = |a: &str, b: &str| (float(&params, a).unwrap_or(0.0), float(&params, b).unwrap_or(0.0));
    match kind.as_str() {
        "categorical" => match params.get_field_by_name("values").as_deref() {
            Some(Value::List(values)) if !values.is_empty() => Ok(()),
            _ => Err("categorical distribution with no values".into()),
        },
        "uniform" => {
            let (min, max) = bounds("min", "max");
            if min <= max { Ok(()) } else { Err(format!("uniform distribution with min {min} > max {max}")) }
        }
        "log_uniform" => {
            let (min, max) = bounds("min", "max");
            if min > 0.0 && min <= max {
                Ok(())
            } else {
                Err(format!("log-uniform distribution needs 0 < min <= max, got [{min}, {max}]"))
            }
        }
        "normal" => {
            let (_, sigma) = bounds("mu", "sigma");
            if sigma > 0.0 { Ok(()) } else { Err(format!("normal distribution with sigma {sigma} <= 0")) }
        }
        other => Err(format!("unknown distribution {other}")),
    }
}

fn contains(distribution: &DynamicMessage, value: &Current) -> Result<(), String> {
    let Some((kind, params)) = selected(distribution) else {
        return Err("no distribution given".into());
    };
    match kind.as_str() {
        "categorical" => {
            let mut shown = Vec::new();
            if let Some(Value::List(values)) = params.get_field_by_name("values").as_deref() {
                for candidate in values {
                    let Value::Message(candidate) = candidate else { continue };
                    let Some(c) = selected_scalar(candidate) else { continue };
                    if same(&c, value) {
                        return Ok(());
                    }
                    shown.push(c.to_string());
                }
            }
            Err(format!("{value} not in the categorical distribution [{}]", shown.join(", ")))
        }
        "uniform" | "log_uniform" | "normal" => {
            let Current::Number(x) = value else {
                return Err(format!("{value} is not a number, but the distribution is {kind}"));
            };
            let (low, high) = if kind == "normal" {
                let (mu, sigma) = (float(&params, "mu").unwrap_or(0.0), float(&params, "sigma").unwrap_or(0.0));
                (mu - 5.0 * sigma, mu + 5.0 * sigma)
            } else {
                (float(&params, "min").unwrap_or(0.0), float(&params, "max").unwrap_or(0.0))
            };
            if (low..=high).contains(x) {
                Ok(())
            } else {
                Err(format!("{} not in the {kind} distribution [{}, {}]", show(*x), show(low), show(high)))
            }
        }
        other => Err(format!("unknown distribution {other}")),
    }
}

fn selected_scalar(value: &DynamicMessage) -> Option<Current> {
    let field = value.descriptor().oneofs().next()?.fields().find(|f| value.has_field(f))?;
    scalar(&field, &value.get_field(&field))
}

/// Python-like equality: numbers compare by value across integer and float, booleans equal 1/0.
fn same(a: &Current, b: &Current) -> bool {
    let number = |c: &Current| match c {
        Current::Number(x) => Some(*x),
        Current::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Current::Text(_) => None,
    };
    match (a, b) {
        (Current::Text(x), Current::Text(y)) => x == y,
        _ => number(a).zip(number(b)).is_some_and(|(x, y)| x == y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(hyperparameters: &str, trainer: &str) -> Vec<String> {
        let text = format!(
            r#"dataset {{ config_path: "x" }} trainer {{ batch_size: 8 {trainer} }} {hyperparameters}"#
        );
        let experiment =
            DynamicMessage::parse_text_format(oef_proto::descriptor::v0_experiment(), &text).unwrap();
        search_spaces(&experiment).into_iter().map(|p| format!("{}: {}", p.path, p.reason)).collect()
    }

    fn hp(path: &str, distribution: &str) -> String {
        format!(r#"hyperparameters {{ key: "{path}" value {{ {distribution} }} }}"#)
    }

    #[test]
    fn values_inside_their_spaces_pass() {
        let spaces = [
            hp("trainer.batch_size", "categorical { values { integer_value: 4 } values { integer_value: 8 } }"),
            hp("trainer.initial_learning_rate", "log_uniform { min: 0.0001 max: 0.1 }"),
            hp("trainer.optimizer", r#"categorical { values { string_value: "adam_optimizer" } }"#),
        ]
        .join(" ");
        let problems = check(&spaces, "initial_learning_rate: 0.01 optimizer { adam_optimizer {} }");
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn every_kind_of_problem_is_named_with_its_path() {
        let spaces = [
            hp("trainer.batch_size", "categorical { values { integer_value: 2 } values { integer_value: 4 } }"),
            hp("trainer.initial_learning_rate", "uniform { min: 0.1 max: 0.2 }"),
            hp("trainer.num_train_steps", "uniform { min: 1 max: 2 }"),
            hp("trainer.no_such_field", "uniform { min: 1 max: 2 }"),
            hp("trainer.gradient_clipping_by_norm", "uniform { min: 2 max: 1 }"),
            hp("trainer.keep_checkpoint_every_n_hours", "normal { mu: 1 sigma: 0.1 }"),
            hp("trainer.optimizer", r#"categorical { values { string_value: "nadam_optimizer" } }"#),
        ]
        .join(" ");
        let problems = check(
            &spaces,
            "initial_learning_rate: 0.5 keep_checkpoint_every_n_hours: 2 optimizer { adam_optimizer {} }",
        );
        assert_eq!(
            problems,
            [
                "trainer.batch_size: 8 not in the categorical distribution [2, 4]",
                "hyperparameters[\"trainer.gradient_clipping_by_norm\"]: uniform distribution with min 2 > max 1",
                "trainer.initial_learning_rate: 0.5 not in the uniform distribution [0.1, 0.2]",
                "trainer.keep_checkpoint_every_n_hours: 2 not in the normal distribution [0.5, 1.5]",
                "hyperparameters[\"trainer.no_such_field\"]: 'no_such_field' field not found in protobuf message 'Trainer'",
                "hyperparameters[\"trainer.num_train_steps\"]: `trainer.num_train_steps` is not available for hyperparameter optimization",
                "trainer.optimizer: \"adam_optimizer\" not in the categorical distribution [\"nadam_optimizer\"]",
            ]
        );
    }
}
