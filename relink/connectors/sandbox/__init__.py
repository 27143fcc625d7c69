"""The sandbox connector (every test institution, via the sandbox bank)."""

from relink.connectors.sandbox.connector import SandboxConfig, SandboxConnector

__all__ = ["SandboxConfig", "SandboxConnector"]
