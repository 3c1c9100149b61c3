from messaging import conversation_selectors


def inbox(request):
    """``inbox_unread`` for the nav: the threads with something unread (one count query), counted
    only when a page shows it, and only for a member."""
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return {}
    return {"inbox_unread": lambda: conversation_selectors.unread_conversation_count(tenant=tenant)}
