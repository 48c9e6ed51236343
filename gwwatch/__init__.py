"""gwwatch: finds hostname hijacks between tenants sharing Gateway API Gateways."""

__version__ = "0.1.0"
