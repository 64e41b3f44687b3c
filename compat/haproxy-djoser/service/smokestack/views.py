from django.http import JsonResponse
from rest_framework import serializers, viewsets

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
