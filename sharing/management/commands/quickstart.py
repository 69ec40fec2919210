import secrets
import socket
import subprocess
import sys
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.uscc import uscc_check_character
from members.audit import Actor
from members.management.base import ServiceCommand
from members.models import Credential, Institution
from members.selectors import institution_by_uscc
from members.services import credential_issue, credential_revoke, institution_create, institution_transition
from sharing.models import ConsortiumKey

DEMO_MEMBERS = [
    ("示例银行 Demo Bank", "91310000MA1FL0001", Institution.Kind.BANK),
    ("示例消费金融 Demo Consumer Finance", "91440300MA5DC0002", Institution.Kind.CONSUMER_FINANCE),
]
OPERATOR_USERNAME = "operator"


class Command(ServiceCommand):
    help = (
        "Set up a development instance in one step: database (embedded PostgreSQL when DATABASE_URL is unset), "
        "migrations, an operator login, two demo member institutions with fresh API keys (printed), then the "
        "server on 127.0.0.1:8000. Re-running revokes the previous demo keys and prints new ones "
        "(to start the server again without that: manage.py runserver). "
        "Refuses to run with DEBUG off: it creates known demo data."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help="Set up and exit without starting the server (start it later with: manage.py runserver ADDRPORT).",
        )
        parser.add_argument(
            "--addrport",
            default="127.0.0.1:8000",
            help="Address and port to serve on, as runserver takes them (default 127.0.0.1:8000; e.g. 8001, "
            "0.0.0.0:8000, [::1]:8000). Checked free before anything is changed.",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(_("quickstart creates demo data and is for development only (DEBUG is off)."))
        addrport = options["addrport"] if ":" in options["addrport"] else f"127.0.0.1:{options['addrport']}"
        if not options["no_serve"]:
            # Before anything changes: a busy port must not cost the demo keys and the operator password.
            _port_free_or_raise(addrport)
        call_command("migrate", interactive=False, verbosity=0)
        actor = self.cli_actor()
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            self._operator(password)
            keys = [self._demo_member(actor, name, base, kind) for name, base, kind in DEMO_MEMBERS]
            key_file = self._consortium_key()
        self.stdout.write(self.style.SUCCESS("riskshare is set up."))
        self.stdout.write(f"  Admin:     http://{addrport}/admin/  user {OPERATOR_USERNAME!r} password {password!r}")
        self.stdout.write(f"  API docs:  http://{addrport}/api/v1/docs/")
        for (name, _base, _kind), (uscc, key) in zip(DEMO_MEMBERS, keys, strict=True):
            self.stdout.write(f"  Member {name} (USCC {uscc}) API key: {key}")
        if key_file is not None:
            self.stdout.write(f"  Consortium key (for tokenizing): {key_file}")
        self.stdout.write(f"  Try:       curl -H 'Authorization: Bearer {keys[0][1]}' http://{addrport}/api/v1/me")
        if key_file is not None:
            self.stdout.write(_("  For the README's walk-through, as Demo Bank:"))
            self.stdout.write(
                f"    export RISKSHARE_URL=http://{addrport} RISKSHARE_API_KEY={keys[0][1]} "
                f"RISKSHARE_CONSORTIUM_KEY_FILE={key_file}"
            )
        if options["no_serve"]:
            self.stdout.write(
                _("Start the server with: uv run manage.py runserver %(addrport)s (keeps these keys)")
                % {"addrport": addrport}
            )
            self.stdout.write(_("and the token evaluator (tokens v2) with: uv run manage.py token_evaluator"))
        else:
            evaluator = _token_evaluator_start()
            try:
                call_command("runserver", addrport, use_reloader=False)
            finally:
                if evaluator is not None:
                    evaluator.terminate()

    def _operator(self, password: str) -> None:
        user, _ = get_user_model().objects.get_or_create(
            username=OPERATOR_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        user.set_password(password)
        user.is_staff = user.is_superuser = True
        user.save()
        user.groups.set(Group.objects.filter(name__in=["reviewer", "credential_admin", "dispute_handler", "auditor"]))

    def _consortium_key(self) -> Path | None:
        """A first consortium key version and its file under var/, so the walk-through works at once."""
        if ConsortiumKey.objects.filter(state=ConsortiumKey.State.CURRENT).exists():
            existing = sorted(settings.VAR_DIR.glob("consortium-key-v*.json"))
            return existing[-1] if existing else None
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        path = settings.VAR_DIR / "consortium-key-v1.json"
        path.unlink(missing_ok=True)  # left by an earlier database: its version is not registered here
        call_command("consortium_key_new", out=str(path), stdout=StringIO())
        return path

    def _demo_member(self, actor: Actor, name: str, base: str, kind: str) -> tuple[str, str]:
        uscc = base + uscc_check_character(base)
        institution = institution_by_uscc(uscc=uscc)
        if institution is None:
            institution = institution_create(
                actor=actor,
                name=name,
                uscc=uscc,
                kind=kind,
                licence_number=f"DEMO-{uscc[-6:]}",
                licence_expiry=timezone.localdate().replace(year=timezone.localdate().year + 3),
            )
            for status in (Institution.Status.UNDER_REVIEW, Institution.Status.ACTIVE):
                institution = institution_transition(
                    actor=actor, institution=institution, to_status=status, reason="quickstart demo member"
                )
        for old in Credential.objects.filter(institution=institution, revoked_at__isnull=True, name="quickstart"):
            credential_revoke(actor=actor, credential=old, reason="quickstart re-run issued a new demo key")
        issued = credential_issue(
            actor=actor, institution=institution, name="quickstart", scopes=Credential.Scope.values
        )
        return uscc, issued.key


def _token_evaluator_start() -> subprocess.Popen | None:
    """The token evaluator beside the development server, unless one already answers on the socket."""
    from sharing.management.commands.token_evaluator import evaluator_arguments

    path = settings.RISKSHARE_EVALUATOR_SOCKET
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
            return None
        except OSError:
            pass
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, *evaluator_arguments()])  # noqa: S603 - the project's own module


def _port_free_or_raise(addrport: str) -> None:
    """Refuse at once when runserver could not listen on ``addrport`` (as it binds: SO_REUSEADDR)."""
    host, sep, port = addrport.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", addrport
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise CommandError(_("--addrport expects [ADDRESS:]PORT, got %(value)r.") % {"value": addrport})
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            raise CommandError(
                _(
                    "Cannot serve on %(addrport)s (%(reason)s); nothing was changed. Is riskshare already "
                    "running there? Pass another one, e.g. --addrport 127.0.0.1:8001."
                )
                % {"addrport": addrport, "reason": exc.strerror or exc}
            ) from None
