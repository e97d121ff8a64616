#[derive(serde::Deserialize, kombu::Consumer)]
#[kombu(prefetch = 10)]
struct Video {
    name: String,
}

fn main() {}
