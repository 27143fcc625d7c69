"""The generic OAuth2 bank connector."""

from relink.connectors.oauth2.connector import OAuth2Config, OAuth2Connector

__all__ = ["OAuth2Config", "OAuth2Connector"]
