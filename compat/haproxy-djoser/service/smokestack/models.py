from django.conf import settings
from django.db import models


class Item(models.Model):
    # SET_NULL, not CASCADE: deleting the user must not hide an item its teardown forgot.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="items")
    name = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
