#!/usr/bin/env python3
"""The Django side of the HAProxy → djoser + simplejwt stack (glue; Django, DRF, djoser and
simplejwt are installed from PyPI unmodified)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smokestack.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
