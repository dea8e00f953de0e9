from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

from reports.models import ReportUser


class ReportUserInline(admin.StackedInline):
    model = ReportUser
    can_delete = True
    verbose_name = "Report API customer"
    verbose_name_plural = "Report API customer (Barchart Basic auth)"
    max_num = 1


admin.site.unregister(User)


@admin.register(User)
class ReportAwareUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, ReportUserInline]
    list_display = [*UserAdmin.list_display, "report_customer"]
    list_select_related = ["report_profile"]

    @admin.display(description="report customer")
    def report_customer(self, obj):
        profile = getattr(obj, "report_profile", None)
        return profile.customer if profile else ""
