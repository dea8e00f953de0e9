"""Management API for tokens: issue (ISSUE_TOKEN; raw value in the create answer only), list and
read (view_token), revoke (REVOKE_TOKEN)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from events.models import DataSource
from eventsite.lib.access import ISSUE_TOKEN, REVOKE_TOKEN
from tokens.models import Scope, Token
from tokens.services import token_issue, token_revoke


class TokenSerializer(serializers.ModelSerializer):
    datasource = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = Token
        fields = ["id", "datasource", "scope", "label", "hint", "created_at", "expires_at", "revoked_at",
                  "last_used_at", "is_active"]
        read_only_fields = fields


class TokenIssueSerializer(serializers.Serializer):
    datasource = serializers.SlugRelatedField(slug_field="slug", queryset=DataSource.objects.all())
    scope = serializers.ChoiceField(choices=Scope.choices)
    label = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class IssuedTokenSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The raw token, shown only in this answer.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class TokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Token.objects.select_related("datasource")
    serializer_class = TokenSerializer
    action_permissions = {"create": [ISSUE_TOKEN], "revoke": [REVOKE_TOKEN]}

    @extend_schema(request=TokenIssueSerializer, responses={201: IssuedTokenSerializer})
    def create(self, request):
        serializer = TokenIssueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = token_issue(**serializer.validated_data)
        data = IssuedTokenSerializer(issued.token).data
        data["token"] = issued.raw
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = token_revoke(token=self.get_object())
        return Response(TokenSerializer(token).data)
