// A struct message: the handler has a single `receive`, shared by both queues.
use kombu::{Consumer, Disposition, Message};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Consumer)]
#[kombu(
    queue(name = "video", exchange = "media", routing_key = "video"),
    queue(name = "video-hd", exchange = "media", routing_key = "video.hd", queue_type = "quorum"),
)]
struct Video {
    name: String,
    size: u64,
}

struct Transcoder;

impl VideoHandler for Transcoder {
    async fn receive(&self, video: Video, _: &Message) -> Disposition {
        let _ = (video.name, video.size);
        Disposition::Ack
    }
}

fn main() {
    let _ = VideoConsumer::<Transcoder>::start;
}
