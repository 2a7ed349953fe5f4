//! Lists the architectures of a task family: `cargo run -p oef-catalog --example list_models
//! -- image_classification`.

use oef_catalog::{Catalog, Filter};

fn main() {
    let task = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "image_ocr".to_owned());
    let filter = Filter {
        task: Some(task),
        ..Filter::default()
    };
    for architecture in Catalog::global().filter(&filter) {
        println!("{:70} {}", architecture.key, architecture.display_name);
    }
    if let Err(err) = Catalog::global().get("image_ocr.pretraining_none.crnn.resnet") {
        println!("{err}");
    }
}
