from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tenancy import services
from tenancy.models import Organization, Plan


class Command(BaseCommand):
    help = "Create a secret API key for an organization; prints the key alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("org_slug")
        parser.add_argument("--create-org", action="store_true", help="Create the organization if it does not exist.")
        parser.add_argument("--plan", default="free", help="Plan slug for a created organization (default: free).")
        parser.add_argument("--name", default="API key", help="A name for the key.")

    def handle(self, *args, org_slug: str, create_org: bool, plan: str, name: str, **options):
        organization = Organization.objects.filter(slug=org_slug).first()
        if organization is None:
            if not create_org:
                raise CommandError(f"No organization '{org_slug}'; pass --create-org to create it.")
            plan_row = Plan.objects.filter(slug=plan).first()
            if plan_row is None:
                raise CommandError(
                    f"No plan '{plan}'; plans: {', '.join(Plan.objects.values_list('slug', flat=True))}."
                )
            organization = services.organization_create(name=org_slug, slug=org_slug, plan=plan_row)
            self.stdout.write(f"Created organization '{org_slug}' on plan '{plan_row.slug}'.")
        api_key, raw = services.api_key_create(organization=organization, name=name)
        self.stdout.write(f"API key '{api_key.name}' ({api_key.prefix}…) for '{organization.slug}'; shown once:")
        self.stdout.write(raw)
