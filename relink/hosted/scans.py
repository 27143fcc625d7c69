"""The hosted flow's scheduled scan, and the whole list of scans run for every scope.

Hosted relink links unvisited for 30 days are expired (their sessions cancelled). The
lifecycle sits below the hosted flow, so the list that adds this scan to the lifecycle's
own lives here; the worker and the sandbox test clock run it.
"""

from __future__ import annotations

from relink.hosted.links import expire_stale_links
from relink.lifecycle.scans import LIFECYCLE_SCANS, ScanResult, ScopeScan
from relink.lifecycle.service import Lifecycle


def scan_hosted_links(lifecycle: Lifecycle) -> ScanResult:
    """Hosted relink links unvisited for 30 days: their sessions are cancelled (expired)."""
    return ScanResult(
        links_expired=expire_stale_links(lifecycle.session, lifecycle.scope, lifecycle.context)
    )


# Every scan that runs for each scope, in order.
SCOPE_SCANS: tuple[ScopeScan, ...] = (*LIFECYCLE_SCANS, scan_hosted_links)
