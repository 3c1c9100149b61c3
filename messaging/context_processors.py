from messaging import selectors


def inbox(request):
    """``inbox_unread`` for the nav: counted only when a page shows it, and only for a member."""
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return {}
    return {"inbox_unread": lambda: selectors.inbox_unread(tenant=tenant)}
