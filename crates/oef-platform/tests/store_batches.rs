//! Launches that reach the storage writer together are committed in one transaction, and a run
//! of plain launches goes through multi-row statements. These tests send launches concurrently
//! (so that they share batches) and check that every outcome and every stored row is what
//! launching them one by one gives: new keys create trainings (record, event, tags, experiment),
//! known keys return the existing training, a key repeated within a batch creates one training.
//! On SQLite, and on PostgreSQL too when `OEF_TEST_POSTGRES_URL` is set.

use std::{collections::HashSet, sync::Arc};

use oef_platform::store::{self, EventKind, LaunchOutcome, ListFilter, NewLaunch, Storage};

/// The stores to test: a fresh SQLite file, and PostgreSQL when configured.
async fn stores(dir: &tempfile::TempDir) -> Vec<(String, Arc<dyn Storage>)> {
    let sqlite = format!("sqlite://{}", dir.path().join("batches.db").display());
    let mut out = vec![("sqlite".to_owned(), store::open(&sqlite).await.unwrap())];
    if let Ok(url) = std::env::var("OEF_TEST_POSTGRES_URL") {
        out.push(("postgres".to_owned(), store::open(&url).await.unwrap()));
    }
    out
}

/// A unique organization per test run (the PostgreSQL database is shared between runs).
fn org(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{name}-{nanos}")
}

fn launch(org: &str, n: usize) -> NewLaunch {
    NewLaunch {
        org: org.to_owned(),
        dataset: "ds".into(),
        view_id: format!("view-{}", n % 3),
        experiment_id: format!("{:064x}", n),
        architecture: "arch".into(),
        tags: if n % 2 == 0 { vec!["even".into(), format!("n{n}")] } else { Vec::new() },
        force_new: false,
        request_id: None,
        file: format!("file of experiment {n}").into_bytes(),
    }
}

