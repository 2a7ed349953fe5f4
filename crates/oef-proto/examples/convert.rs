//! Detects the encoding and format version of an experiment file and prints it in another
//! encoding, losslessly.
//!
//! ```text
//! cargo run -p oef-proto --example convert -- FILE [binary|json|text]
//! ```

use std::io::Write;

use oef_proto::codec::{self, Encoding};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: convert FILE [binary|json|text]")?;
    let target = match args.next() {
        Some(name) => Encoding::parse(&name).ok_or_else(|| format!("unknown encoding {name:?}"))?,
        None => Encoding::Json,
    };
    let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let (detected, message) = codec::decode(&bytes).map_err(|e| format!("{path}: {e}"))?;
    eprintln!("{path}: format v{} ({}), {} bytes", detected.version, detected.encoding, bytes.len());
    let out = codec::encode_message(&message, target)?;
    if target == Encoding::Binary && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err("refusing to write binary to a terminal; redirect stdout".into());
    }
    std::io::stdout().write_all(&out)?;
    Ok(())
}
