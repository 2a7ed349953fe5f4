//! Writes a few files into a directory that does not exist yet, so that it appears whole:
//! `cargo run -p oef-fs --example write_a_new_dir -- /tmp/oef-fs-demo`.

use std::{fs, io, path::PathBuf};

use oef_fs::{HiddenDir, Placed};

fn main() -> io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "oef-fs-demo".to_owned()));
    let Some(hidden) = HiddenDir::begin(&dir, "oef-fs-demo") else {
        eprintln!("{}: exists already; choose a new directory", dir.display());
        std::process::exit(2);
    };
    for i in 0..3 {
        fs::write(hidden.path().join(format!("file-{i}.txt")), format!("file {i}\n"))?;
    }
    println!("written in {} (hidden)", hidden.path().display());
    hidden.flush()?;
    match hidden.place()? {
        Placed::Whole => println!("{} appeared with its 3 files", dir.display()),
        Placed::NotRenamed(hidden) => {
            // Someone created the directory meanwhile: move the files in one by one.
            fs::create_dir_all(&dir)?;
            for entry in fs::read_dir(hidden.path())? {
                let entry = entry?;
                fs::rename(entry.path(), dir.join(entry.file_name()))?;
            }
            println!("{} existed: the files were moved into it", dir.display());
        }
    }
    Ok(())
}
