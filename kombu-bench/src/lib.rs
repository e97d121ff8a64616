//! Benchmarks that compare kombu with the other AMQP clients a Rust user would pick, in the same
//! run (`benches/amqp_clients.rs`). The library itself is empty; the crate exists so that those
//! clients are dependencies of the benchmarks only.
