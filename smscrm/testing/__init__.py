"""Fault-injection tools for the tests and the chaos suite (never imported by the product)."""
