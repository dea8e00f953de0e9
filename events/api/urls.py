from django.urls import path

from events.api import ksense

urlpatterns = [
    path("api/v2/events/post_event", ksense.post_event, name="ksense-post-event"),
]
