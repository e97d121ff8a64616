//! Loads topology files and prints their diagnostics: `cargo run -p kombu --example
//! topology_check -- FILE...`.

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    match kombu::topology::Topology::from_paths(&paths) {
        Ok(t) => {
            for w in t.warnings() {
                println!("{w}");
            }
            println!(
                "ok: {} exchanges, {} queues, {} messages, {} producers, {} consumers, {} tasks",
                t.model().exchanges.len(),
                t.model().queues.len(),
                t.model().messages.len(),
                t.model().producers.len(),
                t.model().consumers.len(),
                t.model().tasks.len()
            );
        }
        Err(d) => {
            println!("{d}");
            std::process::exit(1);
        }
    }
}
