from django.urls import include, path
from rest_framework.routers import DefaultRouter

from .views import ItemViewSet, health, wait

router = DefaultRouter(trailing_slash=True)
router.register("items", ItemViewSet, basename="item")

urlpatterns = [
    path("health/ready", health),
    path("auth/", include("djoser.urls")),
    path("auth/", include("djoser.urls.jwt")),
    path("auth/", include("djoser.urls.authtoken")),
    path("api/wait/", wait),
    path("api/", include(router.urls)),
]
