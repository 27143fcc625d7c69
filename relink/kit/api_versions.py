"""The Stripe API versions Relink knows: the one list every check reads.

A version here is one Relink accepts in ``Stripe-Version``, on a webhook endpoint's
``api_version`` and as a platform's default, and renders objects at. Relink's Financial
Connections objects have one shape at all of them (the shape Relink implements and its
tests check against Stripe's schema); a future version that changes a shape gets its own
rendering step where events and API answers are rendered, and joins this list.

Oldest first; the newest is the build's default for new platforms.
"""

from __future__ import annotations

API_VERSIONS: tuple[str, ...] = (
    "2025-03-31.basil",
    "2025-04-30.basil",
    "2025-05-28.basil",
    "2025-06-30.basil",
    "2025-07-30.basil",
    "2025-08-27.basil",
    "2025-09-30.clover",
    "2025-10-29.clover",
    # The default of earlier Relink builds: platforms, endpoints and events carry it.
    "2025-10-29.preview",
    "2025-11-17.clover",
    "2025-12-15.clover",
    "2026-01-28.clover",
    "2026-02-25.clover",
    "2026-03-25.dahlia",
    "2026-04-22.dahlia",
    "2026-05-27.dahlia",
    "2026-06-24.dahlia",
    "2026-07-29.dahlia",
    "2026-08-26.dahlia",
    "2026-09-30.endive",
    # stripe-python 16 and stripe-node 23 send this one.
    "2026-10-28.endive",
)

LATEST_API_VERSION = API_VERSIONS[-1]


def is_known_api_version(version: str) -> bool:
    return version in API_VERSIONS
