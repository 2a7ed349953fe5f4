//! The compiled schema: descriptor set, reflection pool, message names, search spaces.

use std::sync::LazyLock;

use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, MessageDescriptor,
    OneofDescriptor, ReflectMessage as _,
};

use crate::v0::hyperparameter::HyperParameter;

/// The encoded `google.protobuf.FileDescriptorSet` of every OEF `.proto` file (v0 and v1) and
/// their `google/protobuf` imports, with source info (comments). Produced by protoc in
/// `build.rs`; feed it to tonic-reflection or any other protobuf tool.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/oef_descriptor_set.bin"));

/// [`FILE_DESCRIPTOR_SET`] without source info: the same files, messages and options, no
/// comments. [`pool`] is built from it.
pub const RUNTIME_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/oef_descriptor_set_runtime.bin"));

/// [`RUNTIME_DESCRIPTOR_SET`] reduced to the format v0 files: the file of [`V0_EXPERIMENT`] and
/// its imports, transitively. [`v0_pool`] is built from it.
pub const V0_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/oef_descriptor_set_v0.bin"));

/// Full name of the format v0 root message.
pub const V0_EXPERIMENT: &str = "deepomatic.oef.experiment.Experiment";
/// Full name of the format v1 experiment message.
pub const V1_EXPERIMENT: &str = "oef.v1.Experiment";
/// Full name of the format v1 stored-file envelope.
pub const V1_EXPERIMENT_FILE: &str = "oef.v1.ExperimentFile";
/// Full name of the v0 custom option carrying a field's search space.
pub const V0_FIELD_SPACE_OPTION: &str = "deepomatic.oef.hyperparameter.field_option";
/// Full name of the v0 custom option carrying a oneof's search space.
pub const V0_ONEOF_SPACE_OPTION: &str = "deepomatic.oef.hyperparameter.oneof_option";
/// Full name of the v1 custom option carrying a field's search space.
pub const V1_FIELD_SPACE_OPTION: &str = "oef.v1.field_space";
/// Full name of the v1 custom option carrying a oneof's search space.
pub const V1_ONEOF_SPACE_OPTION: &str = "oef.v1.oneof_space";

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    // Invariant: the set was produced by protoc for this very build (see build.rs), and a test
    // (`descriptor_pool_loads`) decodes it; failing here is a build defect, not an input error.
    DescriptorPool::decode(RUNTIME_DESCRIPTOR_SET).expect("the embedded descriptor set is valid")
});

/// The reflection pool over [`RUNTIME_DESCRIPTOR_SET`] (no comments), built once.
pub fn pool() -> &'static DescriptorPool {
    &POOL
}

static V0_POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    // Invariant: as for `POOL` (tested by `v0_pool_is_the_v0_part_of_the_pool`).
    DescriptorPool::decode(V0_DESCRIPTOR_SET).expect("the embedded v0 descriptor set is valid")
});

/// A reflection pool of the format v0 files alone ([`V0_DESCRIPTOR_SET`]), built once: for
/// work that is v0 only (the builder), at a third of [`pool`]'s decoding time and memory.
///
/// Its descriptors are not [`pool`]'s: a message of one cannot be set into a message of the
/// other; convert through bytes.
pub fn v0_pool() -> &'static DescriptorPool {
    &V0_POOL
}

/// Looks up a message by full name (e.g. [`V0_EXPERIMENT`]) in [`pool`].
pub fn message(full_name: &str) -> Option<MessageDescriptor> {
    pool().get_message_by_name(full_name)
}

/// Descriptor of the v0 root message `deepomatic.oef.experiment.Experiment`.
pub fn v0_experiment() -> MessageDescriptor {
    required_message(V0_EXPERIMENT)
}

/// Descriptor of the v1 message `oef.v1.Experiment`.
pub fn v1_experiment() -> MessageDescriptor {
    required_message(V1_EXPERIMENT)
}

/// Descriptor of the v1 stored-file envelope `oef.v1.ExperimentFile`.
pub fn v1_experiment_file() -> MessageDescriptor {
    required_message(V1_EXPERIMENT_FILE)
}

fn required_message(name: &str) -> MessageDescriptor {
    // Invariant: these names are compiled into the pool (tested by `root_messages_exist`).
    message(name).unwrap_or_else(|| panic!("message {name} is missing from the descriptor set"))
}

/// The search space declared on `field` by the v0 or v1 hyperparameter custom option, if any.
///
/// Both versions' `HyperParameter` messages share one wire layout, so the space is returned as
/// the v0 Rust type.
pub fn field_space(field: &FieldDescriptor) -> Option<HyperParameter> {
    let options = field.options();
    [V0_FIELD_SPACE_OPTION, V1_FIELD_SPACE_OPTION]
        .iter()
        .find_map(|name| space_from_options(&options, name))
}

/// The search space declared on `oneof` by the v0 or v1 hyperparameter custom option, if any.
pub fn oneof_space(oneof: &OneofDescriptor) -> Option<HyperParameter> {
    let options = oneof.options();
    [V0_ONEOF_SPACE_OPTION, V1_ONEOF_SPACE_OPTION]
        .iter()
        .find_map(|name| space_from_options(&options, name))
}

