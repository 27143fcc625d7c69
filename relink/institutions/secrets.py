"""An institution's secrets: sealed at rest like grants, opened only to build a connector.

The sealed document is a JSON object of strings: the connector's secrets (its
``secret_names``) and the mutual-TLS material, whose values are PEM texts.
"""

from __future__ import annotations

from collections.abc import Mapping

from relink.kit.crypto import SecretBox
from relink.models import Institution

CLIENT_CERTIFICATE = "client_certificate"
CLIENT_KEY = "client_key"
CA_CERTIFICATE = "ca_certificate"
# Files whose contents an operator imports (a path in, the PEM text sealed).
TLS_FILES = (CLIENT_CERTIFICATE, CLIENT_KEY, CA_CERTIFICATE)


def seal_secrets(box: SecretBox, secrets: Mapping[str, str]) -> bytes | None:
    return box.seal(dict(sorted(secrets.items()))) if secrets else None


def open_secrets(box: SecretBox, institution: Institution) -> dict[str, str]:
    if institution.secrets_sealed is None:
        return {}
    return {str(k): str(v) for k, v in box.open(institution.secrets_sealed).items()}
