"""The product's URLs plus /bench/trivial, the 'trivial Django view' that single-event ingest is held to."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from eventsite.urls import urlpatterns as product_urlpatterns


@csrf_exempt
def trivial(request):
    return HttpResponse(b'{"status":"OK"}', content_type="application/json")


urlpatterns = [path("bench/trivial", trivial), *product_urlpatterns]
