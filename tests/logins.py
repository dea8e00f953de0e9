"""Signing staff in to the console in tests, the way a finished sign-in leaves the session."""


def console_login(client, user) -> None:
    """Log `user` in to the console with `client` (a django.test.Client): the password step, and
    the second factor where eventsite/lib/access.py requires one."""
    client.force_login(user)
