"""The NextGenPSD2 (Berlin Group XS2A) connector, account information (AIS)."""

from relink.connectors.nextgenpsd2.config import Psd2Settings, SettingsInvalid
from relink.connectors.nextgenpsd2.connector import NextGenPsd2Connector

__all__ = ["NextGenPsd2Connector", "Psd2Settings", "SettingsInvalid"]
