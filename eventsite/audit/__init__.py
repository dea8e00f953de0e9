"""The audit of staff actions (issue 15): who changed tokens, datasources, purges, suppressions,
retention, roles or second-factor devices, when, through which channel, under which request id.

One recorder, `services.staff_action_record`, called by the domain services that make those
changes (so the admin, the management API and commands are covered by one call each), and by
model-signal receivers where no service stands between the entry points and the model (the
admin's and the API's model forms and serializers, Django's auth models, django-otp's devices).
Who acts comes from eventsite.lib.context (`middleware.StaffActorMiddleware` sets it for the
console and the management API). Rows are only ever added: there is no change or delete path.

It sits just above eventsite.lib, below events, so every domain app can record.
"""
