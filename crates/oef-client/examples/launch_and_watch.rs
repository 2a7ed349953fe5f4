//! Launches a training of an architecture with one override, and prints its events until it
//! finishes (run a worker, e.g. `oef worker --exec 'echo metric loss 1 0.5'`, to finish it).
//!
//! ```sh
//! cargo run -p oef-client --example launch_and_watch -- http://127.0.0.1:50051 "$OEF_API_KEY"
//! ```

use oef_client::Client;
use oef_proto::v1::{self, launch_experiment_request::Experiment};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let server = args.next().unwrap_or_else(|| "http://127.0.0.1:50051".into());
    let key = args.next().or_else(|| std::env::var("OEF_API_KEY").ok()).ok_or("give an API key")?;

    let mut client = Client::connect(&server, &key).await?;
    let overrides = [(
        "config_path".to_owned(),
        pbjson_types::Value { kind: Some(pbjson_types::value::Kind::StringValue("gs://bucket/cats/config.prototxt".into())) },
    )];
    let response = client
        .launch(v1::LaunchExperimentRequest {
            dataset: "cats".into(),
            experiment: Some(Experiment::Architecture(v1::ArchitectureExperiment {
                architecture: "image_classification.pretraining_natural_rgb.softmax.efficientnet_b0".into(),
                overrides: overrides.into_iter().collect(),
                // Searched over the search space the schema declares for it.
                hyperparameters: [("trainer.initial_learning_rate".to_owned(), v1::HyperParameter::default())]
                    .into_iter()
                    .collect(),
            })),
            ..Default::default()
        })
        .await?;
    let training = response.training.ok_or("no training")?;
    println!("training {} (created: {}), experiment {}", training.training_id, response.created, training.experiment_id);

    let mut events = client.watch_training(&training.training_id, 0).await?;
    while let Some(event) = events.message().await? {
        println!("{}", serde_json::to_string(&event)?);
    }
    Ok(())
}
