from django.db import models


class Heartbeat(models.Model):
    """The last time a background component proved it was alive.

    One row per component ("worker", "beat"). The worker writes its row from a periodic task,
    the beat scheduler from its own tick, and /health reads their ages. Kept in the database so
    that it works across processes with the embedded defaults too (no Redis needed).
    """

    component = models.CharField(max_length=32, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.component} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"
