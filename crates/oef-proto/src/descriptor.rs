//! The compiled schema: descriptor set, reflection pool, message names, search spaces.

use std::sync::LazyLock;

use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, MessageDescriptor,
    OneofDescriptor,
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
    let ext: ExtensionDescriptor = pool().get_extension_by_name(extension)?;
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
