import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# A person waits at most this long for the database, then reads "busy, try again"
# (config/settings.py, config/busy.py); gunicorn itself gives up after 30 s.
os.environ.setdefault("DB_LOCK_TIMEOUT_SECONDS", "5")
os.environ.setdefault("DB_STATEMENT_TIMEOUT_SECONDS", "20")
application = get_wsgi_application()
