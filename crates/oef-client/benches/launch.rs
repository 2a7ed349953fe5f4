//! Load generator for LaunchExperiment on loopback, embedded SQLite (durable writes:
//! WAL, synchronous=FULL, group commit). Prints:
//!
//! * throughput: distinct launches per second with many calls in flight, closed loop;
//! * latency at a fixed rate (default 1000/s, open loop): p50, p99, max, and the launches over
//!   5 ms per half second of the run (a stall shows as one window, a steady tail spreads out).
//!
//! `scripts/bench-platform.sh` runs it (`cargo bench -p oef-client --bench launch`). The server
//! runs in this process on its own runtime; client and server share the machine's cores.
//! Environment: `OEF_BENCH_SECONDS` (default 5), `OEF_BENCH_RATE` (1000), `OEF_BENCH_INFLIGHT`
//! (128), `OEF_BENCH_PHASES` (`throughput,latency`; either one alone runs just that phase).

use std::{
    sync::{
        Arc,
        atomic::{AtomicI32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use oef_client::Client;
use oef_proto::v1::{self, launch_experiment_request::Experiment};

/// The allocator of `oef serve` (`crates/oef-cli/src/main.rs`): the server measured here runs in
/// this process, so it allocates as the shipped one does (glibc's malloc showed as ~14 % of a
/// profile; the figures did not move out of the noise, 3 interleaved runs each).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The v1 file launched: an architecture's defaults, every value stated (as format v1 requires
/// and as real clients send it, ~1.3 kB), built once by the platform's own resolver.
fn default_file() -> v1::ExperimentFile {
    use oef_platform::resolve::Resolver as _;
    let overrides = [("config_path".to_owned(), serde_json::json!("gs://bench/dataset.prototxt"))].into_iter().collect();
    oef_platform::resolve::DefaultResolver
        .build("image_classification.pretraining_natural_rgb.softmax.efficientnet_b0", &overrides, &Default::default())
        .unwrap_or_else(|e| panic!("bench experiment: {e:?}"))
}

/// A launch of `file` with its seed set to `seed` (a distinct experiment per seed).
fn request(file: &v1::ExperimentFile, seed: i32) -> v1::LaunchExperimentRequest {
    let mut file = file.clone();
    if let Some(experiment) = file.experiment.as_mut() {
        experiment.seed = Some(seed);
    }
    v1::LaunchExperimentRequest {
        dataset: "bench".into(),
        experiment: Some(Experiment::File(file)),
        ..Default::default()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; a filter argument other than ours means "not us".
    if std::env::args().skip(1).any(|a| !a.starts_with("--") && a != "launch") {
        return Ok(());
    }
    // `cargo test --all-targets` runs this without `--bench`: a one-second smoke run then.
    let benching = std::env::args().any(|a| a == "--bench");
    let seconds: u64 = if benching { env("OEF_BENCH_SECONDS", 5) } else { 1 };
    let rate: u64 = if benching { env("OEF_BENCH_RATE", 1000) } else { 100 };
    let inflight: usize = env("OEF_BENCH_INFLIGHT", 128);
    let phases: String = env("OEF_BENCH_PHASES", "throughput,latency".to_owned());
    let run_throughput = phases.split(',').any(|p| p == "throughput");
    let run_latency = phases.split(',').any(|p| p == "latency");
    let file = Arc::new(default_file());
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("bench.db").display());

    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (key, address) = server_rt.block_on(async {
        let store = oef_platform::store::open(&db).await?;
        let key = oef_platform::auth::create_api_key(store.as_ref(), "bench", "bench").await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let config = oef_platform::ServerConfig::new(db.clone());
        tokio::spawn(oef_platform::serve(
            config,
            Arc::new(oef_platform::DefaultResolver),
            listener,
            std::future::pending(),
        ));
        Ok::<_, Box<dyn std::error::Error>>((key, address))
    })?;

    let client_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    client_rt.block_on(async move {
        let url = format!("http://{address}");
        let mut clients = Vec::new();
        for _ in 0..4 {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match Client::connect(&url, &key).await {
                    Ok(c) => break clients.push(c),
                    Err(e) if Instant::now() > deadline => return Err(e.into()),
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }
        let seed = Arc::new(AtomicI32::new(0));
        // Warm-up.
        for i in 0..200 {
            let mut c = clients[i % clients.len()].clone();
            c.launch(request(&file, seed.fetch_add(1, Ordering::Relaxed))).await?;
        }

        // Throughput, closed loop.
        if run_throughput {
            let done = Arc::new(AtomicU64::new(0));
            let errors = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let end = start + Duration::from_secs(seconds);
            let mut tasks = Vec::new();
            for i in 0..inflight {
                let mut c = clients[i % clients.len()].clone();
                let (seed, done, errors, file) = (seed.clone(), done.clone(), errors.clone(), file.clone());
                tasks.push(tokio::spawn(async move {
                    while Instant::now() < end {
                        match c.launch(request(&file, seed.fetch_add(1, Ordering::Relaxed))).await {
                            Ok(r) if r.created => done.fetch_add(1, Ordering::Relaxed),
                            _ => errors.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                }));
            }
            for t in tasks {
                t.await?;
            }
            let elapsed = start.elapsed().as_secs_f64();
            let n = done.load(Ordering::Relaxed);
            println!(
                "throughput: {:.0} LaunchExperiment/s ({n} launches in {elapsed:.1} s, {inflight} in flight, {} errors)",
                n as f64 / elapsed,
                errors.load(Ordering::Relaxed)
            );
        }
        if !run_latency {
            return Ok(());
        }

        // Latency at a fixed rate, open loop.
        let total = rate * seconds;
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let start = Instant::now();
        let mut handles = Vec::with_capacity(total as usize);
        for i in 0..total {
            let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
            tokio::time::sleep_until(due.into()).await;
            let mut c = clients[i as usize % clients.len()].clone();
            let request = request(&file, seed.fetch_add(1, Ordering::Relaxed));
            handles.push(tokio::spawn(async move {
                let t = Instant::now();
                let ok = c.launch(request).await.is_ok();
                (t.elapsed(), ok)
            }));
        }
        let mut latencies = Vec::with_capacity(handles.len());
        let mut failed = 0;
        // Launches over 5 ms per half second of the run: tells a stall (one window) from a
        // steady tail (spread out).
        let mut slow_windows = vec![0u32; usize::try_from(seconds * 2).unwrap_or(0)];
        for (i, h) in handles.into_iter().enumerate() {
            let (latency, ok) = h.await?;
            if !ok {
                failed += 1;
            }
            if latency > Duration::from_millis(5) {
                let window = (i as u64 * 2 / rate.max(1)) as usize;
                if let Some(count) = slow_windows.get_mut(window) {
                    *count += 1;
                }
            }
            latencies.push(latency);
        }
        let achieved = total as f64 / start.elapsed().as_secs_f64();
        latencies.sort();
        let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        println!(
            "latency at {rate}/s (achieved {achieved:.0}/s, {total} launches, {failed} errors): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            latencies.last().map(|d| d.as_secs_f64() * 1e3).unwrap_or_default(),
        );
        println!("latency over 5 ms, launches per half second of the run: {slow_windows:?}");
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    drop(server_rt);
    Ok(())
}
