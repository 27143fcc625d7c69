"""Emails: message building, backends (SMTP, the built-in mailbox), one module per email."""
