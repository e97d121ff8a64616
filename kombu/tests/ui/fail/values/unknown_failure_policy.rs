#[derive(serde::Deserialize, kombu::Consumer)]
#[kombu(queue(name = "video", exchange = "media"), on_failure = "requeu")]
struct Video {
    name: String,
}

fn main() {}
