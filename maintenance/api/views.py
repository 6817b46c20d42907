from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from maintenance.api.serializers import ExtendSerializer, MaintenanceWindowSerializer
from maintenance.models import MaintenanceWindow
from maintenance.windows import end_window, extend_window
from netmon.api import actor


class MaintenanceWindowViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Maintenance windows: reading needs a read key, the rest a write key (as hosts)."""

    serializer_class = MaintenanceWindowSerializer
    queryset = MaintenanceWindow.objects.prefetch_related("hosts").order_by("-starts_at", "-id")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["actor"] = actor(self.request)
        return context

    @extend_schema(
        request=None,
        responses=MaintenanceWindowSerializer,
        summary="End the window now",
        description="A recurring window ends its current occurrence (the next ones stay); "
        "a window that has not started is cancelled (204). The hosts in its scope are "
        "watched afresh from now: one still silent is alerted one period later.",
    )
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        window = end_window(self.get_object(), timezone.now())
        if window is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(MaintenanceWindowSerializer(window).data)

    @extend_schema(
        request=ExtendSerializer,
        responses=MaintenanceWindowSerializer,
        summary="Move the end of the window",
    )
    @action(detail=True, methods=["post"])
    def extend(self, request, pk=None):
        window = self.get_object()
        body = ExtendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            extend_window(window, body.validated_data["ends_at"], timezone.now())
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        window.refresh_from_db()
        return Response(MaintenanceWindowSerializer(window).data)
