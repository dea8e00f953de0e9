"""Management API for report jobs: list and read (view_reportjob; one's own jobs unless
VIEW_ALL_REPORTS), create (START_REPORT), download link (DOWNLOAD_REPORT, own job unless VIEW_ALL_REPORTS)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from eventsite.http.manage.permissions import StaffModelPermissions
from eventsite.http.reports import report_request_parse
from eventsite.lib.access import DOWNLOAD_REPORT, START_REPORT, VIEW_ALL_REPORTS
from reports.models import ReportJob
from reports.principals import ReportPrincipal
from reports.selectors import report_jobs_for_staff, report_status
from reports.services import report_job_create, report_link_issue


class ReportJobListSerializer(serializers.ModelSerializer):
    """A job in a list: without `types`, which may hold REPORT_MAX_TYPES entries per job."""

    source = serializers.CharField(read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ReportJob
        fields = ["id", "source", "status", "status_reason", "customer", "product", "start_ms", "end_ms",
                  "delimiter", "raw_values", "requested_by", "created_at", "started_at", "finished_at", "rows",
                  "bytes"]
        read_only_fields = fields


class ReportJobSerializer(ReportJobListSerializer):
    class Meta(ReportJobListSerializer.Meta):
        fields = [*ReportJobListSerializer.Meta.fields[:6], "types", *ReportJobListSerializer.Meta.fields[6:]]
        read_only_fields = fields


class ReportJobCreatedSerializer(ReportJobSerializer):
    report_status = serializers.DictField(read_only=True, help_text="The Barchart ReportStatus of the job.")

    class Meta(ReportJobSerializer.Meta):
        fields = [*ReportJobSerializer.Meta.fields, "report_status"]
        read_only_fields = fields


class OwnJobUnlessViewAll(permissions.BasePermission):
    """A job of another staff user answers 403 without VIEW_ALL_REPORTS (the list leaves them out)."""

    message = f"This is another user's report: seeing it needs the permission {VIEW_ALL_REPORTS}."

    def has_object_permission(self, request, view, obj) -> bool:
        return obj.requested_by_id == request.user.pk or request.user.has_perm(VIEW_ALL_REPORTS)


class ReportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = ReportJob.objects.select_related("requested_by")
    serializer_class = ReportJobSerializer
    permission_classes = [StaffModelPermissions, OwnJobUnlessViewAll]
    action_permissions = {"create": [START_REPORT], "link": [DOWNLOAD_REPORT]}

    def get_serializer_class(self):
        return ReportJobListSerializer if self.action == "list" else ReportJobSerializer

    def get_queryset(self):
        if self.action != "list":
            return super().get_queryset()  # another user's job answers 403 (OwnJobUnlessViewAll), not 404
        # A list does not even read the types column, and shows other users' jobs only with VIEW_ALL_REPORTS.
        return report_jobs_for_staff(user=self.request.user).select_related("requested_by").defer("types")

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: ReportJobCreatedSerializer})
    def create(self, request):
        """Start a report: the Barchart body, {"filter": {...}, "output": {...}}."""
        report_request = report_request_parse(request.data)
        job = report_job_create(principal=ReportPrincipal(user=request.user, customer=None), request=report_request)
        return Response({**ReportJobSerializer(job).data, "report_status": report_status(job)},
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses=inline_serializer("ManageReportLink", {"link": serializers.CharField()}))
    @action(detail=True, methods=["get"])
    def link(self, request, pk=None):
        return Response({"link": report_link_issue(job=self.get_object(), base_url=request.build_absolute_uri("/"))})
