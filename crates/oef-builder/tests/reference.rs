//! Output equality with the reference builder (`deepomatic-oef` 0.23.1): the default
//! experiment of every architecture, and every builder case of `overrides/`.

mod common;

use std::fs;

use common::{expected_kind, fixtures, json_of, run_case};
use oef_builder::ExperimentBuilder;
use oef_catalog::Catalog;
use prost::Message as _;
use serde_json::{Value, json};

const CONFIG_PATH: &str = "gs://bucket/dataset/config.prototxt";

#[test]
fn all_defaults_match_the_reference() {
    let dir = fixtures().join("defaults");
    let mut failures = Vec::new();
    let mut count = 0;
    for architecture in Catalog::global() {
        let key = &architecture.key;
        let built = ExperimentBuilder::new(key)
            .unwrap()
            .set("config_path", json!(CONFIG_PATH))
            .build()
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let pb = fs::read(dir.join(format!("{key}.pb"))).unwrap();
        let expected = oef_proto::v0::Experiment::decode(pb.as_slice()).unwrap();
        if built != expected {
            failures.push(format!("{key}: binary differs"));
        }
        let expected_json: Value =
            serde_json::from_slice(&fs::read(dir.join(format!("{key}.json"))).unwrap()).unwrap();
        if json_of(&built) != expected_json {
            failures.push(format!("{key}: JSON differs"));
        }
        count += 1;
    }
    assert_eq!(count, 404);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn all_override_cases_match_the_reference() {
    let dir = fixtures().join("overrides");
    let mut cases: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".case.json"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for path in &cases {
        let name = path.file_name().unwrap().to_string_lossy().trim_end_matches(".case.json").to_owned();
        let case: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
        let result = run_case(&case);
        match (case["expect"].as_str(), result) {
            (Some("ok"), Ok(built)) => {
                let pb = fs::read(dir.join(format!("{name}.pb"))).unwrap();
                let expected = oef_proto::v0::Experiment::decode(pb.as_slice()).unwrap();
                if built != expected {
                    failures.push(format!("{name}: binary differs"));
                }
                let expected_json: Value =
                    serde_json::from_slice(&fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
                if json_of(&built) != expected_json {
                    failures.push(format!("{name}: JSON differs"));
                }
            }
            (Some("ok"), Err(e)) => failures.push(format!("{name}: expected ok, got {e}")),
            (_, Ok(_)) => failures.push(format!(
                "{name}: expected error {}, built fine",
                case["reference_error"]
            )),
            (_, Err(e)) => {
                let reference = case["reference_error"].as_str().unwrap_or_default();
                let want = expected_kind(reference);
                if e.kind() != want {
                    failures.push(format!("{name}: expected {want} ({reference}), got {}: {e}", e.kind()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