fn space_from_options(options: &DynamicMessage, extension: &str) -> Option<HyperParameter> {
    // The options' own pool: the field may come from `pool`, `v0_pool` or a snapshot.
    let ext: ExtensionDescriptor = options.descriptor().parent_pool().get_extension_by_name(extension)?;
    if !options.has_extension(&ext) {
        return None;
    }
    let value = options.get_extension(&ext);
    let space = value.as_message()?;
    HyperParameter::decode(space.encode_to_vec().as_slice()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_pool_loads() {
        assert!(pool().files().count() > 30);
    }

    #[test]
    fn v0_pool_is_the_v0_part_of_the_pool() {
        let v0 = v0_pool();
        let names: Vec<String> = v0.files().map(|f| f.name().to_owned()).collect();
        assert!(names.iter().any(|n| n.starts_with("deepomatic/oef/protos/")), "{names:?}");
        assert!(names.iter().all(|n| !n.starts_with("oef/")), "v1 files in the v0 set: {names:?}");
        // Every v0 file, and every message in them, as in the full pool, options included.
        for file in v0.files() {
            let full = pool().get_file_by_name(file.name()).unwrap();
            assert_eq!(file.file_descriptor_proto(), full.file_descriptor_proto(), "{}", file.name());
        }
        // (A missing import would have failed `v0_pool`'s decoding already.)
        // The search spaces read the same from either pool.
        let root = v0.get_message_by_name(V0_EXPERIMENT).unwrap();
        let mut spaces = 0;
        for field in all_fields(&root) {
            let other = message(field.parent_message().full_name()).unwrap().get_field(field.number()).unwrap();
            assert_eq!(field_space(&field), field_space(&other), "{}", field.full_name());
            spaces += usize::from(field_space(&field).is_some());
            if let Some(oneof) = field.containing_oneof() {
                let other = other.containing_oneof().unwrap();
                assert_eq!(oneof_space(&oneof), oneof_space(&other), "{}", oneof.full_name());
                spaces += usize::from(oneof_space(&oneof).is_some());
            }
        }
        assert!(spaces > 0, "no search space found through the v0 pool");
    }

    /// Every field of `root` and of the messages reachable from it.
    fn all_fields(root: &MessageDescriptor) -> Vec<FieldDescriptor> {
        let mut seen = std::collections::HashSet::new();
        let mut todo = vec![root.clone()];
        let mut fields = Vec::new();
        while let Some(message) = todo.pop() {
            if !seen.insert(message.full_name().to_owned()) {
                continue;
            }
            for field in message.fields() {
                if let prost_reflect::Kind::Message(m) = field.kind() {
                    todo.push(m);
                }
                fields.push(field);
            }
        }
        fields
    }

    #[test]
    fn runtime_set_is_the_full_set_without_source_info() {
        // Compared as dynamic messages, which keep extensions (the custom options) and
        // unknown fields; prost-types would drop them and hide a loss.
        let set = pool().get_message_by_name("google.protobuf.FileDescriptorSet").unwrap();
        let mut full = DynamicMessage::decode(set.clone(), FILE_DESCRIPTOR_SET).unwrap();
        let runtime = DynamicMessage::decode(set, RUNTIME_DESCRIPTOR_SET).unwrap();
        let files = full.get_field_by_name_mut("file").unwrap().as_list_mut().unwrap();
        let mut had_comments = false;
        for file in files {
            let file = file.as_message_mut().unwrap();
            had_comments |= file.has_field_by_name("source_code_info");
            file.clear_field_by_name("source_code_info");
        }
        assert!(had_comments, "the full set carries comments");
        assert_eq!(full, runtime);
        let options = |set: &[u8]| {
            let pool = DescriptorPool::decode(set).unwrap();
            pool.all_messages()
                .flat_map(|m| m.fields().map(|f| f.options()).collect::<Vec<_>>())
                .filter(|o| o.extensions().next().is_some())
                .count()
        };
        assert!(options(RUNTIME_DESCRIPTOR_SET) > 0, "custom options survive");
        assert_eq!(options(FILE_DESCRIPTOR_SET), options(RUNTIME_DESCRIPTOR_SET));
    }

    #[test]
    fn root_messages_exist() {
        assert_eq!(v0_experiment().full_name(), V0_EXPERIMENT);
    }

    #[test]
    fn reads_v0_search_space_options() {
        let trainer = message("deepomatic.oef.trainer.Trainer").unwrap();
        let lr = trainer.get_field_by_name("initial_learning_rate").unwrap();
        let space = field_space(&lr).unwrap();
        let text = format!("{space:?}");
        assert!(text.contains("LogUniform"), "{text}");
        let optimizer = message("deepomatic.oef.optimizer.Optimizer").unwrap();
        let oneof = optimizer.oneofs().find(|o| o.name() == "optimizer").unwrap();
        assert!(oneof_space(&oneof).is_some());
        let batch = trainer.get_field_by_name("batch_size").unwrap();
        assert!(field_space(&batch).is_none());
    }
}
