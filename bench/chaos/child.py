"""One product call in a process of its own, for a scenario to kill or to cut off.

    python -m bench.chaos.child ACTION JSON

- ``launch {"campaign_id": N}``: campaigns.services.campaign_launch, with whatever broker
  REDIS_URL names (the redis scenario points it at a stopped redis-server);
- ``import_commit {"import_id": N}``: contacts.services.contact_import_commit, whose commit task
  then runs here (CELERY_TASK_ALWAYS_EAGER): the import scenario SIGKILLs this process;
- ``import_resume {"import_id": N, "seconds": S}``: contacts.services.contact_imports_resume_stalled,
  asked until it resumes the import (its lease lapsed); the resumed commit runs here too.

Prints one JSON line with what happened.
"""

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscrm.settings")
    import django

    django.setup()
    action, payload = argv[0], json.loads(argv[1])
    if action == "launch":
        from campaigns import services
        from campaigns.models import Campaign

        campaign = services.campaign_launch(campaign=Campaign.objects.get(pk=payload["campaign_id"]), actor=None)
        campaign.refresh_from_db()
        print(json.dumps({"status": campaign.status, "jobs_created_at": str(campaign.jobs_created_at)}), flush=True)
    elif action == "import_commit":
        from contacts import services
        from contacts.models import ContactImport

        imp = services.contact_import_commit(
            contact_import=ContactImport.objects.get(pk=payload["import_id"]), actor=None
        )
        imp.refresh_from_db()
        print(json.dumps({"status": imp.status, "committed_rows": imp.committed_rows}), flush=True)
    elif action == "import_resume":
        from contacts import services
        from contacts.models import ContactImport

        deadline = time.monotonic() + payload["seconds"]
        resumed: list[int] = []
        while payload["import_id"] not in resumed and time.monotonic() < deadline:
            resumed = services.contact_imports_resume_stalled()  # the commit runs inside, eagerly
            if payload["import_id"] not in resumed:
                time.sleep(0.1)
        imp = ContactImport.objects.get(pk=payload["import_id"])
        print(json.dumps({"resumed": resumed, "status": imp.status, "committed_rows": imp.committed_rows}), flush=True)
    else:
        raise SystemExit(f"unknown action {action}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
