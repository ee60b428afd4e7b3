"""`python -m paneas.gateway.jobs`: one jobs worker (Celery, prefork with one child: one job
at a time, and a child that dies mid-job gives its task back to the queue)."""

from paneas.gateway.jobs.queue import QUEUE, WEBHOOK_QUEUE
from paneas.gateway.jobs.worker import app
from paneas.services.runtime.logs import configure_logging
from paneas.services.runtime.settings import RuntimeSettings


def main() -> None:
    runtime = RuntimeSettings()
    configure_logging("jobs", runtime.log_level, runtime.log_format)
    # Celery's records and ours go through the stack's log format (JSON lines or console),
    # not through Celery's own handler and stdout redirection.
    app.conf.update(worker_hijack_root_logger=False, worker_redirect_stdouts=False)
    app.worker_main(
        [
            "worker",
            # Webhooks too: a delivery waits at most for the job running now.
            f"--queues={QUEUE},{WEBHOOK_QUEUE}",
            "--pool=prefork",
            "--concurrency=1",
            f"--loglevel={runtime.log_level}",
            # One worker per stack: nothing to synchronise with at start or to gossip about.
            "--without-mingle",
            "--without-gossip",
        ]
    )


if __name__ == "__main__":
    main()