/// Sends all launches at once and returns their outcomes in order.
async fn concurrently(store: &Arc<dyn Storage>, launches: Vec<NewLaunch>) -> Vec<LaunchOutcome> {
    let tasks: Vec<_> = launches
        .into_iter()
        .map(|l| {
            let store = Arc::clone(store);
            tokio::spawn(async move { store.launch(l).await })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_launches_store_what_sequential_launches_store() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in stores(&dir).await {
        let org = org("batches");
        let first = concurrently(&store, (0..200).map(|n| launch(&org, n)).collect()).await;
        assert!(first.iter().all(|o| o.created), "{backend}: every new key creates a training");
        let ids: HashSet<_> = first.iter().map(|o| o.training.id.clone()).collect();
        assert_eq!(ids.len(), 200, "{backend}: distinct training ids");

        for (n, outcome) in first.iter().enumerate() {
            let t = &outcome.training;
            let expected = launch(&org, n);
            assert_eq!((t.view_id.as_str(), t.experiment_id.as_str()), (expected.view_id.as_str(), expected.experiment_id.as_str()));
            assert_eq!(t.tags, expected.tags, "{backend}");
            assert_eq!(store.training(&org, &t.id).await.unwrap().as_ref(), Some(t), "{backend}: stored as returned");
            let events = store.events(&t.id, 0, 10).await.unwrap();
            assert_eq!(events.len(), 1, "{backend}: one event");
            assert!(
                matches!(&events[0].kind, EventKind::Status { from: 0, to, .. } if *to == t.status),
                "{backend}: {:?}",
                events[0]
            );
            assert_eq!(store.experiment(&t.experiment_id).await.unwrap(), Some(expected.file), "{backend}");
        }
        let tagged = store.list(&org, &ListFilter { tag: "even".into(), limit: 1000, ..Default::default() }).await.unwrap();
        assert_eq!(tagged.len(), 100, "{backend}: tags stored");

        // Known keys mixed with new ones: the known return their training, the new create.
        let second = concurrently(&store, (100..300).map(|n| launch(&org, n)).collect()).await;
        for (i, outcome) in second.iter().enumerate() {
            let n = 100 + i;
            if n < 200 {
                assert!(!outcome.created, "{backend}: key {n} was launched before");
                assert_eq!(outcome.training, first[n].training, "{backend}: key {n}");
            } else {
                assert!(outcome.created, "{backend}: key {n} is new");
            }
        }

        // One key many times in one burst: one training, returned to every caller.
        let burst = concurrently(&store, (0..50).map(|_| launch(&org, 1000)).collect()).await;
        assert_eq!(burst.iter().filter(|o| o.created).count(), 1, "{backend}");
        assert_eq!(burst.iter().map(|o| &o.training.id).collect::<HashSet<_>>().len(), 1, "{backend}");

        let all = store.list(&org, &ListFilter { limit: 1000, ..Default::default() }).await.unwrap();
        assert_eq!(all.len(), 301, "{backend}: 300 keys and the burst's one");
    }
}

/// Launches awaited one at a time are each alone in their batch: on SQLite they take the
/// one-query path, which must store exactly what the general path stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_launches_store_what_batched_launches_store() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in stores(&dir).await {
        let org = org("lone");
        let mut first = Vec::new();
        for n in 0..12 {
            first.push(store.launch(launch(&org, n)).await.unwrap());
        }
        for (n, outcome) in first.iter().enumerate() {
            assert!(outcome.created, "{backend}: key {n} is new");
            let t = &outcome.training;
            let expected = launch(&org, n);
            assert_eq!(
                (t.org.as_str(), t.dataset.as_str(), t.view_id.as_str(), t.experiment_id.as_str(), t.architecture.as_str()),
                (org.as_str(), "ds", expected.view_id.as_str(), expected.experiment_id.as_str(), "arch"),
                "{backend}"
            );
            assert_eq!(t.tags, expected.tags, "{backend}");
            assert_eq!((t.last_seq, t.attempts, t.request_id.as_deref()), (1, 0, None), "{backend}");
            assert_eq!(t.created_us, t.updated_us, "{backend}");
            assert_eq!(store.training(&org, &t.id).await.unwrap().as_ref(), Some(t), "{backend}: stored as returned");
            let events = store.events(&t.id, 0, 10).await.unwrap();
            assert_eq!(events.len(), 1, "{backend}: one event");
            assert!(matches!(&events[0].kind, EventKind::Status { from: 0, to, .. } if *to == t.status), "{backend}");
            assert_eq!(store.experiment(&t.experiment_id).await.unwrap(), Some(expected.file), "{backend}");
        }
        let tagged = store.list(&org, &ListFilter { tag: "n4".into(), limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(tagged.iter().map(|t| &t.id).collect::<Vec<_>>(), vec![&first[4].training.id], "{backend}");
        let even = store.list(&org, &ListFilter { tag: "even".into(), limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(even.len(), 6, "{backend}");

        // A known key, alone: the existing training, nothing new stored.
        let again = store.launch(launch(&org, 7)).await.unwrap();
        assert!(!again.created, "{backend}");
        assert_eq!(again.training, first[7].training, "{backend}");
        assert_eq!(store.events(&again.training.id, 0, 10).await.unwrap().len(), 1, "{backend}");
        let all = store.list(&org, &ListFilter { limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(all.len(), 12, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_and_force_new_mixed_into_a_burst_keep_their_meaning() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in stores(&dir).await {
        let org = org("mixed");
        let base = concurrently(&store, (0..20).map(|n| launch(&org, n)).collect()).await;
        let mut burst: Vec<NewLaunch> = (0..20).map(|n| launch(&org, n)).collect();
        burst[3].force_new = true;
        burst[7].request_id = Some("retry-7".into());
        burst.extend((20..40).map(|n| launch(&org, n)));
        let outcomes = concurrently(&store, burst).await;
        for (n, outcome) in outcomes.iter().enumerate() {
            match n {
                3 => assert!(outcome.created && outcome.training.id != base[3].training.id, "{backend}: force_new"),
                n if n < 20 => assert_eq!(outcome.training.id, base[n].training.id, "{backend}: key {n}"),
                _ => assert!(outcome.created, "{backend}: key {n}"),
            }
        }
        // The request id of launch 7 (which found its key) is not recorded on the old training;
        // reusing it on the same key is still answered with that training.
        let again = store.launch({
            let mut l = launch(&org, 7);
            l.request_id = Some("retry-7".into());
            l
        })
        .await
        .unwrap();
        assert_eq!(again.training.id, base[7].training.id, "{backend}");
    }
}

/// A write that fails in the database fails alone, and the writer goes on: a lone failed launch
/// is an error for its caller only; in a burst that shares its transaction, the others are
/// retried one by one and stored; the writer gives its connection back after the error and
/// takes one again for the next write. The failure is a trigger added to the SQLite file by a
/// connection of the test's own (SQLite only: the injected trigger is SQLite's syntax).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_error_fails_its_own_write_only() {
    use sqlx::ConnectOptions as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("errors.db");
    let store = store::open(&format!("sqlite://{}", path.display())).await.unwrap();
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).connect().await.unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON trainings WHEN NEW.dataset = 'refused' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let org = org("errors");
    let refused = |n| NewLaunch { dataset: "refused".into(), ..launch(&org, n) };

    let error = store.launch(refused(1000)).await.unwrap_err();
    assert!(matches!(&error, store::StoreError::Database(_)), "{error:?}");
    assert!(error.to_string().contains("refused by the test"), "{error}");
    assert!(store.launch(launch(&org, 1)).await.unwrap().created, "the write after the error");

    let tasks: Vec<_> = (2..62)
        .map(|n| {
            let store = Arc::clone(&store);
            let l = if n == 20 { refused(n) } else { launch(&org, n) };
            tokio::spawn(async move { (n, store.launch(l).await) })
        })
        .collect();
    for task in tasks {
        let (n, outcome) = task.await.unwrap();
        match outcome {
            Ok(outcome) if n != 20 => assert!(outcome.created, "launch {n}"),
            Err(store::StoreError::Database(_)) if n == 20 => {}
            other => panic!("launch {n}: {other:?}"),
        }
    }
    let stored = store.list(&org, &ListFilter { limit: 1000, ..Default::default() }).await.unwrap();
    assert_eq!(stored.len(), 60, "every launch but the refused ones is stored");
    assert!(stored.iter().all(|t| t.dataset == "ds"));
}
