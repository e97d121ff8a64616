// A handler method must return the task's declared result type.
use kombu::celery::{TaskError, TaskRequest};
use kombu::Tasks;

#[derive(Tasks)]
#[allow(dead_code)]
enum Math {
    #[kombu(task = "tasks.add", result = "i64")]
    Add { x: i64, y: i64 },
}

struct Handler;

impl MathHandler for Handler {
    async fn add(&self, x: i64, y: i64, _: &TaskRequest) -> Result<String, TaskError> {
        Ok((x + y).to_string())
    }
}

fn main() {}
