// Shapes a task enum cannot have: parameters without names, a positional parameter after a
// keyword-only one, two variants registered under one Celery name, a struct.
use kombu::Tasks;

#[derive(Tasks)]
enum Images {
    Resize(String, u32),
    Crop {
        #[kombu(kwarg)]
        quality: u8,
        path: String,
    },
    #[kombu(task = "images.rotate")]
    Rotate { path: String },
    #[kombu(task = "images.rotate")]
    Turn { path: String },
}

#[derive(Tasks)]
struct NotAnEnum {
    path: String,
}

fn main() {}
