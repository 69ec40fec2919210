import os

from django.core.wsgi import get_wsgi_application

from core.gcpause import gc_freeze_startup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
gc_freeze_startup()
