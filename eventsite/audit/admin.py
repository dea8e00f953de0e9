"""The audit page: every recorded staff action, read-only, for superusers and the Privacy officers
role (the audit.view_staffaction permission). Nobody adds, changes or deletes rows here."""

import json

from django.contrib import admin
from django.utils.html import format_html

from eventsite.audit.models import StaffAction
from eventsite.lib.admin import ReadOnlyAdmin


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_name", "via", "action", "target", "request_id"]
    list_filter = ["action", "via", ("actor", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["actor_name", "action", "target_repr", "request_id"]
    date_hierarchy = "at"
    list_select_related = False
    show_full_result_count = False
    actions = None
    fields = ["at", "actor", "actor_name", "via", "action", "target_type", "target_id", "target_repr",
              "detail_json", "request_id"]
    readonly_fields = fields

    @admin.display(description="target")
    def target(self, obj):
        if not obj.target_type:
            return ""
        return f"{obj.target_type} #{obj.target_id}: {obj.target_repr}"

    @admin.display(description="detail")
    def detail_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.detail, indent=2, sort_keys=True, ensure_ascii=False))
