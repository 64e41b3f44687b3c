"""Settings of the compatibility stack: djoser's user routes, simplejwt tokens sent with the
`JWT` scheme (as djoser's documentation sets it up), a small items API. The signing key is
shared with HAProxy, which verifies every token at the edge."""
import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("SMOKESTACK_SIGNING_KEY", "compat-stack-signing-key-not-a-secret-0123456789")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# Set per variant by the tests: the service trusts the gateway and checks nothing itself.
AUTH_OFF = os.environ.get("SMOKESTACK_VARIANT") == "auth-off"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework.authtoken",  # djoser revokes DRF tokens when a user is deleted
    "djoser",
    # simplejwt's own record of every refresh token it issued: the tests read it to prove that no
    # part of one reached any output.
    "rest_framework_simplejwt.token_blacklist",
    "smokestack",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "smokestack.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SMOKESTACK_DB", str(BASE_DIR / "db.sqlite3")),
    }
}
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    # simplejwt's JWTs (`Authorization: JWT …`) and DRF's opaque tokens from djoser's
    # `/auth/token/login/` (`Authorization: Token …`).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny" if AUTH_OFF else "rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
}
SIMPLE_JWT = {
    "AUTH_HEADER_TYPES": ("JWT",),
    # 5 minutes, as djoser's docs set it up; the tests shorten it so that a run crosses it.
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=int(os.environ.get("SMOKESTACK_ACCESS_SECONDS", "300"))),
    "SIGNING_KEY": SECRET_KEY,
}
# Set per test: only staff may delete users (as fastapi-users, Keycloak or Cognito have it).
DJOSER = (
    {"PERMISSIONS": {"user_delete": ["rest_framework.permissions.IsAdminUser"]}}
    if os.environ.get("SMOKESTACK_ADMIN_DELETES") == "1"
    else {}
)
# Server errors go to gunicorn's stderr, which the tests keep and print when a stack misbehaves.
LOGGING = {
    "version": 1,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
