from django.http import HttpResponseRedirect
from django.urls import include, path


def bare_302(request):
    """The floor: a Django view that only answers a fixed 302, through the whole middleware stack."""
    return HttpResponseRedirect("https://example.com/fixed")


urlpatterns = [
    path("bench/bare-302", bare_302),
    path("", include("smscrm.urls")),
]
