//! End to end against real server processes on loopback: launch, idempotency, the worker
//! lifecycle, watch, cancel, lease expiry, auth, validation, size limit, pagination, the worker
//! loop, graceful shutdown and SIGKILL during a launch storm. Every test runs on SQLite and,
//! when `OEF_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use std::time::Duration;

use common::{Env, Server, databases, experiment, launch, status, violations};
use oef_client::{
    Client,
    worker::{self, Outcome, WorkerConfig},
};
use oef_proto::v1::{
    self, TrainingStatus, launch_experiment_request::Experiment, watch_training_response::Event,
};
use prost::Message as _;
use tonic::Code;

/// Not a test: the server process of the other tests (see `common`).
#[test]
#[ignore = "the server process of the other tests"]
fn serve_child() {
    common::serve_child();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_is_idempotent_and_the_lifecycle_is_watched() {
    for db in databases() {
        let mut env = Env::new(&db).await;
        let c = &mut env.client;
        let first = c.launch(launch("ds", 1)).await.expect("launch");
        assert!(first.created);
        let t = first.training.expect("training");
        assert_eq!(t.status, TrainingStatus::Queued as i32);
        assert_eq!(t.experiment_id.len(), 64);
        assert_eq!(t.org, env.org);

        // Same experiment, same dataset view: the same training.
        let again = c.launch(launch("ds", 1)).await.expect("relaunch");
        assert!(!again.created);
        assert_eq!(again.training.as_ref().map(|t| &t.training_id), Some(&t.training_id));

        // The same experiment as serialized JSON and as binary: same experiment id, same training.
        for bytes in [
            oef_proto::codec::encode_v1_file(&experiment(1), oef_proto::codec::Encoding::Json).expect("json"),
            experiment(1).encode_to_vec(),
        ] {
            let mut request = launch("ds", 0);
            request.experiment = Some(Experiment::Serialized(v1::SerializedExperiment { content: bytes, encoding: 0 }));
            let r = c.launch(request).await.expect("serialized");
            assert!(!r.created);
            assert_eq!(r.training.expect("t").training_id, t.training_id);
        }

        // The same experiment as format v0 (what deepomatic-oef builds: defaults implicit),
        // binary and JSON: migrated, it resolves to the same experiment id and training.
        let mut v0 = oef_builder::ExperimentBuilder::new(common::ARCHITECTURE)
            .expect("key")
            .set("config_path", serde_json::json!(common::CONFIG_PATH))
            .build()
            .expect("v0 build");
        v0.seed = Some(1);
        for bytes in [
            v0.encode_to_vec(),
            oef_proto::codec::encode_v0(&v0, oef_proto::codec::Encoding::Json).expect("v0 json"),
        ] {
            let mut request = launch("ds", 0);
            request.experiment = Some(Experiment::Serialized(v1::SerializedExperiment { content: bytes, encoding: 0 }));
            let r = c.launch(request).await.expect("serialized v0");
            assert!(!r.created, "the v0 form is the same experiment");
            assert_eq!(r.training.expect("t").training_id, t.training_id);
        }

        // Another view, or force_new: new trainings of the same experiment.
        let mut other_view = launch("ds", 1);
        other_view.view_id = "v2".into();
        let r = c.launch(other_view).await.expect("view");
        assert!(r.created);
        assert_eq!(r.training.as_ref().expect("t").experiment_id, t.experiment_id);
        let mut forced = launch("ds", 1);
        forced.force_new = true;
        let forced = c.launch(forced).await.expect("force");
        assert!(forced.created);
        assert_ne!(forced.training.expect("t").training_id, t.training_id);

        // Request ids: a retry returns the first training, reuse for another launch is invalid.
        let mut with_id = launch("ds", 2);
        with_id.request_id = "req-1".into();
        with_id.force_new = true;
        let a = c.launch(with_id.clone()).await.expect("req");
        let b = c.launch(with_id).await.expect("retry");
        assert!(a.created && !b.created);
        assert_eq!(a.training.expect("t").training_id, b.training.expect("t").training_id);
        let mut reused = launch("ds", 3);
        reused.request_id = "req-1".into();
        assert_eq!(violations(&status(c.launch(reused).await)), ["request_id"]);

        // Claim the oldest queued training: the first one.
        let mut watch = c.watch_training(&t.training_id, 0).await.expect("watch");
        let claim = c.claim("w1", Duration::from_secs(30)).await.expect("claim").expect("a training");
        let claimed = claim.training.expect("t");
        assert_eq!(claimed.training_id, t.training_id);
        assert_eq!(claimed.status, TrainingStatus::Running as i32);
        assert_eq!(claimed.attempts, 1);
        assert_eq!(claim.experiment.expect("file"), experiment(1));
        let metrics = vec![
            v1::Metric { name: "loss".into(), step: 1, value: 0.9 },
            v1::Metric { name: "loss".into(), step: 2, value: 0.5 },
        ];
        let seq = c.report_metrics(&t.training_id, &claim.lease_id, metrics).await.expect("metrics");
        assert_eq!(seq, 4);
        c.heartbeat(&t.training_id, &claim.lease_id, Duration::from_secs(30)).await.expect("heartbeat");
        let done = c.complete(&t.training_id, &claim.lease_id, "ok").await.expect("complete");
        assert_eq!(done.status, TrainingStatus::Succeeded as i32);

        // The watch stream: launch, running, two metrics, succeeded; then it ends.
        let mut events = Vec::new();
        while let Some(event) = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .expect("watch timeout")
            .expect("watch")
        {
            events.push(event);
        }
        let seqs: Vec<u64> = events.iter().map(|e| e.sequence).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        let to = |e: &v1::WatchTrainingResponse| match &e.event {
            Some(Event::StatusChange(s)) => s.to_status,
            _ => -1,
        };
        assert_eq!(to(&events[0]), TrainingStatus::Queued as i32);
        assert_eq!(to(&events[1]), TrainingStatus::Running as i32);
        assert!(matches!(&events[2].event, Some(Event::Metric(m)) if m.step == 1 && m.value == 0.9));
        assert!(matches!(&events[3].event, Some(Event::Metric(m)) if m.step == 2));
        assert_eq!(to(&events[4]), TrainingStatus::Succeeded as i32);

        // Resumable: after sequence 3, two events.
        let mut resumed = c.watch_training(&t.training_id, 3).await.expect("resume");
        let mut n = 0;
        while resumed.message().await.expect("resumed").is_some() {
            n += 1;
        }
        assert_eq!(n, 2);

        // Illegal transitions: finished trainings stay finished.
        assert_eq!(status(c.complete(&t.training_id, &claim.lease_id, "again").await).code(), Code::FailedPrecondition);
        assert_eq!(status(c.cancel_training(&t.training_id, "late").await).code(), Code::FailedPrecondition);
        let got = c.get_training(&t.training_id, true).await.expect("get");
        assert_eq!(got.training.expect("t").status, TrainingStatus::Succeeded as i32);
        assert_eq!(got.experiment.expect("file"), experiment(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_lease_expiry() {
    for db in databases() {
        let mut env = Env::new(&db).await;
        let c = &mut env.client;
        let queued = c.launch(launch("ds", 10)).await.expect("launch").training.expect("t");
        let cancelled = c.cancel_training(&queued.training_id, "not needed").await.expect("cancel");
        assert_eq!(cancelled.status, TrainingStatus::Cancelled as i32);
        assert_eq!(cancelled.message, "not needed");
        // Cancelling again returns it unchanged; nothing is left to claim.
        c.cancel_training(&queued.training_id, "again").await.expect("cancel again");
        assert!(c.claim("w", Duration::from_secs(5)).await.expect("claim").is_none());

        // A running training whose worker stops heartbeating returns to the queue.
        let t = c.launch(launch("ds", 11)).await.expect("launch").training.expect("t");
        let first = c.claim("w1", Duration::from_secs(1)).await.expect("claim").expect("claimed");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let back = c.get_training(&t.training_id, false).await.expect("get").training.expect("t");
        assert_eq!(back.status, TrainingStatus::Queued as i32, "{back:?}");
        let lost = status(c.heartbeat(&t.training_id, &first.lease_id, Duration::from_secs(5)).await);
        assert_eq!(lost.code(), Code::FailedPrecondition);
        let second = c.claim("w2", Duration::from_secs(30)).await.expect("claim").expect("claimed again");
        let second_t = second.training.expect("t");
        assert_eq!(second_t.training_id, t.training_id);
        assert_eq!(second_t.attempts, 2);
        assert_eq!(second_t.worker_id, "w2");
        // The first worker's lease is gone for good.
        assert_eq!(status(c.complete(&t.training_id, &first.lease_id, "").await).code(), Code::FailedPrecondition);

        // Cancelling a running training ends its lease.
        c.cancel_training(&t.training_id, "stop").await.expect("cancel running");
        let gone = status(c.heartbeat(&t.training_id, &second.lease_id, Duration::from_secs(5)).await);
        assert_eq!(gone.code(), Code::FailedPrecondition);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures() {
    for db in databases() {
        let mut env = Env::new(&db).await;
        let t = env.client.launch(launch("ds", 1)).await.expect("launch").training.expect("t");

        let channel = tonic::transport::Endpoint::from_shared(env.server.url.clone())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let mut anonymous = v1::platform_service_client::PlatformServiceClient::new(channel.clone());
        let missing = anonymous.get_training(v1::GetTrainingRequest { training_id: t.training_id.clone(), include_experiment: false }).await;
        assert_eq!(missing.expect_err("no key").code(), Code::Unauthenticated);
        let mut wrong = Client::with_channel(channel, oef_client::ApiKey::new("oef_wrong").expect("key"));
        assert_eq!(status(wrong.get_training(&t.training_id, false).await).code(), Code::Unauthenticated);
        assert_eq!(status(wrong.claim("w", Duration::from_secs(5)).await).code(), Code::Unauthenticated);

        // Another organization sees nothing of this one.
        let other_key = common::key(&db.url, &common::org()).await;
        let mut other = Client::connect(&env.server.url, &other_key).await.expect("connect");
        assert_eq!(status(other.get_training(&t.training_id, false).await).code(), Code::NotFound);
        assert_eq!(status(other.cancel_training(&t.training_id, "").await).code(), Code::NotFound);
        assert_eq!(status(other.watch_training(&t.training_id, 0).await).code(), Code::NotFound);
        assert!(other.list_trainings(Default::default()).await.expect("list").trainings.is_empty());
        assert!(other.claim("w", Duration::from_secs(5)).await.expect("claim").is_none());
        // Naming another organization in a launch is denied.
        let mut request = launch("ds", 1);
        request.org = env.org.clone();
        assert_eq!(status(other.launch(request).await).code(), Code::PermissionDenied);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_validation_error_kind() {
    for db in databases() {
        let mut env = Env::new(&db).await;
        let c = &mut env.client;
        let serialized = |content: Vec<u8>| {
            let mut r = launch("ds", 0);
            r.experiment = Some(Experiment::Serialized(v1::SerializedExperiment { content, encoding: 0 }));
            r
        };
        let mut cases: Vec<(v1::LaunchExperimentRequest, Vec<&str>)> = Vec::new();
        let mut r = launch("", 1);
        r.tags = vec!["".into(), "ok".into()];
        r.view_id = "x".repeat(300);
        cases.push((r, vec!["dataset", "view_id", "tags[0]"]));
        let mut r = launch("ds", 1);
        r.experiment = None;
        cases.push((r, vec!["experiment"]));
        let mut bad = experiment(1);
        bad.format_version = 7;
        bad.experiment.as_mut().expect("e").trainer = None;
        let mut r = launch("ds", 1);
        r.experiment = Some(Experiment::File(bad));
        cases.push((r, vec!["file.format_version", "file.experiment.trainer"]));
        let mut r = launch("ds", 1);
        r.experiment = Some(Experiment::File(v1::ExperimentFile { format_version: 1, ..Default::default() }));
        cases.push((r, vec!["file.experiment"]));
        // Format v1 states every value: an unset one is a violation on its path.
        let mut incomplete = experiment(1);
        let trainer = incomplete.experiment.as_mut().and_then(|e| e.trainer.as_mut()).expect("trainer");
        trainer.batch_size = None;
        trainer.num_train_steps = None;
        let mut r = launch("ds", 1);
        r.experiment = Some(Experiment::File(incomplete.clone()));
        cases.push((r, vec!["file.experiment.trainer.batch_size", "file.experiment.trainer.num_train_steps"]));
        cases.push((serialized(incomplete.encode_to_vec()), vec!["serialized.content.experiment.trainer.batch_size"]));
        cases.push((serialized(Vec::new()), vec!["serialized.content"]));
        cases.push((serialized(b"\xff\xfe not an experiment".to_vec()), vec!["serialized.content"]));
        cases.push((serialized(b"{\"formatVersion\": 1, \"experiment\": {\"seed\": \"x\"}}".to_vec()), vec!["serialized.content"]));
        // A v0 experiment missing a required field: the path of the field.
        cases.push((
            serialized(b"dataset { } trainer { }".to_vec()),
            vec!["serialized.content.dataset.config_path"],
        ));
        let mut r = launch("ds", 1);
        r.experiment = Some(Experiment::Architecture(v1::ArchitectureExperiment::default()));
        cases.push((r, vec!["architecture.architecture"]));
        let mut r = launch("ds", 1);
        r.experiment = Some(Experiment::Architecture(v1::ArchitectureExperiment {
            architecture: "no.such.arch".into(),
            ..Default::default()
        }));
        cases.push((r, vec!["architecture.architecture"]));
        let mut r = launch("ds", 1);
        r.experiment = Some(Experiment::Architecture(v1::ArchitectureExperiment {
            architecture: "image_classification.pretraining_natural_rgb.softmax.efficientnet_b0".into(),
            overrides: [("no_such_option".to_owned(), pbjson_types::Value { kind: Some(pbjson_types::value::Kind::NumberValue(1.0)) })]
                .into_iter()
                .collect(),
            ..Default::default()
        }));
        cases.push((r, vec!["architecture.overrides[\"no_such_option\"]"]));
        let mut r = launch("ds", 1);
        r.experiment = Some(Experiment::Architecture(v1::ArchitectureExperiment {
            architecture: "image_classification.pretraining_natural_rgb.softmax.efficientnet_b0".into(),
            hyperparameters: [("trainer.no_such_field".to_owned(), v1::HyperParameter::default())].into_iter().collect(),
            ..Default::default()
        }));
        cases.push((r, vec!["architecture.hyperparameters[\"trainer.no_such_field\"]"]));
        // Format v1 checks every value at a hyperparameter path, defaults included (as `oef build`):
        // efficientnet_b0's default learning rate lies below the schema's search space.
        let mut r = launch("ds", 1);
        r.experiment = Some(Experiment::Architecture(v1::ArchitectureExperiment {
            architecture: "image_classification.pretraining_natural_rgb.softmax.efficientnet_b0".into(),
            overrides: [(
                "config_path".to_owned(),
                pbjson_types::Value { kind: Some(pbjson_types::value::Kind::StringValue("gs://b/c.prototxt".into())) },
            )]
            .into_iter()
            .collect(),
            hyperparameters: [("trainer.initial_learning_rate".to_owned(), v1::HyperParameter::default())].into_iter().collect(),
        }));
        cases.push((r, vec!["architecture.hyperparameters[\"trainer.initial_learning_rate\"]"]));
        // A v1 file whose value lies outside the distribution it declares for it.
        let mut outside = experiment(1);
        let e = outside.experiment.as_mut().expect("e");
        e.trainer.as_mut().expect("trainer").batch_size = Some(64);
        e.hyperparameters.insert(
            "trainer.batch_size".to_owned(),
            serde_json::from_str(r#"{"categorical": {"values": [{"integerValue": 8}, {"integerValue": 16}]}}"#).expect("distribution"),
        );
        let mut r = launch("ds", 1);
        r.experiment = Some(Experiment::File(outside));
        cases.push((r, vec!["file.experiment.trainer.batch_size"]));
        for (request, expected) in cases {
            let got = status(c.launch(request.clone()).await);
            let fields = violations(&got);
            for field in &expected {
                assert!(fields.iter().any(|f| f.starts_with(field)), "{expected:?} not in {fields:?} ({got:?})");
            }
        }

        // Worker and listing requests.
        let t = c.launch(launch("ds", 5)).await.expect("launch").training.expect("t");
        let claim = c.claim("w", Duration::from_secs(30)).await.expect("claim").expect("claimed");
        let bad_metrics = vec![
            v1::Metric { name: "has space".into(), step: 1, value: 1.0 },
            v1::Metric { name: "nan".into(), step: 1, value: f64::NAN },
        ];
        let got = status(c.report_metrics(&t.training_id, &claim.lease_id, bad_metrics).await);
        assert_eq!(violations(&got), ["metrics[0].name", "metrics[1].value"]);
        assert_eq!(violations(&status(c.claim("", Duration::from_secs(0)).await)), ["worker_id", "lease_duration"]);
        assert_eq!(violations(&status(c.heartbeat("", "", Duration::from_secs(5)).await)), ["training_id", "lease_id"]);
        let bad_list = v1::ListTrainingsRequest { page_size: -1, page_token: "nope".into(), statuses: vec![42], ..Default::default() };
        assert_eq!(violations(&status(c.list_trainings(bad_list).await)), ["page_size", "statuses[0]", "page_token"]);
        assert_eq!(violations(&status(c.get_training("", false).await)), ["training_id"]);
    }
}

/// A file that leaves every value unset: hundreds of violations. They travel in HTTP/2
/// trailers, which clients cap: the status must stay readable (it was a protocol error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_violations_still_make_a_readable_status() {
    use oef_platform::resolve::Resolver as _;
    use tonic_types::StatusExt as _;
    let db = databases().remove(0);
    let mut env = Env::new(&db).await;
    let c = &mut env.client;
    let overrides = [("config_path".to_owned(), serde_json::json!(common::CONFIG_PATH))].into_iter().collect();
    let file = oef_platform::resolve::DefaultResolver
        .build("image_detection.pretraining_natural_rgb.efficientdet_d0.efficientnet_b0", &overrides, &Default::default())
        .expect("detection file");
    // Every scalar removed, every message kept.
    fn containers_only(value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter().filter(|(_, v)| v.is_object() || v.is_array()).map(|(k, v)| (k, containers_only(v))).collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().filter(|v| v.is_object() || v.is_array()).map(containers_only).collect()),
            other => other,
        }
    }
    let json = oef_proto::codec::encode_v1_file(&file, oef_proto::codec::Encoding::Json).expect("json");
    let mut value: serde_json::Value = serde_json::from_slice(&json).expect("parse");
    value["experiment"] = containers_only(value["experiment"].take());
    let mut request = launch("ds", 0);
    request.experiment = Some(Experiment::Serialized(v1::SerializedExperiment {
        content: serde_json::to_vec(&value).expect("json"),
        encoding: 0,
    }));
    let got = status(c.launch(request).await);
    let fields = violations(&got);
    assert!(fields.len() > 10, "{fields:?}");
    assert_eq!(fields[0], "serialized.content.experiment.seed", "in field number order");
    let listed = got.get_details_bad_request().expect("details").field_violations;
    let last = listed.last().expect("violations");
    assert_eq!(last.field, "", "the last entry counts the others: {last:?}");
    assert!(last.description.contains("more field violations not listed"), "{last:?}");
    let listed_bytes: usize = listed.iter().map(|v| v.field.len() + v.description.len()).sum();
    assert!(listed_bytes <= oef_platform::service::VIOLATION_BYTES, "{listed_bytes}");
    assert!(got.message().len() < 1024 && got.message().contains("field violations)"), "{}", got.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_messages_are_resource_exhausted() {
    let db = databases().remove(0);
    let mut env = Env::with(&db, &[(common::SERVE_MAX_MESSAGE, (64 * 1024).to_string())]).await;
    let mut big = launch("ds", 1);
    big.tags = vec!["t".repeat(100); 1000];
    let got = status(env.client.launch(big).await);
    assert_eq!(got.code(), Code::ResourceExhausted, "{got:?}");
    assert!(env.server.running());
    env.client.launch(launch("ds", 1)).await.expect("the server is still up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_and_pages() {
    for db in databases() {
        let mut env = Env::new(&db).await;
        let c = &mut env.client;
        for seed in 0..25 {
            let mut r = launch(if seed % 2 == 0 { "even" } else { "odd" }, seed);
            if seed % 5 == 0 {
                r.tags = vec!["five".into()];
            }
            c.launch(r).await.expect("launch");
        }
        let mut all = Vec::new();
        let mut token = String::new();
        loop {
            let page = c
                .list_trainings(v1::ListTrainingsRequest { page_size: 10, page_token: token.clone(), ..Default::default() })
                .await
                .expect("page");
            assert!(page.trainings.len() <= 10);
            all.extend(page.trainings);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(all.len(), 25);
        // A page token is bound to the filters of its first page; the page size may change.
        let first = c
            .list_trainings(v1::ListTrainingsRequest { page_size: 10, ..Default::default() })
            .await
            .expect("first page");
        let other_filters =
            v1::ListTrainingsRequest { dataset: "even".into(), page_token: first.next_page_token.clone(), ..Default::default() };
        assert_eq!(violations(&status(c.list_trainings(other_filters).await)), ["page_token"]);
        let same_filters =
            v1::ListTrainingsRequest { page_size: 20, page_token: first.next_page_token.clone(), ..Default::default() };
        assert_eq!(c.list_trainings(same_filters).await.expect("same filters").trainings.len(), 15);
        let mut ids: Vec<_> = all.iter().map(|t| t.training_id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 25);
        let five = c.list_trainings(v1::ListTrainingsRequest { tag: "five".into(), ..Default::default() }).await.expect("tag");
        assert_eq!(five.trainings.len(), 5);
        let even = c.list_trainings(v1::ListTrainingsRequest { dataset: "even".into(), ..Default::default() }).await.expect("ds");
        assert_eq!(even.trainings.len(), 13);
        let arch = c
            .list_trainings(v1::ListTrainingsRequest { architecture: common::ARCHITECTURE.into(), ..Default::default() })
            .await
            .expect("arch");
        assert_eq!(arch.trainings.len(), 25);
        c.claim("w", Duration::from_secs(30)).await.expect("claim").expect("claimed");
        let running = c
            .list_trainings(v1::ListTrainingsRequest { statuses: vec![TrainingStatus::Running as i32], ..Default::default() })
            .await
            .expect("running");
        assert_eq!(running.trainings.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_runs_the_command_and_reports() {
    for db in databases() {
        let mut env = Env::new(&db).await;
        let ok = env.client.launch(launch("ds", 1)).await.expect("launch").training.expect("t");
        let bad = env.client.launch(launch("ds", 2)).await.expect("launch").training.expect("t");
        let dir = tempfile::tempdir().expect("dir");
        let mut config = WorkerConfig::new(
            "test-worker",
            r#"test -s "$OEF_EXPERIMENT_FILE" || exit 3
               echo "training $OEF_TRAINING_ID"
               echo "metric loss 1 0.75"
               echo "metric accuracy 1 0.5"
               case "$OEF_TRAINING_ID" in BAD) exit 0;; esac
               [ "$(cat "$OEF_EXPERIMENT_FILE.fail" 2>/dev/null)" = 1 ] && exit 4
               exit 0"#
                .replace("BAD", &bad.training_id),
        );
        config.work_dir = dir.path().to_owned();
        config.exit_when_idle = true;
        config.lease = Duration::from_secs(3);
        let runs = worker::run(env.client.clone(), &config, std::future::pending()).await.expect("worker");
        assert_eq!(runs.len(), 2);
        assert!(runs.iter().all(|r| r.outcome == Outcome::Succeeded), "{runs:?}");
        let got = env.client.get_training(&ok.training_id, false).await.expect("get").training.expect("t");
        assert_eq!(got.status, TrainingStatus::Succeeded as i32);
        let mut watch = env.client.watch_training(&ok.training_id, 0).await.expect("watch");
        let mut metrics = Vec::new();
        while let Some(e) = watch.message().await.expect("event") {
            if let Some(Event::Metric(m)) = e.event {
                metrics.push((m.name, m.step, m.value));
            }
        }
        assert_eq!(metrics, [("loss".to_owned(), 1, 0.75), ("accuracy".to_owned(), 1, 0.5)]);

        // A failing command fails the training with its exit status.
        let failing = env.client.launch(launch("ds", 3)).await.expect("launch").training.expect("t");
        config.command = "echo 'metric loss 1 2'; exit 4".into();
        let runs = worker::run(env.client.clone(), &config, std::future::pending()).await.expect("worker");
        assert!(matches!(&runs[0].outcome, Outcome::Failed(m) if m.contains('4')), "{runs:?}");
        let got = env.client.get_training(&failing.training_id, false).await.expect("get").training.expect("t");
        assert_eq!(got.status, TrainingStatus::Failed as i32);
        assert!(got.message.contains('4'));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully() {
    let db = databases().remove(0);
    let mut env = Env::new(&db).await;
    let t = env.client.launch(launch("ds", 1)).await.expect("launch").training.expect("t");
    let mut watch = env.client.watch_training(&t.training_id, 0).await.expect("watch");
    assert!(watch.message().await.expect("first").is_some());
    let exit = env.server.terminate();
    assert!(exit.success(), "{exit:?}");
    // The open watch stream ends (UNAVAILABLE: resume elsewhere), it does not hang.
    let end = tokio::time::timeout(Duration::from_secs(10), watch.message()).await.expect("stream ended");
    assert!(end.is_err() || end.as_ref().is_ok_and(Option::is_none));
    // The data is there after a restart.
    let server = Server::start(&db.url, &[]);
    let mut client = Client::connect(&server.url, &env.key).await.expect("connect");
    client.get_training(&t.training_id, false).await.expect("still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_launch_storm_loses_no_acknowledged_launch() {
    for db in databases() {
        let mut env = Env::new(&db).await;
        let url = env.server.url.clone();
        let key = env.key.clone();
        let mut tasks = Vec::new();
        for worker in 0..8 {
            let url = url.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                let Ok(mut client) = Client::connect(&url, &key).await else { return acked };
                for i in 0..100_000 {
                    let seed = worker * 100_000 + i;
                    let mut r = launch("storm", seed);
                    r.request_id = format!("storm-{seed}");
                    match client.launch(r).await {
                        Ok(reply) => acked.push((seed, reply.training.expect("t").training_id)),
                        Err(_) => break,
                    }
                }
                acked
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        env.server.kill9();
        let mut acked = Vec::new();
        for task in tasks {
            acked.extend(task.await.expect("task"));
        }
        assert!(acked.len() > 50, "only {} launches before the kill", acked.len());

        let server = Server::start(&db.url, &[]);
        let mut client = Client::connect(&server.url, &key).await.expect("connect");
        // Every acknowledged launch is there: a retry with its request id returns it.
        for (seed, id) in &acked {
            let mut r = launch("storm", *seed);
            r.request_id = format!("storm-{seed}");
            let reply = client.launch(r).await.expect("retry");
            assert!(!reply.created, "launch {seed} was acknowledged but lost");
            assert_eq!(&reply.training.expect("t").training_id, id);
        }
        // Nothing is duplicated: one training per experiment.
        let mut experiments = Vec::new();
        let mut token = String::new();
        loop {
            let page = client
                .list_trainings(v1::ListTrainingsRequest { page_size: 1000, page_token: token.clone(), ..Default::default() })
                .await
                .expect("list");
            experiments.extend(page.trainings.into_iter().map(|t| t.experiment_id));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let total = experiments.len();
        experiments.sort();
        experiments.dedup();
        assert_eq!(experiments.len(), total, "duplicated trainings");
        assert!(total >= acked.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn architectures_and_build_experiment() {
    let db = databases().remove(0);
    let mut env = Env::new(&db).await;
    let c = &mut env.client;
    let all = c.list_architectures("").await.expect("architectures");
    assert!(all.len() > 100, "{}", all.len());
    let detection = c.list_architectures("image_detection").await.expect("detection");
    assert!(!detection.is_empty() && detection.iter().all(|a| a.task == "image_detection"));

    let key = "image_classification.pretraining_natural_rgb.softmax.efficientnet_b0";
    let overrides: std::collections::BTreeMap<String, pbjson_types::Value> = [
        ("config_path".to_owned(), pbjson_types::Value { kind: Some(pbjson_types::value::Kind::StringValue("gs://b/c.prototxt".into())) }),
        ("batch_size".to_owned(), pbjson_types::Value { kind: Some(pbjson_types::value::Kind::NumberValue(16.0)) }),
        // Inside the schema's search space for the learning rate (the default lies below it).
        ("initial_learning_rate".to_owned(), pbjson_types::Value { kind: Some(pbjson_types::value::Kind::NumberValue(0.001)) }),
    ]
    .into_iter()
    .collect();
    let hyperparameters = [
        // The schema's search space.
        ("trainer.initial_learning_rate".to_owned(), v1::HyperParameter::default()),
        // A distribution of our own.
        (
            "trainer.batch_size".to_owned(),
            serde_json::from_str(r#"{"categorical": {"values": [{"integerValue": 8}, {"integerValue": 16}]}}"#)
                .expect("distribution"),
        ),
    ]
    .into_iter()
    .collect();
    let arch = v1::ArchitectureExperiment { architecture: key.into(), overrides, hyperparameters };
    let built = c
        .platform()
        .build_experiment(v1::BuildExperimentRequest { experiment: Some(arch.clone()) })
        .await
        .expect("build")
        .into_inner();
    let file = built.file.expect("file");
    assert_eq!(file.format_version, 1);
    assert_eq!(file.architecture, key);
    let searched = &file.experiment.as_ref().expect("experiment").hyperparameters;
    assert_eq!(searched.keys().collect::<Vec<_>>(), ["trainer.batch_size", "trainer.initial_learning_rate"]);
    let schema_space = searched["trainer.initial_learning_rate"].distribution.as_ref();
    assert!(schema_space.is_some(), "the schema's search space is filled in");
    let Some(v1::hyper_parameter::Distribution::Categorical(batch)) = searched["trainer.batch_size"].distribution.as_ref() else {
        panic!("batch_size: {:?}", searched["trainer.batch_size"]);
    };
    assert_eq!(batch.values.len(), 2);
    // Launching the same architecture and overrides, or the built file, gives that experiment id.
    let mut request = launch("ds", 0);
    request.experiment = Some(Experiment::Architecture(arch));
    let launched = c.launch(request).await.expect("launch").training.expect("t");
    assert_eq!(launched.experiment_id, built.experiment_id);
    let mut request = launch("ds", 0);
    request.experiment = Some(Experiment::File(file));
    let again = c.launch(request).await.expect("launch file");
    assert!(!again.created);
    assert_eq!(again.training.expect("t").training_id, launched.training_id);
    let bad = c.platform().build_experiment(v1::BuildExperimentRequest { experiment: None }).await.expect_err("empty");
    assert_eq!(violations(&bad), ["experiment"]);
}
