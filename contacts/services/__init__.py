"""Every write about contacts, consent, the do-not-contact list and imports.

Views, the admin, commands and tasks call these; none writes the models itself. Callers import
this package (``from contacts import services``; ``services.contact_create(...)``); each service
lives in the module named after its noun:

- ``contacts``: ``contact_create``, ``contact_update``, ``contact_delete``, ``phone_require_mobile``;
- ``consent``: ``consent_record_add`` and the rule for consent typed by hand (``consent_problems``);
- ``dnc``: the do-not-contact list (``dnc_add``, ``dnc_add_many``, ``dnc_remove``, ``dnc_opt_in``);
- ``contact_imports``: ``contact_import_*`` (the engine they drive is ``contacts.imports``);
- ``audit``: the audit log's ``ContactAction`` names and ``export_record``.
"""

from contacts.services.audit import ContactAction, export_record
from contacts.services.consent import CONSENT_FIELDS, consent_filled, consent_problems, consent_record_add
from contacts.services.contact_imports import (
    CONFIGURABLE,
    DISCARDABLE,
    contact_import_commit,
    contact_import_configure,
    contact_import_discard,
    contact_import_run_commit,
    contact_import_run_preview,
    contact_import_upload,
    contact_import_upload_configured,
    contact_import_upload_file,
    contact_imports_resume_stalled,
    import_wrote_rows,
)
from contacts.services.contacts import (
    EDITABLE_FIELDS,
    contact_create,
    contact_delete,
    contact_update,
    phone_require_mobile,
)
from contacts.services.dnc import DncBulkResult, dnc_add, dnc_add_many, dnc_opt_in, dnc_remove

__all__ = [
    "CONFIGURABLE",
    "CONSENT_FIELDS",
    "DISCARDABLE",
    "EDITABLE_FIELDS",
    "ContactAction",
    "DncBulkResult",
    "consent_filled",
    "consent_problems",
    "consent_record_add",
    "contact_create",
    "contact_delete",
    "contact_import_commit",
    "contact_import_configure",
    "contact_import_discard",
    "contact_import_run_commit",
    "contact_import_run_preview",
    "contact_import_upload",
    "contact_import_upload_configured",
    "contact_import_upload_file",
    "contact_imports_resume_stalled",
    "contact_update",
    "dnc_add",
    "dnc_add_many",
    "dnc_opt_in",
    "dnc_remove",
    "export_record",
    "import_wrote_rows",
    "phone_require_mobile",
]
