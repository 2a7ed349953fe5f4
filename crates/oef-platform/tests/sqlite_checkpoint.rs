//! The SQLite store copies its write-ahead log into the database file in the background when
//! writes pause (not on a clock, see `checkpoint_loop` in `src/store/mod.rs`). Without that
//! copy, the database file keeps the size it had before the writes and the log grows forever.

use std::{sync::Arc, time::Duration};

use oef_platform::store::{self, NewLaunch, Storage};

fn launch(n: usize) -> NewLaunch {
    NewLaunch {
        org: "org".into(),
        dataset: "ds".into(),
        view_id: "view".into(),
        experiment_id: format!("{n:064x}"),
        architecture: "arch".into(),
        tags: vec![format!("n{n}")],
        force_new: false,
        request_id: None,
        file: vec![b'x'; 2048],
    }
}

fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_in_writes_checkpoints_the_log_into_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("checkpoint.db");
    let store: Arc<dyn Storage> = store::open(&format!("sqlite://{}", db.display())).await.unwrap();
    let before = size(&db);
    for n in 0..300 {
        store.launch(launch(n)).await.unwrap();
    }
    let wal = size(&dir.path().join("checkpoint.db-wal"));
    assert!(wal > 300 * 2048, "the launches are in the log ({wal} bytes)");
    // 300 launches of 2 KB cannot fit in the file as it was before them: it grows once the
    // log is copied in, which the store does by itself a tick (100 ms) after writes stop.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size(&db) < before + 300 * 2048 {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint 10 s after the writes stopped: database file {} bytes, was {before}",
            size(&db)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The copied rows read back (from the database file, the log being fully copied).
    assert!(!store.launch(launch(7)).await.unwrap().created);
}
