//! Every file of `fuzz/corpus/<target>/` through its target: the seeds, and every input a
//! fuzzer once found a defect with, stay handled. A panic names the file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

fn run(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus", dir.display());
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{target}: {} fails (see the panic above)", file.display());
        }
    }
    eprintln!("{target}: {} inputs", files.len());
}

#[test]
fn every_target_has_a_corpus_and_a_runner() {
    let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    for (name, _) in kombu_fuzz::TARGETS {
        assert!(
            targets.join(format!("{name}.rs")).is_file(),
            "fuzz/fuzz_targets/{name}.rs is missing"
        );
    }
}

macro_rules! corpus_tests {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            // Deep inputs run on a thread with the stack a tokio worker has (2 MiB), where a
            // recursion bound matters most.
            std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(|| run(stringify!($name), kombu_fuzz::$name))
                .unwrap()
                .join()
                .unwrap();
        }
    )*};
}

corpus_tests!(stomp_frame, url, topology, message, codegen);
