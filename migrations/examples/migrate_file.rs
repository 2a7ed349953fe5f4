//! Migrates one stored experiment to another format version and prints it as text.
//!
//! ```sh
//! cargo run -p oef-migrations --example migrate_file -- \
//!   tests/fixtures/legacy-oef/defaults/image_classification.pretraining_natural_rgb.softmax.efficientnet_b0.pb 1
//! ```

use std::{sync::Arc, time::SystemTime};

use oef_migrations::{ArchitectureIndex, CatalogDefaults, Registry, StepContext, Tool, document};
use oef_proto::codec::Encoding;
use sha2::{Digest, Sha256};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: migrate_file PATH [VERSION]")?;
    let to: u32 = args.next().map(|v| v.parse()).transpose()?.unwrap_or(oef_migrations::LATEST_VERSION);

    let bytes = std::fs::read(&path)?;
    // Encoding and version come from the content, never from the file name.
    let (encoding, input) = document::decode(&bytes)?;
    eprintln!("{path}: format v{} ({encoding})", input.version);

    // Architecture keys of v0 files are inferred from the catalog defaults (built once).
    let registry = Registry::standard(Arc::new(ArchitectureIndex::new(CatalogDefaults)));
    let context = StepContext {
        source_sha256: Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect(),
        tool: Tool::oef_migrate(),
        time: SystemTime::now(),
        architecture: None,
    };
    let output = registry.migrate(&input, to, &context)?;
    print!("{}", String::from_utf8(document::encode(&output, Encoding::Text)?)?);
    Ok(())
}
