"""The Python side of the Celery interop tests (kombu/tests/celery.rs): a Celery app with the
rpc:// result backend and the tasks a Rust client calls. Queue names come from the
environment so that each test run has its own:

    KOMBU_CELERY_BROKER   amqp://guest:guest@127.0.0.1:5672//
    KOMBU_CELERY_PY_QUEUE the queue this worker consumes (Python tasks)
    KOMBU_CELERY_RS_QUEUE the queue the Rust worker consumes (Rust tasks)
"""
import os

from celery import Celery

BROKER = os.environ.get("KOMBU_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
PY_QUEUE = os.environ.get("KOMBU_CELERY_PY_QUEUE", "kombu-celery-py")
RS_QUEUE = os.environ.get("KOMBU_CELERY_RS_QUEUE", "kombu-celery-rs")

app = Celery("kombu_interop", broker=BROKER, backend="rpc://")
app.conf.update(
    task_default_queue=PY_QUEUE,
    task_routes={"rust.*": {"queue": RS_QUEUE}},
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    result_expires=600,
)


@app.task(name="tasks.add")
def add(x, y):
    return x + y


@app.task(name="tasks.fail")
def fail(message):
    raise ValueError(message)


@app.task(name="tasks.retry_once", bind=True, max_retries=3)
def retry_once(self, value):
    """Retries once after a second, then returns what it was given and how often it ran."""
    if self.request.retries < 1:
        raise self.retry(countdown=1)
    return {"value": value, "retries": self.request.retries}


@app.task(name="tasks.echo")
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}
