// Mistakes in the attributes are reported together, each at its place.
use kombu::Tasks;

#[derive(Tasks)]
#[kombu(queue = "images", exchange = "media")]
enum Images {
    #[kombu(acks_lat, result = "Vec<", priority = 300)]
    Resize { path: String },
    #[kombu(time_limit = 10, soft_time_limit = 20, exchange = "media")]
    Crop { path: String },
    #[kombu(max_retries = "3", client_only)]
    Rotate { path: String },
}

fn main() {}
