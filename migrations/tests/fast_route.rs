//! The byte-level route of v0 → v1 (`Registry::migrate_encoded`) gives exactly the bytes of the
//! general route (decode, migrate, encode), or declines: over the whole corpus, the builder
//! cases, random variations (unknown fields, hyperparameter maps, any scalar or enum value) and
//! random corruptions of the bytes.

mod common;

use common::variations::{DEFAULTS, varied};
use oef_migrations::{Document, StepContext, document};
use oef_proto::codec::Encoding;
use proptest::prelude::*;

/// The general route's output, or `None` when it fails.
fn general(bytes: &[u8], output: Encoding, context: &StepContext) -> Option<Vec<u8>> {
    let (_, input) = document::decode(bytes).ok()?;
    let migrated = common::REGISTRY.migrate(&input, 1, context).ok()?;
    document::encode(&migrated, output).ok()
}

fn fast(bytes: &[u8], input: Encoding, output: Encoding, context: &StepContext) -> Option<Vec<u8>> {
    let (from, out) = common::REGISTRY.migrate_encoded(bytes, input, 1, output, context)?;
    assert_eq!(from, 0);
    Some(out)
}

/// Asserts that the fast route, when it answers, answers what the general route does; returns
/// whether it answered.
fn check(name: &str, bytes: &[u8], input: Encoding, output: Encoding, context: &StepContext) -> bool {
    let Some(out) = fast(bytes, input, output, context) else { return false };
    let expected = general(bytes, output, context)
        .unwrap_or_else(|| panic!("{name}: the fast route accepted what the general route rejects"));
    if out != expected {
        let (a, b) = (String::from_utf8_lossy(&out), String::from_utf8_lossy(&expected));
        panic!("{name} ({input} -> {output}): fast route differs\n--- fast\n{a}\n--- general\n{b}");
    }
    true
}

#[test]
fn every_default_and_builder_case_takes_the_fast_route_with_identical_bytes() {
    let mut cases: Vec<(String, Vec<u8>, Vec<u8>)> = common::defaults();
    cases.extend(common::overrides().into_iter().map(|(name, _, pb, json)| (name, pb, json)));
    let mut declined = Vec::new();
    for (name, pb, json) in &cases {
        for (input, bytes) in [(Encoding::Binary, pb), (Encoding::Json, json)] {
            for output in [Encoding::Binary, Encoding::Json] {
                let context = common::context();
                if !check(name, bytes, input, output, &context) {
                    declined.push(format!("{name} ({input} -> {output})"));
                }
            }
        }
    }
    // Files with hyperparameter maps are left to the general route, as are files it rejects
    // (an ambiguous architecture); every other file takes the fast route.
    let plain: Vec<_> = declined
        .iter()
        .filter(|d| {
            let name = d.split(' ').next().unwrap();
            let (_, pb, _) = cases.iter().find(|(n, _, _)| n == name).unwrap();
            let (_, doc) = document::decode(pb).unwrap();
            let no_map =
                doc.message.get_field_by_name("hyperparameters").is_none_or(|v| v.as_map().is_none_or(|m| m.is_empty()));
            no_map && general(pb, Encoding::Binary, &common::context()).is_some()
        })
        .collect();
    assert!(plain.is_empty(), "plain files declined by the fast route: {plain:?}");
    assert!(declined.len() < cases.len(), "{} of {} declined", declined.len(), cases.len() * 4);
}

#[test]
fn a_given_architecture_key_is_recorded_and_an_unknown_one_declines() {
    let (key, pb, _) = common::defaults().swap_remove(7);
    let mut context = common::context();
    context.architecture = Some(key);
    assert!(check("given key", &pb, Encoding::Binary, Encoding::Binary, &context));
    context.architecture = Some("no.such.key".into());
    assert_eq!(fast(&pb, Encoding::Binary, Encoding::Binary, &context), None);
}

#[test]
fn files_already_at_v1_and_text_files_decline() {
    let (_, pb, _) = common::defaults().swap_remove(3);
    let context = common::context();
    let v1 = general(&pb, Encoding::Binary, &context).unwrap();
    assert_eq!(fast(&v1, Encoding::Binary, Encoding::Binary, &context), None);
    let v1_json = general(&pb, Encoding::Json, &context).unwrap();
    assert_eq!(fast(&v1_json, Encoding::Json, Encoding::Json, &context), None);
    let (_, doc) = document::decode(&pb).unwrap();
    let text = document::encode(&doc, Encoding::Text).unwrap();
    assert_eq!(fast(&text, Encoding::Text, Encoding::Binary, &context), None);
}

fn case() -> impl Strategy<Value = (usize, Vec<u64>, Vec<(usize, u8)>, bool)> {
    (0usize..404, prop::collection::vec(any::<u64>(), 0..16), prop::collection::vec((any::<usize>(), any::<u8>()), 0..3), any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_route_equals_the_general_route_or_declines((index, changes, corruptions, given) in case()) {
        let (key, pb) = &DEFAULTS[index];
        let message = varied(pb, &changes, 7);
        let mut context = common::context();
        if given {
            context.architecture = Some(key.clone());
        }
        let document = Document { version: 0, message };
        let mut binary = document::encode(&document, Encoding::Binary).unwrap();
        for output in [Encoding::Binary, Encoding::Json] {
            let answered = check("variation", &binary, Encoding::Binary, output, &context);
            // An unchanged default with its key given is as plain as files get.
            prop_assert!(answered || !changes.is_empty() || !given);
            if let Ok(json) = document::encode(&document, Encoding::Json) {
                check("variation", &json, Encoding::Json, output, &context);
            }
        }
        // Corrupted bytes: declined, or the same answer as the general route.
        if !corruptions.is_empty() && !binary.is_empty() {
            for (at, byte) in &corruptions {
                let at = at % binary.len();
                binary[at] = *byte;
            }
            // (Content starting with `{` is JSON to every reader.)
            if binary.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
                return Ok(());
            }
            check("corrupted", &binary, Encoding::Binary, Encoding::Binary, &context);
        }
    }
}
