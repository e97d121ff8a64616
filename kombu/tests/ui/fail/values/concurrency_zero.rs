#[derive(serde::Deserialize, kombu::Consumer)]
#[kombu(queue(name = "video", exchange = "media"), concurrency = 0)]
struct Video {
    name: String,
}

fn main() {}
