from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for the management API and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="what the key is for")
        parser.add_argument(
            "--access",
            choices=[c.value for c in ApiKey.Access],
            default=ApiKey.Access.READ,
            help="read: read everything; write: also manage hosts and acknowledge; admin: "
            "also set log analysis (the server then opens SSH connections and runs commands)",
        )

    def handle(self, *args, name: str, access: str, **options):
        if not name.strip() or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters")
        api_key = ApiKey(name=name.strip(), access=access)
        key = api_key.issue()
        api_key.save()
        self.stdout.write(f"API key “{api_key.name}” ({access}): {key}")
        self.stdout.write("Store it now: only its hash is kept, it cannot be shown again.")
        self.stdout.write(f"Use it as: Authorization: Bearer {key}")
