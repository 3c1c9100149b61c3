import logging
import os
import signal
import subprocess

from celery import shared_task
from django.conf import settings

from smscrm.heartbeats import heartbeat_record, worker_component
from smscrm.locks import single_run

logger = logging.getLogger(__name__)

# A dump that takes longer than this is stuck (a lock it waits on, a hung disk): stop it.
BACKUP_TIMEOUT_SECONDS = 2 * 60 * 60


@shared_task(name="smscrm.tasks.worker_heartbeat", ignore_result=True)
def worker_heartbeat(queue: str = settings.QUEUE_DEFAULT) -> None:
    """Proves a worker is consuming ``queue``: beat sends one to each queue (CELERY_BEAT_SCHEDULE)
    every HEARTBEAT_INTERVAL_SECONDS, routed to that queue, and it records ``worker:<queue>``."""
    heartbeat_record(component=worker_component(queue))


@shared_task(
    name="smscrm.backup",
    ignore_result=True,
    soft_time_limit=BACKUP_TIMEOUT_SECONDS + 30,
    time_limit=BACKUP_TIMEOUT_SECONDS + 60,
)
@single_run("smscrm.backup", timeout=BACKUP_TIMEOUT_SECONDS)
def backup() -> None:
    """Run scripts/backup.sh into BACKUP_DIR (beat sends this daily when BACKUP_DIR is set).

    The script does the work (dump, checksum, media, retention) so cron and this task make the
    same backups; a failure is raised with the script's one-line reason, for the worker's log.
    """
    if not settings.BACKUP_DIR:
        return
    script = settings.BASE_DIR / "scripts" / "backup.sh"
    # The script dumps DATABASE_URL (this worker's own; unset under SQLite, which it refuses).
    environment = {**os.environ, "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    # Its own process group: on a timeout pg_dump goes too, and the script's trap removes the
    # partial files (SIGTERM first; SIGKILL only if it will not go).
    process = subprocess.Popen(  # noqa: S603 (our own script, no shell)
        [str(script), "--dir", str(settings.BACKUP_DIR)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=BACKUP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
        raise RuntimeError(f"backup.sh took over {BACKUP_TIMEOUT_SECONDS} s: stopped") from None
    if process.returncode != 0:
        raise RuntimeError(stderr.strip().splitlines()[-1] if stderr.strip() else "backup.sh failed")
    logger.info("%s", stdout.strip().splitlines()[0] if stdout.strip() else "backup done")
