"""The sandbox bank: a small pretend bank Relink's sandbox mode connects to.

Its own package, its own ASGI app (`create_sandbox_bank_app(database_url, public_url=...)`),
its own SQLAlchemy metadata (tables prefixed `sandbox_bank_`) and its own database; the
factory runs `metadata.create_all()` when it builds the app (no migrations: the bank's
state is disposable test data). Mounted by Relink at `/sandbox-bank`, or alone with
`run(port, host, database_url)` / `python -m relink.sandbox_bank --port N`.

Callers send `Relink-Sandbox-Time: <unix seconds>` to set "now" for time-dependent
answers; see `docs/sandbox-bank.md` for institutions, credentials and the HTTP API.
"""

from relink.sandbox_bank.app import DEFAULT_DATABASE_URL, TlsFiles, create_sandbox_bank_app, run
from relink.sandbox_bank.challenges import ONE_TIME_CODE, SECURITY_ANSWER
from relink.sandbox_bank.clock import SANDBOX_TIME_HEADER
from relink.sandbox_bank.institutions import SANDBOX_INSTITUTIONS, SandboxInstitution
from relink.sandbox_bank.psd2 import PSD2_ASPSPS, Psd2Aspsp
from relink.sandbox_bank.store import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

__all__ = [
    "DEFAULT_DATABASE_URL",
    "ONE_TIME_CODE",
    "PSD2_ASPSPS",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_INSTITUTIONS",
    "SANDBOX_TIME_HEADER",
    "SECURITY_ANSWER",
    "Psd2Aspsp",
    "SandboxInstitution",
    "TlsFiles",
    "create_sandbox_bank_app",
    "run",
]
