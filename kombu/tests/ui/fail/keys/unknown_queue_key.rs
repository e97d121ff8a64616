#[derive(serde::Deserialize, kombu::Consumer)]
#[kombu(queue(name = "video", exchange = "media", routing_ky = "video"))]
struct Video {
    name: String,
}

fn main() {}
