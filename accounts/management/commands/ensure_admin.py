import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the first admin account with a random password, unless a superuser exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin account exists already; nothing to do.")
            return
        if User.objects.filter(username=username).exists():
            raise CommandError(
                f"A user “{username}” exists but is not an admin. Make it one with "
                f"`manage.py createsuperuser`, or pass --username to create another."
            )
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Created admin account “{username}”."))
        self.stdout.write(f"Password (shown once, change it after logging in): {password}")
