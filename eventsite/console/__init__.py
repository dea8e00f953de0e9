"""The console pages that span apps (the Django admin is eventsite's console).

An app's own admin pages stay in its admin.py and call its services; pages whose action
reaches several layers (a purge erases events and export files) live here, at the top, so
that no domain app imports upward.
"""
