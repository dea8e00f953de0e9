"""Signing staff in to the console in tests, the way a finished sign-in leaves the session."""

from django_otp import DEVICE_ID_SESSION_KEY

from eventsite.lib.access import second_factor_required


def console_login(client, user) -> None:
    """Log `user` in to the console with `client` (a django.test.Client): the password step, and
    the second factor where eventsite/lib/access.py requires one."""
    client.force_login(user)
    if second_factor_required(user):
        # As django_otp.login() leaves a session that passed the second factor: the device's id in it.
        from django_otp.plugins.otp_static.models import StaticDevice

        device, _ = StaticDevice.objects.get_or_create(user=user, name="tests", defaults={"confirmed": True})
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
