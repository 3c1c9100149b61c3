"""Threads for the numbers that texted us before conversations existed (issue 19).

Set-based, in four statements that PostgreSQL and SQLite both run: one thread per (tenant,
texter) of the inbound texts; every message to or from that number joins it; each thread's
summary is read from its messages. A thread needs a reply when its last message is theirs and
unread; none counts as waiting (no notification storm for old texts).
"""

from django.db import migrations

INSERT = """
INSERT INTO messaging_conversation (
    tenant_id, phone_e164, contact_id, campaign_id, last_message_at, last_inbound_at, last_outbound_at,
    last_body, last_direction, unread_count, needs_reply, waiting_since, assigned_to_id, closed_at,
    notified_at, created_at
)
SELECT tenant_id, from_sender, MAX(contact_id), MAX(campaign_id), MAX(created_at), MAX(created_at), NULL,
       '', 'in', SUM(CASE WHEN read_at IS NULL THEN 1 ELSE 0 END), %s, NULL, NULL, NULL, NULL, MIN(created_at)
FROM messaging_message
WHERE kind = 'inbound'
GROUP BY tenant_id, from_sender
"""

JOIN = """
UPDATE messaging_message SET conversation_id = (
    SELECT c.id FROM messaging_conversation c
    WHERE c.tenant_id = messaging_message.tenant_id
      AND c.phone_e164 = CASE WHEN messaging_message.kind = 'inbound'
                              THEN messaging_message.from_sender ELSE messaging_message.to_phone END
)
WHERE conversation_id IS NULL
  AND EXISTS (
    SELECT 1 FROM messaging_conversation c
    WHERE c.tenant_id = messaging_message.tenant_id
      AND c.phone_e164 = CASE WHEN messaging_message.kind = 'inbound'
                              THEN messaging_message.from_sender ELSE messaging_message.to_phone END
)
"""

SUMMARY = """
UPDATE messaging_conversation SET
    last_outbound_at = (
        SELECT MAX(m.created_at) FROM messaging_message m
        WHERE m.conversation_id = messaging_conversation.id AND m.kind <> 'inbound'
    ),
    last_body = COALESCE((
        SELECT substr(m.body, 1, 160) FROM messaging_message m
        WHERE m.conversation_id = messaging_conversation.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1
    ), ''),
    last_direction = COALESCE((
        SELECT CASE WHEN m.kind = 'inbound' THEN 'in' ELSE 'out' END FROM messaging_message m
        WHERE m.conversation_id = messaging_conversation.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1
    ), 'in')
"""

LATEST = """
UPDATE messaging_conversation SET
    last_message_at = CASE WHEN last_outbound_at > last_message_at THEN last_outbound_at ELSE last_message_at END,
    needs_reply = CASE WHEN last_direction = 'in' AND unread_count > 0 THEN %s ELSE %s END
"""


def build(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(INSERT, [False])
        cursor.execute(JOIN)
        cursor.execute(SUMMARY)
        cursor.execute(LATEST, [True, False])


def unbuild(apps, schema_editor):
    Message = apps.get_model("messaging", "Message")
    Conversation = apps.get_model("messaging", "Conversation")
    Message.objects.filter(conversation__isnull=False).update(conversation=None)
    Conversation.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("messaging", "0010_conversations")]

    operations = [migrations.RunPython(build, unbuild)]
