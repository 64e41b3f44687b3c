import time

from django.http import JsonResponse
from rest_framework import serializers, viewsets
from rest_framework.decorators import api_view
from rest_framework.response import Response

from .models import Item


class ItemSerializer(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = ["id", "name", "owner", "created"]

    def get_owner(self, item):
        return item.owner.username if item.owner else None


class ItemViewSet(viewsets.ModelViewSet):
    serializer_class = ItemSerializer

    def get_queryset(self):
        user = self.request.user
        if user is None or not user.is_authenticated:
            return Item.objects.all()  # the auth-off variant: the service trusts the gateway
        return Item.objects.filter(owner=user)

    def perform_create(self, serializer):
        user = self.request.user
        serializer.save(owner=user if user is not None and user.is_authenticated else None)


def health(request):
    return JsonResponse({"status": "ok"})


@api_view(["GET"])
def wait(request):
    """Answers after `s` seconds (at most 10): lets a run outlive a short-lived token."""
    seconds = min(float(request.GET.get("s", "1")), 10.0)
    time.sleep(seconds)
    return Response({"waited": seconds, "user": request.user.username if request.user else None})
