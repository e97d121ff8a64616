// Celery tasks from an enum: a typed client, a handler trait and its worker.
use kombu::celery::{TaskError, TaskRequest};
use kombu::Tasks;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

/// Image work.
#[derive(Tasks)]
#[kombu(queue = "images")]
#[allow(dead_code)]
enum Images {
    /// Resizes an image.
    #[kombu(
        task = "images.resize",
        result = "Size",
        acks_late,
        max_retries = 5,
        default_retry_delay = 10,
        time_limit = 30,
        soft_time_limit = 25,
        expires = 600,
        priority = 3
    )]
    Resize {
        path: String,
        size: Size,
        #[kombu(kwarg)]
        quality: Option<u8>,
    },
    /// Reporting no result.
    #[kombu(ignore_result)]
    Ping,
    /// A Python task with a keyword-named parameter: sent from here, run by Python.
    #[kombu(task = "tasks.add", queue = "celery", result = "i64", client_only)]
    Add { x: i64, r#type: i64 },
    /// Named like a method every type has.
    #[kombu(task = "images.clone")]
    Clone {
        path: String,
        #[kombu(kwarg)]
        into: Option<String>,
    },
}

struct Handler;

impl ImagesHandler for Handler {
    async fn resize(
        &self,
        _path: String,
        size: Size,
        _quality: Option<u8>,
        _request: &TaskRequest,
    ) -> Result<Size, TaskError> {
        Ok(size)
    }

    async fn ping(&self, _request: &TaskRequest) -> Result<(), TaskError> {
        Ok(())
    }

    async fn clone(
        &self,
        path: String,
        into: Option<String>,
        _request: &TaskRequest,
    ) -> Result<(), TaskError> {
        let _ = (path, into);
        Ok(())
    }
}

#[allow(dead_code)]
async fn use_it(conn: &kombu::Connection) -> kombu::Result<()> {
    let client = ImagesClient::new(conn).await?;
    let size = Size { width: 1, height: 2 };
    let resized = client.resize("a.png".into(), size, Some(80)).apply_async().await?;
    let _size: Size = resized.get(std::time::Duration::from_secs(1)).await?;
    let _: i64 = client.add(1, 2).queue("other").apply_async().await?.get(std::time::Duration::from_secs(1)).await?;
    let worker = Handler.into_worker(conn).clear_queues().queue("images-staging");
    worker.run(kombu::Shutdown::new(std::time::Duration::from_secs(1))).await
}

fn main() {}
