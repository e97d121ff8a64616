"""Python sends to the Rust worker (kombu/tests/celery.rs): each scenario named on the command
line is run, and one JSON line per scenario says what `AsyncResult.get()` gave:
{"scenario": ..., "ok": value} or {"scenario": ..., "error": [exception type, message]}."""
import json
import sys

from celery import chain, signature

from tasks import PY_QUEUE, RS_QUEUE, app, add

TIMEOUT = 30


def outcome(name, run):
    try:
        value = run()
        print(json.dumps({"scenario": name, "ok": value}), flush=True)
    except Exception as e:  # noqa: BLE001 - what the test checks
        print(json.dumps({"scenario": name, "error": [type(e).__name__, str(e)]}), flush=True)


def rust(name, *args, **kwargs):
    return app.send_task(name, args=args, kwargs=kwargs, queue=RS_QUEUE)


SCENARIOS = {
    # The typed Rust task (`#[derive(Tasks)]`): positional, by keyword, and a bad argument.
    "typed": lambda: rust("rust.area", 3.0, 4.0).get(timeout=TIMEOUT),
    "typed_by_keyword": lambda: rust("rust.area", 3.0, height=4.0, scale=2.0).get(timeout=TIMEOUT),
    "typed_bad_argument": lambda: rust("rust.area", "wide", 4.0).get(timeout=TIMEOUT),
    "add": lambda: rust("rust.add", 2, 3).get(timeout=TIMEOUT),
    "kwargs": lambda: rust("rust.greet", "Ada", punctuation="!").get(timeout=TIMEOUT),
    "fail": lambda: rust("rust.fail", "no such image").get(timeout=TIMEOUT),
    "retry": lambda: rust("rust.retry_once", 7).get(timeout=TIMEOUT),
    "unknown": lambda: rust("rust.no_such_task").get(timeout=TIMEOUT),
    "expired": lambda: app.send_task(
        "rust.add", args=(1, 1), queue=RS_QUEUE, countdown=2, expires=1
    ).get(timeout=TIMEOUT),
    "eta": lambda: app.send_task(
        "rust.add", args=(40, 2), queue=RS_QUEUE, countdown=1
    ).get(timeout=TIMEOUT),
    # Python -> Rust -> Python: the Rust worker sends the chain's next step.
    "chain": lambda: chain(
        add.s(1, 2).set(queue=PY_QUEUE),
        signature("rust.double", queue=RS_QUEUE),
        add.s(10).set(queue=PY_QUEUE),
    ).apply_async().get(timeout=TIMEOUT),
    "link": lambda: rust_linked(),
    # The Rust worker stops a task at its time limits, as Celery's prefork pool does.
    "soft_limit": lambda: app.send_task(
        "rust.sleep", args=(5,), queue=RS_QUEUE, soft_time_limit=0.5
    ).get(timeout=TIMEOUT),
    "hard_limit": lambda: app.send_task(
        "rust.sleep", args=(5,), queue=RS_QUEUE, time_limit=0.5
    ).get(timeout=TIMEOUT),
    "within_limit": lambda: app.send_task(
        "rust.sleep", args=(0.1,), queue=RS_QUEUE, time_limit=5, soft_time_limit=4
    ).get(timeout=TIMEOUT),
}
def rust_linked():
    # The Rust task's result goes first in the Python callback's arguments; the callback
    # replies to this client (its id and reply queue set here).
    from kombu.utils.uuid import uuid

    callback_id = uuid()
    callback = add.s(100).set(queue=PY_QUEUE, task_id=callback_id, reply_to=app.thread_oid)
    first = app.send_task("rust.add", args=(20, 1), queue=RS_QUEUE, link=callback)
    return [first.get(timeout=TIMEOUT), app.AsyncResult(callback_id).get(timeout=TIMEOUT)]


if __name__ == "__main__":
    try:
        for name in sys.argv[1:]:
            outcome(name, SCENARIOS[name])
    finally:
        # The reply queue (transient, auto-delete) goes once this client's consumer does.
        app.close()
