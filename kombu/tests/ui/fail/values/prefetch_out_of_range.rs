#[derive(serde::Deserialize, kombu::Consumer)]
#[kombu(queue(name = "video", exchange = "media"), prefetch = 70000)]
struct Video {
    name: String,
}

fn main() {}
