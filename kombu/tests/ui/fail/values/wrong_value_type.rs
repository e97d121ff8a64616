#[derive(serde::Deserialize, kombu::Consumer)]
#[kombu(queue(name = "video", exchange = "media"), prefetch = "ten")]
struct Video {
    name: String,
}

fn main() {}
