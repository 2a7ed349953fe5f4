//! Our `protos/deepomatic/**` compile to the same descriptors as deepomatic-oef 0.23.1's, file by
//! file: packages, imports, messages, fields (names, numbers, labels, types, type names,
//! defaults, oneofs), enums, extensions, options, and the hyperparameter custom options.
//! Source info and json_name are ignored (the reference has none / derived ones); float defaults
//! compare by value (the reference prints 0.01f as "0.00999999978").

mod common;

use prost_reflect::{DescriptorPool, FileDescriptor};
use prost_types::{DescriptorProto, FileDescriptorProto, field_descriptor_proto::Type};

fn normalize_message(message: &mut DescriptorProto) {
    for field in &mut message.field {
        field.json_name = None;
        if let Some(default) = &field.default_value {
            let is_float = matches!(field.r#type(), Type::Float | Type::Double);
            if is_float {
                let value: f32 = default.parse().expect("numeric float default");
                field.default_value = Some(value.to_string());
            }
        }
    }
    for nested in &mut message.nested_type {
        normalize_message(nested);
    }
}

fn normalized(file: &FileDescriptor) -> FileDescriptorProto {
    let mut proto = file.file_descriptor_proto().clone();
    proto.source_code_info = None;
    for message in &mut proto.message_type {
        normalize_message(message);
    }
    proto
}

/// Every custom option (as text, extensions resolved in the file's own pool) keyed by element.
fn custom_options(file: &FileDescriptor) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for message in file.messages().flat_map(|m| {
        let mut all = vec![m.clone()];
        all.extend(m.child_messages());
        all
    }) {
        for field in message.fields() {
            let text = field.options().to_text_format();
            if text.contains("hyperparameter") {
                out.push((field.full_name().to_owned(), text));
            }
        }
        for oneof in message.oneofs() {
            let text = oneof.options().to_text_format();
            if text.contains("hyperparameter") {
                out.push((oneof.full_name().to_owned(), text));
            }
        }
    }
    out.sort();
    out
}

fn line_diff(ours: &str, theirs: &str) -> String {
    let (a, b): (Vec<_>, Vec<_>) = (ours.lines().collect(), theirs.lines().collect());
    let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let from = first.saturating_sub(6);
    format!(
        "first difference at line {first}\n--- ours\n{}\n--- reference\n{}",
        a[from..(first + 6).min(a.len())].join("\n"),
        b[from..(first + 6).min(b.len())].join("\n"),
    )
}

#[test]
fn legacy_descriptors_equal_the_reference_file_by_file() {
    let reference = DescriptorPool::decode(common::reference_descriptor_set().as_slice()).unwrap();
    let ours = oef_proto::descriptor::pool();

    let reference_files: Vec<_> =
        reference.files().filter(|f| f.name().starts_with("deepomatic/")).collect();
    let our_files: Vec<_> = ours.files().filter(|f| f.name().starts_with("deepomatic/")).collect();
    assert_eq!(reference_files.len(), 33, "the reference holds 33 legacy files");
    let mut ref_names: Vec<_> = reference_files.iter().map(|f| f.name().to_owned()).collect();
    let mut our_names: Vec<_> = our_files.iter().map(|f| f.name().to_owned()).collect();
    ref_names.sort();
    our_names.sort();
    assert_eq!(our_names, ref_names, "same set of legacy .proto files");

    let mut failures = Vec::new();
    let mut option_count = 0;
    for theirs in &reference_files {
        let mine = ours.get_file_by_name(theirs.name()).unwrap();
        let (a, b) = (normalized(&mine), normalized(theirs));
        if a != b {
            failures.push(format!(
                "{}: descriptor differs\n{}",
                theirs.name(),
                line_diff(&format!("{a:#?}"), &format!("{b:#?}"))
            ));
        }
        let (oa, ob) = (custom_options(&mine), custom_options(theirs));
        option_count += ob.len();
        if oa != ob {
            failures.push(format!("{}: custom options differ\nours {oa:#?}\nreference {ob:#?}", theirs.name()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The options above are compared as resolved extensions, not as unknown bytes: make sure
    // there were some (7 field options and 2 oneof options in 0.23.1).
    assert_eq!(option_count, 9, "hyperparameter options seen in the reference");
}

#[test]
fn required_fields_are_the_53_of_the_reference() {
    let count = oef_proto::descriptor::pool()
        .all_messages()
        .filter(|m| m.package_name().starts_with("deepomatic."))
        .flat_map(|m| m.fields().collect::<Vec<_>>())
        .filter(|f| f.cardinality() == prost_reflect::Cardinality::Required)
        .count();
    assert_eq!(count, 53);
}
