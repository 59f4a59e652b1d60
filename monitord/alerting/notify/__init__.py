"""Notifiers: one module per channel, and ``NOTIFIERS``, the table from config ``kind`` to class."""
