"""The demo platform that ``make run`` creates once."""

from __future__ import annotations

import json

from sqlalchemy import select

from relink.kit.crypto import hash_password
from relink.models import User
from relink.platforms.service import create_api_key, create_platform
from relink.runtime import Runtime

DEMO_OWNER_EMAIL = "owner@demo.relink.test"
DEMO_PASSWORD = "relink-demo"


def ensure_demo_platform(runtime: Runtime) -> dict[str, str]:
    """Create the demo platform if this database has none; return its credentials.

    The demo's plain keys are kept in ``var/demo-credentials.json`` (mode 0600) so that
    ``make run`` can print them again; real platforms' keys are shown once and never
    stored. If that file was lost, the demo owner gets fresh keys and the demo password.
    """
    path = runtime.settings.var_dir / "demo-credentials.json"
    with runtime.database.unit_of_work() as session:
        owner = session.scalars(select(User).where(User.email == DEMO_OWNER_EMAIL)).first()
        if owner is not None and path.exists():
            stored: dict[str, str] = json.loads(path.read_text())
            if stored.get("platform") == owner.platform_id:
                return stored
        if owner is None:
            created = create_platform(
                session, "Acme Lending", DEMO_OWNER_EMAIL, password=DEMO_PASSWORD
            )
            platform_id = created.platform.id
            test_key, live_key = created.test_secret_key, created.live_secret_key
        else:
            platform_id = owner.platform_id
            owner.password_hash = hash_password(DEMO_PASSWORD)
            _, test_key = create_api_key(session, platform_id, False, name="Demo test key")
            _, live_key = create_api_key(session, platform_id, True, name="Demo live key")
        credentials = {
            "platform": platform_id,
            "owner_email": DEMO_OWNER_EMAIL,
            "owner_password": DEMO_PASSWORD,
            "test_secret_key": test_key,
            "live_secret_key": live_key,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(credentials, indent=2))
    path.chmod(0o600)
    return credentials
