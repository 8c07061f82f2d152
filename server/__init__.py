"""Kefu Assist server: reply clocks, wording checks, quick phrases and unpaid-order nudges."""

__version__ = "0.1.0"
